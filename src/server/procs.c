/*
 * How outpostd starts a program, and what /proc says of a process. A child
 * gets our environment without systemd's variables or our own settings,
 * stdin from /dev/null, none of our descriptors, and a process group (or a
 * session) of its own, so that a timeout or a cancel ends it and whatever it
 * started with one kill(-pid).
 *
 * Only children.c calls proc_spawn(): it watches, reaps and ends what runs.
 * Nothing here waits or sends a signal.
 *
 * The child shares our memory until it execs (clone with CLONE_VM and
 * CLONE_VFORK, as posix_spawn does): a fork would copy our page tables and
 * make every page we write afterwards fault once, which cost the loop ~4 ms
 * a spawn (bench/RESULTS.md). The child therefore writes nothing of ours,
 * calls nothing that allocates, runs with every signal blocked until its
 * handlers are the defaults, and exits 127 when the exec fails, as a forked
 * child did, so a program that cannot run ends like one that failed.
 */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"

extern char **environ;

static char **
child_env(const char *const *extra)
{
	size_t n = 0, k = 0;
	char **env;

	for (char **e = environ; *e != NULL; e++)
		n++;
	for (const char *const *x = extra; x != NULL && *x != NULL; x++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "NOTIFY_SOCKET=", 14) == 0 || strncmp(*e, "WATCHDOG_", 9) == 0 ||
		    strncmp(*e, "LISTEN_", 7) == 0 || strncmp(*e, "OUTPOST_", 8) == 0)
			continue;
		env[k++] = *e;
	}
	for (const char *const *x = extra; x != NULL && *x != NULL; x++)
		env[k++] = (char *)*x;
	env[k] = NULL;
	return env;
}

#define SPAWN_STACK (64 * 1024)	/* the child's, until it execs; execvpe keeps paths on it */

struct spawn {
	char *const *argv;
	char **env;
	int out_fd;
	const char *cwd;
	int is_session;
	int niceness;
};

/*
 * The child, on a stack of its own in our memory. Instrumentation is off:
 * the sanitizers do not know this stack, and what they would print would be
 * the program's output.
 */
__attribute__((no_sanitize_address)) static int
spawn_child(void *arg)
{
	const struct spawn *sp = arg;
	struct sigaction dfl, cur;
	sigset_t none;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || dup2(fd, 0) < 0 || dup2(sp->out_fd, 1) < 0 || dup2(sp->out_fd, 2) < 0)
		_exit(126);
	if (sp->cwd != NULL && chdir(sp->cwd) != 0)
		_exit(126);
	/*
	 * A nice above ours, never below (that would need privilege): 0 keeps
	 * ours, whatever it is, and so does a nice at or below it.
	 */
	if (sp->niceness > 0 && sp->niceness > getpriority(PRIO_PROCESS, 0))
		setpriority(PRIO_PROCESS, 0, sp->niceness);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
		for (int i = 3; i < 65536; i++)
			close(i);
	/* Our handlers are our code: each is the default here (an ignored signal stays so). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_IGN &&
		    cur.sa_handler != SIG_DFL)
			sigaction(sig, &dfl, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	if (sp->is_session)
		setsid();
	else
		setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvpe(sp->argv[0], sp->argv, sp->env);
	_exit(127);
}

pid_t
proc_spawn(char *const *argv, const char *const *extra_env, int out_fd, const char *cwd,
    int is_session, int niceness)
{
	struct spawn sp = { argv, child_env(extra_env), out_fd, cwd, is_session, niceness };
	char *stack = malloc(SPAWN_STACK);
	sigset_t all, old;
	pid_t pid = -1;

	if (sp.env != NULL && stack != NULL) {
		/* No handler of ours may run in the child while it shares our memory. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pid = clone(spawn_child, stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &sp);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	/* Both sides set the group, so a kill(-pid) right after the spawn reaches it. */
	if (pid > 0 && !is_session)
		setpgid(pid, pid);
	free(stack);
	free(sp.env);
	return pid;
}

/* The start time /proc gives pid; 0 if it is gone, or a zombie unless that is allowed. */
static unsigned long long
stat_start(pid_t pid, int is_zombie_ok)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd, field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the command may hold spaces and parentheses */
	if (p == NULL || p[1] == '\0' || (p[2] == 'Z' && !is_zombie_ok))
		return 0;	/* a zombie is not running */
	for (p++; *p != '\0' && field < 22; p++)
		if (*p == ' ')
			field++;
	if (field == 22)
		start = strtoull(p, NULL, 10);
	return start;
}

unsigned long long
proc_start(pid_t pid)
{
	return stat_start(pid, 0);
}

/*
 * A child's start time, read right after its spawn: it may have ended by
 * then, and its zombie still says when it started (it is ours and not yet
 * reaped, so the pid is not someone else's).
 */
unsigned long long
proc_child_start(pid_t pid)
{
	return stat_start(pid, 1);
}

pid_t
proc_ref_alive(const char *ref)
{
	long long pid = 0;
	unsigned long long start = 0;

	if (ref == NULL || sscanf(ref, "%lld %llu", &pid, &start) != 2 || pid <= 1)
		return 0;
	return proc_start((pid_t)pid) == start && start != 0 ? (pid_t)pid : 0;
}

void
proc_status_words(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exited with %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, n, "ended");
}
