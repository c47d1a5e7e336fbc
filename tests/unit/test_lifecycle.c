/*
 * The life of instances on a real SQLite file, without sockets: the
 * scheduler's pass and its events, what an agent may report and what is
 * refused (changing nothing), an agent's sync after a restart, a lost worker,
 * the clock's steps (slot ends, missed slots, retention, drain deadlines),
 * instances' logs, and the placement explanation (warm pools:
 * test_warm_pools.c; the fixture: lifecycle_fix.c). The HTTP side of the same is tests/integration/.
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

/* ---- the pass ---- */

static void
test_pass_places_what_fits_and_names_the_worker_in_its_event(void **state)
{
	int64_t w1, w2, a, b, c;
	struct event_row ev[8];
	struct event_filter f = { 0 };
	int64_t scanned;
	int n;

	(void)state;
	define("{\"name\":\"d\",\"resources\":{\"cpu\":2},\"hooks\":{\"run\":[\"true\"]}}");
	define("{\"name\":\"z\",\"labels\":{\"zone\":\"b\"},\"hooks\":{\"run\":[\"true\"]}}");
	w1 = worker("w1", 2, "{\"zone\":\"a\"}");
	w2 = worker("w2", 4, "{\"zone\":\"b\"}");
	a = instance("d", "ana", 0, 3600);
	b = instance("z", "ben", 0, 3600);
	c = instance("d", "cy", 7200, 9000);	/* two hours off: not due */
	assert_int_equal(pass().placed, 2);
	assert_field(a, "state", "scheduled");
	assert_field(b, "worker", "w2");
	assert_field(a, "attempt", "1");
	assert_field(c, "state", "pending");
	/* binpack: a (2 cpu) fits both; w1 is the fuller (the same free share, the lower id) */
	assert_field(a, "worker", "w1");
	/* The placement event concerns its worker: w2's stream sees b's, not a's. */
	f.worker_id = w2;
	n = events_read(s, 0, &f, 8, 0, ev, &scanned);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		assert_int_equal(ev[i].worker_id, w2);
		event_row_free(&ev[i]);
	}
	f.worker_id = w1;
	f.types = (const char *const[]){ "instance.state" };
	f.ntypes = 1;
	n = events_read(s, 0, &f, 8, 0, ev, &scanned);
	assert_int_equal(n, 1);
	assert_non_null(strstr(ev[0].json, "\"binpack: w1 is the fullest worker that fits"));
	event_row_free(&ev[0]);
	/* Nothing more to place: no commit, and the data version stays. */
	{
		uint64_t v = store_data_version(s);

		assert_int_equal(pass().placed, 0);
		assert_true(store_data_version(s) == v);
	}
}

