/*
 * fleet-sim: N agents of the real agent protocol (docs/api.md, "The agent
 * protocol") on one libwebsockets loop, to measure outpostd with a fleet
 * behind it: its CPU with the fleet idle, and how soon a placement reaches
 * its agent. Built and run by bench/run-fleet.sh.
 *
 * Each simulated agent does what outpost-agent does, without processes:
 * registers with a join token (the answer holds the worker's own token, used
 * from then on), syncs with nothing alive, subscribes to the event stream
 * for its worker from the sync's last_seq (a PING every heartbeat, as the
 * agent's stream does), heartbeats every --heartbeat-ms with its protocol
 * and release, and on each event that is not the echo of its own report (and
 * on each caught_up) asks for its work and reports each instance's next step
 * at once, as an agent whose definition has no hooks would: scheduled ->
 * instantiating -> running, and collecting -> stopping -> stopped. Each
 * agent has one kept HTTP/1.1 connection, one call in flight at a time (the
 * agent's calls are synchronous), connected again when the server closed it
 * while idle, as libcurl does.
 *
 * An operator connection (the admin token) drives the phases: all agents
 * subscribed; a settling time; an idle window (outpostd's utime+stime from
 * /proc/PID/stat, and this process's own); SINGLES creates one at a time;
 * one batch of --batch instances; every instance stopped and followed to
 * stopped; round trips of GET /healthz on the kept connection (the
 * reference). It prints "key value" lines on stdout for the script.
 *
 * Traffic goes to the --url given, which must be http://127.0.0.1:PORT.
 *
 * This file: the agents, their event streams, and main. fleet-http.c: the
 * kept HTTP/1.1 connections; fleet-phases.c: the phases and the figures.
 */
#define _GNU_SOURCE 1
#include "fleet-sim.h"

struct fleet g;

static void agent_want_work(struct agent *ag);
static void ws_connect(struct agent *ag);

/* ---- the agents ---- */

static struct inst *
inst_find(struct agent *ag, int64_t id, int is_add)
{
	for (size_t k = 0; k < ag->ninst; k++)
		if (ag->inst[k].id == id)
			return &ag->inst[k];
	if (!is_add)
		return NULL;
	if (ag->ninst == ag->capinst) {
		size_t cap = ag->capinst ? ag->capinst * 2 : 4;
		struct inst *ni = realloc(ag->inst, cap * sizeof(*ni));

		if (ni == NULL) {
			fail("out of memory");
			return NULL;
		}
		ag->inst = ni;
		ag->capinst = cap;
	}
	memset(&ag->inst[ag->ninst], 0, sizeof(ag->inst[0]));
	ag->inst[ag->ninst].id = id;
	return &ag->inst[ag->ninst++];
}

/* The step an agent without hooks reports from each state, or NULL: none of its. */
static const char *
next_step(const char *state, const char **reason)
{
	static const struct {
		const char *from, *to, *reason;
	} steps[] = {
		{ "scheduled", "instantiating", "the agent took it (no instantiate hook)" },
		{ "instantiating", "running", "run started" },
		{ "collecting", "stopping", "no collect or grade hook" },
		{ "grading", "stopping", "graded" },
		{ "stopping", "stopped", "no stop hook" },
	};

	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		if (strcmp(state, steps[k].from) == 0) {
			*reason = steps[k].reason;
			return steps[k].to;
		}
	return NULL;
}

static void on_report(struct client *c, struct req *r, int status, json_t *body);

/* An instance as the server says it is (in the work, or a report's answer): its next step. */
static void
agent_act(struct agent *ag, json_t *j, double now)
{
	int64_t id = json_integer_value(json_object_get(j, "id"));
	int64_t attempt = json_integer_value(json_object_get(j, "attempt"));
	const char *state = json_string_value(json_object_get(j, "state")), *to, *why;
	struct inst *in;
	struct sample *s;
	char path[96];

	if (id < 1 || state == NULL || (in = inst_find(ag, id, 1)) == NULL)
		return;
	in->is_seen = 1;
	if (in->attempt != attempt) {
		in->attempt = attempt;		/* a new placement */
		in->reported[0] = '\0';
		if ((s = sample_of(id)) != NULL && s->known == 0) {
			s->known = now;
			if (strcmp(state, "scheduled") == 0)
				s->placed = rfc3339_ms(json_string_value(json_object_get(j,
				    "updated_at")));
		}
	}
	if (strcmp(state, "running") == 0 && (s = sample_of(id)) != NULL && s->running == 0)
		s->running = now;
	if (strcmp(state, "stopped") == 0 && (s = sample_of(id)) != NULL)
		s->is_stopped = 1;
	if (in->is_reporting || (to = next_step(state, &why)) == NULL)
		return;
	in->is_reporting = 1;
	snprintf(in->reported, sizeof(in->reported), "%s", to);
	snprintf(path, sizeof(path), "/api/v1/agent/instances/%lld/report", (long long)id);
	client_call(&ag->http, "POST", path, json_pack("{s:s, s:I, s:s, s:s, s:s}", "name",
	    ag->name, "attempt", (json_int_t)attempt, "from", state, "to", to, "reason", why),
	    id, on_report);
}

