/*
 * outpost-agent: runs on each worker host. This first part registers the
 * worker (its name, capacity and labels) and keeps it online with
 * heartbeats; it re-registers when the server has forgotten the worker and
 * rides out a server that is away. Running instances' hooks, and receiving
 * assignments over the event stream, come with the agent issue's next steps.
 *
 * The loop is plain: a request, then a sleep until the next heartbeat that a
 * signal cuts short. Nothing else runs here yet.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <jansson.h>

#include "../common/config.h"
#include "httpc.h"
#include "log.h"
#include "util.h"

struct agent_config {
	char server[512];
	char token_file[1024];
	char name[64];
	int64_t cpu;
	int64_t memory_mb;
	int64_t slots;
	char labels[1024];	/* "k=v,k=v" as given */
	char work_dir[1024];
	int64_t heartbeat_ms;
	enum log_format log_format;
};

static const char *const agent_keys[] = { "server", "token_file", "name", "capacity", "labels",
	"work_dir", "heartbeat", "log_format", NULL };

static volatile sig_atomic_t got_stop;

static void
on_signal(int sig)
{
	(void)sig;
	got_stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outpost-agent [options]\n"
	    "\n"
	    "The agent of an Outpost worker host: registers the worker with outpostd and keeps\n"
	    "it online with heartbeats.\n"
	    "\n"
	    "  --server URL            outpostd (default http://127.0.0.1:8080)\n"
	    "  --token-file FILE       a token with the agent role (first line of FILE)\n"
	    "  --name NAME             the worker's name (default: this host's name)\n"
	    "  --capacity LIST         cpu=N,memory_mb=N,slots=N (default: this host's cpus and\n"
	    "                          memory, 8 slots)\n"
	    "  --labels LIST           k=v,... the worker carries (definitions may require them)\n"
	    "  --work-dir DIR          where instances' directories go (default ./agent-work,\n"
	    "                          or $STATE_DIRECTORY under systemd)\n"
	    "  --heartbeat DURATION    between heartbeats (default 5s)\n"
	    "  --config FILE           a config file of the same keys (server, token_file, name,\n"
	    "                          capacity, labels, work_dir, heartbeat, log_format)\n"
	    "  --log-format FORMAT     json, text or auto (default auto)\n"
	    "  --version, --help\n"
	    "\n"
	    "Every setting is also an OUTPOST_* variable (OUTPOST_SERVER, OUTPOST_TOKEN_FILE, ...);\n"
	    "flags win over variables, variables over the file. SIGTERM or SIGINT stops it.\n"
	    "Exit status: 0 stopped by a signal; 1 the server refused it (a bad token, a bad\n"
	    "name); 2 a bad flag or setting.\n");
}

static int
parse_capacity(struct agent_config *c, const char *v, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int64_t *dst = NULL, max = 0;

		if (eq != NULL) {
			*eq = '\0';
			if (strcmp(tok, "cpu") == 0) {
				dst = &c->cpu;
				max = 4096;
			} else if (strcmp(tok, "memory_mb") == 0) {
				dst = &c->memory_mb;
				max = 64LL * 1024 * 1024;
			} else if (strcmp(tok, "slots") == 0) {
				dst = &c->slots;
				max = 10000;
			}
		}
		if (dst == NULL || parse_int64(eq + 1, 1, max, dst) != 0) {
			snprintf(err, errlen, "capacity is cpu=N,memory_mb=N,slots=N with positive "
			    "integers (cpu up to 4096, memory_mb up to 67108864, slots up to 10000)");
			return -1;
		}
	}
	return 0;
}

