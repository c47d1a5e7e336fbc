/*
 * The life of an instance once the scheduler has placed it: what its agent
 * reports (scheduled → instantiating → running, collecting → grading →
 * stopping → stopped, or failed), what the clock decides (a slot's end, a
 * missed slot, retention, a drain's deadline), what a lost worker leaves
 * behind, and warm pools. Every change goes through instance_transition(),
 * so the state machine of src/common is the only judge of what may happen.
 *
 * The agent's side of the protocol is level-triggered: an agent asks for its
 * work (agent_work) whenever it is told something changed, and acts on the
 * difference between that and what it runs. What it reports is checked
 * against the stored state ("from"), so a report that raced an operator's
 * terminate is refused, not applied to the wrong state.
 *
 * Every periodic step first looks, with an indexed query, for work; only
 * when it finds some does it open a transaction, so an idle site commits
 * nothing and its ETags stay.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* At most this many instances are moved by one periodic step; the next tick does the rest. */
#define STEP_MAX 1000

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
	if (moved > 0) {
		char c[24];

		snprintf(c, sizeof(c), "%zu", moved);
		log_info(what, "instances", c, "to", inst_state_name(to), NULL);
	}
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
	char reason[96], d[32];
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

struct held {
	int64_t id;
	enum inst_state state;
};

/* The instances on a worker in states that hold it. Caller frees. */
static struct held *
held_by(struct store *s, int64_t worker_id, size_t *n)
{
	static char sql[512];
	sqlite3_stmt *st;
	struct held *h = NULL;
	size_t cap = 0;

	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "SELECT id, state FROM instances WHERE worker_id = ? AND "
		    "state IN (%s) ORDER BY id", inst_holding_sql());
	st = store_stmt(s, sql);
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
	char back[160], fail[160], over[200];
	size_t n;
	struct held *h = held_by(s, worker_id, &n);
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

