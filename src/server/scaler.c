/*
 * The scaler's tick: makes each template's workers match its desired count.
 *
 * Once a second (and soon after a kick) scaler_tick():
 *   1. acts on how the provisioners' programs that ended did (jobs_settle);
 *   2. fails workers that did not register within provision_timeout;
 *   3. lets each provisioner keep what runs for its workers (the local
 *      provisioner's agents);
 *   4. autoscales (autoscale.c);
 *   5. reconciles: provisions up to desired (not while a failure's backoff
 *      runs), and retires what is above it, idle workers first: a retiring
 *      worker is drained, and terminated once nothing is left on it;
 *   6. revokes the own tokens of workers that are gone.
 *
 * The provisions step 5 asks for are made one a loop turn (provision_run):
 * each is a few commits and a spawn, and 32 in one callback would hold the
 * loop for all of them. What is queued is only the rest of this tick's
 * decision: the next tick drops it and decides again from the rows.
 *
 * Every decision is a scaling.action event with its reason; every change of
 * a worker's state goes through worker_transition() (worker_life.c). What
 * is kept in memory only: backoffs, cooldowns and idle times (struct
 * tstate, wstate), the programs running (provisioners.c). After a restart a
 * cooldown or a backoff starts over as spent (the autoscaler may act, a
 * failing provisioner is tried at once), an idle time from the start; a
 * removal a restart interrupted (a failed worker, or a stopped one that is
 * retiring) is started again. What must survive a restart is in the
 * workers table: the state, retiring, the token made for the worker, and
 * what its provisioner knows it by (provider_ref).
 *
 * Never: ask which provisioner a template has (prov_ops_of's table does),
 * or wait on anything but SQLite.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent_tokens.h"
#include "scaler.h"

#define BACKOFF_MAX_MS 3600000
#define PROVISION_GAP_US 1000		/* between two provisions: the loop turns once */
#define WORKERS_SQL_MAX 1024

static struct tstate *tstates;
static struct wstate *wstates;
static int in_tick;

struct tstate *
tstate_get(const char *name)
{
	struct tstate *t;

	for (t = tstates; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->next = tstates;
	tstates = t;
	return t;
}

struct wstate *
wstate_get(int64_t id, int64_t now)
{
	struct wstate *w;

	for (w = wstates; w != NULL; w = w->next)
		if (w->id == id)
			return w;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->id = id;
	w->busy_at = now;
	w->next = wstates;
	wstates = w;
	return w;
}

int
scaler_worker_dir(const struct app *a, const char *name, char *buf, size_t n)
{
	if ((size_t)snprintf(buf, n, "%s/workers/%s", a->cfg.state_dir, name) >= n)
		return -1;
	return mkdir_p(buf, 0700);
}

/* ---- store helpers ---- */

int
scaling_event(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason)
{
	int rc = events_append(s, "scaling.action", "template", tmpl ? tmpl : "", 0, "outpostd",
	    json_pack("{s:s, s:s, s:s?, s:s}", "action", action, "template", tmpl ? tmpl : "",
	    "worker", worker, "reason", reason));

	if (rc == 0)
		metrics_scaling_action(action, tmpl ? tmpl : "");
	return rc;
}

void
scaling_note(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason)
{
	if (store_begin(s) != 0)
		return;
	if (scaling_event(s, action, tmpl, worker, reason) != 0 || store_commit(s) != 0)
		store_rollback(s);
	log_info("scaling.action", "action", action, "template", tmpl, "worker",
	    worker ? worker : "", "reason", reason, NULL);
}

/* One statement on one worker's row, outside any state: ?1 the value (NULL when v is), ?2 id. */
static int
worker_set(struct store *s, const char *sql, int64_t id, const char *text, int64_t num)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int rc;

	if (st == NULL)
		return -1;
	if (text != NULL && text[0] != '\0')
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else if (text == NULL && num != 0)
		sqlite3_bind_int64(st, 1, num);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

int
scaler_set_ref(struct store *s, int64_t id, const char *ref)
{
	return worker_set(s, "UPDATE workers SET provider_ref = ?1 WHERE id = ?2", id, ref, 0);
}

/* Its own token and what the provisioner knows the worker by, in one write ("": none). */
static int
set_token_and_ref(struct store *s, int64_t id, int64_t token_id, const char *ref)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE workers SET token_id = ?, provider_ref = ? "
	    "WHERE id = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, token_id);
	if (ref[0] != '\0')
		sqlite3_bind_text(st, 2, ref, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

int
scaler_set_desired(struct store *s, const char *name, int64_t desired)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE templates SET desired = ?, updated_at = ? "
	    "WHERE name = ?");
	int rc;

	assert(desired >= 0);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, desired);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/* ---- templates and workers, as the tick reads them ---- */

