/*
 * The option parser and the checks on flag values. Each lookup walks the
 * option tables or the parsed list: a few dozen entries at most, so linear
 * scans are the simple and fast choice here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "state.h"
#include "util.h"

void
args_init(struct args *a)
{
	memset(a, 0, sizeof(*a));
}

static const struct opt_spec *
find_long(const struct opt_spec *const *tables, const char *name, size_t len)
{
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct opt_spec *o = tables[t]; o->name != NULL; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return o;
	return NULL;
}

static const struct opt_spec *
find_short(const struct opt_spec *const *tables, char c)
{
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct opt_spec *o = tables[t]; o->name != NULL; o++)
			if (o->short_name != 0 && o->short_name == c)
				return o;
	return NULL;
}

static int
add_opt(struct args *a, const struct opt_spec *o, const char *value, char *err, size_t errlen)
{
	if (a->nopts >= ARGS_MAX) {
		snprintf(err, errlen, "too many options");
		return -1;
	}
	a->opts[a->nopts].spec = o;
	a->opts[a->nopts].value = value;
	a->nopts++;
	return 0;
}

static int
add_pos(struct args *a, const char *s, char *err, size_t errlen)
{
	if (a->npos >= ARGS_MAX) {
		snprintf(err, errlen, "too many arguments");
		return -1;
	}
	a->pos[a->npos++] = s;
	return 0;
}

int
args_parse(struct args *a, const struct opt_spec *const *tables, int argc, char **argv,
    enum args_mode mode, int *consumed, char *err, size_t errlen)
{
	int i = 0;

	for (; i < argc; i++) {
		const char *s = argv[i];
		const struct opt_spec *o;
		const char *value = NULL;

		if (strcmp(s, "--") == 0) {
			if (mode == ARGS_STOP_AT_POSITIONAL)
				break;
			for (i++; i < argc; i++)
				if (add_pos(a, argv[i], err, errlen) != 0)
					return -1;
			break;
		}
		/*
		 * "-" is stdin, and "-3" a negative number (outpost template scale
		 * lab -1) when no short option is that digit: the command's check
		 * then names the argument, where "unknown option -1" would not.
		 */
		if (s[0] != '-' || s[1] == '\0' ||
		    (s[1] >= '0' && s[1] <= '9' && find_short(tables, s[1]) == NULL)) {
			if (mode == ARGS_STOP_AT_POSITIONAL)
				break;
			if (add_pos(a, s, err, errlen) != 0)
				return -1;
			continue;
		}
		if (s[1] == '-') {
			const char *name = s + 2, *eq = strchr(name, '=');
			size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);

			o = find_long(tables, name, len);
			if (o == NULL) {
				snprintf(err, errlen, "unknown option --%.*s", (int)len, name);
				return -1;
			}
			if (eq != NULL) {
				if (o->metavar == NULL) {
					snprintf(err, errlen, "--%s takes no value", o->name);
					return -1;
				}
				value = eq + 1;
			}
		} else {
			o = find_short(tables, s[1]);
			if (o == NULL) {
				snprintf(err, errlen, "unknown option -%c", s[1]);
				return -1;
			}
			if (s[2] != '\0') {
				if (o->metavar == NULL) {
					snprintf(err, errlen, "-%c takes no value", s[1]);
					return -1;
				}
				value = s + 2;
			}
		}
		if (o->metavar != NULL && value == NULL) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%s needs a value (%s)", o->name,
				    o->metavar);
				return -1;
			}
			value = argv[++i];
		}
		if (add_opt(a, o, value != NULL ? value : "", err, errlen) != 0)
			return -1;
	}
	if (consumed != NULL)
		*consumed = i;
	return 0;
}

const char *
args_get(const struct args *a, const char *name)
{
	for (size_t i = a->nopts; i-- > 0;)
		if (strcmp(a->opts[i].spec->name, name) == 0)
			return a->opts[i].value;
	return NULL;
}

int
args_has(const struct args *a, const char *name)
{
	return args_get(a, name) != NULL;
}

int
arg_int(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, char *err,
    size_t errlen)
{
	if (parse_int64(s, min, max, out) != 0) {
		if (max == INT64_MAX && min == 1)
			snprintf(err, errlen, "%s must be a positive integer, not '%s'", what, s);
		else if (max == INT64_MAX)
			snprintf(err, errlen, "%s must be an integer of at least %lld, not '%s'",
			    what, (long long)min, s);
		else
			snprintf(err, errlen, "%s must be an integer %lld..%lld, not '%s'", what,
			    (long long)min, (long long)max, s);
		return -1;
	}
	return 0;
}

