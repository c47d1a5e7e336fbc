/*
 * Group commit. outpostd's store, on the loop, runs with synchronous=NORMAL:
 * a COMMIT writes the WAL but does not wait for the disk. Nothing reaches a
 * client before it is on disk all the same: an answer written while a commit
 * is not yet synced is held (http.c), and the event stream sends no event
 * past the last synced one (events_ws.c). At the end of each turn of the loop
 * (main.c), store_sync() syncs the WAL once for all the commits of that turn;
 * then the held answers go out and, if it made new events visible, the
 * streams wake. One sync a turn, not one a write: a burst of writes that
 * arrive together shares it.
 *
 * WAL with synchronous=NORMAL is consistent after any crash (SQLite syncs the
 * WAL before each checkpoint and the database after it); the explicit sync
 * makes it durable before anything is said. A kill -9 loses nothing either
 * way: the page cache outlives the process.
 *
 * A sync that fails leaves the page cache in a state no one knows (Linux may
 * drop pages it could not write and not say so again): outpostd exits at once
 * (main.c's sync_turn). Nothing it held was answered; on restart SQLite
 * recovers what is on disk.
 *
 * Heartbeats wait a little for company. A turn whose commits are all
 * heartbeats' (store_commit_heartbeat), with no other answer waiting on the
 * sync, is not synced at its end: the sync waits until SYNC_HEARTBEAT_MS
 * after the first of them (main.c wakes the loop then), or until a commit
 * or an answer that may not wait comes, whichever is first. Each heartbeat's
 * answer is still held until the sync that holds it; 1,000 agents (200
 * heartbeats a second, each in a turn of its own) then cost about 20 syncs
 * a second rather than 200, and the loop is not left waiting on the disk
 * for most of its time (bench/run-fleet.sh).
 *
 * The store of another program (outpostd token create, restore, the tests)
 * is never grouped: synchronous=FULL, each commit synced by itself.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "server.h"

static struct store *grouped;	/* the loop's store, once store_group_start ran */
static uint64_t commits;	/* its commits so far */
static uint64_t synced;		/* ... of which the WAL holds on disk */
static int64_t synced_seq;	/* the last event on disk at the last sync */
static uint64_t syncs;		/* syncs done, for /metrics */
static int must_sync;		/* a commit or an answer since the last sync may not wait */
static int64_t lazy_since;	/* monotonic ms: heartbeats' commits wait since; 0: none */

/* 0: s is grouped (or stays FULL where its journal is not WAL); -1 with err. */
int
store_group_start(struct store *s, struct op_err *err)
{
	int is_wal = store_journal_is_wal(store_db(s));

	if (is_wal < 0) {
		op_err_set(err, 500, "internal", "", "journal_mode: %s", sqlite3_errmsg(store_db(s)));
		return -1;
	}
	if (!is_wal)
		return 0;
	if (sqlite3_exec(store_db(s), "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		op_err_set(err, 500, "internal", "", "synchronous: %s", sqlite3_errmsg(store_db(s)));
		return -1;
	}
	grouped = s;
	store_ckpt_start(s);
	commits = synced = 0;
	must_sync = 0;
	lazy_since = 0;
	synced_seq = events_last_seq(s);
	return 0;
}

/*
 * Called by every commit of any store: the grouped one's wait for store_sync.
 * is_heartbeat: a heartbeat's commit, whose sync may wait (SYNC_HEARTBEAT_MS).
 */
void
store_group_committed(struct store *s, int is_heartbeat)
{
	if (s != grouped)
		return;
	commits++;
	if (!is_heartbeat)
		must_sync = 1;
}

/* s is the loop's store, whose commits wait for the turn's sync. */
int
store_is_grouped(struct store *s)
{
	return s != NULL && s == grouped;
}

/* What an answer made now must wait for: see store_is_synced. */
uint64_t
store_commit_mark(void)
{
	return commits;
}

/*
 * An answer is held for the sync (http.c): unless it is a heartbeat's
 * (may_wait), the sync is not put off for it.
 */
void
store_answer_held(int may_wait)
{
	if (!may_wait)
		must_sync = 1;
}

static int64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

/* Milliseconds until a put-off sync is due (0: now), or -1 when none waits. */
int64_t
store_sync_due_ms(void)
{
	int64_t left;

	if (grouped == NULL || commits == synced || lazy_since == 0)
		return -1;
	left = lazy_since + SYNC_HEARTBEAT_MS - mono_ms();
	return left > 0 ? left : 0;
}

/* 1 when every commit up to mark is on disk (an answer made at mark may go). */
int
store_is_synced(uint64_t mark)
{
	return mark <= synced;
}

/* The last event a client may be sent: every one up to it is on disk. */
int64_t
store_visible_seq(struct store *s)
{
	return s != grouped || commits == synced ? events_last_seq(s) : synced_seq;
}

/*
 * Events another process committed, now adopted up to seq: it committed them
 * with synchronous=FULL, and a sync of the WAL covers every frame before
 * theirs, so they (and all before them) are on disk. The visible mark must
 * not fall back below them when this process's next commit awaits its sync.
 */
void
store_sync_adopted(struct store *s, int64_t seq)
{
	if (s == grouped && seq > synced_seq)
		synced_seq = seq;
}

uint64_t
store_syncs(void)
{
	return syncs;
}

static int sync_now(struct store *s);

/*
 * Syncs the WAL if a commit since the last sync is not on disk. 1: synced (the
 * held answers and the streams may go); 0: nothing to do, or only
 * heartbeats wait and may wait longer (store_sync_due_ms says how long); -1:
 * the sync failed (logged; the caller stops).
 */
int
store_sync(struct store *s)
{
	/* The turn's transaction, if one is open, goes to the WAL first (store_begin_shared). */
	store_settle(s);
	if (s != grouped || commits == synced)
		return 0;
	/* Only heartbeats wait, and not past SYNC_HEARTBEAT_MS from the first of them. */
	if (!must_sync) {
		int64_t now = mono_ms();

		if (lazy_since == 0)
			lazy_since = now;
		if (now - lazy_since < SYNC_HEARTBEAT_MS)
			return 0;
	}
	return sync_now(s);
}

static int
sync_now(struct store *s)
{
	sqlite3_file *f = NULL;
	struct timespec t0, t1;
	int rc;

	if (s != grouped || commits == synced)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = sqlite3_file_control(store_db(s), "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
	if (rc == SQLITE_OK && (f == NULL || f->pMethods == NULL))
		rc = SQLITE_IOERR_FSYNC;	/* commits, and no WAL open: cannot be */
	/* The loop's own checkpoint synced this log and failed: the error was said to it alone. */
	if (rc == SQLITE_OK && store_ckpt_io_failed() != 0)
		rc = store_ckpt_io_failed();
	if (rc == SQLITE_OK)
		rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK) {
		log_error("store.sync_failed", "error", sqlite3_errstr(rc), "detail",
		    "the database's log could not be synced to disk; stopping, answering none "
		    "of what it held", NULL);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe(HIST_DB_SYNC, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	synced = commits;
	synced_seq = events_last_seq(s);
	syncs++;
	must_sync = 0;
	lazy_since = 0;
	return 1;
}

/* Before the store closes: what is left goes to disk; the store is grouped no more. */
void
store_group_stop(struct store *s)
{
	if (s != grouped)
		return;
	store_settle(s);
	(void)sync_now(s);
	store_ckpt_stop(s);
	grouped = NULL;
	must_sync = 0;
	lazy_since = 0;
}
