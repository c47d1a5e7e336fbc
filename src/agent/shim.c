/*
 * Hooks run under a shim: the agent forks, the child (the shim) leaves the
 * agent's session, forks the hook into a process group of its own, copies
 * the hook's stdout and stderr into a bounded log, and writes the hook's
 * exit status to a file when it ends. The shim holds nothing of the agent's
 * (its descriptors are closed), so it outlives an agent that is restarted,
 * and the new agent finds the hook running (HOOK.pid) or its end (HOOK.exit).
 *
 * The log keeps the first HOOK_LOG_HEAD bytes as they come and the last
 * HOOK_LOG_TAIL in memory, written at the end behind a note of what was
 * dropped between them: a hook that prints gigabytes fills no disk.
 *
 * What it must never do: run agent code after the fork but this file's, or
 * return into the agent's loop (it ends with _exit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/*
 * The start time of pid (clock ticks since boot, field 22 of /proc/PID/stat),
 * or 0 when it is gone or a zombie: a zombie has ended, whoever reaps it.
 */
unsigned long long
proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p, *save = NULL;
	unsigned long long v = 0;
	FILE *f;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* The command may hold spaces and parentheses: fields are counted after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	for (p = strtok_r(p + 1, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
		if (++field == 3 && (*p == 'Z' || *p == 'X'))
			return 0;
		if (field == 22) {
			v = strtoull(p, NULL, 10);
			break;
		}
	}
	return v;
}

int
shim_alive(const struct proc *p)
{
	if (p->shim <= 1 || kill(p->shim, 0) != 0)
		return 0;
	return !p->is_adopted || proc_start_time(p->shim) == p->shim_start;
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
	start = proc_start_time(p->pgid);
	if (start != 0 && p->hook_start != 0 && start != p->hook_start)
		return;
	kill(-p->pgid, SIGKILL);
}

/* ---- the shim's side, after the fork ---- */

struct keep {
	int fd;
	size_t head;			/* bytes written to the log */
	char tail[HOOK_LOG_TAIL];
	size_t start, len;		/* the tail ring */
	unsigned long long dropped;	/* bytes that fell out of the ring */
};

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
keep_add(struct keep *k, const char *p, size_t n)
{
	if (k->head < HOOK_LOG_HEAD) {
		size_t take = HOOK_LOG_HEAD - k->head < n ? HOOK_LOG_HEAD - k->head : n;

		write_all(k->fd, p, take);
		k->head += take;
		p += take;
		n -= take;
	}
	if (n == 0)
		return;
	if (n >= HOOK_LOG_TAIL) {
		k->dropped += k->len + (n - HOOK_LOG_TAIL);
		memcpy(k->tail, p + n - HOOK_LOG_TAIL, HOOK_LOG_TAIL);
		k->start = 0;
		k->len = HOOK_LOG_TAIL;
		return;
	}
	if (k->len + n > HOOK_LOG_TAIL) {
		size_t over = k->len + n - HOOK_LOG_TAIL;

		k->dropped += over;
		k->start = (k->start + over) % HOOK_LOG_TAIL;
		k->len -= over;
	}
	for (size_t i = 0; i < n; i++)
		k->tail[(k->start + k->len + i) % HOOK_LOG_TAIL] = p[i];
	k->len += n;
}

static void
keep_finish(struct keep *k)
{
	char note[96];
	size_t first;

	if (k->dropped > 0) {
		snprintf(note, sizeof(note), "\n[%llu bytes of output were not kept]\n", k->dropped);
		write_all(k->fd, note, strlen(note));
	}
	first = HOOK_LOG_TAIL - k->start < k->len ? HOOK_LOG_TAIL - k->start : k->len;
	write_all(k->fd, k->tail + k->start, first);
	write_all(k->fd, k->tail, k->len - first);
}

