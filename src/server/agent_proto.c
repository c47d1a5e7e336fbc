/*
 * The agent's side of the protocol: what outpost-agent is told to run and
 * what it reports. The HTTP routes are api_agent.c's; the clock, drains and
 * lost workers are lifecycle.c's; warm pools are pools.c's.
 *
 * The protocol is level-triggered: an agent asks for its work (agent_work)
 * whenever it is told something changed, and acts on the difference between
 * that and what it runs. What it reports is checked against the stored
 * state ("from") and placement ("attempt"), so a report that raced an
 * operator's terminate, or is left from an earlier placement, is refused,
 * not applied to the wrong state. Every change goes through
 * instance_transition(), in one transaction with its event.
 *
 * It must never move an instance the agent does not hold, nor terminate an
 * instance or send it back to pending: those are the server's and
 * operators' moves.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define SYNC_MAX_ALIVE 100000	/* ids an agent's sync may name */
#define GRADE_MAX (64 * 1024)	/* a grade's JSON text, in bytes */

int
agent_worker(struct store *s, const char *name, int64_t *id, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id, state FROM workers WHERE name = ?");

	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		op_err_set(err, 404, "not_found", "name", "no worker named %s; register it first", name);
		return -1;
	}
	*id = sqlite3_column_int64(st, 0);
	if (strcmp((const char *)sqlite3_column_text(st, 1), "terminated") == 0) {
		sqlite3_reset(st);
		op_err_set(err, 409, "invalid_transition", "name", "worker %s is terminated", name);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/*
 * The hooks' timeouts as the agent applies them: the definition's, else
 * hook_timeout for every hook but run (which lasts its slot).
 */
static int
put_timeouts(struct sbuf *b, const char *hooks_text, const char *timeouts_text,
    int64_t hook_timeout)
{
	json_t *hooks = hooks_text ? json_loads(hooks_text, 0, NULL) : NULL;
	json_t *to = timeouts_text ? json_loads(timeouts_text, 0, NULL) : NULL;
	const char *k;
	json_t *v;
	int is_first = 1, rc = 0;
	char d[32];

	rc |= sbuf_puts(b, ",\"timeouts\":{");
	json_object_foreach(hooks, k, v) {
		const char *t = json_string_value(json_object_get(to, k));

		if (t == NULL && strcmp(k, "run") == 0)
			continue;
		rc |= sbuf_printf(b, "%s\"%s\":", is_first ? "" : ",", k);
		rc |= sbuf_json_string(b, t ? t : duration_format(hook_timeout, d, sizeof(d)));
		is_first = 0;
	}
	rc |= sbuf_putc(b, '}');
	json_decref(hooks);
	json_decref(to);
	return rc;
}

/*
 * What the worker's agent must run: its instances in states that hold it,
 * each with its definition's hooks and timeouts. Written as JSON text:
 * {"worker": NAME, "instances": [...], "last_seq": N}.
 */
static int
write_work(struct store *s, int64_t worker_id, const char *name, int64_t hook_timeout,
    struct sbuf *out)
{
	static char sql[STATES_SQL_BUF];
	sqlite3_stmt *st = lifecycle_stmt_states(s, sql, sizeof(sql), "SELECT " INST_COLUMNS ", "
	    "json_extract(d.body, '$.hooks'), json_extract(d.body, '$.timeouts'), "
	    "json_extract(d.body, '$.resources.pids'), i.trace " INST_FROM
	    "JOIN definitions d ON d.name = i.definition AND d.version = i.definition_version "
	    "WHERE i.worker_id = ? AND i.state IN (", inst_set_holding(), ") ORDER BY i.id");
	int n = 0, rc = 0;

	if (st == NULL)
		return -1;
	/* An append that fails (out of memory) fails the whole answer: never half of it. */
	rc |= sbuf_puts(out, "{\"worker\":");
	rc |= sbuf_json_string(out, name);
	rc |= sbuf_puts(out, ",\"instances\":[");
	sqlite3_bind_int64(st, 1, worker_id);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct inst_row r;
		const char *hooks = (const char *)sqlite3_column_text(st, INST_NCOLUMNS);
		const char *timeouts = (const char *)sqlite3_column_text(st, INST_NCOLUMNS + 1);
		const char *trace = (const char *)sqlite3_column_text(st, INST_NCOLUMNS + 3);

		inst_row_from_stmt(st, &r);
		/* The agent's work always says the pids limit: the definition's, or the default. */
		r.pids = sqlite3_column_type(st, INST_NCOLUMNS + 2) == SQLITE_NULL ? PIDS_DEFAULT :
		    sqlite3_column_int64(st, INST_NCOLUMNS + 2);
		if (n++ > 0)
			rc |= sbuf_putc(out, ',');
		if (rc != 0 || instance_write(out, &r) != 0) {
			rc = -1;
			break;
		}
		out->len--;	/* reopen the object at its '}': its hooks and timeouts follow */
		rc |= sbuf_puts(out, ",\"hooks\":");
		rc |= sbuf_puts(out, hooks ? hooks : "{}");
		rc |= put_timeouts(out, hooks, timeouts, hook_timeout);
		/* The trace its hooks continue: its placement's span, or its creator's. */
		if (trace != NULL) {
			rc |= sbuf_puts(out, ",\"trace\":");
			rc |= sbuf_json_string(out, trace);
		}
		rc |= sbuf_putc(out, '}');
	}
	sqlite3_reset(st);
	rc |= sbuf_printf(out, "],\"last_seq\":%lld}\n", (long long)events_last_seq(s));
	return rc != 0 || out->p == NULL ? -1 : 0;
}

