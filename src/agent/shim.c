/*
 * The agent's side of a hook's shim (outpost-shim, shim_main.c): starting
 * it, telling it to stop its hook, watching it (an adopted one is not our
 * child), and reading the status it leaves.
 *
 * Between the fork and the exec the child does only what is safe there (the
 * agent may have had threads: libcurl's resolver).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

int
shim_alive(const struct proc *p)
{
	if (p->shim <= 1 || kill(p->shim, 0) != 0)
		return 0;
	return !p->is_adopted || proc_start_time(p->shim) == p->shim_start;
}

void
shim_stop(struct proc *p)
{
	p->is_termed = 1;
	if (shim_alive(p))
		kill(p->shim, SIGTERM);
}

void
proc_signal(struct proc *p, int sig)
{
	/* Never a group below 2: kill(-1) and kill(0) reach far more than a hook. */
	if (p->pgid > 1)
		kill(-p->pgid, sig);
}

/*
 * The shim vanished without a word (killed by hand, say): its hook may run
 * on, unwatched. Its group is killed, unless the group's id now names
 * another process (its leader's start time differs): a group id is not
 * given to a new process while any member of the old group lives.
 */
void
proc_kill_orphan(struct proc *p)
{
	unsigned long long start;

	if (p->pgid <= 1 || kill(-p->pgid, 0) != 0)
		return;
	/*
	 * A live process whose pid is the group's id must be the hook itself
	 * (unknown start: the hook had ended before it was looked at, so that is
	 * another process now, whose group this may be).
	 */
	start = proc_start_time(p->pgid);
	if (start != 0 && start != p->hook_start)
		return;
	kill(-p->pgid, SIGKILL);
}

/* ---- the agent's side ---- */

/* Where outpost-shim is; set once by shim_locate(). */
static char shim_path[PATH_MAX];

/* Is path an executable file? Then it is the shim. */
static int
shim_try(const char *path)
{
	if (access(path, X_OK) != 0 || strlen(path) >= sizeof(shim_path))
		return -1;
	memcpy(shim_path, path, strlen(path) + 1);
	return 0;
}

