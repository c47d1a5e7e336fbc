/*
 * outpost-top's row store (src/tui/model.c) as compact structs: a row keeps
 * its cells and their haystack, its state as an enum, and its JSON only
 * when the model is asked to; events that replace or remove rows keep the
 * sorted order true; and, against an oracle (every row filtered and sorted
 * from scratch, each comparison parsing its cells as the dashboard always
 * did), thousands of random loads, events, removals, filters and sorts give
 * the same visible rows in the same order.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "state.h"
#include "util.h"

/* Columns: id (number), state, owner, score (number, or "-"). */
#define NCOLS 4
static const int numeric[NCOLS] = { 1, 0, 0, 1 };
static const char *const keys[NCOLS] = { "id", "state", "owner", "score" };

static void
format(json_t *obj, size_t col, char *buf, size_t n, void *arg)
{
	json_t *v = json_object_get(obj, keys[col]);

	(void)arg;
	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, n, "%s", json_is_string(v) ? json_string_value(v) : "-");
}

static int
state_of(const char *cell)
{
	enum inst_state st;

	return inst_state_parse(cell, &st) == 0 ? (int)st : -1;
}

static json_t *
inst(long id, const char *state, const char *owner, long score)
{
	json_t *o = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "state", state, "owner",
	    owner);

	if (score >= 0)
		json_object_set_new(o, "score", json_integer(score));
	return o;
}

static int
put(struct model *m, long id, const char *state, const char *owner, long score)
{
	json_t *o = inst(id, state, owner, score);
	char key[32];
	int rc;

	snprintf(key, sizeof(key), "%ld", id);
	rc = model_upsert(m, key, o);
	json_decref(o);
	return rc;
}

static void
test_rows_keep_no_json_unless_asked(void **state)
{
	struct model m, k;
	json_t *o = inst(7, "running", "ana", 3), *back;

	(void)state;
	assert_int_equal(model_init(&m, NCOLS, numeric, format, NULL), 0);
	assert_int_equal(model_upsert(&m, "7", o), 0);
	assert_null(model_find(&m, "7")->json);
	assert_null(model_row_json(model_find(&m, "7")));
	assert_string_equal(model_cell(model_find(&m, "7"), 2), "ana");

	assert_int_equal(model_init_like(&k, &m), 0);
	k.keeps_json = 1;
	assert_int_equal(model_upsert(&k, "7", o), 0);
	json_decref(o);	/* the model holds no reference: its text is its own */
	back = model_row_json(model_find(&k, "7"));
	assert_non_null(back);
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(back, "owner")), "ana");
	json_decref(back);
	/* An event replaces the kept JSON too. */
	o = inst(7, "stopped", "ana", 3);
	assert_int_equal(model_upsert(&k, "7", o), 0);
	json_decref(o);
	back = model_row_json(model_find(&k, "7"));
	assert_string_equal(json_string_value(json_object_get(back, "state")), "stopped");
	json_decref(back);
	model_free(&k);
	model_free(&m);
}

static void
test_state_is_kept_as_its_enum(void **state)
{
	struct model m;
	json_t *o;

	(void)state;
	assert_int_equal(model_init(&m, NCOLS, numeric, format, NULL), 0);
	model_set_state_col(&m, 1, state_of);
	assert_int_equal(put(&m, 1, "pending", "a", -1), 0);
	assert_int_equal(put(&m, 2, "no-such-state", "a", -1), 0);
	assert_int_equal(model_find(&m, "1")->state, INST_PENDING);
	assert_int_equal(model_find(&m, "2")->state, -1);
	/* An event that moves the instance moves its enum. */
	o = inst(1, "running", "a", -1);
	assert_int_equal(model_follow(&m, "1", o, 5), 1);
	json_decref(o);
	assert_int_equal(model_find(&m, "1")->state, INST_RUNNING);
	assert_string_equal(model_cell(model_find(&m, "1"), 1), "running");
	model_free(&m);
}

/* The keys of the visible rows, space-separated. */
static const char *
visible(struct model *m)
{
	static char buf[4096];
	size_t off = 0;

	assert_int_equal(model_refresh(m), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < m->nvis && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " " : "",
		    model_key(model_visible(m, i)));
	return buf;
}