/* A full site: the pass does not read the due instances, and still says when the next is due. */
static void
test_a_pass_on_a_full_site_reads_no_instance(void **state)
{
	struct sched_pass_result r;
	struct op_err err = { 0 };
	json_t *out = NULL;
	int64_t a, b, c;

	(void)state;
	define("{\"name\":\"d\",\"resources\":{\"cpu\":2},\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 2, "{}");
	a = instance("d", "ana", 0, 3600);
	assert_int_equal(pass().placed, 1);
	b = instance("d", "ben", 0, 3600);
	c = instance("d", "cy", 7200, 9000);
	r = pass();
	assert_int_equal(r.workers, 1);
	assert_int_equal(r.due, 0);	/* not read: no worker has a cpu free */
	assert_int_equal(r.placed, 0);
	assert_true(r.next_due_at > now_ms() + 3600000);	/* c's, less the lead time */
	assert_field(b, "state", "pending");
	assert_field(c, "state", "pending");
	/* Room again: the next pass reads and places. */
	assert_int_equal(instance_act(s, a, INST_ACT_TERMINATE, NULL, "op", &out, &err), 0);
	json_decref(out);
	r = pass();
	assert_int_equal(r.due, 1);
	assert_int_equal(r.placed, 1);
	assert_field(b, "state", "scheduled");
}

/* ---- reports ---- */

static void
test_reports_are_checked_and_a_refusal_changes_nothing(void **state)
{
	static const char *const life[] = { "scheduled", "instantiating", "running", "collecting",
		"grading", NULL };
	char f[64];
	int64_t id, before;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"],\"grade\":[\"true\"]}}");
	worker("w1", 4, "{}");
	worker("w2", 4, "{}");
	id = instance("d", "ana", 0, 3600);
	pass();
	assert_field(id, "worker", "w1");
	before = count("SELECT count(*) FROM transitions WHERE instance_id = ?", id);
	/* Another worker's agent may not report on it (its token acts for w2 alone). */
	assert_int_equal(report(id, "{\"name\":\"w2\",\"from\":\"scheduled\",\"to\":\"instantiating\"}",
	    f), 403);
	assert_string_equal(f, "id");
	assert_int_equal(report(id, "{\"name\":\"w9\",\"from\":\"scheduled\",\"to\":\"instantiating\"}",
	    f), 404);
	assert_string_equal(f, "name");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"collecting\"}", f),
	    409);
	assert_string_equal(f, "from");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"scheduled\",\"to\":\"asleep\"}", f),
	    400);
	assert_string_equal(f, "to");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"scheduled\",\"to\":\"stopped\"}", f),
	    409);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"scheduled\",\"to\":\"failed\","
	    "\"exit\":{\"hook\":\"run\",\"colour\":1}}", f), 400);
	assert_string_equal(f, "exit.colour");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"scheduled\",\"to\":\"instantiating\","
	    "\"grade\":{}}", f), 400);
	assert_string_equal(f, "grade");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"scheduled\",\"to\":\"instantiating\","
	    "\"extra\":1}", f), 400);
	assert_string_equal(f, "extra");
	assert_int_equal(report_as_is(id, json_loads("{\"name\":\"w1\",\"from\":\"scheduled\","
	    "\"to\":\"instantiating\"}", 0, NULL), f), 400);
	assert_string_equal(f, "attempt");	/* required */
	assert_int_equal(report(id, "{\"name\":\"w1\",\"attempt\":\"1\",\"from\":\"scheduled\","
	    "\"to\":\"instantiating\"}", f), 400);
	assert_string_equal(f, "attempt");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"attempt\":2,\"from\":\"scheduled\","
	    "\"to\":\"instantiating\"}", f), 409);
	assert_string_equal(f, "attempt");
	assert_field(id, "state", "scheduled");
	assert_int_equal(count("SELECT count(*) FROM transitions WHERE instance_id = ?", id), before);

	walk(id, "w1", life);
	/* Only an instance of a pool waits warm; a grade is the hook's JSON object. */
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"grading\",\"to\":\"stopping\","
	    "\"grade\":[87]}", f), 400);
	assert_string_equal(f, "grade");
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"grading\",\"to\":\"stopping\","
	    "\"grade\":{\"score\":87}}", f), 0);
	assert_field(id, "grade", "{\"score\":87}");
	/* The same report again (its answer was lost): answered as done, nothing doubled. */
	before = count("SELECT count(*) FROM transitions WHERE instance_id = ?", id);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"grading\",\"to\":\"stopping\"}", f), 0);
	assert_int_equal(count("SELECT count(*) FROM transitions WHERE instance_id = ?", id), before);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"stopping\",\"to\":\"stopped\"}", f), 0);
	assert_field(id, "state", "stopped");
}

