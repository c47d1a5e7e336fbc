/*
 * Group commit. outpostd's store, on the loop, runs with synchronous=NORMAL:
 * a COMMIT writes the WAL but does not wait for the disk. Nothing reaches a
 * client before it is on disk all the same: an answer written while a commit
 * is not yet synced is held (http.c), and the event stream sends no event
 * past the last synced one (events_ws.c). At each turn of the loop (main.c),
 * store_sync() starts a sync of the WAL for all the commits not yet on disk,
 * unless one is running; when one ends, the answers it holds go out and, if
 * it made new events visible, the streams wake. One sync for many writes,
 * not one a write: a burst of writes that arrive together shares it.
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
 * The sync runs in a thread of its own (store_sync_thread_start), not on
 * the loop: while the disk works, the loop goes on reading, parsing and
 * committing the next requests, whose answers are held for the next sync.
 * One sync at a time: the one that ends hands over whatever was committed
 * while it ran, all of it in one more sync. A burst of creates then costs
 * the loop no time waiting on the disk, where each turn of it used to end
 * in a sync that stopped every other connection (bench/RESULTS.md, "The
 * sync off the loop"). The thread touches nothing but the log's file
 * (SQLite's own sync of it, through the file SQLite gives: the log stays
 * open while the store is, and the loop fetches it afresh for each sync)
 * and the figures under mu; it wakes the loop (lws_cancel_service, safe
 * from any thread) when it is done. A sync that failed is the last: none
 * is tried again, even at the store's close (a second could say yes to
 * pages the kernel has dropped), and the process stops (main.c). Without a
 * thread (none asked for, as in the unit tests, or it could not be made),
 * the loop syncs at the end of the turn itself, as before.
 *
 * The store of another program (outpostd token create, restore, the tests)
 * is never grouped: synchronous=FULL, each commit synced by itself.
 */
#include "config.h"

#include <pthread.h>
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
static int failed;		/* a sync failed: no other is tried, nothing more is said */

/* The sync thread (store_sync_thread_start). The loop's side: */
static int has_thread;		/* it runs; else the loop syncs itself */
static int in_flight;		/* a sync was handed to it and not yet collected */
static uint64_t flight_commits;	/* ... which holds the commits up to this */
static int64_t flight_seq;	/* ... and the events up to this */
/* Under mu, both sides: */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static sqlite3_file *job;	/* the log to sync; NULL: nothing asked */
static int job_done;		/* the thread synced it: job_rc, job_secs say how */
static int job_rc;
static double job_secs;
static int stopping;
static void (*wake)(void);	/* wakes the loop; safe from any thread */

static int64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

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
	failed = 0;
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
	else if (lazy_since == 0)
		lazy_since = mono_ms();	/* its wait counts from now, even while a sync runs */
}

/* s is the loop's store, whose commits wait for a sync. */
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

/*
 * Milliseconds until a put-off sync is due (0: now), or -1 when none waits,
 * or a sync runs: its end wakes the loop, which then begins the next at once
 * if it is due (a timer now would only spin the loop until then).
 */
