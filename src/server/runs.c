/*
 * Runs of runbooks: starting one (role, confirmation, parameters), driving
 * its steps in order on the loop, storing each step's status, cancelling,
 * and what a restart finds. Every change of a run is written with its event
 * in one transaction, like every other change.
 *
 * A built-in step runs on the loop (in slices when it is long); an exec step
 * is a program run_exec.c starts and watches (its output, its timeout), a
 * child of children.c. A run that ends while its program runs abandons it to
 * children.c, which ends its group: SIGTERM, then SIGKILL after
 * RUN_KILL_GRACE_MS.
 *
 * An exec step gets a token with the runbook's role, made for the run and
 * revoked when it ends (and expiring by itself soon after, should this
 * process die first). A dry run starts no program, so it has no token.
 */
#define _GNU_SOURCE 1
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runs.h"
#include "backup.h"

static struct app *app;
static struct run *runs;
static int is_shutting_down;	/* runs_shutdown: every run ends now, written or not */

static void drive(lws_sorted_usec_list_t *sul);

void
run_schedule(struct run *r, int64_t ms)
{
	lws_sul_schedule(app->lws, 0, &r->sul, drive, ms * LWS_US_PER_MS + 1);
}

/* ---- reading runs ---- */

static json_t *
time_or_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null() :
	    json_time(sqlite3_column_int64(st, col));
}

static json_t *
steps_of(struct store *s, int64_t id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT idx, name, action, status, output, started_at, "
	    "ended_at, exit FROM run_steps WHERE run_id = ? ORDER BY idx");
	json_t *a = json_array();

	if (st == NULL)
		return a;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "index",
		    (json_int_t)sqlite3_column_int64(st, 0),
		    "name", (const char *)sqlite3_column_text(st, 1),
		    "action", (const char *)sqlite3_column_text(st, 2),
		    "status", (const char *)sqlite3_column_text(st, 3),
		    "output", (const char *)sqlite3_column_text(st, 4));

		json_object_set_new(o, "started_at", time_or_null(st, 5));
		json_object_set_new(o, "ended_at", time_or_null(st, 6));
		json_object_set_new(o, "exit", sqlite3_column_type(st, 7) == SQLITE_NULL ?
		    json_null() : json_integer(sqlite3_column_int64(st, 7)));
		json_array_append_new(a, o);
	}
	sqlite3_reset(st);
	return a;
}

#define RUN_COLS "id, runbook, status, dry_run, params, actor, created_at, ended_at, error"

static json_t *
run_from_row(sqlite3_stmt *st)
{
	json_t *params = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
	json_t *o = json_pack("{s:I, s:s, s:s, s:b, s:o, s:s}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "runbook", (const char *)sqlite3_column_text(st, 1),
	    "status", (const char *)sqlite3_column_text(st, 2),
	    "dry_run", sqlite3_column_int(st, 3),
	    "params", params ? params : json_object(),
	    "actor", (const char *)sqlite3_column_text(st, 5));

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "created_at", json_time(sqlite3_column_int64(st, 6)));
	json_object_set_new(o, "ended_at", time_or_null(st, 7));
	json_object_set_new(o, "error", sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null() :
	    json_string((const char *)sqlite3_column_text(st, 8)));
	return o;
}

json_t *
run_get(struct store *s, int64_t id, struct op_err *err)
{
	json_t *o = store_get_json(s, "SELECT " RUN_COLS " FROM runs WHERE id = ?", id,
	    run_from_row, "run", err);

	if (o != NULL)
		json_object_set_new(o, "steps", steps_of(s, id));
	return o;
}