static void
test_a_failure_keeps_its_exit_and_reason(void **state)
{
	static const char *const life[] = { "scheduled", "instantiating", "running", NULL };
	int64_t id;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 4, "{}");
	id = instance("d", "ana", 0, 3600);
	pass();
	walk(id, "w1", life);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\",\"reason\":"
	    "\"run_exited: run exited with code 3\",\"exit\":{\"hook\":\"run\",\"code\":3}}", NULL), 0);
	assert_field(id, "state", "failed");
	assert_field(id, "state_reason", "run_exited: run exited with code 3");
	assert_field(id, "exit", "{\"code\":3,\"hook\":\"run\"}");
}

/* The event of a retry shows the instance as it is after: its exit and grade cleared. */
static void
test_a_retry_event_shows_exit_and_grade_cleared(void **state)
{
	static const char *const life[] = { "scheduled", "instantiating", "running", NULL };
	struct op_err err = { 0 };
	struct event_row ev[64];
	struct event_filter f = { .types = (const char *const[]){ "instance.state" }, .ntypes = 1 };
	json_t *out = NULL, *e, *inst;
	int64_t id, scanned;
	int n;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 4, "{}");
	id = instance("d", "ana", 0, 3600);
	pass();
	walk(id, "w1", life);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"reason\":\"run_exited: run exited with code 3\",\"exit\":{\"hook\":\"run\",\"code\":3}}",
	    NULL), 0);
	assert_int_equal(instance_act(s, id, INST_ACT_RETRY, NULL, "op", &out, &err), 0);
	json_decref(out);
	n = events_read(s, 0, &f, 64, 0, ev, &scanned);
	assert_true(n >= 1);
	e = json_loads(ev[n - 1].json, 0, NULL);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"), "to")),
	    "pending");
	inst = json_object_get(json_object_get(e, "data"), "instance");
	assert_true(json_is_null(json_object_get(inst, "exit")));
	assert_true(json_is_null(json_object_get(inst, "grade")));
	json_decref(e);
	for (int i = 0; i < n; i++)
		event_row_free(&ev[i]);
	assert_field(id, "exit", "null");
}

static void
test_running_reported_after_the_slot_is_collected_at_once(void **state)
{
	static const char *const life[] = { "scheduled", "instantiating", NULL };
	char f[64];
	int64_t id, end_by;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 4, "{}");
	id = instance("d", "ana", -10, 3);
	/* Its end: the second it was made in, plus 3 s; so at least 2 s to walk it. */
	end_by = now_ms() / 1000 * 1000 + 3000;
	pass();
	walk(id, "w1", life);
	while (now_ms() <= end_by + 100)	/* past the end of its slot */
		usleep(50 * 1000);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"instantiating\",\"to\":\"running\"}", f),
	    0);
	assert_field(id, "state", "collecting");
	assert_field(id, "state_reason", "its slot ended");
}

/* A report left over from an earlier placement on the same worker is not applied to this one. */
static void
test_a_report_of_another_attempt_is_refused(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	struct op_err err = { 0 };
	json_t *out = NULL, *in;
	char f[64];
	int64_t id, before;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 4, "{}");
	id = instance("d", "ana", 0, 3600);
	pass();
	walk(id, "w1", to_run);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"reason\":\"run_exited: run exited with code 1\"}", NULL), 0);
	assert_int_equal(instance_act(s, id, INST_ACT_RETRY, NULL, "op", &out, &err), 0);
	json_decref(out);
	pass();
	assert_field(id, "attempt", "2");
	assert_field(id, "worker", "w1");
	before = count("SELECT count(*) FROM transitions WHERE instance_id = ?", id);
	/* Attempt 1's first step, sent late: the states match, the placement does not. */
	in = json_loads("{\"name\":\"w1\",\"attempt\":1,\"from\":\"scheduled\","
	    "\"to\":\"instantiating\"}", 0, NULL);
	assert_int_equal(instance_report(s, id, in, "agent", &out, &err), -1);
	json_decref(in);
	assert_int_equal(err.http, 409);
	assert_string_equal(err.code, "invalid_transition");
	assert_string_equal(err.field, "attempt");
	assert_string_equal(err.message, "the report is of attempt 1 of instance 1, which is on "
	    "attempt 2 now");
	assert_field(id, "state", "scheduled");
	assert_int_equal(count("SELECT count(*) FROM transitions WHERE instance_id = ?", id), before);
	assert_int_equal(report(id, "{\"name\":\"w1\",\"attempt\":2,\"from\":\"scheduled\","
	    "\"to\":\"instantiating\"}", f), 0);
	assert_field(id, "state", "instantiating");
}

