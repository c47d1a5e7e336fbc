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
#include <stdio.h>
#include <string.h>
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