static int
agent_set(void *ctx, const char *key, const char *v, char *err, size_t errlen)
{
	struct agent_config *c = ctx;

	if (strcmp(key, "server") == 0) {
		if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
			snprintf(err, errlen, "server must be an http:// or https:// URL");
			return -1;
		}
		snprintf(c->server, sizeof(c->server), "%s", v);
	} else if (strcmp(key, "token_file") == 0) {
		snprintf(c->token_file, sizeof(c->token_file), "%s", v);
	} else if (strcmp(key, "name") == 0) {
		if (!name_is_valid(v, 63) || strspn(v, "0123456789") == strlen(v)) {
			snprintf(err, errlen, "name must be 1 to 63 of a-z, 0-9, '.', '_', '-', starting "
			    "with a letter or digit, and not all digits");
			return -1;
		}
		snprintf(c->name, sizeof(c->name), "%s", v);
	} else if (strcmp(key, "capacity") == 0) {
		return parse_capacity(c, v, err, errlen);
	} else if (strcmp(key, "labels") == 0) {
		if (strlen(v) >= sizeof(c->labels)) {
			snprintf(err, errlen, "labels are at most %zu bytes", sizeof(c->labels) - 1);
			return -1;
		}
		snprintf(c->labels, sizeof(c->labels), "%s", v);
	} else if (strcmp(key, "work_dir") == 0) {
		snprintf(c->work_dir, sizeof(c->work_dir), "%s", v);
	} else if (strcmp(key, "heartbeat") == 0) {
		if (duration_parse(v, &c->heartbeat_ms) != 0 || c->heartbeat_ms < 100 ||
		    c->heartbeat_ms > 600000) {
			snprintf(err, errlen, "heartbeat must be a duration from 100ms to 10m, such as \"5s\"");
			return -1;
		}
	} else if (strcmp(key, "log_format") == 0) {
		if (log_format_parse(v, &c->log_format) != 0) {
			snprintf(err, errlen, "log_format must be json, text or auto");
			return -1;
		}
	} else {
		snprintf(err, errlen, "unknown key %s (keys: server, token_file, name, capacity, "
		    "labels, work_dir, heartbeat, log_format)", key);
		return -1;
	}
	return 0;
}

static void
defaults(struct agent_config *c)
{
	struct sysinfo si;
	char host[256] = "worker";
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(c, 0, sizeof(*c));
	snprintf(c->server, sizeof(c->server), "http://127.0.0.1:8080");
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	host[strcspn(host, ".")] = '\0';
	snprintf(c->name, sizeof(c->name), "%s", name_is_valid(host, 63) ? host : "worker");
	c->cpu = n > 0 ? n : 1;
	c->memory_mb = sysinfo(&si) == 0 ? (int64_t)((uint64_t)si.totalram * si.mem_unit >> 20) : 1024;
	c->slots = 8;
	/* Under systemd, StateDirectory= names it (the first of a colon list). */
	if (getenv("STATE_DIRECTORY") != NULL && getenv("STATE_DIRECTORY")[0] != '\0') {
		snprintf(c->work_dir, sizeof(c->work_dir), "%s", getenv("STATE_DIRECTORY"));
		c->work_dir[strcspn(c->work_dir, ":")] = '\0';
	} else {
		snprintf(c->work_dir, sizeof(c->work_dir), "./agent-work");
	}
	c->heartbeat_ms = 5000;
}

/* "k=v,k=v" → a labels object; errors name the label. */
static json_t *
labels_json(const char *s, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *tok;
	json_t *o = json_object();

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL || eq == tok) {
			snprintf(err, errlen, "--labels: %s is not key=value", tok);
			json_decref(o);
			return NULL;
		}
		*eq = '\0';
		json_object_set_new(o, tok, json_string(eq + 1));
	}
	return o;
}

static int
read_token(const char *path, char *out, size_t n, char *err, size_t errlen)
{
	FILE *f;

	if (path[0] == '\0') {
		snprintf(err, errlen, "--token-file is required (a token with the agent role)");
		return -1;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(out, (int)n, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, " \t\r\n")] = '\0';
	if (out[0] == '\0') {
		snprintf(err, errlen, "--token-file %s is empty", path);
		return -1;
	}
	return 0;
}

/* Sleeps ms, or less when a signal arrives. */
static void
nap(int64_t ms)
{
	while (ms > 0 && !got_stop) {
		int step = ms > 200 ? 200 : (int)ms;

		poll(NULL, 0, step);
		ms -= step;
	}
}

/* Outcome of one call: done, retry later (server away or busy), or give up. */
enum call { CALL_OK, CALL_RETRY, CALL_GONE, CALL_FATAL };