/* Out of memory while the work is written: the answer is an error, never half of one. */
static void
test_the_work_is_whole_or_an_error_when_memory_runs_out(void **state)
{
	static const char *const to_inst[] = { "scheduled", "instantiating", NULL };
	char owner[129];
	int64_t id;
	int errors = 0;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"instantiate\":[\"/usr/bin/lab-make\",\"--big\"],"
	    "\"run\":[\"true\"]},\"timeouts\":{\"instantiate\":\"2m\"}}");
	worker("w1", 8, "{}");
	memset(owner, 'o', 128);
	owner[128] = '\0';
	id = instance("d", owner, 0, 3600);
	instance("d", "ben", 0, 3600);
	assert_int_equal(pass().placed, 2);
	walk(id, "w1", to_inst);
	for (size_t bound = 200; bound <= 4096; bound += 8) {
		struct op_err err = { 0 };
		struct sbuf out;
		json_t *w;
		int rc;

		sbuf_init(&out);
		realloc_bound = bound;
		rc = agent_work(s, "w1", 600000, &out, &err);
		realloc_bound = 0;
		if (rc != 0) {
			errors++;
		} else {
			w = out.p ? json_loads(out.p, 0, NULL) : NULL;
			if (w == NULL || json_array_size(json_object_get(w, "instances")) != 2)
				fail_msg("with realloc bounded to %zu bytes the work is %s", bound,
				    out.p ? out.p : "(nothing)");
			json_decref(w);
		}
		sbuf_free(&out);
	}
	assert_true(errors > 0);	/* the bounds did bite */
}

/* ---- restarts and losses ---- */

static void
test_sync_fails_what_a_restarted_agent_lost_and_keeps_the_rest(void **state)
{
	static const char *const to_inst[] = { "scheduled", "instantiating", NULL };
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	struct op_err err = { 0 };
	int64_t a, b, c;
	struct sbuf out;
	json_t *in, *work;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 8, "{}");
	a = instance("d", "ana", 0, 3600);
	b = instance("d", "ben", 0, 3600);
	c = instance("d", "cy", 0, 3600);
	pass();
	walk(b, "w1", to_inst);
	walk(c, "w1", to_run);
	in = json_pack("{s:s, s:[I]}", "name", "w1", "alive", (json_int_t)c);
	sbuf_init(&out);
	assert_int_equal(agent_sync(s, in, "agent", 600000, &out, &err), 0);
	json_decref(in);
	assert_field(a, "state", "scheduled");	/* nothing had started: nothing was lost */
	assert_field(b, "state", "failed");
	assert_non_null(strstr(field(b, "state_reason", (char[200]){ 0 }, 200), "agent_restarted: "));
	assert_field(c, "state", "running");
	/* The answer is the agent's work: what it holds now, with hooks and timeouts. */
	work = json_loads(out.p, 0, NULL);
	assert_non_null(work);
	assert_int_equal(json_array_size(json_object_get(work, "instances")), 2);
	assert_non_null(json_object_get(json_array_get(json_object_get(work, "instances"), 0),
	    "hooks"));
	json_decref(work);
	sbuf_free(&out);
	assert_int_equal(count("SELECT count(*) FROM events WHERE type = 'worker.reconciled' AND "
	    "json_extract(data, '$.lost[0]') = ?", b), 1);
	/* A bad sync changes nothing. */
	in = json_loads("{\"name\":\"w1\",\"alive\":[\"x\"]}", 0, NULL);
	sbuf_init(&out);
	assert_int_equal(agent_sync(s, in, "agent", 600000, &out, &err), -1);
	assert_string_equal(err.field, "alive[0]");
	json_decref(in);
	sbuf_free(&out);
	assert_field(c, "state", "running");
}