static void
on_report(struct client *c, struct req *r, int status, json_t *body)
{
	struct agent *ag = c->ag;
	struct inst *in = inst_find(ag, r->id, 0);

	if (in != NULL)
		in->is_reporting = 0;
	g.reports++;
	if (status == 200 && json_is_object(body)) {
		agent_act(ag, body, now_ms());
		return;
	}
	/* The server's state moved on (409), or it is not ours now (403): the work says. */
	if (status == 409 || status == 403)
		g.report_conflicts++;
	else
		g.report_errors++;
	agent_want_work(ag);
}

static void
on_work(struct client *c, struct req *r, int status, json_t *body)
{
	struct agent *ag = c->ag;
	json_t *items = json_object_get(body, "instances"), *j;
	double now = now_ms();
	size_t k, w;

	(void)r;
	ag->is_working = 0;
	g.works++;
	if (status != 200 || !json_is_array(items)) {
		g.http_errors++;
	} else {
		for (k = 0; k < ag->ninst; k++)
			ag->inst[k].is_seen = 0;
		json_array_foreach(items, k, j)
			agent_act(ag, j, now);
		/* What left the list is no longer the agent's: forget it (not while reporting). */
		for (k = w = 0; k < ag->ninst; k++)
			if (ag->inst[k].is_seen || ag->inst[k].is_reporting)
				ag->inst[w++] = ag->inst[k];
		ag->ninst = w;
	}
	if (ag->want_work_again) {
		ag->want_work_again = 0;
		agent_want_work(ag);
	}
}

static void
agent_want_work(struct agent *ag)
{
	char path[96];

	if (ag->is_working) {
		ag->want_work_again = 1;
		return;
	}
	ag->is_working = 1;
	snprintf(path, sizeof(path), "/api/v1/agent/work?name=%s", ag->name);
	client_call(&ag->http, "GET", path, NULL, 0, on_work);
}

static void beat(lws_sorted_usec_list_t *sul);

static void
on_heartbeat(struct client *c, struct req *r, int status, json_t *body)
{
	struct agent *ag = c->ag;

	(void)r;
	ag->is_beating = 0;
	if (status == 200) {
		g.heartbeats++;
		g.lost_after_ms = json_integer_value(json_object_get(body, "lost_after_ms"));
	} else {
		g.heartbeat_errors++;
	}
}

static void
beat(lws_sorted_usec_list_t *sul)
{
	struct agent *ag = lws_container_of(sul, struct agent, sul_beat);

	if (g.is_done)
		return;
	lws_sul_schedule(g.ctx, 0, &ag->sul_beat, beat, g.heartbeat_ms * LWS_US_PER_MS);
	/* A heartbeat still unanswered: this one would only queue behind it. */
	if (!ag->is_beating) {
		ag->is_beating = 1;
		client_call(&ag->http, "POST", "/api/v1/agent/heartbeat", json_pack("{s:s, s:i, s:s}",
		    "name", ag->name, "protocol", 2, "agent_version", "fleet-sim"), 0, on_heartbeat);
	}
	/* The stream is down: the heartbeat asks for the work, as the agent does. */
	if (!ag->is_ws_up)
		agent_want_work(ag);
}

static void
on_sync(struct client *c, struct req *r, int status, json_t *body)
{
	struct agent *ag = c->ag;

	(void)r;
	if (status != 200 || !json_is_integer(json_object_get(body, "last_seq"))) {
		fail("%s: the sync answered %d: %s", ag->name, status, err_msg(body));
		return;
	}
	ag->since = json_integer_value(json_object_get(body, "last_seq"));
	ws_connect(ag);
	/* Heartbeats spread over the interval, as agents started at different times are. */
	lws_sul_schedule(g.ctx, 0, &ag->sul_beat, beat,
	    (lws_usec_t)(random() % g.heartbeat_ms + 1) * LWS_US_PER_MS);
}