int
arg_time(const char *what, const char *s, int64_t now, int64_t *ms, char *err, size_t errlen)
{
	if (strcmp(s, "now") == 0) {
		*ms = now;
		return 0;
	}
	if (time_parse_rfc3339(s, ms) != 0) {
		snprintf(err, errlen, "%s must be an RFC 3339 time such as 2026-11-23T10:00:00Z, "
		    "or now, not '%s'", what, s);
		return -1;
	}
	return 0;
}

int
arg_duration(const char *what, const char *s, int64_t *ms, char *err, size_t errlen)
{
	if (duration_parse(s, ms) != 0 || *ms <= 0) {
		snprintf(err, errlen, "%s must be a duration such as 90s, 10m, 2h, 30d or 1h30m, "
		    "not '%s'", what, s);
		return -1;
	}
	return 0;
}

int
arg_deadline(const char *what, const char *s, int64_t max_ms, char *err, size_t errlen)
{
	char max[32];
	int64_t ms;

	if (time_parse_rfc3339(s, &ms) == 0)
		return 0;
	if (duration_parse(s, &ms) == 0 && ms <= max_ms)
		return 0;
	snprintf(err, errlen, "%s must be an RFC 3339 time such as 2026-11-23T10:00:00Z or a "
	    "duration from now up to %s such as 30m, not '%s'", what,
	    duration_format(max_ms, max, sizeof(max)), s);
	return -1;
}

const char *
opt_choices_text(enum opt_choices c, char *buf, size_t n)
{
	static const enum state_kind kind[] = {
		[CHOICES_INST_STATE] = KIND_INSTANCE, [CHOICES_WORKER_STATE] = KIND_WORKER,
		[CHOICES_HEALTH] = KIND_HEALTH, [CHOICES_RUN_STATUS] = KIND_RUN,
	};

	switch (c) {
	case CHOICES_HOOK:
		return hook_names_text(buf, n);
	case CHOICES_ROLE:
		return role_names_from(ROLE_AGENT, buf, n);
	case CHOICES_ANY:
		snprintf(buf, n, "anything");
		return buf;
	default:
		return state_set_names(kind[c], state_all(kind[c]), buf, n);
	}
}

int
opt_choices_allow(enum opt_choices c, const char *s)
{
	enum hook h;
	enum role r;

	switch (c) {
	case CHOICES_ANY:
		return 1;
	case CHOICES_INST_STATE:
		return state_index(KIND_INSTANCE, s) >= 0;
	case CHOICES_WORKER_STATE:
		return state_index(KIND_WORKER, s) >= 0;
	case CHOICES_HEALTH:
		return state_index(KIND_HEALTH, s) >= 0;
	case CHOICES_RUN_STATUS:
		return state_index(KIND_RUN, s) >= 0;
	case CHOICES_HOOK:
		return hook_parse(s, &h) == 0;
	case CHOICES_ROLE:
		return role_parse(s, &r) == 0;
	}
	return 0;
}

int
arg_list(const char *what, const char *s, enum opt_choices choices, char *err, size_t errlen)
{
	char **items = arg_split(s);
	char names[256];
	int n = 0, rc = 0;

	if (items == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (; items[n] != NULL; n++) {
		if (items[n][0] == '\0') {
			snprintf(err, errlen, "%s has an empty item in '%s'", what, s);
			rc = -1;
			break;
		}
		if (!opt_choices_allow(choices, items[n])) {
			snprintf(err, errlen, "%s: unknown value '%s' (valid: %s)", what, items[n],
			    opt_choices_text(choices, names, sizeof(names)));
			rc = -1;
			break;
		}
	}
	free(items);
	return rc == 0 ? n : -1;
}

char **
arg_split(const char *s)
{
	size_t n = 1, len = strlen(s);
	char **v, *copy;

	for (const char *p = s; *p; p++)
		if (*p == ',')
			n++;
	/* The pointers, their NULL, then the copy of the string they point into. */
	v = malloc((n + 1) * sizeof(char *) + len + 1);
	if (v == NULL)
		return NULL;
	copy = (char *)(v + n + 1);
	memcpy(copy, s, len + 1);
	for (size_t i = 0; i < n; i++) {
		char *comma = strchr(copy, ',');

		v[i] = copy;
		if (comma != NULL) {
			*comma = '\0';
			copy = comma + 1;
		}
	}
	v[n] = NULL;
	return v;
}
