/*
 * outpost-top's lists (src/tui/model.c): rows kept by key, replaced in
 * place, removed; the filter over every cell, case-insensitive; the sort by
 * any column, as numbers or as text, either way, with ties in key order;
 * 10,000 rows filtered and sorted well inside a frame; and load, then follow:
 * a list at seq N and the events N-2..N+3 in every order the dashboard can
 * see them in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "util.h"

/* Columns: id (number), state, owner. */
static const int numeric[] = { 1, 0, 0 };
static int formats;	/* how many cells were rendered */

static void
format(json_t *obj, size_t col, char *buf, size_t n, void *arg)
{
	static const char *const keys[] = { "id", "state", "owner" };
	json_t *v = json_object_get(obj, keys[col]);

	(void)arg;
	formats++;
	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, n, "%s", json_is_string(v) ? json_string_value(v) : "-");
}

static void
put(struct model *m, long id, const char *state, const char *owner)
{
	json_t *o = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "state", state, "owner",
	    owner);
	char key[32];

	snprintf(key, sizeof(key), "%ld", id);
	assert_int_equal(model_upsert(m, key, o), 0);
	json_decref(o);
}

/* The keys of the visible rows, space-separated. */
static const char *
visible(struct model *m)
{
	static char buf[4096];
	size_t off = 0;

	assert_int_equal(model_refresh(m), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < m->nvis; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " " : "",
		    model_key(model_visible(m, i)));
	return buf;
}

static void
test_upsert_replaces_the_row_of_its_key(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	put(&m, 1, "pending", "ana");
	put(&m, 2, "pending", "ben");
	put(&m, 1, "running", "ana");
	assert_int_equal(m.n, 2);
	assert_string_equal(model_cell(model_find(&m, "1"), 1), "running");
	assert_null(model_find(&m, "3"));
	assert_string_equal(visible(&m), "1 2");
	model_free(&m);
}

static void
test_remove_keeps_every_other_row_findable(void **state)
{
	struct model m;
	char key[16];

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	for (long i = 1; i <= 200; i++)
		put(&m, i, "running", "x");
	assert_int_equal(model_remove(&m, "1"), 1);
	assert_int_equal(model_remove(&m, "1"), 0);
	assert_int_equal(model_remove(&m, "100"), 1);
	assert_int_equal(m.n, 198);
	for (long i = 2; i <= 200; i++) {
		snprintf(key, sizeof(key), "%ld", i);
		if (i == 100)
			assert_null(model_find(&m, key));
		else
			assert_non_null(model_find(&m, key));
	}
	model_free(&m);
}

static void
test_filter_matches_any_cell_whatever_its_case(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	put(&m, 1, "running", "Ana");
	put(&m, 2, "pending", "ben");
	put(&m, 3, "failed", "anabel");
	model_set_filter(&m, "ANA");
	assert_string_equal(visible(&m), "1 3");
	model_set_filter(&m, "pend");
	assert_string_equal(visible(&m), "2");
	model_set_filter(&m, "nobody");
	assert_string_equal(visible(&m), "");
	model_set_filter(&m, "");
	assert_string_equal(visible(&m), "1 2 3");
	model_free(&m);
}

static void
test_sort_by_any_column_either_way(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	put(&m, 10, "running", "cy");
	put(&m, 9, "pending", "ana");
	put(&m, 100, "running", "ben");
	/* Numbers as numbers: 9 < 10 < 100, not "10" < "100" < "9". */
	model_set_sort(&m, 0, 0);
	assert_string_equal(visible(&m), "9 10 100");
	model_set_sort(&m, 0, 1);
	assert_string_equal(visible(&m), "100 10 9");
	model_set_sort(&m, 2, 0);
	assert_string_equal(visible(&m), "9 100 10");
	/* Equal cells keep the order of their keys. */
	model_set_sort(&m, 1, 0);
	assert_string_equal(visible(&m), "9 10 100");
	model_set_sort(&m, 1, 1);
	assert_string_equal(visible(&m), "100 10 9");
	/* A column out of range leaves the sort column as it was. */
	model_set_sort(&m, 7, 0);
	assert_int_equal(m.sort_col, 1);
	model_free(&m);
}