int64_t
store_sync_due_ms(void)
{
	int64_t left;

	if (grouped == NULL || in_flight || commits == synced || lazy_since == 0)
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

static int begin(struct store *s);
static int collect(int wait);

/*
 * Syncs the WAL if a commit since the last sync is not on disk: hands it to
 * the thread, or syncs here without one. 1: a sync ended (the held answers
 * and the streams may go); 0: none ended (one may be running: the thread
 * wakes the loop when it is done; or only heartbeats wait, and may wait
 * longer: store_sync_due_ms says how long); -1: the sync failed (logged; the
 * caller stops).
 */
int
store_sync(struct store *s)
{
	int done, rc;

	/* The turn's transaction, if one is open, goes to the WAL first (store_begin_shared). */
	store_settle(s);
	if (s != grouped)
		return 0;
	if (failed || (done = collect(0)) < 0)
		return -1;
	if (in_flight || commits == synced)
		return done;
	/* Only heartbeats wait, and not past SYNC_HEARTBEAT_MS from the first of them. */
	if (!must_sync) {
		int64_t now = mono_ms();

		if (lazy_since == 0)
			lazy_since = now;
		if (now - lazy_since < SYNC_HEARTBEAT_MS)
			return done;
	}
	if ((rc = begin(s)) < 0)
		return -1;
	return rc == 1 ? 1 : done;
}

/* SQLite's sync of the log f, timed; SQLite's code. Either thread. */
static int
sync_file(sqlite3_file *f, double *secs)
{
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}

/*
 * A sync of the commits up to upto (and the events up to seq) ended with rc:
 * 1, they are on disk; -1, it failed (logged). The loop's own checkpoint
 * syncs this log through the same descriptor: if it failed, the error was
 * said to it alone, and a sync after it may say yes (store_ckpt_io_failed).
 */
static int
ended(int rc, double secs, uint64_t upto, int64_t seq)
{
	if (rc == SQLITE_OK && store_ckpt_io_failed() != 0)
		rc = store_ckpt_io_failed();
	if (rc != SQLITE_OK) {
		failed = 1;
		log_error("store.sync_failed", "error", sqlite3_errstr(rc), "detail",
		    "the database's log could not be synced to disk; stopping, answering none "
		    "of what it held", NULL);
		return -1;
	}
	metrics_observe(HIST_DB_SYNC, secs);
	synced = upto;
	if (seq > synced_seq)
		synced_seq = seq;
	syncs++;
	if (synced == commits) {
		/* Nothing left to sync: what asked for haste was in this one. */
		must_sync = 0;
		lazy_since = 0;
	}
	return 1;
}

/*
 * Starts the sync of every commit so far: hands the log to the thread (0), or
 * syncs it here without one (1). -1: it failed (logged).
 */
static int
begin(struct store *s)
{
	sqlite3_file *f = NULL;
	double secs = 0;
	int rc;

	if (failed)
		return -1;
	rc = sqlite3_file_control(store_db(s), "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
	if (rc == SQLITE_OK && (f == NULL || f->pMethods == NULL))
		rc = SQLITE_IOERR_FSYNC;	/* commits, and no WAL open: cannot be */
	if (rc != SQLITE_OK || store_ckpt_io_failed() != 0)
		return ended(rc, 0, commits, 0);
	/* What asked for haste is in this one; what commits while it runs asks again. */
	must_sync = 0;
	lazy_since = 0;
	if (!has_thread) {
		rc = sync_file(f, &secs);
		return ended(rc, secs, commits, events_last_seq(s));
	}
	in_flight = 1;
	flight_commits = commits;
	flight_seq = events_last_seq(s);
	pthread_mutex_lock(&mu);
	job = f;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

/*
 * The thread's sync, if it ended (or, with wait, once it ends): 1, done and
 * on disk; 0, none ended; -1, it failed (logged).
 */
static int
collect(int wait)
{
	double secs;
	int rc;

	if (!in_flight)
		return 0;
	pthread_mutex_lock(&mu);
	while (wait && !job_done)
		pthread_cond_wait(&cv, &mu);
	if (!job_done) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	job_done = 0;
	rc = job_rc;
	secs = job_secs;
	pthread_mutex_unlock(&mu);
	in_flight = 0;
	return ended(rc, secs, flight_commits, flight_seq);
}

static void *
sync_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		sqlite3_file *f;
		double secs = 0;
		int rc;

		while (job == NULL && !stopping)
			pthread_cond_wait(&cv, &mu);
		if (job == NULL)
			break;
		f = job;
		pthread_mutex_unlock(&mu);
		rc = sync_file(f, &secs);
		pthread_mutex_lock(&mu);
		job = NULL;
		job_rc = rc;
		job_secs = secs;
		job_done = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		wake();
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/*
 * The grouped store's syncs go to a thread, which calls wake_loop (it must be
 * safe from any thread) when one ends. 0; -1 when the thread cannot be made
 * (logged: the loop syncs itself, as before).
 */
int
store_sync_thread_start(void (*wake_loop)(void))
{
	int e;

	if (grouped == NULL || has_thread)
		return 0;
	wake = wake_loop;
	stopping = 0;
	job = NULL;
	job_done = 0;
	if ((e = thread_start(&thread, sync_thread, NULL)) != 0) {
		log_warn("store.sync_thread", "error", strerror(e), "detail",
		    "the loop syncs the database's log itself", NULL);
		return -1;
	}
	has_thread = 1;
	return 0;
}

/*
 * Before the loop's wake-up goes (the lws context): the sync running ends,
 * its result kept, and the thread stops; the loop syncs itself from then on.
 * -1 if that sync (or any before) failed (logged): the caller stops at once.
 */
int
store_sync_thread_stop(void)
{
	int rc;

	if (!has_thread)
		return 0;
	rc = collect(1);
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	has_thread = 0;
	wake = NULL;
	return rc < 0 || failed ? -1 : 0;
}

/* Before the store closes: what is left goes to disk; the store is grouped no more. */
void
store_group_stop(struct store *s)
{
	if (s != grouped)
		return;
	store_settle(s);
	/* A sync that failed was logged; a second could say yes to pages already dropped. */
	if (store_sync_thread_stop() == 0 && !failed && commits != synced)
		(void)begin(s);
	store_ckpt_stop(s);
	grouped = NULL;
	must_sync = 0;
	lazy_since = 0;
}
