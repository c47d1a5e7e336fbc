/*
 * A worker's life: the one writer of workers.state. A worker's row is first
 * written here (worker_insert: a registering agent's, ready; a template's,
 * provisioning), and every later change of its state goes through
 * worker_transition(), in its caller's transaction: checked against the
 * worker state machine of src/common/state.c, written with updated_at and
 * the drain deadline (kept only while draining), and told as a worker.state
 * event {from, to, reason, worker} with the worker as it is after it.
 *
 * worker_act() is every operator action on a worker, for the API and the
 * runbooks' built-ins alike: cordon, uncordon and drain move it; stop and
 * terminate also end what it holds (with force, as for a lost worker), lower
 * its template's desired count (not below min), and, after the commit, have
 * its provisioner stop or remove it (scaler_worker_ended, provisioners.c).
 *
 * Never: write workers.state anywhere else in the tree, or move a worker
 * the state machine does not allow.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"

#define REASON_MAX 300

int
worker_insert(struct store *s, const struct worker_new *n, int64_t *id)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO workers (name, template, state, health, "
	    "cpu, memory_mb, slots, labels, last_heartbeat, created_at, updated_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)");
	int rc;

	/* A worker begins made by hand and ready, or being made by its template's provisioner. */
	assert(n->state == WORKER_READY || n->state == WORKER_PROVISIONING);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	if (n->tmpl != NULL)
		sqlite3_bind_text(st, 2, n->tmpl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, worker_state_name(n->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, worker_health_name(n->health), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, n->cpu);
	sqlite3_bind_int64(st, 6, n->memory_mb);
	sqlite3_bind_int64(st, 7, n->slots);
	sqlite3_bind_text(st, 8, n->labels, -1, SQLITE_STATIC);
	if (n->last_heartbeat != 0)
		sqlite3_bind_int64(st, 9, n->last_heartbeat);
	sqlite3_bind_int64(st, 10, n->now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(store_db(s));
	return rc;
}

int
worker_transition_write(struct store *s, int64_t id, enum worker_state to, int64_t drain_deadline,
    enum worker_state *from, struct op_err *err)
{
	sqlite3_stmt *st;
	char why[200];
	int rc = worker_state_of(s, id, from, err);

	if (rc != 0)
		return -1;
	if (worker_transition_check(*from, to, why, sizeof(why)) != 0) {
		op_err_set(err, 409, "invalid_transition", "", "%s", why);
		return -1;
	}
	/* A drain's deadline lives as long as the drain. */
	st = store_stmt(s, "UPDATE workers SET state = ?, updated_at = ?, drain_deadline = ? "
	    "WHERE id = ?");
	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_text(st, 1, worker_state_name(to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms());
	if (to == WORKER_DRAINING && drain_deadline > 0)
		sqlite3_bind_int64(st, 3, drain_deadline);
	sqlite3_bind_int64(st, 4, id);
	rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(store_db(s)) == 1 ? 0 : -1;
	sqlite3_reset(st);
	if (rc != 0)
		store_fail(s, err);
	return rc;
}

int
worker_transition_event(struct store *s, int64_t id, enum worker_state from, enum worker_state to,
    const char *reason, const char *actor, struct op_err *err)
{
	json_t *w = worker_get(s, id, err);

	if (w == NULL)
		return -1;
	if (events_append(s, "worker.state", "worker", NULL, id, actor,
	    json_pack("{s:s, s:s, s:s, s:o}", "from", worker_state_name(from), "to",
	    worker_state_name(to), "reason", reason, "worker", w)) != 0) {
		store_fail(s, err);
		return -1;
	}
	return 0;
}

int
worker_transition(struct store *s, int64_t id, enum worker_state to, int64_t drain_deadline,
    const char *reason, const char *actor, struct op_err *err)
{
	enum worker_state from;

	if (worker_transition_write(s, id, to, drain_deadline, &from, err) != 0)
		return -1;
	return worker_transition_event(s, id, from, to, reason, actor, err);
}

int
worker_finish(struct store *s, int64_t id, const char *reason, const char *actor)
{
	struct op_err err = { 0 };
	enum worker_state from;
	int found;

	if (store_begin(s) != 0)
		return -1;
	found = worker_state_of(s, id, &from, &err) == 0;
	if (!found || from == WORKER_TERMINATED) {
		store_rollback(s);
		return 0;
	}
	if (worker_transition(s, id, WORKER_TERMINATED, 0, reason, actor, &err) != 0 ||
	    store_commit(s) != 0) {
		store_rollback(s);
		log_error("worker.finish", "reason", reason, "error", err.message, NULL);
		return -1;
	}
	return 0;
}

int
worker_drain_deadline(json_t *body, int64_t now, int64_t *deadline, struct op_err *err)
{
	const char *s;
	int64_t ms;

	*deadline = 0;
	if (body == NULL || jsonv_string(body, "", "deadline", 0, 1, 64, &s, err) != 0)
		return body == NULL ? 0 : -1;
	if (json_object_get(body, "deadline") == NULL || json_is_null(json_object_get(body,
	    "deadline")))
		return 0;
	if (time_parse_rfc3339(s, &ms) == 0) {
		*deadline = ms;
	} else if (duration_parse(s, &ms) == 0 && ms <= 30LL * 86400000) {
		*deadline = now + ms;
	} else {
		op_err_set(err, 400, "invalid_argument", "deadline", "deadline must be an RFC "
		    "3339 time such as 2026-11-23T10:00:00Z or a duration from now up to 30d, "
		    "such as \"30m\"");
		return -1;
	}
	return 0;
}

/* cordon, uncordon, drain: the state alone. */
static int
move(struct store *s, int64_t id, enum worker_action a, json_t *body, const char *actor,
    json_t **out, struct op_err *err)
{
	enum worker_state from, to;
	char why[200], reason[REASON_MAX];
	int64_t deadline = 0;

	if (a == WORKER_ACT_DRAIN) {
		static const char *const fields[] = { "deadline", NULL };

		if (body != NULL && jsonv_known(body, "", fields, err) != 0)
			return -1;
		if (worker_drain_deadline(body, now_ms(), &deadline, err) != 0)
			return -1;
	} else if (body != NULL && json_object_size(body) > 0) {
		const char *k;
		json_t *v;

		json_object_foreach(body, k, v) {
			op_err_set(err, 400, "unknown_field", k,
			    "%s takes no fields; unknown field %s", worker_action_name(a), k);
			return -1;
		}
	}
	if (store_begin(s) != 0)
		return store_fail(s, err);
	if (worker_state_of(s, id, &from, err) != 0)
		goto fail;
	if (worker_action_target(a, from, &to, why, sizeof(why)) != 0) {
		op_err_set(err, 409, "invalid_transition", "", "%s", why);
		goto fail;
	}
	if (a == WORKER_ACT_DRAIN && deadline > 0) {
		char t[40];

		snprintf(reason, sizeof(reason), "drain by %s, deadline %s",
		    actor ? actor : "operator", time_format_ms(deadline, t, sizeof(t), 0));
	} else {
		snprintf(reason, sizeof(reason), "%s by %s", worker_action_name(a),
		    actor ? actor : "operator");
	}
	if (worker_transition(s, id, to, deadline, reason, actor, err) != 0)
		goto fail;
	if (store_commit(s) != 0)
		return store_fail(s, err);
	*out = worker_get(s, id, err);
	return *out != NULL ? 0 : -1;
fail:
	return store_abort(s, err);
}

/* The template's count follows an operator's stop or terminate: one fewer, not below its min. */
static int
template_one_fewer(struct store *s, const char *tmpl)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE templates SET desired = "
	    "max(json_extract(spec, '$.min'), desired - 1) WHERE name = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, tmpl, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

int
worker_set_retiring(struct store *s, int64_t id)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE workers SET retiring = 1 WHERE id = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/* stop and terminate: what it holds ends (force), its template shrinks, its provisioner acts. */
static int
stop_or_terminate(struct app *a, int64_t id, json_t *body, const char *actor, int is_term,
    json_t **out, struct op_err *err)
{
	static const char *const fields[] = { "force", NULL };
	struct store *s = a->store;
	enum worker_action act = is_term ? WORKER_ACT_TERMINATE : WORKER_ACT_STOP;
	const struct prov_ops *ops = NULL;
	enum worker_state to;
	struct tview tv;
	struct wrow *w = NULL;
	size_t nw = 0;
	char why[200], reason[REASON_MAX];
	int force = 0, rc = -1, is_via_program = 0, has_template = 0;

	if (body != NULL && (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_bool(body, "", "force", &force, err) != 0))
		return -1;
	if (store_begin(s) != 0) {
		store_fail(s, err);
		return -1;
	}
	if (scaler_load_workers(s, "w.id = ?1", id, &w, &nw) != 0 || nw == 0) {
		store_rollback(s);
		op_err_set(err, 404, "not_found", "id", "no worker with id %lld", (long long)id);
		goto done;
	}
	if (worker_action_target(act, w->state, &to, why, sizeof(why)) != 0) {
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "", "%s", why);
		goto done;
	}
	if (w->held > 0 && !force) {
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "force", "worker %s holds %lld "
		    "instance%s; drain it first (outpost worker drain %s), or %s it with force, "
		    "which ends them as if the worker were lost", w->name, (long long)w->held,
		    w->held == 1 ? "" : "s", w->name, is_term ? "terminate" : "stop");
		goto done;
	}
	if (w->tmpl[0] != '\0' && scaler_load_template(s, w->tmpl, &tv) == 0) {
		has_template = 1;
		ops = prov_ops_of(tv.t.prov);
	}
	/* Its host is removed by a program: terminated when that has run. */
	is_via_program = is_term && ops != NULL && ops->removes_by_program;
	snprintf(reason, sizeof(reason), "%s by %s%s%s", is_term ? "terminate" : "stop",
	    actor ? actor : "operator", force && w->held > 0 ? ", with force" : "",
	    is_via_program ? "; terminated once its host is deprovisioned" : "");
	/* A terminate passes through stopped when the worker ran (its agent is stopped first). */
	if (w->held > 0 && lifecycle_worker_gone(s, id, w->name, is_term ? "terminated" :
	    "stopped") != 0)
		goto db;
	if ((!is_term || worker_transition_check(w->state, WORKER_STOPPED, NULL, 0) == 0) &&
	    worker_transition(s, id, WORKER_STOPPED, 0, reason, actor, err) != 0)
		goto db;
	/* The operator meant one worker fewer: the template's count follows, down to its min. */
	if (w->is_live && w->tmpl[0] != '\0' && template_one_fewer(s, w->tmpl) != 0)
		goto db;
	if (is_term && !is_via_program &&
	    worker_transition(s, id, WORKER_TERMINATED, 0, reason, actor, err) != 0)
		goto db;
	if (is_via_program && worker_set_retiring(s, id) != 0)
		goto db;
	if (store_commit(s) != 0)
		goto db;
	scaler_worker_ended(a, has_template ? &tv.t : NULL, w, is_term, is_via_program, reason);
	*out = worker_get(s, id, err);
	rc = *out != NULL ? 0 : -1;
	scaler_kick();
	timers_kick();
	goto done;
db:
	store_rollback(s);
	if (err->code == NULL)
		store_fail(s, err);
done:
	if (has_template)
		scaler_clear_template(&tv);
	free(w);
	return rc;
}

int
worker_act(struct app *a, int64_t id, enum worker_action act, json_t *body, const char *actor,
    json_t **out, struct op_err *err)
{
	*out = NULL;
	err->code = NULL;
	switch (act) {
	case WORKER_ACT_STOP:
		return stop_or_terminate(a, id, body, actor, 0, out, err);
	case WORKER_ACT_TERMINATE:
		return stop_or_terminate(a, id, body, actor, 1, out, err);
	default:
		return move(a->store, id, act, body, actor, out, err);
	}
}
int
worker_state_of(struct store *s, int64_t id, enum worker_state *state, struct op_err *err)
{
	int i = store_state_of(s, "SELECT state FROM workers WHERE id = ?", KIND_WORKER, id,
	    "worker", err);

	if (i < 0)
		return -1;
	*state = (enum worker_state)i;
	return 0;
}

