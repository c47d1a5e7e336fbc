/*
 * outpost-shim HOOK DIR TIMEOUT_MS GRACE_MS [--user[-own] UID:GID] -- ARGV...: one
 * hook of an instance, run for outpost-agent. The agent forks and execs this
 * at once (nothing of the agent's runs in the child but the exec), with the
 * hook's environment and fd 3 its pipe: the shim writes the hook's pid
 * there, or "ERR why", and closes it.
 *
 * The shim leaves the agent's session, forks the hook into a process group
 * of its own in DIR/work (as UID:GID when given: hookuser.c, and in the
 * instance's cgroup when DIR/cgroup names one: cgroup_join.c), copies the
 * hook's stdout and stderr into a bounded log (DIR/HOOK.log), and writes its
 * exit status to DIR/HOOK.exit when it ends. It holds nothing of the
 * agent's (its descriptors are closed), so it
 * outlives an agent that is restarted, and the new agent finds the hook
 * running (DIR/HOOK.pid) or its end (HOOK.exit).
 *
 * The shim owns the hook's end: at its timeout, or when the agent sends the
 * shim SIGTERM, the hook's group gets SIGTERM, and whatever of the group is
 * left after the grace gets SIGKILL, even once the hook itself has gone. The
 * shim keeps that clock, not the agent, so a busy or restarting agent never
 * makes a timeout late.
 *
 * The shim fences too, so that the fence holds without its agent (a dead
 * one, or one that cannot start again): at most once a second it reads the
 * agent's lease, DIR/../../lease ("BOOT_ID ACKED_MS LEASE_MS FENCE_AT_MS",
 * proto.c), and once this boot's monotonic clock is past FENCE_AT_MS the
 * hook's group gets SIGKILL at once (no grace: the server may place the
 * instance elsewhere right after), then every process in the instance's
 * cgroup and, with --user-own (the instance's own uid), every process of
 * that uid; HOOK.exit ends in " fenced". No lease file, or one of three
 * fields (no fence moment known) or of another boot: no fence.
 *
 * The log keeps the first HOOK_LOG_HEAD bytes as they come and the last
 * HOOK_LOG_TAIL in memory, written at the end behind a note of what was
 * dropped between them: a hook that prints gigabytes fills no disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "hookuser.h"
#include "shim.h"
#include "state.h"

/* A count of milliseconds, 0 to a year. */
static int
ms_arg(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 366LL * 86400 * 1000)
		return -1;
	*out = v;
	return 0;
}

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
	char tmp[PATH_BUF_MAX];
	int fd;

	if (path_fmt(tmp, sizeof(tmp), "%s.tmp", path) != 0)
		return;
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

/*
 * The hook under way, as its shim sees it. Once the shim has signalled it
 * (its timeout, or the agent's SIGTERM), the hook has ended only when its
 * whole group has: what is left at the grace's end gets SIGKILL. The group's
 * id cannot name another group while any member of it lives, so signalling
 * it is safe for as long as kill(-pgid, 0) finds it.
 */
struct hook_run {
	pid_t pid;		/* its leader; its group's id */
	int64_t deadline;	/* its timeout, monotonic ms; 0: none */
	int64_t grace;
	int64_t term_at;	/* SIGTERM sent; 0: not */
	int64_t kill_at;	/* SIGKILL sent; 0: not */
	int64_t done_at;	/* the leader ended; 0: not yet */
	int status;
	int is_timed_out;
	int is_fenced;		/* killed at the lease's end */
};

static void
hook_term(struct hook_run *h, int64_t now)
{
	if (h->term_at == 0) {
		h->term_at = now;
		kill(-h->pid, SIGTERM);
	}
}

static int
group_alive(const struct hook_run *h)
{
	return kill(-h->pid, 0) == 0;
}

/*
 * The shim's clock: its timeout and its grace. Returns how long poll may
 * wait, or -1 once the shim is done with the hook's processes (pipes aside).
 */
static int
hook_tick(struct hook_run *h, int64_t now)
{
	int64_t wait = 60000;

	if (h->deadline > 0 && h->term_at == 0) {
		if (now >= h->deadline) {
			h->is_timed_out = 1;
			hook_term(h, now);
		} else if (h->deadline - now < wait) {
			wait = h->deadline - now;
		}
	}
	if (h->term_at > 0 && h->kill_at == 0) {
		if (now >= h->term_at + h->grace) {
			h->kill_at = now;
			kill(-h->pid, SIGKILL);
		} else {
			wait = wait < h->term_at + h->grace - now ? wait : h->term_at + h->grace - now;
		}
	}
	if (h->done_at == 0)
		return (int)wait;
	/* Signalled: the group's end is awaited (a second at most after SIGKILL). */
	if (h->term_at > 0 && group_alive(h) && (h->kill_at == 0 || now - h->kill_at < 1000))
		return 50;
	return -1;
}