static void
test_events_that_move_a_row_move_it_in_the_sort(void **state)
{
	struct model m;

	(void)state;
	assert_int_equal(model_init(&m, NCOLS, numeric, format, NULL), 0);
	model_set_sort(&m, 1, 0);	/* by state, then id */
	assert_int_equal(put(&m, 1, "pending", "a", -1), 0);
	assert_int_equal(put(&m, 2, "pending", "a", -1), 0);
	assert_int_equal(put(&m, 3, "running", "a", -1), 0);
	assert_string_equal(visible(&m), "1 2 3");
	/* Its sort cell changes: it moves. */
	assert_int_equal(put(&m, 1, "stopped", "a", -1), 0);
	assert_string_equal(visible(&m), "2 3 1");
	/* Another cell changes: it stays, and the filter sees the new text. */
	assert_int_equal(put(&m, 3, "running", "zed", -1), 0);
	model_set_filter(&m, "ZE");
	assert_string_equal(visible(&m), "3");
	model_set_filter(&m, "");
	/* New rows go to their places among the sorted ones. */
	assert_int_equal(put(&m, 10, "failed", "a", -1), 0);
	assert_int_equal(put(&m, 0, "running", "a", -1), 0);
	assert_string_equal(visible(&m), "10 2 0 3 1");
	/* A row removed leaves every other in its place, and costs no sort. */
	assert_int_equal(model_remove(&m, "2"), 1);
	assert_true(m.is_ordered);
	assert_int_equal(m.norder, m.n);
	assert_string_equal(visible(&m), "10 0 3 1");
	/* So does one removed while a new row waits to be merged in. */
	assert_int_equal(put(&m, 5, "pending", "a", -1), 0);
	assert_int_equal(model_remove(&m, "10"), 1);
	assert_true(m.is_ordered);
	assert_int_equal(m.norder, m.n - 1);
	assert_string_equal(visible(&m), "5 0 3 1");
	assert_int_equal(model_remove(&m, "5"), 1);
	model_set_sort(&m, 1, 1);
	assert_string_equal(visible(&m), "1 3 0");
	model_free(&m);
}

static void
test_a_list_loaded_aside_replaces_the_rows_whole(void **state)
{
	struct model m, aside;
	json_t *o;

	(void)state;
	assert_int_equal(model_init(&m, NCOLS, numeric, format, NULL), 0);
	model_set_state_col(&m, 1, state_of);
	model_set_sort(&m, 0, 1);
	model_set_filter(&m, "keep");
	assert_int_equal(put(&m, 1, "pending", "keep", -1), 0);
	assert_string_equal(visible(&m), "1");
	assert_int_equal(model_init_like(&aside, &m), 0);
	assert_int_equal(put(&aside, 2, "running", "keep", -1), 0);
	assert_int_equal(put(&aside, 3, "running", "other", -1), 0);
	assert_int_equal(put(&aside, 4, "running", "keeper", -1), 0);
	/* Until taken, the rows shown are the old ones. */
	assert_string_equal(visible(&m), "1");
	model_loaded(&aside, 40);
	model_take(&m, &aside);
	model_free(&aside);	/* left empty: freeing it again frees nothing twice */
	assert_null(model_find(&m, "1"));
	assert_int_equal(model_find(&m, "4")->state, INST_RUNNING);
	assert_int_equal(m.seq, 40);
	/* m's filter and sort (descending ids) hold over the new rows. */
	assert_string_equal(visible(&m), "4 2");
	o = inst(2, "stopped", "keep", -1);
	assert_int_equal(model_follow(&m, "2", o, 40), 0);	/* at the list's number: in it */
	json_decref(o);
	model_free(&m);
}

/* ---- the oracle ---- */

/* The dashboard's comparison before the row store: each cell parsed at each comparison. */
static int
oracle_cmp_cells(const char *a, const char *b, int is_numeric)
{
	if (is_numeric) {
		char *ea, *eb;
		double x = strtod(a, &ea), y = strtod(b, &eb);
		int has_a = ea != a, has_b = eb != b;

		if (has_a && has_b && x != y)
			return x < y ? -1 : 1;
		if (has_a != has_b)
			return has_a ? -1 : 1;
	}
	return strcmp(a, b);
}