static void
on_register(struct client *c, struct req *r, int status, json_t *body)
{
	struct agent *ag = c->ag;
	const char *tok = json_string_value(json_object_get(body, "token"));

	(void)r;
	if ((status != 201 && status != 200) || tok == NULL) {
		fail("%s: the registration answered %d: %s", ag->name, status, err_msg(body));
		return;
	}
	g.lost_after_ms = json_integer_value(json_object_get(body, "lost_after_ms"));
	/* From now on the worker's own token, as the agent keeps it. */
	snprintf(ag->http.auth, sizeof(ag->http.auth), "Bearer %s", tok);
	client_call(&ag->http, "POST", "/api/v1/agent/sync", json_pack("{s:s, s:[]}", "name",
	    ag->name, "alive"), 0, on_sync);
}

static void
agent_start(struct agent *ag)
{
	snprintf(ag->http.auth, sizeof(ag->http.auth), "%s", g.join_auth);
	client_call(&ag->http, "POST", "/api/v1/agent/register", json_pack("{s:s, s:{s:i, s:i, s:i},"
	    " s:{s:s}, s:i, s:s}", "name", ag->name, "capacity", "cpu", 64, "memory_mb", 65536,
	    "slots", 100, "labels", "fleet", "sim", "protocol", 2, "agent_version", "fleet-sim"),
	    0, on_register);
}

/* Starts registrations until JOIN_AT_ONCE are under way. */
void
join_next(void)
{
	while (g.started < g.nagents && g.started - g.ready < JOIN_AT_ONCE)
		agent_start(&g.agents[g.started++]);
}

/* ---- the event streams ---- */

static lws_retry_bo_t ws_policy;

static void
ws_retry(lws_sorted_usec_list_t *sul)
{
	ws_connect(lws_container_of(sul, struct agent, sul_ws));
}

static void
ws_connect(struct agent *ag)
{
	struct lws_client_connect_info i;

	if (g.is_done || ag->ws != NULL)
		return;
	memset(&i, 0, sizeof(i));
	i.context = g.ctx;
	i.address = g.host;
	i.port = g.port;
	i.path = "/api/v1/events";
	i.host = g.host;
	i.origin = g.host;
	i.protocol = WS_PROTO;
	i.local_protocol_name = WS_PROTO;
	i.retry_and_idle_policy = &ws_policy;
	i.userdata = ag;
	i.pwsi = &ag->ws;
	if (lws_client_connect_via_info(&i) == NULL && ag->ws == NULL)
		lws_sul_schedule(g.ctx, 0, &ag->sul_ws, ws_retry, LWS_US_PER_SEC);
}

/* One event, or caught_up, or an error: what the agent's stream does with it. */
static void
ws_message(struct agent *ag, json_t *m)
{
	json_t *data = json_object_get(m, "data"), *v;
	struct inst *in;

	if (json_is_integer(json_object_get(m, "seq"))) {
		g.events++;
		if (json_integer_value(json_object_get(m, "seq")) > ag->since)
			ag->since = json_integer_value(json_object_get(m, "seq"));
		in = inst_find(ag, json_integer_value(json_object_get(m, "id")), 0);
		v = json_object_get(data, "to");
		/* The echo of its own report rings no bell. */
		if (in != NULL && json_is_string(v) && strcmp(in->reported,
		    json_string_value(v)) == 0) {
			g.echoes++;
			return;
		}
		agent_want_work(ag);
	} else if (json_is_integer(v = json_object_get(m, "caught_up"))) {
		if (json_integer_value(v) > ag->since)
			ag->since = json_integer_value(v);
		if (!ag->is_caught_up) {
			ag->is_caught_up = 1;
			g.ready++;
			join_next();
		}
		agent_want_work(ag);
	} else if (json_is_object(v = json_object_get(m, "error"))) {
		fail("%s: the stream refused: %s", ag->name,
		    json_string_value(json_object_get(v, "message")));
	}
}

/* A whole message: one JSON value, or several one after the other (a batched write). */
static void
ws_text(struct agent *ag, const char *p, size_t len)
{
	json_error_t e;
	json_t *m, *x;
	size_t k;

	while (len > 0 && !g.is_done) {
		while (len > 0 && (*p == '\n' || *p == ' ' || *p == '\r')) {
			p++;
			len--;
		}
		if (len == 0 || (m = json_loadb(p, len, JSON_DISABLE_EOF_CHECK, &e)) == NULL)
			return;
		if (json_is_array(m)) {
			json_array_foreach(m, k, x)
				ws_message(ag, x);
		} else {
			ws_message(ag, m);
		}
		json_decref(m);
		if ((size_t)e.position == 0 || (size_t)e.position > len)
			return;
		p += e.position;
		len -= (size_t)e.position;
	}
}

