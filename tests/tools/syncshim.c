/*
 * A fault injector for the syncs of a SQLite write-ahead log, preloaded into
 * outpostd by group_commit.sh (LD_PRELOAD). Only fsync and fdatasync of a
 * file whose name ends in "-wal" are touched; for each:
 *   SYNCSHIM_COUNT=FILE  appends a line to FILE (the test counts the syncs);
 *   SYNCSHIM_SLOW=FILE   while FILE exists, sleeps as many ms as it says first;
 *   SYNCSHIM_FAIL=FILE   while FILE exists, fails with EIO instead of syncing.
 * The files are looked at on each call, so the test turns faults on and off
 * while the server runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "walfd.h"

/* 0: go on and sync; -1: fail (errno set). */
static int
fault(int fd)
{
	const char *count = getenv("SYNCSHIM_COUNT"), *slow = getenv("SYNCSHIM_SLOW");
	const char *fail = getenv("SYNCSHIM_FAIL");
	char buf[32];
	int f;

	if (!fd_is_wal(fd))
		return 0;
	if (count != NULL && (f = open(count, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		(void)!write(f, "sync\n", 5);
		close(f);
	}
	if (slow != NULL && (f = open(slow, O_RDONLY)) >= 0) {
		ssize_t n = read(f, buf, sizeof(buf) - 1);
		long ms = n > 0 ? (buf[n] = '\0', strtol(buf, NULL, 10)) : 0;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		close(f);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (fail != NULL && access(fail, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
fsync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return fault(fd) != 0 ? -1 : real(fd);
}

int
fdatasync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	return fault(fd) != 0 ? -1 : real(fd);
}
