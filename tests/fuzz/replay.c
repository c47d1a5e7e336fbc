/*
 * A harness's inputs replayed without libFuzzer, as a test of make check
 * (built with the normal compiler, and under AddressSanitizer and UBSan in
 * the sanitizer build). The program replay_NAME links harness NAME; every
 * file of tests/fuzz/seeds/NAME and
 * tests/fuzz/regress/NAME (the inputs that once crashed it, kept when
 * fixed) goes through LLVMFuzzerTestOneInput once, in name order. A crash,
 * a sanitizer's report or a leak fails the test. Directories given as
 * arguments are replayed instead.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "fuzz.h"

#define REPLAY_MAX_INPUT (1024 * 1024)

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of dir; the number replayed, or -1. A missing dir is none. */
static int
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[PATH_BUF_MAX];
	size_t n = 0, cap = 0;
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	int rc = 0;

	if (d == NULL || buf == NULL) {
		free(buf);
		if (d != NULL)
			closedir(d);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (nn == NULL)
				abort();
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		FILE *f;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((f = fopen(path, "rb")) == NULL) {
			perror(path);
			rc = -1;
			continue;
		}
		len = fread(buf, 1, REPLAY_MAX_INPUT, f);
		fclose(f);
		printf("replay %s\n", path);
		fflush(stdout);
		LLVMFuzzerTestOneInput(buf, len);
		rc = rc < 0 ? rc : rc + 1;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(buf);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char dir[PATH_BUF_MAX];
	int total = 0, n;

	if (strncmp(name, "replay_", 7) == 0)
		name += 7;

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if ((n = replay_dir(argv[i])) < 0)
				return 1;
			total += n;
		}
	} else {
		static const char *const kinds[] = { "seeds", "regress" };

		if (top == NULL)
			top = ".";
		for (size_t k = 0; k < 2; k++) {
			snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", top, kinds[k], name);
			if ((n = replay_dir(dir)) < 0)
				return 1;
			total += n;
		}
		if (total == 0) {
			fprintf(stderr, "%s: no seeds under %s/tests/fuzz\n", name, top);
			return 1;
		}
	}
	printf("%s: %d inputs replayed\n", name, total);
	return 0;
}
