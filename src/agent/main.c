/*
 * outpost-agent: runs on each worker host. It registers the worker (its
 * name, capacity and labels), keeps it online with heartbeats, and runs the
 * instances the server places on it: each hook as a process of its own
 * group, in the instance's directory, under a shim that keeps its output and
 * its exit status (shim.c), as work.c decides from the server's word.
 *
 * Its token: the worker's own, kept in WORK_DIR/worker.token once it has
 * one; else --token-file's, which is either a join token (the registration
 * answers with the worker's own token, which is kept and used from then
 * on) or already the worker's own (a provisioner made it). The server lets
 * a worker's token act for that worker alone.
 *
 * The loop: register (and sync what an agent before us left), then wait in
 * the event stream's service for whichever comes first: an event about this
 * worker (ask for the work again), a child's end (SIGCHLD), the next
 * heartbeat, a slot's start, or SIGTERM. HTTP calls are synchronous and
 * short (libcurl, 2 s to connect, 10 s in all); while the server does not
 * answer, only heartbeats look for it (3 s each). Hooks never block the loop,
 * and a blocked loop never delays a hook's end: the shims keep the timeouts.
 *
 * SIGTERM stops the agent, not the hooks: they run on under their shims, and
 * an agent started again on the same work directory takes them back.
 *
 * The fence: an agent whose heartbeats the server has not answered for its
 * lease (the server's worker_lost_after, told in every answer) less a
 * margin, kills every instance's hooks and fails them (fence_check), before
 * the server, counting from when it received the last of them, may declare
 * the worker lost and give them to another (docs/architecture.md, "How a
 * cut-off agent is fenced").
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <jansson.h>

#include "confread.h"
#include "agent.h"
#include "cgroup.h"
#include "evstream.h"
#include "httpc.h"
#include "log.h"
#include "util.h"

static const char *const agent_keys[] = { "server", "token_file", "name", "capacity", "labels",
	"work_dir", "heartbeat", "kill_grace", "log_format", "ca_file", "hook_uids", "hook_user",
	"isolation", "cgroup_root", "otlp_endpoint", NULL };

static volatile sig_atomic_t got_stop, got_child;
static struct evstream *the_stream;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_child = 1;
	else
		got_stop = 1;
	if (the_stream != NULL)
		evstream_wake(the_stream);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outpost-agent [options]\n"
	    "\n"
	    "The agent of an Outpost worker host: registers the worker with outpostd, keeps it\n"
	    "online with heartbeats, and runs the hooks of the instances placed on it.\n"
	    "\n"
	    "  --server URL            outpostd (default http://127.0.0.1:8080)\n"
	    "  --token-file FILE       a token with the agent role (first line of FILE): a join\n"
	    "                          token, or the worker's own; not needed once the worker's\n"
	    "                          own token is kept in WORK_DIR/worker.token\n"
	    "  --name NAME             the worker's name (default: this host's name)\n"
	    "  --capacity LIST         cpu=N,memory_mb=N,slots=N (default: this host's cpus and\n"
	    "                          memory, 8 slots)\n"
	    "  --labels LIST           k=v,... the worker carries (definitions may require them)\n"
	    "  --work-dir DIR          where instances' directories go (default ./agent-work,\n"
	    "                          or $STATE_DIRECTORY under systemd)\n"
	    "  --heartbeat DURATION    between heartbeats (default 5s)\n"
	    "  --kill-grace DURATION   from SIGTERM to SIGKILL when a hook must end (default 10s)\n"
	    "  --config FILE           a config file of the same keys (server, token_file, name,\n"
	    "                          capacity, labels, work_dir, heartbeat, kill_grace,\n"
	    "                          log_format, ca_file, hook_uids, hook_user, isolation,\n"
	    "                          cgroup_root, otlp_endpoint)\n"
	    "  --log-format FORMAT     json, text or auto (default auto)\n"
	    "  --ca-file FILE          the CAs (PEM) an https:// server's certificate must chain\n"
	    "                          to (default: the system's)\n"
	    "  --hook-uids FIRST-LAST  the uids the agent gives instances, one each, for their\n"
	    "                          hooks to run as (default 65536-99999); none: hooks run as\n"
	    "                          the agent's user\n"
	    "  --hook-user USER        one user (of /etc/passwd) for every instance's hooks, in\n"
	    "                          place of hook_uids\n"
	    "  --isolation MODE        auto: each instance in a cgroup of its own with its limits\n"
	    "                          where the host allows it; none: never (default auto)\n"
	    "  --cgroup-root DIR       cgroup v2: the delegated cgroup (a directory under\n"
	    "                          /sys/fs/cgroup) instances' cgroups go under, in place of\n"
	    "                          the agent's own (the shipped unit: its holder unit's)\n"
	    "  --otlp-endpoint URL     send the hooks' spans as OTLP/HTTP JSON to URL/v1/traces\n"
	    "                          (default: none sent)\n"
	    "  --version, --help\n"
	    "\n"
	    "Every setting is also an OUTPOST_* variable (OUTPOST_SERVER, OUTPOST_TOKEN_FILE, ...);\n"
	    "flags win over variables, variables over the file.\n"
	    "\n"
	    "Run as root (or with CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE,\n"
	    "CAP_FOWNER and CAP_KILL), the agent runs each instance's hooks as a uid of its own\n"
	    "from hook_uids, never as root, in a work directory only that uid may read.\n"
	    "Each hook runs in its own process group in WORK_DIR/instances/ID/work with\n"
	    "OUTPOST_INSTANCE_ID, OUTPOST_OWNER, OUTPOST_DEFINITION, OUTPOST_TIMESLOT_START and\n"
	    "OUTPOST_TIMESLOT_END (and OUTPOST_DEFINITION_VERSION, OUTPOST_HOOK, OUTPOST_ATTEMPT,\n"
	    "OUTPOST_WORKER, OUTPOST_WARM_POOL, OUTPOST_WORK_DIR, and TRACEPARENT when the\n"
	    "server gave the instance a trace) in its environment; past its\n"
	    "timeout it gets SIGTERM, then SIGKILL after the grace. SIGTERM, SIGINT or SIGHUP\n"
	    "stops the agent and leaves the hooks running (until its lease with the server\n"
	    "runs out: their shims then kill them): an agent started again on the same\n"
	    "work directory takes them back.\n"
	    "Registering with a join token, the agent is given the worker's own token: it keeps\n"
	    "it in WORK_DIR/worker.token (mode 0600) and uses it from then on, after a restart\n"
	    "too. The server refuses a join token for a worker that has its own token.\n"
	    "When the server says its worker is stopped or terminated, the agent ends the\n"
	    "hooks it still runs and exits with 0.\n"
	    "Exit status: 0 stopped by a signal or by the server; 1 the server refused it (a bad token, a bad\n"
	    "name, capacity or labels; a kept token refused), or its token cannot be kept; 2 a\n"
	    "bad flag or setting, a token file that cannot be read, or a work directory that\n"
	    "cannot be made, written, or is another agent's.\n");
}

static int
parse_capacity(struct agent_config *c, const char *v, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	/* A list cut short would be read as another: too long is refused with the rest. */
	if (strlen(v) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int64_t *dst = NULL, max = 0;

		if (eq != NULL) {
			*eq = '\0';
			if (strcmp(tok, "cpu") == 0) {
				dst = &c->cpu;
				max = CAPACITY_CPU_MAX;
			} else if (strcmp(tok, "memory_mb") == 0) {
				dst = &c->memory_mb;
				max = CAPACITY_MEMORY_MB_MAX;
			} else if (strcmp(tok, "slots") == 0) {
				dst = &c->slots;
				max = CAPACITY_SLOTS_MAX;
			}
		}
		if (dst == NULL || parse_int64(eq + 1, 1, max, dst) != 0)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "capacity is cpu=N,memory_mb=N,slots=N with positive "
	    "integers (cpu up to %d, memory_mb up to %lld, slots up to %d)", CAPACITY_CPU_MAX,
	    (long long)CAPACITY_MEMORY_MB_MAX, CAPACITY_SLOTS_MAX);
	return -1;
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
		if (strlen(v) >= sizeof(c->server)) {
			snprintf(err, errlen, "server is a URL of at most %zu bytes",
			    sizeof(c->server) - 1);
			return -1;
		}
		snprintf(c->server, sizeof(c->server), "%s", v);
	} else if (strcmp(key, "token_file") == 0) {
		if (strlen(v) >= sizeof(c->token_file)) {
			snprintf(err, errlen, "token_file is a path of at most %zu bytes",
			    sizeof(c->token_file) - 1);
			return -1;
		}
		snprintf(c->token_file, sizeof(c->token_file), "%s", v);
	} else if (strcmp(key, "ca_file") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof(c->ca_file)) {
			snprintf(err, errlen, "ca_file is a path of 1 to %zu bytes",
			    sizeof(c->ca_file) - 1);
			return -1;
		}
		snprintf(c->ca_file, sizeof(c->ca_file), "%s", v);
	} else if (strcmp(key, "name") == 0) {
		if (!name_is_valid(v, NAME_MAX_LEN) || strspn(v, "0123456789") == strlen(v)) {
			snprintf(err, errlen, "name must be 1 to %d of a-z, 0-9, '.', '_', '-', starting "
			    "with a letter or digit, and not all digits", NAME_MAX_LEN);
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
		if (strlen(v) >= sizeof(c->work_dir)) {
			snprintf(err, errlen, "work_dir is a path of at most %zu bytes",
			    sizeof(c->work_dir) - 1);
			return -1;
		}
		snprintf(c->work_dir, sizeof(c->work_dir), "%s", v);
	} else if (strcmp(key, "heartbeat") == 0) {
		if (duration_parse(v, &c->heartbeat_ms) != 0 || c->heartbeat_ms < 100 ||
		    c->heartbeat_ms > 600000) {
			snprintf(err, errlen, "heartbeat must be a duration from 100ms to 10m, such as \"5s\"");
			return -1;
		}
	} else if (strcmp(key, "kill_grace") == 0) {
		if (duration_parse(v, &c->kill_grace_ms) != 0 || c->kill_grace_ms < 0 ||
		    c->kill_grace_ms > 600000) {
			snprintf(err, errlen, "kill_grace must be a duration from 0s to 10m, such as \"10s\"");
			return -1;
		}
	} else if (strcmp(key, "isolation") == 0) {
		if (strcmp(v, "auto") != 0 && strcmp(v, "none") != 0) {
			snprintf(err, errlen, "isolation must be auto or none");
			return -1;
		}
		c->is_isolation_off = strcmp(v, "none") == 0;
	} else if (strcmp(key, "cgroup_root") == 0) {
		if (*v != '\0' && (v[0] != '/' || strlen(v) >= sizeof(c->cgroup_root) ||
		    strstr(v, "/..") != NULL)) {
			snprintf(err, errlen, "cgroup_root must be an absolute path of at most %zu bytes, "
			    "without ..", sizeof(c->cgroup_root) - 1);
			return -1;
		}
		snprintf(c->cgroup_root, sizeof(c->cgroup_root), "%s", v);
	} else if (strcmp(key, "log_format") == 0) {
		if (log_format_parse(v, &c->log_format) != 0) {
			snprintf(err, errlen, "log_format must be json, text or auto");
			return -1;
		}
	} else if (strcmp(key, "hook_uids") == 0) {
		return hookuser_parse_uids(&c->hook, v, err, errlen);
	} else if (strcmp(key, "hook_user") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof(c->hook.user) || strchr(v, ':') != NULL) {
			snprintf(err, errlen, "hook_user is a user name of 1 to %zu bytes",
			    sizeof(c->hook.user) - 1);
			return -1;
		}
		snprintf(c->hook.user, sizeof(c->hook.user), "%s", v);
	} else if (strcmp(key, "otlp_endpoint") == 0) {
		if (*v != '\0' && !otlp_endpoint_is_valid(v)) {
			snprintf(err, errlen, "%s", OTLP_ENDPOINT_RULE);
			return -1;
		}
		snprintf(c->otlp_endpoint, sizeof(c->otlp_endpoint), "%s", v);
	} else {
		snprintf(err, errlen, "unknown key %s (keys: server, token_file, name, capacity, "
		    "labels, work_dir, heartbeat, kill_grace, log_format, ca_file, hook_uids, "
		    "hook_user, isolation, cgroup_root, otlp_endpoint)", key);
		return -1;
	}
	return 0;
}

