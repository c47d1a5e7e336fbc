/*
 * How the CLI prints JSON answers (view.c): whole tables of items with their
 * colours, one object as FIELD VALUE lines, and instances' logs with their
 * headers and their control characters. The cells themselves are fmt.c's
 * (test_fmt.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static json_t *
j(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	return v;
}

static char *
table_of(const char *items_json, const struct column *cols, int use_color)
{
	json_t *items = j(items_json);
	struct cli c;
	char *out = NULL;
	size_t len = 0;

	memset(&c, 0, sizeof(c));
	c.out_file = open_memstream(&out, &len);
	c.use_color = use_color;
	assert_int_equal(view_table(&c, items, cols), 0);
	fclose(c.out_file);
	json_decref(items);
	return out;
}

static void
test_tables_of_items(void **state)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
		{ "STATE", "state", CELL_INST_STATE, TABLE_LEFT, 0, NULL },
		{ "CPU", "resources.cpu", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
		{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
	};
	char *out;

	(void)state;
	out = table_of("[{\"id\":1,\"state\":\"running\",\"resources\":{\"cpu\":2}},"
	    "{\"id\":10,\"state\":\"failed\"}]", cols, 0);
	assert_string_equal(out,
	    "ID  STATE    CPU\n"
	    " 1  running    2\n"
	    "10  failed     -\n");
	free(out);
	out = table_of("[{\"id\":1,\"state\":\"running\"}]", cols, 1);
	assert_non_null(strstr(out, "\033[1;32mrunning\033[0m"));
	free(out);
	out = table_of("[]", cols, 0);
	assert_string_equal(out, "ID  STATE  CPU\n");
	free(out);
}

static void
test_object_view_colours_worker_states_as_worker_states(void **state)
{
	json_t *w = j("{\"name\":\"w1\",\"state\":\"stopped\",\"health\":\"lost\"}");
	struct cli c;
	char *out = NULL, want[64];
	size_t len = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.out_file = open_memstream(&out, &len);
	c.use_color = 1;
	assert_int_equal(view_object(&c, w), 0);
	fclose(c.out_file);
	snprintf(want, sizeof(want), "\033[3%dmstopped", worker_state_info(WORKER_STOPPED)->ansi);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "FIELD   VALUE\nname    w1\n"));
	free(out);
	json_decref(w);
}

/* The chunks of a JSON array through view_log_chunk, as one string. */
static char *
log_of(const char *chunks_json, int is_terminal)
{
	json_t *chunks = j(chunks_json), *chunk;
	struct view_log at = { .attempt = 0 };
	struct cli c;
	char *out = NULL;
	size_t len = 0, i;

	memset(&c, 0, sizeof(c));
	c.out_file = open_memstream(&out, &len);
	json_array_foreach(chunks, i, chunk)
		assert_int_equal(view_log_chunk(&c, &at, chunk, is_terminal), 0);
	fclose(c.out_file);
	json_decref(chunks);
	return out;
}

static void
test_log_headers_where_hook_or_attempt_changes(void **state)
{
	char *out;

	(void)state;
	out = log_of("[{\"attempt\":1,\"hook\":\"run\",\"text\":\"a\\n\"},"
	    "{\"attempt\":1,\"hook\":\"run\",\"text\":\"b\"},"
	    "{\"attempt\":1,\"hook\":\"run\",\"text\":\"c\\n\"},"
	    "{\"attempt\":1,\"hook\":\"collect\",\"text\":\"d\"},"
	    "{\"attempt\":2,\"hook\":\"collect\",\"text\":\"e\\n\"},"
	    "{\"attempt\":2,\"hook\":\"collect\",\"text\":\"\"}]", 0);
	/* One header per change; a header after "d" (no newline) starts a line of its own. */
	assert_string_equal(out,
	    "==> run (attempt 1) <==\na\nbc\n"
	    "==> collect (attempt 1) <==\nd\n"
	    "==> collect (attempt 2) <==\ne\n");
	free(out);
	/* Attempt 0 is a value like any other, not "nothing printed yet". */
	out = log_of("[{\"attempt\":0,\"hook\":\"run\",\"text\":\"a\"},"
	    "{\"attempt\":0,\"hook\":\"run\",\"text\":\"b\"}]", 0);
	assert_string_equal(out, "==> run (attempt 0) <==\nab");
	free(out);
}

static void
test_log_text_raw_in_pipes_clean_on_terminals(void **state)
{
	static const char chunks[] = "[{\"attempt\":1,\"hook\":\"run\","
	    "\"text\":\"\\u001b[31mred\\tx\\u009bz\\n\"}]";
	char *out;

	(void)state;
	out = log_of(chunks, 0);
	assert_string_equal(out, "==> run (attempt 1) <==\n\033[31mred\tx\xc2\x9bz\n");
	free(out);
	out = log_of(chunks, 1);
	/* ESC and the C1 CSI (two bytes in UTF-8) are one '?' each. */
	assert_string_equal(out, "==> run (attempt 1) <==\n?[31mred\tx?z\n");
	free(out);
}

static void
test_one_line_text(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_int_equal(view_write_text(f, "a\nb\tc\x7f" "d\xc3\xa9", 9, TEXT_ONE_LINE), 0);
	fclose(f);
	assert_string_equal(out, "a?b?c?d\xc3\xa9");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_of_items),
		cmocka_unit_test(test_object_view_colours_worker_states_as_worker_states),
		cmocka_unit_test(test_log_headers_where_hook_or_attempt_changes),
		cmocka_unit_test(test_log_text_raw_in_pipes_clean_on_terminals),
		cmocka_unit_test(test_one_line_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