/* One template from the statement's row (spec, desired); -1 when its spec does not parse. */
static int
template_from_row(sqlite3_stmt *st, struct tview *v)
{
	json_t *spec = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);

	memset(v, 0, sizeof(*v));
	if (spec == NULL || template_parse(spec, &v->t) != 0) {
		json_decref(spec);
		return -1;
	}
	v->desired = sqlite3_column_int64(st, 1);
	v->labels_text = json_dumps(v->t.labels, JSON_COMPACT);
	json_decref(spec);
	return 0;
}

int
scaler_load_templates(struct store *s, struct tview **out, size_t *n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT spec, desired FROM templates ORDER BY name");
	struct tview *v = NULL;
	size_t cap = 0;

	*n = 0;
	*out = NULL;
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&v, &cap, *n, sizeof(*v)) != 0)
			break;
		if (template_from_row(st, &v[*n]) == 0)
			(*n)++;
	}
	sqlite3_reset(st);
	*out = v;
	return 0;
}

int
scaler_load_template(struct store *s, const char *name, struct tview *v)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT spec, desired FROM templates WHERE name = ?");
	int rc = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = template_from_row(st, v);
	sqlite3_reset(st);
	return rc;
}

void
scaler_clear_template(struct tview *v)
{
	template_clear(&v->t);
	free(v->labels_text);
	v->labels_text = NULL;
}

void
scaler_free_templates(struct tview *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		scaler_clear_template(&v[i]);
	free(v);
}

struct tview *
scaler_find_template(struct tview *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].t.name, name) == 0)
			return &v[i];
	return NULL;
}

int
scaler_load_workers(struct store *s, const char *where_extra, int64_t id, struct wrow **out,
    size_t *n)
{
	char sql[WORKERS_SQL_MAX];
	sqlite3_stmt *st;
	struct wrow *w = NULL;
	size_t cap = 0;

	*n = 0;
	*out = NULL;
	if ((size_t)snprintf(sql, sizeof(sql), "SELECT w.id, w.name, coalesce(w.template, ''), "
	    "w.state, w.health, w.retiring, coalesce(w.provider_ref, ''), (SELECT count(*) FROM "
	    "instances i WHERE i.worker_id = w.id AND i.state IN (%s)), w.created_at, "
	    "coalesce(w.token_id, 0), coalesce(w.last_heartbeat, 0) FROM workers w WHERE %s "
	    "ORDER BY w.id", inst_holding_sql(), where_extra) >= sizeof(sql))
		return -1;
	st = store_stmt(s, sql);
	if (st == NULL)
		return -1;
	if (id != 0)
		sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct wrow *r;

		if (array_grow(&w, &cap, *n, sizeof(*w)) != 0)
			break;
		r = &w[*n];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(r->tmpl, sizeof(r->tmpl), "%s", (const char *)sqlite3_column_text(st, 2));
		if (worker_state_parse((const char *)sqlite3_column_text(st, 3), &r->state) != 0 ||
		    worker_health_parse((const char *)sqlite3_column_text(st, 4), &r->health) != 0)
			continue;
		r->retiring = sqlite3_column_int(st, 5);
		snprintf(r->ref, sizeof(r->ref), "%s", (const char *)sqlite3_column_text(st, 6));
		r->held = sqlite3_column_int64(st, 7);
		assert(r->held >= 0);
		r->created_at = sqlite3_column_int64(st, 8);
		r->token_id = sqlite3_column_int64(st, 9);
		r->last_heartbeat = sqlite3_column_int64(st, 10);
		r->is_live = worker_state_is_live(worker_state_name(r->state)) && !r->retiring;
		(*n)++;
	}
	sqlite3_reset(st);
	*out = w;
	return 0;
}

