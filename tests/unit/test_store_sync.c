/*
 * Group commit's sync (store_sync.c) on a real SQLite file: a turn of
 * heartbeats alone waits for company, up to SYNC_HEARTBEAT_MS, and its
 * answers are held until the sync; any other commit, or any other answer
 * held for the sync, has it done at the end of its turn. With the sync
 * thread, the loop's turn does not wait: the thread is asked at the commit,
 * syncs what was committed meanwhile right after, and wakes the loop after
 * each sync; a change in the turn's transaction waits for the turn's COMMIT.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"
#include "unit_store.h"
#include "../tools/walfd.h"

struct app *the_app;

static char dir[64];

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	struct op_err err = { 0 };
	struct store *s = unit_store_open(dir, sizeof(dir));

	if (s == NULL || store_group_start(s, &err) != 0)
		return -1;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	store_group_stop(*state);
	unit_store_remove(*state, dir);
	events_shutdown();
	return 0;
}

/* One write in its own transaction: a heartbeat's commit, or any other. */
static void
write_one(struct store *s, int is_heartbeat)
{
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_exec(s, NULL, "UPDATE workers SET last_heartbeat = 1 WHERE id = -1",
	    ""), 0);
	assert_int_equal(is_heartbeat ? store_commit_heartbeat(s) : store_commit(s), 0);
}

static void
test_heartbeats_alone_wait_for_company(void **state)
{
	struct store *s = *state;
	uint64_t syncs = store_syncs(), mark, mark2;
	int64_t t0 = mono_ms(), due;
	int rc = 0;

	write_one(s, 1);
	mark = store_commit_mark();
	store_answer_held(1);
	rc = store_sync(s);
	due = store_sync_due_ms();
	if (mono_ms() - t0 >= SYNC_HEARTBEAT_MS - 2) {
		print_message("this thread was stalled past the heartbeat's wait: not checked\n");
		return;
	}
	assert_int_equal(rc, 0);		/* put off */
	assert_false(store_is_synced(mark));
	assert_true(due > 0 && due <= SYNC_HEARTBEAT_MS);
	/* A second heartbeat in a later turn joins the same sync. */
	write_one(s, 1);
	mark2 = store_commit_mark();
	store_answer_held(1);
	assert_int_equal(store_sync(s), 0);
	while (rc == 0 && mono_ms() - t0 < 2000)
		rc = store_sync(s);
	assert_int_equal(rc, 1);
	assert_true(mono_ms() - t0 >= SYNC_HEARTBEAT_MS - 1);
	assert_true(store_is_synced(mark) && store_is_synced(mark2));
	assert_int_equal(store_syncs(), syncs + 1);
	assert_int_equal(store_sync_due_ms(), -1);
}

static void
test_another_commit_is_synced_at_once(void **state)
{
	struct store *s = *state;
	uint64_t mark;

	write_one(s, 1);
	mark = store_commit_mark();
	store_answer_held(1);
	write_one(s, 0);
	assert_int_equal(store_sync(s), 1);
	assert_true(store_is_synced(mark) && store_is_synced(store_commit_mark()));
}

static void
test_another_answer_held_is_synced_at_once(void **state)
{
	struct store *s = *state;
	uint64_t mark;

	write_one(s, 1);
	store_answer_held(1);
	/* A read answered while the heartbeat's commit is not on disk: held, so no waiting. */
	mark = store_commit_mark();
	store_answer_held(0);
	assert_false(store_is_synced(mark));
	assert_int_equal(store_sync(s), 1);
	assert_true(store_is_synced(mark));
}

static void
test_a_heartbeat_answered_alone_is_not_lazy_after(void **state)
{
	struct store *s = *state;

	/* A heartbeat's answer waits; another answer held with it does not. */
	write_one(s, 1);
	store_answer_held(1);
	assert_int_equal(store_sync(s), 0);
	write_one(s, 1);
	store_answer_held(0);
	assert_int_equal(store_sync(s), 1);
}

/*
 * The syncs of the log pass through this gate (the test's own fdatasync and
 * fsync, which SQLite calls instead of libc's): while it is shut, the
 * thread's sync waits in it, so each test says exactly which commits a
 * sync began with. The real call follows.
 */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_shut;