int
agent_work(struct store *s, const char *name, int64_t hook_timeout, struct sbuf *out,
    struct op_err *err)
{
	int64_t id;

	if (name == NULL || name[0] == '\0') {
		op_err_set(err, 400, "invalid_argument", "name", "name (the worker's) is required");
		return -1;
	}
	if (agent_worker(s, name, &id, err) != 0)
		return -1;
	if (write_work(s, id, name, hook_timeout, out) != 0) {
		store_fail(s, err);
		return -1;
	}
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ids of the sync's "alive", sorted; *n of them. NULL and err when one is not an id. */
static int64_t *
sync_alive(json_t *in, size_t *n, struct op_err *err)
{
	json_t *alive = jsonv_array(in, "", "alive", 1, err), *v;
	int64_t *have;
	size_t i;

	*n = 0;
	if (alive == NULL)
		return NULL;
	if (json_array_size(alive) > SYNC_MAX_ALIVE) {
		op_err_set(err, 400, "invalid_argument", "alive", "alive holds at most %d ids",
		    SYNC_MAX_ALIVE);
		return NULL;
	}
	have = malloc((json_array_size(alive) + 1) * sizeof(*have));
	if (have == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return NULL;
	}
	json_array_foreach(alive, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			char f[32];

			snprintf(f, sizeof(f), "alive[%zu]", i);
			op_err_set(err, 400, "invalid_argument", f, "%s must be an instance id", f);
			free(have);
			return NULL;
		}
		have[(*n)++] = json_integer_value(v);
	}
	qsort(have, *n, sizeof(*have), cmp_id);
	return have;
}

/*
 * An agent that (re)started says which of its instances it still has (a
 * hook running, or a warm environment kept). Each instance the worker holds
 * past scheduled that it does not name is lost with its processes: failed,
 * agent_restarted. A worker.reconciled event says what was kept and lost.
 * The answer is the agent's work, as agent_work gives it.
 * O(held · log alive).
 */