static void
test_cells_never_hold_control_characters(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	put(&m, 1, "running", "evil\033[2J\nname");
	assert_string_equal(model_cell(model_find(&m, "1"), 2), "evil?[2J?name");
	model_free(&m);
}

static void
test_refresh_only_after_a_change(void **state)
{
	struct model m;
	size_t *before;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	put(&m, 1, "running", "a");
	assert_int_equal(model_refresh(&m), 0);
	before = m.vis;
	assert_int_equal(model_refresh(&m), 0);
	assert_ptr_equal(before, m.vis);
	assert_int_equal(m.is_dirty, 0);
	put(&m, 2, "running", "b");
	assert_int_equal(m.is_dirty, 1);
	assert_int_equal(model_visible_index(&m, "2"), -1);	/* not yet refreshed */
	assert_string_equal(visible(&m), "1 2");
	assert_int_equal(model_visible_index(&m, "2"), 1);
	model_free(&m);
}

static void
test_ten_thousand_rows_filter_and_sort(void **state)
{
	static const char *const states[] = { "pending", "running", "stopped", "failed" };
	struct model m;
	char owner[32];

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	for (long i = 1; i <= 10000; i++) {
		snprintf(owner, sizeof(owner), "owner-%ld", i % 100);
		put(&m, i, states[i % 4], owner);
	}
	assert_int_equal(m.n, 10000);
	model_set_filter(&m, "owner-7");	/* owner-7 and owner-70..79: 11 of 100 */
	model_set_sort(&m, 1, 0);
	assert_int_equal(model_refresh(&m), 0);
	assert_int_equal(m.nvis, 1100);
	/* Sorted by state, then by id. */
	assert_string_equal(model_cell(model_visible(&m, 0), 1), "failed");
	assert_string_equal(model_cell(model_visible(&m, m.nvis - 1), 1), "stopped");
	for (size_t i = 1; i < m.nvis; i++) {
		struct model_row *a = model_visible(&m, i - 1), *b = model_visible(&m, i);
		int c = strcmp(model_cell(a, 1), model_cell(b, 1));

		assert_true(c < 0 || (c == 0 && atol(model_key(a)) < atol(model_key(b))));
	}
	/* How fast: bench/run-tui.sh, never a timed test. */
	/* An event on one row renders that row only. */
	formats = 0;
	put(&m, 5000, "running", "owner-7");
	assert_int_equal(formats, 3);
	model_free(&m);
}

/*
 * Load, then follow. The site: workers a and b; the events N-2..N+3 each
 * carry their worker as it is after them. The dashboard loads a list at N
 * in one call, so the only orders are: b events (each at or below N: the
 * list was read after them) before the load, the rest after, the ones at or
 * below N among them (the replay from the number read before the load).
 * After every step the rows must be the site as of the newest number seen.
 */
#define FOLLOW_N 10
static const struct {
	int64_t seq;
	const char *name, *state;
} follow_events[] = {
	{ 8, "a", "cordoned" }, { 9, "a", "draining" }, { 10, "c", "provisioning" },
	{ 11, "a", "ready" }, { 12, "d", "provisioning" }, { 13, "b", "stopped" },
};
#define FOLLOW_NEV (sizeof(follow_events) / sizeof(follow_events[0]))

static json_t *
worker_obj(const char *name, const char *state)
{
	return json_pack("{s:s, s:s, s:s}", "id", name, "state", state, "owner", "-");
}

/* The site after every event up to seq, as "a=ready b=ready ...", by name. */
static void
site_at(int64_t seq, char *buf, size_t n)
{
	const char *names[] = { "a", "b", "c", "d" };
	size_t off = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < 4; k++) {
		const char *st = k < 2 ? "ready" : NULL;

		for (size_t e = 0; e < FOLLOW_NEV; e++)
			if (follow_events[e].seq <= seq && strcmp(follow_events[e].name, names[k]) == 0)
				st = follow_events[e].state;
		if (st != NULL)
			off += (size_t)snprintf(buf + off, n - off, "%s%s=%s", off ? " " : "", names[k],
			    st);
	}
}

static void
shown(struct model *m, char *buf, size_t n)
{
	const char *names[] = { "a", "b", "c", "d" };
	size_t off = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < 4; k++) {
		struct model_row *r = model_find(m, names[k]);

		if (r != NULL)
			off += (size_t)snprintf(buf + off, n - off, "%s%s=%s", off ? " " : "", names[k],
			    model_cell(r, 1));
	}
}

