/*
 * Events: the one source of live updates. An event is written in the same
 * transaction as the change it reports (events_append inside the caller's
 * transaction); on commit it enters an in-memory ring of the most recent
 * events and subscribers are woken. Readers take events from the ring when it
 * covers what they ask for, else from the table, so a client that reconnects
 * with an old sequence number gets exactly what it missed.
 *
 * Sequence numbers come from the table's AUTOINCREMENT key. This process is
 * the one writer but for `outpostd token create` run from a shell on the
 * host, whose token.created event is adopted (events_adopt) before this
 * process writes one after it, and within a second anyway; a rolled-back
 * insert also rolls back the sequence, so the numbers are gapless.
 *
 * Every event carries its one-line summary for people, made from its data
 * wherever the event is rendered (event_render), never by a client.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "evsummary.h"
#include "server.h"

#define RING_SIZE 8192
/* The ring also holds at most this many bytes: one event can carry a 1 MiB definition. */
#define RING_BYTES (64 * 1024 * 1024)

static struct event_row ring[RING_SIZE];	/* ring[seq % RING_SIZE] */
static int64_t ring_min = 1;			/* lowest seq the ring holds */
static size_t ring_bytes;			/* sum of the rendered events it holds */
static int64_t last_seq;
static int is_loaded;

static struct event_row *pending;
static size_t npending, cap_pending;

static void (*notify_fn)(void *);
static void *notify_arg;

void
events_set_notify(void (*fn)(void *), void *arg)
{
	notify_fn = fn;
	notify_arg = arg;
}

void
event_row_free(struct event_row *r)
{
	free(r->json);
	r->json = NULL;
}