/* -1 when systemd's STATE_DIRECTORY is too long for work_dir. */
static int
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
	snprintf(c->name, sizeof(c->name), "%s", name_is_valid(host, NAME_MAX_LEN) &&
	    strspn(host, "0123456789") != strlen(host) ? host : "worker");
	c->cpu = n > 0 ? n : 1;
	c->memory_mb = sysinfo(&si) == 0 ? (int64_t)((uint64_t)si.totalram * si.mem_unit >> 20) : 1024;
	c->slots = 8;
	/* Under systemd, StateDirectory= names it (the first of a colon list). */
	c->heartbeat_ms = 5000;
	c->kill_grace_ms = 10000;
	c->hook.first = HOOK_UID_FIRST;
	c->hook.last = HOOK_UID_LAST;
	if (getenv("STATE_DIRECTORY") != NULL && getenv("STATE_DIRECTORY")[0] != '\0') {
		const char *sd = getenv("STATE_DIRECTORY");
		size_t len = strcspn(sd, ":");

		if (len >= sizeof(c->work_dir))
			return -1;
		memcpy(c->work_dir, sd, len);
		c->work_dir[len] = '\0';
	} else {
		snprintf(c->work_dir, sizeof(c->work_dir), "./agent-work");
	}
	return 0;
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
	/* As the CLI reads one: the first line, without the blanks around it. */
	{
		size_t lead = strspn(out, " \t");

		memmove(out, out + lead, strlen(out + lead) + 1);
	}
	out[strcspn(out, " \t\r\n")] = '\0';
	if (out[0] == '\0') {
		snprintf(err, errlen, "--token-file %s is empty", path);
		return -1;
	}
	return 0;
}

