/*
 * Events' one-line summaries (evsummary.c), read from the data's JSON text:
 * the table's types, the generic line, strings with their escapes, control
 * characters kept off the line, cutting at a character, and text that is
 * not JSON, which must give a shorter line and never a read past its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evsummary.h"

static void
summary_is(const char *type, const char *data, const char *want)
{
	char buf[EVSUMMARY_MAX];

	assert_ptr_equal(evsummary_write(type, data, strlen(data), buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

struct sum_case {
	const char *type;
	const char *data;
	const char *want;
};

static void
cases_are(const struct sum_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		summary_is(c[i].type, c[i].data, c[i].want);
}

static void
test_summaries_by_type(void **state)
{
	static const struct sum_case cases[] = {
		{ "instance.state", "{\"from\":\"running\",\"to\":\"collecting\","
		    "\"reason\":\"slot ended\",\"instance\":{\"id\":1}}",
		    "running -> collecting: slot ended" },
		{ "instance.state", "{\"from\":\"running\",\"to\":\"collecting\",\"reason\":\"\"}",
		    "running -> collecting" },
		{ "worker.health", "{\"to\":\"lost\"}", "? -> lost" },
		{ "instance.created", "{\"instance\":{\"definition\":\"lab\","
		    "\"definition_version\":2,\"owner\":\"ana\",\"timeslot_start\":\"S\","
		    "\"timeslot_end\":\"E\"}}", "lab@2 owner=ana S..E" },
		{ "instance.created", "{\"instance\":{\"definition\":\"lab\"}}",
		    "lab owner=- ?..?" },
		{ "instance.created", "{}", "- owner=- ?..?" },
		{ "instance.extended", "{\"timeslot_end\":\"E\"}", "slot ends E" },
		{ "worker.registered", "{\"is_new\":true,\"worker\":{\"name\":\"w1\"}}",
		    "w1 (new)" },
		{ "worker.registered", "{\"is_new\":false,\"worker\":{\"name\":\"w1\"}}", "w1" },
		{ "definition.created", "{\"name\":\"lab\",\"version\":4,\"definition\":{}}",
		    "lab@4" },
		{ "worker.drained", "{\"worker\":{\"id\":3,\"name\":\"w3\",\"labels\":{}}}",
		    "w3: nothing left on it" },
		{ "worker.reconciled", "{\"kept\":[4, 7],\"lost\":[],\"worker\":{\"name\":\"w1\"}}",
		    "w1: kept 2, lost 0" },
		{ "worker.reconciled", "{\"kept\":[],\"lost\":[ 9 ],\"worker\":{\"name\":\"w1\"}}",
		    "w1: kept 0, lost 1" },
		{ "template.updated", "{\"template\":{\"name\":\"small\",\"labels\":{\"a\":\"b\"},"
		    "\"min\":1,\"max\":3,\"desired\":2}}", "small: desired 2 (min 1, max 3)" },
		{ "template.created", "{\"template\":{\"name\":\"small\"}}", "small" },
	};

	(void)state;
	cases_are(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Types the table does not know: scalars as k=v, nested values left out, reason last. */
