/*
 * Trace contexts (trace.c): traceparent read strictly (version 00, lower-case
 * hex, ids not all zero, exactly 55 characters) and written back the same;
 * every malformed value refused with nothing kept; ids from getrandom that
 * differ; a child keeps its trace and flags and has a span id of its own; the
 * thread's current context and its trace id on log lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int
parse(const char *s, struct trace_ctx *c)
{
	return traceparent_parse(s, strlen(s), c);
}

static void
test_good_ones_round_trip(void **state)
{
	static const char *const good[] = {
		GOOD,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",	/* not sampled */
		/* flags it does not know */
		"00-00000000000000000000000000000001-0000000000000001-ff",
	};
	struct trace_ctx c;
	char buf[TRACEPARENT_BUF], hex[TRACE_ID_HEX_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(parse(good[i], &c), 0);
		assert_true(c.is_valid);
		assert_string_equal(traceparent_format(&c, buf, sizeof(buf)), good[i]);
	}
	assert_int_equal(parse(GOOD, &c), 0);
	assert_int_equal(c.flags, TRACE_FLAG_SAMPLED);
	assert_int_equal(c.trace_id[0], 0x4b);
	assert_int_equal(c.span_id[7], 0xb7);
	assert_string_equal(trace_id_hex(&c, hex, sizeof(hex)), "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void
test_bad_ones_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"00",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",	/* upper case */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",	/* forbidden */
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",	/* not 00 */
		"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",	/* zero trace */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",	/* zero span */
		/* version 00 has nothing more */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",	/* dashes moved */
		"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
		" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0 ",
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
		"00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	};
	struct trace_ctx c;
	char buf[TRACEPARENT_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		assert_int_equal(parse(bad[i], &c), -1);
		assert_false(c.is_valid);
		assert_string_equal(traceparent_format(&c, buf, sizeof(buf)), "");
	}
	/* A length that says less than the bytes: only len bytes are read. */
	assert_int_equal(traceparent_parse(GOOD "garbage", TRACEPARENT_LEN, &c), 0);
	assert_int_equal(traceparent_parse(GOOD, TRACEPARENT_LEN - 1, &c), -1);
	assert_int_equal(traceparent_parse(NULL, 0, &c), -1);
	/* A NUL inside: not hex. */
	{
		char s[TRACEPARENT_BUF];

		memcpy(s, GOOD, sizeof(s));
		s[10] = '\0';
		assert_int_equal(traceparent_parse(s, TRACEPARENT_LEN, &c), -1);
	}
}

static void
test_new_ids_and_children(void **state)
{
	struct trace_ctx a, b, child;
	char ta[TRACE_ID_HEX_BUF], tb[TRACE_ID_HEX_BUF], buf[TRACEPARENT_BUF];

	(void)state;
	assert_int_equal(trace_new(&a), 0);
	assert_int_equal(trace_new(&b), 0);
	assert_true(a.is_valid && b.is_valid);
	assert_int_equal(a.flags, TRACE_FLAG_SAMPLED);
	assert_string_not_equal(trace_id_hex(&a, ta, sizeof(ta)), trace_id_hex(&b, tb, sizeof(tb)));
	/* What it writes it reads back. */
	assert_int_equal(parse(traceparent_format(&a, buf, sizeof(buf)), &child), 0);
	assert_memory_equal(child.trace_id, a.trace_id, TRACE_ID_LEN);
	/* A child: the same trace and flags, its own span. */
	a.flags = 0;
	assert_int_equal(trace_child(&a, &child), 0);
	assert_memory_equal(child.trace_id, a.trace_id, TRACE_ID_LEN);
	assert_memory_not_equal(child.span_id, a.span_id, SPAN_ID_LEN);
	assert_int_equal(child.flags, 0);
	/* A child of nothing begins a trace. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(trace_child(&b, &child), 0);
	assert_true(child.is_valid);
	assert_int_equal(child.flags, TRACE_FLAG_SAMPLED);
}

static void
test_current(void **state)
{
	struct trace_ctx a, bad = { 0 };

	(void)state;
	assert_null(trace_current());
	assert_int_equal(trace_new(&a), 0);
	trace_set_current(&a);
	assert_non_null(trace_current());
	assert_memory_equal(trace_current()->trace_id, a.trace_id, TRACE_ID_LEN);
	/* A copy: changing a does not change the current one. */
	a.trace_id[0] ^= 0xff;
	assert_memory_not_equal(trace_current()->trace_id, a.trace_id, TRACE_ID_LEN);
	trace_set_current(&bad);
	assert_null(trace_current());
	trace_set_current(&a);
	trace_set_current(NULL);
	assert_null(trace_current());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_ones_round_trip),
		cmocka_unit_test(test_bad_ones_are_refused),
		cmocka_unit_test(test_new_ids_and_children),
		cmocka_unit_test(test_current),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
