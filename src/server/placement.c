/*
 * The scheduler's pass over the store: in one transaction it reads the
 * workers that take new instances and the pending instances that are due
 * (their slot starts within lead_time), hands both to sched_place()
 * (scheduler.c, pure), and writes each placement back, pending → scheduled,
 * with its transition row and an instance.state event giving its reason.
 * Also the explanation of one instance's placement for
 * GET /api/v1/instances/{id}/placement.
 *
 * Cost: one indexed read of the due instances and one of the workers
 * (capacity less what their instances hold, summed in one grouped query), the
 * placement at O((n + m·k) log m), and three statements per placement. Label
 * sets are read once per definition version per pass, not once per instance.
 * Strings copied out of statements live in an arena freed with the pass, so a
 * pass of 10,000 instances makes a handful of allocations, not 10,000. When
 * no worker has room for any instance, the due instances are not read at all.
 *
 * It never waits on anything but SQLite, and never runs inside a request.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* At most this many due instances are considered in one pass; the next pass takes the rest. */
#define PASS_MAX 100000

/* ---- an arena for one pass ---- */

struct block {
	struct block *next;
	size_t used;
	size_t cap;
	char data[];
};

struct arena {
	struct block *head;
};

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct block *b = a->head;

	n = (n + 7) & ~(size_t)7;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > 60000 ? n : 60000;

		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static const char *