static void
test_a_lost_worker_sends_back_or_fails_per_definition(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	int64_t back, gone, w;

	(void)state;
	define("{\"name\":\"moves\",\"hooks\":{\"run\":[\"true\"]},\"on_worker_loss\":\"reschedule\"}");
	define("{\"name\":\"stays\",\"hooks\":{\"run\":[\"true\"]},\"on_worker_loss\":\"fail\"}");
	w = worker("w1", 8, "{}");
	back = instance("moves", "ana", 0, 3600);
	gone = instance("stays", "ben", 0, 3600);
	pass();
	walk(back, "w1", to_run);
	walk(gone, "w1", to_run);
	/* A minute without heartbeats, then an hour: offline, then lost. */
	assert_int_equal(workers_check_health(s, now_ms() + 3600000, 0, 15000, 60000), 0);
	assert_int_equal(count("SELECT count(*) FROM workers WHERE health = 'lost' AND id = ?", w), 1);
	assert_field(back, "state", "pending");
	assert_field(back, "worker", "null");
	assert_field(gone, "state", "failed");
	assert_field(gone, "state_reason", "worker_lost: its worker w1 was lost");
	assert_int_equal(count("SELECT count(*) FROM instances WHERE worker_id = ? AND state IN "
	    "('scheduled','instantiating','warm','running','collecting','grading','stopping')", w), 0);
}

/*
 * An agent that fenced its instances (cut off for most of its lease, the
 * worker not lost meanwhile) says so: each goes as for a lost worker, per
 * its definition; one whose run was over fails; "fenced" comes only with a
 * failure; once the worker was lost the report is no longer its to make.
 */
static void
test_a_fenced_report_goes_as_a_lost_worker_would(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	static const char *const to_collect[] = { "scheduled", "instantiating", "running",
		"collecting", NULL };
	char f[64];
	int64_t back, gone, over, late, before;

	(void)state;
	define("{\"name\":\"moves\",\"hooks\":{\"run\":[\"true\"],\"collect\":[\"true\"]},"
	    "\"on_worker_loss\":\"reschedule\"}");
	define("{\"name\":\"stays\",\"hooks\":{\"run\":[\"true\"]},\"on_worker_loss\":\"fail\"}");
	worker("w1", 8, "{}");
	back = instance("moves", "ana", 0, 3600);
	gone = instance("stays", "ben", 0, 3600);
	over = instance("moves", "cy", 0, 3600);
	late = instance("moves", "dan", 0, 3600);
	pass();
	walk(back, "w1", to_run);
	walk(gone, "w1", to_run);
	walk(over, "w1", to_collect);
	walk(late, "w1", to_run);
	/* Only a failure is fenced; a refusal changes nothing. */
	before = count("SELECT count(*) FROM transitions WHERE instance_id = ?", back);
	assert_int_equal(report(back, "{\"name\":\"w1\",\"from\":\"running\",\"to\":"
	    "\"collecting\",\"fenced\":true}", f), 400);
	assert_string_equal(f, "fenced");
	assert_int_equal(report(back, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"fenced\":1}", f), 400);
	assert_string_equal(f, "fenced");
	assert_int_equal(count("SELECT count(*) FROM transitions WHERE instance_id = ?", back), before);
	assert_field(back, "state", "running");

	assert_int_equal(report(back, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"reason\":\"fenced: cut off\",\"fenced\":true}", f), 0);
	assert_field(back, "state", "pending");
	assert_field(back, "worker", "null");
	assert_field(back, "state_reason", "its agent on w1 fenced it, cut off from the server; "
	    "placed again");
	assert_int_equal(report(gone, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"reason\":\"fenced: cut off\",\"fenced\":true}", f), 0);
	assert_field(gone, "state", "failed");
	assert_field(gone, "state_reason", "fenced: cut off");
	assert_int_equal(report(over, "{\"name\":\"w1\",\"from\":\"collecting\",\"to\":"
	    "\"failed\",\"reason\":\"fenced: cut off\",\"fenced\":true}", f), 0);
	assert_field(over, "state", "failed");
	/* Lost first: the instance is placed again, no longer w1's to report on. */
	assert_int_equal(workers_check_health(s, now_ms() + 3600000, 0, 15000, 60000), 0);
	assert_field(late, "state", "pending");
	assert_int_equal(report(late, "{\"name\":\"w1\",\"from\":\"running\",\"to\":\"failed\","
	    "\"reason\":\"fenced: cut off\",\"fenced\":true}", f), 403);
	assert_string_equal(f, "id");
	assert_field(late, "state", "pending");
}

