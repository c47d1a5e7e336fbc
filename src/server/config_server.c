/*
 * outpostd's settings: defaults, then the config file, then OUTPOST_*
 * variables, then flags. Each key has one setter here, so the file, the
 * environment and the flags can never disagree on what a value means.
 */
#include <stdlib.h>
#include <string.h>

#include "confread.h"
#include "server.h"

const char *const server_config_keys[] = { "listen", "state_dir", "log_format",
	"log_level", "ws_ping_interval", "ws_max_lag", "shutdown_grace", "rate_limit", "rate_burst",
	"worker_offline_after", "worker_lost_after", "scheduler_policy", "lead_time",
	"scheduler_interval", "instance_retention", "hook_timeout", "template_dir", "agent_program",
	"public_url", "runbook_dir", "alerts_file", "web_dir", "bootstrap_css", "session_ttl",
	"tls_listen", "tls_cert", "tls_key", "trusted_proxies",
	"api_program_provisioners", "max_connections", "max_connections_per_address",
	"body_timeout", "db_max_size_mb", "backup_dir", "backup_interval", "backup_at",
	"backup_keep", "backup_max_age", "drill", "otlp_endpoint", NULL };

void
server_config_defaults(struct server_config *c)
{
	const char *sd = getenv("STATE_DIRECTORY");

	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 8080;
	/* Under systemd, StateDirectory= names it (the first of a colon list). */
	if (sd != NULL && *sd != '\0') {
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", sd);
		c->state_dir[strcspn(c->state_dir, ":")] = '\0';
	} else {
		snprintf(c->state_dir, sizeof(c->state_dir), "./var");
	}
	c->log_format = LOG_FORMAT_AUTO;
	c->log_level = LOG_INFO;
	c->ws_ping_interval_ms = 30000;
	c->ws_max_lag = 10000;
	c->shutdown_grace_ms = 10000;
	c->worker_offline_after_ms = 15000;
	c->worker_lost_after_ms = 60000;
	c->rate_limit = 0;
	c->rate_burst = 0;
	c->sched_policy = SCHED_BINPACK;
	c->lead_time_ms = 5 * 60000;
	c->scheduler_interval_ms = 5000;
	c->instance_retention_ms = 24 * 3600000LL;
	c->hook_timeout_ms = 10 * 60000;
	snprintf(c->template_dir, sizeof(c->template_dir), "%s/outpost/templates", SYSCONFDIR);
	snprintf(c->runbook_dir, sizeof(c->runbook_dir), "%s/outpost/runbooks", SYSCONFDIR);
	snprintf(c->alerts_file, sizeof(c->alerts_file), "%s/outpost/alerts.json", SYSCONFDIR);
	snprintf(c->web_dir, sizeof(c->web_dir), "%s", WEBDIR);
	snprintf(c->bootstrap_css, sizeof(c->bootstrap_css), "%s", BOOTSTRAP_CSS);
	c->session_ttl_ms = 12 * 3600000LL;
	c->tls_port = -1;
	c->max_connections = 1024;
	c->max_connections_per_address = 256;
	c->body_timeout_ms = 30000;
	c->backup_at = -1;
	c->backup_keep = 7;
}

/*
 * The settings: defaults, the config file (--config, $OUTPOST_CONFIG, or
 * SYSCONFDIR/outpost/outpostd.conf if present), OUTPOST_* variables, the
 * flags, then server_config_check. Returns 0, or -1 with err naming the
 * setting. The server's start and its subcommands (check.c, tokencmd.c)
 * read them alike.
 */
int
server_config_load(const struct config_flags *flags, struct server_config *c, char *err,
    size_t errlen)
{
	const char *path = flags->config;
	int is_optional = 0;
	char def[900];

	server_config_defaults(c);
	if (path == NULL)
		path = getenv("OUTPOST_CONFIG");
	if (path == NULL) {
		snprintf(def, sizeof(def), "%s/outpost/outpostd.conf", SYSCONFDIR);
		path = def;
		is_optional = 1;
	}
	snprintf(c->config_path, sizeof(c->config_path), "%s", path);
	if (config_load_file(path, is_optional, server_config_set, c, err, errlen) != 0)
		return -1;
	if (config_load_env(server_config_keys, server_config_set, c, err, errlen) != 0)
		return -1;
	if (config_apply_flags(flags, server_config_set, c, err, errlen) != 0)
		return -1;
	return server_config_check(c, err, errlen);
}

