/*
 * The config file reader. Lines are bounded (4 KiB); a longer line is an
 * error naming its line rather than a silent cut.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confread.h"

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
	char line[4096], why[1024];
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
		char var[128], why[1024];
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

/* "state-dir" names the key "state_dir" when keys holds it. */
static const char *
flag_key(const char *name, size_t len, const char *const *keys)
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		size_t k = 0;

		if (strlen(keys[i]) != len)
			continue;
		while (k < len && (name[k] == keys[i][k] || (name[k] == '-' && keys[i][k] == '_')))
			k++;
		if (k == len)
			return keys[i];
	}
	return NULL;
}

enum config_flags_result
config_parse_flags(int argc, char **argv, const char *prog, const char *const *keys,
    struct config_flags *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *value, *key;
		size_t len;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return CONFIG_FLAGS_HELP;
		if (strcmp(a, "--version") == 0)
			return CONFIG_FLAGS_VERSION;
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			fprintf(stderr, "%s: unexpected argument %s (see %s --help)\n", prog, a, prog);
			return CONFIG_FLAGS_BAD;
		}
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		key = (len == 6 && strncmp(name, "config", 6) == 0) ? "config" :
		    flag_key(name, len, keys);
		if (key == NULL) {
			fprintf(stderr, "%s: unknown option --%.*s (see %s --help)\n", prog, (int)len,
			    name, prog);
			return CONFIG_FLAGS_BAD;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "%s: --%.*s needs a value\n", prog, (int)len, name);
			return CONFIG_FLAGS_BAD;
		}
		if (strcmp(key, "config") == 0) {
			out->config = value;
			continue;
		}
		if (out->n == CONFIG_MAX_FLAGS) {
			fprintf(stderr, "%s: more than %d flags\n", prog, CONFIG_MAX_FLAGS);
			return CONFIG_FLAGS_BAD;
		}
		out->key[out->n] = key;
		out->value[out->n] = value;
		out->n++;
	}
	return CONFIG_FLAGS_OK;
}

int
config_apply_flags(const struct config_flags *f, config_set_fn set, void *ctx, char *err,
    size_t errlen)
{
	for (int i = 0; i < f->n; i++) {
		char why[1024], flag[64];
		size_t k;

		for (k = 0; f->key[i][k] != '\0' && k + 1 < sizeof(flag); k++)
			flag[k] = f->key[i][k] == '_' ? '-' : f->key[i][k];
		flag[k] = '\0';
		why[0] = '\0';
		if (set(ctx, f->key[i], f->value[i], why, sizeof(why)) != 0) {
			snprintf(err, errlen, "--%s: %s", flag, why);
			return -1;
		}
	}
	return 0;
}
