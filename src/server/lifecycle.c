/*
 * The life of an instance once the scheduler has placed it, apart from what
 * its agent reports (agent_proto.c): what the clock decides (a slot's end, a
 * missed slot, retention, a drain's warm instances and its deadline, warm
 * pools through pools.c) and what a lost or removed worker leaves behind.
 * Every change goes through instance_transition(), so the state machine of
 * src/common is the only judge of what may happen.
 *
 * Every periodic step first looks, with an indexed query, for work; only
 * when it finds some does it open a transaction, so an idle site commits
 * nothing and its ETags stay. It must never wait on anything but SQLite:
 * it runs on the loop, every 250 ms (timers.c).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* At most this many instances are moved by one periodic step; the next tick does the rest. */
#define STEP_MAX 1000
/* Retention scans the stopped instances: once every 10 seconds is plenty. */
#define RETIRE_EVERY 10000
#define STATE_SET_SQL_BUF 256	/* "'pending','scheduled',...": every state fits */

static int64_t retired_at;	/* the last look for instances past their retention */

/* The ids a query gives for one bound time, at most STEP_MAX. Caller frees. */
static int64_t *
ids_for(struct store *s, const char *sql, int64_t t, size_t *n)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int64_t *ids = NULL;
	size_t cap = 0;

	*n = 0;
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, t);
	sqlite3_bind_int64(st, 2, STEP_MAX);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&ids, &cap, *n, sizeof(*ids)) != 0)
			break;
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	assert(*n <= STEP_MAX);
	return ids;
}

/*
 * Moves the instances to `to` in one transaction. One that moved on meanwhile
 * (the state machine refuses it now: 409) is left as it is.
 */
static int
move_all(struct store *s, const int64_t *ids, size_t n, enum inst_state to, const char *reason,
    const char *what)
{
	struct op_err err = { 0 };
	size_t moved = 0;

	if (n == 0)
		return 0;
	if (store_begin(s) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		err.code = NULL;
		if (instance_transition(s, ids[i], to, ACTOR_SYSTEM, reason, "outpostd", &err) == 0) {
			moved++;
		} else if (err.http != 409) {
			store_rollback(s);
			log_error(what, "error", err.message, NULL);
			return -1;
		}
	}
	if (store_commit(s) != 0)
		return -1;
	assert(moved <= n);
	if (moved > 0)
		log_info(what, LOG_INT("instances", moved), "to", inst_state_name(to), NULL);
	return (int)moved;
}

/* ---- the clock ---- */

/*
 * running past the end of its slot → collecting. O(log n + found) through the
 * partial index of running instances by slot end, named: without statistics
 * the planner would rather take the state index and scan every running one.
 */
static int
end_slots(struct store *s, int64_t now)
{
	size_t n;
	int64_t *ids = ids_for(s, "SELECT id FROM instances INDEXED BY instances_ending "
	    "WHERE state = 'running' AND timeslot_end <= ?1 ORDER BY timeslot_end LIMIT ?2", now, &n);
	int rc = move_all(s, ids, n, INST_COLLECTING, "its slot ended", "lifecycle.slot_end");

	free(ids);
	return rc;
}

/* pending (not for a pool) past the end of its slot → failed. */
static int
miss_slots(struct store *s, int64_t now)
{
	size_t n;
	int64_t *ids = ids_for(s, "SELECT id FROM instances INDEXED BY instances_missed "
	    "WHERE state = 'pending' AND pool = 0 AND timeslot_end <= ?1 ORDER BY timeslot_end "
	    "LIMIT ?2", now, &n);
	int rc = move_all(s, ids, n, INST_FAILED, "slot_missed: its slot ended before a worker "
	    "took it", "lifecycle.slot_missed");

	free(ids);
	return rc;
}

/*
 * Stopped longer than the retention → terminated; so are failed instances of
 * warm pools (no one owns them to look at them or retry them, and a broken
 * pool makes one every few minutes). A failed instance with an owner is kept
 * until someone retries or terminates it. O(stopped + failed): run seldom.
 */