arena_dup(struct arena *a, const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	p = arena_alloc(a, n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static void
arena_free(struct arena *a)
{
	struct block *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

/* ---- labels ---- */

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/*
 * A labels object's text ({"k":"v",...}) as sorted "k=v" strings in the
 * arena; with is_contained, SCHED_CONTAINED among them (a worker that
 * contains, a definition that requires it).
 */
static int
labels_parse(struct arena *a, const char *text, int is_contained, const char *const **out,
    int *n)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	size_t size = o != NULL && json_is_object(o) ? json_object_size(o) : 0;
	const char **v;
	const char *k;
	json_t *val;
	int i = 0;

	*out = NULL;
	*n = 0;
	if (size == 0 && !is_contained) {
		json_decref(o);
		return 0;
	}
	v = arena_alloc(a, (size + 1) * sizeof(*v));
	if (v == NULL) {
		json_decref(o);
		return -1;
	}
	if (is_contained)
		v[i++] = SCHED_CONTAINED;
	json_object_foreach(o, k, val) {
		size_t len = strlen(k) + strlen(json_string_value(val) ? json_string_value(val) : "") + 2;
		char *p = arena_alloc(a, len);

		if (p == NULL) {
			json_decref(o);
			return -1;
		}
		snprintf(p, len, "%s=%s", k, json_string_value(val) ? json_string_value(val) : "");
		v[i++] = p;
	}
	json_decref(o);
	qsort(v, (size_t)i, sizeof(*v), cmp_str);
	*out = v;
	*n = i;
	return 0;
}

/* The label sets of definition versions, read once each per pass. */
#define LSET_BUCKETS 256

struct lset {
	const char *name;
	int64_t version;
	const char *const *labels;
	int n;
	struct lset *next;
};

struct lsets {
	struct lset *bucket[LSET_BUCKETS];
};

static unsigned
lset_hash(const char *name, int64_t version)
{
	unsigned h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return (h ^ (unsigned)version) % LSET_BUCKETS;
}

static const struct lset *
lset_get(struct store *s, struct arena *a, struct lsets *ls, const char *name, int64_t version)
{
	unsigned h = lset_hash(name, version);
	sqlite3_stmt *st;
	struct lset *e;
	int rc;

	for (e = ls->bucket[h]; e != NULL; e = e->next)
		if (e->version == version && strcmp(e->name, name) == 0)
			return e;
	e = arena_alloc(a, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->name = arena_dup(a, name);
	e->version = version;
	st = store_stmt(s, "SELECT json_extract(body, '$.labels'), "
	    "coalesce(json_extract(body, '$.containment'), '') = 'required' FROM definitions "
	    "WHERE name = ? AND version = ?");
	if (st == NULL || e->name == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = labels_parse(a, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int(st, 1), &e->labels, &e->n);
	else
		rc = labels_parse(a, NULL, 0, &e->labels, &e->n);
	sqlite3_reset(st);
	if (rc != 0)
		return NULL;
	e->next = ls->bucket[h];
	ls->bucket[h] = e;
	return e;
}

/* ---- workers ---- */

struct worker_set {
	struct sched_worker *w;
	size_t n;
};

/*
 * The workers, each with its free capacity (capacity less what its instances
 * in holding states take). takers_only: only those that take new instances
 * (ready and online); else every worker but the terminated ones.
 */
static int
workers_load(struct store *s, struct arena *a, int takers_only, struct worker_set *ws)
{
	static char sql[2][1024];
	char *q = sql[takers_only ? 1 : 0];
	sqlite3_stmt *st;
	size_t cap = 0;

	if (q[0] == '\0')
		snprintf(q, sizeof(sql[0]), "SELECT w.id, w.name, w.state, w.health, w.cpu, "
		    "w.memory_mb, w.slots, w.labels, coalesce(a.cpu, 0), coalesce(a.mem, 0), "
		    "coalesce(a.n, 0), w.isolation != 'none' FROM workers w LEFT JOIN (SELECT "
		    "worker_id, sum(cpu) AS cpu, sum(memory_mb) AS mem, count(*) AS n FROM instances "
		    "WHERE state IN (%s) AND worker_id IS NOT NULL GROUP BY worker_id) a "
		    "ON a.worker_id = w.id WHERE %s ORDER BY w.id", inst_holding_sql(), takers_only ?
		    "w.state = 'ready' AND w.health = 'online'" : "w.state != 'terminated'");
	st = store_stmt(s, q);
	ws->n = 0;
	ws->w = NULL;
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct sched_worker *w;
		enum worker_state state;
		enum worker_health health;

		if (array_grow(&ws->w, &cap, ws->n, sizeof(*ws->w)) != 0)
			goto fail;
		if (worker_state_parse((const char *)sqlite3_column_text(st, 2), &state) != 0 ||
		    worker_health_parse((const char *)sqlite3_column_text(st, 3), &health) != 0)
			continue;
		w = &ws->w[ws->n];
		memset(w, 0, sizeof(*w));
		w->id = sqlite3_column_int64(st, 0);
		w->name = arena_dup(a, (const char *)sqlite3_column_text(st, 1));
		w->state = state;
		w->health = health;
		w->free_cpu = sqlite3_column_int64(st, 4) - sqlite3_column_int64(st, 8);
		w->free_memory_mb = sqlite3_column_int64(st, 5) - sqlite3_column_int64(st, 9);
		w->free_slots = sqlite3_column_int64(st, 6) - sqlite3_column_int64(st, 10);
		if (w->name == NULL || labels_parse(a, (const char *)sqlite3_column_text(st, 7),
		    sqlite3_column_int(st, 11), &w->labels, &w->nlabels) != 0)
			goto fail;
		/* A worker re-registered with less capacity than its instances hold has none free. */
		if (w->free_cpu < 0)
			w->free_cpu = 0;
		if (w->free_memory_mb < 0)
			w->free_memory_mb = 0;
		if (w->free_slots < 0)
			w->free_slots = 0;
		ws->n++;
	}
	sqlite3_reset(st);
	return 0;
fail:
	sqlite3_reset(st);
	return -1;
}

/* ---- the pass ---- */

/*
 * Can any worker take an instance at all? Every instance takes a slot, and at
 * least one cpu and one MB (definitions ask for 1 or more of each). O(workers).
 */
static int
has_room(const struct worker_set *ws)
{
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].free_slots >= 1 && ws->w[i].free_cpu >= 1 && ws->w[i].free_memory_mb >= 1)
			return 1;
	return 0;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
placement_reason(struct sbuf *b, enum sched_policy policy, const char *worker,
    const struct sched_instance *in)
{
	sbuf_printf(b, "%s: %s is the %s worker that fits (cpu %lld, memory %lld MB",
	    sched_policy_name(policy), worker, policy == SCHED_SPREAD ? "emptiest" : "fullest",
	    (long long)in->cpu, (long long)in->memory_mb);
	for (int i = 0; i < in->nlabels; i++) {
		int is_first = i == 0 || strcmp(in->labels[i - 1], SCHED_CONTAINED) == 0;

		if (strcmp(in->labels[i], SCHED_CONTAINED) == 0)
			sbuf_puts(b, ", contained");
		else
			sbuf_printf(b, "%s%s", is_first ? ", labels " : ",", in->labels[i]);
	}
	sbuf_putc(b, ')');
}

/*
 * With spans exported (otlp.c): the placement's span, a child of the span the
 * instance's trace names (its creator's), in the pass's transaction; that
 * span becomes the instance's trace, the one its agent's hooks continue. Two
 * statements more per placement, and none when no span is exported.
 */
static int
placement_trace(struct store *s, int64_t id, const char *worker, const struct span *pass,
    struct span *sp)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT trace FROM instances WHERE id = ?");
	struct trace_ctx parent = { 0 };
	const char *t;
	char tp[TRACEPARENT_BUF];
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (t = (const char *)sqlite3_column_text(st, 0)) != NULL)
		traceparent_parse(t, strlen(t), &parent);
	sqlite3_reset(st);
	span_begin(sp, "placement", SPAN_INTERNAL, &parent);
	span_int(sp, "outpost.instance_id", id);
	span_str(sp, "outpost.worker", worker);
	span_str(sp, "outpost.pass_trace_id", trace_id_hex(&pass->ctx, tp, sizeof(tp)));
	st = store_stmt(s, "UPDATE instances SET trace = ? WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, traceparent_format(&sp->ctx, tp, sizeof(tp)), -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/*
 * Writes one placement in the pass's transaction: the row, its transition and its event.
 * Like every change of an instance's state it is the state machine's to allow (a few
 * comparisons: the pass's cost does not move, bench/RESULTS.md).
 */
static int
write_placement(struct store *s, struct inst_row *r, const struct sched_worker *w,
    const char *reason, int64_t now, struct sbuf *one, struct sbuf *data, const struct span *pass)
{
	struct span sp;
	int rc;
	sqlite3_stmt *st = store_stmt(s, "UPDATE instances SET state = 'scheduled', worker_id = ?, "
	    "attempt = attempt + 1, state_reason = ?, updated_at = ? WHERE id = ? AND state = 'pending'");
	int is_allowed = inst_transition_check(INST_PENDING, INST_SCHEDULED, ACTOR_SCHEDULER, NULL,
	    0) == 0;

	assert(is_allowed);
	if (st == NULL || !is_allowed)
		return -1;
	sqlite3_bind_int64(st, 1, w->id);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, r->id);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(store_db(s)) != 1)
		return -1;
	counts_move(s, INST_PENDING, INST_SCHEDULED, 1);
	if (instance_add_transition(s, r->id, "pending", "scheduled", reason, "outpostd", now) != 0)
		return -1;
	r->state = "scheduled";
	r->state_reason = reason;
	r->worker = w->name;
	r->worker_id = w->id;
	r->updated_at = now;
	r->attempt++;
	sbuf_reset(one);
	instance_write(one, r);
	sbuf_reset(data);
	sbuf_puts(data, "{\"from\":\"pending\",\"to\":\"scheduled\",\"reason\":");
	sbuf_json_string(data, reason);
	sbuf_puts(data, ",\"instance\":");
	sbuf_append(data, one->p, one->len);
	if (sbuf_putc(data, '}') != 0)
		return -1;
	if (!otlp_is_on())
		return events_append_worker_text(s, "instance.state", "instance", r->id, w->id,
		    "outpostd", data->p);
	/* Its event carries the placement's span, as its agent's work does. */
	if (placement_trace(s, r->id, w->name, pass, &sp) != 0)
		return -1;
	trace_set_current(&sp.ctx);
	rc = events_append_worker_text(s, "instance.state", "instance", r->id, w->id, "outpostd",
	    data->p);
	trace_set_current(NULL);
	span_end(&sp);
	return rc;
}

/*
 * Due: the slot starts within the lead time (?1 = now + lead_time) and has not
 * ended (?2 = now; pool instances have no real slot). Instances for people
 * first, then the pool; each by its slot; at most ?3.
 */
#define DUE_WHERE "i.state = 'pending' AND i.timeslot_start <= ?1 AND " \
	"(i.timeslot_end > ?2 OR i.pool = 1) ORDER BY i.pool, i.timeslot_start, i.id LIMIT ?3"

/* DUE_WHERE's parameters: the lead time's end, now, and at most PASS_MAX of them. */
static void
due_bind(sqlite3_stmt *st, int64_t now, int64_t lead_time)
{
	sqlite3_bind_int64(st, 1, now + lead_time);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, PASS_MAX);
}