/* An instance whose run was over fails with its worker, keeping its grade; it is not run again. */
static void
test_a_lost_worker_fails_what_had_finished_its_run(void **state)
{
	static const char *const to_collect[] = { "scheduled", "instantiating", "running",
		"collecting", NULL };
	static const char *const to_stop[] = { "collecting", "grading", NULL };
	int64_t run, collecting, stopping;
	struct op_err err = { 0 };
	json_t *out = NULL;

	(void)state;
	define("{\"name\":\"moves\",\"hooks\":{\"run\":[\"true\"],\"grade\":[\"true\"]},"
	    "\"on_worker_loss\":\"reschedule\"}");
	worker("w1", 8, "{}");
	run = instance("moves", "ana", 0, 60);
	collecting = instance("moves", "ben", 0, 60);
	stopping = instance("moves", "cy", 0, 60);
	pass();
	walk(run, "w1", (const char *const[]){ "scheduled", "instantiating", "running", NULL });
	walk(collecting, "w1", (const char *const[]){ "scheduled", "instantiating", "running", NULL });
	assert_int_equal(instance_act(s, collecting, INST_ACT_STOP, NULL, "op", &out, &err), 0);
	json_decref(out);
	walk(stopping, "w1", to_collect);
	walk(stopping, "w1", to_stop);
	assert_int_equal(report(stopping, "{\"name\":\"w1\",\"from\":\"grading\",\"to\":\"stopping\","
	    "\"grade\":{\"score\":9}}", NULL), 0);
	assert_int_equal(workers_check_health(s, now_ms() + 3600000, 0, 15000, 60000), 0);
	assert_field(run, "state", "pending");	/* its run was not over: it runs again */
	assert_field(collecting, "state", "failed");
	assert_field(collecting, "state_reason", "worker_lost: its worker w1 was lost while it was "
	    "collecting");
	assert_field(stopping, "state", "failed");
	assert_field(stopping, "state_reason", "worker_lost: its worker w1 was lost while it was "
	    "stopping");
	assert_field(stopping, "grade", "{\"score\":9}");
	/* Past their slots they stay as they are: no slot_missed. */
	assert_int_equal(lifecycle_tick(s, now_ms() + 120000, config(86400000), 0), 0);
	assert_field(collecting, "state_reason", "worker_lost: its worker w1 was lost while it was "
	    "collecting");
	assert_field(stopping, "state_reason", "worker_lost: its worker w1 was lost while it was "
	    "stopping");
}

/* ---- the clock ---- */