static int
retire(struct store *s, int64_t now, int64_t retention)
{
	char reason[REASON_BUF], d[32];
	size_t n;
	int64_t *ids = ids_for(s, "SELECT id FROM instances WHERE state = 'stopped' AND "
	    "updated_at <= ?1 ORDER BY id LIMIT ?2", now - retention, &n);
	int rc, rc2;

	snprintf(reason, sizeof(reason), "kept stopped for the retention of %s",
	    duration_format(retention, d, sizeof(d)));
	rc = move_all(s, ids, n, INST_TERMINATED, reason, "lifecycle.retired");
	free(ids);
	ids = ids_for(s, "SELECT id FROM instances WHERE state = 'failed' AND pool = 1 AND "
	    "updated_at <= ?1 ORDER BY id LIMIT ?2", now - retention, &n);
	snprintf(reason, sizeof(reason), "a warm pool's instance, kept failed for the retention "
	    "of %s", duration_format(retention, d, sizeof(d)));
	rc2 = move_all(s, ids, n, INST_TERMINATED, reason, "lifecycle.retired");
	free(ids);
	return rc < 0 || rc2 < 0 ? -1 : rc + rc2;
}

/* The definition's on_worker_loss for an instance: 1 to reschedule, 0 to fail. */
static int
reschedules(struct store *s, int64_t id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT json_extract(d.body, '$.on_worker_loss') "
	    "FROM instances i JOIN definitions d ON d.name = i.definition AND "
	    "d.version = i.definition_version WHERE i.id = ?");
	int r = 1;

	if (st == NULL)
		return 1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "fail") == 0)
		r = 0;
	sqlite3_reset(st);
	return r;
}

sqlite3_stmt *
lifecycle_stmt_states(struct store *s, char *sql, size_t n, const char *head, unsigned states,
    const char *tail)
{
	if (sql[0] == '\0') {
		char set[STATE_SET_SQL_BUF];
		int len = snprintf(sql, n, "%s%s%s", head,
		    state_set_sql(KIND_INSTANCE, states, set, sizeof(set)), tail);

		assert(len > 0 && (size_t)len < n);	/* a statement cut short is another one */
	}
	return store_stmt(s, sql);
}

struct held_inst *
lifecycle_held_by(struct store *s, int64_t worker_id, size_t *n)
{
	static char sql[STATES_SQL_BUF];
	sqlite3_stmt *st = lifecycle_stmt_states(s, sql, sizeof(sql), "SELECT id, state FROM "
	    "instances WHERE worker_id = ? AND state IN (", inst_set_holding(), ") ORDER BY id");
	struct held_inst *h = NULL;
	size_t cap = 0;

	*n = 0;
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, worker_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&h, &cap, *n, sizeof(*h)) != 0)
			break;
		h[*n].id = sqlite3_column_int64(st, 0);
		if (inst_state_parse((const char *)sqlite3_column_text(st, 1), &h[*n].state) == 0)
			(*n)++;
	}
	sqlite3_reset(st);
	return h;
}

/*
 * A worker is lost: what it held goes back to pending, or fails, as each
 * definition says (on_worker_loss); its capacity is free with that. An
 * instance whose run was over (collecting, grading, stopping) is not run
 * again from the start: it fails, keeping what was recorded of it (its
 * grade). In the caller's transaction (workers_check_health's).
 */
int
lifecycle_worker_lost(struct store *s, int64_t worker_id, const char *name)
{
	return lifecycle_worker_gone(s, worker_id, name, "lost");
}

int
lifecycle_worker_gone(struct store *s, int64_t worker_id, const char *name, const char *how)
{
	struct op_err err = { 0 };
	char back[REASON_BUF], fail[REASON_BUF], over[REASON_BUF];
	size_t n;
	struct held_inst *h = lifecycle_held_by(s, worker_id, &n);
	int rc = 0;

	snprintf(back, sizeof(back), "its worker %s was %s; placed again", name, how);
	snprintf(fail, sizeof(fail), "worker_%s: its worker %s was %s", how, name, how);
	for (size_t i = 0; i < n && rc == 0; i++) {
		int is_back = 0;
		const char *why = fail;

		if (inst_state_may_restart(h[i].state)) {
			is_back = reschedules(s, h[i].id);
			why = is_back ? back : fail;
		} else {
			snprintf(over, sizeof(over), "worker_%s: its worker %s was %s while it was %s",
			    how, name, how, inst_state_name(h[i].state));
			why = over;
		}
		err.code = NULL;
		rc = instance_transition(s, h[i].id, is_back ? INST_PENDING : INST_FAILED,
		    ACTOR_SYSTEM, why, "outpostd", &err);
		if (rc != 0)
			log_error("lifecycle.worker_lost", "worker", name, "error", err.message, NULL);
	}
	free(h);
	return rc;
}

/*
 * An agent cut off from the server for most of its lease killed the
 * instance's hooks (it fenced it) and says so once it is back, the worker
 * not lost meanwhile: the instance goes as a lost worker's would, to pending
 * or failed as its definition's on_worker_loss says.
 */
