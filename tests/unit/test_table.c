/*
 * Text tables: widths in terminal columns, alignment, cutting, colour, and
 * the sanitising of cells that keeps control sequences off a terminal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"

static char *
render(struct table *t, int use_color)
{
	struct sbuf b;

	sbuf_init(&b);
	assert_int_equal(table_render(t, &b, use_color), 0);
	return sbuf_steal(&b);
}

static struct table *
two_columns(void)
{
	struct table *t = table_new();

	assert_non_null(t);
	assert_int_equal(table_add_column(t, "ID", TABLE_RIGHT, 0), 0);
	assert_int_equal(table_add_column(t, "NAME", TABLE_LEFT, 0), 1);
	return t;
}

static void
test_text_width_counts_columns_not_bytes(void **state)
{
	(void)state;
	assert_int_equal(table_text_width(""), 0);
	assert_int_equal(table_text_width("abc"), 3);
	assert_int_equal(table_text_width("caf\xc3\xa9"), 4);		/* café */
	assert_int_equal(table_text_width("e\xcc\x81"), 1);		/* e + combining acute */
	assert_int_equal(table_text_width("\xe6\x97\xa5\xe6\x9c\xac"), 4);	/* 日本 */
	assert_int_equal(table_text_width("\xf0\x9f\x9a\x80"), 2);	/* rocket emoji */
	assert_int_equal(table_text_width("\xe2\x80\xa6"), 1);		/* … */
	assert_int_equal(table_text_width("\xff"), 1);			/* invalid byte */
}

static void
test_widths_take_the_widest_cell_or_header(void **state)
{
	const char *r1[] = { "7", "ana" };
	const char *r2[] = { "1234", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" };	/* 日本語: 6 */
	struct table *t = two_columns();
	size_t w[2];

	(void)state;
	assert_int_equal(table_add_row(t, r1, 2), 0);
	assert_int_equal(table_add_row(t, r2, 2), 1);
	table_compute_widths(t, w);
	assert_int_equal(w[0], 4);
	assert_int_equal(w[1], 6);
	assert_int_equal(table_rows(t), 2);
	assert_int_equal(table_columns(t), 2);
	table_free(t);
}

static void
test_render_aligns_and_leaves_no_trailing_blanks(void **state)
{
	const char *r1[] = { "7", "ana" };
	const char *r2[] = { "1234", "benedict" };
	struct table *t = two_columns();
	char *out;

	(void)state;
	table_add_row(t, r1, 2);
	table_add_row(t, r2, 2);
	out = render(t, 0);
	assert_string_equal(out,
	    "  ID  NAME\n"
	    "   7  ana\n"
	    "1234  benedict\n");
	free(out);
	table_free(t);
}

static void
test_missing_and_null_cells(void **state)
{
	const char *r1[] = { NULL };
	struct table *t = two_columns();
	char *out;

	(void)state;
	table_add_row(t, r1, 1);
	out = render(t, 0);
	assert_string_equal(out, "ID  NAME\n -\n");
	free(out);
	table_free(t);
}

static void
test_long_cells_are_cut_with_an_ellipsis(void **state)
{
	const char *r1[] = { "abcdefghij" };
	/* 日本語日: 8 columns */
	const char *r2[] = { "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5" };
	struct table *t = table_new();
	char *out;

	(void)state;
	table_add_column(t, "REASON", TABLE_LEFT, 6);
	table_add_row(t, r1, 1);
	table_add_row(t, r2, 1);
	out = render(t, 0);
	/* A wide character that would pass the limit is left out, not split. */
	assert_string_equal(out,
	    "REASON\nabcde\xe2\x80\xa6\n\xe6\x97\xa5\xe6\x9c\xac\xe2\x80\xa6\n");
	free(out);
	table_free(t);
}

static void
test_color_wraps_the_text_and_not_the_padding(void **state)
{
	const char *r1[] = { "running", "x" };
	const char *r2[] = { "failed", "y" };
	struct table *t = table_new();
	char *out;

	(void)state;
	table_add_column(t, "STATE", TABLE_LEFT, 0);
	table_add_column(t, "N", TABLE_LEFT, 0);
	table_add_row(t, r1, 2);
	table_add_row(t, r2, 2);
	assert_int_equal(table_set_color(t, 0, 0, ANSI_GREEN, 0), 0);
	assert_int_equal(table_set_color(t, 1, 0, ANSI_RED, 1), 0);
	assert_int_equal(table_set_color(t, 2, 0, ANSI_RED, 1), -1);
	out = render(t, 1);
	assert_string_equal(out,
	    "STATE    N\n"
	    "\033[32mrunning\033[0m  x\n"
	    "\033[1;31mfailed\033[0m   y\n");
	free(out);
	out = render(t, 0);
	assert_string_equal(out, "STATE    N\nrunning  x\nfailed   y\n");
	free(out);
	table_free(t);
}

static void
test_control_characters_never_reach_the_terminal(void **state)
{
	const char *r1[] = { "a\033[2Jb\tc\x7f" "d\xc2\x9b" "e\xff" };
	struct table *t = table_new();
	char *out;

	(void)state;
	table_add_column(t, "X\n", TABLE_LEFT, 0);
	table_add_row(t, r1, 1);
	out = render(t, 0);
	assert_string_equal(out, "X?\na?[2Jb c?d?e?\n");
	free(out);
	table_free(t);
}

static void
test_columns_are_fixed_once_rows_exist(void **state)
{
	const char *r1[] = { "1", "a" };
	struct table *t = two_columns();

	(void)state;
	table_add_row(t, r1, 2);
	assert_int_equal(table_add_column(t, "LATE", TABLE_LEFT, 0), -1);
	table_free(t);
	t = table_new();
	assert_int_equal(table_add_row(t, r1, 2), -1);
	table_free(t);
}

static void
test_many_rows(void **state)
{
	struct table *t = two_columns();
	char id[16];
	const char *row[] = { id, "n" };
	char *out;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		assert_int_equal(table_add_row(t, row, 2), i);
	}
	out = render(t, 0);
	/* " ID  NAME\n", then "  0  n\n" ... "999  n\n". */
	assert_int_equal(strlen(out), 10 + 1000 * 7);
	free(out);
	table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_width_counts_columns_not_bytes),
		cmocka_unit_test(test_widths_take_the_widest_cell_or_header),
		cmocka_unit_test(test_render_aligns_and_leaves_no_trailing_blanks),
		cmocka_unit_test(test_missing_and_null_cells),
		cmocka_unit_test(test_long_cells_are_cut_with_an_ellipsis),
		cmocka_unit_test(test_color_wraps_the_text_and_not_the_padding),
		cmocka_unit_test(test_control_characters_never_reach_the_terminal),
		cmocka_unit_test(test_columns_are_fixed_once_rows_exist),
		cmocka_unit_test(test_many_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
