/*
 * The prunes of runbooks' built-ins (builtins.c): events.prune and
 * instances.prune, each a run of slices the loop calls again between turns.
 */
#include <stdlib.h>

#include "server.h"

/*
 * The prunes work in slices, each its own transaction, and the loop serves
 * requests between them. A slice takes a range of ids (seq for events, id for
 * instances), from the lowest to the highest there was when the run began,
 * so no slice reads more than its range: one over everything that is left
 * (a fixed 2,000 events, ORDER BY seq LIMIT) read every kept event in the
 * end, and the count a run began with read every event by its time (45 ms
 * with 100,000, before the run's own answer could go). The range is sized by
 * the time the last slice took, to hold the loop about SLICE_US whatever the
 * machine and the database, and ends early at its 2,000th event (500th
 * instance) to delete (SLICE_ROWS_LAST, SLICE_INSTANCES_LAST), so that a
 * dense range is cut short. A dry run counts by the same ranges, with no cap.
 */
#define SLICE_US 5000
#define SLICE_FIRST 200		/* ids of a first slice */
#define SLICE_WIDTH_MAX 200000	/* ids a slice looks at, at most */
#define SLICE_ROWS_LAST "1999"	/* OFFSET of the last row a slice of events deletes */
#define SLICE_INSTANCES_LAST "499"	/* ... of instances (with transitions and logs) */

struct prune_state {
	int64_t cutoff, bound, keep, done;
	int64_t at;		/* the ids up to here are done */
	int64_t width;		/* ids the next slice takes */
	int64_t t0;		/* when the slice began, in microseconds */
};

/* After a slice: the next one's width, for about SLICE_US of the loop. */
static void
slice_sized(struct prune_state *ps)
{
	int64_t took = mono_us() - ps->t0;

	if (took < SLICE_US / 2)
		ps->width = ps->width > SLICE_WIDTH_MAX / 2 ? SLICE_WIDTH_MAX : ps->width * 2;
	else if (took > SLICE_US && ps->width > 1)
		ps->width /= 2;
}

/*
 * The first column of sql's row, with a, b and c bound to the parameters it
 * has: 0 when there is no row (ids start at 1), -1 when it failed.
 */
static int64_t
int_of(struct store *s, const char *sql, int64_t a, int64_t b, int64_t c)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int64_t n = -1, v[3] = { a, b, c };
	int rc;

	if (st == NULL)
		return -1;
	for (int i = 0; i < sqlite3_bind_parameter_count(st) && i < 3; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		n = 0;
	sqlite3_reset(st);
	return n;
}

/* The statements of a prune: its range's bounds, its count, its cap and its delete. */
struct prune_sql {
	const char *first;	/* the lowest id, less one */
	const char *last;	/* the highest id the run may touch */
	const char *count;	/* ?1 < id <= ?2, older than ?3: how many */
	const char *nth;	/* ... the id of the last a slice takes, or no row */
};

/*
 * One slice of a prune's range (ps->at, at most ps->width further, at most
 * ps->bound]: counted for a dry run, or deleted by del (which binds the same
 * three and returns the rows it deleted, or -1). 1: call again; 0: done;
 * -1: the database failed.
 */
static int
prune_slice(struct bctx *c, struct prune_state *ps, const struct prune_sql *q,
    int64_t (*del)(struct store *, int64_t, int64_t, int64_t))
{
	struct store *s = c->app->store;
	int64_t to, n;

	ps->t0 = mono_us();
	if (ps->at >= ps->bound)
		return 0;
	to = ps->bound - ps->at > ps->width ? ps->at + ps->width : ps->bound;
	if (c->is_dry)
		n = int_of(s, q->count, ps->at, to, ps->cutoff);
	else {
		if ((n = int_of(s, q->nth, ps->at, to, ps->cutoff)) < 0)
			return -1;
		if (n > 0)
			to = n;	/* a dense range: cut at the cap */
		n = del(s, ps->at, to, ps->cutoff);
	}
	if (n < 0)
		return -1;
	ps->done += n;
	ps->at = to;
	slice_sized(ps);
	return ps->at < ps->bound;
}

/* A prune's first call: its state, its range. NULL with ps unset when the database failed. */
static struct prune_state *
prune_begin(struct bctx *c, const struct prune_sql *q, int64_t keep)
{
	struct store *s = c->app->store;
	struct prune_state *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return NULL;
	ps->keep = keep;
	ps->cutoff = now_ms() - bc_duration(c, "older_than");
	ps->at = int_of(s, q->first, 0, 0, 0);
	ps->bound = int_of(s, q->last, 0, 0, 0) - keep;
	ps->width = SLICE_FIRST;
	if (ps->at < 0 || ps->bound + keep < 0) {
		free(ps);
		return NULL;
	}
	c->state = ps;
	return ps;
}

/* The commit of a slice: one that deleted nothing moves no version (store_commit_silent). */
static int64_t
slice_commit(struct store *s, int64_t changed)
{
	if ((changed > 0 ? store_commit(s) : store_commit_silent(s)) != 0)
		return -1;
	return changed;
}