int
lifecycle_instance_fenced(struct store *s, int64_t id, enum inst_state state, const char *name,
    const char *reason, const char *actor, struct op_err *err)
{
	char back[REASON_BUF];

	if (!inst_state_may_restart(state) || !reschedules(s, id))
		return instance_transition(s, id, INST_FAILED, ACTOR_SYSTEM, reason, actor, err);
	snprintf(back, sizeof(back), "its agent on %s fenced it, cut off from the server; placed "
	    "again", name);
	return instance_transition(s, id, INST_PENDING, ACTOR_SYSTEM, back, actor, err);
}

/* The drain deadline has passed: what has not finished is ended now. */
static int
drain_deadline(struct store *s, int64_t worker_id, const char *name)
{
	struct op_err err = { 0 };
	char stop[REASON_BUF], back[REASON_BUF], fail[REASON_BUF];
	size_t n;
	struct held_inst *h = lifecycle_held_by(s, worker_id, &n);
	int rc = 0;

	snprintf(stop, sizeof(stop), "stopped at the drain deadline of %s", name);
	snprintf(back, sizeof(back), "its worker %s reached its drain deadline; placed again", name);
	snprintf(fail, sizeof(fail), "drained: its worker %s reached its drain deadline", name);
	for (size_t i = 0; i < n && rc == 0; i++) {
		enum inst_state to;
		const char *why = stop;

		switch (h[i].state) {
		case INST_RUNNING:
			to = INST_COLLECTING;
			break;
		case INST_WARM:
			to = INST_STOPPING;
			break;
		case INST_SCHEDULED:
		case INST_INSTANTIATING:
			/* Not begun: nothing to collect; it belongs elsewhere, or ends. */
			to = reschedules(s, h[i].id) ? INST_PENDING : INST_FAILED;
			why = to == INST_PENDING ? back : fail;
			break;
		default:
			continue;	/* collecting, grading, stopping: it ends by itself */
		}
		err.code = NULL;
		rc = instance_transition(s, h[i].id, to, ACTOR_SYSTEM, why, "outpostd", &err);
	}
	free(h);
	return rc;
}

/*
 * A draining worker takes nothing new, so no claim reaches its warm instances:
 * they would hold it, and keep its drain from ever ending. They are stopped
 * (their stop hook cleans up), and the pool is made up on other workers.
 */
static int
drain_warm(struct store *s, int64_t worker_id, const char *name)
{
	struct op_err err = { 0 };
	char why[REASON_BUF];
	size_t n;
	struct held_inst *h = lifecycle_held_by(s, worker_id, &n);
	int rc = 0;

	snprintf(why, sizeof(why), "its worker %s is draining; a warm instance there cannot be "
	    "claimed", name);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (h[i].state != INST_WARM)
			continue;
		err.code = NULL;
		rc = instance_transition(s, h[i].id, INST_STOPPING, ACTOR_SYSTEM, why, "outpostd", &err);
	}
	free(h);
	return rc;
}

/* Workers whose drain emptied, told once per process (a restart may tell again). */
static int64_t *drained;
static size_t ndrained, cap_drained;

static int
was_drained(int64_t id)
{
	for (size_t i = 0; i < ndrained; i++)
		if (drained[i] == id)
			return 1;
	return 0;
}

static void
forget_drained(int64_t id)
{
	for (size_t i = 0; i < ndrained; i++) {
		if (drained[i] == id) {
			drained[i] = drained[--ndrained];
			return;
		}
	}
}

static void
note_drained(int64_t id)
{
	if (array_grow(&drained, &cap_drained, ndrained, sizeof(*drained)) == 0)
		drained[ndrained++] = id;
}

/* A draining worker, as drains() reads it. */
struct drain_worker {
	int64_t id;
	char name[NAME_BUF];
	int is_due;		/* its deadline has passed */
	int64_t held;		/* instances in states that hold it */
	int64_t warm;
};

/* Is anything left on the worker that its deadline ends (not what ends by itself)? */
static int
drain_has_work(struct store *s, int64_t worker_id)
{
	size_t nh;
	struct held_inst *h = lifecycle_held_by(s, worker_id, &nh);
	int has_work = 0;

	for (size_t k = 0; k < nh; k++)
		if (h[k].state == INST_RUNNING || h[k].state == INST_WARM ||
		    h[k].state == INST_SCHEDULED || h[k].state == INST_INSTANTIATING)
			has_work = 1;
	free(h);
	return has_work;
}