/* ---- decisions ---- */

int64_t
scaler_backoff_ms(const struct tmpl *t, int fails)
{
	int64_t d = t->retry_backoff_ms;

	for (int i = 1; i < fails && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

void
scaler_provision_failed(struct app *a, const struct tmpl *t, const struct wrow *w,
    const char *why, int64_t now)
{
	struct store *s = a->store;
	struct tstate *ts = tstate_get(t->name);
	struct op_err err = { 0 };
	char reason[SCALER_REASON_MAX], d[32];
	int fails = ts ? ts->fails + 1 : 1;
	int64_t wait = scaler_backoff_ms(t, fails);

	snprintf(reason, sizeof(reason), "%s; %d failed in a row, the next try in %s", why, fails,
	    duration_format(wait, d, sizeof(d)));
	if (store_begin(s) != 0)
		return;
	if (worker_transition(s, w->id, WORKER_FAILED, 0, why, "outpostd", &err) != 0 ||
	    scaling_event(s, "provision_failed", t->name, w->name, reason) != 0 ||
	    store_commit(s) != 0) {
		store_rollback(s);
		log_error("scaler.move", "worker", w->name, "to", "failed", "error",
		    err.code ? err.message : "the database refused it", NULL);
		return;
	}
	log_warn("scaling.action", "action", "provision_failed", "template", t->name, "worker",
	    w->name, "reason", reason, NULL);
	if (ts != NULL) {
		ts->fails = fails;
		ts->last_fail_at = now;
		ts->retry_at = now + wait;
	}
}

/* Creates one worker of the template and starts making it. */
static void
provision_one(struct app *a, const struct tview *tv, const char *why, int64_t now)
{
	struct store *s = a->store;
	const struct tmpl *t = &tv->t;
	const struct prov_ops *ops = prov_ops_of(t->prov);
	char name[NAME_BUF], token[JOIN_TOKEN_BUF];
	char reason[SCALER_REASON_MAX], err_why[SCALER_WHY_MAX] = "", ref[PROC_REF_BUF] = "";
	struct op_err err = { 0 };
	struct wrow w = { 0 };
	struct worker_new wn = {
		.name = name, .tmpl = t->name, .state = WORKER_PROVISIONING,
		.health = HEALTH_OFFLINE, .cpu = t->cpu, .memory_mb = t->memory_mb,
		.slots = t->slots, .labels = tv->labels_text ? tv->labels_text : "{}", .now = now,
	};
	sqlite3_stmt *st;
	int64_t next = 1;

	if (store_begin(s) != 0)
		return;
	/* NAME-N, N one more than any before it (terminated names are not reused). */
	st = store_stmt(s, "SELECT coalesce(max(CAST(substr(name, length(?1) + 2) AS INTEGER)), "
	    "0) FROM workers WHERE name GLOB ?1 || '-[0-9]*'");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		next = sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	/* A template's name leaves room for N (bounds.h): a longer one is refused, not cut. */
	if ((size_t)snprintf(name, sizeof(name), "%s-%lld", t->name, (long long)next) >=
	    sizeof(name))
		goto rollback;
	if (ops->is_by_hand)
		snprintf(reason, sizeof(reason), "%s; waiting for an agent to register as %s", why,
		    name);
	else
		snprintf(reason, sizeof(reason), "%s; %s provisioner", why,
		    prov_type_name(t->prov));
	if (worker_insert(s, &wn, &w.id) != 0 ||
	    scaling_event(s, "provision", t->name, name, reason) != 0 || store_commit(s) != 0)
		goto rollback;
	log_info("scaling.action", "action", "provision", "template", t->name, "worker", name,
	    "reason", reason, NULL);
	snprintf(w.name, sizeof(w.name), "%s", name);
	snprintf(w.tmpl, sizeof(w.tmpl), "%s", t->name);
	w.state = WORKER_PROVISIONING;
	if (ops->is_by_hand)
		return;
	/* Its own token, bound to it from the start, revoked once the worker is gone. */
	if (store_begin(s) != 0 || auth_insert_worker(s, w.id, name, "outpostd", token,
	    sizeof(token), &w.token_id, &err) != 0 || store_commit(s) != 0) {
		if (err.code == NULL)
			store_fail(s, &err);
		store_rollback(s);
		snprintf(err_why, sizeof(err_why), "cannot make its token: %s", err.message);
	} else {
		int rc;

		auth_commit_worker(w.token_id, w.id, name, token);
		rc = ops->start(a, t, &w, token, ref, sizeof(ref), err_why, sizeof(err_why));
		if (set_token_and_ref(s, w.id, w.token_id, ref) != 0) {
			if (ref[0] != '\0')
				children_stop_ref(ref, 0, 0, -1);
			if (rc == 0)
				snprintf(err_why, sizeof(err_why), "%s", ref[0] != '\0' ?
				    "cannot record its agent's pid" :
				    "cannot record its token");
		}
	}
	explicit_bzero(token, sizeof(token));
	if (err_why[0] != '\0') {
		scaler_provision_failed(a, t, &w, err_why, now);
		if (prov_end(a, t, &w, 1, now))
			worker_finish(s, w.id, "cleaned up after its failed provision",
			    "outpostd");
	}
	return;
rollback:
	store_rollback(s);
}

/* ---- the provisions a tick asked for, one a loop turn ---- */

struct pq {
	struct pq *next;
	char tmpl[TEMPLATE_NAME_MAX + 1];
	int n;			/* still to make */
	char why[200];
};

static struct pq *pq_head;
static struct pq **pq_tail = &pq_head;
static lws_sorted_usec_list_t pq_sul;

static void
pq_pop(void)
{
	struct pq *q = pq_head;

	pq_head = q->next;
	if (pq_head == NULL)
		pq_tail = &pq_head;
	free(q);
}

static void
pq_clear(void)
{
	while (pq_head != NULL)
		pq_pop();
}

/* Makes one queued worker; what is left runs at the next turn of the loop. */
static void
provision_run(lws_sorted_usec_list_t *sul)
{
	struct app *a = the_app;
	struct pq *q = pq_head;
	struct tstate *ts;
	struct tview tv;
	int64_t now = now_ms();

	(void)sul;
	if (q == NULL)
		return;
	if (a == NULL || a->is_draining) {
		pq_clear();
		return;
	}
	assert(q->n > 0);
	ts = tstate_get(q->tmpl);
	/* A failure set a backoff, or the template is gone: the rest waits for a tick. */
	if (ts == NULL || now < ts->retry_at ||
	    scaler_load_template(a->store, q->tmpl, &tv) != 0) {
		pq_pop();
	} else {
		provision_one(a, &tv, q->why, now);
		scaler_clear_template(&tv);
		if (--q->n == 0)
			pq_pop();
	}
	if (pq_head != NULL)
		lws_sul_schedule(a->lws, 0, &pq_sul, provision_run, PROVISION_GAP_US);
}

static void
pq_add(const char *tmpl, int n, const char *why)
{
	struct pq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return;
	snprintf(q->tmpl, sizeof(q->tmpl), "%s", tmpl);
	snprintf(q->why, sizeof(q->why), "%s", why);
	q->n = n;
	*pq_tail = q;
	pq_tail = &q->next;
}

/* ---- retiring ---- */

void
scaler_retire(struct app *a, const struct wrow *w, int64_t deadline_ms, const char *action,
    const char *reason)
{
	struct store *s = a->store;
	json_t *out = NULL, *body = NULL;
	struct op_err err = { 0 };
	char t[40];

	if (store_begin(s) != 0)
		return;
	if (worker_set_retiring(s, w->id) != 0 ||
	    scaling_event(s, action, w->tmpl, w->name, reason) != 0 || store_commit(s) != 0) {
		store_rollback(s);
		return;
	}
	log_info("scaling.action", "action", action, "template", w->tmpl, "worker", w->name,
	    "reason", reason, NULL);
	if (w->state == WORKER_READY || w->state == WORKER_CORDONED) {
		/* To the millisecond: cut to the second, it would come up to 1 s early. */
		if (deadline_ms > 0)
			body = json_pack("{s:s}", "deadline",
			    time_format_ms(deadline_ms, t, sizeof(t), 1));
		if (worker_act(a, w->id, WORKER_ACT_DRAIN, body, "outpostd", &out, &err) != 0)
			log_warn("scaler.retire", "worker", w->name, "error", err.message, NULL);
		json_decref(body);
		json_decref(out);
	}
}

/* A retiring worker with nothing on it: stopped and terminated. */
static void
retire_finish(struct app *a, const struct tmpl *t, const struct wrow *w, int64_t now)
{
	if (w->state == WORKER_DRAINING || w->state == WORKER_READY ||
	    w->state == WORKER_CORDONED) {
		struct store *s = a->store;
		struct op_err err = { 0 };

		if (store_begin(s) != 0)
			return;
		if (worker_transition(s, w->id, WORKER_STOPPED, 0,
		    "drained and empty: its template scaled down", "outpostd", &err) != 0 ||
		    store_commit(s) != 0) {
			store_rollback(s);
			return;
		}
	}
	if (prov_end(a, t, w, 1, now))
		worker_finish(a->store, w->id, "scaled down: drained, stopped and deprovisioned",
		    "outpostd");
}

/* The workers to remove first: not yet registered, then the least held, newest first. */
static int
victim_cmp(const void *x, const void *y)
{
	const struct wrow *a = *(const struct wrow *const *)x, *b = *(const struct wrow *const *)y;
	int pa = a->state == WORKER_PROVISIONING, pb = b->state == WORKER_PROVISIONING;

	if (pa != pb)
		return pb - pa;
	if (a->held != b->held)
		return a->held < b->held ? -1 : 1;
	return a->id > b->id ? -1 : a->id < b->id;
}

static void
scale_down(struct app *a, struct tview *tv, struct wrow *w, size_t nw, int64_t n)
{
	struct tstate *ts = tstate_get(tv->t.name);
	struct wrow **c = calloc(nw + 1, sizeof(*c));
	size_t k = 0;

	if (c == NULL)
		return;
	for (size_t i = 0; i < nw; i++)
		if (w[i].is_live && strcmp(w[i].tmpl, tv->t.name) == 0)
			c[k++] = &w[i];
	qsort(c, k, sizeof(*c), victim_cmp);
	for (size_t i = 0; i < k && (int64_t)i < n; i++) {
		char reason[300];

		snprintf(reason, sizeof(reason), "%s has %d worker%s, desired %lld: %s %s",
		    tv->t.name, tv->live, tv->live == 1 ? "" : "s", (long long)tv->desired,
		    c[i]->state == WORKER_PROVISIONING ? "removing the not yet registered" :
		    c[i]->held == 0 ? "draining the idle" : "draining the least busy", c[i]->name);
		scaler_retire(a, c[i], ts ? ts->drain_deadline_ms : 0, "retire", reason);
		c[i]->retiring = 1;
		c[i]->is_live = 0;
		tv->live--;
		assert(tv->live >= 0);
	}
	/* The deadline of an operator's scale is for the workers that scale retired. */
	if (ts != NULL)
		ts->drain_deadline_ms = 0;
	free(c);
}

/* ---- the tick ---- */

/* What the tick counts of each template from its workers, and the backoffs they end. */
static void
count_workers(struct tview *tv, size_t nt, const struct wrow *w, size_t nw, int64_t now)
{
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = scaler_find_template(tv, nt, w[i].tmpl);
		struct tstate *ts = t ? tstate_get(t->t.name) : NULL;
		struct wstate *ws = wstate_get(w[i].id, now);

		if (ws != NULL && w[i].held > 0)
			ws->busy_at = now;
		if (t == NULL)
			continue;
		if (w[i].is_live)
			t->live++;
		if (w[i].state == WORKER_PROVISIONING && !w[i].retiring)
			t->coming++;
		/* A worker of the template registered since the last failure: no more backoff. */
		if (ts != NULL && ts->fails > 0 && w[i].state == WORKER_READY &&
		    w[i].created_at > ts->last_fail_at - t->t.provision_timeout_ms) {
			ts->fails = 0;
			ts->retry_at = 0;
		}
	}
}

/* 2. Provisions past their time fail. */
static void
fail_late(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now)
{
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = scaler_find_template(tv, nt, w[i].tmpl);
		char why[200], d[32];

		if (t == NULL || w[i].state != WORKER_PROVISIONING || w[i].retiring ||
		    now - w[i].created_at < t->t.provision_timeout_ms)
			continue;
		snprintf(why, sizeof(why), "it did not register within provision_timeout (%s)",
		    duration_format(t->t.provision_timeout_ms, d, sizeof(d)));
		scaler_provision_failed(a, &t->t, &w[i], why, now);
		w[i].state = WORKER_FAILED;
		w[i].is_live = 0;
		t->live--;
		t->coming--;
		assert(t->live >= 0 && t->coming >= 0);
		if (prov_end(a, &t->t, &w[i], 1, now))
			worker_finish(a->store, w[i].id, "cleaned up after its failed provision",
			    "outpostd");
	}
}

