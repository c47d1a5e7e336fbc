/*
 * The child processes of outpostd, and every signal it sends. Whatever it
 * runs (a provisioner's program, a local agent, a runbook's exec step) is
 * spawned here (procs.c's spawn), watched here, reaped here, and
 * ended here on one schedule: SIGTERM (to its group, or to it alone), then
 * SIGKILL a grace later if it is still there. Its owner is told once, on
 * the loop, how it ended (on_exit), and may stop listening (child_forget)
 * without the schedule stopping.
 *
 * Reaping: SIGCHLD sets a flag and wakes the loop (lws_cancel_service), and
 * the loop calls children_service() after each turn, which reaps with
 * waitpid(WNOHANG) until nothing is left to reap. The signals due are one
 * lws timer at the earliest of them. O(children) a reap or a timer: tens.
 *
 * A process that is not our child (a local agent or a run's program left by
 * an earlier outpostd) is known by its "PID START" reference and only ever
 * ended: each signal goes to it only while /proc still shows that process.
 *
 * Never: wait for a child (no blocking waitpid, no sleep), or send a signal
 * to a pid that may have been reused (ours are signalled only until reaped).
 */
#define _GNU_SOURCE 1
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"

struct child {
	struct child *next;
	pid_t pid;
	unsigned long long start;	/* /proc's start time, read at spawn (0: unknown) */
	int is_ours;		/* our child, reaped here; else a process we only end */
	int signals_group;	/* SIGTERM and SIGKILL go to its group (-pid) */
	int is_swept;		/* reaped: SIGKILL to what it left in its group */
	int64_t grace_ms;	/* from SIGTERM to SIGKILL; < 0: no SIGKILL */
	int64_t term_at;	/* SIGTERM due then (0: not asked) */
	int64_t kill_at;	/* SIGKILL due then (0: not yet due) */
	int is_term_sent;
	int is_kill_sent;
	int is_timed_out;	/* term_at came from its timeout */
	child_exit_fn on_exit;	/* NULL: its owner no longer listens */
	void *owner;
};

static struct child *children;
static struct lws_context *ctx;
static lws_sorted_usec_list_t due_sul;
static volatile sig_atomic_t got_chld;
static struct sigaction old_chld;
static int is_started;

static void
on_chld(int sig)
{
	int saved = errno;

	(void)sig;
	got_chld = 1;
	if (ctx != NULL)
		lws_cancel_service(ctx);
	errno = saved;
}

static void
send_signal(struct child *c, int sig)
{
	assert(c->pid > 1);
	kill(c->signals_group ? -c->pid : c->pid, sig);
}

/* Is the process c names still there? Ours are until reaped; others by their start time. */
static int
is_there(const struct child *c)
{
	return c->is_ours || (c->start != 0 && proc_start(c->pid) == c->start);
}

static void due_run(lws_sorted_usec_list_t *sul);

/* The timer at the earliest signal due, or none. O(children). */
static void
reschedule(void)
{
	int64_t next = 0, now;

	if (ctx == NULL)
		return;
	for (struct child *c = children; c != NULL; c = c->next) {
		int64_t at = !c->is_term_sent ? c->term_at : !c->is_kill_sent ? c->kill_at : 0;

		if (at != 0 && (next == 0 || at < next))
			next = at;
	}
	if (next == 0) {
		lws_sul_cancel(&due_sul);
		return;
	}
	now = now_ms();
	lws_sul_schedule(ctx, 0, &due_sul, due_run,
	    (next > now ? next - now : 0) * LWS_US_PER_MS + 1);
}