int
agent_sync(struct store *s, json_t *in, const char *actor, int64_t hook_timeout,
    struct sbuf *out, struct op_err *err)
{
	static const char *const fields[] = { "name", "alive", NULL };
	const char *name;
	json_t *kept = NULL, *lost = NULL, *wj;
	int64_t id, *have;
	size_t nhave, nheld;
	struct held_inst *h = NULL;
	char reason[REASON_BUF];

	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0)
		return -1;
	have = sync_alive(in, &nhave, err);
	if (have == NULL)
		return -1;
	if (store_begin(s) != 0) {
		store_fail(s, err);
		free(have);
		return -1;
	}
	if (agent_worker(s, name, &id, err) != 0)
		goto fail;
	snprintf(reason, sizeof(reason), "agent_restarted: the agent of %s restarted without it",
	    name);
	kept = json_array();
	lost = json_array();
	h = lifecycle_held_by(s, id, &nheld);
	for (size_t k = 0; k < nheld; k++) {
		/* Scheduled: nothing was started yet, so nothing was lost; the agent starts it. */
		if (h[k].state == INST_SCHEDULED)
			continue;
		if (bsearch(&h[k].id, have, nhave, sizeof(*have), cmp_id) != NULL) {
			json_array_append_new(kept, json_integer(h[k].id));
			continue;
		}
		json_array_append_new(lost, json_integer(h[k].id));
		err->code = NULL;
		if (instance_transition(s, h[k].id, INST_FAILED, ACTOR_SYSTEM, reason, "outpostd",
		    err) != 0)
			goto fail;
	}
	wj = worker_get(s, id, err);
	if (wj == NULL)
		goto fail;
	/* The event takes kept and lost, whether it is written or not. */
	if (events_append(s, "worker.reconciled", "worker", NULL, id, actor,
	    json_pack("{s:o, s:o, s:o}", "kept", kept, "lost", lost, "worker", wj)) != 0) {
		kept = lost = NULL;
		goto fail;
	}
	kept = lost = NULL;
	if (store_commit(s) != 0) {
		store_fail(s, err);
		goto out_err;
	}
	free(h);
	free(have);
	if (write_work(s, id, name, hook_timeout, out) != 0) {
		store_fail(s, err);
		return -1;
	}
	return 0;
fail:
	if (err->code == NULL)
		store_fail(s, err);
	store_rollback(s);
out_err:
	json_decref(kept);
	json_decref(lost);
	free(h);
	free(have);
	return -1;
}

/* The time of the instance's last transition into state, or 0. */
static int64_t
entered_at(struct store *s, int64_t id, const char *state)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT at FROM transitions WHERE instance_id = ? AND "
	    "to_state = ? ORDER BY id DESC LIMIT 1");
	int64_t at = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		at = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return at;
}

/* Checks the exit object an agent reports: {hook?, code?, signal?, timed_out?}. */
static int
exit_validate(json_t *e, struct op_err *err)
{
	static const char *const fields[] = { "hook", "code", "signal", "timed_out", NULL };
	const char *hook;
	int64_t v;
	int b;

	if (!json_is_object(e)) {
		op_err_set(err, 400, "invalid_argument", "exit", "exit must be an object");
		return -1;
	}
	if (jsonv_known(e, "exit", fields, err) != 0 ||
	    jsonv_string(e, "exit", "hook", 0, 1, 32, &hook, err) != 0 ||
	    jsonv_int(e, "exit", "code", 0, -1, 255, &v, err) != 0 ||
	    jsonv_int(e, "exit", "signal", 0, 1, 128, &v, err) != 0)
		return -1;
	if (json_object_get(e, "timed_out") != NULL && jsonv_bool(e, "exit", "timed_out", &b, err) != 0)
		return -1;
	return 0;
}

/*
 * What instantiating took, for outpost_instantiation_duration_seconds: the
 * agent's own measure of the hook when the report carries one; else the time
 * from entering instantiating to this report, but only when that is the
 * hook's time: an agent reports running at the slot's start, so an instance
 * instantiated ahead of its slot (not a pool's) may have waited. -1: unknown.
 */
static double
instantiation_seconds(struct store *s, int64_t id, int64_t hook_ms, int is_pool,
    int64_t slot_start, int64_t now)
{
	int64_t at;

	if (hook_ms >= 0)
		return (double)hook_ms / 1000.0;
	at = entered_at(s, id, "instantiating");
	if (at <= 0 || (!is_pool && slot_start > at))
		return -1;
	return (double)(now - at) / 1000.0;
}