/* 5. Desired against live: provisions queued (made one a loop turn), or workers retired. */
static void
reconcile(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now)
{
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		int64_t want = tv[i].desired;
		char why[200];

		if (ts == NULL)
			continue;
		if (tv[i].live < want && now >= ts->retry_at) {
			int64_t n = want - tv[i].live;

			snprintf(why, sizeof(why), "%s has %d workers, desired %lld", tv[i].t.name,
			    tv[i].live, (long long)want);
			pq_add(tv[i].t.name, (int)(n < MAX_PROVISION_PER_TICK ? n :
			    MAX_PROVISION_PER_TICK), why);
		} else if (tv[i].live > want) {
			scale_down(a, &tv[i], w, nw, tv[i].live - want);
		}
	}
	/* Retiring workers with nothing left on them, and removals to try again. */
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = scaler_find_template(tv, nt, w[i].tmpl);
		struct wstate *ws = wstate_get(w[i].id, now);

		if (w[i].retiring && w[i].held == 0 &&
		    worker_state_is_live(worker_state_name(w[i].state)) &&
		    !job_running(w[i].id, JOB_DEPROVISION) &&
		    (ws == NULL || now >= ws->deprov_at)) {
			if (ws != NULL)
				ws->deprov_at = 0;
			retire_finish(a, t ? &t->t : NULL, &w[i], now);
		} else if (ws != NULL && t != NULL && (w[i].state == WORKER_FAILED ||
		    (w[i].state == WORKER_STOPPED && w[i].retiring)) &&
		    !job_running(w[i].id, JOB_DEPROVISION) &&
		    ((ws->deprov_at != 0 && now >= ws->deprov_at) ||
		    (ws->deprov_at == 0 && !ws->is_removing))) {
			/* A failed removal's next try, or one a restart interrupted. */
			ws->deprov_at = 0;
			if (prov_end(a, &t->t, &w[i], 1, now))
				worker_finish(a->store, w[i].id, "deprovisioned", "outpostd");
		}
	}
}

