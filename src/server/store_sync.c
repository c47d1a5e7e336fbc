/*
 * Group commit. outpostd's store, on the loop, runs with synchronous=NORMAL:
 * a COMMIT writes the WAL but does not wait for the disk. Nothing reaches a
 * client before it is on disk all the same: an answer written while a commit
 * is not yet synced is held (http.c), and the event stream sends no event
 * past the last synced one (events_ws.c). A sync of the WAL covers all the
 * commits before it (below); when one ends, the answers it holds go out at
 * the loop's next turn (main.c) and, if it made new events visible, the
 * streams wake. One sync for many writes, not one a write: a burst of
 * writes that arrive together shares it.
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
 * Heartbeats wait a little for company. Heartbeats' commits
 * (store_commit_heartbeat), with no other commit or answer waiting on the
 * sync, are not synced at once: the sync waits until SYNC_HEARTBEAT_MS
 * after the first of them (main.c wakes the loop then), or until a commit
 * or an answer that may not wait comes, whichever is first. Each heartbeat's
 * answer is still held until the sync that holds it; 1,000 agents (200
 * heartbeats a second, each in a turn of its own) then cost about 20 syncs
 * a second rather than 200, and the loop is not left waiting on the disk
 * for most of its time (bench/run-fleet.sh).
 *
 * The sync runs in a thread of its own (store_sync_thread_start), not on
 * the loop: while the disk works, the loop goes on reading, parsing and
 * committing the next requests, whose answers are held for a later sync.
 * The thread is asked as soon as a commit that may not wait is in the log
 * (store_group_in_log: a change's own COMMIT, or the turn's), not at the
 * turn's end: a burst's creates, committed when a scheduler's pass settles
 * the turn, are synced while the pass runs. One sync at a time: asked again
 * while it syncs, the thread syncs again as soon as it is done, without
 * waiting for the loop to come round; the loop, woken after each, lets go
 * what they put on disk. A burst of creates then costs the loop no time
 * waiting on the disk, where each turn of it used to end in a sync that
 * stopped every other connection (bench/RESULTS.md, "The sync off the
 * loop"). The thread touches nothing but the log's file (SQLite's own sync
 * of it, through the file SQLite gives: the log stays open while the store
 * is, and the loop fetches it afresh for each ask) and the figures under
 * mu; it wakes the loop (lws_cancel_service, safe from any thread) after
 * each sync. A sync that failed is the last: none is tried again, even at
 * the store's close (a second could say yes to pages the kernel has
 * dropped), and the process stops (main.c). Without a thread (none asked
 * for, or it could not be made), the loop syncs at the end of the turn
 * itself, as before.
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
static int must_sync;		/* a commit or an answer since the last ask may not wait */
static int64_t lazy_since;	/* monotonic ms: heartbeats' commits wait since; 0: none */
static int failed;		/* a sync failed: no other is tried, nothing more is said */

/* The sync thread (store_sync_thread_start). The loop's side: */
static int has_thread;		/* it runs; else the loop syncs itself */
static uint64_t asked;		/* the commits it was asked to sync, up to this */
static uint64_t syncs_seen;	/* its syncs counted in syncs */
/* Under mu, both sides: */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static int is_asked;		/* the loop asks for a sync of what the log holds: */
static sqlite3_file *ask_file;	/* ... the log */
static uint64_t ask_commits;	/* ... the commits in it */
static int64_t ask_seq;		/* ... and the events */
static int is_busy;		/* the thread is in a sync */
static uint64_t thr_synced;	/* the commits its syncs put on disk, up to this */
static int64_t thr_seq;		/* ... and the events */
static int thr_rc;		/* a sync of its failed with this: it tries no other */
static double thr_secs[1024];	/* the syncs' times, for the loop to observe (past
				 * 1,024 between two looks, the rest are not timed) */
static unsigned thr_nsecs;
static uint64_t thr_syncs;	/* syncs it ran */
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
 * (may_wait), the sync is not put off for it. One already asked of the
 * thread covers it: nothing more to ask (else the heartbeats committed
 * after it would be asked for at once, and wait for no company).
 */
void
store_answer_held(int may_wait)
{
	if (!may_wait && !(has_thread && asked == commits))
		must_sync = 1;
}

/*
 * Milliseconds until a put-off sync is due (0: now), or -1 when none waits:
 * nothing to sync, or the thread was asked for all of it (the end of that
 * sync wakes the loop; a timer would only spin it until then).
 */
