/*
 * The server the harnesses talk to (fuzz.h): outpostd's own code on a real
 * SQLite store in memory, opened and migrated as main.c opens its file,
 * with a live admin token, a join token, a worker registered with it (and
 * so its own token), a definition and an instance placed on that worker.
 * Requests go to the routes as http.c hands them over: route_find(), the
 * route's query check, then its function; what libwebsockets does before
 * (the request line, percent-decoding, the query's pairs) is modelled here
 * as http.c's callback receives it, with its refusals (too long, a control
 * character). Nothing here answers for the server: every answer is its own.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_tokens.h"
#include "server.h"
#include "fuzz.h"

struct app *the_app;

#define MAX_FUZZ_ARGS 32	/* http.c's MAX_ARGS */
#define MAX_FUZZ_ARG_VALUE 1000	/* http.c's MAX_ARG_VALUE */

static struct app app;
static struct auth_token admin, agent;

static void
die(const char *what, const struct op_err *e)
{
	fprintf(stderr, "fuzz_server: %s: %s\n", what, e ? e->message : "failed");
	abort();
}

/* A body through a route's function, during set-up: it must succeed. */
static void
seed(const char *method, const char *target, const char *body)
{
	int status = fuzz_request(method, target, strlen(target), body, strlen(body), 0);

	if (status < 200 || status > 299) {
		fprintf(stderr, "fuzz_server: %s %s: %d\n", method, target, status);
		abort();
	}
}

struct app *
fuzz_server(void)
{
	struct op_err e = { 0 };
	char tok[TOKEN_BUF], cred[TOKEN_BUF], body[512], start[40], end[40];
	struct sched_pass_result res;
	json_t *rec = NULL, *in, *out = NULL;

	if (the_app != NULL)
		return the_app;
	log_setup(LOG_FORMAT_TEXT, (enum log_level)(LOG_ERROR + 1));	/* quiet */
	server_config_defaults(&app.cfg);
	app.started_at = now_ms();
	app.is_ready = 1;
	snprintf(app.boot_id, sizeof(app.boot_id), "fuzz");
	snprintf(app.url, sizeof(app.url), "http://127.0.0.1:1");
	app.store = store_open(":memory:", &e);
	if (app.store == NULL || store_migrate(app.store, store_latest_version(), &e) != 0)
		die("the store", &e);
	if (auth_load(app.store) != 0 || sessions_load(app.store) != 0)
		die("the tokens", NULL);
	the_app = &app;

	if (auth_create(app.store, "admin", ROLE_ADMIN, 0, "fuzz", tok, sizeof(tok), &rec, &e) != 0 ||
	    auth_check(tok, &admin) != 0)
		die("the admin token", &e);
	json_decref(rec);
	if (auth_create_join(app.store, "join", 0, NULL, "fuzz", tok, sizeof(tok), &rec, &e) != 0)
		die("the join token", &e);
	json_decref(rec);
	{
		struct auth_token join;

		if (auth_check(tok, &join) != 0)
			die("the join token", NULL);
		in = json_pack("{s:s, s:{s:i, s:i, s:i}, s:{s:s}}", "name", FUZZ_WORKER, "capacity",
		    "cpu", 64, "memory_mb", 65536, "slots", 64, "labels", "arch", "amd64");
		if (worker_register(app.store, in, &join, "token:join", &out, cred, sizeof(cred),
		    &e) < 0 || auth_check(cred, &agent) != 0)
			die("the worker", &e);
		json_decref(in);
		json_decref(out);
	}
	seed("POST", "/api/v1/agent/heartbeat", "{\"name\":\"" FUZZ_WORKER "\"}");
	seed("POST", "/api/v1/definitions", "{\"name\":\"fz\",\"hooks\":{\"run\":[\"/bin/true\"]},"
	    "\"resources\":{\"cpu\":1,\"memory_mb\":64}}");
	time_format_ms(now_ms() - 1000, start, sizeof(start), 0);
	time_format_ms(now_ms() + 3600 * 1000, end, sizeof(end), 0);
	snprintf(body, sizeof(body), "{\"definition\":\"fz\",\"owner\":\"ana\","
	    "\"timeslot_start\":\"%s\",\"timeslot_end\":\"%s\",\"count\":2}", start, end);
	seed("POST", "/api/v1/instances", body);
	if (sched_pass(app.store, now_ms(), app.cfg.sched_policy, app.cfg.lead_time_ms, &res) != 0)
		die("the scheduler's pass", NULL);
	store_idle(app.store);
	return the_app;
}

