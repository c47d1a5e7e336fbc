/*
 * A real store for a unit test (unit_store.h). It must never touch a
 * directory it did not make: it removes only what mkdtemp() gave it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server.h"
#include "unit_store.h"

struct store *
unit_store_open(char *dir, size_t dirlen)
{
	struct op_err err = { 0 };
	struct store *s;
	char path[PATH_BUF_MAX];

	if ((size_t)snprintf(dir, dirlen, "/tmp/outpost-unit-XXXXXX") >= dirlen ||
	    mkdtemp(dir) == NULL)
		return NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/t.db", dir) >= sizeof(path))
		return NULL;
	s = store_open(path, &err);
	if (s != NULL && store_migrate(s, store_latest_version(), &err) != 0) {
		store_close(s);
		s = NULL;
	}
	if (s == NULL)
		fprintf(stderr, "unit_store_open: %s\n", err.message);
	return s;
}

void
unit_store_remove(struct store *s, const char *dir)
{
	char path[PATH_BUF_MAX];
	struct dirent *e;
	DIR *d;

	if (s != NULL)
		store_close(s);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;	/* ".", "..": SQLite makes no hidden files */
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