static int gate_waiting;	/* syncs waiting in it */
static int gate_stuck;		/* one waited in it for 10 s: the test fails */
static unsigned log_syncs;	/* syncs of a log that went through */

static void
gate(int fd)
{
	if (!fd_is_wal(fd))
		return;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate_mu);
	gate_waiting++;
	pthread_cond_broadcast(&gate_cv);
	/* A sync no test meant to hold (the loop's own) would wait for ever: 10 s, then it fails. */
	while (gate_shut && !gate_stuck)
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) != 0)
			gate_stuck = 1;
	gate_waiting--;
	log_syncs++;
	pthread_mutex_unlock(&gate_mu);
}

int
fdatasync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	gate(fd);
	return real(fd);
}

int
fsync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	gate(fd);
	return real(fd);
}

static void
gate_set(int is_shut)
{
	pthread_mutex_lock(&gate_mu);
	gate_shut = is_shut;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Until a sync waits in the shut gate (5 s at most). */
static void
gate_wait_for_sync(void)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&gate_mu);
	while (gate_waiting == 0 && rc == 0)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &ts);
	pthread_mutex_unlock(&gate_mu);
	assert_int_equal(rc, 0);
}

static unsigned
gate_syncs(void)
{
	unsigned n;

	pthread_mutex_lock(&gate_mu);
	n = log_syncs;
	pthread_mutex_unlock(&gate_mu);
	return n;
}

static int wake_pipe[2];

static void
wake_test(void)
{
	char c = 1;

	(void)!write(wake_pipe[1], &c, 1);
}

/* Waits for n of the thread's wake-ups (5 s at most), then the loop's turn. */
static int
turn_after_wakes(struct store *s, int n)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
	char c;

	for (int i = 0; i < n; i++) {
		assert_int_equal(poll(&p, 1, 5000), 1);
		assert_int_equal(read(wake_pipe[0], &c, 1), 1);
	}
	return store_sync(s);
}

/* No wake-up for ms: no sync ended. */
static void
no_wake(int ms)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };

	assert_int_equal(poll(&p, 1, ms), 0);
}

/* The store of setup, with its sync thread, which wakes through wake_pipe. */
static int
setup_thread(void **state)
{
	if (setup(state) != 0 || pipe(wake_pipe) != 0)
		return -1;
	gate_set(0);
	return store_sync_thread_start(wake_test);
}

static int
teardown_thread(void **state)
{
	gate_set(0);
	if (store_sync_thread_stop() != 0 || gate_stuck)
		return -1;
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	return teardown(state);
}

static void
test_the_thread_syncs_a_commit_and_wakes_the_loop(void **state)
{
	struct store *s = *state;
	uint64_t syncs = store_syncs(), mark;

	/* Asked at the commit: the sync runs before the turn ends. */
	write_one(s, 0);
	mark = store_commit_mark();
	store_answer_held(0);
	assert_int_equal(turn_after_wakes(s, 1), 1);
	assert_true(store_is_synced(mark));
	assert_int_equal(store_syncs(), syncs + 1);
	/* Nothing left: no sync, no wake-up. */
	assert_int_equal(store_sync(s), 0);
	no_wake(100);
	assert_int_equal(store_syncs(), syncs + 1);
}

static void
test_a_commit_during_a_sync_is_synced_right_after_it(void **state)
{
	struct store *s = *state;
	uint64_t syncs = store_syncs(), mark, mark2;
	unsigned before = gate_syncs();

	gate_set(1);
	write_one(s, 0);
	mark = store_commit_mark();
	gate_wait_for_sync();
	/* Committed while that sync runs: not in it, in the next. */
	write_one(s, 0);
	mark2 = store_commit_mark();
	store_answer_held(0);
	assert_int_equal(store_sync(s), 0);	/* none ended; none more asked */
	assert_false(store_is_synced(mark));
	/* The thread goes from one to the next with no turn of the loop between. */
	gate_set(0);
	assert_int_equal(turn_after_wakes(s, 2), 1);
	assert_true(store_is_synced(mark) && store_is_synced(mark2));
	assert_int_equal(gate_syncs(), before + 2);
	assert_int_equal(store_syncs(), syncs + 2);
}