int64_t
store_sync_due_ms(void)
{
	int64_t left;

	if (grouped == NULL || commits == synced || lazy_since == 0 ||
	    (has_thread && asked == commits))
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
 * At the turn's end: the turn's transaction goes to the log, and whatever is
 * not on disk yet is synced, or asked of the thread, unless it already was.
 * 1: a sync ended (the held answers and the streams may go); 0: none ended
 * (the thread wakes the loop when its syncs end; or only heartbeats wait, and
 * may wait longer: store_sync_due_ms says how long); -1: a sync failed
 * (logged; the caller stops).
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
	if (commits == synced || (has_thread && asked == commits))
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

/*
 * Every commit of s so far is in its log (store.c: a COMMIT returned, and no
 * turn's transaction is open). If one of them may not wait, the thread is
 * asked now, not at the turn's end: it syncs them while the turn goes on
 * (a scheduler's pass, the next requests' parse), or right after the sync it
 * is in. A burst's creates, committed when the pass settles the turn, are
 * then on disk by the time the pass ends.
 */
void
store_group_in_log(struct store *s)
{
	if (s == grouped && has_thread && must_sync && asked != commits && !failed)
		(void)begin(s);	/* a failure is logged, and the turn's end stops */
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
 * Syncs ended with rc, the last of them covering the commits up to upto (and
 * the events up to seq): 1, they are on disk; -1, one failed (logged). The
 * loop's own checkpoint syncs this log through the same descriptor: if it
 * failed, the error was said to it alone, and a sync after it may say yes
 * (store_ckpt_io_failed).
 */
static int
ended(int rc, uint64_t upto, int64_t seq)
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
	if (upto > synced)
		synced = upto;
	if (seq > synced_seq)
		synced_seq = seq;
	if (synced == commits) {
		/* Nothing left to sync: what asked for haste was in this one. */
		must_sync = 0;
		lazy_since = 0;
	}
	return 1;
}

/*
 * Syncs every commit so far: asks the thread (0), or syncs here without one
 * (1). -1: it failed (logged). Every commit must be in the log: no turn's
 * transaction open.
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
		return ended(rc, commits, 0);
	/* What asked for haste is in this one; what commits after it asks again. */
	must_sync = 0;
	lazy_since = 0;
	if (!has_thread) {
		rc = sync_file(f, &secs);
		if (rc == SQLITE_OK) {
			metrics_observe(HIST_DB_SYNC, secs);
			syncs++;
		}
		return ended(rc, commits, events_last_seq(s));
	}
	asked = commits;
	pthread_mutex_lock(&mu);
	is_asked = 1;
	ask_file = f;
	ask_commits = commits;
	ask_seq = events_last_seq(s);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

/*
 * What the thread's syncs put on disk since the last look (with wait, once
 * it is idle and not asked: for its stop): 1, more is on disk; 0, nothing
 * new; -1, a sync failed (logged).
 */
static int
collect(int wait)
{
	double secs[sizeof(thr_secs) / sizeof(thr_secs[0])];
	unsigned n;
	uint64_t upto, nsyncs;
	int64_t seq;
	int rc;

	if (!has_thread)
		return 0;
	pthread_mutex_lock(&mu);
	while (wait && (is_asked || is_busy) && thr_rc == 0)
		pthread_cond_wait(&cv, &mu);
	upto = thr_synced;
	seq = thr_seq;
	rc = thr_rc;
	n = thr_nsecs;
	memcpy(secs, thr_secs, n * sizeof(secs[0]));
	thr_nsecs = 0;
	nsyncs = thr_syncs;
	pthread_mutex_unlock(&mu);
	for (unsigned i = 0; i < n; i++)
		metrics_observe(HIST_DB_SYNC, secs[i]);
	syncs += nsyncs - syncs_seen;
	syncs_seen = nsyncs;
	if (rc != SQLITE_OK)
		return ended(rc, 0, 0);
	if (upto <= synced && seq <= synced_seq)
		return 0;
	return ended(SQLITE_OK, upto, seq);
}

/*
 * The thread: when asked, it syncs the log up to what the loop said it
 * holds, and wakes the loop; asked again meanwhile, it syncs again at once.
 * After a sync that failed it tries none (the loop stops).
 */
static void *
sync_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		sqlite3_file *f;
		uint64_t upto;
		int64_t seq;
		double secs = 0;
		int rc;

		while (!(is_asked && thr_rc == SQLITE_OK) && !stopping)
			pthread_cond_wait(&cv, &mu);
		if (!(is_asked && thr_rc == SQLITE_OK))
			break;
		f = ask_file;
		upto = ask_commits;
		seq = ask_seq;
		is_asked = 0;
		is_busy = 1;
		pthread_mutex_unlock(&mu);
		rc = sync_file(f, &secs);
		pthread_mutex_lock(&mu);
		is_busy = 0;
		if (rc != SQLITE_OK) {
			thr_rc = rc;
		} else {
			thr_synced = upto;
			thr_seq = seq;
			if (thr_nsecs < sizeof(thr_secs) / sizeof(thr_secs[0]))
				thr_secs[thr_nsecs++] = secs;
			thr_syncs++;
		}
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
	is_asked = is_busy = 0;
	thr_synced = asked = synced;
	thr_seq = synced_seq;
	thr_rc = SQLITE_OK;
	thr_nsecs = 0;
	thr_syncs = syncs_seen = 0;
	if ((e = thread_start(&thread, sync_thread, NULL)) != 0) {
		log_warn("store.sync_thread", "error", strerror(e), "detail",
		    "the loop syncs the database's log itself", NULL);
		return -1;
	}
	has_thread = 1;
	return 0;
}

/*
 * Before the loop's wake-up goes (the lws context): the syncs asked of the
 * thread end, their result kept, and it stops; the loop syncs itself from
 * then on.
 * -1 if one of them (or any before) failed (logged): the caller stops at once.
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