/*
 * The lease's fence moment (monotonic ms) into *at: 0 when the file is
 * there, of this boot (boot, read once), with its 4th field; else -1.
 */
static int
lease_read(const char *path, const char *boot, int64_t *at)
{
	char saved[64];
	long long acked, lease, fence;
	FILE *f;
	int n;

	if (boot[0] == '\0' || (f = fopen(path, "re")) == NULL)
		return -1;
	n = fscanf(f, "%63s %lld %lld %lld", saved, &acked, &lease, &fence);
	fclose(f);
	if (n != 4 || strcmp(saved, boot) != 0 || fence < 1)
		return -1;
	*at = fence;
	return 0;
}

/* Nothing of the instance may run on: its group, its cgroup, its uid. */
static void
hook_fence(struct hook_run *h, const char *dir, const char *own_user, int64_t now)
{
	h->is_fenced = 1;
	if (h->term_at == 0)
		h->term_at = now;
	h->kill_at = now;
	/* Its leader unreaped (done_at 0), or a member alive: the group is still the hook's. */
	if (h->done_at == 0 || group_alive(h))
		kill(-h->pid, SIGKILL);
	cg_kill_listed(dir);
	if (own_user != NULL)
		hookuser_kill_uid(own_user);
}

/* Reads one of the hook's pipes into the log (and stdout into the grade); 0 at its end. */
static int
take_output(int fd, struct keep *k, int grade_fd, size_t *grade_len)
{
	char buf[16384];
	ssize_t n;

	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 1;
	if (n <= 0)
		return 0;
	keep_add(k, buf, (size_t)n);
	/* The grade is its stdout alone; one byte past the bound says "too large". */
	if (grade_fd >= 0 && *grade_len <= GRADE_MAX) {
		size_t take = (size_t)n < GRADE_MAX + 1 - *grade_len ? (size_t)n :
		    GRADE_MAX + 1 - *grade_len;

		write_all(grade_fd, buf, take);
		*grade_len += take;
	}
	return 1;
}

static void __attribute__((noreturn))
shim_fail(const char *what, const char *dir)
{
	dprintf(3, "ERR %s%s%s: %s\n", what, dir[0] ? " in " : "", dir, strerror(errno));
	_exit(1);
}