static int
oracle_cmp_keys(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb && strspn(a, "0123456789") == la && strspn(b, "0123456789") == lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static const struct model *oracle_m;

static int
oracle_cmp(const void *pa, const void *pb)
{
	const struct model_row *a = *(const struct model_row *const *)pa;
	const struct model_row *b = *(const struct model_row *const *)pb;
	size_t c = oracle_m->sort_col;
	int r = oracle_cmp_cells(model_cell(a, c), model_cell(b, c), numeric[c]);

	if (r == 0)
		r = oracle_cmp_keys(model_key(a), model_key(b));
	return oracle_m->is_desc ? -r : r;
}

/* Whether row r passes m's filter: a substring of its cells, tab-joined, whatever their case. */
static int
oracle_passes(const struct model *m, const struct model_row *r)
{
	char hay[4 * 600];
	size_t n = 0;

	if (m->filter[0] == '\0')
		return 1;
	for (size_t c = 0; c < NCOLS; c++) {
		for (const char *p = model_cell(r, c); *p != '\0' && n + 2 < sizeof(hay); p++)
			hay[n++] = (char)tolower((unsigned char)*p);
		hay[n++] = '\t';
	}
	hay[n] = '\0';
	return strstr(hay, m->filter) != NULL;
}

static void
oracle_check(struct model *m)
{
	const struct model_row **want = malloc((m->n + 1) * sizeof(*want));
	size_t n = 0;

	assert_non_null(want);
	for (size_t i = 0; i < m->n; i++)
		if (oracle_passes(m, &m->rows[i]))
			want[n++] = &m->rows[i];
	oracle_m = m;
	qsort(want, n, sizeof(*want), oracle_cmp);
	assert_int_equal(model_refresh(m), 0);
	assert_int_equal(m->nvis, n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(model_visible(m, i), want[i]);
	free(want);
}

static void
test_random_events_filters_and_sorts_match_the_oracle(void **state)
{
	static const char *const states[] = { "pending", "running", "stopped", "failed" };
	static const char *const filters[] = { "", "owner-1", "RUN", "7", "-", "zz", "ed\t" };
	struct model m;
	unsigned seed = 23;

	(void)state;
	assert_int_equal(model_init(&m, NCOLS, numeric, format, NULL), 0);
	model_set_state_col(&m, 1, state_of);
	for (long i = 1; i <= 2000; i++) {
		char owner[32];

		snprintf(owner, sizeof(owner), "Owner-%ld", i % 37);
		assert_int_equal(put(&m, i, states[i % 4], owner, i % 5 == 0 ? -1 : i % 97), 0);
	}
	oracle_check(&m);
	for (int step = 0; step < 3000; step++) {
		int op = rand_r(&seed) % 100;
		long id = 1 + rand_r(&seed) % 2600;	/* some new, most known */
		char key[32], owner[32];

		snprintf(key, sizeof(key), "%ld", id);
		snprintf(owner, sizeof(owner), "owner-%d", rand_r(&seed) % 40);
		if (op < 60) {
			/* An event: a row's state (and maybe more) as it is now. */
			json_t *o = inst(id, states[rand_r(&seed) % 4],
			    op < 30 ? owner : "Owner-1", op % 3 == 0 ? -1 : rand_r(&seed) % 120);

			assert_true(model_follow(&m, key, o, 1000 + step) >= 0);
			json_decref(o);
		} else if (op < 70) {
			model_remove(&m, key);
		} else if (op < 80) {
			model_set_sort(&m, (size_t)(rand_r(&seed) % NCOLS), rand_r(&seed) % 2);
		} else if (op < 90) {
			model_set_filter(&m, filters[rand_r(&seed) % 7]);
		}
		/* A frame refreshes after a few changes, or after each. */
		if (op >= 90 || rand_r(&seed) % 4 == 0)
			oracle_check(&m);
		else
			continue;
		for (size_t i = 0; i < m.n; i++) {
			const struct model_row *r = &m.rows[i];

			assert_int_equal(r->state, state_of(model_cell(r, 1)));
			assert_ptr_equal(model_find(&m, model_key(r)), r);
		}
	}
	oracle_check(&m);
	model_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_keep_no_json_unless_asked),
		cmocka_unit_test(test_state_is_kept_as_its_enum),
		cmocka_unit_test(test_events_that_move_a_row_move_it_in_the_sort),
		cmocka_unit_test(test_a_list_loaded_aside_replaces_the_rows_whole),
		cmocka_unit_test(test_random_events_filters_and_sorts_match_the_oracle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