/* An agent's report, checked: what instance_report() applies. */
struct report {
	const char *name;	/* the worker's, as the agent names it */
	int64_t attempt;
	enum inst_state from, to;
	const char *from_s, *to_s;
	const char *reason;	/* NULL: "reported by the agent of NAME" */
	json_t *exit;		/* an object, or NULL */
	char *grade;		/* its JSON text (ours to free), or NULL */
	int64_t hook_ms;	/* the agent's measure of instantiate, or -1 */
	int is_fenced;		/* a failure: its agent fenced it (lifecycle_instance_fenced) */
};

/* The stored instance a report is checked against. */
struct report_inst {
	enum inst_state state;
	char state_s[24];
	int64_t worker_id;
	int is_pool;
	int64_t start, end;
	int64_t attempt;
};

/*
 * The report's body, every field checked before the store is looked at:
 * {name, attempt, from, to, reason?, exit?, grade?, instantiate_ms?, fenced?}.
 */
static int
report_parse(json_t *in, struct report *rp, struct op_err *err)
{
	static const char *const fields[] = { "name", "attempt", "from", "to", "reason", "exit",
		"grade", "instantiate_ms", "fenced", NULL };
	json_t *grade;

	memset(rp, 0, sizeof(*rp));
	rp->hook_ms = -1;
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &rp->name, err) != 0 ||
	    jsonv_int(in, "", "attempt", 1, 1, INT32_MAX, &rp->attempt, err) != 0 ||
	    jsonv_string(in, "", "from", 1, 1, 32, &rp->from_s, err) != 0 ||
	    jsonv_string(in, "", "to", 1, 1, 32, &rp->to_s, err) != 0 ||
	    jsonv_string(in, "", "reason", 0, 1, 512, &rp->reason, err) != 0 ||
	    jsonv_int(in, "", "instantiate_ms", 0, 0, INT32_MAX, &rp->hook_ms, err) != 0 ||
	    jsonv_bool(in, "", "fenced", &rp->is_fenced, err) != 0)
		return -1;
	if (inst_state_parse(rp->from_s, &rp->from) != 0) {
		op_err_set(err, 400, "invalid_argument", "from", "unknown state %s", rp->from_s);
		return -1;
	}
	if (inst_state_parse(rp->to_s, &rp->to) != 0) {
		op_err_set(err, 400, "invalid_argument", "to", "unknown state %s", rp->to_s);
		return -1;
	}
	if (rp->is_fenced && rp->to != INST_FAILED) {
		op_err_set(err, 400, "invalid_argument", "fenced", "fenced comes with a report to "
		    "failed");
		return -1;
	}
	if (rp->hook_ms >= 0 && (rp->from != INST_INSTANTIATING ||
	    (rp->to != INST_RUNNING && rp->to != INST_WARM))) {
		op_err_set(err, 400, "invalid_argument", "instantiate_ms", "instantiate_ms comes with "
		    "the report from instantiating to running or warm");
		return -1;
	}
	rp->exit = json_object_get(in, "exit");
	if (json_is_null(rp->exit))
		rp->exit = NULL;
	if (rp->exit != NULL && exit_validate(rp->exit, err) != 0)
		return -1;
	grade = json_object_get(in, "grade");
	if (grade == NULL || json_is_null(grade))
		return 0;
	if (!json_is_object(grade)) {
		op_err_set(err, 400, "invalid_argument", "grade",
		    "grade must be the JSON object the grade hook printed");
		return -1;
	}
	if (rp->to != INST_STOPPING || rp->from != INST_GRADING) {
		op_err_set(err, 400, "invalid_argument", "grade",
		    "a grade comes with the report from grading to stopping");
		return -1;
	}
	rp->grade = json_dumps(grade, JSON_COMPACT);
	if (rp->grade == NULL || strlen(rp->grade) > GRADE_MAX) {
		free(rp->grade);
		rp->grade = NULL;
		op_err_set(err, 400, "invalid_argument", "grade", "grade is larger than 64 KiB");
		return -1;
	}
	return 0;
}