/* O(limit) through the runbook or status index, or the primary key. */
json_t *
runs_list(struct store *s, const char *runbook, const char *status, int64_t after,
    int64_t limit, int64_t *last, int *has_more)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " RUN_COLS " FROM runs WHERE (?1 IS NULL OR "
	    "runbook = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR id < ?3) "
	    "ORDER BY id DESC LIMIT ?4");
	json_t *items = json_array();

	*has_more = 0;
	*last = 0;
	if (st == NULL)
		return items;
	if (runbook != NULL)
		sqlite3_bind_text(st, 1, runbook, -1, SQLITE_TRANSIENT);
	if (status != NULL)
		sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int64(st, 4, limit + 1);
	*has_more = store_page(st, limit, items, run_from_row, store_mark_id, last);
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *o = json_array_get(items, i);

		json_object_set_new(o, "steps", steps_of(s, json_integer_value(json_object_get(o,
		    "id"))));
	}
	return items;
}

/* ---- writing runs ---- */

static int
run_event(struct store *s, int64_t id, const char *runbook, const char *status, int is_dry,
    const char *actor, const char *error)
{
	return events_append(s, "runbook.run", "run", NULL, id, actor,
	    json_pack("{s:s, s:s, s:b, s:s?}", "runbook", runbook, "status", status, "dry_run",
	    is_dry, "error", error));
}

static int
step_set(struct store *s, int64_t id, size_t idx, const char *status, int64_t at, int is_start,
    const int *exit_code)
{
	sqlite3_stmt *st = store_stmt(s, is_start ?
	    "UPDATE run_steps SET status = ?, started_at = ? WHERE run_id = ? AND idx = ?" :
	    "UPDATE run_steps SET status = ?, ended_at = ?, exit = ? WHERE run_id = ? AND idx = ?");
	int k = 1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, k++, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, k++, at);
	if (!is_start) {
		if (exit_code != NULL)
			sqlite3_bind_int(st, k, *exit_code);
		k++;
	}
	sqlite3_bind_int64(st, k++, id);
	sqlite3_bind_int64(st, k, (int64_t)idx);
	k = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return k;
}


/* The step's span ends with its status; the run's with the run's. */
static void
step_span_end(struct run *r, const char *status)
{
	if (!r->cur.is_started || r->step_span.end_ns != 0)
		return;
	span_str(&r->step_span, "outpost.step.status", status);
	r->step_span.is_error = strcmp(status, "succeeded") != 0;
	span_end(&r->step_span);
}

