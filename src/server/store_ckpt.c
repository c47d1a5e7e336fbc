/*
 * Checkpoints off the loop. SQLite's own (wal_autocheckpoint) runs inside the
 * commit that takes the log past 1,000 pages: that request's turn then copies
 * the log's pages into the database and syncs both files, a stall of several
 * milliseconds for every request of the turn: 17 to 29 ms once every fifth
 * slice of a prune's deletions (bench/RESULTS.md, "Prunes and checkpoints").
 *
 * For the loop's store (store_sync.c's grouped one), a thread of its own does
 * them instead, on a connection of its own: the loop's commits report the
 * log's length (sqlite3_wal_hook, which also turns SQLite's checkpoints off
 * for that connection); every further CKPT_FRAMES, the thread is woken and
 * runs a PASSIVE checkpoint, which never blocks the writer nor waits for it.
 *
 * The log is rewound by the writer's first transaction after a checkpoint
 * that copied all of it. Under writes that never pause, the thread's
 * checkpoint always ends behind the last commit, and the log would grow
 * without end. Past CKPT_FRAMES_SOFT, the thread is woken again as soon as it
 * is idle, and once it is within CKPT_BEHIND_MAX frames of the last commit
 * the loop copies those few itself, right after its commit, as SQLite's own
 * would: the log can then rewind. Past CKPT_FRAMES_HARD (a thread that cannot
 * keep up: a slow disk) the loop copies whatever is left, the old stall, so
 * the log stays bounded whatever happens (a reader that pins it aside).
 *
 * Durability is SQLite's: a checkpoint syncs the log before it copies and the
 * database after, whatever thread runs it (the thread's connection is at
 * synchronous=FULL). The loop's own checkpoint syncs the log through the very
 * descriptor store_sync.c syncs: an I/O error there would be reported once,
 * to it, and the next sync would say yes; so it is fatal, as a failed sync is
 * (store_ckpt_io_failed). A checkpoint of the thread's that fails (a full
 * disk: the database cannot grow; an I/O error writing it) leaves the pages
 * in the log, which keeps them, and nBackfill where it was: the next one
 * copies them again. It is counted, logged by the loop, and tried again as
 * the log grows. If the thread cannot be made, SQLite's own checkpoints stay
 * on, and that is logged.
 *
 * The thread touches only its connection and the figures under mu.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "server.h"

#define CKPT_FRAMES 1000	/* SQLite's default wal_autocheckpoint */
#define CKPT_FRAMES_SOFT (4 * CKPT_FRAMES)	/* past this, the loop finishes the copy */
#define CKPT_FRAMES_HARD (16 * CKPT_FRAMES)	/* ... whatever is left */
#define CKPT_BEHIND_MAX 64	/* frames the loop copies itself past the soft mark */

enum { BY_THREAD, BY_LOOP };
enum { OUT_DONE, OUT_BUSY, OUT_FAILED, OUT_COUNT };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static sqlite3 *ckpt_db;	/* the thread's connection */
static struct store *owner;	/* the store whose log it checkpoints; NULL: none */
static int wanted;		/* under mu: a checkpoint is asked for */
static int running;		/* under mu: the thread is in one */
static int stopping;		/* under mu */
static int copied_to;		/* under mu: frames the thread's last one left copied */
static uint64_t outcomes[2][OUT_COUNT];	/* under mu: by whom, how it ended */
static int last_rc;		/* under mu: the thread's last failure's SQLite code */
static uint64_t failed_logged;	/* the loop's: the thread's failures it has logged */
static int wal_frames;		/* the loop's: the log's length at the last commit */
static int asked_at;		/* the loop's: the log's length when it last woke the thread */
static int io_failed;		/* the loop's: its own checkpoint's I/O error, or 0 */
static int loop_failing;	/* the loop's: its last checkpoint failed (logged once) */

static int
outcome_of(int rc)
{
	/* BUSY: another checkpoint runs (another process's, or the thread's). */
	return rc == SQLITE_OK ? OUT_DONE : rc == SQLITE_BUSY ? OUT_BUSY : OUT_FAILED;
}

static void *
ckpt_thread(void *arg)
{
	int rc, nlog = 0, nckpt = 0;

	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!wanted && !stopping)
			pthread_cond_wait(&cv, &mu);
		if (stopping)
			break;
		wanted = 0;
		running = 1;
		pthread_mutex_unlock(&mu);
		rc = sqlite3_wal_checkpoint_v2(ckpt_db, "main", SQLITE_CHECKPOINT_PASSIVE, &nlog,
		    &nckpt);
		pthread_mutex_lock(&mu);
		running = 0;
		outcomes[BY_THREAD][outcome_of(rc)]++;
		if (rc == SQLITE_OK)
			copied_to = nckpt;
		else if (rc != SQLITE_BUSY)
			last_rc = rc;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* The loop's own checkpoint, right after a commit of db; an I/O error is fatal (above). */
static void
ckpt_inline(sqlite3 *db, const char *name)
{
	int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	pthread_mutex_lock(&mu);
	outcomes[BY_LOOP][outcome_of(rc)]++;
	pthread_mutex_unlock(&mu);
	if ((rc & 0xff) == SQLITE_IOERR && io_failed == 0)
		io_failed = rc;
	else if (rc != SQLITE_OK && rc != SQLITE_BUSY && !loop_failing)
		log_error("store.checkpoint_failed", "error", sqlite3_errstr(rc), "by", "loop",
		    "detail", "the log keeps the pages; tried again at the next commit", NULL);
	loop_failing = rc != SQLITE_OK && rc != SQLITE_BUSY;
}