/* Settings that make sense only together. Returns 0, or -1 with err. */
int
server_config_check(const struct server_config *c, char *err, size_t errlen)
{
	if (c->worker_lost_after_ms <= c->worker_offline_after_ms) {
		snprintf(err, errlen, "worker_lost_after must be longer than worker_offline_after");
		return -1;
	}
	if (c->tls_port >= 0 && (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0')) {
		snprintf(err, errlen, "tls_listen needs tls_cert and tls_key (PEM files)");
		return -1;
	}
	if (c->tls_port < 0 && (c->tls_cert[0] != '\0' || c->tls_key[0] != '\0')) {
		snprintf(err, errlen, "tls_cert and tls_key are used only with tls_listen: set it too");
		return -1;
	}
	if (c->tls_port >= 0 && c->tls_port == c->listen_port && c->tls_port != 0 &&
	    strcmp(c->tls_host, c->listen_host) == 0) {
		snprintf(err, errlen, "tls_listen and listen must not be the same address");
		return -1;
	}
	if (c->backup_interval_ms > 0 && c->backup_at >= 0) {
		snprintf(err, errlen, "backup_interval and backup_at are two schedules: set one");
		return -1;
	}
	return 0;
}

/* "127.0.0.1:8080", "[::1]:8080", ":8080" (every address, IPv4 and IPv6), "localhost:0". */
int
listen_parse(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	int64_t p;

	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= hostlen)
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= hostlen)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (strchr(host, ':') != NULL)
			return -1;	/* IPv6 needs brackets */
	}
	if (parse_int64(colon + 1, 0, 65535, &p) != 0)
		return -1;
	*port = (int)p;
	return 0;
}

static int
set_duration(const char *key, const char *v, int64_t min, int64_t max, int64_t *out, char *err,
    size_t errlen)
{
	if (duration_parse(v, out) != 0 || *out < min || *out > max) {
		char a[32], b[32];

		snprintf(err, errlen, "%s must be a duration from %s to %s, such as \"30s\"", key,
		    duration_format(min, a, sizeof(a)), duration_format(max, b, sizeof(b)));
		return -1;
	}
	return 0;
}

