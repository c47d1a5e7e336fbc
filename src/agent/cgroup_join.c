/*
 * The shim's side of an instance's cgroup (shim.h): its child joins the
 * directories the agent listed in DIR/cgroup before it becomes the hook,
 * so the hook and everything it forks, double-forked or setsid'd, are in
 * the instance's cgroup from their first instruction. The agent makes the
 * cgroups and ends them (cgroup.c); nothing here may need more than the C
 * library: the shim links it alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "shim.h"

int
cg_join_self(const char *dir, char *what, size_t n)
{
	char path[PATH_BUF_MAX], line[PATH_BUF_MAX], pid[24];
	FILE *f;
	int saved;

	snprintf(what, n, "%s/%s", dir, CG_LIST_FILE);
	if (path_fmt(path, sizeof(path), "%s/%s", dir, CG_LIST_FILE) != 0)
		return -1;
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\n");
		ssize_t w = -1;
		int fd;

		line[len] = '\0';
		if (len == 0)
			continue;
		snprintf(what, n, "%s", line);
		if (path_fmt(path, sizeof(path), "%s/cgroup.procs", line) != 0)
			goto fail;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			w = write(fd, pid, strlen(pid));
			saved = errno;
			close(fd);
			errno = saved;
		}
		if (w != (ssize_t)strlen(pid))
			goto fail;
	}
	fclose(f);
	return 0;
fail:
	saved = errno;
	fclose(f);
	errno = saved;
	return -1;
}

/* SIGKILL to each pid in path (a cgroup.procs) but ours; how many were listed. */
static int
kill_procs(const char *path)
{
	char line[32];
	FILE *f = fopen(path, "re");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		pid_t pid = (pid_t)strtol(line, NULL, 10);

		if (pid > 1 && pid != getpid()) {
			kill(pid, SIGKILL);
			n++;
		}
	}
	fclose(f);
	return n;
}

void
cg_kill_listed(const char *dir)
{
	static const struct timespec tick = { 0, 10 * 1000 * 1000 };
	char path[PATH_BUF_MAX], line[PATH_BUF_MAX];
	FILE *f;
	int fd;

	if (path_fmt(path, sizeof(path), "%s/%s", dir, CG_LIST_FILE) != 0 ||
	    (f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		/* cgroup v2 (Linux 5.14 on) kills the whole tree at once; else pid by pid. */
		if (path_fmt(path, sizeof(path), "%s/cgroup.kill", line) == 0 &&
		    (fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
			if (write(fd, "1", 1) != 1) {
				/* an older kernel: the loop below does it */
			}
			close(fd);
		}
		if (path_fmt(path, sizeof(path), "%s/cgroup.procs", line) != 0)
			continue;
		/* Until it is empty: a fork between the read and the kill is found next time. */
		for (int round = 0; round < 100 && kill_procs(path) > 0; round++)
			nanosleep(&tick, NULL);
	}
	fclose(f);
}