int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct agent *ag = user;
	unsigned char **pp, *end, buf[LWS_PRE + 256];
	char *nb;
	int n;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		pp = in;
		end = *pp + len;
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
		    (const unsigned char *)ag->http.auth, (int)strlen(ag->http.auth), pp, end))
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ag->is_ws_up = 1;
		ag->need_subscribe = 1;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		/* lws also calls here after its own PINGs: the subscription goes once. */
		if (!ag->need_subscribe)
			break;
		ag->need_subscribe = 0;
		n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, "{\"subscribe\":{\"since\":"
		    "%lld,\"types\":[\"instance.*\"],\"worker\":\"%s\"}}", (long long)ag->since,
		    ag->name);
		if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
			ws_text(ag, in, len);
			break;
		}
		if (ag->wsrxlen + len > RX_MAX || (nb = realloc(ag->wsrx, ag->wsrxlen + len)) == NULL)
			return -1;
		ag->wsrx = nb;
		memcpy(ag->wsrx + ag->wsrxlen, in, len);
		ag->wsrxlen += len;
		if (lws_is_final_fragment(wsi)) {
			ws_text(ag, ag->wsrx, ag->wsrxlen);
			ag->wsrxlen = 0;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (ag == NULL || (ag->ws != NULL && ag->ws != wsi))
			break;
		ag->ws = NULL;
		ag->is_ws_up = 0;
		ag->wsrxlen = 0;
		if (!g.is_done) {
			g.ws_reconnects++;
			lws_sul_schedule(g.ctx, 0, &ag->sul_ws, ws_retry, LWS_US_PER_SEC);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* ---- main ---- */

static const struct lws_protocols protocols[] = {
	{ HTTP_PROTO, http_callback, 0, 0, 0, NULL, 0 },
	{ WS_PROTO, ws_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "fleet-sim: %s\n", why);
	fprintf(stderr, "usage: fleet-sim --url http://127.0.0.1:PORT --pid OUTPOSTD_PID "
	    "--join-token-file F --admin-token-file F\n    [--agents 100] [--prefix sim] "
	    "[--definition fleet] [--heartbeat-ms 5000] [--settle-ms 5000]\n    [--idle-ms 30000] "
	    "[--singles 200] [--gap-ms 20] [--batch 0] [--rtts 300] [--timeout-ms 600000]\n");
	exit(2);
}

/* The value of an integer flag, from min to max; otherwise exits naming the flag. */
static long long
num(const char *flag, const char *v, long long min, long long max)
{
	char *end, why[160];
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		snprintf(why, sizeof(why), "%s must be a whole number from %lld to %lld, not %.40s",
		    flag, min, max, v);
		usage(why);
	}
	return n;
}

static void
read_token(const char *file, char *auth, size_t n)
{
	char tok[200];
	FILE *f = fopen(file, "r");

	if (f == NULL || fgets(tok, sizeof(tok), f) == NULL) {
		fprintf(stderr, "fleet-sim: cannot read a token from %s\n", file);
		exit(2);
	}
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	snprintf(auth, n, "Bearer %s", tok);
}

static void
on_signal(int sig)
{
	(void)sig;
	g.is_failed = 1;
	g.is_done = 1;
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	const char *url = NULL;
	struct sigaction sa;
	char why[160];
	int has_join = 0, has_admin = 0;

	g.nagents = 100;
	g.singles = 200;
	g.rtts = 300;
	g.heartbeat_ms = 5000;
	g.settle_ms = 5000;
	g.idle_ms = 30000;
	g.gap_ms = 20;
	g.timeout_ms = 600000;
	g.server_pid = -1;
	snprintf(g.definition, sizeof(g.definition), "fleet");
	snprintf(g.prefix, sizeof(g.prefix), "sim");
	for (int k = 1; k < argc; k++) {
		const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;

		if (v == NULL) {
			snprintf(why, sizeof(why), "%.40s needs a value", a);
			usage(why);
		}
		k++;
		if (strcmp(a, "--url") == 0)
			url = v;
		else if (strcmp(a, "--pid") == 0)
			g.server_pid = (long)num(a, v, 1, 1 << 30);
		else if (strcmp(a, "--join-token-file") == 0)
			read_token(v, g.join_auth, sizeof(g.join_auth)), has_join = 1;
		else if (strcmp(a, "--admin-token-file") == 0)
			read_token(v, g.op.auth, sizeof(g.op.auth)), has_admin = 1;
		else if (strcmp(a, "--agents") == 0)
			g.nagents = (int)num(a, v, 0, MAX_AGENTS);
		else if (strcmp(a, "--prefix") == 0)
			snprintf(g.prefix, sizeof(g.prefix), "%s", v);
		else if (strcmp(a, "--definition") == 0)
			snprintf(g.definition, sizeof(g.definition), "%s", v);
		else if (strcmp(a, "--heartbeat-ms") == 0)
			g.heartbeat_ms = num(a, v, 100, 600000);
		else if (strcmp(a, "--settle-ms") == 0)
			g.settle_ms = num(a, v, 0, 600000);
		else if (strcmp(a, "--idle-ms") == 0)
			g.idle_ms = num(a, v, 1000, 3600000);
		else if (strcmp(a, "--singles") == 0)
			g.singles = (int)num(a, v, 0, 100000);
		else if (strcmp(a, "--gap-ms") == 0)
			g.gap_ms = num(a, v, 0, 60000);
		else if (strcmp(a, "--batch") == 0)
			g.batch = (int)num(a, v, 0, 1000);
		else if (strcmp(a, "--rtts") == 0)
			g.rtts = (int)num(a, v, 0, 100000);
		else if (strcmp(a, "--timeout-ms") == 0)
			g.timeout_ms = num(a, v, 1000, 86400000);
		else {
			snprintf(why, sizeof(why), "unknown flag %.40s", a);
			usage(why);
		}
	}
	/* Loopback only: the script gives http://127.0.0.1:PORT. */
	if (url == NULL || sscanf(url, "http://%63[0-9.]:%d", g.host, &g.port) != 2 ||
	    strcmp(g.host, "127.0.0.1") != 0 || g.port < 1 || g.port > 65535)
		usage("--url must be http://127.0.0.1:PORT (the simulator speaks to loopback only)");
	if (g.server_pid <= 0)
		usage("--pid (outpostd's process id, whose CPU is read) is required");
	if (!has_join || !has_admin)
		usage("--join-token-file and --admin-token-file are required");
	if (g.nagents == 0 && (g.singles > 0 || g.batch > 0))
		usage("--singles and --batch need --agents 1 or more");
	if (g.singles + g.batch + 1000 >= MAX_IDS)
		usage("--singles and --batch: too many instances to follow");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	srandom((unsigned)getpid());
	g.s = calloc(MAX_IDS, sizeof(*g.s));
	g.agents = calloc((size_t)g.nagents + 1, sizeof(*g.agents));
	g.rtt = calloc((size_t)g.rtts + 1, sizeof(double));
	if (g.s == NULL || g.agents == NULL || g.rtt == NULL)
		return 1;
	for (int k = 0; k < STOPPERS; k++)
		memcpy(g.stoppers[k].auth, g.op.auth, sizeof(g.op.auth));
	for (int k = 0; k < g.nagents; k++) {
		g.agents[k].idx = k;
		snprintf(g.agents[k].name, sizeof(g.agents[k].name), "%s%04d", g.prefix, k + 1);
		g.agents[k].http.ag = &g.agents[k];
	}
	/* The agent's stream: a PING after a heartbeat's silence, hung up after two missed. */
	ws_policy.secs_since_valid_ping = (uint16_t)(g.heartbeat_ms < 1000 ? 1 :
	    g.heartbeat_ms > 30000 ? 30 : g.heartbeat_ms / 1000);
	ws_policy.secs_since_valid_hangup = (uint16_t)(ws_policy.secs_since_valid_ping * 2 + 5);

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.fd_limit_per_thread = 0;
	if ((g.ctx = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "fleet-sim: cannot make the libwebsockets context\n");
		return 1;
	}
	g.t0 = now_ms();
	enter(PH_JOIN, g.t0);
	join_next();
	lws_sul_schedule(g.ctx, 0, &g.sul_tick, tick, 50 * LWS_US_PER_MS);
	while (!g.is_done)
		if (lws_service(g.ctx, 0) < 0)
			break;
	if (!g.is_failed)
		print_results();
	lws_context_destroy(g.ctx);
	for (int k = 0; k < g.nagents; k++) {
		free(g.agents[k].inst);
		free(g.agents[k].wsrx);
		free(g.agents[k].http.rx);
	}
	free(g.op.rx);
	for (int k = 0; k < STOPPERS; k++)
		free(g.stoppers[k].rx);
	free(g.agents);
	free(g.s);
	free(g.rtt);
	return g.is_failed ? 1 : 0;
}