int
shim_locate(char *err, size_t errlen)
{
	static const char installed[] = BINDIR "/outpost-agent";
	char self[PATH_MAX], path[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t len, root;

	if (n > 0) {
		self[n] = '\0';
		len = (size_t)n;
		/* Beside the agent: a build tree. */
		slash = strrchr(self, '/');
		if (slash != NULL && path_fmt(path, sizeof(path), "%.*s/outpost-shim",
		    (int)(slash - self), self) == 0 && shim_try(path) == 0)
			return 0;
		/*
		 * The same install moved under another root (ROOT/usr/bin/outpost-agent,
		 * unpacked with dpkg -x or installed with DESTDIR=): that root's shim,
		 * never another install's.
		 */
		if (len > sizeof(installed) - 1 &&
		    strcmp(self + len - (sizeof(installed) - 1), installed) == 0) {
			root = len - (sizeof(installed) - 1);
			if (path_fmt(path, sizeof(path), "%.*s%s", (int)root, self,
			    PKGLIBEXECDIR "/outpost-shim") == 0 && shim_try(path) == 0)
				return 0;
		}
	}
	if (shim_try(PKGLIBEXECDIR "/outpost-shim") == 0)
		return 0;
	snprintf(err, errlen, "cannot find outpost-shim beside outpost-agent or in %s: %s",
	    PKGLIBEXECDIR, strerror(errno));
	return -1;
}

/*
 * "outpost-shim HOOK DIR TIMEOUT GRACE [--user[-own] UID:GID] -- ARGV... NULL";
 * caller frees the array and [3], [4].
 */
static char **
shim_argv(enum hook h, char *const *argv, const char *dir, int64_t timeout_ms, int64_t grace_ms,
    const char *user)
{
	size_t n = 0, at = 5;
	char **a;

	while (argv[n] != NULL)
		n++;
	a = calloc(n + 9, sizeof(char *));
	if (a == NULL)
		return NULL;
	a[0] = "outpost-shim";
	a[1] = (char *)hook_name(h);
	a[2] = (char *)dir;
	a[3] = malloc(24);
	a[4] = malloc(24);
	if (a[3] == NULL || a[4] == NULL) {
		free(a[3]);
		free(a[4]);
		free(a);
		return NULL;
	}
	snprintf(a[3], 24, "%lld", (long long)timeout_ms);
	snprintf(a[4], 24, "%lld", (long long)grace_ms);
	if (user != NULL) {
		/* Its own uid (of the range): the shim's fence may kill all of it. */
		a[at++] = hookuser_owns((uid_t)strtoul(user, NULL, 10)) ? "--user-own" : "--user";
		a[at++] = (char *)user;
	}
	a[at++] = "--";
	memcpy(a + at, argv, n * sizeof(char *));
	return a;
}

static void
shim_argv_free(char **a)
{
	if (a != NULL) {
		free(a[3]);
		free(a[4]);
		free(a);
	}
}

int
shim_start(struct proc *p, enum hook h, char *const *argv, char *const *env, const char *dir,
    int64_t timeout_ms, int64_t grace_ms, const char *user, char *err, size_t errlen)
{
	char path[PATH_BUF_MAX], buf[512];
	struct pollfd pf;
	int sync[2];
	ssize_t n = 0;
	pid_t pid;
	char **sargv;

	/* An earlier run's status must not pass for this one's. */
	if (path_fmt(path, sizeof(path), "%s/%s.exit", dir, hook_name(h)) != 0) {
		snprintf(err, errlen, "cannot start %s: %s: %s", hook_name(h), dir, strerror(errno));
		return -1;
	}
	unlink(path);
	sargv = shim_argv(h, argv, dir, timeout_ms, grace_ms, user);
	if (sargv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pipe2(sync, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
		close(sync[0]);
		close(sync[1]);
		goto fail;
	}
	if (pid == 0) {
		/* Only what is safe between fork and exec: the agent may have had threads (curl's). */
		static const char msg[] = "ERR cannot run outpost-shim\n";

		if (sync[1] == 3)
			fcntl(3, F_SETFD, 0);
		else
			dup2(sync[1], 3);
		execve(shim_path, sargv, env);
		if (write(3, msg, sizeof(msg) - 1) < 0)
			_exit(1);
		_exit(1);
	}
	close(sync[1]);
	shim_argv_free(sargv);
	/*
	 * The shim says the hook's pid (its group) at once, or why it could not
	 * start it. Other children's SIGCHLD cut the wait short (EINTR): it
	 * resumes until its deadline.
	 */
	pf.fd = sync[0];
	pf.events = POLLIN;
	buf[0] = '\0';
	for (int64_t until = now_ms() + 5000, left = 5000; left > 0; left = until - now_ms()) {
		int r = poll(&pf, 1, (int)left);

		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			do
				n = read(sync[0], buf, sizeof(buf) - 1);
			while (n < 0 && errno == EINTR);
			buf[n > 0 ? n : 0] = '\0';
		}
		break;
	}
	close(sync[0]);
	memset(p, 0, sizeof(*p));
	p->hook = h;
	p->shim = pid;
	p->pgid = (pid_t)strtol(buf, NULL, 10);
	if (p->pgid <= 1) {
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "cannot start %s: %s", hook_name(h),
		    strncmp(buf, "ERR ", 4) == 0 ? buf + 4 : "the shim did not answer");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	p->shim_start = proc_start_time(pid);
	p->hook_start = proc_start_time(p->pgid);
	p->started_ms = now_ms();
	return 0;
fail:
	shim_argv_free(sargv);
	return -1;
}

int
shim_result(const char *dir, enum hook h, struct hook_result *r)
{
	char path[PATH_BUF_MAX], buf[SHIM_LINE_MAX];
	FILE *f;
	int v;

	memset(r, 0, sizeof(*r));
	if (path_fmt(path, sizeof(path), "%s/%s.exit", dir, hook_name(h)) != 0)
		return -1;
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	r->timed_out = strstr(buf, " timeout") != NULL;
	r->fenced = strstr(buf, " fenced") != NULL;
	if (sscanf(buf, "exit %d", &v) == 1) {
		r->has_code = 1;
		r->code = v;
		return 0;
	}
	if (sscanf(buf, "signal %d", &v) == 1) {
		r->signal = v;
		return 0;
	}
	return -1;
}