int
sched_pass(struct store *s, int64_t now, enum sched_policy policy, int64_t lead_time,
    struct sched_pass_result *res)
{
	sqlite3_stmt *st;
	struct arena a = { 0 };
	struct lsets *ls = NULL;
	struct worker_set ws = { 0 };
	struct inst_row *rows = NULL;
	struct sched_instance *in = NULL;
	struct sched_stats stats;
	struct sbuf one, data, reason;
	struct timespec t0;
	struct span pass;
	size_t n = 0, cap = 0;
	int rc = -1, is_open = 0, has_fk_off = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	span_begin(&pass, "scheduler.pass", SPAN_INTERNAL, NULL);
	memset(res, 0, sizeof(*res));
	sbuf_init(&one);
	sbuf_init(&data);
	sbuf_init(&reason);
	ls = calloc(1, sizeof(*ls));
	/*
	 * The pass writes only references it read in its own transaction, on the
	 * only connection: each worker id from the workers it loaded, each
	 * instance id from the instances it loaded. The foreign-key checks that
	 * would prove it again cost more than the writes (an immediate check
	 * keeps a statement journal, a copy of every page each statement touches;
	 * a deferred one still looks each parent up: 2x the pass, see
	 * bench/RESULTS.md), so they are off for the pass alone. SQLite allows
	 * the switch only outside a transaction, which is where it is made, and
	 * it is turned back on at every way out.
	 */
	store_settle(s);
	if (ls == NULL || sqlite3_exec(store_db(s), "PRAGMA foreign_keys = OFF", NULL, NULL,
	    NULL) != SQLITE_OK)
		goto out;
	has_fk_off = 1;
	if (store_begin(s) != 0)
		goto out;
	is_open = 1;
	if (workers_load(s, &a, 1, &ws) != 0)
		goto out;
	res->workers = ws.n;
	/*
	 * A full site: nothing can be placed, so the due instances are not read
	 * (on a busy site every commit kicks a pass, and each would read them all).
	 */
	if (!has_room(&ws)) {
		store_rollback(s);
		is_open = 0;
		goto next_due;
	}
	st = store_stmt(s, "SELECT " INST_COLUMNS " FROM instances i INDEXED BY instances_due "
	    "LEFT JOIN workers w ON w.id = i.worker_id WHERE " DUE_WHERE);
	if (st == NULL)
		goto out;
	due_bind(st, now, lead_time);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct lset *l;
		struct inst_row *r;

