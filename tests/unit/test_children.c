/*
 * children.c on a libwebsockets loop of its own, with real programs: an
 * owner is told once how its child ended; a stop is SIGTERM, a timeout too,
 * and a child that ignores SIGTERM gets SIGKILL after its grace; an
 * abandoned group is swept once reaped; a process that is not ours is ended
 * by its "PID START" only while /proc shows that process.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static struct lws_context *ctx;
static lws_sorted_usec_list_t tick_sul;

struct seen {
	int n;
	struct child_exit e;
};

static void
on_exit_cb(void *owner, const struct child_exit *e)
{
	struct seen *s = owner;

	s->n++;
	s->e = *e;
}

/* Keeps the loop from sleeping long: each wait below has a deadline of its own. */
static void
tick(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(ctx, 0, sul, tick, 20 * LWS_US_PER_MS);
}

static const struct lws_protocols protocols[] = {
	{ "test", lws_callback_http_dummy, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static int
setup(void **state)
{
	struct lws_context_creation_info info;

	(void)state;
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	ctx = lws_create_context(&info);
	if (ctx == NULL)
		return -1;
	children_start(ctx);
	tick(&tick_sul);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	lws_sul_cancel(&tick_sul);
	children_stop();
	lws_context_destroy(ctx);
	children_free();
	return 0;
}

/* Turns the loop, as main() does, until the owner was told or ms passed; 0 if it was. */
static int
wait_seen(struct seen *s, int64_t ms)
{
	int64_t until = now_ms() + ms;

	while (s->n == 0 && now_ms() < until) {
		lws_service(ctx, 0);
		children_service();
	}
	return s->n > 0 ? 0 : -1;
}

static struct child *
spawn(const char *script, struct seen *s, int64_t timeout_ms, int64_t grace_ms, int is_group)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	struct child_spec sp = {
		.argv = argv, .out_fd = 2, .signals_group = is_group, .timeout_ms = timeout_ms,
		.grace_ms = grace_ms, .on_exit = on_exit_cb, .owner = s,
	};
	struct child *c = children_spawn(&sp);

	assert_non_null(c);
	assert_true(child_pid(c) > 1);
	assert_true(child_start(c) > 0);	/* read once, at spawn: no wait for exec */
	return c;
}

static void
test_an_exit_is_told_once(void **state)
{
	struct seen s = { 0 };

	(void)state;
	spawn("exit 3", &s, 0, 1000, 1);
	assert_int_equal(wait_seen(&s, 5000), 0);
	assert_true(WIFEXITED(s.e.status));
	assert_int_equal(WEXITSTATUS(s.e.status), 3);
	assert_false(s.e.was_stopped);
	assert_false(s.e.is_timed_out);
	s.n = 0;
	assert_int_equal(wait_seen(&s, 100), -1);	/* once */
}

static void
test_a_stop_is_sigterm(void **state)
{
	struct seen s = { 0 };
	struct child *c;

	(void)state;
	c = spawn("exec sleep 30", &s, 0, 5000, 1);
	child_stop(c, 0);
	assert_int_equal(wait_seen(&s, 5000), 0);
	assert_true(WIFSIGNALED(s.e.status));
	assert_int_equal(WTERMSIG(s.e.status), SIGTERM);
	assert_true(s.e.was_stopped);
	assert_false(s.e.is_timed_out);
}

static void
test_a_timeout_is_sigterm_then_sigkill(void **state)
{
	struct seen s = { 0 };
	int64_t t0 = now_ms();

	(void)state;
	/*
	 * It ignores SIGTERM from its first instruction (an ignored signal stays
	 * ignored across the spawn and the exec), so SIGKILL ends it a grace later.
	 * A "trap '' TERM" in the script would race the timeout on a loaded machine.
	 */
	signal(SIGTERM, SIG_IGN);
	spawn("exec sleep 30", &s, 100, 300, 1);
	signal(SIGTERM, SIG_DFL);
	assert_int_equal(wait_seen(&s, 5000), 0);
	assert_true(WIFSIGNALED(s.e.status));
	assert_int_equal(WTERMSIG(s.e.status), SIGKILL);
	assert_true(s.e.was_stopped);
	assert_true(s.e.is_timed_out);
	assert_true(now_ms() - t0 >= 400);
}

static void
test_a_forgotten_child_is_still_reaped_and_ended(void **state)
{
	struct seen s = { 0 }, other = { 0 };
	struct child *c;

	(void)state;
	c = spawn("exec sleep 30", &s, 0, 1000, 1);
	child_forget(c);
	child_stop(c, 0);
	/* Another child's end turns the loop until the first is surely reaped too. */
	spawn("sleep 0.3", &other, 0, 1000, 1);
	assert_int_equal(wait_seen(&other, 5000), 0);
	assert_int_equal(s.n, 0);	/* its owner no longer listens */
}

static void
test_an_abandoned_group_is_swept(void **state)
{
	struct seen s = { 0 }, other = { 0 };
	char mark[64], script[160];
	struct child *c;
	FILE *f;
	long pid = 0;

	(void)state;
	snprintf(mark, sizeof(mark), "/tmp/outpost-unit-children.%d", (int)getpid());
	/* The leader ends on SIGTERM; what it started in its group ignores it. */
	snprintf(script, sizeof(script), "(trap '' TERM; exec sleep 30) & echo $! >%s; wait",
	    mark);
	c = spawn(script, &s, 0, 60000, 1);
	for (int64_t until = now_ms() + 5000; pid == 0 && now_ms() < until;) {
		lws_service(ctx, 0);
		if ((f = fopen(mark, "r")) != NULL) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
	}
	assert_true(pid > 1);
	child_abandon(c);
	assert_int_equal(wait_seen(&s, 300), -1);	/* abandoned: no word */
	spawn("sleep 0.3", &other, 0, 1000, 1);
	assert_int_equal(wait_seen(&other, 5000), 0);
	/* The leader was reaped, and what it left got SIGKILL then, long before its grace. */
	for (int64_t until = now_ms() + 2000; kill((pid_t)pid, 0) == 0 && now_ms() < until;)
		lws_service(ctx, 0);
	assert_int_not_equal(kill((pid_t)pid, 0), 0);
	unlink(mark);
}

static void
test_a_process_not_ours_is_ended_only_while_it_is_that_process(void **state)
{
	char ref[PROC_REF_BUF];
	unsigned long long start;
	int status;
	pid_t pid = fork();

	(void)state;
	if (pid == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 1);
	start = proc_start(pid);
	assert_true(start > 0);
	/* Another start time: another process that reused the pid. Left alone. */
	snprintf(ref, sizeof(ref), "%d %llu", (int)pid, start + 1);
	children_stop_ref(ref, 0, 0, -1);
	usleep(100 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	snprintf(ref, sizeof(ref), "%d %llu", (int)pid, start);
	children_stop_ref(ref, 0, 0, -1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_exit_is_told_once),
		cmocka_unit_test(test_a_stop_is_sigterm),
		cmocka_unit_test(test_a_timeout_is_sigterm_then_sigkill),
		cmocka_unit_test(test_a_forgotten_child_is_still_reaped_and_ended),
		cmocka_unit_test(test_an_abandoned_group_is_swept),
		cmocka_unit_test(test_a_process_not_ours_is_ended_only_while_it_is_that_process),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
