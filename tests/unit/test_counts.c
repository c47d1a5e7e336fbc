/*
 * The instances by state that /metrics shows, kept in memory
 * (metrics_counts.c), against SQLite's own count of the same file after
 * every step of a mixed workload (creates one at a time and in a batch,
 * placements, an agent's reports, an operator's terminate, a lost worker,
 * the store closed and opened again) and after changes rolled back: one
 * undone by the caller, one refused for lack of room (db_max_size_mb). The
 * prune and a restart of the real server: tests/integration/metrics.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

#include "lifecycle_fix.h"

/* The counts in memory equal a fresh count of every state; returns the sum. */
static int64_t
same(void)
{
	int64_t n[INST_STATE_COUNT], total = 0;

	assert_int_equal(counts_get(s, n), 0);
	for (int i = 0; i < INST_STATE_COUNT; i++) {
		sqlite3_stmt *st;
		int64_t want;

		assert_int_equal(sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM instances "
		    "WHERE state = ?", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, inst_state_name((enum inst_state)i), -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		want = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (n[i] != want)
			fail_msg("%s: %lld in memory, %lld in the store",
			    inst_state_name((enum inst_state)i), (long long)n[i], (long long)want);
		total += want;
	}
	return total;
}

static int
batch(int count)
{
	struct op_err err = { 0 };
	char text[300], a[40], b[40];
	struct sbuf out;
	json_t *in;
	int64_t first;
	int rc;

	snprintf(text, sizeof(text), "{\"definition\":\"d\",\"owner\":\"o\",\"timeslot_start\":"
	    "\"%s\",\"timeslot_end\":\"%s\",\"count\":%d}",
	    time_format_ms(now_ms() / 1000 * 1000 + 7200000, a, sizeof(a), 0),
	    time_format_ms(now_ms() / 1000 * 1000 + 9000000, b, sizeof(b), 0), count);
	in = json_loads(text, 0, NULL);
	assert_non_null(in);
	sbuf_init(&out);
	rc = instances_create(s, in, "test", &out, &first, &err) == 0 ? 0 : err.http;
	json_decref(in);
	sbuf_free(&out);
	return rc;
}

static void
terminate(int64_t id)
{
	struct op_err err = { 0 };
	json_t *out = NULL;

	assert_int_equal(instance_act(s, id, INST_ACT_TERMINATE, NULL, "test", &out, &err), 0);
	json_decref(out);
}

static void
test_counts_follow_a_mixed_workload_and_a_reopen(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	int64_t w1, a, b, c, d, later, before[INST_STATE_COUNT], after[INST_STATE_COUNT];
	struct op_err err = { 0 };
	char path[256];

	(void)state;
	define("{\"name\":\"d\",\"resources\":{\"cpu\":1},\"hooks\":{\"run\":[\"true\"]}}");
	assert_int_equal(same(), 0);	/* loads them: none yet */
	w1 = worker("w1", 8, "{}");
	a = instance("d", "ana", 0, 3600);
	b = instance("d", "ben", 0, 3600);
	c = instance("d", "cy", 0, 3600);
	d = instance("d", "dee", 0, 3600);
	later = instance("d", "eve", 7200, 9000);
	assert_int_equal(same(), 5);
	assert_int_equal(pass().placed, 4);
	same();
	walk(a, "w1", to_run);
	walk(b, "w1", to_run);
	same();
	terminate(c);
	terminate(later);
	same();
	assert_int_equal(batch(50), 0);
	assert_int_equal(same(), 55);
	/* The worker is lost: what it held fails or goes back to pending. */
	assert_int_equal(lifecycle_worker_lost(s, w1, "w1"), 0);
	same();
	(void)d;
	/* Opened again, as at a restart: loaded afresh from the file, the same. */
	snprintf(path, sizeof(path), "%s", sqlite3_db_filename(store_db(s), "main"));
	assert_int_equal(counts_get(s, before), 0);
	store_close(s);
	s = store_open(path, &err);
	assert_non_null(s);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), 0);
	assert_int_equal(counts_get(s, after), 0);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(same(), 55);
}

/*
 * Changes rolled back move nothing: a transition undone by its caller, and a
 * batch of creates refused for lack of room (db_max_size_mb), each of whose
 * rows had been counted as it was written before the write that failed.
 */
static void
test_counts_do_not_drift_when_a_change_is_rolled_back(void **state)
{
	struct op_err err = { 0 };
	int64_t a, total;
	int rc, i;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	a = instance("d", "ana", 7200, 9000);
	assert_int_equal(same(), 1);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(instance_transition(s, a, INST_TERMINATED, ACTOR_OPERATOR, "undone",
	    "test", &err), 0);
	store_rollback(s);
	assert_field(a, "state", "pending");
	assert_int_equal(same(), 1);
	/* Batches until one finds no room under a cap of 2 MB: 507, all of it undone. */
	store_set_max_size(s, 2);
	for (i = 0; i < 200 && (rc = batch(1000)) == 0; i++)
		;
	assert_int_equal(rc, 507);
	total = same();
	assert_int_equal(total, 1 + 1000LL * i);
	/* With room again, the next batch counts. */
	store_set_max_size(s, 0);
	assert_int_equal(store_room_check(s), 1);
	assert_int_equal(batch(10), 0);
	assert_int_equal(same(), total + 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts_follow_a_mixed_workload_and_a_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_do_not_drift_when_a_change_is_rolled_back,
		    setup, teardown),
	};

	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