/* 6. The tokens of workers gone, once their agents are silent. */
static void
revoke_tokens(struct app *a, const struct wrow *w, size_t nw, int64_t now)
{
	for (size_t i = 0; i < nw; i++) {
		struct op_err err = { 0 };
		json_t *rec = NULL;

		if (w[i].state != WORKER_TERMINATED || w[i].token_id == 0 ||
		    now - w[i].last_heartbeat < a->cfg.worker_offline_after_ms)
			continue;
		if (auth_revoke(a->store, w[i].token_id, "outpostd", &rec, &err) != 0 &&
		    err.http != 404 && err.http != 409)
			continue;
		json_decref(rec);
		worker_set(a->store, "UPDATE workers SET token_id = ?1 WHERE id = ?2",
		    w[i].id, NULL, 0);
	}
}

static lws_sorted_usec_list_t kick_sul;
static int kick_queued;

static void
kick_run(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	kick_queued = 0;
	if (the_app != NULL)
		scaler_tick(the_app, now_ms());
}

void
scaler_kick(void)
{
	if (the_app == NULL || the_app->lws == NULL || kick_queued || in_tick)
		return;
	kick_queued = 1;
	lws_sul_schedule(the_app->lws, 0, &kick_sul, kick_run, 100 * LWS_US_PER_MS);
}

