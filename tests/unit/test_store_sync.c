/*
 * Group commit's sync (store_sync.c) on a real SQLite file: a turn of
 * heartbeats alone waits for company, up to SYNC_HEARTBEAT_MS, and its
 * answers are held until the sync; any other commit, or any other answer
 * held for the sync, has it done at the end of its turn, as before. With
 * the sync thread, the loop's turn does not wait: the thread wakes it when
 * the sync ends, and what was committed meanwhile goes to the next one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"
#include "unit_store.h"

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
	assert_int_equal(store_sync(s), 0);		/* put off */
	assert_false(store_is_synced(mark));
	due = store_sync_due_ms();
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

static int wake_pipe[2];

static void
wake_test(void)
{
	char c = 1;

	(void)!write(wake_pipe[1], &c, 1);
}

/* Waits for the thread's wake-up (5 s at most), then the loop's turn. */
static int
turn_after_wake(struct store *s)
{
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
	char c;

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(wake_pipe[0], &c, 1), 1);
	return store_sync(s);
}

static void
test_the_thread_syncs_and_wakes_the_loop(void **state)
{
	struct store *s = *state;
	uint64_t syncs = store_syncs(), mark, mark2;

	assert_int_equal(pipe(wake_pipe), 0);
	assert_int_equal(store_sync_thread_start(wake_test), 0);
	write_one(s, 0);
	mark = store_commit_mark();
	store_answer_held(0);
	assert_int_equal(store_sync(s), 0);	/* handed to the thread: the turn goes on */
	assert_false(store_is_synced(mark));
	/* Committed while that sync runs: not in it, in the next. */
	write_one(s, 0);
	mark2 = store_commit_mark();
	store_answer_held(0);
	assert_int_equal(turn_after_wake(s), 1);	/* the first ends, the second starts */
	assert_true(store_is_synced(mark));
	assert_false(store_is_synced(mark2));
	assert_int_equal(turn_after_wake(s), 1);
	assert_true(store_is_synced(mark2));
	assert_int_equal(store_syncs(), syncs + 2);
	/* Nothing left: no sync, no wake-up. */
	assert_int_equal(store_sync(s), 0);
	assert_int_equal(store_sync_thread_stop(), 0);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
}

static void
test_a_heartbeat_waits_from_its_commit_while_a_sync_runs(void **state)
{
	struct store *s = *state;
	uint64_t mark;

	assert_int_equal(pipe(wake_pipe), 0);
	assert_int_equal(store_sync_thread_start(wake_test), 0);
	write_one(s, 0);
	store_answer_held(0);
	assert_int_equal(store_sync(s), 0);	/* a sync runs */
	/* A heartbeat committed meanwhile: its wait for company counts from now. */
	write_one(s, 1);
	mark = store_commit_mark();
	store_answer_held(1);
	/* No timer while a sync runs: its end wakes the loop (a timer would spin it). */
	assert_int_equal(store_sync_due_ms(), -1);
	usleep((SYNC_HEARTBEAT_MS + 10) * 1000);
	/* The first sync's end: the heartbeat has waited long enough, its sync begins. */
	assert_int_equal(turn_after_wake(s), 1);
	assert_false(store_is_synced(mark));
	assert_int_equal(store_sync_due_ms(), -1);
	assert_int_equal(turn_after_wake(s), 1);
	assert_true(store_is_synced(mark));
	assert_int_equal(store_sync_thread_stop(), 0);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
}

static void
test_the_thread_stops_after_its_sync(void **state)
{
	struct store *s = *state;
	uint64_t mark;

	assert_int_equal(pipe(wake_pipe), 0);
	assert_int_equal(store_sync_thread_start(wake_test), 0);
	write_one(s, 0);
	mark = store_commit_mark();
	store_answer_held(0);
	assert_int_equal(store_sync(s), 0);
	/* The stop waits for the sync running, and keeps what it says. */
	assert_int_equal(store_sync_thread_stop(), 0);
	assert_true(store_is_synced(mark));
	/* Then the loop syncs itself. */
	write_one(s, 0);
	assert_int_equal(store_sync(s), 1);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
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
		cmocka_unit_test_setup_teardown(test_the_thread_syncs_and_wakes_the_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_heartbeat_waits_from_its_commit_while_a_sync_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_thread_stops_after_its_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_heartbeat_answered_alone_is_not_lazy_after,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