		/* Two arrays of one length: the second grows to the first's new room. */
		if (n == cap) {
			size_t rcap = cap;

			if (array_grow(&rows, &rcap, n, sizeof(*rows)) != 0 ||
			    array_grow(&in, &cap, n, sizeof(*in)) != 0)
				goto fail_step;
		}
		r = &rows[n];
		inst_row_from_stmt(st, r);
		r->definition = arena_dup(&a, r->definition);
		r->owner = arena_dup(&a, r->owner);
		r->state_reason = NULL;
		r->grade = arena_dup(&a, r->grade);
		r->exit = arena_dup(&a, r->exit);
		l = lset_get(s, &a, ls, r->definition ? r->definition : "", r->definition_version);
		if (r->definition == NULL || r->owner == NULL || l == NULL)
			goto fail_step;
		memset(&in[n], 0, sizeof(in[n]));
		in[n].id = r->id;
		in[n].cpu = r->cpu;
		in[n].memory_mb = r->memory_mb;
		in[n].labels = l->labels;
		in[n].nlabels = l->n;
		n++;
	}
	sqlite3_reset(st);
	res->due = n;
	res->read_s = seconds_since(&t0);
	if (sched_place(ws.w, ws.n, in, n, policy, &stats) != 0)
		goto out;
	res->place_s = seconds_since(&t0) - res->read_s;
	res->placed = stats.placed;
	res->unplaced = stats.unplaced;
	for (size_t i = 0; i < n; i++) {
		if (in[i].worker < 0)
			continue;
		sbuf_reset(&reason);
		placement_reason(&reason, policy, ws.w[in[i].worker].name, &in[i]);
		if (reason.p == NULL || write_placement(s, &rows[i], &ws.w[in[i].worker], reason.p,
		    now, &one, &data, &pass) != 0) {
			log_error("sched.write", "error", sqlite3_errmsg(store_db(s)), NULL);
			goto out;
		}
	}
	res->write_s = seconds_since(&t0) - res->read_s - res->place_s;
	/* Nothing placed, nothing written: no commit, so the data version and every ETag stay. */
	if (stats.placed == 0) {
		store_rollback(s);
		is_open = 0;
	} else {
		is_open = 0;
		if (store_commit(s) != 0)
			goto out;
	}
	res->commit_s = seconds_since(&t0) - res->read_s - res->place_s - res->write_s;