/* After each commit of the owner's connection, on the loop: frames in its log. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	uint64_t nfailed;
	int rc, idle, behind, copy = 0;

	(void)arg;
	if (frames < wal_frames) {
		asked_at = 0;	/* the log was rewound: the thread's mark is of the old one */
		pthread_mutex_lock(&mu);
		copied_to = 0;
		pthread_mutex_unlock(&mu);
	}
	wal_frames = frames;
	pthread_mutex_lock(&mu);
	idle = !wanted && !running;
	behind = copied_to <= frames ? frames - copied_to : frames;
	if (idle && frames >= CKPT_FRAMES_SOFT && behind <= CKPT_BEHIND_MAX)
		copy = 1;	/* the few the thread has not copied: then the log can rewind */
	else if (idle && (frames - asked_at >= CKPT_FRAMES || frames >= CKPT_FRAMES_SOFT)) {
		wanted = 1;
		asked_at = frames;
		pthread_cond_signal(&cv);
	}
	nfailed = outcomes[BY_THREAD][OUT_FAILED];
	rc = last_rc;
	pthread_mutex_unlock(&mu);
	/* Refused at once (BUSY) while the thread's runs: then it only waits for the next commit. */
	if (copy || frames >= CKPT_FRAMES_HARD)
		ckpt_inline(db, name);
	if (nfailed != failed_logged) {
		failed_logged = nfailed;
		log_error("store.checkpoint_failed", "error", sqlite3_errstr(rc), "by", "thread",
		    "detail", "the log keeps the pages; tried again as it grows", NULL);
	}
	return SQLITE_OK;
}

/* 1 when db's journal is WAL (having read the database to know), 0 when not, -1 on error. */
int
store_journal_is_wal(sqlite3 *db)
{
	sqlite3_stmt *st;
	int yes = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		yes = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	return yes;
}

static void
ckpt_not_started(const char *why)
{
	log_warn("store.checkpoint_thread", "error", why, "detail", "SQLite's checkpoints stay in "
	    "the commits", NULL);
	sqlite3_close(ckpt_db);
	ckpt_db = NULL;
}

/* Starts checkpointing s's log in a thread; on failure SQLite's own stay on. */
void
store_ckpt_start(struct store *s)
{
	sqlite3 *db = store_db(s);
	const char *path = sqlite3_db_filename(db, "main");
	int e;

	if (owner != NULL || path == NULL || *path == '\0')
		return;
	if (sqlite3_open_v2(path, &ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		ckpt_not_started(ckpt_db != NULL ? sqlite3_errmsg(ckpt_db) : "out of memory");
		return;
	}
	sqlite3_busy_timeout(ckpt_db, 0);
	/*
	 * A connection finds the log only once it reads the database; until then a
	 * checkpoint on it is a no-op that says SQLITE_OK (SQLite 3.40). FULL: its
	 * checkpoints sync the log before they copy and the database after.
	 */
	if (store_journal_is_wal(ckpt_db) != 1 ||
	    sqlite3_exec(ckpt_db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		ckpt_not_started("a second connection does not see the database's log");
		return;
	}
	wanted = running = stopping = 0;
	copied_to = asked_at = wal_frames = io_failed = loop_failing = 0;
	if ((e = thread_start(&thread, ckpt_thread, NULL)) != 0) {
		ckpt_not_started(strerror(e));
		return;
	}
	owner = s;
	sqlite3_wal_hook(db, wal_hook, NULL);	/* SQLite's checkpoints off for db */
}

/* Stops the thread (a checkpoint running ends first); SQLite's own come back. */
void
store_ckpt_stop(struct store *s)
{
	if (owner == NULL || s != owner)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	sqlite3_close(ckpt_db);
	ckpt_db = NULL;
	sqlite3_wal_autocheckpoint(store_db(s), CKPT_FRAMES);
	owner = NULL;
}

/* The I/O error of the loop's own checkpoint, or 0: store_sync.c stops on it. */
int
store_ckpt_io_failed(void)
{
	return io_failed;
}

void
store_ckpt_metrics(struct sbuf *o)
{
	static const char *const by[] = { "thread", "loop" };
	static const char *const out[] = { "done", "busy", "failed" };
	uint64_t n[2][OUT_COUNT];

	pthread_mutex_lock(&mu);
	memcpy(n, outcomes, sizeof(n));
	pthread_mutex_unlock(&mu);
	sbuf_puts(o, "# HELP outpost_db_checkpoints_total Checkpoints of the database's log, by "
	    "who ran them and how they ended.\n# TYPE outpost_db_checkpoints_total counter\n");
	for (int b = 0; b < 2; b++)
		for (int k = 0; k < OUT_COUNT; k++)
			sbuf_printf(o, "outpost_db_checkpoints_total{by=\"%s\",outcome=\"%s\"} %llu\n",
			    by[b], out[k], (unsigned long long)n[b][k]);
	sbuf_printf(o, "# HELP outpost_db_wal_frames Pages in the database's log at the last "
	    "commit.\n# TYPE outpost_db_wal_frames gauge\noutpost_db_wal_frames %d\n", wal_frames);
}