/* The instance as stored, in the report's transaction: 0, or -1 (404, 500). */
static int
report_inst_read(struct store *s, int64_t id, struct report_inst *ri, struct op_err *err)
{
	sqlite3_stmt *st = store_row(s, "SELECT state, worker_id, pool, timeslot_start, "
	    "timeslot_end, attempt FROM instances WHERE id = ?", id, "instance", err);

	if (st == NULL)
		return -1;
	snprintf(ri->state_s, sizeof(ri->state_s), "%s", (const char *)sqlite3_column_text(st, 0));
	ri->worker_id = sqlite3_column_int64(st, 1);
	ri->is_pool = sqlite3_column_int(st, 2);
	ri->start = sqlite3_column_int64(st, 3);
	ri->end = sqlite3_column_int64(st, 4);
	ri->attempt = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	if (inst_state_parse(ri->state_s, &ri->state) != 0) {
		op_err_set(err, 500, "internal", "", "instance %lld has an unknown state", (long long)id);
		return -1;
	}
	return 0;
}

/*
 * May this agent report this step of the instance now? 0: apply it; 1: it
 * was applied already (the answer to the first report was lost); -1: refused
 * (409), naming the field that does not match what is stored.
 */
static int
report_check(int64_t id, const struct report *rp, int64_t worker_id,
    const struct report_inst *ri, struct op_err *err)
{
	/* Its worker's agent alone reports on an instance: the token acts for that worker. */
	if (ri->worker_id != worker_id) {
		op_err_set(err, 403, "forbidden", "id", "instance %lld is not on worker %s (it is "
		    "%s): its agent may not report on it", (long long)id, rp->name, ri->state_s);
		return -1;
	}
	if (rp->attempt != ri->attempt) {
		op_err_set(err, 409, "invalid_transition", "attempt", "the report is of attempt %lld "
		    "of instance %lld, which is on attempt %lld now", (long long)rp->attempt,
		    (long long)id, (long long)ri->attempt);
		return -1;
	}
	if (ri->state == rp->to && ri->state != rp->from)
		return 1;
	if (ri->state != rp->from) {
		op_err_set(err, 409, "invalid_transition", "from", "instance %lld is %s, not %s",
		    (long long)id, ri->state_s, rp->from_s);
		return -1;
	}
	/* Terminating, and sending back to pending, are the server's and operators' moves. */
	if (rp->to == INST_TERMINATED || rp->to == INST_PENDING) {
		op_err_set(err, 409, "invalid_transition", "to", "an agent does not report %s; it "
		    "reports the steps of the instance's hooks", rp->to_s);
		return -1;
	}
	if (rp->to == INST_WARM && !ri->is_pool) {
		op_err_set(err, 409, "invalid_transition", "to",
		    "only a warm pool's instance waits warm; this one has an owner: report running");
		return -1;
	}
	if (rp->to == INST_RUNNING && rp->from == INST_INSTANTIATING && ri->is_pool) {
		op_err_set(err, 409, "invalid_transition", "to",
		    "a warm pool's instance waits warm until it is claimed");
		return -1;
	}
	return 0;
}

/* Sets one of the instance's JSON columns (exit, grade) to text, in the open transaction. */
static int
report_set_json(struct store *s, const char *sql, int64_t id, const char *text)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/* What the step took, observed once it is committed; -1: nothing to observe. */
struct report_timing {
	double assigned_s;	/* scheduled → instantiating */
	double instantiated_s;	/* instantiating → running or warm */
};

/*
 * The report's change, in the open transaction: its exit and grade, the
 * transition, and the collection of an instance instantiated after its slot.
 */
static int
report_apply(struct store *s, int64_t id, const struct report *rp,
    const struct report_inst *ri, const char *actor, struct report_timing *t,
    struct op_err *err)
{
	const char *reason = rp->reason;
	char why[REASON_BUF];
	int64_t now = now_ms();