/* The drain deadline has passed: what has not finished is ended now. */
static int
drain_deadline(struct store *s, int64_t worker_id, const char *name)
{
	struct op_err err = { 0 };
	char stop[160], back[160], fail[160];
	size_t n;
	struct held *h = held_by(s, worker_id, &n);
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
	char why[160];
	size_t n;
	struct held *h = held_by(s, worker_id, &n);
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

/*
 * Draining workers: their warm instances are stopped; at the deadline the
 * rest are; once empty, a worker.drained event says so. Workers are few:
 * O(draining workers), each count through the index of instances by worker.
 */
static int
drains(struct store *s, int64_t now)
{
	static char sql[1024];
	sqlite3_stmt *st;
	struct dw { int64_t id; char name[64]; int is_due; int64_t held, warm; } *w = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "SELECT w.id, w.name, w.drain_deadline IS NOT NULL AND "
		    "w.drain_deadline <= ?1, (SELECT count(*) FROM instances i WHERE i.worker_id = w.id "
		    "AND i.state IN (%s)), (SELECT count(*) FROM instances i WHERE i.worker_id = w.id "
		    "AND i.state = 'warm') FROM workers w WHERE w.state = 'draining'",
		    inst_holding_sql());
	st = store_stmt(s, sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&w, &cap, n, sizeof(*w)) != 0)
			break;
		w[n].id = sqlite3_column_int64(st, 0);
		snprintf(w[n].name, sizeof(w[n].name), "%s", (const char *)sqlite3_column_text(st, 1));
		w[n].is_due = sqlite3_column_int(st, 2);
		w[n].held = sqlite3_column_int64(st, 3);
		w[n].warm = sqlite3_column_int64(st, 4);
		n++;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (w[i].warm > 0 && !w[i].is_due) {
			if (store_begin(s) != 0) {
				rc = -1;
				break;
			}
			if (drain_warm(s, w[i].id, w[i].name) != 0) {
				store_rollback(s);
				rc = -1;
				break;
			}
			rc = store_commit(s);
			log_info("worker.drain_warm", "worker", w[i].name, NULL);
		} else if (w[i].held > 0 && w[i].is_due) {
			size_t nh;
			struct held *h = held_by(s, w[i].id, &nh);
			int has_work = 0;

			/* Only a transaction when something is left to end. */
			for (size_t k = 0; k < nh; k++)
				if (h[k].state == INST_RUNNING || h[k].state == INST_WARM ||
				    h[k].state == INST_SCHEDULED || h[k].state == INST_INSTANTIATING)
					has_work = 1;
			free(h);
			if (!has_work)
				continue;
			if (store_begin(s) != 0) {
				rc = -1;
				break;
			}
			if (drain_deadline(s, w[i].id, w[i].name) != 0) {
				store_rollback(s);
				rc = -1;
				break;
			}
			rc = store_commit(s);
			log_info("worker.drain_deadline", "worker", w[i].name, NULL);
		} else if (w[i].held == 0 && !was_drained(w[i].id)) {
			struct op_err err;
			json_t *wj;

			if (store_begin(s) != 0) {
				rc = -1;
				break;
			}
			wj = worker_get(s, w[i].id, &err);
			if (wj == NULL || events_append(s, "worker.drained", "worker", NULL, w[i].id,
			    "outpostd", json_pack("{s:o}", "worker", wj)) != 0) {
				store_rollback(s);
				rc = -1;
				break;
			}
			rc = store_commit(s);
			note_drained(w[i].id);
			log_info("worker.drained", "worker", w[i].name, NULL);
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

/* ---- warm pools ---- */

/*
 * Per definition, its pool's backoff: pool instances whose hooks fail (an
 * instantiate hook that cannot work) pause the pool, 5 s doubling to 10 min,
 * so a broken definition never makes instances in a loop.
 */
struct pool_state {
	char name[80];
	unsigned failures;
	int64_t checked_at;	/* failures are counted from here */
	int64_t paused_until;
};

static struct pool_state *pools;
static size_t npools, cap_pools;
static int64_t retired_at;	/* the last look for instances past their retention */

static struct pool_state *
pool_state(const char *name, int64_t now)
{
	for (size_t i = 0; i < npools; i++)
		if (strcmp(pools[i].name, name) == 0)
			return &pools[i];
	if (array_grow(&pools, &cap_pools, npools, sizeof(*pools)) != 0)
		return NULL;
	memset(&pools[npools], 0, sizeof(pools[npools]));
	snprintf(pools[npools].name, sizeof(pools[npools].name), "%s", name);
	pools[npools].checked_at = now;
	return &pools[npools++];
}

void
lifecycle_free(void)
{
	free(pools);
	pools = NULL;
	npools = cap_pools = 0;
	free(drained);
	drained = NULL;
	ndrained = cap_drained = 0;
	retired_at = 0;
}

struct pool_def {
	char name[80];
	int64_t version;
	int64_t depth;
	int64_t cpu;
	int64_t memory_mb;
	int64_t max_duration;
};

struct pool_member {
	int64_t id;
	int64_t version;
	enum inst_state state;
	int is_reachable;	/* a claim can have it, now or once warm */
};

/*
 * The pool's instances failed since `since` by a fault of the definition: a
 * hook that failed, timed out or graded nothing (the agent's codes, before
 * the colon of the reason). A lost worker, a restarted agent or a drain says
 * nothing of the definition, and does not pause its pool.
 */
static int
pool_failures(struct store *s, const char *name, int64_t since)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM instances WHERE pool = 1 AND "
	    "definition = ? AND state = 'failed' AND updated_at > ? AND "
	    "substr(state_reason, 1, instr(state_reason, ':') - 1) IN "
	    "('hook_failed', 'hook_timeout', 'grade_invalid')");
	int n = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

/*
 * One definition's pool: trim what is stale or too many, make what is missing.
 * The depth counts the members a claim can reach: pending ones (the scheduler
 * places them only on workers that take new instances) and those on a worker
 * that is ready and online, as claim_warm() asks. One on a cordoned, draining
 * or offline worker does not count, so the pool is made up elsewhere; it is
 * left as it is (a draining worker's warm ones are stopped by drains()), and
 * when its worker takes instances again it counts again and the extras are
 * trimmed, oldest first.
 */
