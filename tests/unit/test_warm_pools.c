/*
 * Warm pools on a real SQLite file, without sockets: a pool fills, is
 * claimed and refills; its failures back it off (and only its own); a claim
 * rolled back is not counted; a pool counts only what a claim can reach; a
 * drain stops its warm instances. The fixture: lifecycle_fix.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

#include "lifecycle_fix.h"

static void
test_a_pool_fills_is_claimed_refills_and_backs_off(void **state)
{
	static const char *const to_inst[] = { "scheduled", "instantiating", NULL };
	int64_t claimed, pools[2], n = 0;
	sqlite3_stmt *st;

	(void)state;
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":2}}");
	worker("w1", 8, "{}");
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1 AND owner = 'warm-pool' "
	    "AND state = 'pending'", 0), 2);
	pass();
	assert_int_equal(sqlite3_prepare_v2(store_db(s), "SELECT id FROM instances WHERE pool = 1 "
	    "ORDER BY id", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && n < 2)
		pools[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(n, 2);
	for (int i = 0; i < 2; i++) {
		char f[64];

		walk(pools[i], "w1", to_inst);
		/* A pool's instance waits warm, never running, until it is claimed. */
		assert_int_equal(report(pools[i], "{\"name\":\"w1\",\"from\":\"instantiating\","
		    "\"to\":\"running\"}", f), 409);
		assert_int_equal(report(pools[i], "{\"name\":\"w1\",\"from\":\"instantiating\","
		    "\"to\":\"warm\"}", f), 0);
	}
	/* A slot that has begun claims the oldest warm one: running, the owner's, its own id. */
	claimed = instance("p", "ana", 0, 3600);
	assert_int_equal(claimed, pools[0]);
	assert_field(claimed, "state", "running");
	assert_field(claimed, "owner", "ana");
	assert_field(claimed, "pool", "false");
	assert_field(claimed, "state_reason", "claimed from the warm pool for ana");
	/* A slot that begins later is made, not claimed. */
	assert_true(instance("p", "ben", 3600, 7200) != pools[1]);
	/* The pool fills up again. */
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1 AND state IN "
	    "('pending','warm')", 0), 2);
	/* A pool whose instances fail is paused, not refilled in a loop. */
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":0}}");
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1 AND state IN "
	    "('pending','warm')", 0), 0);
	assert_field(pools[1], "state", "stopping");	/* warm: its stop hook runs */
}

/* The claims /metrics counts so far. */
static long long
claims_counted(void)
{
	struct sbuf m;
	const char *p;
	long long n = -1;

	sbuf_init(&m);
	assert_int_equal(metrics_render(s, &m), 0);
	p = strstr(m.p, "outpost_scheduling_decisions_total{result=\"claimed\"} ");
	if (p != NULL)
		n = strtoll(strchr(p, '}') + 2, NULL, 10);
	sbuf_free(&m);
	return n;
}

/* A number of /metrics: the value of the line that starts with name and a space. */
static double
metric(const char *name)
{
	struct sbuf m;
	char key[160];
	const char *p;
	double v = -1;

	sbuf_init(&m);
	assert_int_equal(metrics_render(s, &m), 0);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(m.p, key);
	if (p != NULL)
		v = strtod(p + strlen(key), NULL);
	sbuf_free(&m);
	return v;
}

/*
 * outpost_instantiation_duration_seconds times the instantiate hook: the
 * agent's measure when it sends one; else the server's, only when the agent
 * had no slot start to wait for.
 */
static void
test_instantiation_is_timed_without_the_wait_for_the_slot(void **state)
{
	static const char *const to_inst[] = { "scheduled", "instantiating", NULL };
	char f[64];
	int64_t ahead, now_slot, told;
	double n0, sum0;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 8, "{}");
	ahead = instance("d", "ana", 120, 3600);	/* instantiated two minutes ahead of its slot */
	now_slot = instance("d", "ben", -1, 3600);
	told = instance("d", "cy", 120, 3600);
	assert_int_equal(pass().placed, 3);
	walk(ahead, "w1", to_inst);
	walk(now_slot, "w1", to_inst);
	walk(told, "w1", to_inst);
	n0 = metric("outpost_instantiation_duration_seconds_count");
	sum0 = metric("outpost_instantiation_duration_seconds_sum");
	/* The agent waited for the slot: what the server saw is not the hook's time. */
	assert_int_equal(report(ahead, "{\"name\":\"w1\",\"from\":\"instantiating\","
	    "\"to\":\"running\"}", f), 0);
	assert_true(metric("outpost_instantiation_duration_seconds_count") == n0);
	/* Its slot had begun: the report came as the hook ended. */
	assert_int_equal(report(now_slot, "{\"name\":\"w1\",\"from\":\"instantiating\","
	    "\"to\":\"running\"}", f), 0);
	assert_true(metric("outpost_instantiation_duration_seconds_count") == n0 + 1);
	/* The agent says how long the hook ran. */
	sum0 = metric("outpost_instantiation_duration_seconds_sum");
	assert_int_equal(report(told, "{\"name\":\"w1\",\"from\":\"instantiating\","
	    "\"to\":\"running\",\"instantiate_ms\":1500}", f), 0);
	assert_true(metric("outpost_instantiation_duration_seconds_count") == n0 + 2);
	assert_true(metric("outpost_instantiation_duration_seconds_sum") - sum0 > 1.499 &&
	    metric("outpost_instantiation_duration_seconds_sum") - sum0 < 1.501);
	/* Only with the end of instantiating. */
	assert_int_equal(report(told, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"collecting\","
	    "\"instantiate_ms\":5}", f), 400);
	assert_string_equal(f, "instantiate_ms");
	assert_int_equal(report(told, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"collecting\","
	    "\"instantiate_ms\":-1}", f), 400);
	assert_string_equal(f, "instantiate_ms");
	assert_field(told, "state", "running");
}

