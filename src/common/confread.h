/*
 * Configuration files and OUTPOST_* variables, shared by every program.
 * A file is lines of `key = value`; `#` starts a comment; blank lines are
 * ignored. Keys use underscores (state_dir); the matching variable is the key
 * upper-cased behind OUTPOST_ (OUTPOST_STATE_DIR).
 */
#ifndef OUTPOST_CONFREAD_H
#define OUTPOST_CONFREAD_H

#include <stddef.h>

/*
 * Called for each setting. Returns 0, or -1 after writing what is wrong with
 * the value (not where: the caller adds the file and line or the variable).
 */
typedef int (*config_set_fn)(void *ctx, const char *key, const char *value,
    char *err, size_t errlen);

/*
 * Reads path. A missing file is an error unless is_optional. On error, err
 * says "FILE:LINE: what" and nothing more is applied after that line.
 */
int config_load_file(const char *path, int is_optional, config_set_fn set, void *ctx,
    char *err, size_t errlen);

/* Applies OUTPOST_<KEY> for each key in the NULL-terminated list that is set. */
int config_load_env(const char *const *keys, config_set_fn set, void *ctx,
    char *err, size_t errlen);

/*
 * Command-line flags for the same keys: --state-dir VALUE or --state-dir=VALUE
 * sets state_dir; --config FILE, --help and --version are the others. The
 * flags are collected first (the config file and the environment are read
 * before them) and applied last by config_apply_flags, so flags win.
 */
#define CONFIG_MAX_FLAGS 32

struct config_flags {
	const char *config;	/* --config FILE, or NULL */
	const char *key[CONFIG_MAX_FLAGS];
	const char *value[CONFIG_MAX_FLAGS];
	int n;
};

enum config_flags_result { CONFIG_FLAGS_OK, CONFIG_FLAGS_HELP, CONFIG_FLAGS_VERSION,
	CONFIG_FLAGS_BAD };

/* On CONFIG_FLAGS_BAD it has printed "PROG: what is wrong" to stderr. */
enum config_flags_result config_parse_flags(int argc, char **argv, const char *prog,
    const char *const *keys, struct config_flags *out);
/* Applies the flags in order; err says "--state-dir: why" for the first refused. */
int config_apply_flags(const struct config_flags *f, config_set_fn set, void *ctx,
    char *err, size_t errlen);

#endif