void
scaler_tick(struct app *a, int64_t now)
{
	struct tview *tv = NULL;
	struct wrow *w = NULL;
	size_t nt = 0, nw = 0;

	/* A restore drill's server provisions and retires nothing: its templates are a copy's. */
	if (in_tick || a->is_draining || a->cfg.drill)
		return;
	in_tick = 1;
	/* What the last tick queued and has not made yet is decided again, from the rows. */
	pq_clear();
	if (scaler_load_templates(a->store, &tv, &nt) != 0)
		goto out;
	/* 1. */
	jobs_settle(a, tv, nt, now);
	if (scaler_load_workers(a->store, "w.template IS NOT NULL AND (w.state != 'terminated' OR "
	    "w.token_id IS NOT NULL)", 0, &w, &nw) != 0)
		goto out;
	count_workers(tv, nt, w, nw, now);
	fail_late(a, tv, nt, w, nw, now);
	/* 3. */
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = scaler_find_template(tv, nt, w[i].tmpl);

		if (t != NULL && prov_ops_of(t->t.prov)->supervise != NULL)
			prov_ops_of(t->t.prov)->supervise(a, &t->t, &w[i], now);
	}
	autoscale(a, tv, nt, w, nw, now);
	reconcile(a, tv, nt, w, nw, now);
	revoke_tokens(a, w, nw, now);