static void
run_free(struct run *r)
{
	for (struct run **p = &runs; *p != NULL; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	lws_sul_cancel(&r->sul);
	run_exec_close(r);
	run_exec_abandon(r);
	runbook_unref(r->rb);
	json_decref(r->params);
	json_decref(r->cur.bargs);
	sbuf_free(&r->bout);
	sbuf_free(&r->pending);
	free(r);
}

static void
revoke_token(struct run *r)
{
	struct op_err err = { 0 };
	json_t *rec = NULL;

	if (r->token_id == 0)
		return;
	if (auth_revoke(app->store, r->token_id, r->step_actor, &rec, &err) != 0)
		log_warn("run.token", "run", r->step_actor, "error", err.message, NULL);
	json_decref(rec);
	r->token_id = 0;
}

/*
 * Ends the run: the current step (when it has one) with step_status, the
 * rest skipped, the run with status. Frees r; but when the database has no
 * room to record the end, the run is kept (its program ended all the same)
 * and its end written again each second, so that no run stays "running" in
 * the database with nothing driving it.
 */
static void
run_end(struct run *r, const char *step_status, enum run_status rst, const char *error)
{
	const char *status = run_status_name(rst);
	struct store *s = app->store;
	int64_t now = now_ms();
	char id[24];

	if (store_begin(s) != 0)
		goto db;
	if (run_output_flush(r, 1) != 0)
		goto db_rb;
	if (r->cur.is_started && step_status != NULL) {
		int code = WIFEXITED(r->cur.status) ? WEXITSTATUS(r->cur.status) : -1;

		if (step_set(s, r->id, r->step, step_status, now, 0,
		    r->cur.pid > 0 && r->cur.has_exited ? &code : NULL) != 0)
			goto db_rb;
	}
	if (store_exec(s, NULL, "UPDATE run_steps SET status = 'skipped' WHERE run_id = ? AND "
	    "status = 'pending'", "i", r->id) != 0 ||
	    store_exec(s, NULL, "UPDATE runs SET status = ?, ended_at = ?, error = ?, "
	    "child_ref = NULL WHERE id = ?", "titi", status, now, error, r->id) != 0)
		goto db_rb;
	if (run_event(s, r->id, r->rb->name, status, r->is_dry, r->step_actor, error) != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	goto done;
db_rb:
	store_rollback(s);
db:
	if (store_full_since(s, NULL) != 0 && !is_shutting_down) {
		if (!r->is_ending)
			log_warn("run.end", "run", r->step_actor, "status", status, "detail", "no room "
			    "in the database to record the run's end: written once there is", NULL);
		r->is_ending = 1;
		r->end_step_status = step_status;
		r->end_status = rst;
		if (error != r->end_error)
			snprintf(r->end_error, sizeof(r->end_error), "%s", error ? error : "");
		run_exec_abandon(r);
		run_schedule(r, 1000);
		return;
	}
	log_error("run.end", "run", r->step_actor, "error", sqlite3_errmsg(store_db(s)), NULL);
done:
	revoke_token(r);
	step_span_end(r, step_status != NULL ? step_status : "failed");
	span_str(&r->span, "outpost.run.status", status);
	r->span.is_error = rst != RUN_SUCCEEDED;
	span_end(&r->span);
	metrics_observe(HIST_RUN_DURATION, (double)(now - r->started_at) / 1000.0);
	snprintf(id, sizeof(id), "%lld", (long long)r->id);	/* an id: a string, as names */
	log_info("run.ended", "run", id, "runbook", r->rb->name, "status", status,
	    "error", error ? error : "", NULL);
	run_exec_abandon(r);	/* a program still running: ended, no longer waited for */
	if (r->bc.state != NULL && r->step < r->rb->nsteps && r->rb->steps[r->step].builtin) {
		r->bc.is_cancelled = 1;
		builtin_run(r->rb->steps[r->step].builtin, &r->bc);
	}
	run_free(r);
}

static int
mark_step_started(struct run *r)
{
	struct store *s = app->store;

	if (store_begin(s) != 0)
		return -1;
	if (step_set(s, r->id, r->step, "running", now_ms(), 1, NULL) != 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s);
}

void
run_step_end(struct run *r, int is_ok, const char *why)
{
	struct store *s = app->store;
	int code = WIFEXITED(r->cur.status) ? WEXITSTATUS(r->cur.status) : -1;
	char err[400];

	if (!is_ok) {
		snprintf(err, sizeof(err), "step %zu (%s) %s", r->step + 1, r->rb->steps[r->step].name,
		    why ? why : "failed");
		run_end(r, "failed", RUN_FAILED, err);
		return;
	}
	if (store_begin(s) != 0 || run_output_flush(r, 1) != 0 ||
	    step_set(s, r->id, r->step, "succeeded", now_ms(), 0, r->cur.pid > 0 ? &code : NULL) != 0 ||
	    store_commit(s) != 0) {
		store_rollback(s);
		run_end(r, "failed", RUN_FAILED, "the database refused the step's end");
		return;
	}
	run_output_written(r);
	assert(r->child == NULL);
	step_span_end(r, "succeeded");
	json_decref(r->cur.bargs);
	r->step++;
	r->cur = (struct step_now){ 0 };
	run_schedule(r, 0);
}

/* ---- built-in steps ---- */

static void
builtin_drive(struct run *r)
{
	const struct rb_step *st = &r->rb->steps[r->step];
	int rc;

	if (r->cur.bargs == NULL) {
		struct op_err err = { 0 };
		char prefix[48];

		r->cur.bargs = st->args != NULL ? subst(st->args, r->params) : json_object();
		snprintf(prefix, sizeof(prefix), "steps[%zu].args", r->step);
		if (builtin_args_ready(st->builtin, r->cur.bargs, prefix, &err) != 0) {
			run_output_take(r, err.message, strlen(err.message));
			run_output_take(r, "\n", 1);
			run_step_end(r, 0, "was given bad arguments");
			return;
		}
		memset(&r->bc, 0, sizeof(r->bc));
		r->bc.app = app;
		r->bc.args = r->cur.bargs;
		r->bc.written = st->args;
		r->bc.is_dry = r->is_dry;
		r->bc.actor = r->step_actor;
		r->bc.out = &r->bout;
	}
	sbuf_reset(&r->bout);
	rc = builtin_run(st->builtin, &r->bc);
	if (r->bout.len > 0)
		run_output_take(r, r->bout.p, r->bout.len);
	if (rc == 1) {
		run_output_flush_now(r);
		run_schedule(r, 5);
		return;
	}
	run_step_end(r, rc == 0, NULL);
}

static void
drive_run(struct run *r)
{
	char why[300];

	if (r->is_ending) {
		run_end(r, r->end_step_status, r->end_status, r->end_error[0] ? r->end_error : NULL);
		return;
	}
	if (r->step >= r->rb->nsteps) {
		run_end(r, NULL, RUN_SUCCEEDED, NULL);
		return;
	}
	if (!r->cur.is_started) {
		if (mark_step_started(r) != 0) {
			run_end(r, NULL, RUN_FAILED, "the database refused the step's start");
			return;
		}
		r->cur.is_started = 1;
		r->cur.started_at = now_ms();
		span_begin(&r->step_span, "runbook.step", SPAN_INTERNAL, &r->span.ctx);
		span_int(&r->step_span, "outpost.step.index", (int64_t)r->step);
		span_str(&r->step_span, "outpost.step.name", r->rb->steps[r->step].name);
		span_str(&r->step_span, "outpost.step.action", r->rb->steps[r->step].builtin ?
		    builtin_name(r->rb->steps[r->step].builtin) : "exec");
		if (r->rb->steps[r->step].builtin == NULL) {
			if (r->is_dry) {
				run_exec_dry(r);
				return;
			}
			if (run_exec_start(r, why, sizeof(why)) != 0) {
				run_output_take(r, why, strlen(why));
				run_output_take(r, "\n", 1);
				run_step_end(r, 0, "could not start");
				return;
			}
			run_schedule(r, RUN_FLUSH_MS);
			return;
		}
	}
	if (r->rb->steps[r->step].builtin != NULL)
		builtin_drive(r);
	else
		run_exec_drive(r);
}

/* What the run's steps change is written under its trace (its events carry it). */
static void
drive(lws_sorted_usec_list_t *sul)
{
	struct run *r = lws_container_of(sul, struct run, sul);

	trace_set_current(&r->span.ctx);
	drive_run(r);	/* may free r */
	trace_set_current(NULL);
}

/* ---- starting, cancelling ---- */

int
run_start(struct app *a, struct runbook *rb, json_t *params, int is_dry, const char *actor,
    int64_t *id, int64_t *seq, struct op_err *err)
{
	struct store *s = a->store;
	struct run *r = calloc(1, sizeof(*r));
	char *ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	char *spec = json_dumps(rb->spec, JSON_COMPACT);
	int64_t now = now_ms(), exec_ms = 0;
	sqlite3_stmt *st;

	app = a;
	if (r == NULL || ptext == NULL || spec == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		goto fail;
	}
	r->fd = -1;
	r->app = a;
	if (store_begin(s) != 0)
		goto db;
	st = store_stmt(s, "INSERT INTO runs (runbook, status, dry_run, params, actor, spec, "
	    "created_at) VALUES (?, 'running', ?, ?, ?, ?, ?)");
	if (st == NULL)
		goto db_rb;
	sqlite3_bind_text(st, 1, rb->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, is_dry);
	sqlite3_bind_text(st, 3, ptext, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, spec, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto db_rb;
	}
	sqlite3_reset(st);
	r->id = sqlite3_last_insert_rowid(store_db(s));
	for (size_t i = 0; i < rb->nsteps; i++) {
		st = store_stmt(s, "INSERT INTO run_steps (run_id, idx, name, action, status) "
		    "VALUES (?, ?, ?, ?, 'pending')");
		if (st == NULL)
			goto db_rb;
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, rb->steps[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, rb->steps[i].builtin ? builtin_name(rb->steps[i].builtin) :
		    "exec", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			goto db_rb;
		}
		sqlite3_reset(st);
		if (rb->steps[i].builtin == NULL)
			exec_ms += rb->steps[i].timeout_ms + RUN_KILL_GRACE_MS;
	}
	if (run_event(s, r->id, rb->name, run_status_name(RUN_RUNNING), is_dry, actor, NULL) != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	if (seq != NULL)
		*seq = events_last_seq(s);
	r->rb = runbook_ref(rb);
	r->params = json_incref(params);
	r->is_dry = is_dry;
	r->started_at = now;
	/* A child of the request that started it; an alert's run begins a trace. */
	span_begin(&r->span, "runbook.run", SPAN_INTERNAL, trace_current());
	span_str(&r->span, "outpost.runbook", rb->name);
	span_int(&r->span, "outpost.run_id", r->id);
	span_int(&r->span, "outpost.dry_run", is_dry);
	snprintf(r->actor, sizeof(r->actor), "%s", actor);
	snprintf(r->step_actor, sizeof(r->step_actor), "run:%lld", (long long)r->id);
	sbuf_init(&r->bout);
	sbuf_init(&r->pending);
	r->next = runs;
	runs = r;
	/* The programs' token: the runbook's role, for as long as the run may last. */
	if (exec_ms > 0 && !is_dry) {
		char name[64];
		json_t *rec = NULL;
		struct op_err e2 = { 0 };

		snprintf(name, sizeof(name), "run-%lld", (long long)r->id);
		if (auth_create(s, name, rb->role, now + exec_ms + 60 * 1000, r->step_actor, r->token,
		    sizeof(r->token), &rec, &e2) == 0) {
			r->token_id = json_integer_value(json_object_get(rec, "id"));
			if (store_begin(s) == 0) {
				st = store_stmt(s, "UPDATE runs SET token_id = ? WHERE id = ?");
				if (st != NULL) {
					sqlite3_bind_int64(st, 1, r->token_id);
					sqlite3_bind_int64(st, 2, r->id);
					sqlite3_step(st);
					sqlite3_reset(st);
				}
				store_commit_silent(s);
			}
		} else {
			log_warn("run.token", "run", r->step_actor, "error", e2.message, NULL);
		}
		json_decref(rec);
	}
	{
		char ids[24];

		snprintf(ids, sizeof(ids), "%lld", (long long)r->id);
		log_info("run.started", "run", ids, "runbook", rb->name, "actor", actor,
		    LOG_BOOL("dry_run", is_dry), NULL);
	}
	*id = r->id;
	free(ptext);
	free(spec);
	run_schedule(r, 0);
	return 0;
db_rb:
	store_rollback(s);
db:
	store_fail(s, err);
fail:
	free(r);
	free(ptext);
	free(spec);
	return -1;
}

int
run_request(struct app *a, const char *name, json_t *body, enum role role, const char *actor,
    json_t **out, struct op_err *err)
{
	static const char *const fields[] = { "params", "dry_run", "confirm", NULL };
	struct runbook *rb = runbook_find(name);
	json_t *params = NULL;
	int is_dry = 0, is_confirmed = 0;
	int64_t id, seq = 0;

	*out = NULL;
	if (rb == NULL) {
		op_err_set(err, 404, "not_found", "name", "no runbook named %s", name);
		return -1;
	}
	if (!role_allows(role, rb->role)) {
		op_err_set(err, 403, "forbidden", "", "runbook %s needs the %s role; this token is %s",
		    name, role_name(rb->role), role_name(role));
		return -1;
	}
	if (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_bool(body, "", "dry_run", &is_dry, err) != 0 ||
	    jsonv_bool(body, "", "confirm", &is_confirmed, err) != 0)
		return -1;
	if (rb->confirm && !is_dry && !is_confirmed) {
		op_err_set(err, 409, "confirmation_required", "confirm", "runbook %s changes things "
		    "that are hard to undo: send \"confirm\": true to run it (or run it with "
		    "\"dry_run\": true first)", name);
		return -1;
	}
	if (runbook_params(rb, a->store, json_object_get(body, "params"), &params, err) != 0)
		return -1;
	if (run_start(a, rb, params, is_dry, actor, &id, &seq, err) != 0) {
		json_decref(params);
		return -1;
	}
	json_decref(params);
	*out = run_get(a->store, id, err);
	if (*out != NULL)
		json_object_set_new(*out, "seq", json_integer(seq));
	return *out ? 0 : -1;
}

int
run_cancel(struct app *a, int64_t id, const char *actor, json_t **out, struct op_err *err)
{
	struct run *r;
	char why[200];

	app = a;
	*out = NULL;
	for (r = runs; r != NULL && r->id != id; r = r->next)
		;
	if (r == NULL) {
		json_t *got = run_get(a->store, id, err);

		if (got == NULL)
			return -1;
		op_err_set(err, 409, "invalid_transition", "id", "run %lld has already ended: it %s",
		    (long long)id, json_string_value(json_object_get(got, "status")));
		json_decref(got);
		return -1;
	}
	if (r->is_ending) {
		op_err_set(err, 409, "invalid_transition", "id", "run %lld has already ended: it %s, "
		    "which the database has no room to record yet", (long long)id,
		    run_status_name(r->end_status));
		return -1;
	}
	snprintf(why, sizeof(why), "cancelled by %s", actor);
	if (r->cur.pid > 0 && !r->cur.has_exited) {
		char note[240];

		snprintf(note, sizeof(note), "\n[%s: SIGTERM sent to the program]\n", why);
		run_output_take(r, note, strlen(note));
	}
	run_end(r, "cancelled", RUN_CANCELLED, why);
	*out = run_get(a->store, id, err);
	return *out ? 0 : -1;
}

/* ---- restarts ---- */

static int
mark_interrupted(struct store *s, int64_t id, const char *runbook, int is_dry, const char *why)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE run_steps SET status = CASE status WHEN 'running' "
	    "THEN 'interrupted' ELSE 'skipped' END, ended_at = CASE status WHEN 'running' THEN ? "
	    "ELSE ended_at END WHERE run_id = ? AND status IN ('running', 'pending')");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	st = store_stmt(s, "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ?, "
	    "child_ref = NULL WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return run_event(s, id, runbook, run_status_name(RUN_INTERRUPTED), is_dry, "system", why);
}

int
runs_recover(struct app *a)
{
	struct store *s = a->store;
	sqlite3_stmt *st = store_stmt(s, "SELECT id, runbook, dry_run, token_id, child_ref FROM runs "
	    "WHERE status = 'running'");
	struct left { int64_t id, token; int is_dry; char runbook[NAME_MAX_LEN + 1]; } *l = NULL;
	char dir[PATH_BUF_MAX];
	size_t n = 0, cap = 0;
	int rc = 0;

	app = a;
	if (a->cfg.drill)
		return 0;	/* a restore drill's copy: its runs' programs are not ours */
	/* The part files of the backups a dead server left (backup.c), never whole. */
	if ((size_t)snprintf(dir, sizeof(dir), "%s/backups", a->cfg.state_dir) < sizeof(dir))
		backup_remove_parts(dir);
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *ref = (const char *)sqlite3_column_text(st, 4);

		if (array_grow(&l, &cap, n, sizeof(*l)) != 0)
			break;
		l[n].id = sqlite3_column_int64(st, 0);
		snprintf(l[n].runbook, sizeof(l[n].runbook), "%s", sqlite3_column_text(st, 1));
		l[n].is_dry = sqlite3_column_int(st, 2);
		l[n].token = sqlite3_column_int64(st, 3);
		n++;
		if (proc_ref_alive(ref) > 0) {
			/* Not our child: SIGTERM to its group, no waiting for it. */
			children_stop_ref(ref, 1, 0, -1);
			log_warn("run.recover", "detail", "a run's program outlived the server: ended",
			    NULL);
		}
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		json_t *rec = NULL;
		struct op_err err = { 0 };

		if (store_begin(s) != 0 || mark_interrupted(s, l[i].id, l[i].runbook, l[i].is_dry,
		    "the server stopped during the run") != 0 || store_commit(s) != 0) {
			store_rollback(s);
			rc = -1;
			continue;
		}
		if (l[i].token != 0 && auth_is_live(l[i].token) &&
		    auth_revoke(s, l[i].token, "system", &rec, &err) != 0)
			log_warn("run.token", "error", err.message, NULL);
		json_decref(rec);
	}
	free(l);
	return rc;
}

void
runs_shutdown(struct app *a)
{
	app = a;
	is_shutting_down = 1;
	while (runs != NULL) {
		struct run *r = runs;

		run_exec_abandon(r);	/* SIGTERM to its group */
		r->cur.pid = 0;
		run_end(r, "interrupted", RUN_INTERRUPTED, "the server stopped during the run");
	}
}

void
runs_free(void)
{
	while (runs != NULL)
		run_free(runs);
}

/*
 * From the table: runs not ended, a gauge; ended runs, a counter by status, since a run
 * ends once and no run is deleted. Every runbook loaded has its series, 0 before a run.
 */
void
runs_metrics(struct store *s, struct sbuf *o)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT runbook, status, count(*) FROM runs "
	    "GROUP BY runbook, status ORDER BY runbook, status");
	json_t *books = runbooks_list(), *by = json_object(), *v, *row;
	const char *k, *sk;
	size_t i;

	/* Every runbook loaded, and every one with runs, with each status (0 included). */
	json_array_foreach(json_object_get(books, "items"), i, v)
		json_object_set_new(by, json_string_value(json_object_get(v, "name")),
		    json_object());
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *rb = (const char *)sqlite3_column_text(st, 0);

		if ((row = json_object_get(by, rb)) == NULL)
			json_object_set_new(by, rb, row = json_object());
		json_object_set_new(row, (const char *)sqlite3_column_text(st, 1),
		    json_integer(sqlite3_column_int64(st, 2)));
	}
	if (st != NULL)
		sqlite3_reset(st);
	json_decref(books);
	sbuf_puts(o, "# HELP outpost_runbook_runs_running Runs of runbooks not ended yet, by "
	    "runbook.\n# TYPE outpost_runbook_runs_running gauge\n");
	json_object_foreach(by, k, row) {
		sbuf_puts(o, "outpost_runbook_runs_running{runbook=");
		sbuf_json_string(o, k);
		sbuf_printf(o, "} %lld\n", (long long)json_integer_value(json_object_get(row,
		    run_status_name(RUN_RUNNING))));
	}
	sbuf_puts(o, "# HELP outpost_runbook_runs_total Runs of runbooks that ended, by runbook "
	    "and status.\n# TYPE outpost_runbook_runs_total counter\n");
	json_object_foreach(by, k, row) {
		for (int r = 0; r < RUN_STATUS_COUNT; r++) {
			if (r == RUN_RUNNING)
				continue;
			sk = run_status_name((enum run_status)r);
			sbuf_puts(o, "outpost_runbook_runs_total{runbook=");
			sbuf_json_string(o, k);
			sbuf_printf(o, ",status=\"%s\"} %lld\n", sk,
			    (long long)json_integer_value(json_object_get(row, sk)));
		}
	}
	json_decref(by);
}