const struct auth_token *
fuzz_token(int is_agent)
{
	fuzz_server();
	return is_agent ? &agent : &admin;
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes in[0..n) into out (size outlen), '+' as a space when
 * is_query; NUL ends it, as it ends a C string in libwebsockets' copy.
 * Returns the length, or -1 when it does not fit.
 */
static long
decode(const char *in, size_t n, int is_query, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];

		if (c == '%' && i + 2 < n && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
			c = hex(in[i + 1]) * 16 + hex(in[i + 2]);
			i += 2;
		} else if (c == '+' && is_query) {
			c = ' ';
		}
		if (c == '\0')
			break;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

int
fuzz_request(const char *method, const char *target, size_t len, const char *body,
    size_t body_len, int is_reads_only)
{
	static const char *const no_query[] = { NULL };
	char path[HTTP_PATH_BUF], argbuf[HTTP_QUERY_BUF], pbuf[HTTP_PATH_BUF], allow[64];
	const char *args[MAX_FUZZ_ARGS];
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len, used = 0;
	struct req rq = { 0 };
	struct resp rs = { 0 };
	struct op_err e = { 0 };
	const struct route *r;
	int nargs = 0, status;

	fuzz_server();
	if (decode(target, plen, 0, path, sizeof(path)) < 0)
		return 0;	/* 414 */
	for (const char *a = q ? q + 1 : NULL; a != NULL && a < target + len;) {
		const char *amp = memchr(a, '&', (size_t)(target + len - a));
		size_t n = amp ? (size_t)(amp - a) : (size_t)(target + len - a);
		long dn;
		char *eq;

		if (n > 0) {
			if (nargs == MAX_FUZZ_ARGS ||
			    (dn = decode(a, n, 1, argbuf + used, sizeof(argbuf) - used)) < 0)
				return 0;	/* 414 */
			eq = strchr(argbuf + used, '=');
			if (eq != NULL && strlen(eq + 1) > MAX_FUZZ_ARG_VALUE)
				return 0;	/* 414 */
			for (const unsigned char *c = (unsigned char *)argbuf + used; *c; c++)
				if (*c < 0x20 || *c == 0x7f)
					return 0;	/* 400 */
			if (dn > 0)
				args[nargs++] = argbuf + used;
			used += (size_t)dn + 1;
		}
		a = amp ? amp + 1 : NULL;
	}

	rq.method = method;
	rq.path = path;
	rq.args = args;
	rq.nargs = nargs;
	rq.request_id = "fuzz";
	rq.app = the_app;
	r = route_find(&rq, pbuf, sizeof(pbuf), allow, sizeof(allow));
	if (r == NULL)
		return 0;
	if (is_reads_only && strcmp(r->method, "GET") != 0)
		return 0;
	rq.route = r->pattern;
	/* The caller http_authorize() lets through: the agent's token, or the admin's. */
	rq.tok = r->role == ROLE_AGENT ? agent : admin;
	rq.actor = rq.tok.name;
	if (req_query_check(&rq, r->query ? r->query : no_query, &e) != 0)
		return e.http;
	if (body != NULL && body_len > MAX_BODY)
		return 413;
	rq.body = body;
	rq.body_len = body != NULL ? body_len : 0;
	sbuf_init(&rs.body);
	r->fn(&rq, &rs);
	store_idle(the_app->store);
	status = rs.status;
	/* FUZZ_VERBOSE=1: what each input got, to check that a seed goes where it should. */
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%s %s: %d %.*s\n", method, path, status,
		    (int)(rs.body.len < 300 ? rs.body.len : 300), rs.body.p ? rs.body.p : "");
	sbuf_free(&rs.body);
	return status;
}