int
server_config_set(void *ctx, const char *key, const char *v, char *err, size_t errlen)
{
	struct server_config *c = ctx;

	if (strcmp(key, "listen") == 0) {
		if (listen_parse(v, c->listen_host, sizeof(c->listen_host), &c->listen_port) != 0) {
			snprintf(err, errlen, "listen must be HOST:PORT, such as 127.0.0.1:8080 or [::1]:8080");
			return -1;
		}
	} else if (strcmp(key, "state_dir") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof(c->state_dir) - 64) {
			snprintf(err, errlen, "state_dir must be a directory path under 960 bytes");
			return -1;
		}
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", v);
	} else if (strcmp(key, "log_format") == 0) {
		if (log_format_parse(v, &c->log_format) != 0) {
			snprintf(err, errlen, "log_format must be json, text or auto");
			return -1;
		}
	} else if (strcmp(key, "log_level") == 0) {
		if (log_level_parse(v, &c->log_level) != 0) {
			snprintf(err, errlen, "log_level must be debug, info, warn or error");
			return -1;
		}
	} else if (strcmp(key, "ws_ping_interval") == 0) {
		return set_duration(key, v, 1000, 3600000, &c->ws_ping_interval_ms, err, errlen);
	} else if (strcmp(key, "shutdown_grace") == 0) {
		return set_duration(key, v, 0, 600000, &c->shutdown_grace_ms, err, errlen);
	} else if (strcmp(key, "worker_offline_after") == 0) {
		return set_duration(key, v, 1000, 3600000, &c->worker_offline_after_ms, err, errlen);
	} else if (strcmp(key, "worker_lost_after") == 0) {
		return set_duration(key, v, 1000, 86400000, &c->worker_lost_after_ms, err, errlen);
	} else if (strcmp(key, "scheduler_policy") == 0) {
		if (sched_policy_parse(v, &c->sched_policy) != 0) {
			snprintf(err, errlen, "scheduler_policy must be binpack or spread");
			return -1;
		}
	} else if (strcmp(key, "lead_time") == 0) {
		return set_duration(key, v, 0, 7 * 86400000LL, &c->lead_time_ms, err, errlen);
	} else if (strcmp(key, "scheduler_interval") == 0) {
		return set_duration(key, v, 100, 600000, &c->scheduler_interval_ms, err, errlen);
	} else if (strcmp(key, "instance_retention") == 0) {
		return set_duration(key, v, 0, 3650 * 86400000LL, &c->instance_retention_ms, err,
		    errlen);
	} else if (strcmp(key, "hook_timeout") == 0) {
		return set_duration(key, v, 1000, 86400000, &c->hook_timeout_ms, err, errlen);
	} else if (strcmp(key, "template_dir") == 0 || strcmp(key, "agent_program") == 0) {
		char *dst = key[0] == 't' ? c->template_dir : c->agent_program;

		if (*v == '\0' && key[0] == 't') {
			snprintf(err, errlen, "template_dir must not be empty");
			return -1;
		}
		if (strlen(v) >= sizeof(c->template_dir) - 64) {
			snprintf(err, errlen, "%s must be a path under 960 bytes", key);
			return -1;
		}
		snprintf(dst, sizeof(c->template_dir), "%s", v);
	} else if (strcmp(key, "runbook_dir") == 0 || strcmp(key, "alerts_file") == 0) {
		char *dst = key[0] == 'r' ? c->runbook_dir : c->alerts_file;

		if (*v == '\0' || strlen(v) >= sizeof(c->runbook_dir) - 64) {
			snprintf(err, errlen, "%s must be a path of 1 to 960 bytes", key);
			return -1;
		}
		snprintf(dst, sizeof(c->runbook_dir), "%s", v);
	} else if (strcmp(key, "web_dir") == 0 || strcmp(key, "bootstrap_css") == 0) {
		char *dst = key[0] == 'w' ? c->web_dir : c->bootstrap_css;

		/* An empty bootstrap_css serves none: the app is then unstyled. */
		if ((*v == '\0' && key[0] == 'w') || strlen(v) >= sizeof(c->web_dir) - 64) {
			snprintf(err, errlen, "%s must be a path of %s to 960 bytes", key,
			    key[0] == 'w' ? "1" : "0");
			return -1;
		}
		snprintf(dst, sizeof(c->web_dir), "%s", v);
		/* Paths are joined as web_dir + "/index.html": no trailing slash. */
		while (key[0] == 'w' && strlen(dst) > 1 && dst[strlen(dst) - 1] == '/')
			dst[strlen(dst) - 1] = '\0';
	} else if (strcmp(key, "session_ttl") == 0) {
		return set_duration(key, v, 60000, 30 * 86400000LL, &c->session_ttl_ms, err, errlen);
	} else if (strcmp(key, "public_url") == 0) {
		size_t n = strlen(v);

		if (n != 0 && (n >= sizeof(c->public_url) || (strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0) || strpbrk(v, " \t\r\n\"'") != NULL ||
		    v[n - 1] == '/')) {
			snprintf(err, errlen, "public_url must be an http:// or https:// URL without a "
			    "trailing /, such as \"http://outpost.example.org:8080\"");
			return -1;
		}
		snprintf(c->public_url, sizeof(c->public_url), "%s", v);
	} else if (strcmp(key, "api_program_provisioners") == 0) {
		/* Off by default: an admin's token or session is not a shell on this host. */
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			snprintf(err, errlen, "api_program_provisioners must be true or false");
			return -1;
		}
		c->api_program_provisioners = v[0] == 't';
	} else if (strcmp(key, "ws_max_lag") == 0) {
		if (parse_int64(v, 1, 100000000, &c->ws_max_lag) != 0) {
			snprintf(err, errlen, "ws_max_lag must be an integer from 1 to 100000000");
			return -1;
		}
	} else if (strcmp(key, "rate_limit") == 0 || strcmp(key, "rate_burst") == 0) {
		int64_t *dst = key[5] == 'l' ? &c->rate_limit : &c->rate_burst;

		if (parse_int64(v, 0, 1000000, dst) != 0) {
			snprintf(err, errlen, "%s must be an integer from 0 to 1000000 (0: no limit)", key);
			return -1;
		}
	} else if (strcmp(key, "max_connections") == 0 ||
	    strcmp(key, "max_connections_per_address") == 0) {
		int64_t *dst = strlen(key) > 15 ? &c->max_connections_per_address :
		    &c->max_connections;

		if (parse_int64(v, 1, 10000, dst) != 0) {
			snprintf(err, errlen, "%s must be an integer from 1 to 10000", key);
			return -1;
		}
	} else if (strcmp(key, "body_timeout") == 0) {
		return set_duration(key, v, 1000, 600000, &c->body_timeout_ms, err, errlen);
	} else if (strcmp(key, "db_max_size_mb") == 0) {
		/* 0: no cap. Under 2 MB, a new database with its migrations would not fit. */
		if (parse_int64(v, 0, 16777216, &c->db_max_size_mb) != 0 ||
		    (c->db_max_size_mb > 0 && c->db_max_size_mb < 2)) {
			snprintf(err, errlen, "db_max_size_mb must be 0 (no cap) or an integer from 2 to "
			    "16777216 (megabytes)");
			return -1;
		}
	} else if (strcmp(key, "backup_dir") == 0) {
		/* "": STATE_DIR/backups. A backup's name and its suffixes must fit after it. */
		if (strlen(v) >= sizeof(c->backup_dir) - 320 || (*v != '\0' && *v != '/')) {
			snprintf(err, errlen, "backup_dir must be an absolute path under %zu bytes, or "
			    "empty (STATE_DIR/backups)", sizeof(c->backup_dir) - 320);
			return -1;
		}
		snprintf(c->backup_dir, sizeof(c->backup_dir), "%s", v);
		while (strlen(c->backup_dir) > 1 && c->backup_dir[strlen(c->backup_dir) - 1] == '/')
			c->backup_dir[strlen(c->backup_dir) - 1] = '\0';
	} else if (strcmp(key, "backup_interval") == 0) {
		if (strcmp(v, "0") == 0 || *v == '\0') {
			c->backup_interval_ms = 0;
			return 0;
		}
		return set_duration(key, v, 1000, 30 * 86400000LL, &c->backup_interval_ms, err,
		    errlen);
	} else if (strcmp(key, "backup_at") == 0) {
		int64_t h, m;
		char hh[3] = "", mm[3] = "";

		if (*v == '\0') {
			c->backup_at = -1;
			return 0;
		}
		if (strlen(v) == 5 && v[2] == ':') {
			memcpy(hh, v, 2);
			memcpy(mm, v + 3, 2);
		}
		if (parse_int64(hh, 0, 23, &h) != 0 || parse_int64(mm, 0, 59, &m) != 0) {
			snprintf(err, errlen, "backup_at must be a local time of day HH:MM, such as "
			    "\"03:30\", or empty for none");
			return -1;
		}
		c->backup_at = (int)(h * 60 + m);
	} else if (strcmp(key, "backup_keep") == 0) {
		if (parse_int64(v, 0, 100000, &c->backup_keep) != 0) {
			snprintf(err, errlen, "backup_keep must be an integer from 0 (no limit) to 100000");
			return -1;
		}
	} else if (strcmp(key, "backup_max_age") == 0) {
		if (strcmp(v, "0") == 0) {
			c->backup_max_age_ms = 0;
			return 0;
		}
		return set_duration(key, v, 1000, 3650 * 86400000LL, &c->backup_max_age_ms, err,
		    errlen);
	} else if (strcmp(key, "otlp_endpoint") == 0) {
		if (*v != '\0' && !otlp_endpoint_is_valid(v)) {
			snprintf(err, errlen, "%s (\"\": none)", OTLP_ENDPOINT_RULE);
			return -1;
		}
		snprintf(c->otlp_endpoint, sizeof(c->otlp_endpoint), "%s", v);
	} else if (strcmp(key, "drill") == 0) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			snprintf(err, errlen, "drill must be true or false");
			return -1;
		}
		c->drill = v[0] == 't';
	} else if (strcmp(key, "tls_listen") == 0) {
		if (*v == '\0') {
			c->tls_port = -1;	/* none */
		} else if (listen_parse(v, c->tls_host, sizeof(c->tls_host), &c->tls_port) != 0) {
			snprintf(err, errlen, "tls_listen must be HOST:PORT, such as 0.0.0.0:8443 or "
			    "[::]:8443, or empty for none");
			return -1;
		}
	} else if (strcmp(key, "tls_cert") == 0 || strcmp(key, "tls_key") == 0) {
		char *dst = key[4] == 'c' ? c->tls_cert : c->tls_key;

		if (strlen(v) >= sizeof(c->tls_cert)) {
			snprintf(err, errlen, "%s must be a path under %zu bytes", key,
			    sizeof(c->tls_cert));
			return -1;
		}
		snprintf(dst, sizeof(c->tls_cert), "%s", v);
	} else if (strcmp(key, "trusted_proxies") == 0) {
		char why[160];

		if (addr_list_parse(v, &c->trusted_proxies, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "trusted_proxies: %s", why);
			return -1;
		}
	} else {
		struct sbuf b;

		sbuf_init(&b);
		for (size_t i = 0; server_config_keys[i] != NULL; i++)
			sbuf_printf(&b, "%s%s", i ? ", " : "", server_config_keys[i]);
		snprintf(err, errlen, "unknown key %s (keys: %s)", key, b.p ? b.p : "");
		sbuf_free(&b);
		return -1;
	}
	return 0;
}