next_due:
	sqlite3_exec(store_db(s), "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	has_fk_off = 0;
	/* When the next pending instance becomes due, for the caller's timer. */
	st = store_stmt(s, "SELECT min(timeslot_start) FROM instances INDEXED BY instances_due "
	    "WHERE state = 'pending' AND timeslot_start > ?");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, now + lead_time);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			res->next_due_at = sqlite3_column_int64(st, 0) - lead_time;
		sqlite3_reset(st);
	}
	rc = 0;
	goto out;
fail_step:
	sqlite3_reset(st);
out:
	if (is_open)
		store_rollback(s);
	if (has_fk_off)
		sqlite3_exec(store_db(s), "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	res->seconds = seconds_since(&t0);
	/* A pass that found nothing due is not news: only those that looked at instances. */
	if (n > 0) {
		span_int(&pass, "outpost.due", (int64_t)n);
		span_int(&pass, "outpost.placed", (int64_t)res->placed);
		span_int(&pass, "outpost.workers", (int64_t)res->workers);
		pass.is_error = rc != 0;
		span_end(&pass);
	}
	free(rows);
	free(in);
	free(ws.w);
	free(ls);
	arena_free(&a);
	sbuf_free(&one);
	sbuf_free(&data);
	sbuf_free(&reason);
	return rc;
}

/* ---- one instance's explanation ---- */

/* The reason and time of the instance's last placement, from its transitions. */
static json_t *
last_placement(struct store *s, int64_t id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT reason, at FROM transitions WHERE instance_id = ? "
	    "AND (to_state = 'scheduled' OR (from_state = 'warm' AND to_state = 'running')) "
	    "ORDER BY id DESC LIMIT 1");
	json_t *j = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		j = json_pack("{s:s?, s:o}", "reason", (const char *)sqlite3_column_text(st, 0),
		    "at", json_time(sqlite3_column_int64(st, 1)));
	sqlite3_reset(st);
	return j;
}

/*
 * Where the instance is and why; for a pending one, why no worker takes it,
 * worker by worker, as the scheduler would see it now. O(workers).
 */
json_t *
instance_placement(struct store *s, int64_t id, int64_t now, int64_t lead_time,
    struct op_err *err)
{
	sqlite3_stmt *st = store_row(s, "SELECT " INST_COLUMNS INST_FROM "WHERE i.id = ?", id,
	    "instance", err);
	struct arena a = { 0 };
	struct lsets *ls = NULL;
	struct worker_set ws = { 0 };
	struct sched_instance in = { 0 };
	const struct lset *l;
	struct inst_row r;
	struct sbuf b;
	json_t *out = NULL, *workers, *last;
	char state[24], worker[64] = "", def[80];
	int64_t due_at, slot_end;
	int is_pool;