/* The list at seq: every worker as the site has it then (model_clear first). */
static void
load_at(struct model *m, int64_t seq)
{
	const char *names[] = { "a", "b", "c", "d" };
	char site[256], want[32];

	site_at(seq, site, sizeof(site));
	model_clear(m);
	for (size_t k = 0; k < 4; k++) {
		const char *p;

		snprintf(want, sizeof(want), "%s=", names[k]);
		if ((p = strstr(site, want)) != NULL) {
			char st[32];
			json_t *o;

			sscanf(p + strlen(want), "%31[a-z]", st);
			o = worker_obj(names[k], st);
			assert_int_equal(model_upsert(m, names[k], o), 0);
			json_decref(o);
		}
	}
	model_loaded(m, seq);
}

static void
follow_one(struct model *m, size_t e)
{
	json_t *o = worker_obj(follow_events[e].name, follow_events[e].state);

	assert_true(model_follow(m, follow_events[e].name, o, follow_events[e].seq) >= 0);
	json_decref(o);
}

static void
test_follow_every_order_of_a_load_and_its_events(void **state)
{
	char got[256], want[256];
	size_t orders = 0;

	(void)state;
	for (size_t b = 0; b <= FOLLOW_NEV && (b == 0 || follow_events[b - 1].seq <= FOLLOW_N);
	    b++) {
		struct model m;
		int64_t newest = 0;

		assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
		for (size_t e = 0; e < FOLLOW_NEV; e++) {
			if (e == b) {
				load_at(&m, FOLLOW_N);
				newest = newest > FOLLOW_N ? newest : FOLLOW_N;
			}
			follow_one(&m, e);
			if (follow_events[e].seq > newest)
				newest = follow_events[e].seq;
			site_at(newest, want, sizeof(want));
			shown(&m, got, sizeof(got));
			if (e >= b && strcmp(got, want) != 0)
				fail_msg("load after %zu events, then seq %lld: shows \"%s\", the site "
				    "at %lld is \"%s\"", b, (long long)follow_events[e].seq, got,
				    (long long)newest, want);
		}
		orders++;
		model_free(&m);
	}
	assert_int_equal(orders, 4);
}

/* A reload (of allocations, say) while following: what it read stays. */
static void
test_follow_a_reload_mid_stream(void **state)
{
	struct model m;
	char got[256], want[256];

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	load_at(&m, 7);
	for (size_t e = 0; e < 3; e++)
		follow_one(&m, e);
	load_at(&m, 12);	/* read at 12: events 11 and 12 are in it */
	for (size_t e = 3; e < FOLLOW_NEV; e++) {
		follow_one(&m, e);
		site_at(e == FOLLOW_NEV - 1 ? 13 : 12, want, sizeof(want));
		shown(&m, got, sizeof(got));
		assert_string_equal(got, want);
	}
	/* A row the list left out is not brought back by an event it holds. */
	model_remove(&m, "c");
	follow_one(&m, 2);
	assert_null(model_find(&m, "c"));
	model_free(&m);
}

/* A server that says no number (-1): every event is applied, as before. */
static void
test_follow_without_a_number(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, 3, numeric, format, NULL), 0);
	load_at(&m, 13);
	model_loaded(&m, -1);
	follow_one(&m, 0);
	assert_string_equal(model_cell(model_find(&m, "a"), 1), "cordoned");
	model_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsert_replaces_the_row_of_its_key),
		cmocka_unit_test(test_remove_keeps_every_other_row_findable),
		cmocka_unit_test(test_filter_matches_any_cell_whatever_its_case),
		cmocka_unit_test(test_sort_by_any_column_either_way),
		cmocka_unit_test(test_cells_never_hold_control_characters),
		cmocka_unit_test(test_refresh_only_after_a_change),
		cmocka_unit_test(test_ten_thousand_rows_filter_and_sort),
		cmocka_unit_test(test_follow_every_order_of_a_load_and_its_events),
		cmocka_unit_test(test_follow_a_reload_mid_stream),
		cmocka_unit_test(test_follow_without_a_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