static void
test_generic_line(void **state)
{
	static const struct sum_case cases[] = {
		{ "token.created", "{\"id\":3,\"name\":\"ci\",\"role\":\"operator\"}",
		    "id=3 name=ci role=operator" },
		{ "runbook.run", "{\"status\":\"failed\",\"reason\":\"step 2\","
		    "\"run\":{\"id\":1}}", "status=failed: step 2" },
		{ "x.y", "{\"from\":\"a\",\"to\":\"b\",\"n\":1}", "a -> b n=1" },
		{ "x.y", "{\"reason\":\"only this\"}", "only this" },
		{ "x.y", "{\"a\":null,\"b\":true,\"c\":false,\"d\":1.5,\"e\":1e3,\"f\":-7}",
		    "a=- b=true c=false d=1.5 e=1000 f=-7" },
		{ "x.y", "{}", "" },
		/* Whitespace anywhere JSON allows it. */
		{ "x.y", " { \"from\" : \"a\" ,\n\t\"to\" : \"b\" , \"n\" : 2 } ", "a -> b n=2" },
		/* Nested values are skipped whole, whatever their strings hold. */
		{ "x.y", "{\"x\":{\"s\":\"}{\\\"]\",\"t\":[1,{\"u\":\"[\"}]},\"from\":\"a\","
		    "\"to\":\"b\"}", "a -> b" },
	};

	(void)state;
	cases_are(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Leaves bytes that are no text on the stack the next call will use. */
static void __attribute__((noinline))
dirty_stack(void)
{
	volatile char junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)0xbe;
}

/*
 * An empty string member: its value is "", never what the stack held (the
 * fuzz harness of evsummary found the line reading an unwritten buffer).
 */
static void
test_empty_string_member(void **state)
{
	(void)state;
	dirty_stack();
	summary_is("x.y", "{\"a\":\"\",\"b\":1,\"c\":\"\"}", "a= b=1 c=");
}

/* Data that is not an object: a scalar's text, else nothing. */
static void
test_data_not_an_object(void **state)
{
	(void)state;
	summary_is("x.y", "\"plain\"", "plain");
	summary_is("x.y", "42", "42");
	summary_is("x.y", "[1,2]", "");
	summary_is("x.y", "", "");
}

static void
test_strings_and_their_escapes(void **state)
{
	(void)state;
	summary_is("x.y", "{\"reason\":\"say \\\"hi\\\" a\\\\b c\\/d\"}", "say \"hi\" a\\b c/d");
	summary_is("x.y", "{\"reason\":\"caf\\u00e9 \\u20ac\"}", "caf\xc3\xa9 \xe2\x82\xac");
	/* A surrogate pair is one character; a lone surrogate is U+FFFD. */
	summary_is("x.y", "{\"reason\":\"\\ud83d\\ude00\"}", "\xf0\x9f\x98\x80");
	summary_is("x.y", "{\"reason\":\"a\\ud83db\"}", "a\xef\xbf\xbd" "b");
	summary_is("x.y", "{\"reason\":\"bad \\uzzzz\"}", "bad \xef\xbf\xbdzzzz");
	/* UTF-8 as it is. */
	summary_is("x.y", "{\"reason\":\"\xc3\xa9t\xc3\xa9\"}", "\xc3\xa9t\xc3\xa9");
}

/* One line, safe on a terminal: C0, C1 and DEL, escaped or not, are each one '?'. */
static void
test_control_characters_never_reach_the_line(void **state)
{
	(void)state;
	summary_is("x.y", "{\"text\":\"a\\nb\\tc\\u001b[31md\\u0085e\\u007ff\"}",
	    "text=a?b?c?[31md?e?f");
	summary_is("x.y", "{\"text\":\"a\xc2\x9b" "b\x7f" "c\"}", "text=a?b?c");
	summary_is("x.y", "{\"text\":\"nul\\u0000here\"}", "text=nul?here");
	summary_is("x.y", "{\"te\\nxt\":1}", "te?xt=1");
}

static void
test_cut_at_a_character(void **state)
{
	static const char data[] = "{\"reason\":\"ab\xe2\x82\xac\"}";
	char buf[5], big[4096], line[EVSUMMARY_MAX], zeros[511];

	(void)state;
	/* 4 bytes of room: "ab" and the first two bytes of the euro sign, which go. */
	evsummary_write("x.y", data, strlen(data), buf, sizeof(buf));
	assert_string_equal(buf, "ab");
	evsummary_write("x.y", data, strlen(data), buf, 1);
	assert_string_equal(buf, "");
	/* Each k=v value is cut at 511 bytes, the line at EVSUMMARY_MAX - 1. */
	snprintf(big, sizeof(big), "{\"a\":\"%0600d\",\"b\":\"%0600d\"}", 0, 0);
	evsummary_write("x.y", big, strlen(big), line, sizeof(line));
	assert_int_equal(strlen(line), EVSUMMARY_MAX - 1);
	memset(zeros, '0', sizeof(zeros));
	assert_memory_equal(line, "a=", 2);
	assert_memory_equal(line + 2, zeros, sizeof(zeros));
	assert_memory_equal(line + 2 + sizeof(zeros), " b=0", 4);
}

/* Text that is not JSON: a shorter line, never a read past the end (ASan checks that). */
static void
test_text_that_is_not_json(void **state)
{
	static const char *const bad[] = {
		"{", "{\"", "{\"from\"", "{\"from\":", "{\"from\":\"a", "{\"from\":\"a\\",
		"{\"from\":\"a\",\"to\"", "{\"x\":{\"y\":[1,2", "{\"reason\":\"\\u12",
		"{\"reason\":\"\\ud83d\\u", "{from:1}", "{\"a\" 1}", "}", "\"open",
	};
	char buf[EVSUMMARY_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A copy of exactly its length, so a read past it is one ASan sees. */
		size_t n = strlen(bad[i]);
		char *copy = malloc(n > 0 ? n : 1);

		assert_non_null(copy);
		memcpy(copy, bad[i], n);
		evsummary_write("instance.state", copy, n, buf, sizeof(buf));
		evsummary_write("instance.created", copy, n, buf, sizeof(buf));
		evsummary_write("x.y", copy, n, buf, sizeof(buf));
		free(copy);
	}
	/* What comes before the bad text is kept. */
	summary_is("x.y", "{\"n\":1,\"from\"", "n=1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summaries_by_type),
		cmocka_unit_test(test_generic_line),
		cmocka_unit_test(test_empty_string_member),
		cmocka_unit_test(test_data_not_an_object),
		cmocka_unit_test(test_strings_and_their_escapes),
		cmocka_unit_test(test_control_characters_never_reach_the_line),
		cmocka_unit_test(test_cut_at_a_character),
		cmocka_unit_test(test_text_that_is_not_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