/* The emptied drain's worker.drained event. */
static int
drain_tell(struct store *s, int64_t worker_id, const char *name)
{
	struct op_err err;
	json_t *wj = worker_get(s, worker_id, &err);

	(void)name;
	if (wj == NULL)
		return -1;
	return events_append(s, "worker.drained", "worker", NULL, worker_id, "outpostd",
	    json_pack("{s:o}", "worker", wj));
}

/* One step of a worker's drain, in a transaction of its own, logged as what. */
static int
drain_step(struct store *s, const struct drain_worker *w,
    int (*step)(struct store *, int64_t, const char *), const char *what)
{
	int rc;

	if (store_begin(s) != 0)
		return -1;
	if (step(s, w->id, w->name) != 0) {
		store_rollback(s);
		return -1;
	}
	rc = store_commit(s);
	log_info(what, "worker", w->name, NULL);
	return rc;
}

/* The draining workers, with their counts; *n of them. Caller frees. */
static int
drain_workers(struct store *s, int64_t now, struct drain_worker **out, size_t *n)
{
	static char sql[STATES_SQL_BUF];
	sqlite3_stmt *st = lifecycle_stmt_states(s, sql, sizeof(sql), "SELECT w.id, w.name, "
	    "w.drain_deadline IS NOT NULL AND w.drain_deadline <= ?1, (SELECT count(*) FROM "
	    "instances i WHERE i.worker_id = w.id AND i.state IN (", inst_set_holding(), ")), "
	    "(SELECT count(*) FROM instances i WHERE i.worker_id = w.id AND i.state = 'warm') "
	    "FROM workers w WHERE w.state = 'draining'");
	struct drain_worker *w = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&w, &cap, *n, sizeof(*w)) != 0)
			break;
		w[*n].id = sqlite3_column_int64(st, 0);
		snprintf(w[*n].name, sizeof(w[*n].name), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		w[*n].is_due = sqlite3_column_int(st, 2);
		w[*n].held = sqlite3_column_int64(st, 3);
		w[*n].warm = sqlite3_column_int64(st, 4);
		assert(w[*n].held >= w[*n].warm && w[*n].warm >= 0);
		(*n)++;
	}
	sqlite3_reset(st);
	*out = w;
	return 0;
}

/*
 * Draining workers: their warm instances are stopped; at the deadline the
 * rest are; once empty, a worker.drained event says so. Workers are few:
 * O(draining workers), each count through the index of instances by worker.
 */
static int
drains(struct store *s, int64_t now)
{
	struct drain_worker *w;
	size_t n;
	int rc = 0;

	if (drain_workers(s, now, &w, &n) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (w[i].warm > 0 && !w[i].is_due) {
			rc = drain_step(s, &w[i], drain_warm, "worker.drain_warm");
		} else if (w[i].held > 0 && w[i].is_due) {
			/* Only a transaction when something is left to end. */
			if (drain_has_work(s, w[i].id))
				rc = drain_step(s, &w[i], drain_deadline, "worker.drain_deadline");
		} else if (w[i].held == 0 && !was_drained(w[i].id)) {
			rc = drain_step(s, &w[i], drain_tell, "worker.drained");
			if (rc == 0)
				note_drained(w[i].id);
		}
	}
	/* A worker no longer draining may drain again later, and be told again. */
	for (size_t k = 0; k < ndrained;) {
		int is_draining = 0;

		for (size_t i = 0; i < n; i++)
			if (w[i].id == drained[k])
				is_draining = 1;
		if (is_draining)
			k++;
		else
			forget_drained(drained[k]);
	}
	free(w);
	return rc;
}

/* What the clock keeps in memory: the pools' backoffs, the drains told, retention's last look. */
void
lifecycle_free(void)
{
	pools_free();
	free(drained);
	drained = NULL;
	ndrained = cap_drained = 0;
	retired_at = 0;
}

/* ---- the tick ---- */

int
lifecycle_tick(struct store *s, int64_t now, const struct server_config *cfg, int is_full)
{
	int rc = 0;

	if (end_slots(s, now) < 0)
		rc = -1;
	if (miss_slots(s, now) < 0)
		rc = -1;
	if (drains(s, now) != 0)
		rc = -1;
	if (is_full) {
		if (pools_keep(s, now) != 0)
			rc = -1;
		if (now - retired_at >= RETIRE_EVERY) {
			retired_at = now;
			if (retire(s, now, cfg->instance_retention_ms) < 0)
				rc = -1;
		}
	}
	return rc;
}