static void
test_the_clock_ends_slots_fails_missed_ones_and_retires(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	static const char *const to_end[] = { "collecting", "stopping", "stopped", NULL };
	int64_t run, missed, done;
	struct op_err err = { 0 };
	json_t *out = NULL;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	define("{\"name\":\"nowhere\",\"labels\":{\"zone\":\"x\"},\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 8, "{}");
	run = instance("d", "ana", 0, 60);
	missed = instance("nowhere", "ben", 0, 60);
	done = instance("d", "cy", 0, 3600);
	pass();
	walk(run, "w1", to_run);
	walk(done, "w1", to_run);
	assert_int_equal(instance_act(s, done, INST_ACT_STOP, NULL, "op", &out, &err), 0);
	json_decref(out);
	walk(done, "w1", to_end);
	/* Before the end nothing moves; two minutes on, the slots are over. */
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 0), 0);
	assert_field(run, "state", "running");
	assert_int_equal(lifecycle_tick(s, now_ms() + 120000, config(60000), 1), 0);
	assert_field(run, "state", "collecting");
	assert_field(run, "state_reason", "its slot ended");
	assert_field(missed, "state", "failed");
	assert_field(missed, "state_reason", "slot_missed: its slot ended before a worker took it");
	/* Stopped for longer than the retention of 1m: terminated. */
	assert_field(done, "state", "terminated");
	assert_field(done, "state_reason", "kept stopped for the retention of 1m");
}

static void
test_a_drain_deadline_stops_what_runs_and_moves_what_has_not_begun(void **state)
{
	static const char *const to_run[] = { "scheduled", "instantiating", "running", NULL };
	struct op_err err = { 0 };
	int64_t run, early, w;
	json_t *body, *out = NULL;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	w = worker("w1", 8, "{}");
	run = instance("d", "ana", 0, 3600);
	early = instance("d", "ben", 0, 3600);
	pass();
	walk(run, "w1", to_run);
	/* A bad deadline is refused and changes nothing. */
	body = json_loads("{\"deadline\":\"soon\"}", 0, NULL);
	assert_int_equal(worker_act(app_of(s), w, WORKER_ACT_DRAIN, body, "op", &out, &err), -1);
	assert_string_equal(err.field, "deadline");
	json_decref(body);
	assert_int_equal(count("SELECT count(*) FROM workers WHERE state = 'ready' AND id = ?", w), 1);
	body = json_loads("{\"deadline\":\"1s\"}", 0, NULL);
	assert_int_equal(worker_act(app_of(s), w, WORKER_ACT_DRAIN, body, "op", &out, &err), 0);
	json_decref(body);
	json_decref(out);
	assert_int_equal(lifecycle_tick(s, now_ms(), config(86400000), 0), 0);
	assert_field(run, "state", "running");	/* before the deadline */
	assert_int_equal(lifecycle_tick(s, now_ms() + 5000, config(86400000), 0), 0);
	assert_field(run, "state", "collecting");
	assert_field(run, "state_reason", "stopped at the drain deadline of w1");
	assert_field(early, "state", "pending");
	/* Not placed again on the worker that drains. */
	assert_int_equal(pass().placed, 0);
}

/* ---- logs ---- */

static int
append(int64_t id, int64_t attempt, const char *hook, int64_t offset, const char *text,
    int64_t *stored, struct op_err *err)
{
	json_t *in = json_pack("{s:s, s:I, s:s, s:I, s:s}", "name", "w1", "attempt",
	    (json_int_t)attempt, "hook", hook, "offset", (json_int_t)offset, "text", text);
	int rc = instance_log_append(s, id, in, stored, err);

	json_decref(in);
	return rc;
}