static enum call
call(struct httpc *h, const char *path, const char *body, const char *what)
{
	struct httpc_resp r;
	const char *code, *msg, *field;
	enum call out;
	char status[16];

	httpc_resp_init(&r);
	if (httpc_request(h, "POST", path, body, &r) != 0) {
		log_warn("agent.server_unreachable", "what", what, "error", r.error, NULL);
		httpc_resp_free(&r);
		return CALL_RETRY;
	}
	snprintf(status, sizeof(status), "%d", r.status);
	if (r.status == 200 || r.status == 201) {
		out = CALL_OK;
	} else if (r.status == 404) {
		out = CALL_GONE;	/* the server no longer knows the worker */
	} else if (r.status == 429 || r.status >= 500) {
		log_warn("agent.server_busy", "what", what, "status", status, NULL);
		out = CALL_RETRY;
	} else {
		if (httpc_resp_error(&r, &code, &msg, &field) != 0) {
			code = "";
			msg = r.body;
			field = "";
		}
		log_error("agent.refused", "what", what, "status", status, "code", code,
		    "message", msg, "field", field, NULL);
		fprintf(stderr, "outpost-agent: the server refused %s: %s%s%s%s\n", what, msg,
		    field[0] ? " (field: " : "", field, field[0] ? ")" : "");
		out = CALL_FATAL;
	}
	httpc_resp_free(&r);
	return out;
}

int
main(int argc, char **argv)
{
	struct agent_config c;
	struct config_flags flags;
	const char *config;
	char err[1400], token[256], *reg = NULL, *beat = NULL;
	struct httpc *h = NULL;
	struct sigaction sa;
	json_t *labels, *j;
	int rc = 1, is_registered = 0;
	int64_t backoff = 500;

	log_set_program("outpost-agent");
	defaults(&c);
	switch (config_parse_flags(argc, argv, "outpost-agent", agent_keys, &flags)) {
	case CONFIG_FLAGS_HELP:
		usage(stdout);
		return 0;
	case CONFIG_FLAGS_VERSION:
		printf("outpost-agent %s\n", PACKAGE_VERSION);
		return 0;
	case CONFIG_FLAGS_BAD:
		return 2;
	case CONFIG_FLAGS_OK:
		break;
	}
	config = flags.config;
	if (config == NULL)
		config = getenv("OUTPOST_CONFIG");
	if ((config != NULL && config_load_file(config, 0, agent_set, &c, err, sizeof(err)) != 0) ||
	    config_load_env(agent_keys, agent_set, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		return 2;
	}
	if (config_apply_flags(&flags, agent_set, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		return 2;
	}
	log_setup(c.log_format, LOG_INFO);
	labels = labels_json(c.labels, err, sizeof(err));
	if (labels == NULL || read_token(c.token_file, token, sizeof(token), err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		json_decref(labels);
		return 2;
	}
	j = json_pack("{s:s, s:{s:I, s:I, s:I}, s:o}", "name", c.name, "capacity",
	    "cpu", (json_int_t)c.cpu, "memory_mb", (json_int_t)c.memory_mb, "slots",
	    (json_int_t)c.slots, "labels", labels);	/* takes labels */
	reg = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = json_pack("{s:s}", "name", c.name);
	beat = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	h = httpc_new(c.server, token);
	if (reg == NULL || beat == NULL || h == NULL) {
		fprintf(stderr, "outpost-agent: out of memory\n");
		goto out;
	}
	/* Instances' directories will live here: make sure it can be made now, not at the first. */
	if (mkdir(c.work_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "outpost-agent: --work-dir %s: %s\n", c.work_dir, strerror(errno));
		rc = 2;
		goto out;
	}
	httpc_set_timeouts(h, 2000, 10000);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("agent.starting", "name", c.name, "server", c.server, NULL);

	while (!got_stop) {
		enum call r;

		if (!is_registered) {
			r = call(h, "/api/v1/agent/register", reg, "the registration");
			if (r == CALL_OK) {
				is_registered = 1;
				backoff = 500;
				log_info("agent.registered", "name", c.name, NULL);
				continue;
			}
		} else {
			r = call(h, "/api/v1/agent/heartbeat", beat, "a heartbeat");
			if (r == CALL_GONE) {
				log_warn("agent.forgotten", "detail", "the server does not know this worker; "
				    "registering again", NULL);
				is_registered = 0;
				continue;
			}
			if (r == CALL_OK) {
				nap(c.heartbeat_ms);
				continue;
			}
		}
		if (r == CALL_FATAL || r == CALL_GONE)
			goto out;
		/* Away or busy: try again, backing off to the heartbeat interval. */
		nap(is_registered ? c.heartbeat_ms : backoff);
		if (backoff < c.heartbeat_ms)
			backoff *= 2;
	}
	log_info("agent.stopped", "name", c.name, NULL);
	rc = 0;
out:
	httpc_free(h);
	free(reg);
	free(beat);
	return rc;
}
