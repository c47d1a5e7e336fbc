/*
 * Where a client of the API (outpost, outpost-top) talks to and with which
 * token. Each setting is taken from the first source that has it: a flag,
 * then the OUTPOST_* environment, then the client's config file
 * ($XDG_CONFIG_HOME/outpost/outpost.conf, or ~/.config/outpost/outpost.conf,
 * or the one --config or OUTPOST_CONFIG names), then the default. At each
 * level a token beats a token file. Both programs resolve through here, so
 * they always agree on where the site is.
 */
#ifndef OUTPOST_CLIENTCONF_H
#define OUTPOST_CLIENTCONF_H

#include <stddef.h>

#include "bounds.h"

#define CLIENTCONF_DEFAULT_SERVER "http://127.0.0.1:8080"

/* Where a client talks to and as whom, after flag > env > file > default. */
struct settings {
	char server[PATH_SETTING_MAX];	/* a URL, as long as a path setting may be */
	char token[4096];	/* "" when none */
	char token_from[PATH_BUF_MAX];	/* where the token came from, for messages */
	char config_path[PATH_SETTING_MAX];	/* the file read, or "" */
	char ca_file[PATH_SETTING_MAX];	/* the CAs of an https:// server; "": the system's */
};

/* The values of the flags --server, --token, --token-file, --config, --ca-file; NULL when absent. */
struct settings_flags {
	const char *server;
	const char *token;
	const char *token_file;
	const char *config;
	const char *ca_file;
};

/*
 * Resolves server and token from the flags, the environment, the config
 * file and the defaults, in that order. Returns 0, or -1 with err (a usage
 * error that names the flag, variable or file and line at fault).
 */
int settings_resolve_flags(struct settings *s, const struct settings_flags *f, char *err,
    size_t errlen);
/* The first line of path, trimmed; -1 with err when unreadable or empty. */
int settings_read_token_file(const char *path, char *out, size_t outlen, char *err,
    size_t errlen);

#endif
