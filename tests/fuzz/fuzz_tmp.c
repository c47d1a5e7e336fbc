/*
 * A directory of the harness's own for the files it writes (fuzz.h), made
 * on first use and removed whole at exit; and writing one file there.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bounds.h"
#include "fuzz.h"

static char tmpdir[64];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/outpost-fuzz-XXXXXX",
		    t != NULL && t[0] != '\0' && strlen(t) < 32 ? t : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			perror("fuzz_tmpdir");
			abort();
		}
		atexit(rm_tmpdir);
	}
	return tmpdir;
}

int
fuzz_write_file(const char *dir, const char *name, const uint8_t *data, size_t size)
{
	char path[PATH_BUF_MAX];
	FILE *f;
	int rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (f = fopen(path, "w")) == NULL)
		return -1;
	if (size > 0 && fwrite(data, 1, size, f) != size)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}