	if (st == NULL)
		return NULL;
	inst_row_from_stmt(st, &r);
	snprintf(state, sizeof(state), "%s", r.state);
	if (r.worker != NULL)
		snprintf(worker, sizeof(worker), "%s", r.worker);
	snprintf(def, sizeof(def), "%s", r.definition);
	in.id = r.id;
	in.cpu = r.cpu;
	in.memory_mb = r.memory_mb;
	due_at = r.timeslot_start - lead_time;
	slot_end = r.timeslot_end;
	is_pool = r.is_pool;
	sqlite3_reset(st);
	sbuf_init(&b);
	if (strcmp(state, "pending") != 0) {
		last = last_placement(s, id);
		if (worker[0] != '\0')
			sbuf_printf(&b, "on %s", worker);
		else
			sbuf_puts(&b, "not on a worker");
		if (last != NULL && json_string_value(json_object_get(last, "reason")) != NULL) {
			const char *why = json_string_value(json_object_get(last, "reason"));

			/* "binpack: ..." was a placement; "claimed from the warm pool ..." a claim. */
			sbuf_printf(&b, "; %s%s", strncmp(why, "claimed", 7) == 0 ? "" : "placed by ", why);
		}
		out = json_pack("{s:I, s:s, s:b, s:s?, s:s, s:O?, s:[]}", "id", (json_int_t)id,
		    "state", state, "placed", worker[0] != '\0', "worker", worker[0] ? worker : NULL,
		    "summary", b.p ? b.p : "", "placed_at", last ? json_object_get(last, "at") : NULL,
		    "workers");
		json_decref(last);
		sbuf_free(&b);
		return out;
	}
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL || workers_load(s, &a, 0, &ws) != 0 ||
	    (l = lset_get(s, &a, ls, def, r.definition_version)) == NULL) {
		store_fail(s, err);
		goto done;
	}
	in.labels = l->labels;
	in.nlabels = l->n;
	if (now < due_at) {
		char t[40], d[32];

		sbuf_printf(&b, "not due yet: the scheduler places it from %s (%s before its slot "
		    "starts)", time_format_ms(due_at, t, sizeof(t), 0),
		    duration_format(lead_time, d, sizeof(d)));
	} else if (slot_end <= now && !is_pool) {
		sbuf_puts(&b, "its slot ended before a worker took it");
	} else {
		sbuf_puts(&b, "waiting for a worker: ");
		sched_explain(ws.w, ws.n, &in, &b);
	}
	workers = json_array();
	for (size_t k = 0; k < ws.n; k++) {
		char why[200];

		sched_worker_reason(&ws.w[k], &in, why, sizeof(why));
		json_array_append_new(workers, json_pack("{s:s, s:s, s:s, s:b, s:s}",
		    "worker", ws.w[k].name, "state", worker_state_name(ws.w[k].state),
		    "health", worker_health_name(ws.w[k].health), "fits",
		    sched_worker_may_take(&ws.w[k], &in) && ws.w[k].free_cpu >= in.cpu &&
		    ws.w[k].free_memory_mb >= in.memory_mb && ws.w[k].free_slots >= 1,
		    "reason", why));
	}
	out = json_pack("{s:I, s:s, s:b, s:n, s:s, s:o, s:o}", "id", (json_int_t)id, "state", state,
	    "placed", 0, "worker", "summary", b.p ? b.p : "", "due_at", json_time(due_at),
	    "workers", workers);
done:
	free(ws.w);
	free(ls);
	arena_free(&a);
	sbuf_free(&b);
	return out;
}

/*
 * The autoscaler's question: of the pending instances due now, which fit no
 * worker the site has or is making, and how many new workers of each
 * template would take them? The due instances are placed (binpack, as a
 * dry run: nothing is written) first onto the workers that take new
 * instances and the ones being provisioned (t[i].coming, counted at their
 * template's full capacity), then what is left onto up to t[i].room new
 * workers of each template; t[i].add is how many of those were used, and
 * need_* what they took. Binpack fills the fullest worker that fits, so
 * empty new workers are opened one at a time, the smallest that fits first.
 */
