/*
 * Client settings (clientconf.h): the one resolution of server and token
 * that outpost and outpost-top share. It reads files and the environment;
 * it never prints or exits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientconf.h"
#include "confread.h"
#include "evstream.h"

#define TOKEN_FILE_MAX 4096

/* The settings one source gives; NULL where it gives none. */
struct source {
	char server[1024];
	char token[TOKEN_FILE_MAX];
	char token_file[1024];
	char ca_file[1024];
	int has_server;
	int has_ca_file;
	int has_token;
	int has_token_file;
};

static const char *const setting_keys[] = { "server", "token", "token_file", "ca_file", NULL };

static int
set_value(char *dst, size_t n, int *has, const char *value, char *err, size_t errlen)
{
	if ((size_t)snprintf(dst, n, "%s", value) >= n) {
		snprintf(err, errlen, "value longer than %zu bytes", n - 1);
		return -1;
	}
	*has = 1;
	return 0;
}

static int
source_set(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct source *s = ctx;

	if (strcmp(key, "server") == 0)
		return set_value(s->server, sizeof(s->server), &s->has_server, value, err, errlen);
	if (strcmp(key, "token") == 0)
		return set_value(s->token, sizeof(s->token), &s->has_token, value, err, errlen);
	if (strcmp(key, "token_file") == 0)
		return set_value(s->token_file, sizeof(s->token_file), &s->has_token_file, value,
		    err, errlen);
	if (strcmp(key, "ca_file") == 0)
		return set_value(s->ca_file, sizeof(s->ca_file), &s->has_ca_file, value, err, errlen);
	snprintf(err, errlen, "unknown setting '%s' (valid: server, token, token_file, ca_file)",
	    key);
	return -1;
}

int
settings_read_token_file(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	char line[TOKEN_FILE_MAX + 2];
	char *p, *e;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	if (strchr(line, '\n') == NULL && strlen(line) > TOKEN_FILE_MAX) {
		snprintf(err, errlen, "%s: the first line is longer than %d bytes", path,
		    TOKEN_FILE_MAX);
		return -1;
	}
	for (p = line; isspace((unsigned char)*p); p++)
		;
	e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (*p == '\0') {
		snprintf(err, errlen, "%s: no token on its first line", path);
		return -1;
	}
	if ((size_t)snprintf(out, outlen, "%s", p) >= outlen) {
		snprintf(err, errlen, "%s: the token is too long", path);
		return -1;
	}
	return 0;
}

/* The config file to read; *is_optional when it is only the default place. */
static int
config_path(const struct settings_flags *a, char *out, size_t n, int *is_optional, char *err,
    size_t errlen)
{
	const char *p, *home;
	size_t w;

	*is_optional = 0;
	if ((p = a->config) != NULL || (p = getenv("OUTPOST_CONFIG")) != NULL) {
		if (*p == '\0') {
			snprintf(err, errlen, "%s is empty", a->config != NULL ?
			    "--config" : "OUTPOST_CONFIG");
			return -1;
		}
		w = (size_t)snprintf(out, n, "%s", p);
	} else if ((p = getenv("XDG_CONFIG_HOME")) != NULL && *p == '/') {
		*is_optional = 1;
		w = (size_t)snprintf(out, n, "%s/outpost/outpost.conf", p);
	} else if ((home = getenv("HOME")) != NULL && *home != '\0') {
		*is_optional = 1;
		w = (size_t)snprintf(out, n, "%s/.config/outpost/outpost.conf", home);
	} else {
		out[0] = '\0';
		*is_optional = 1;
		return 0;
	}
	if (w >= n) {
		snprintf(err, errlen, "the config file's path is too long");
		return -1;
	}
	return 0;
}

static int
check_server(const char *url, const char *from, char *err, size_t errlen)
{
	struct evstream_url u;
	char why[PATH_MSG_BUF];

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s: the server URL must start with http:// or https://, "
		    "not '%s'", from, url);
		return -1;
	}
	/* The event stream's parser is the strict one both clients must pass. */
	if (evstream_url_parse(url, &u, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", from, why);
		return -1;
	}
	return 0;
}