static int64_t
events_delete(struct store *s, int64_t at, int64_t to, int64_t cutoff)
{
	int64_t changed;

	if (store_begin(s) != 0)
		return -1;
	if (int_of(s, "DELETE FROM events WHERE seq > ?1 AND seq <= ?2 AND ts < ?3", at, to,
	    cutoff) < 0) {
		store_rollback(s);
		return -1;
	}
	changed = sqlite3_changes(store_db(s));
	if (slice_commit(s, changed) < 0)
		return -1;
	/* What went must not be served from memory (forgetting more is safe: readers fall back
	 * to the table). */
	if (changed > 0)
		events_forget(to);
	return changed;
}

/* What a prune says when it is done. */
typedef void (*prune_said)(struct bctx *c, struct prune_state *ps);

/*
 * A prune's call: the first makes its state, each does one slice. 1: call
 * again; 0: done (said); -1: cancelled, or the database failed (said).
 */
static int
prune_run(struct bctx *c, const struct prune_sql *q, int64_t keep,
    int64_t (*del)(struct store *, int64_t, int64_t, int64_t), prune_said said)
{
	struct prune_state *ps = c->state;
	int rc = -1;

	if (c->is_cancelled) {
		free(ps);
		c->state = NULL;
		return -1;
	}
	if ((ps != NULL || (ps = prune_begin(c, q, keep)) != NULL) &&
	    (rc = prune_slice(c, ps, q, del)) > 0)
		return 1;
	if (rc == 0)
		said(c, ps);
	else
		bc_say(c, "the database refused the %s: %s", c->is_dry ? "count" : "delete",
		    sqlite3_errmsg(store_db(c->app->store)));
	free(ps);
	c->state = NULL;
	return rc;
}

static void
events_said(struct bctx *c, struct prune_state *ps)
{
	char d[32];

	bc_say(c, "%s %lld event%s older than %s (keeping the newest %lld)", c->is_dry ?
	    "would delete" : "deleted", (long long)ps->done, ps->done == 1 ? "" : "s",
	    duration_format(bc_duration(c, "older_than"), d, sizeof(d)), (long long)ps->keep);
}

/*
 * Events older than older_than, keeping at least the newest `keep` (1000 by
 * default) whatever their age.
 */
int
b_events_prune(struct bctx *c)
{
	static const struct prune_sql q = {
		"SELECT coalesce(min(seq), 1) - 1 FROM events",
		"SELECT coalesce(max(seq), 0) FROM events",
		"SELECT count(*) FROM events WHERE seq > ?1 AND seq <= ?2 AND ts < ?3",
		"SELECT seq FROM events WHERE seq > ?1 AND seq <= ?2 AND ts < ?3 ORDER BY seq "
		    "LIMIT 1 OFFSET " SLICE_ROWS_LAST,
	};
	json_t *keep = json_object_get(c->args, "keep");

	return prune_run(c, &q, json_is_integer(keep) ? json_integer_value(keep) : 1000,
	    events_delete, events_said);
}

static int64_t
instances_delete(struct store *s, int64_t at, int64_t to, int64_t cutoff)
{
	static const char *const del[] = {
		"DELETE FROM instance_logs WHERE instance_id IN (SELECT id FROM doomed)",
		"DELETE FROM transitions WHERE instance_id IN (SELECT id FROM doomed)",
		"DELETE FROM instances WHERE id IN (SELECT id FROM doomed)",
		"DELETE FROM doomed",
	};
	int64_t changed = 0;

	if (store_begin(s) != 0)
		return -1;
	if (int_of(s, "CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)", 0, 0,
	    0) < 0 || int_of(s, "INSERT INTO doomed SELECT id FROM instances WHERE state = "
	    "'terminated' AND id > ?1 AND id <= ?2 AND updated_at < ?3", at, to, cutoff) < 0)
		goto rb;
	changed = sqlite3_changes(store_db(s));
	for (size_t i = 0; i < sizeof(del) / sizeof(del[0]); i++) {
		if (int_of(s, del[i], 0, 0, 0) < 0)
			goto rb;
		if (i == 2)
			counts_move(s, INST_TERMINATED, -1, sqlite3_changes(store_db(s)));
	}
	return slice_commit(s, changed);
rb:
	store_rollback(s);
	return -1;
}

static void
instances_said(struct bctx *c, struct prune_state *ps)
{
	char d[32];

	bc_say(c, "%s %lld terminated instance%s last changed more than %s ago%s",
	    c->is_dry ? "would delete" : "deleted", (long long)ps->done, ps->done == 1 ? "" : "s",
	    duration_format(bc_duration(c, "older_than"), d, sizeof(d)),
	    c->is_dry ? "" : ", with their transitions and logs");
}

/* Terminated instances last changed before the cutoff, with their transitions and logs. */
int
b_instances_prune(struct bctx *c)
{
	static const struct prune_sql q = {
		"SELECT 0",
		"SELECT coalesce(max(id), 0) FROM instances",
		"SELECT count(*) FROM instances WHERE state = 'terminated' AND id > ?1 AND "
		    "id <= ?2 AND updated_at < ?3",
		"SELECT id FROM instances WHERE state = 'terminated' AND id > ?1 AND id <= ?2 AND "
		    "updated_at < ?3 ORDER BY id LIMIT 1 OFFSET " SLICE_INSTANCES_LAST,
	};

	return prune_run(c, &q, 0, instances_delete, instances_said);
}