static int
pool_keep(struct store *s, const struct pool_def *d, int64_t now)
{
	static char sql[512];
	sqlite3_stmt *st;
	struct pool_member *m = NULL;
	struct pool_state *ps = pool_state(d->name, now);
	size_t n = 0, cap = 0;
	int64_t current = 0, want, made = 0, trimmed = 0;
	int rc = 0, is_open = 0, fails;
	char reason[160];
	struct sbuf one;

	if (sql[0] == '\0') {
		char set[128];

		snprintf(sql, sizeof(sql), "SELECT i.id, i.definition_version, i.state, "
		    "i.worker_id IS NULL OR coalesce(w.state = 'ready' AND w.health = 'online', 0) "
		    "FROM instances i LEFT JOIN workers w ON w.id = i.worker_id "
		    "WHERE i.pool = 1 AND i.definition = ? AND i.state IN (%s) ORDER BY i.id",
		    state_set_sql(KIND_INSTANCE, inst_set_pool(), set, sizeof(set)));
	}
	st = store_stmt(s, sql);
	if (st == NULL || ps == NULL)
		return -1;
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&m, &cap, n, sizeof(*m)) != 0)
			break;
		m[n].id = sqlite3_column_int64(st, 0);
		m[n].version = sqlite3_column_int64(st, 1);
		if (inst_state_parse((const char *)sqlite3_column_text(st, 2), &m[n].state) != 0)
			continue;
		m[n].is_reachable = sqlite3_column_int(st, 3);
		if (m[n].version == d->version && m[n].is_reachable)
			current++;
		n++;
	}
	sqlite3_reset(st);
	/* Failures since the last look pause the pool; an instance that reached warm ends it. */
	fails = pool_failures(s, d->name, ps->checked_at);
	ps->checked_at = now;
	if (fails > 0) {
		int64_t pause = 5000;

		ps->failures += (unsigned)fails;
		for (unsigned i = 1; i < ps->failures && pause < 600000; i++)
			pause *= 2;
		if (pause > 600000)
			pause = 600000;
		ps->paused_until = now + pause;
		{
			char f[16], p[32];

			snprintf(f, sizeof(f), "%u", ps->failures);
			log_warn("pool.backoff", "definition", d->name, "failures", f, "paused_for",
			    duration_format(pause, p, sizeof(p)), NULL);
		}
	}
	sbuf_init(&one);
	for (size_t i = 0; i < n; i++) {
		int is_stale = m[i].version != d->version;
		enum inst_state to;
		struct op_err err = { 0 };

		if (m[i].state == INST_WARM && !is_stale)
			ps->failures = 0;
		/* Out of reach: not counted, so never one of the extras either. */
		if (!is_stale && (!m[i].is_reachable || current - trimmed <= d->depth))
			continue;
		if (m[i].state == INST_PENDING)
			to = INST_TERMINATED;
		else if (m[i].state == INST_WARM)
			to = INST_STOPPING;
		else
			continue;	/* on its way to warm: trimmed once it gets there */
		if (!is_open && store_begin(s) != 0)
			goto fail;
		is_open = 1;
		if (is_stale)
			snprintf(reason, sizeof(reason), "the warm pool of %s moved to version %lld",
			    d->name, (long long)d->version);
		else
			snprintf(reason, sizeof(reason), "the warm pool of %s holds more than its depth "
			    "of %lld", d->name, (long long)d->depth);
		if (instance_transition(s, m[i].id, to, ACTOR_SYSTEM, reason, "outpostd", &err) != 0)
			goto fail;
		if (!is_stale)
			trimmed++;
	}
	want = d->depth - current;
	if (want > 0 && now >= ps->paused_until) {
		int64_t slot = d->max_duration > 0 ? d->max_duration : 86400000;

		if (!is_open && store_begin(s) != 0)
			goto fail;
		is_open = 1;
		for (int64_t k = 0; k < want; k++) {
			struct inst_row r = { .definition = d->name, .definition_version = d->version,
				.owner = "warm-pool", .timeslot_start = now, .timeslot_end = now + slot,
				.created_at = now, .updated_at = now, .cpu = d->cpu,
				.memory_mb = d->memory_mb, .is_pool = 1 };

			if (instances_insert(s, &r, "outpostd", &one) != 0)
				goto fail;
			made++;
		}
	}
	if (is_open && store_commit(s) != 0) {
		is_open = 0;
		goto fail;
	}
	if (made > 0) {
		char c[24];

		snprintf(c, sizeof(c), "%lld", (long long)made);
		log_info("pool.filled", "definition", d->name, "made", c, NULL);
	}
	goto out;
fail:
	if (is_open)
		store_rollback(s);
	rc = -1;
out:
	sbuf_free(&one);
	free(m);
	return rc;
}

/*
 * Every definition whose latest version has a pool, or that still has pool
 * instances (its pool was removed or moved on): O(definitions).
 */
