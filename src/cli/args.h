/*
 * Command-line parsing for outpost: options described by tables, parsed in
 * one pass into a list of (option, value) pairs and positionals, and the
 * checks every flag value goes through (integers in a range, times,
 * durations, comma lists). Knows nothing of HTTP; every error names the flag
 * and what would be valid.
 */
#ifndef OUTPOST_CLI_ARGS_H
#define OUTPOST_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* What an option's value must be one of: names from src/common/state.c's tables. */
enum opt_choices {
	CHOICES_ANY,		/* anything (or a value checked otherwise) */
	CHOICES_INST_STATE,
	CHOICES_WORKER_STATE,
	CHOICES_HEALTH,
	CHOICES_RUN_STATUS,
	CHOICES_HOOK,
	CHOICES_ROLE
};

struct opt_spec {
	const char *name;	/* "definition" is --definition */
	char short_name;	/* 'f' is -f; 0 for none */
	const char *metavar;	/* the value's name in help ("FILE"); NULL: takes no value */
	const char *help;	/* with choices, followed by ": " and them */
	enum opt_choices choices;
};

/* "online, offline, lost": the names choices allows, for help and errors. */
const char *opt_choices_text(enum opt_choices c, char *buf, size_t n);
/* Is s one of them? (CHOICES_ANY: anything is.) */
int opt_choices_allow(enum opt_choices c, const char *s);

#define ARGS_MAX 64

struct arg_opt {
	const struct opt_spec *spec;
	const char *value;	/* "" for an option without a value */
};

struct args {
	struct arg_opt opts[ARGS_MAX];
	size_t nopts;
	const char *pos[ARGS_MAX];
	size_t npos;
};

enum args_mode {
	ARGS_PERMUTE,		/* options and positionals may mix */
	ARGS_STOP_AT_POSITIONAL	/* stop at the first positional (global options) */
};

void args_init(struct args *a);

/*
 * Parses argv[0..argc) against tables (a NULL-terminated list of spec tables,
 * each ending with a NULL name), appending to a. "--" ends the options;
 * "--name=value", "--name value", "-x value" and "-xvalue" are accepted.
 * *consumed is how many arguments were used (all, in ARGS_PERMUTE).
 * Returns 0, or -1 with err ("unknown option --foo", "--owner needs a value").
 */
int args_parse(struct args *a, const struct opt_spec *const *tables, int argc, char **argv,
    enum args_mode mode, int *consumed, char *err, size_t errlen);

/* The value of the last --name given, "" for a flag, or NULL when absent. */
const char *args_get(const struct args *a, const char *name);
int args_has(const struct args *a, const char *name);

/* "--count must be an integer 1..1000" when s is not a whole number in range. */
int arg_int(const char *what, const char *s, int64_t min, int64_t max, int64_t *out,
    char *err, size_t errlen);
/* An RFC 3339 time, or "now" (then *ms = now). */
int arg_time(const char *what, const char *s, int64_t now, int64_t *ms, char *err,
    size_t errlen);
/* A positive duration: "90s", "10m", "2h", "30d", "1h30m". */
int arg_duration(const char *what, const char *s, int64_t *ms, char *err, size_t errlen);

/*
 * A deadline as the server takes it: an RFC 3339 time, or a duration from
 * now up to max_ms ("30m"), checked only; it is sent as it was given, for
 * the server's clock is the one that counts.
 */
#define ARG_DEADLINE_MAX_MS (30LL * 86400000)	/* the server's bound: 30d */
int arg_deadline(const char *what, const char *s, int64_t max_ms, char *err, size_t errlen);

/*
 * Checks a comma list: every item non-empty and one of choices (the valid
 * names are shown in the error). Returns the number of items.
 */
int arg_list(const char *what, const char *s, enum opt_choices choices, char *err,
    size_t errlen);

/*
 * Splits a comma list into a NULL-terminated array (one allocation: free the
 * array only). Returns NULL when out of memory.
 */
char **arg_split(const char *s);

#endif
