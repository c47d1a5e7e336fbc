/*
 * Instances' logs: the output of their hooks (stdout and stderr as they
 * came), sent by agents in chunks and kept per instance, attempt, hook and
 * byte offset. A chunk sent twice (its answer was lost) is kept once. The
 * log of one instance is bounded: past LOG_MAX bytes a note says so and the
 * rest is dropped; the agent bounds each hook's output too. The bytes kept
 * are counted in instances.log_bytes as chunks are kept, so a chunk costs the
 * same however long the log already is.
 *
 * Log writes change no answer the response cache holds (the log route is
 * never cached), so they commit without moving the data version: a site's
 * running hooks do not empty the cache every few seconds.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define LOG_MAX (1024 * 1024)		/* text kept per instance */
#define LOG_CHUNK_MAX (256 * 1024)	/* one chunk */
#define LOG_PAGE_MAX (4 * 1024 * 1024)	/* one page of GET .../log */

static int
is_hook(const char *h)
{
	enum hook x;

	return hook_parse(h, &x) == 0;
}

/* Cuts at most n bytes of s without splitting a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Keeps a chunk, unless one is kept at its offset already, and counts its bytes. */
static int
insert_chunk(struct store *s, int64_t id, int64_t attempt, const char *hook, int64_t offset,
    const char *text, size_t len, int64_t now, int *is_new)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT OR IGNORE INTO instance_logs (instance_id, "
	    "attempt, hook, offset, at, text) VALUES (?, ?, ?, ?, ?, ?)");

	*is_new = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, attempt);
	sqlite3_bind_text(st, 3, hook, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, offset);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, text, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	if (sqlite3_changes(store_db(s)) == 0)
		return 0;
	*is_new = 1;
	st = store_stmt(s, "UPDATE instances SET log_bytes = log_bytes + ? WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)len);
	sqlite3_bind_int64(st, 2, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/*
 * {name, attempt, hook, offset, text}: a chunk of a hook's output from the
 * agent of worker name. *stored is how many bytes were kept (0 for a chunk
 * already kept, or past the bound).
 */
int
instance_log_append(struct store *s, int64_t id, json_t *in, int64_t *stored, struct op_err *err)
{
	static const char *const fields[] = { "name", "attempt", "hook", "offset", "text", NULL };
	const char *name, *hook, *text;
	int64_t attempt, offset, total = 0, wid, now = now_ms();
	size_t len;
	sqlite3_stmt *st;
	int is_new;

	*stored = 0;
	err->code = NULL;
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0 ||
	    jsonv_int(in, "", "attempt", 1, 1, INT32_MAX, &attempt, err) != 0 ||
	    jsonv_string(in, "", "hook", 1, 1, 32, &hook, err) != 0 ||
	    jsonv_int(in, "", "offset", 1, 0, INT64_MAX / 2, &offset, err) != 0 ||
	    jsonv_string(in, "", "text", 1, 0, LOG_CHUNK_MAX, &text, err) != 0)
		return -1;
	if (!is_hook(hook)) {
		char hooks[64];

		op_err_set(err, 400, "invalid_argument", "hook", "hook must be %s",
		    hook_names_text(hooks, sizeof(hooks)));
		return -1;
	}
	len = strlen(text);
	if (len == 0)
		return 0;
	if (agent_worker(s, name, &wid, err) != 0)
		return -1;
	if (store_begin(s) != 0) {
		store_fail(s, err);
		return -1;
	}
	st = store_stmt(s, "SELECT log_bytes, attempt, coalesce(worker_id, 0) FROM instances "
	    "WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		op_err_set(err, 404, "not_found", "id", "no instance with id %lld", (long long)id);
		goto fail;
	}
	total = sqlite3_column_int64(st, 0);
	if (attempt > sqlite3_column_int64(st, 1)) {
		op_err_set(err, 400, "invalid_argument", "attempt", "instance %lld has had %lld "
		    "placements; attempt %lld is not one of them", (long long)id,
		    (long long)sqlite3_column_int64(st, 1), (long long)attempt);
		sqlite3_reset(st);
		goto fail;
	}
	/*
	 * The current attempt's output comes from the worker it runs on; an
	 * earlier attempt's may come from where it ran (a lost worker's agent,
	 * back, sending what it kept): a worker that an event of the instance
	 * names. Anything else is another worker's, and its token may not write
	 * it (403).
	 */
	if (attempt == sqlite3_column_int64(st, 1) && sqlite3_column_int64(st, 2) != 0 &&
	    sqlite3_column_int64(st, 2) != wid) {
		op_err_set(err, 403, "forbidden", "id", "instance %lld's attempt %lld runs on "
		    "another worker than %s: its agent may not write its log", (long long)id,
		    (long long)attempt, name);
		sqlite3_reset(st);
		goto fail;
	}
	if (attempt < sqlite3_column_int64(st, 1) || sqlite3_column_int64(st, 2) == 0) {
		int64_t held = 0;

		sqlite3_reset(st);
		/* O(the worker's events), through events_worker: only for an earlier attempt. */
		if (store_exec(s, &held, "SELECT count(*) FROM (SELECT 1 FROM events WHERE "
		    "worker_id = ?1 AND kind = 'instance' AND ref = ?2 LIMIT 1)", "ii", wid, id) != 0)
			goto fail;
		if (held == 0) {
			op_err_set(err, 403, "forbidden", "id", "instance %lld was never on worker %s: "
			    "its agent may not write its log", (long long)id, name);
			goto fail;
		}
	}
	sqlite3_reset(st);
	if (total + (int64_t)len > LOG_MAX) {
		static const char note[] = "\n[the log of this instance reached 1 MiB: later output "
		    "was not kept]\n";
		size_t room = total < LOG_MAX ? utf8_cut(text, (size_t)(LOG_MAX - total)) : 0;

		if (room > 0 && insert_chunk(s, id, attempt, hook, offset, text, room, now,
		    &is_new) != 0)
			goto fail;
		*stored = room > 0 && is_new ? (int64_t)room : 0;
		/* The note is one row per attempt and hook: the key (offset -1) keeps it once. */
		if (insert_chunk(s, id, attempt, hook, -1, note, sizeof(note) - 1, now, &is_new) != 0)
			goto fail;
	} else {
		if (insert_chunk(s, id, attempt, hook, offset, text, len, now, &is_new) != 0)
			goto fail;
		*stored = is_new ? (int64_t)len : 0;
	}
	if (store_commit_silent(s) != 0)
		return store_fail(s, err);
	return 0;
fail:
	return store_abort(s, err);
}

/*
 * A page of an instance's log, oldest first: {"items": [{attempt, hook,
 * offset, at, text}], "next": CURSOR or null}, filtered by hook and attempt
 * (0: any). Written as JSON text.
 */
int
instance_log_read(struct store *s, int64_t id, const char *hook, int64_t attempt, int64_t after,
    int64_t limit, struct sbuf *out, struct op_err *err)
{
	sqlite3_stmt *st;
	int64_t n = 0, last = after;
	size_t bytes = 0;
	int has_more = 0;

	/* The query first: a bad one is 400 whether or not the instance exists. */
	if (hook != NULL && !is_hook(hook)) {
		char hooks[64];

		op_err_set(err, 400, "invalid_argument", "hook", "hook must be %s",
		    hook_names_text(hooks, sizeof(hooks)));
		return -1;
	}
	if (!instance_exists(s, id, err))
		return -1;
	/* Ordered by arrival (the row id): a hook's chunks come in order, the note last. */
	st = store_stmt(s, "SELECT id, attempt, hook, offset, at, text FROM instance_logs "
	    "WHERE instance_id = ?1 AND id > ?2 AND (?3 IS NULL OR hook = ?3) AND "
	    "(?4 = 0 OR attempt = ?4) ORDER BY id LIMIT ?5");
	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, after);
	if (hook != NULL)
		sqlite3_bind_text(st, 3, hook, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, attempt);
	sqlite3_bind_int64(st, 5, limit + 1);
	sbuf_puts(out, "{\"items\":[");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 5);
		char at[40];

		if (n == limit || (n > 0 && bytes + strlen(text) > LOG_PAGE_MAX)) {
			has_more = 1;
			break;
		}
		last = sqlite3_column_int64(st, 0);
		sbuf_printf(out, "%s{\"attempt\":%lld,\"hook\":", n > 0 ? "," : "",
		    (long long)sqlite3_column_int64(st, 1));
		sbuf_json_string(out, (const char *)sqlite3_column_text(st, 2));
		sbuf_printf(out, ",\"offset\":%lld,\"at\":\"%s\",\"text\":",
		    (long long)sqlite3_column_int64(st, 3),
		    time_format_ms(sqlite3_column_int64(st, 4), at, sizeof(at), 1));
		sbuf_json_string(out, text);
		sbuf_putc(out, '}');
		bytes += strlen(text);
		n++;
	}
	sqlite3_reset(st);
	if (has_more) {
		char next[160];

		cursor_encode("log", last, next, sizeof(next));
		sbuf_printf(out, "],\"next\":\"%s\"}\n", next);
	} else {
		sbuf_puts(out, "],\"next\":null}\n");
	}
	return out->p == NULL ? -1 : 0;
}