/*
 * The worker's own token, given by the registration: written to path.tmp
 * (mode 0600), synced, and renamed over path, so a crash leaves the old
 * file or the new one, never half of one.
 */
/* The agent's client of the server, with a token, its CAs and its timeouts; NULL: out of memory. */
static struct httpc *
agent_http(const struct agent_config *c, const char *token)
{
	struct httpc *h = httpc_new(c->server, token);

	if (h != NULL && httpc_set_ca_file(h, c->ca_file) != 0) {
		httpc_free(h);
		return NULL;
	}
	if (h != NULL)
		httpc_set_timeouts(h, 2000, 10000);	/* proto.c's call() sets them at each call */
	return h;
}

static int
keep_token(const char *path, const char *token)
{
	char tmp[PATH_BUF_MAX];
	size_t len = strlen(token);
	int fd, rc = 0;

	if (path_fmt(tmp, sizeof(tmp), "%s.tmp", path) != 0)
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/*
 * The registration's answer: a join token registered the worker, and its own
 * token came back. It is kept, then used for every call from now on.
 */
static int
take_token(struct proto *pr, const struct agent_config *c, const char *kept, json_t *answer,
    char *token, size_t n)
{
	const char *t = json_string_value(json_object_get(answer, "token"));
	struct httpc *h;

	if (t == NULL)
		return 0;
	if (strlen(t) >= n || keep_token(kept, t) != 0) {
		fprintf(stderr, "outpost-agent: cannot keep the worker's own token in %s: %s; an "
		    "admin revokes token worker:%s before this worker registers again\n", kept,
		    strlen(t) >= n ? "it is too long" : strerror(errno), c->name);
		return -1;
	}
	h = agent_http(c, t);
	if (h == NULL)
		return -1;
	httpc_free(pr->http);
	pr->http = h;
	snprintf(token, n, "%s", t);
	log_info("agent.token_kept", "name", c->name, "path", kept, NULL);
	return 0;
}

static void
refused_kept(const char *kept)
{
	fprintf(stderr, "outpost-agent: the server refused the worker's own token kept in %s; "
	    "if it was revoked, remove that file and register again with a join token "
	    "(--token-file)\n", kept);
}

/*
 * Sleeps ms, or less when a signal arrives (before the event stream exists).
 * The signals are blocked from the look at the flags until ppoll, which
 * unblocks them: one that lands in between cuts the sleep short too.
 */
static void
nap(int64_t ms)
{
	sigset_t block, old;
	struct timespec ts;

	if (ms > 600000)
		ms = 600000;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (ms > 0 && !got_stop && !got_child)
		ppoll(NULL, 0, &ts, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/*
 * Past the moment the lease set (proto.c): every instance is fenced, and any
 * the server's work lists before a heartbeat is answered again.
 */
static void
fence_check(struct proto *pr, struct work *w)
{
	int64_t now = proto_clock_ms();
	char reason[256], silent[32], lease[32];

	if (pr->fence_ms == 0 || now < pr->fence_ms)
		return;
	duration_format((now - pr->acked_ms) / 100 * 100, silent, sizeof(silent));
	duration_format(pr->lease_ms, lease, sizeof(lease));
	if (!pr->is_fenced) {
		pr->is_fenced = 1;
		log_warn("agent.fence", "silent", silent, "lost_after", lease, "detail",
		    "no heartbeat answered for most of the server's worker_lost_after: every "
		    "instance's hooks are killed before the server may give it to another worker",
		    NULL);
	}
	snprintf(reason, sizeof(reason), "fenced: the server answered no heartbeat of the agent "
	    "for %s (its worker_lost_after is %s); the hooks were killed", silent, lease);
	work_fence(w, reason);
}

/* How long the loop may wait before the fence is due (INT64_MAX: not due). */
static int64_t
fence_wait(const struct proto *pr)
{
	if (pr->fence_ms == 0 || pr->is_fenced)
		return INT64_MAX;
	return pr->fence_ms - proto_clock_ms();
}

static volatile int want_work;
static int is_streaming;

static void
on_event(void *arg, json_t *ev)
{
	struct work *w = arg;

	/* The event says something changed (unless it is our own step); the work says what. */
	if (w == NULL || !work_is_echo(w, ev))
		want_work = 1;
}

static void
on_caught_up(void *arg, int64_t seq)
{
	(void)arg;
	(void)seq;
	want_work = 1;	/* after a (re)connection: whatever was missed is in the work */
}

static void
on_state(void *arg, const struct evstream_status *st)
{
	(void)arg;
	if (st->state == EVSTREAM_CONNECTED && !is_streaming)
		log_info("agent.stream", "state", "connected", NULL);
	if (st->state == EVSTREAM_DISCONNECTED && is_streaming)
		log_warn("agent.stream", "state", "disconnected", "reason", st->reason, NULL);
	is_streaming = st->state == EVSTREAM_CONNECTED;
}

static void
on_error(void *arg, const char *code, const char *message, const char *field)
{
	(void)arg;
	log_error("agent.stream_refused", "code", code, "message", message, "field", field, NULL);
}

static struct evstream *
stream_open(const struct agent_config *c, const char *token, int64_t since, struct work *w)
{
	static const char *const types[] = { "instance.*", NULL };
	struct evstream_opts o = {
		.url = c->server,
		.token = token,
		.since = since,
		.types = types,
		.worker = c->name,
		.ca_file = c->ca_file,
		/*
		 * A stream cut without a word (a half-open connection) rings no
		 * doorbell: PINGs every heartbeat (1 s to 30 s) find it, and lws hangs
		 * it up after two missed and 5 s, to connect again.
		 */
		.ping_secs = c->heartbeat_ms < 1000 ? 1 : c->heartbeat_ms > 30000 ? 30 :
		    (int)(c->heartbeat_ms / 1000),
		.on_event = on_event,
		.on_caught_up = on_caught_up,
		.on_state = on_state,
		.on_error = on_error,
		.arg = w,
	};
	char err[512];
	struct evstream *es = evstream_new(&o, err, sizeof(err));

	if (es == NULL)
		log_error("agent.stream", "error", err, NULL);
	/* evstream takes lws's log for its own; the agent's stays as it was set. */
	return es;
}

int
main(int argc, char **argv)
{
	struct agent_config c;
	struct config_flags flags;
	struct proto pr = { 0 };
	const char *config;
	char err[AGENT_ERR_BUF], token[256], path[PATH_BUF_MAX], abs_dir[PATH_MAX];
	char kept[PATH_BUF_MAX];
	struct work *w = NULL;
	struct sigaction sa;
	json_t *labels = NULL, *j;
	int rc = 1, is_registered = 0, lock_fd = -1, is_retired = 0, is_kept = 0;
	int64_t backoff = 500, refused_backoff = 30000, beat_at = 0, retired_at = 0, *alive = NULL;
	size_t nalive = 0;

	log_set_program("outpost-agent");
	if (defaults(&c) != 0) {
		fprintf(stderr, "outpost-agent: STATE_DIRECTORY: work_dir is a path of at most %zu "
		    "bytes\n", sizeof(c.work_dir) - 1);
		return 2;
	}
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
	/* Who hooks run as: decided once, before anything says what this worker can do. */
	if (hookuser_setup(&c.hook, c.work_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		return 2;
	}
	labels = labels_json(c.labels, err, sizeof(err));
	if (labels == NULL || shim_locate(err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		json_decref(labels);
		return 2;
	}
	j = json_pack("{s:s}", "name", c.name);
	if (j != NULL && proto_announce(j) != 0) {
		json_decref(j);
		j = NULL;
	}
	pr.heartbeat_body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	pr.name = c.name;
	pr.total_ms = 10000;
	pr.heartbeat_ms = c.heartbeat_ms;
	if (c.ca_file[0] != '\0' && access(c.ca_file, R_OK) != 0) {
		fprintf(stderr, "outpost-agent: ca_file %s: %s\n", c.ca_file, strerror(errno));
		rc = 2;
		goto out;
	}
	if (pr.heartbeat_body == NULL) {
		fprintf(stderr, "outpost-agent: out of memory\n");
		goto out;
	}
	/*
	 * Instances' directories live here: it must be ours to write before
	 * anything starts, named absolutely (hooks run inside it and are given
	 * its paths), and ours alone: a second agent on it would take this one's
	 * hooks for its own.
	 */
	/* work_dir is shorter than PATH_SETTING_MAX: "/instances" fits PATH_BUF_MAX. */
	if (path_fmt(path, sizeof(path), "%s/instances", c.work_dir) != 0 ||
	    mkdir_p(path, hookuser_dir_mode()) != 0 || access(path, W_OK | X_OK) != 0 ||
	    realpath(c.work_dir, abs_dir) == NULL ||
	    (hookuser_is_on() && (chmod(c.work_dir, 0711) != 0 || chmod(path, 0711) != 0))) {
		fprintf(stderr, "outpost-agent: --work-dir %s: %s\n", c.work_dir, strerror(errno));
		rc = 2;
		goto out;
	}
	if (strlen(abs_dir) >= WORK_DIR_MAX) {
		fprintf(stderr, "outpost-agent: --work-dir %s: the path is longer than %d bytes\n",
		    abs_dir, WORK_DIR_MAX - 1);
		rc = 2;
		goto out;
	}
	memcpy(c.work_dir, abs_dir, strlen(abs_dir) + 1);
	if (path_fmt(path, sizeof(path), "%s/agent.lock", c.work_dir) == 0)
		lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "outpost-agent: --work-dir %s: %s\n", c.work_dir, lock_fd < 0 ?
		    strerror(errno) : "another outpost-agent runs on this work directory");
		rc = 2;
		goto out;
	}
	/* Its cgroups (before any thread starts: on cgroup v2 the agent moves itself). */
	cg_setup(&c);
	j = json_pack("{s:s, s:{s:I, s:I, s:I}, s:o, s:s}", "name", c.name, "capacity",
	    "cpu", (json_int_t)c.cpu, "memory_mb", (json_int_t)c.memory_mb, "slots",
	    (json_int_t)c.slots, "labels", labels, "isolation", cg_isolation());	/* takes labels */
	labels = NULL;
	if (j != NULL && proto_announce(j) != 0) {
		json_decref(j);
		j = NULL;
	}
	pr.register_body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (pr.register_body == NULL) {
		fprintf(stderr, "outpost-agent: out of memory\n");
		goto out;
	}
	/* The worker's own token, kept by an earlier agent, wins over --token-file's. */
	if (path_fmt(kept, sizeof(kept), "%s/worker.token", c.work_dir) != 0) {
		fprintf(stderr, "outpost-agent: --work-dir %s: the path is too long\n", c.work_dir);
		rc = 2;
		goto out;
	}
	if (access(kept, F_OK) == 0) {
		if (read_token(kept, token, sizeof(token), err, sizeof(err)) != 0) {
			fprintf(stderr, "outpost-agent: the worker's kept token: %s\n", err);
			rc = 2;
			goto out;
		}
		is_kept = 1;
	} else if (read_token(c.token_file, token, sizeof(token), err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		rc = 2;
		goto out;
	}
	pr.http = agent_http(&c, token);
	if (pr.http == NULL) {
		fprintf(stderr, "outpost-agent: --server %s: cannot make an HTTP client\n",
		    c.server);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* a closed terminal: stop as for SIGTERM */
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* An agent restarted while cut off: the lease of the one before holds. */
	if (path_fmt(pr.lease_path, sizeof(pr.lease_path), "%s/lease", c.work_dir) != 0)
		pr.lease_path[0] = '\0';
	proto_lease_load(&pr);
	/* The hooks' spans (otlp.c): off without an endpoint. */
	if (otlp_start(c.otlp_endpoint, "outpost-agent", c.name, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-agent: %s\n", err);
		goto out;
	}
	w = work_new(&c, &pr);
	if (w == NULL || work_recover(w, &alive, &nalive) != 0) {
		fprintf(stderr, "outpost-agent: cannot read the work directory %s\n", c.work_dir);
		goto out;
	}
	cg_reap(w);	/* the cgroups of instances no record names */
	log_info("agent.starting", "name", c.name, "server", c.server, NULL);
	{
		char why[512], range[32];

		snprintf(range, sizeof(range), "%u-%u", (unsigned)c.hook.first,
		    (unsigned)c.hook.last);
		if (hookuser_available(why, sizeof(why)))
			log_info("agent.hook_users", "detail", "each instance's hooks run as a uid of "
			    "their own", "hook_uids", range, NULL);
		else
			log_warn("agent.hook_users", "detail", why, NULL);
	}

	while (!got_stop) {
		int64_t now, wait;
		int want = 0;

		if (got_child) {
			got_child = 0;
			work_reap(w);
		}
		fence_check(&pr, w);
		if (!is_registered) {
			json_t *answer = NULL;
			enum call r = proto_register(&pr, &answer);

			if (r == CALL_FATAL) {
				if (is_kept)
					refused_kept(kept);
				goto out;
			}
			if (r == CALL_OK && take_token(&pr, &c, kept, answer, token,
			    sizeof(token)) != 0) {
				json_decref(answer);
				goto out;
			}
			json_decref(answer);
			answer = NULL;
			if (r == CALL_OK) {
				/* Reports left from before go first, then what is still had. */
				work_step(w, now_ms(), &want);
				r = proto_sync(&pr, alive, nalive, &answer);
			}
			if (r != CALL_OK) {
				/* An agent whose protocol is not served asks rarely (proto.c). */
				int64_t nap_ms = pr.is_protocol_refused ? refused_backoff : backoff;

				nap(nap_ms < fence_wait(&pr) ? nap_ms : fence_wait(&pr));
				if (backoff < c.heartbeat_ms)
					backoff *= 2;
				if (pr.is_protocol_refused && refused_backoff < 600000)
					refused_backoff *= 2;
				continue;
			}
			refused_backoff = 30000;
			free(alive);
			alive = NULL;
			nalive = 0;
			is_registered = 1;
			backoff = 500;
			beat_at = now_ms() + c.heartbeat_ms;
			log_info("agent.registered", "name", c.name, NULL);
			work_apply(w, answer);
			if (the_stream == NULL)
				the_stream = stream_open(&c, token, json_integer_value(json_object_get(answer,
				    "last_seq")), w);
			json_decref(answer);
		}
		fence_check(&pr, w);
		now = now_ms();
		wait = work_step(w, now, &want);
		if (want)
			want_work = 1;
		/* While the server is away only the heartbeat looks for it. */
		if (want_work && !pr.is_away) {
			json_t *answer = NULL;
			enum call r;

			want_work = 0;
			r = proto_work(&pr, &answer);
			if (r == CALL_OK) {
				work_apply(w, answer);
			} else if (r == CALL_GONE) {
				is_registered = 0;
			} else if (r == CALL_CONFLICT && retired_at != 0) {
				/* A terminated worker is given no work: nothing it holds is listed. */
				json_decref(answer);
				answer = json_pack("{s:[]}", "instances");
				work_apply(w, answer);
			}
			json_decref(answer);
			if (r == CALL_FATAL)
				goto out;
			if (r == CALL_OK || r == CALL_GONE || (r == CALL_CONFLICT && retired_at != 0))
				continue;
		}
		now = now_ms();
		if (now >= beat_at) {
			int was_away = pr.is_away;
			enum call r;
			json_t *usage;

			/* A server that takes connections but does not answer holds the loop little. */
			if (was_away)
				pr.total_ms = 3000;
			usage = cg_usage(w);
			r = proto_heartbeat(&pr, usage, &is_retired);
			json_decref(usage);
			cg_reap(w);
			if (was_away)
				pr.total_ms = 10000;
			beat_at = now_ms() + c.heartbeat_ms;
			/* Back: whatever changed meanwhile is in the work. */
			if (was_away && !pr.is_away)
				want_work = 1;
			if (r == CALL_GONE) {
				log_warn("agent.forgotten", "detail", "the server does not know this worker; "
				    "registering again", NULL);
				is_registered = 0;
				continue;
			}
			if (r == CALL_FATAL)
				goto out;
			if (pr.is_protocol_refused) {
				is_registered = 0;	/* registers again, backing off */
				continue;
			}
			if (is_retired && retired_at == 0) {
				/* What it still holds was settled by the server: the work says so. */
				log_info("agent.retired", "name", c.name, "detail",
				    "the worker is stopped; ending what it holds, then exiting", NULL);
				retired_at = now_ms();
				want_work = 1;
			}
			/* Without the stream, the work is asked for at each heartbeat. */
			if (!is_streaming)
				want_work = 1;
			now = now_ms();
		}
		if (retired_at != 0 && !want_work) {
			size_t running;

			/* Its hooks are killed (with the grace) once the work no longer lists them. */
			if (work_count(w, &running) == 0 || running == 0 ||
			    now - retired_at > 2 * c.kill_grace_ms + 5000) {
				if (running > 0)
					log_warn("agent.retired", "detail", "hooks still running at exit",
					    NULL);
				log_info("agent.stopped", "name", c.name, "detail",
				    "its worker is stopped or terminated", NULL);
				rc = 0;
				goto out;
			}
			if (wait > 200)
				wait = 200;
		}
		if (beat_at - now < wait)
			wait = beat_at - now;
		if (fence_wait(&pr) < wait)
			wait = fence_wait(&pr);
		if (wait < 0)
			wait = 0;
		if (got_stop || got_child || (want_work && !pr.is_away))
			continue;
		if (the_stream != NULL)
			evstream_service(the_stream, wait > 0 ? (int)wait : 1);
		else
			nap(wait);
	}
	log_info("agent.stopped", "name", c.name, "detail", "hooks go on running under their shims",
	    NULL);
	rc = 0;
out:
	evstream_free(the_stream);
	the_stream = NULL;
	work_free(w);
	otlp_stop();
	cg_finish();
	free(alive);
	httpc_free(pr.http);
	free(pr.register_body);
	free(pr.heartbeat_body);
	json_decref(labels);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
