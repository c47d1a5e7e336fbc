/*
 * The config file reader. Lines are bounded (4 KiB); a longer line is an
 * error naming its line rather than a silent cut.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_load_file(const char *path, int is_optional, config_set_fn set, void *ctx,
    char *err, size_t errlen)
{
	char line[4096], why[256];
	FILE *f;
	int lineno = 0, rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		if (is_optional && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k, *v, *eq;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
			    sizeof(line) - 2);
			rc = -1;
			break;
		}
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected `key = value`", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		/* Allow "quoted values" for values with leading spaces or #. */
		if (v[0] == '"' && strlen(v) >= 2 && v[strlen(v) - 1] == '"') {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		why[0] = '\0';
		if (set(ctx, k, v, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

int
config_load_env(const char *const *keys, config_set_fn set, void *ctx, char *err, size_t errlen)
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		char var[128], why[256];
		const char *v;
		size_t n = 0;

		n = (size_t)snprintf(var, sizeof(var), "OUTPOST_");
		for (const char *p = keys[i]; *p && n + 1 < sizeof(var); p++)
			var[n++] = (char)toupper((unsigned char)*p);
		var[n] = '\0';
		v = getenv(var);
		if (v == NULL)
			continue;
		why[0] = '\0';
		if (set(ctx, keys[i], v, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", var, why);
			return -1;
		}
	}
	return 0;
}