static int
pools_keep(struct store *s, int64_t now)
{
	static char sql[768];
	sqlite3_stmt *st;
	struct pool_def *d = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	/* Bodies are parsed only for the few rows kept: result columns come after the WHERE. */
	if (sql[0] == '\0') {
		char set[128];

		snprintf(sql, sizeof(sql), "SELECT d.name, d.version, d.warm_depth, "
		    "json_extract(d.body, '$.resources.cpu'), "
		    "json_extract(d.body, '$.resources.memory_mb'), "
		    "json_extract(d.body, '$.max_duration') FROM definitions d "
		    "WHERE d.version = (SELECT max(version) FROM definitions WHERE name = d.name) AND "
		    "(d.warm_depth > 0 OR EXISTS (SELECT 1 FROM instances i "
		    "WHERE i.pool = 1 AND i.definition = d.name AND i.state IN (%s)))",
		    state_set_sql(KIND_INSTANCE, inst_set_pool(), set, sizeof(set)));
	}
	st = store_stmt(s, sql);
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *md = (const char *)sqlite3_column_text(st, 5);

		if (array_grow(&d, &cap, n, sizeof(*d)) != 0)
			break;
		memset(&d[n], 0, sizeof(d[n]));
		snprintf(d[n].name, sizeof(d[n].name), "%s", (const char *)sqlite3_column_text(st, 0));
		d[n].version = sqlite3_column_int64(st, 1);
		d[n].depth = sqlite3_column_int64(st, 2);
		d[n].cpu = sqlite3_column_int64(st, 3);
		d[n].memory_mb = sqlite3_column_int64(st, 4);
		if (md != NULL)
			duration_parse(md, &d[n].max_duration);
		n++;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++)
		if (pool_keep(s, &d[i], now) != 0)
			rc = -1;
	free(d);
	return rc;
}

json_t *
pools_warm_counts(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT d.name, (SELECT count(*) FROM instances i WHERE "
	    "i.pool = 1 AND i.definition = d.name AND i.state = 'warm') FROM definitions d "
	    "WHERE d.version = (SELECT max(version) FROM definitions WHERE name = d.name) AND "
	    "(d.warm_depth > 0 OR EXISTS (SELECT 1 FROM instances i "
	    "WHERE i.pool = 1 AND i.definition = d.name AND i.state = 'warm')) ORDER BY d.name");
	json_t *o = json_object();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	if (st != NULL)
		sqlite3_reset(st);
	return o;
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
		/* Retention scans the stopped instances: once every 10 seconds is plenty. */
		if (now - retired_at >= 10000) {
			retired_at = now;
			if (retire(s, now, cfg->instance_retention_ms) < 0)
				rc = -1;
		}
	}
	return rc;
}

/* ---- the agent's side ---- */

int
agent_worker(struct store *s, const char *name, int64_t *id, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id, state FROM workers WHERE name = ?");

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
	static char sql[1024];
	sqlite3_stmt *st;
	int n = 0, rc = 0;

	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "SELECT " INST_COLUMNS ", json_extract(d.body, '$.hooks'), "
		    "json_extract(d.body, '$.timeouts') " INST_FROM "JOIN definitions d ON "
		    "d.name = i.definition AND d.version = i.definition_version "
		    "WHERE i.worker_id = ? AND i.state IN (%s) ORDER BY i.id", inst_holding_sql());
	st = store_stmt(s, sql);
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

		inst_row_from_stmt(st, &r);
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

/*
 * An agent that (re)started says which of its instances it still has (a
 * hook running, or a warm environment kept). Each instance the worker holds
 * past scheduled that it does not name is lost with its processes: failed,
 * agent_restarted. A worker.reconciled event says what was kept and lost.
 * The answer is the agent's work, as agent_work gives it.
 */
int
agent_sync(struct store *s, json_t *in, const char *actor, int64_t hook_timeout,
    struct sbuf *out, struct op_err *err)
{
	static const char *const fields[] = { "name", "alive", NULL };
	const char *name;
	json_t *alive, *v, *kept, *lost, *wj;
	int64_t id, *have = NULL;
	size_t nhave = 0, i, nheld;
	struct held *h = NULL;
	char reason[200];

	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0)
		return -1;
	alive = jsonv_array(in, "", "alive", 1, err);
	if (alive == NULL)
		return -1;
	if (json_array_size(alive) > 100000) {
		op_err_set(err, 400, "invalid_argument", "alive", "alive holds at most 100000 ids");
		return -1;
	}
	have = malloc((json_array_size(alive) + 1) * sizeof(*have));
	if (have == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return -1;
	}
	json_array_foreach(alive, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			char f[32];

			snprintf(f, sizeof(f), "alive[%zu]", i);
			op_err_set(err, 400, "invalid_argument", f, "%s must be an instance id", f);
			free(have);
			return -1;
		}
		have[nhave++] = json_integer_value(v);
	}
	qsort(have, nhave, sizeof(*have), cmp_id);
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
	h = held_by(s, id, &nheld);
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
		    err) != 0) {
			json_decref(kept);
			json_decref(lost);
			goto fail;
		}
	}
	wj = worker_get(s, id, err);
	if (wj == NULL) {
		json_decref(kept);
		json_decref(lost);
		goto fail;
	}
	if (events_append(s, "worker.reconciled", "worker", NULL, id, actor,
	    json_pack("{s:o, s:o, s:o}", "kept", kept, "lost", lost, "worker", wj)) != 0)
		goto fail;
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