/* A claim in a batch that is rolled back claimed nothing, and is not counted. */
static void
test_a_claim_rolled_back_is_not_counted(void **state)
{
	static const char *const to_warm[] = { "scheduled", "instantiating", "warm", NULL };
	struct op_err err = { 0 };
	char text[300], a[40], b[40];
	struct sbuf out;
	json_t *in;
	int64_t warm, first;
	long long before;

	(void)state;
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":1}}");
	worker("w1", 8, "{}");
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	pass();
	warm = count("SELECT max(id) FROM instances WHERE pool = 1", 0);
	walk(warm, "w1", to_warm);
	before = claims_counted();
	/* Two: the first claims the warm one, the second is made, and its insert fails. */
	assert_int_equal(sqlite3_exec(store_db(s), "CREATE TEMP TRIGGER no_insert BEFORE INSERT ON "
	    "instances WHEN NEW.owner = 'ana' BEGIN SELECT RAISE(ABORT, 'refused'); END", NULL, NULL,
	    NULL), SQLITE_OK);
	snprintf(text, sizeof(text), "{\"definition\":\"p\",\"owner\":\"ana\",\"timeslot_start\":"
	    "\"%s\",\"timeslot_end\":\"%s\",\"count\":2}",
	    time_format_ms(now_ms() / 1000 * 1000, a, sizeof(a), 0),
	    time_format_ms(now_ms() / 1000 * 1000 + 3600000, b, sizeof(b), 0));
	in = json_loads(text, 0, NULL);
	sbuf_init(&out);
	assert_int_equal(instances_create(s, in, "test", &out, &first, &err), -1);
	json_decref(in);
	sbuf_free(&out);
	assert_field(warm, "state", "warm");
	assert_int_equal(claims_counted(), before);
	assert_int_equal(sqlite3_exec(store_db(s), "DROP TRIGGER no_insert", NULL, NULL, NULL),
	    SQLITE_OK);
	/* Committed, it is counted. */
	assert_int_equal(instance("p", "ana", 0, 3600), warm);
	assert_int_equal(claims_counted(), before + 1);
}

static void
test_a_failing_pool_backs_off(void **state)
{
	static const char *const to_inst[] = { "scheduled", "instantiating", NULL };
	int64_t id, made;

	(void)state;
	define("{\"name\":\"b\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":1}}");
	worker("w1", 8, "{}");
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	pass();
	id = count("SELECT max(id) FROM instances WHERE pool = 1", 0);
	walk(id, "w1", to_inst);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"instantiating\",\"to\":\"failed\","
	    "\"reason\":\"hook_failed: instantiate exited with code 1\"}", NULL), 0);
	made = count("SELECT count(*) FROM instances WHERE pool = 1", 0);
	/* Within the backoff nothing new is made, however often the clock looks. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(lifecycle_tick(s, now_ms() + i * 100, config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1", 0), made);
	/* After it, one more try. */
	assert_int_equal(lifecycle_tick(s, now_ms() + 6000, config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1", 0), made + 1);
}

/* Failures that say nothing of the definition (its agent restarted) do not pause the pool. */
static void
test_a_pool_is_not_paused_by_failures_that_are_not_its_own(void **state)
{
	static const char *const to_warm[] = { "scheduled", "instantiating", "warm", NULL };
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	struct op_err err = { 0 };
	int64_t owned, ids[2];
	struct sbuf out;
	json_t *in;
	sqlite3_stmt *st;
	int n = 0;

	(void)state;
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":2}}");
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 8, "{}");
	owned = instance("d", "ana", 0, 3600);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	pass();
	walk(owned, "w1", to_run);
	assert_int_equal(sqlite3_prepare_v2(store_db(s), "SELECT id FROM instances WHERE pool = 1",
	    -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && n < 2)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		walk(ids[i], "w1", to_warm);
	/* The agent restarted on an empty work directory: everything it had fails. */
	in = json_pack("{s:s, s:[]}", "name", "w1", "alive");
	sbuf_init(&out);
	assert_int_equal(agent_sync(s, in, "agent", 600000, &out, &err), 0);
	json_decref(in);
	sbuf_free(&out);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE state = 'failed' AND "
	    "state_reason LIKE 'agent_restarted: %'", 0), 3);
	/* The pool is made up at once, not paused. */
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1 AND state = 'pending'",
	    0), 2);
	/* Past the retention the pool's failed instances are terminated; an owner's stays. */
	assert_int_equal(lifecycle_tick(s, now_ms() + 120000, config(60000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1 AND state = 'terminated' "
	    "AND state_reason = 'a warm pool''s instance, kept failed for the retention of 1m'", 0), 2);
	assert_field(owned, "state", "failed");
}