static void
test_the_turns_transaction_is_synced_once_committed(void **state)
{
	struct store *s = *state;
	uint64_t mark;

	/* A change in the turn's transaction is not in the log before the turn's COMMIT. */
	assert_int_equal(store_begin_shared(s), 0);
	assert_int_equal(store_exec(s, NULL, "UPDATE workers SET last_heartbeat = 1 WHERE id = -1",
	    ""), 0);
	assert_int_equal(store_commit(s), 0);
	if (sqlite3_get_autocommit(store_db(s))) {
		/* No turn: its own transaction (under 64 MB free where the test runs). */
		print_message("no room for the turn's transaction here: not checked\n");
		skip();
	}
	mark = store_commit_mark();
	store_answer_held(0);
	no_wake(100);
	assert_false(store_is_synced(mark));
	/* The turn's end commits it, then asks. */
	gate_set(1);
	assert_int_equal(store_sync(s), 0);
	gate_wait_for_sync();
	assert_false(store_is_synced(mark));
	gate_set(0);
	assert_int_equal(turn_after_wakes(s, 1), 1);
	assert_true(store_is_synced(mark));
}

static void
test_a_heartbeat_waits_from_its_commit_while_a_sync_runs(void **state)
{
	struct store *s = *state;
	uint64_t mark;
	int64_t due, t0;

	gate_set(1);
	write_one(s, 0);
	store_answer_held(0);	/* its answer, covered by the sync already asked */
	gate_wait_for_sync();
	/* A heartbeat committed meanwhile waits for company, counted from its commit. */
	t0 = mono_ms();
	write_one(s, 1);
	mark = store_commit_mark();
	store_answer_held(1);
	assert_int_equal(store_sync(s), 0);
	due = store_sync_due_ms();
	if (mono_ms() - t0 < SYNC_HEARTBEAT_MS - 2)	/* not when this thread was stalled */
		assert_true(due > 0 && due <= SYNC_HEARTBEAT_MS);
	usleep((SYNC_HEARTBEAT_MS + 10) * 1000);
	/* Its wait is over: asked, and no timer after (the sync's end wakes the loop). */
	assert_int_equal(store_sync(s), 0);
	assert_int_equal(store_sync_due_ms(), -1);
	assert_false(store_is_synced(mark));
	gate_set(0);
	assert_int_equal(turn_after_wakes(s, 2), 1);
	assert_true(store_is_synced(mark));
}

static void *
open_later(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	gate_set(0);
	return NULL;
}

static void
test_the_thread_stops_after_its_sync(void **state)
{
	struct store *s = *state;
	pthread_t t;
	uint64_t mark;

	gate_set(1);
	write_one(s, 0);
	mark = store_commit_mark();
	gate_wait_for_sync();
	assert_int_equal(pthread_create(&t, NULL, open_later, NULL), 0);
	/* The stop waits for the sync running, and keeps what it says. */
	assert_int_equal(store_sync_thread_stop(), 0);
	pthread_join(t, NULL);
	assert_true(store_is_synced(mark));
	/* Then the loop syncs itself. */
	write_one(s, 0);
	assert_int_equal(store_sync(s), 1);
	assert_true(store_is_synced(store_commit_mark()));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_heartbeats_alone_wait_for_company, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_another_commit_is_synced_at_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_another_answer_held_is_synced_at_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_the_thread_syncs_a_commit_and_wakes_the_loop,
		    setup_thread, teardown_thread),
		cmocka_unit_test_setup_teardown(test_a_commit_during_a_sync_is_synced_right_after_it,
		    setup_thread, teardown_thread),
		cmocka_unit_test_setup_teardown(test_the_turns_transaction_is_synced_once_committed,
		    setup_thread, teardown_thread),
		cmocka_unit_test_setup_teardown(
		    test_a_heartbeat_waits_from_its_commit_while_a_sync_runs, setup_thread,
		    teardown_thread),
		cmocka_unit_test_setup_teardown(test_the_thread_stops_after_its_sync, setup_thread,
		    teardown_thread),
		cmocka_unit_test_setup_teardown(test_a_heartbeat_answered_alone_is_not_lazy_after,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
