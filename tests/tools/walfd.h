/*
 * Whether a descriptor is a SQLite write-ahead log's (its name ends in
 * "-wal"): for the sync shims of the tests (tools/syncshim.c, preloaded
 * into outpostd; unit/test_store_sync.c, linked in).
 */
#ifndef OUTPOST_TESTS_WALFD_H
#define OUTPOST_TESTS_WALFD_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline int
fd_is_wal(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 4)
		return 0;
	path[n] = '\0';
	return strcmp(path + n - 4, "-wal") == 0;
}

#endif