int
sched_demand(struct store *s, int64_t now, int64_t lead_time, struct demand_tmpl *t, size_t nt,
    struct demand_result *res)
{
	struct arena a = { 0 };
	struct lsets *ls = calloc(1, sizeof(*ls));
	struct worker_set ws = { 0 };
	struct sched_worker *all = NULL;
	struct sched_instance *in = NULL, *left = NULL;
	struct sched_stats stats;
	size_t n = 0, cap = 0, nall = 0, nleft = 0, *owner = NULL, base;
	sqlite3_stmt *st;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < nt; i++) {
		t[i].add = 0;
		t[i].need_cpu = t[i].need_memory_mb = 0;
		t[i].need_n = 0;
	}
	if (ls == NULL || workers_load(s, &a, 1, &ws) != 0)
		goto out;
	for (size_t i = 0; i < ws.n; i++) {
		res->free_cpu += ws.w[i].free_cpu;
		res->free_memory_mb += ws.w[i].free_memory_mb;
	}
	st = store_stmt(s, "SELECT i.id, i.definition, i.definition_version, i.cpu, i.memory_mb "
	    "FROM instances i INDEXED BY instances_due WHERE " DUE_WHERE);
	if (st == NULL)
		goto out;
	due_bind(st, now, lead_time);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct lset *l = lset_get(s, &a, ls, (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int64(st, 2));

		if (l == NULL || array_grow(&in, &cap, n, sizeof(*in)) != 0) {
			sqlite3_reset(st);
			goto out;
		}
		memset(&in[n], 0, sizeof(in[n]));
		in[n].id = sqlite3_column_int64(st, 0);
		in[n].cpu = sqlite3_column_int64(st, 3);
		in[n].memory_mb = sqlite3_column_int64(st, 4);
		in[n].labels = l->labels;
		in[n].nlabels = l->n;
		n++;
	}
	sqlite3_reset(st);
	res->due = n;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	/* Room for what there is, what is coming, and what could be added. */
	nall = ws.n;
	for (size_t i = 0; i < nt; i++)
		nall += (size_t)t[i].coming + (size_t)t[i].room;
	all = calloc(nall, sizeof(*all));
	owner = calloc(nall, sizeof(*owner));
	left = calloc(n, sizeof(*left));
	if (all == NULL || owner == NULL || left == NULL)
		goto out;
	if (ws.n > 0)
		memcpy(all, ws.w, ws.n * sizeof(*all));
	nall = ws.n;
	for (size_t i = 0; i < nt; i++) {
		const char *const *lv;
		int nl;

		if (labels_parse(&a, t[i].labels_text, 0, &lv, &nl) != 0)
			goto out;
		t[i].labels = lv;
		t[i].nlabels = nl;
		for (int k = 0; k < t[i].coming; k++, nall++) {
			all[nall] = (struct sched_worker){ .id = -1, .name = t[i].name,
				.state = WORKER_READY, .health = HEALTH_ONLINE, .free_cpu = t[i].cpu,
				.free_memory_mb = t[i].memory_mb, .free_slots = t[i].slots,
				.labels = lv, .nlabels = nl };
			owner[nall] = SIZE_MAX;
		}
	}
	if (sched_place(all, nall, in, n, SCHED_BINPACK, &stats) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (in[i].worker < 0)
			left[nleft++] = in[i];
	res->unplaced_now = nleft;
	if (nleft == 0) {
		rc = 0;
		goto out;
	}
	/* The new workers each template could add, after what is and what comes. */
	base = nall;
	for (size_t i = 0; i < nt; i++) {
		for (int k = 0; k < t[i].room; k++, nall++) {
			all[nall] = (struct sched_worker){ .id = -2 - (int64_t)k, .name = t[i].name,
				.state = WORKER_READY, .health = HEALTH_ONLINE, .free_cpu = t[i].cpu,
				.free_memory_mb = t[i].memory_mb, .free_slots = t[i].slots,
				.labels = t[i].labels, .nlabels = t[i].nlabels };
			owner[nall] = i;
		}
	}
	if (sched_place(all, nall, left, nleft, SCHED_BINPACK, &stats) != 0)
		goto out;
	{
		unsigned char *used = calloc(nall - base + 1, 1);

		if (used == NULL)
			goto out;
		for (size_t i = 0; i < nleft; i++) {
			size_t w = left[i].worker < 0 ? SIZE_MAX : (size_t)left[i].worker;

			if (w == SIZE_MAX || w < base) {
				if (w == SIZE_MAX)
					res->unfit++;
				continue;
			}
			t[owner[w]].need_cpu += left[i].cpu;
			t[owner[w]].need_memory_mb += left[i].memory_mb;
			t[owner[w]].need_n++;
			if (!used[w - base]) {
				used[w - base] = 1;
				t[owner[w]].add++;
			}
		}
		free(used);
	}
	rc = 0;
out:
	free(ws.w);
	free(all);
	free(owner);
	free(in);
	free(left);
	free(ls);
	arena_free(&a);
	return rc;
}