/*
 * An agent reports a step of an instance on its worker: {name, attempt, from,
 * to, reason?, exit?, grade?, instantiate_ms?}. "from" must be the stored
 * state, so a report that an operator's action overtook is refused (409) and
 * the agent looks again; "attempt" must be the instance's placement, so a
 * report left over from an earlier placement on the same worker is refused
 * too, even when its states happen to match. A report that repeats one
 * already applied (its answer was lost) finds the instance in "to" and is
 * answered as done.
 */
int
instance_report(struct store *s, int64_t id, json_t *in, const char *actor, json_t **out,
    struct op_err *err)
{
	static const char *const fields[] = { "name", "attempt", "from", "to", "reason", "exit",
		"grade", "instantiate_ms", NULL };
	const char *name, *from_s, *to_s, *reason = NULL;
	enum inst_state from, to, cur;
	json_t *exitj, *grade;
	sqlite3_stmt *st;
	int64_t worker_id = 0, wid, start, end, attempt, cur_attempt, now = now_ms();
	int64_t hook_ms = -1;
	double assigned_s = -1, instantiated_s = -1;
	int is_pool;
	char why[200], cur_s[24];
	char *text = NULL;

	*out = NULL;
	err->code = NULL;
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0 ||
	    jsonv_int(in, "", "attempt", 1, 1, INT32_MAX, &attempt, err) != 0 ||
	    jsonv_string(in, "", "from", 1, 1, 32, &from_s, err) != 0 ||
	    jsonv_string(in, "", "to", 1, 1, 32, &to_s, err) != 0 ||
	    jsonv_string(in, "", "reason", 0, 1, 512, &reason, err) != 0 ||
	    jsonv_int(in, "", "instantiate_ms", 0, 0, INT32_MAX, &hook_ms, err) != 0)
		return -1;
	if (inst_state_parse(from_s, &from) != 0) {
		op_err_set(err, 400, "invalid_argument", "from", "unknown state %s", from_s);
		return -1;
	}
	if (inst_state_parse(to_s, &to) != 0) {
		op_err_set(err, 400, "invalid_argument", "to", "unknown state %s", to_s);
		return -1;
	}
	if (hook_ms >= 0 && (from != INST_INSTANTIATING || (to != INST_RUNNING && to != INST_WARM))) {
		op_err_set(err, 400, "invalid_argument", "instantiate_ms", "instantiate_ms comes with "
		    "the report from instantiating to running or warm");
		return -1;
	}
	exitj = json_object_get(in, "exit");
	if (exitj != NULL && !json_is_null(exitj) && exit_validate(exitj, err) != 0)
		return -1;
	grade = json_object_get(in, "grade");
	if (grade != NULL && !json_is_null(grade)) {
		if (!json_is_object(grade)) {
			op_err_set(err, 400, "invalid_argument", "grade",
			    "grade must be the JSON object the grade hook printed");
			return -1;
		}
		if (to != INST_STOPPING || from != INST_GRADING) {
			op_err_set(err, 400, "invalid_argument", "grade",
			    "a grade comes with the report from grading to stopping");
			return -1;
		}
		text = json_dumps(grade, JSON_COMPACT);
		if (text == NULL || strlen(text) > 65536) {
			free(text);
			op_err_set(err, 400, "invalid_argument", "grade", "grade is larger than 64 KiB");
			return -1;
		}
	}
	if (store_begin(s) != 0) {
		store_fail(s, err);
		free(text);
		return -1;
	}
	if (agent_worker(s, name, &wid, err) != 0)
		goto fail;
	st = store_stmt(s, "SELECT state, worker_id, pool, timeslot_start, timeslot_end, attempt "
	    "FROM instances WHERE id = ?");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		op_err_set(err, 404, "not_found", "id", "no instance with id %lld", (long long)id);
		goto fail;
	}
	snprintf(cur_s, sizeof(cur_s), "%s", (const char *)sqlite3_column_text(st, 0));
	worker_id = sqlite3_column_int64(st, 1);
	is_pool = sqlite3_column_int(st, 2);
	start = sqlite3_column_int64(st, 3);
	end = sqlite3_column_int64(st, 4);
	cur_attempt = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	if (inst_state_parse(cur_s, &cur) != 0) {
		op_err_set(err, 500, "internal", "", "instance %lld has an unknown state", (long long)id);
		goto fail;
	}
	if (worker_id != wid) {
		op_err_set(err, 409, "invalid_transition", "name", "instance %lld is not on worker %s "
		    "(it is %s)", (long long)id, name, cur_s);
		goto fail;
	}
	if (attempt != cur_attempt) {
		op_err_set(err, 409, "invalid_transition", "attempt", "the report is of attempt %lld "
		    "of instance %lld, which is on attempt %lld now", (long long)attempt,
		    (long long)id, (long long)cur_attempt);
		goto fail;
	}
	if (cur == to && cur != from) {
		/* Applied already: the answer to the first report was lost. */
		store_rollback(s);
		free(text);
		*out = instance_get(s, id, err);
		return *out ? 0 : -1;
	}
	if (cur != from) {
		op_err_set(err, 409, "invalid_transition", "from", "instance %lld is %s, not %s",
		    (long long)id, cur_s, from_s);
		goto fail;
	}
	/* Terminating, and sending back to pending, are the server's and operators' moves. */
	if (to == INST_TERMINATED || to == INST_PENDING) {
		op_err_set(err, 409, "invalid_transition", "to", "an agent does not report %s; it "
		    "reports the steps of the instance's hooks", to_s);
		goto fail;
	}
	if (to == INST_WARM && !is_pool) {
		op_err_set(err, 409, "invalid_transition", "to",
		    "only a warm pool's instance waits warm; this one has an owner: report running");
		goto fail;
	}
	if (to == INST_RUNNING && from == INST_INSTANTIATING && is_pool) {
		op_err_set(err, 409, "invalid_transition", "to",
		    "a warm pool's instance waits warm until it is claimed");
		goto fail;
	}
	if (reason == NULL) {
		snprintf(why, sizeof(why), "reported by the agent of %s", name);
		reason = why;
	}
	/* exit and grade first: the transition's event carries the instance as it is after. */
	if (exitj != NULL && !json_is_null(exitj)) {
		char *et = json_dumps(exitj, JSON_COMPACT);

		st = store_stmt(s, "UPDATE instances SET exit = ? WHERE id = ?");
		sqlite3_bind_text(st, 1, et, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, id);
		free(et);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	if (text != NULL) {
		st = store_stmt(s, "UPDATE instances SET grade = ? WHERE id = ?");
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	if (instance_transition(s, id, to, ACTOR_AGENT, reason, actor, err) != 0) {
		/* The state machine refused "to": that is the field the agent sent. */
		if (err->http == 409 && strcmp(err->field, "state") == 0)
			snprintf(err->field, sizeof(err->field), "to");
		goto fail;
	}
	if (from == INST_SCHEDULED && to == INST_INSTANTIATING) {
		int64_t at = entered_at(s, id, "scheduled");

		if (at > 0)
			assigned_s = (double)(now - at) / 1000.0;
	}
	if (from == INST_INSTANTIATING && (to == INST_RUNNING || to == INST_WARM))
		instantiated_s = instantiation_seconds(s, id, hook_ms, is_pool, start, now);
	/* Instantiated after its slot ended: it runs no time at all and is collected at once. */
	if (to == INST_RUNNING && end <= now && instance_transition(s, id, INST_COLLECTING,
	    ACTOR_SYSTEM, "its slot ended", "outpostd", err) != 0)
		goto fail;
	if (store_commit(s) != 0) {
		store_fail(s, err);
		free(text);
		return -1;
	}
	/* Observed once committed: a step rolled back did not happen. */
	if (assigned_s >= 0)
		metrics_assignment_latency(assigned_s);
	if (instantiated_s >= 0)
		metrics_instantiation(instantiated_s);
	free(text);
	*out = instance_get(s, id, err);
	return *out ? 0 : -1;
fail:
	if (err->code == NULL)
		store_fail(s, err);
	store_rollback(s);
	free(text);
	return -1;
}