	assert(ri->state == rp->from);
	t->assigned_s = t->instantiated_s = -1;
	if (reason == NULL) {
		snprintf(why, sizeof(why), "reported by the agent of %s", rp->name);
		reason = why;
	}
	/* exit and grade first: the transition's event carries the instance as it is after. */
	if (rp->exit != NULL) {
		char *et = json_dumps(rp->exit, JSON_COMPACT);
		int rc = et ? report_set_json(s, "UPDATE instances SET exit = ? WHERE id = ?", id,
		    et) : -1;

		free(et);
		if (rc != 0)
			return -1;
	}
	if (rp->grade != NULL && report_set_json(s, "UPDATE instances SET grade = ? WHERE id = ?",
	    id, rp->grade) != 0)
		return -1;
	/* Fenced: as for a lost worker, which it nearly was (placed again, or failed). */
	if (rp->is_fenced)
		return lifecycle_instance_fenced(s, id, rp->from, rp->name, reason, actor, err);
	if (instance_transition(s, id, rp->to, ACTOR_AGENT, reason, actor, err) != 0) {
		/* The state machine refused "to": that is the field the agent sent. */
		if (err->http == 409 && strcmp(err->field, "state") == 0)
			snprintf(err->field, sizeof(err->field), "to");
		return -1;
	}
	if (rp->from == INST_SCHEDULED && rp->to == INST_INSTANTIATING) {
		int64_t at = entered_at(s, id, "scheduled");

		if (at > 0)
			t->assigned_s = (double)(now - at) / 1000.0;
	}
	if (rp->from == INST_INSTANTIATING && (rp->to == INST_RUNNING || rp->to == INST_WARM))
		t->instantiated_s = instantiation_seconds(s, id, rp->hook_ms, ri->is_pool, ri->start,
		    now);
	/* Instantiated after its slot ended: it runs no time at all and is collected at once. */
	if (rp->to == INST_RUNNING && ri->end <= now && instance_transition(s, id,
	    INST_COLLECTING, ACTOR_SYSTEM, "its slot ended", "outpostd", err) != 0)
		return -1;
	return 0;
}

/*
 * An agent reports a step of an instance on its worker (report_parse says
 * what it holds). "from" must be the stored state, so a report that an
 * operator's action overtook is refused (409) and the agent looks again;
 * "attempt" must be the instance's placement, so a report left over from an
 * earlier placement on the same worker is refused too, even when its states
 * happen to match. A report that repeats one already applied (its answer was
 * lost) finds the instance in "to" and is answered as done.
 */
int
instance_report(struct store *s, int64_t id, json_t *in, const char *actor, json_t **out,
    struct op_err *err)
{
	struct report rp;
	struct report_inst ri;
	struct report_timing t;
	int64_t wid;
	int rc;

	*out = NULL;
	err->code = NULL;
	if (report_parse(in, &rp, err) != 0)
		return -1;
	if (store_begin(s) != 0) {
		store_fail(s, err);
		free(rp.grade);
		return -1;
	}
	if (agent_worker(s, rp.name, &wid, err) != 0 || report_inst_read(s, id, &ri, err) != 0)
		goto fail;
	rc = report_check(id, &rp, wid, &ri, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		/* Applied already: the answer to the first report was lost. */
		store_rollback(s);
		free(rp.grade);
		*out = instance_get(s, id, err);
		return *out ? 0 : -1;
	}
	if (report_apply(s, id, &rp, &ri, actor, &t, err) != 0)
		goto fail;
	free(rp.grade);
	if (store_commit(s) != 0) {
		store_fail(s, err);
		return -1;
	}
	/* Observed once committed: a step rolled back did not happen. */
	if (t.assigned_s >= 0)
		metrics_observe(HIST_ASSIGNMENT, t.assigned_s);
	if (t.instantiated_s >= 0)
		metrics_observe(HIST_INSTANTIATION, t.instantiated_s);
	*out = instance_get(s, id, err);
	return *out ? 0 : -1;
fail:
	if (err->code == NULL)
		store_fail(s, err);
	store_rollback(s);
	free(rp.grade);
	return -1;
}