/* A CA file must be there to read: a typo would otherwise read as an untrusted server. */
static int
check_ca_file(const char *path, const char *from, char *err, size_t errlen)
{
	FILE *f;

	if (*path == '\0' || strlen(path) >= PATH_SETTING_MAX) {
		snprintf(err, errlen, "%s: a CA file is a path of 1 to %d bytes", from,
		    PATH_SETTING_MAX - 1);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot read %s: %s", from, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* Picks the token of one level: its token, else its token file. */
static int
take_token(struct settings *s, const char *token, const char *token_from, const char *file,
    const char *file_from, char *err, size_t errlen)
{
	char why[PATH_MSG_BUF];

	if (token != NULL) {
		if ((size_t)snprintf(s->token, sizeof(s->token), "%s", token) >= sizeof(s->token)) {
			snprintf(err, errlen, "%s: the token is too long", token_from);
			return -1;
		}
		snprintf(s->token_from, sizeof(s->token_from), "%s", token_from);
		return 1;
	}
	if (file != NULL) {
		if (settings_read_token_file(file, s->token, sizeof(s->token), why,
		    sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", file_from, why);
			return -1;
		}
		snprintf(s->token_from, sizeof(s->token_from), "%s %s", file_from, file);
		return 1;
	}
	return 0;
}

int
settings_resolve_flags(struct settings *s, const struct settings_flags *a, char *err,
    size_t errlen)
{
	struct source env, file;
	char why[PATH_MSG_BUF], file_from[PATH_BUF_MAX];
	const char *v;
	int is_optional, rc;

	memset(s, 0, sizeof(*s));
	memset(&env, 0, sizeof(env));
	memset(&file, 0, sizeof(file));
	if (config_path(a, s->config_path, sizeof(s->config_path), &is_optional, err,
	    errlen) != 0)
		return -1;
	if (s->config_path[0] != '\0' && config_load_file(s->config_path, is_optional,
	    source_set, &file, err, errlen) != 0)
		return -1;
	if (config_load_env(setting_keys, source_set, &env, err, errlen) != 0)
		return -1;

	if ((v = a->server) != NULL)
		rc = check_server(v, "--server", err, errlen);
	else if (env.has_server)
		rc = check_server(v = env.server, "OUTPOST_SERVER", err, errlen);
	else if (file.has_server) {
		snprintf(why, sizeof(why), "%s: server", s->config_path);
		rc = check_server(v = file.server, why, err, errlen);
	} else
		rc = check_server(v = CLIENTCONF_DEFAULT_SERVER, "default", err, errlen);
	if (rc != 0)
		return -1;
	snprintf(s->server, sizeof(s->server), "%s", v);

	if ((v = a->ca_file) != NULL)
		rc = check_ca_file(v, "--ca-file", err, errlen);
	else if (env.has_ca_file)
		rc = check_ca_file(v = env.ca_file, "OUTPOST_CA_FILE", err, errlen);
	else if (file.has_ca_file) {
		snprintf(why, sizeof(why), "%s: ca_file", s->config_path);
		rc = check_ca_file(v = file.ca_file, why, err, errlen);
	} else
		v = "";
	if (rc != 0)
		return -1;
	snprintf(s->ca_file, sizeof(s->ca_file), "%s", v);

	if (a->token != NULL && a->token_file != NULL) {
		snprintf(err, errlen, "--token and --token-file cannot be used together");
		return -1;
	}
	snprintf(file_from, sizeof(file_from), "%s: token_file", s->config_path);
	snprintf(why, sizeof(why), "%s: token", s->config_path);
	rc = take_token(s, a->token, "--token", a->token_file, "--token-file", err, errlen);
	if (rc == 0)
		rc = take_token(s, env.has_token ? env.token : NULL, "OUTPOST_TOKEN",
		    env.has_token_file ? env.token_file : NULL, "OUTPOST_TOKEN_FILE", err, errlen);
	if (rc == 0)
		rc = take_token(s, file.has_token ? file.token : NULL, why,
		    file.has_token_file ? file.token_file : NULL, file_from, err, errlen);
	if (rc < 0)
		return -1;
	for (const char *c = s->token; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(err, errlen, "%s: the token holds a space or control character",
			    s->token_from);
			return -1;
		}
	}
	return 0;
}