/* The newest pool instance of the definition. */
static int64_t
newest_pool(const char *def)
{
	sqlite3_stmt *st;
	int64_t id = 0;

	assert_int_equal(sqlite3_prepare_v2(store_db(s), "SELECT max(id) FROM instances WHERE "
	    "pool = 1 AND definition = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, def, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* A tick makes one pool instance; it is placed, and its agent makes it warm. */
static int64_t
pool_one_warm(const char *def, const char *on)
{
	static const char *const to_warm[] = { "scheduled", "instantiating", "warm", NULL };
	int64_t id;

	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	id = newest_pool(def);
	assert_field(id, "state", "pending");
	assert_int_equal(pass().placed, 1);
	assert_field(id, "worker", on);
	walk(id, on, to_warm);
	return id;
}

static void
act(int64_t w, enum worker_action a, const char *body)
{
	struct op_err err = { 0 };
	json_t *in = body ? json_loads(body, 0, NULL) : NULL, *out = NULL;

	if (worker_act(app_of(s), w, a, in, "op", &out, &err) != 0)
		fail_msg("%s: %s", worker_action_name(a), err.message);
	json_decref(in);
	json_decref(out);
}

static void
test_a_pool_counts_only_what_a_claim_can_reach(void **state)
{
	int64_t w1, first, second, claimed;

	(void)state;
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":1}}");
	w1 = worker("w1", 8, "{}");
	first = pool_one_warm("p", "w1");
	worker("w2", 4, "{}");
	/* Cordoned: its warm instance stays, but no claim reaches it; one is made on w2. */
	act(w1, WORKER_ACT_CORDON, NULL);
	second = pool_one_warm("p", "w2");
	assert_true(second != first);
	assert_field(first, "state", "warm");
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_int_equal(count("SELECT count(*) FROM instances WHERE pool = 1", 0), 2);
	/* A claim takes the one it can reach. */
	claimed = instance("p", "ana", 0, 3600);
	assert_int_equal(claimed, second);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	second = newest_pool("p");
	assert_int_equal(pass().placed, 1);
	assert_field(second, "worker", "w2");
	/* Uncordoned: both count, one too many; the oldest goes. */
	act(w1, WORKER_ACT_UNCORDON, NULL);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 1), 0);
	assert_field(first, "state", "stopping");
	assert_field(first, "state_reason", "the warm pool of p holds more than its depth of 1");
	assert_field(second, "state", "scheduled");
}

static void
test_a_drain_stops_its_warm_instances_and_ends(void **state)
{
	static const char *const to_stop[] = { "stopping", "stopped", NULL };
	int64_t w1, warm, moved;
	struct event_row ev[4];
	struct event_filter f = { .types = (const char *const[]){ "worker.drained" }, .ntypes = 1 };
	int64_t scanned;

	(void)state;
	define("{\"name\":\"p\",\"hooks\":{\"run\":[\"true\"]},\"warm_pool\":{\"depth\":1}}");
	w1 = worker("w1", 8, "{}");
	warm = pool_one_warm("p", "w1");
	worker("w2", 4, "{}");
	/* A drain without a deadline: the warm instance would hold w1 for ever. */
	act(w1, WORKER_ACT_DRAIN, NULL);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 0), 0);
	assert_field(warm, "state", "stopping");
	assert_field(warm, "state_reason", "its worker w1 is draining; a warm instance there "
	    "cannot be claimed");
	moved = pool_one_warm("p", "w2");
	assert_true(moved != warm);
	walk(warm, "w1", to_stop);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 0), 0);
	assert_int_equal(events_read(s, 0, &f, 4, 0, ev, &scanned), 1);
	event_row_free(&ev[0]);
	assert_field(moved, "state", "warm");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_pool_fills_is_claimed_refills_and_backs_off,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failing_pool_backs_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_claim_rolled_back_is_not_counted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_instantiation_is_timed_without_the_wait_for_the_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_pool_is_not_paused_by_failures_that_are_not_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_pool_counts_only_what_a_claim_can_reach,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_drain_stops_its_warm_instances_and_ends,
		    setup, teardown),
	};

	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