int
main(int argc, char **argv)
{
	char path[PATH_BUF_MAX], msg[SHIM_LINE_MAX], why[256], lease[PATH_BUF_MAX], boot[64] = "";
	struct keep k = { 0 };
	struct hook_run run = { 0 };
	int out[2], errp[2], grade_fd = -1, devnull, sfd;
	size_t grade_len = 0;
	struct pollfd pf[3];
	sigset_t mask, none;
	enum hook h;
	const char *dir, *user = NULL, *own_user = NULL;
	int64_t timeout_ms, grace_ms, now, fence_at = 0, lease_next = 0;
	FILE *bf;
	int a = 5;

	if (argc > 7 && (strcmp(argv[5], "--user") == 0 || strcmp(argv[5], "--user-own") == 0)) {
		user = argv[6];
		if (strcmp(argv[5], "--user-own") == 0)
			own_user = user;
		a = 7;
	}
	if (argc < a + 2 || hook_parse(argv[1], &h) != 0 || ms_arg(argv[3], &timeout_ms) != 0 ||
	    ms_arg(argv[4], &grace_ms) != 0 || strcmp(argv[a], "--") != 0 ||
	    fcntl(3, F_GETFD) < 0) {
		fprintf(stderr, "outpost-shim: outpost-agent runs this for each hook; it is not for "
		    "use by hand\n");
		return 2;
	}
	dir = argv[2];
	if (path_fmt(lease, sizeof(lease), "%s/../../lease", dir) != 0)
		lease[0] = '\0';
	if ((bf = fopen("/proc/sys/kernel/random/boot_id", "re")) != NULL) {
		if (fgets(boot, sizeof(boot), bf) == NULL)
			boot[0] = '\0';
		boot[strcspn(boot, "\n")] = '\0';
		fclose(bf);
	}
	setsid();
	/* Nothing of the agent's stays open here: not its sockets, not its files. */
	close_range(4, ~0U, 0);
	fcntl(3, F_SETFD, FD_CLOEXEC);	/* the hook must not hold it */
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 3)
			close(devnull);
	}
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* SIGCHLD (the hook ended) and SIGTERM (the agent says stop it) come through poll. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	k.fd = -1;
	if (path_fmt(path, sizeof(path), "%s/%s.log", dir, hook_name(h)) == 0)
		k.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (h == HOOK_GRADE && path_fmt(path, sizeof(path), "%s/grade.out", dir) == 0)
		grade_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (sfd < 0 || k.fd < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0)
		shim_fail("cannot make the hook's log or pipes", dir);
	run.pid = fork();
	if (run.pid < 0)
		shim_fail("cannot fork", "");
	if (run.pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		/* Its cgroup first (as root), then its user, then its directory. */
		if (cg_join_self(dir, path, sizeof(path)) != 0) {
			dprintf(2, "outpost-agent: cannot join the instance's cgroup %s: %s\n", path,
			    strerror(errno));
			_exit(126);
		}
		if (path_fmt(path, sizeof(path), "%s/work", dir) != 0) {
			dprintf(2, "outpost-agent: cannot enter %s: %s\n", dir, strerror(errno));
			_exit(126);
		}
		if (user != NULL && hookuser_enter(user, path, why, sizeof(why)) != 0) {
			dprintf(2, "outpost-agent: cannot run the hook as its user: %s\n", why);
			_exit(126);
		}
		if (chdir(path) != 0) {
			dprintf(2, "outpost-agent: cannot enter %s: %s\n", path, strerror(errno));
			_exit(126);
		}
		execvp(argv[a + 1], argv + a + 1);
		dprintf(2, "outpost-agent: cannot run %s: %s\n", argv[a + 1], strerror(errno));
		_exit(127);
	}
	setpgid(run.pid, run.pid);	/* both sides: the agent may signal the group at once */
	close(out[1]);
	close(errp[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	run.grace = grace_ms;
	run.deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	snprintf(msg, sizeof(msg), "%d %d %llu\n", (int)getpid(), (int)run.pid,
	    proc_start_time(getpid()));
	if (path_fmt(path, sizeof(path), "%s/%s.pid", dir, hook_name(h)) == 0)
		write_file(path, msg);
	dprintf(3, "%d\n", (int)run.pid);
	close(3);

	pf[0].fd = out[0];
	pf[1].fd = errp[0];
	pf[2].fd = sfd;
	pf[0].events = pf[1].events = pf[2].events = POLLIN;
	for (;;) {
		int wait;

		/*
		 * The lease, once a second; and again when its moment comes, since
		 * a heartbeat answered since the last look moved it on.
		 */
		now = mono_ms();
		if (!run.is_fenced && lease[0] != '\0' &&
		    (now >= lease_next || (fence_at > 0 && now >= fence_at))) {
			if (lease_read(lease, boot, &fence_at) != 0)
				fence_at = 0;
			lease_next = now + 1000;
			if (fence_at > 0 && now >= fence_at)
				hook_fence(&run, dir, own_user, now);
		}
		wait = hook_tick(&run, now);
		if (!run.is_fenced && lease[0] != '\0' && wait >= 0) {
			int64_t next = lease_next;

			if (fence_at > 0 && fence_at < next)
				next = fence_at;
			if (next - now < wait)
				wait = next - now > 0 ? (int)(next - now) : 0;
		}
		if (wait < 0) {
			/*
			 * The hook is done; what it left behind (a process still
			 * holding its stdout) gets half a second to finish writing.
			 */
			if (pf[0].fd < 0 && pf[1].fd < 0)
				break;
			if (now - run.done_at > 500)
				break;
			wait = 50;
		}
		if (poll(pf, 3, wait) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    take_output(pf[i].fd, &k, i == 0 ? grade_fd : -1, &grade_len) == 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
			}
		}
		if (pf[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				if (si.ssi_signo == SIGTERM)
					hook_term(&run, mono_ms());
		}
		if (run.done_at == 0 && waitpid(run.pid, &run.status, WNOHANG) == run.pid)
			run.done_at = mono_ms();
	}
	keep_finish(&k);
	close(k.fd);
	if (grade_fd >= 0)
		close(grade_fd);
	/* "fenced" before "timeout": the agent must know nothing of it may start again. */
	if (WIFSIGNALED(run.status))
		snprintf(msg, sizeof(msg), "signal %d%s\n", WTERMSIG(run.status),
		    run.is_fenced ? " fenced" : run.is_timed_out ? " timeout" : "");
	else
		snprintf(msg, sizeof(msg), "exit %d%s\n", WEXITSTATUS(run.status),
		    run.is_fenced ? " fenced" : run.is_timed_out ? " timeout" : "");
	if (path_fmt(path, sizeof(path), "%s/%s.exit", dir, hook_name(h)) == 0)
		write_file(path, msg);
	return 0;
}