/* Writes text to path atomically (a temporary file, then rename). */
static void
write_file(const char *path, const char *text)
{
	char tmp[1200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	write_all(fd, text, strlen(text));
	close(fd);
	rename(tmp, path);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
}

static void __attribute__((noreturn))
shim_main(enum hook h, char *const *argv, char *const *env, const char *dir, int sync_fd)
{
	char path[1200], msg[1400];
	struct keep k = { 0 };
	int out[2], errp[2], grade_fd = -1, devnull, status = 0, is_done = 0, open_fds = 2;
	size_t grade_len = 0;
	int64_t done_at = 0;
	struct pollfd pf[2];
	pid_t pid;

	setsid();
	prctl(PR_SET_NAME, "outpost-shim");	/* in ps and top, and out of pkill outpost-agent */
	reset_signals();
	signal(SIGPIPE, SIG_IGN);
	/* Nothing of the agent's stays open here: not its sockets, not its files. */
	if (sync_fd != 3) {
		dup2(sync_fd, 3);
		sync_fd = 3;
	}
	close_range(4, ~0U, 0);
	fcntl(sync_fd, F_SETFD, FD_CLOEXEC);	/* dup2 cleared it: the hook must not hold it */
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 3)
			close(devnull);
	}
	snprintf(path, sizeof(path), "%s/%s.log", dir, hook_name(h));
	k.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (h == HOOK_GRADE) {
		snprintf(path, sizeof(path), "%s/grade.out", dir);
		grade_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	}
	if (k.fd < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		dprintf(sync_fd, "ERR cannot make the hook's log or pipes in %s: %s\n", dir,
		    strerror(errno));
		_exit(1);
	}
	pid = fork();
	if (pid < 0) {
		dprintf(sync_fd, "ERR cannot fork: %s\n", strerror(errno));
		_exit(1);
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		snprintf(path, sizeof(path), "%s/work", dir);
		if (chdir(path) != 0) {
			dprintf(2, "outpost-agent: cannot enter %s: %s\n", path, strerror(errno));
			_exit(126);
		}
		execvpe(argv[0], argv, env);
		dprintf(2, "outpost-agent: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* both sides: the agent may signal the group at once */
	close(out[1]);
	close(errp[1]);
	snprintf(msg, sizeof(msg), "%d %d %llu\n", (int)getpid(), (int)pid,
	    proc_start_time(getpid()));
	snprintf(path, sizeof(path), "%s/%s.pid", dir, hook_name(h));
	write_file(path, msg);
	dprintf(sync_fd, "%d\n", (int)pid);
	close(sync_fd);

	pf[0].fd = out[0];
	pf[1].fd = errp[0];
	pf[0].events = pf[1].events = POLLIN;
	for (;;) {
		int r = poll(pf, 2, is_done ? 50 : 200);

		for (int i = 0; r > 0 && i < 2; i++) {
			char buf[16384];
			ssize_t n;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pf[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_fds--;
				continue;
			}
			keep_add(&k, buf, (size_t)n);
			/* The grade is its stdout alone; one byte past the bound says "too large". */
			if (i == 0 && grade_fd >= 0 && grade_len <= GRADE_MAX) {
				size_t take = (size_t)n < GRADE_MAX + 1 - grade_len ? (size_t)n :
				    GRADE_MAX + 1 - grade_len;

				write_all(grade_fd, buf, take);
				grade_len += take;
			}
		}
		if (!is_done && waitpid(pid, &status, WNOHANG) == pid) {
			is_done = 1;
			done_at = mono_ms();
		}
		if (open_fds == 0) {
			if (!is_done)
				waitpid(pid, &status, 0);
			break;
		}
		/*
		 * The hook is gone; what it left behind (a process still holding its
		 * stdout) gets half a second to finish writing, no more.
		 */
		if (is_done && (r == 0 || mono_ms() - done_at > 500))
			break;
	}
	keep_finish(&k);
	close(k.fd);
	if (grade_fd >= 0)
		close(grade_fd);
	if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "signal %d\n", WTERMSIG(status));
	else
		snprintf(msg, sizeof(msg), "exit %d\n", WEXITSTATUS(status));
	snprintf(path, sizeof(path), "%s/%s.exit", dir, hook_name(h));
	write_file(path, msg);
	_exit(0);
}

/* ---- the agent's side ---- */

int
shim_start(struct proc *p, enum hook h, char *const *argv, char *const *env, const char *dir,
    int64_t timeout_ms, char *err, size_t errlen)
{
	char path[1200], buf[512];
	struct pollfd pf;
	int sync[2];
	ssize_t n = 0;
	pid_t pid;

	/* An earlier run's status must not pass for this one's. */
	snprintf(path, sizeof(path), "%s/%s.exit", dir, hook_name(h));
	unlink(path);
	if (pipe2(sync, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
		close(sync[0]);
		close(sync[1]);
		return -1;
	}
	if (pid == 0) {
		close(sync[0]);
		shim_main(h, argv, env, dir, sync[1]);
	}
	close(sync[1]);
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
	p->deadline_ms = timeout_ms > 0 ? p->started_ms + timeout_ms : 0;
	return 0;
}

int
shim_result(const char *dir, enum hook h, struct hook_result *r)
{
	char path[1200], buf[64];
	FILE *f;
	int v;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/%s.exit", dir, hook_name(h));
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
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