static void
load_last_seq(struct store *s)
{
	sqlite3_stmt *st;

	if (is_loaded)
		return;
	st = store_stmt(s, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
	last_seq = (st != NULL && sqlite3_step(st) == SQLITE_ROW) ? sqlite3_column_int64(st, 0) : 0;
	if (st != NULL)
		sqlite3_reset(st);
	ring_min = last_seq + 1;
	is_loaded = 1;
}

int64_t
events_last_seq(struct store *s)
{
	load_last_seq(s);
	return last_seq;
}

void
events_ring_stats(int64_t *count, size_t *bytes)
{
	*count = is_loaded ? last_seq - ring_min + 1 : 0;
	*bytes = ring_bytes;
}

/*
 * The event as clients receive it, spliced from its parts: data_text is the
 * already-encoded data object, so each event is encoded once. Its summary
 * (evsummary.h) is made here from that text, at each render: when the event
 * is written and when it is read back from the table. So it is never stored,
 * events written before it existed have one too, and it costs one scan of
 * the data (~0.5 us for an instance's event; bench/RESULTS.md).
 */
static char *
event_render(int64_t seq, int64_t ts, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, int has_ref, const char *actor, const char *trace, const char *data_text)
{
	struct sbuf b;
	char tsbuf[40], summary[EVSUMMARY_MAX];

	sbuf_init(&b);
	sbuf_printf(&b, "{\"seq\":%lld,\"ts\":\"%s\",\"type\":", (long long)seq,
	    time_format_ms(ts, tsbuf, sizeof(tsbuf), 1));
	sbuf_json_string(&b, type);
	sbuf_puts(&b, ",\"kind\":");
	sbuf_json_string(&b, kind);
	sbuf_puts(&b, ",\"id\":");
	if (ref_str != NULL)
		sbuf_json_string(&b, ref_str);
	else if (has_ref)
		sbuf_printf(&b, "%lld", (long long)ref_int);
	else
		sbuf_puts(&b, "null");
	sbuf_puts(&b, ",\"actor\":");
	if (actor != NULL)
		sbuf_json_string(&b, actor);
	else
		sbuf_puts(&b, "null");
	/* The traceparent of the span that wrote it (a request's, a pass's): absent if none. */
	if (trace != NULL && trace[0] != '\0') {
		sbuf_puts(&b, ",\"trace\":");
		sbuf_json_string(&b, trace);
	}
	sbuf_puts(&b, ",\"summary\":");
	sbuf_json_string(&b, evsummary_write(type, data_text, strlen(data_text), summary,
	    sizeof(summary)));
	sbuf_puts(&b, ",\"data\":");
	sbuf_puts(&b, data_text);
	if (sbuf_putc(&b, '}') != 0) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}

static int append(struct store *s, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, int64_t worker_id, const char *actor, const char *data_text);
static int pending_add(struct event_row *r);
static int64_t adopted_version = -1;	/* store_outside_version() when events_adopt last looked */

/* A worker's own events concern it; others name it explicitly (events_append_worker). */
static int64_t
worker_of(const char *kind, const char *ref_str, int64_t ref_int)
{
	return ref_str == NULL && strcmp(kind, "worker") == 0 ? ref_int : 0;
}

static int
append_json(struct store *s, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, int64_t worker_id, const char *actor, json_t *data)
{
	char *dj;
	int rc;

	if (data == NULL)
		data = json_object();
	dj = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (dj == NULL)
		return -1;
	rc = append(s, type, kind, ref_str, ref_int, worker_id, actor, dj);
	free(dj);
	return rc;
}

int
events_append(struct store *s, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, const char *actor, json_t *data)
{
	return append_json(s, type, kind, ref_str, ref_int, worker_of(kind, ref_str, ref_int),
	    actor, data);
}

int
events_append_text(struct store *s, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, const char *actor, const char *data_text)
{
	return append(s, type, kind, ref_str, ref_int, worker_of(kind, ref_str, ref_int), actor,
	    data_text);
}

int
events_append_worker(struct store *s, const char *type, const char *kind, int64_t ref_int,
    int64_t worker_id, const char *actor, json_t *data)
{
	return append_json(s, type, kind, NULL, ref_int, worker_id, actor, data);
}

int
events_append_worker_text(struct store *s, const char *type, const char *kind, int64_t ref_int,
    int64_t worker_id, const char *actor, const char *data_text)
{
	return append(s, type, kind, NULL, ref_int, worker_id, actor, data_text);
}

static int
append(struct store *s, const char *type, const char *kind, const char *ref_str,
    int64_t ref_int, int64_t worker_id, const char *actor, const char *data_text)
{
	sqlite3_stmt *st;
	int64_t ts = now_ms();
	char trace[TRACEPARENT_BUF];

	traceparent_format(trace_current(), trace, sizeof(trace));
	load_last_seq(s);
	/* Another process's events first: ours must not take a number past them. */
	if (npending == 0 && events_adopt(s) < 0)
		return -1;
	st = store_stmt(s, "INSERT INTO events (ts, type, kind, ref, actor, data, worker_id, "
	    "trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	if (worker_id > 0)
		sqlite3_bind_int64(st, 7, worker_id);
	sqlite3_bind_int64(st, 1, ts);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (ref_str)
		sqlite3_bind_text(st, 4, ref_str, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 4, ref_int);
	if (actor)
		sqlite3_bind_text(st, 5, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, data_text, -1, SQLITE_STATIC);
	if (trace[0] != '\0')
		sqlite3_bind_text(st, 8, trace, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		/* No room is the store's to say, once an episode (store.full), not per write. */
		if ((sqlite3_errcode(store_db(s)) & 0xff) != SQLITE_FULL)
			log_error("events.append", "error", sqlite3_errmsg(store_db(s)), NULL);
		return -1;
	}
	{
		struct event_row row = { .seq = sqlite3_last_insert_rowid(store_db(s)), .ts = ts,
			.worker_id = worker_id };

		snprintf(row.type, sizeof(row.type), "%s", type);
		snprintf(row.kind, sizeof(row.kind), "%s", kind);
		row.json = event_render(row.seq, ts, type, kind, ref_str, ref_int, 1, actor, trace,
		    data_text);
		return pending_add(&row);
	}
}

/* Takes r (its json too); -1 after freeing it when out of memory. */
static int
pending_add(struct event_row *r)
{
	if (r->json == NULL)
		return -1;
	if (npending == cap_pending) {
		size_t ncap = cap_pending ? cap_pending * 2 : 16;
		struct event_row *np = realloc(pending, ncap * sizeof(*np));

		if (np == NULL) {
			event_row_free(r);
			return -1;
		}
		pending = np;
		cap_pending = ncap;
	}
	pending[npending++] = *r;
	return 0;
}

/*
 * Events another connection committed (outpostd token create, from a shell)
 * since this process last wrote or looked: into the ring, in order, and the
 * subscribers woken, as if committed here. O(1) when no other connection
 * committed (PRAGMA data_version did not move). Called once a second
 * (timers.c) and before the first event of each of this process's
 * transactions, so that event never takes a number past one the ring lacks.
 * 1 if it adopted any, 0 if none, -1 on an error of the store.
 */
/* Events written in the open transaction, not yet committed. */
size_t
events_pending(void)
{
	return npending;
}

int
events_adopt(struct store *s)
{
	sqlite3_stmt *st;
	int64_t v = store_outside_version(s);
	int64_t top = 0;
	int n = 0, rc;

	if (v < 0)
		return -1;
	if (v == adopted_version)
		return 0;
	if (!is_loaded) {
		adopted_version = v;
		return 0;	/* the first read of last_seq will count them */
	}
	assert(npending == 0);
	st = store_stmt(s, "SELECT seq, ts, type, kind, ref, actor, data, worker_id, trace "
	    "FROM events WHERE seq > ?1 ORDER BY seq");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, last_seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int reftype = sqlite3_column_type(st, 4);
		struct event_row row = { .seq = sqlite3_column_int64(st, 0),
			.ts = sqlite3_column_int64(st, 1), .worker_id = sqlite3_column_int64(st, 7) };

		snprintf(row.type, sizeof(row.type), "%s", (const char *)sqlite3_column_text(st, 2));
		snprintf(row.kind, sizeof(row.kind), "%s", (const char *)sqlite3_column_text(st, 3));
		row.json = event_render(row.seq, row.ts, row.type, row.kind, reftype == SQLITE_TEXT ?
		    (const char *)sqlite3_column_text(st, 4) : NULL, sqlite3_column_int64(st, 4),
		    reftype == SQLITE_INTEGER, (const char *)sqlite3_column_text(st, 5),
		    (const char *)sqlite3_column_text(st, 8),
		    (const char *)sqlite3_column_text(st, 6));
		top = row.seq;
		if (pending_add(&row) != 0) {
			sqlite3_reset(st);
			events_rolled_back(s);
			return -1;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		events_rolled_back(s);	/* looked at again next time: the version is not taken */
		return -1;
	}
	adopted_version = v;
	store_touch(s);
	if (n == 0)
		return 0;
	log_info("events.adopted", LOG_INT("count", n), "detail", "written by another process "
	    "(outpostd token create)", NULL);
	/* On disk (that process synced them): visible before the wake looks. */
	store_sync_adopted(s, top);
	events_committed(s);
	return 1;
}

void
events_committed(struct store *s)
{
	(void)s;
	if (npending == 0)
		return;
	for (size_t i = 0; i < npending; i++) {
		struct event_row *slot = &ring[pending[i].seq % RING_SIZE];

		/* The ring is indexed by seq: one that did not grow would overwrite a newer one. */
		assert(pending[i].seq > last_seq);
		if (slot->json != NULL)
			ring_bytes -= strlen(slot->json);
		event_row_free(slot);
		*slot = pending[i];
		ring_bytes += strlen(slot->json);
		last_seq = pending[i].seq;
	}
	npending = 0;
	if (last_seq - ring_min + 1 > RING_SIZE)
		ring_min = last_seq - RING_SIZE + 1;
	/* Over the byte budget, the oldest go (readers of them fall back to the table). */
	while (ring_bytes > RING_BYTES && ring_min < last_seq) {
		struct event_row *old = &ring[ring_min % RING_SIZE];

		if (old->json != NULL) {
			ring_bytes -= strlen(old->json);
			event_row_free(old);
		}
		ring_min++;
	}
	if (notify_fn)
		notify_fn(notify_arg);
}

/* Events up to seq were deleted from the table (events.prune): the ring forgets them too. */
void
events_forget(int64_t upto)
{
	while (ring_min <= upto && ring_min <= last_seq) {
		struct event_row *old = &ring[ring_min % RING_SIZE];

		if (old->json != NULL) {
			ring_bytes -= strlen(old->json);
			event_row_free(old);
		}
		ring_min++;
	}
}

void
events_rolled_back(struct store *s)
{
	(void)s;
	for (size_t i = 0; i < npending; i++)
		event_row_free(&pending[i]);
	npending = 0;
}

int
events_type_matches(const char *type, const char *const *patterns, int n)
{
	if (n == 0)
		return 1;
	for (int i = 0; i < n; i++) {
		const char *p = patterns[i];
		size_t len = strlen(p);

		if (strcmp(p, "*") == 0 || strcmp(p, type) == 0)
			return 1;
		/* "instance.*" matches "instance.state", not "instances.x" */
		if (len >= 2 && p[len - 1] == '*' && p[len - 2] == '.' &&
		    strncmp(p, type, len - 1) == 0)
			return 1;
	}
	return 0;
}

/*
 * The most an event's JSON holds beyond its data: the envelope (seq, ts, type,
 * kind, id, actor) and the summary, whose every byte may be escaped as two.
 */
#define RENDER_OVER_DATA (256 + 2 * EVSUMMARY_MAX)

/* At most this many rows are looked at per call, so a filter that matches nothing
 * cannot hold the loop for the length of the table; callers resume from scanned_to. */
#define MAX_SCAN 4096

static int
read_db(struct store *s, int64_t since, const struct event_filter *f, int max,
    size_t max_bytes, struct event_row *out, int64_t *scanned_to)
{
	int n = 0, scanned = 0, is_full = 0;
	size_t bytes = 0;
	const char *const *types = f->types;
	int ntypes = f->ntypes;

	for (;;) {
		/* A worker's events come through their index: a stream of one worker's
		 * events skips the rest of the site's without reading it. */
		sqlite3_stmt *st = f->worker_id != 0 ?
		    store_stmt(s, "SELECT seq, ts, type, kind, ref, actor, data, worker_id, trace "
		    "FROM events WHERE worker_id = ?2 AND seq > ?1 ORDER BY seq LIMIT 256") :
		    store_stmt(s, "SELECT seq, ts, type, kind, ref, actor, data, worker_id, trace "
		    "FROM events WHERE seq > ?1 ORDER BY seq LIMIT 256");
		int rows = 0;

		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, since);
		if (f->worker_id != 0)
			sqlite3_bind_int64(st, 2, f->worker_id);
		while (n < max && scanned < MAX_SCAN && sqlite3_step(st) == SQLITE_ROW) {
			int64_t seq = sqlite3_column_int64(st, 0);
			const char *type = (const char *)sqlite3_column_text(st, 2);
			const char *kind = (const char *)sqlite3_column_text(st, 3);
			const char *actor = (const char *)sqlite3_column_text(st, 5);
			int reftype = sqlite3_column_type(st, 4);
			int64_t ref_int = reftype == SQLITE_INTEGER ? sqlite3_column_int64(st, 4) : 0;
			const char *ref_str = reftype == SQLITE_TEXT ?
			    (const char *)sqlite3_column_text(st, 4) : NULL;

			const char *data = (const char *)sqlite3_column_text(st, 6);

			if (!events_type_matches(type, types, ntypes)) {
				rows++;
				scanned++;
				since = seq;
				*scanned_to = seq;
				continue;
			}
			/* The byte budget: stop before the event that would pass it (never at the first). */
			if (max_bytes > 0 && n > 0 && bytes + strlen(data) + RENDER_OVER_DATA >
			    max_bytes) {
				is_full = 1;
				break;
			}
			bytes += strlen(data) + RENDER_OVER_DATA;
			rows++;
			scanned++;
			since = seq;
			*scanned_to = seq;
			memset(&out[n], 0, sizeof(out[n]));
			out[n].seq = seq;
			out[n].ts = sqlite3_column_int64(st, 1);
			out[n].worker_id = sqlite3_column_int64(st, 7);
			snprintf(out[n].type, sizeof(out[n].type), "%s", type);
			snprintf(out[n].kind, sizeof(out[n].kind), "%s", kind);
			out[n].json = event_render(seq, out[n].ts, type, kind, ref_str, ref_int,
			    reftype == SQLITE_INTEGER, actor,
			    (const char *)sqlite3_column_text(st, 8), data);
			if (out[n].json != NULL)
				n++;
		}
		sqlite3_reset(st);
		/* Through the worker index, a short page means nothing of it is left up to last_seq. */
		if (f->worker_id != 0 && !is_full && n < max && rows < 256)
			*scanned_to = last_seq;
		if (is_full || n >= max || rows < 256 || scanned >= MAX_SCAN)
			break;
	}
	return n;
}

static int
row_matches(const struct event_row *r, const struct event_filter *f)
{
	if (f->worker_id != 0 && r->worker_id != f->worker_id)
		return 0;
	return events_type_matches(r->type, f->types, f->ntypes);
}

/*
 * O(events scanned). From the ring when it holds since+1, else from the
 * table; *scanned_to is the last sequence number looked at, matched or not,
 * so a filtered reader resumes from there.
 */
int
events_read(struct store *s, int64_t since, const struct event_filter *f, int max,
    size_t max_bytes, struct event_row *out, int64_t *scanned_to)
{
	size_t bytes = 0;
	int n = 0;

	load_last_seq(s);
	/* A reader ahead of the log (a since from another database) resumes from its end. */
	*scanned_to = since < last_seq ? since : last_seq;
	if (since >= last_seq)
		return 0;
	if (since + 1 < ring_min)
		return read_db(s, since, f, max, max_bytes, out, scanned_to);
	for (int64_t seq = since + 1; seq <= last_seq && n < max && seq - since <= MAX_SCAN; seq++) {
		const struct event_row *r = &ring[seq % RING_SIZE];
		size_t len;

		/* Never a hole (events_adopt): were there one, the table has the truth. */
		if (r->json == NULL || r->seq != seq) {
			log_error("events.ring", "error", "the ring lacks an event; read from the table",
			    NULL);
			for (int i = 0; i < n; i++)
				event_row_free(&out[i]);
			*scanned_to = since;
			return read_db(s, since, f, max, max_bytes, out, scanned_to);
		}

		if (!row_matches(r, f)) {
			*scanned_to = seq;
			continue;
		}
		len = strlen(r->json);
		if (max_bytes > 0 && n > 0 && bytes + len > max_bytes)
			break;
		bytes += len;
		*scanned_to = seq;
		out[n] = *r;
		out[n].json = strdup(r->json);
		if (out[n].json == NULL)
			return -1;
		n++;
	}
	return n;
}

void
events_shutdown(void)
{
	for (size_t i = 0; i < RING_SIZE; i++)
		event_row_free(&ring[i]);
	ring_bytes = 0;
	events_rolled_back(NULL);
	free(pending);
	pending = NULL;
	cap_pending = 0;
	is_loaded = 0;
	adopted_version = -1;
}
