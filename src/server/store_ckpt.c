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
 * for that connection); past CKPT_FRAMES, the thread is woken and runs a
 * PASSIVE checkpoint, which never blocks the writer nor waits for it.
 *
 * The log is rewound by the writer's first transaction after a checkpoint
 * that copied all of it. Under writes that never pause, the thread's
 * checkpoint always ends behind the last commit, and the log would grow
 * without end: past CKPT_FRAMES_INLINE the loop runs one itself right after
 * its commit, as SQLite's own would, while the thread is not in one: it has
 * only the frames the thread has not yet copied left to copy. The log stays
 * under about 16 MiB of 4 KiB pages. Durability
 * is SQLite's: a checkpoint syncs the log before it copies and the database
 * after, whatever thread runs it.
 *
 * A checkpoint that fails (a full disk: the database cannot grow) leaves the
 * pages in the log, which keeps them; it is counted, logged by the loop, and
 * tried again as the log grows. If the thread cannot be made, SQLite's own
 * checkpoints stay on, and that is logged.
 *
 * The thread touches only its connection and the counters under mu.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "server.h"

#define CKPT_FRAMES 1000	/* SQLite's default wal_autocheckpoint */
#define CKPT_FRAMES_INLINE (4 * CKPT_FRAMES)	/* past this, the loop helps */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static sqlite3 *ckpt_db;	/* the thread's connection */
static struct store *owner;	/* the store whose log it checkpoints; NULL: none */
static int wanted;		/* under mu: a checkpoint is asked for */
static int running;		/* under mu: the thread is in one */
static int stopping;		/* under mu */
static uint64_t done, failed;	/* under mu: checkpoints run, and failed */
static int last_rc;		/* under mu: the last failure's SQLite code */
static uint64_t failed_logged;	/* the loop's: failures it has logged */
static int wal_frames;		/* the loop's: the log's length at the last commit */
static int asked_at;		/* the loop's: the log's length when it last asked */

static void *
ckpt_thread(void *arg)
{
	int rc, nlog, nckpt;

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
		/* BUSY: another process's checkpoint runs; the next commit asks again. */
		if (rc == SQLITE_OK || rc == SQLITE_BUSY)
			done++;
		else {
			failed++;
			last_rc = rc;
		}
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* After each commit of the owner's connection, on the loop: frames in its log. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	uint64_t nfailed;
	int rc, idle;

	(void)arg;
	wal_frames = frames;
	if (frames < asked_at)
		asked_at = 0;	/* the log was rewound */
	pthread_mutex_lock(&mu);
	idle = !wanted && !running;
	/* Once a thousand new frames: one that ran on every commit would copy a page at a time. */
	if (idle && frames - asked_at >= CKPT_FRAMES) {
		wanted = 1;
		asked_at = frames;
		pthread_cond_signal(&cv);
	}
	nfailed = failed;
	rc = last_rc;
	pthread_mutex_unlock(&mu);
	/* Writes that never pause: see the top. Only while the thread is not in one. */
	if (idle && frames >= CKPT_FRAMES_INLINE)
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (nfailed != failed_logged) {
		failed_logged = nfailed;
		log_error("store.checkpoint_failed", "error", sqlite3_errstr(rc), "detail",
		    "the log keeps the pages; tried again as it grows", NULL);
	}
	return SQLITE_OK;
}

/* 1 when db is in WAL mode, having opened its log to say so. */
static int
is_wal(sqlite3 *db)
{
	sqlite3_stmt *st;
	int yes = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		yes = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	return yes;
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
		log_warn("store.checkpoint_thread", "error", ckpt_db ? sqlite3_errmsg(ckpt_db) :
		    "out of memory", "detail", "checkpoints stay in the commits", NULL);
		sqlite3_close(ckpt_db);
		ckpt_db = NULL;
		return;
	}
	sqlite3_busy_timeout(ckpt_db, 0);
	/*
	 * A connection finds the log only once it reads the database; until then
	 * a checkpoint on it is a no-op that says SQLITE_OK (SQLite 3.40).
	 */
	if (!is_wal(ckpt_db)) {
		log_warn("store.checkpoint_thread", "error", "the second connection does not see "
		    "the database's log", "detail", "checkpoints stay in the commits", NULL);
		sqlite3_close(ckpt_db);
		ckpt_db = NULL;
		return;
	}
	wanted = running = stopping = 0;
	asked_at = 0;
	if ((e = pthread_create(&thread, NULL, ckpt_thread, NULL)) != 0) {
		log_warn("store.checkpoint_thread", "error", strerror(e), "detail",
		    "checkpoints stay in the commits", NULL);
		sqlite3_close(ckpt_db);
		ckpt_db = NULL;
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

void
store_ckpt_metrics(struct sbuf *o)
{
	uint64_t d, f;

	pthread_mutex_lock(&mu);
	d = done;
	f = failed;
	pthread_mutex_unlock(&mu);
	sbuf_printf(o, "# HELP outpost_db_checkpoints_total Checkpoints of the database's log run by "
	    "its thread, by outcome.\n# TYPE outpost_db_checkpoints_total counter\n"
	    "outpost_db_checkpoints_total{outcome=\"done\"} %llu\n"
	    "outpost_db_checkpoints_total{outcome=\"failed\"} %llu\n"
	    "# HELP outpost_db_wal_frames Pages in the database's log at the last commit.\n"
	    "# TYPE outpost_db_wal_frames gauge\noutpost_db_wal_frames %d\n",
	    (unsigned long long)d, (unsigned long long)f, wal_frames);
}