static void
unlink_child(struct child *c)
{
	for (struct child **p = &children; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

/* Sends what is due by now; a process that is not ours and is gone is forgotten. */
static void
send_due(int64_t now)
{
	for (struct child **p = &children; *p != NULL;) {
		struct child *c = *p;

		if (c->term_at != 0 && !c->is_term_sent && now >= c->term_at) {
			if (!is_there(c))
				goto gone;
			send_signal(c, SIGTERM);
			c->is_term_sent = 1;
			if (c->grace_ms >= 0)
				c->kill_at = now + c->grace_ms;
			else if (!c->is_ours)
				goto gone;	/* a last word, nothing more to do */
		}
		if (c->kill_at != 0 && !c->is_kill_sent && now >= c->kill_at) {
			if (!is_there(c))
				goto gone;
			send_signal(c, SIGKILL);
			c->is_kill_sent = 1;
			if (!c->is_ours)
				goto gone;
		}
		p = &c->next;
		continue;
gone:
		*p = c->next;
		free(c);
	}
}

static void
due_run(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	got_chld = 1;	/* reap too: a SIGCHLD may have come before the handler was in */
	children_service();
	send_due(now_ms());
	reschedule();
}

void
children_service(void)
{
	int status;
	pid_t pid;

	if (!got_chld)
		return;
	got_chld = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c;
		struct child_exit e = { 0 };

		for (c = children; c != NULL && !(c->is_ours && c->pid == pid); c = c->next)
			;
		if (c == NULL) {
			log_debug("children.reaped", LOG_INT("pid", pid), "detail",
			    "not one we started", NULL);
			continue;
		}
		unlink_child(c);
		if (c->is_swept)
			kill(-c->pid, SIGKILL);	/* what it left behind in its group */
		e.pid = pid;
		e.status = status;
		e.was_stopped = c->is_term_sent;
		e.is_timed_out = c->is_term_sent && c->is_timed_out;
		if (c->on_exit != NULL)
			c->on_exit(c->owner, &e);	/* may spawn or stop others */
		free(c);
	}
	reschedule();
}

struct child *
children_spawn(const struct child_spec *sp)
{
	struct child *c = calloc(1, sizeof(*c));
	int lfd = -1, fd = sp->out_fd;

	if (c == NULL)
		return NULL;
	assert(sp->argv != NULL && sp->argv[0] != NULL);
	if (fd < 0) {
		lfd = open(sp->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (lfd < 0) {
			free(c);
			return NULL;
		}
		fd = lfd;
	}
	c->pid = proc_spawn(sp->argv, sp->env, fd, sp->cwd, sp->is_session, sp->niceness);
	if (lfd >= 0) {
		int saved = errno;

		close(lfd);
		errno = saved;
	}
	if (c->pid < 0) {
		free(c);
		return NULL;
	}
	/* Its start time now, once: it exists from its spawn on, and exec does not change it. */
	c->start = proc_child_start(c->pid);
	c->is_ours = 1;
	c->signals_group = sp->signals_group;
	c->grace_ms = sp->grace_ms;
	c->on_exit = sp->on_exit;
	c->owner = sp->owner;
	if (sp->timeout_ms > 0) {
		c->term_at = now_ms() + sp->timeout_ms;
		c->is_timed_out = 1;
	}
	c->next = children;
	children = c;
	reschedule();
	return c;
}

pid_t
child_pid(const struct child *c)
{
	return c->pid;
}

unsigned long long
child_start(const struct child *c)
{
	return c->start;
}

int
child_was_stopped(const struct child *c)
{
	return c->is_term_sent;
}

/* Asks for the end: SIGTERM after delay_ms (0: now), SIGKILL a grace after that. */
static void
stop_at(struct child *c, int64_t delay_ms)
{
	int64_t at = now_ms() + (delay_ms > 0 ? delay_ms : 0);

	if (c->is_term_sent || (c->term_at != 0 && c->term_at <= at && !c->is_timed_out))
		return;	/* already asked, as soon or sooner */
	if (c->term_at == 0 || at < c->term_at) {
		c->term_at = at;
		c->is_timed_out = 0;
	}
	if (delay_ms <= 0) {
		send_due(now_ms());
		/* c may be gone (a process not ours): nothing of it is read after this. */
	}
	reschedule();
}

void
child_stop(struct child *c, int64_t delay_ms)
{
	stop_at(c, delay_ms);
}

void
child_forget(struct child *c)
{
	c->on_exit = NULL;
	c->owner = NULL;
}

void
child_abandon(struct child *c)
{
	c->is_swept = c->signals_group;
	child_forget(c);
	stop_at(c, 0);
}

void
child_group_sweep(pid_t pgid)
{
	/* Called once its leader is reaped; the group's id is not reused while any of it lives. */
	if (pgid > 1)
		kill(-pgid, SIGKILL);
}

void
children_stop_ref(const char *ref, int signals_group, int64_t delay_ms, int64_t grace_ms)
{
	long long pid = 0;
	unsigned long long start = 0;
	struct child *c;

	if (ref == NULL || sscanf(ref, "%lld %llu", &pid, &start) != 2 || pid <= 1 || start == 0)
		return;
	for (c = children; c != NULL; c = c->next) {
		if (c->pid == (pid_t)pid && c->start == start) {
			stop_at(c, delay_ms);
			return;
		}
	}
	if (proc_start((pid_t)pid) != start)
		return;	/* gone, or its pid now names another process */
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->pid = (pid_t)pid;
	c->start = start;
	c->signals_group = signals_group;
	c->grace_ms = grace_ms;
	c->next = children;
	children = c;
	stop_at(c, delay_ms);
}

void
children_stop(void)
{
	if (ctx != NULL)
		lws_sul_cancel(&due_sul);
	ctx = NULL;
}

void
children_start(struct lws_context *lws)
{
	struct sigaction sa;

	assert(lws != NULL);
	ctx = lws;
	if (is_started)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, &old_chld) == 0)
		is_started = 1;
	/* Anything that ended before the handler was in is reaped now. */
	got_chld = 1;
	children_service();
}

void
children_free(void)
{
	if (is_started) {
		sigaction(SIGCHLD, &old_chld, NULL);
		is_started = 0;
	}
	children_stop();
	while (children != NULL) {
		struct child *c = children;

		children = c->next;
		free(c);
	}
}