out:
	free(w);
	scaler_free_templates(tv, nt);
	in_tick = 0;
	if (pq_head != NULL) {
		if (a->lws != NULL)
			lws_sul_schedule(a->lws, 0, &pq_sul, provision_run, PROVISION_GAP_US);
		else
			while (pq_head != NULL)	/* no loop (a unit test): all at once */
				provision_run(NULL);
	}
}

int
scaler_scale(struct app *a, const char *name, json_t *body, const char *actor, json_t **out,
    struct op_err *err)
{
	static const char *const fields[] = { "count", "deadline", NULL };
	int64_t count, was, deadline = 0;
	struct tstate *ts;
	char reason[200];

	*out = NULL;
	if (body == NULL) {
		op_err_set(err, 400, "invalid_argument", "count",
		    "count is required: {\"count\": 3}");
		return -1;
	}
	/* The deadline of the drains of the workers it retires, as a drain takes it. */
	if (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_int(body, "", "count", 1, 0, TEMPLATE_MAX_WORKERS, &count, err) != 0 ||
	    worker_drain_deadline(body, now_ms(), &deadline, err) != 0)
		return -1;
	snprintf(reason, sizeof(reason), "scaled to %lld by %s", (long long)count,
	    actor ? actor : "operator");
	if (template_set_desired(a->store, name, count, actor, reason, &was, err) != 0)
		return -1;
	ts = tstate_get(name);
	if (ts != NULL) {
		ts->drain_deadline_ms = deadline;
		/* The autoscaler leaves the operator's count alone for a cooldown. */
		ts->last_action_at = now_ms();
	}
	*out = template_get(a->store, name, err);
	return *out != NULL ? 0 : -1;
}

void
scaler_shutdown(void)
{
	struct tview *tv = NULL;
	struct wrow *w = NULL;
	size_t nt = 0, nw = 0;

	if (the_app == NULL || the_app->store == NULL)
		return;
	lws_sul_cancel(&kick_sul);
	lws_sul_cancel(&pq_sul);
	kick_queued = 0;
	pq_clear();
	if (scaler_load_templates(the_app->store, &tv, &nt) == 0 &&
	    scaler_load_workers(the_app->store, "w.template IS NOT NULL AND "
	    "w.provider_ref IS NOT NULL AND w.state != 'terminated'", 0, &w, &nw) == 0) {
		for (size_t i = 0; i < nw; i++) {
			struct tview *t = scaler_find_template(tv, nt, w[i].tmpl);

			if (t != NULL && prov_ops_of(t->t.prov)->shutdown != NULL)
				prov_ops_of(t->t.prov)->shutdown(&t->t, &w[i]);
		}
	}
	free(w);
	scaler_free_templates(tv, nt);
	jobs_shutdown();
}

void
scaler_free(void)
{
	pq_clear();
	jobs_free();
	while (tstates != NULL) {
		struct tstate *t = tstates;

		tstates = t->next;
		free(t);
	}
	while (wstates != NULL) {
		struct wstate *w = wstates;

		wstates = w->next;
		free(w);
	}
}