static void
test_logs_are_kept_once_in_order_and_bounded(void **state)
{
	struct op_err err = { 0 };
	int64_t id, stored;
	char *big = malloc(200 * 1024 + 1);
	struct sbuf out;
	json_t *page;

	(void)state;
	define("{\"name\":\"d\",\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 8, "{}");
	id = instance("d", "ana", 0, 3600);
	pass();
	assert_int_equal(append(id, 1, "run", 0, "hello\n", &stored, &err), 0);
	assert_int_equal(stored, 6);
	assert_int_equal(append(id, 1, "run", 0, "hello\n", &stored, &err), 0);
	assert_int_equal(stored, 0);	/* sent twice, kept once */
	assert_int_equal(append(id, 2, "run", 0, "x", &stored, &err), -1);
	assert_string_equal(err.field, "attempt");	/* it has had one placement */
	assert_int_equal(append(id, 1, "lunch", 0, "x", &stored, &err), -1);
	assert_string_equal(err.field, "hook");
	/* Past 1 MiB a note says so, once, and the rest goes. */
	memset(big, 'x', 200 * 1024);
	big[200 * 1024] = '\0';
	for (int i = 0; i < 8; i++)
		assert_int_equal(append(id, 1, "run", 6 + i * 200 * 1024, big, &stored, &err), 0);
	assert_int_equal(stored, 0);
	assert_true(count("SELECT sum(length(text)) FROM instance_logs WHERE instance_id = ?", id) <=
	    1024 * 1024 + 200);
	/* The running count is the bytes kept, the note's included. */
	assert_int_equal(count("SELECT log_bytes FROM instances WHERE id = ?", id),
	    count("SELECT sum(length(CAST(text AS BLOB))) FROM instance_logs WHERE instance_id = ?",
	    id));
	assert_int_equal(count("SELECT count(*) FROM instance_logs WHERE instance_id = ? AND "
	    "offset = -1", id), 1);
	sbuf_init(&out);
	assert_int_equal(instance_log_read(s, id, "run", 0, 0, 500, &out, &err), 0);
	page = json_loads(out.p, 0, NULL);
	assert_non_null(page);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(page,
	    "items"), 0), "text")), "hello\n");
	assert_true(json_is_null(json_object_get(page, "next")));
	json_decref(page);
	sbuf_free(&out);
	free(big);
}

/* ---- explanations ---- */

static void
test_placement_explains_why_an_instance_waits(void **state)
{
	struct op_err err = { 0 };
	json_t *p;
	int64_t id, w;

	(void)state;
	define("{\"name\":\"big\",\"resources\":{\"cpu\":6},\"hooks\":{\"run\":[\"true\"]}}");
	worker("w1", 4, "{}");
	w = worker("w2", 8, "{}");
	{
		json_t *out = NULL;

		assert_int_equal(worker_act(app_of(s), w, WORKER_ACT_CORDON, NULL, "op", &out,
		    &err), 0);
		json_decref(out);
	}
	id = instance("big", "ana", 0, 3600);
	assert_int_equal(pass().placed, 0);
	p = instance_placement(s, id, now_ms(), 300000, &err);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "summary")),
	    "waiting for a worker: 2 workers: 1 lacks cpu (need 6, free 4), 1 cordoned");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p,
	    "workers"), 0), "reason")), "lacks cpu: needs 6, 4 free");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p,
	    "workers"), 1), "reason")), "cordoned: takes no new instances");
	json_decref(p);
	assert_null(instance_placement(s, 999, now_ms(), 300000, &err));
	assert_int_equal(err.http, 404);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pass_places_what_fits_and_names_the_worker_in_its_event,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_pass_on_a_full_site_reads_no_instance,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports_are_checked_and_a_refusal_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failure_keeps_its_exit_and_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_reported_after_the_slot_is_collected_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_retry_event_shows_exit_and_grade_cleared,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_report_of_another_attempt_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_the_work_is_whole_or_an_error_when_memory_runs_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sync_fails_what_a_restarted_agent_lost_and_keeps_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_fenced_report_goes_as_a_lost_worker_would,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_lost_worker_sends_back_or_fails_per_definition,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_lost_worker_fails_what_had_finished_its_run,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_clock_ends_slots_fails_missed_ones_and_retires,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_drain_deadline_stops_what_runs_and_moves_what_has_not_begun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_are_kept_once_in_order_and_bounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_placement_explains_why_an_instance_waits,
		    setup, teardown),
	};

	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
