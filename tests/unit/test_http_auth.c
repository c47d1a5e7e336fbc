/*
 * Who may make which request, without a socket: http_authorize() over every
 * row of every route table (the server's own tables, so a new route is
 * covered without editing this file) × every kind of credential (none; bad,
 * revoked and expired bearer tokens; a live bearer token of each role;
 * session cookies, live, ended or expired, of each role that may sign in)
 * × with and without X-Outpost-CSRF × same-origin and cross-origin; agents'
 * tokens of each kind (a join token, one with no use left, a worker's own).
 * Each
 * outcome is checked against an oracle written here from the rules as
 * docs/api.md states them, not from the server's code. Tokens and sessions
 * are real: made in a real store in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_tokens.h"
#include "server.h"
#include "unit_store.h"

struct app *the_app;

static char dir[64];
static struct store *s;

/* ---- the credentials ---- */

enum cred_kind {
	CRED_NONE,		/* nothing: no Authorization, no cookie */
	CRED_BEARER_BAD,	/* a bearer token that is no live token's */
	CRED_BEARER_LIVE,
	CRED_COOKIE_DEAD,	/* a session cookie that is no live session's */
	CRED_COOKIE_LIVE,
};

struct credential {
	char label[48];
	enum cred_kind kind;
	char bearer[80];	/* "" and no is_bearer: none */
	int is_bearer;
	char sid[64];		/* "": no cookie */
	enum role role;		/* a live one's */
	int64_t token_id;	/* a live one's */
	int is_join;		/* role agent: a join token (else a worker's own) */
	int is_spent;		/* a join token with no registration left */
};

#define MAX_CREDS 48
static struct credential creds[MAX_CREDS];
static size_t ncreds;

static struct credential *
credential_add(const char *label, enum cred_kind kind)
{
	struct credential *c;

	assert_true(ncreds < MAX_CREDS);
	c = &creds[ncreds++];
	memset(c, 0, sizeof(*c));
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->kind = kind;
	return c;
}

static const char *const role_names[] = {
	[ROLE_AGENT] = "agent", [ROLE_VIEWER] = "viewer", [ROLE_OPERATOR] = "operator",
	[ROLE_ADMIN] = "admin",
};

/* A real token of role; its text into bearer, its id into *id. */
static void
token_make(const char *name, enum role role, int64_t expires_at, char *bearer, size_t n,
    int64_t *id)
{
	struct op_err err = { 0 };
	json_t *rec = NULL;

	assert_int_equal(auth_create(s, name, role, expires_at, "test", bearer, n, &rec, &err), 0);
	*id = json_integer_value(json_object_get(rec, "id"));
	assert_true(*id > 0);
	json_decref(rec);
}

static void
session_make(int64_t token_id, int64_t ttl_ms, char *sid, size_t n)
{
	struct op_err err = { 0 };
	struct auth_token tok;
	int64_t exp;

	assert_int_equal(auth_get(token_id, &tok), 0);
	assert_int_equal(session_create(s, &tok, ttl_ms, sid, n, &exp, &err), 0);
	/* An expired one: wait out its millisecond. */
	while (ttl_ms < 1000 && now_ms() <= exp)
		usleep(1000);
}

/* Worker name's own token (the worker made first), as a registration makes it. */
static int64_t
worker_token_make(const char *name, char *bearer, size_t n)
{
	struct op_err err = { 0 };
	char text[160], cred[TOKEN_BUF];
	json_t *in, *out = NULL;
	int64_t wid, id;

	snprintf(text, sizeof(text), "{\"name\":\"%s\",\"capacity\":{\"cpu\":1,"
	    "\"memory_mb\":64,\"slots\":1}}", name);
	in = json_loads(text, 0, NULL);
	assert_true(worker_register(s, in, NULL, "test", &out, cred, sizeof(cred), &err) >= 0);
	assert_string_equal(cred, "");
	wid = json_integer_value(json_object_get(out, "id"));
	json_decref(in);
	json_decref(out);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(auth_insert_worker(s, wid, name, "test", bearer, n, &id, &err), 0);
	assert_int_equal(store_commit(s), 0);
	auth_commit_worker(id, wid, name, bearer);
	return id;
}

/* A join token with no registration left, and a worker's own token. */
static void
agent_creds_make(void)
{
	struct join_limits lim = { .uses = 1 };
	struct op_err err = { 0 };
	struct credential *c;
	char bearer[80];
	json_t *rec = NULL;
	int64_t id;

	assert_int_equal(auth_create_join(s, "spent", 0, &lim, "test", bearer, sizeof(bearer),
	    &rec, &err), 0);
	id = json_integer_value(json_object_get(rec, "id"));
	json_decref(rec);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(auth_spend_join(s, id), 0);
	assert_int_equal(store_commit(s), 0);
	auth_spent_join(id);
	c = credential_add("a join token with no use left", CRED_BEARER_LIVE);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "%s", bearer);
	c->role = ROLE_AGENT;
	c->token_id = id;
	c->is_join = c->is_spent = 1;

	id = worker_token_make("w1", bearer, sizeof(bearer));
	c = credential_add("worker w1's own token", CRED_BEARER_LIVE);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "%s", bearer);
	c->role = ROLE_AGENT;
	c->token_id = id;
}

static void
creds_make(void)
{
	static const enum role roles[] = { ROLE_AGENT, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };
	struct auth_token got;
	struct op_err err = { 0 };
	char bearer[80], viewer_bearer[80] = "", label[48];
	int64_t id, viewer_id = 0;
	json_t *rec = NULL;
	struct credential *c;

	ncreds = 0;
	credential_add("nothing", CRED_NONE);
	c = credential_add("an empty bearer token", CRED_BEARER_BAD);
	c->is_bearer = 1;
	c = credential_add("a malformed bearer token", CRED_BEARER_BAD);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "not a token");
	c = credential_add("an unknown bearer token", CRED_BEARER_BAD);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "opt_%043d", 7);

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		enum role r = roles[i];

		token_make(role_names[r], r, 0, bearer, sizeof(bearer), &id);
		assert_int_equal(auth_check(bearer, &got), 0);
		snprintf(label, sizeof(label), "a live %s token", role_names[r]);
		c = credential_add(label, CRED_BEARER_LIVE);
		c->is_bearer = 1;
		snprintf(c->bearer, sizeof(c->bearer), "%s", bearer);
		c->role = r;
		c->token_id = id;
		c->is_join = r == ROLE_AGENT;	/* made with the agent role: a join token */
		if (r == ROLE_AGENT) {
			agent_creds_make();
			continue;	/* an agent's token cannot sign in */
		}
		if (r == ROLE_VIEWER) {
			viewer_id = id;
			snprintf(viewer_bearer, sizeof(viewer_bearer), "%s", bearer);
		}
		snprintf(label, sizeof(label), "a live %s session", role_names[r]);
		c = credential_add(label, CRED_COOKIE_LIVE);
		session_make(id, 3600000, c->sid, sizeof(c->sid));
		c->role = r;
		c->token_id = id;

		snprintf(label, sizeof(label), "an ended %s session", role_names[r]);
		c = credential_add(label, CRED_COOKIE_DEAD);
		session_make(id, 3600000, c->sid, sizeof(c->sid));
		assert_int_equal(session_check(c->sid, &got), 0);
		assert_int_equal(session_end(s, got.session_id, "test", &err), 0);

		snprintf(label, sizeof(label), "an expired %s session", role_names[r]);
		c = credential_add(label, CRED_COOKIE_DEAD);
		session_make(id, 1, c->sid, sizeof(c->sid));
	}

	/* Revoked and expired (after the live admin: the last admin cannot be revoked). */
	token_make("revoked", ROLE_ADMIN, 0, bearer, sizeof(bearer), &id);
	assert_int_equal(auth_revoke(s, id, "test", &rec, &err), 0);
	json_decref(rec);
	c = credential_add("a revoked admin token", CRED_BEARER_BAD);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "%s", bearer);

	token_make("expired", ROLE_ADMIN, now_ms() - 1, bearer, sizeof(bearer), &id);
	c = credential_add("an expired admin token", CRED_BEARER_BAD);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "%s", bearer);

	/* A session dies with its token. */
	token_make("gone", ROLE_ADMIN, 0, bearer, sizeof(bearer), &id);
	c = credential_add("the session of a revoked token", CRED_COOKIE_DEAD);
	session_make(id, 3600000, c->sid, sizeof(c->sid));
	assert_int_equal(auth_revoke(s, id, "test", &rec, &err), 0);
	json_decref(rec);

	c = credential_add("an unknown session", CRED_COOKIE_DEAD);
	snprintf(c->sid, sizeof(c->sid), "%043d", 7);
	c = credential_add("a malformed session", CRED_COOKIE_DEAD);
	snprintf(c->sid, sizeof(c->sid), "short");

	/* Both: the bearer token is who calls; the cookie is not looked at. */
	c = credential_add("a viewer token with a dead cookie", CRED_BEARER_LIVE);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "%s", viewer_bearer);
	snprintf(c->sid, sizeof(c->sid), "%043d", 7);
	c->role = ROLE_VIEWER;
	c->token_id = viewer_id;
	c = credential_add("a dead token with a live admin cookie", CRED_BEARER_BAD);
	c->is_bearer = 1;
	snprintf(c->bearer, sizeof(c->bearer), "opt_%043d", 8);
	for (size_t i = 0; i < ncreds; i++)
		if (creds[i].kind == CRED_COOKIE_LIVE && creds[i].role == ROLE_ADMIN)
			snprintf(c->sid, sizeof(c->sid), "%s", creds[i].sid);
}

/* ---- the oracle ---- */

/* Which role reaches which route's role, written out: agents reach only theirs. */
static const int reaches[ROLE_COUNT][ROLE_COUNT] = {
	/*                 agent viewer operator admin (the route's) */
	[ROLE_AGENT] =    { [ROLE_AGENT] = 1 },
	[ROLE_VIEWER] =   { [ROLE_VIEWER] = 1 },
	[ROLE_OPERATOR] = { [ROLE_VIEWER] = 1, [ROLE_OPERATOR] = 1 },
	[ROLE_ADMIN] =    { [ROLE_VIEWER] = 1, [ROLE_OPERATOR] = 1, [ROLE_ADMIN] = 1 },
};

struct outcome {
	int status;		/* 0: allowed */
	char field[64];
	char message[256];
	int64_t token_id;	/* allowed: the caller's token (0: none looked at) */
	int is_session;		/* allowed: through the cookie */
};

static int
is_sign_in(const struct route *r)
{
	return strcmp(r->method, "POST") == 0 && strcmp(r->pattern, "/api/v1/session") == 0;
}

/* The one route a join token reaches. */
static int
is_join(const struct route *r)
{
	return strcmp(r->method, "POST") == 0 &&
	    strcmp(r->pattern, "/api/v1/agent/register") == 0;
}

static void
refuse(struct outcome *o, int status, const char *field, const char *message)
{
	o->status = status;
	snprintf(o->field, sizeof(o->field), "%s", field);
	snprintf(o->message, sizeof(o->message), "%s", message);
}

static void
oracle(const struct route *r, const char *method, const struct credential *c, int has_csrf,
    int is_cross, struct outcome *o)
{
	int is_change = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;

	memset(o, 0, sizeof(*o));
	/* Signing in: no token, but a browser's change all the same. */
	if (is_sign_in(r)) {
		if (is_cross)
			refuse(o, 403, "Origin", "a request from another origin cannot sign in");
		else if (!has_csrf)
			refuse(o, 403, "X-Outpost-CSRF", "signing in needs an X-Outpost-CSRF: 1 header");
		return;
	}
	if (r->role == ROLE_NONE)
		return;
	switch (c->kind) {
	case CRED_NONE:
		refuse(o, 401, "", "an Authorization: Bearer token is required");
		return;
	case CRED_BEARER_BAD:
		refuse(o, 401, "", "the token is not valid (unknown, revoked or expired)");
		return;
	case CRED_COOKIE_DEAD:
		refuse(o, 401, "", "the session has ended or expired: sign in again");
		return;
	case CRED_COOKIE_LIVE:
		if (is_change && is_cross) {
			refuse(o, 403, "Origin", "a request from another origin cannot use the session "
			    "cookie");
			return;
		}
		if (is_change && !has_csrf) {
			refuse(o, 403, "X-Outpost-CSRF", "a change made with the session cookie needs "
			    "an X-Outpost-CSRF: 1 header");
			return;
		}
		break;
	case CRED_BEARER_LIVE:
		break;
	}
	if (!reaches[c->role][r->role]) {
		char m[160];

		snprintf(m, sizeof(m), "this needs the %s role; the token has %s",
		    role_names[r->role], role_names[c->role]);
		refuse(o, 403, "", m);
		return;
	}
	/* A join token registers workers, while it has uses left, and does nothing else. */
	if (c->role == ROLE_AGENT && c->is_join && !is_join(r)) {
		refuse(o, 403, "", c->is_spent ? "token spent is a join token: it only registers a "
		    "worker (POST /api/v1/agent/register), whose answer holds the worker's own token" :
		    "token agent is a join token: it only registers a worker (POST "
		    "/api/v1/agent/register), whose answer holds the worker's own token");
		return;
	}
	if (c->role == ROLE_AGENT && c->is_spent) {
		refuse(o, 403, "", "join token spent has no registration left");
		return;
	}
	o->token_id = c->token_id;
	o->is_session = c->kind == CRED_COOKIE_LIVE;
}

/* ---- the test ---- */

static int
setup(void **state)
{
	(void)state;
	s = unit_store_open(dir, sizeof(dir));
	if (s == NULL || auth_load(s) != 0 || sessions_load(s) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_store_remove(s, dir);
	s = NULL;
	events_shutdown();
	sessions_free();
	auth_free();
	return 0;
}

/* One request: 0 when http_authorize() did what the oracle says, else 1 (and says so). */
static int
check_one(const struct route *r, const char *method, const struct credential *c, int has_csrf,
    int is_cross, const struct server_config *cfg)
{
	struct http_creds hc = {
		.method = method,
		.bearer = c->is_bearer ? c->bearer : NULL,
		.sid = c->sid[0] ? c->sid : NULL,
		.has_csrf = has_csrf,
		.is_cross_origin = is_cross,
	};
	struct outcome want;
	struct auth_token tok;
	struct op_err err = { 0 };
	int wait = -1, rc, is_right;

	oracle(r, method, c, has_csrf, is_cross, &want);
	rc = http_authorize(r, &hc, cfg, &tok, &wait, &err);
	if (want.status == 0)
		is_right = rc == 0 && tok.id == want.token_id && wait == 0 &&
		    (want.token_id == 0 || (tok.role == c->role &&
		    (tok.session_id != 0) == want.is_session));
	else
		is_right = rc == -1 && err.http == want.status && tok.id == 0 && wait == 0 &&
		    strcmp(err.code, want.status == 401 ? "unauthenticated" : "forbidden") == 0 &&
		    strcmp(err.field, want.field) == 0 && strcmp(err.message, want.message) == 0;
	if (is_right)
		return 0;
	print_error("%s %s with %s, %s X-Outpost-CSRF, %s-origin: got %d %d \"%s\" \"%s\" "
	    "token %lld; want %d \"%s\" \"%s\" token %lld\n", method, r->pattern, c->label,
	    has_csrf ? "with" : "without", is_cross ? "cross" : "same", rc, err.http,
	    err.field, rc ? err.message : "", (long long)tok.id, want.status, want.field,
	    want.message, (long long)want.token_id);
	return 1;
}

static void
test_every_route_and_credential_is_judged_as_the_rules_say(void **state)
{
	struct server_config cfg;
	size_t nroutes = 0, nchecks = 0, bad = 0, sign_ins = 0;
	int roles_seen[ROLE_COUNT] = { 0 };

	(void)state;
	server_config_defaults(&cfg);
	cfg.rate_limit = 0;	/* the bucket has a test of its own */
	creds_make();
	for (int t = 0; http_route_tables[t] != NULL; t++) {
		for (const struct route *r = http_route_tables[t]; r->method != NULL; r++) {
			/* The flag says sign-in on that row and no other. */
			if (((r->flags & ROUTE_SIGN_IN) != 0) != is_sign_in(r))
				fail_msg("%s %s: ROUTE_SIGN_IN is %s", r->method, r->pattern,
				    is_sign_in(r) ? "missing" : "set");
			if (((r->flags & ROUTE_JOIN) != 0) != is_join(r))
				fail_msg("%s %s: ROUTE_JOIN is %s", r->method, r->pattern,
				    is_join(r) ? "missing" : "set");
			sign_ins += is_sign_in(r);
			roles_seen[r->role]++;
			nroutes++;
			for (int m = 0; m < 2; m++) {
				/* A HEAD is answered by the GET row: its method is what is judged. */
				const char *method = m == 0 ? r->method : "HEAD";

				if (m == 1 && strcmp(r->method, "GET") != 0)
					continue;
				for (size_t i = 0; i < ncreds; i++) {
					for (int k = 0; k < 4; k++) {
						bad += (size_t)check_one(r, method, &creds[i], k & 1, k >> 1,
						    &cfg);
						nchecks++;
					}
				}
			}
		}
	}
	/* The matrix is not empty: every role has routes, and sign-in is among them. */
	assert_int_equal(sign_ins, 1);
	for (int k = ROLE_NONE; k < ROLE_COUNT; k++)
		if (roles_seen[k] == 0)
			fail_msg("no route needs role %d", k);
	assert_true(nroutes > 40 && ncreds > 20);
	if (bad > 0)
		fail_msg("%zu of %zu requests were judged wrong", bad, nchecks);
}

static const struct route *
route_of(const char *method, const char *pattern)
{
	for (int t = 0; http_route_tables[t] != NULL; t++)
		for (const struct route *r = http_route_tables[t]; r->method != NULL; r++)
			if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
				return r;
	fail_msg("no route %s %s", method, pattern);
	return NULL;
}

static void
test_a_token_over_its_rate_waits_and_refusals_spend_nothing(void **state)
{
	const struct route *list = route_of("GET", "/api/v1/instances");
	const struct route *tokens = route_of("GET", "/api/v1/tokens");
	const struct route *health = route_of("GET", "/healthz");
	struct server_config cfg;
	struct http_creds hc = { .method = "GET" };
	struct auth_token tok;
	struct op_err err = { 0 };
	char bearer[80], want[128];
	int64_t id;
	int wait;

	(void)state;
	server_config_defaults(&cfg);
	cfg.rate_limit = 1;
	cfg.rate_burst = 2;
	token_make("kim", ROLE_VIEWER, 0, bearer, sizeof(bearer), &id);
	hc.bearer = bearer;
	/* Refused for its role: the bucket is not touched. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_authorize(tokens, &hc, &cfg, &tok, &wait, &err), -1);
		assert_int_equal(err.http, 403);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(http_authorize(list, &hc, &cfg, &tok, &wait, &err), 0);
		assert_int_equal(tok.id, id);
	}
	assert_int_equal(http_authorize(list, &hc, &cfg, &tok, &wait, &err), -1);
	assert_int_equal(err.http, 429);
	assert_string_equal(err.code, "rate_limited");
	assert_string_equal(err.field, "");
	/* The bucket is empty: a whole request's refill, rounded up (2 s when no time passed). */
	assert_true(wait == 1 || wait == 2);
	snprintf(want, sizeof(want), "token kim is over its limit of 1 requests a second; "
	    "retry in %d s", wait);
	assert_string_equal(err.message, want);
	assert_int_equal(tok.id, 0);
	/* What needs no token counts against none. */
	assert_int_equal(http_authorize(health, &hc, &cfg, &tok, &wait, &err), 0);
	assert_int_equal(wait, 0);
}

static void
test_the_bearer_token_of_an_authorization_header(void **state)
{
	(void)state;
	assert_string_equal(http_bearer("Bearer opt_abc"), "opt_abc");
	assert_string_equal(http_bearer("bearer   opt_abc"), "opt_abc");
	assert_string_equal(http_bearer("Bearer "), "");
	assert_null(http_bearer("Basic dXNlcjpwYXNz"));
	assert_null(http_bearer("Bearer"));
	assert_null(http_bearer(""));
	assert_null(http_bearer(NULL));
}

/* Which worker an agent's token acts for, and what a join token may register. */
static void
test_a_token_acts_for_its_own_worker_and_a_join_token_within_its_limits(void **state)
{
	struct join_limits lim = { .uses = 2, .names = "gpu-[0-9]*", .tmpl = "gpu" };
	struct op_err err = { 0 };
	struct auth_token own, join, open_join;
	char bearer[80];
	json_t *rec = NULL;

	(void)state;
	worker_token_make("w1", bearer, sizeof(bearer));
	assert_int_equal(auth_check(bearer, &own), 0);
	assert_int_equal(own.role, ROLE_AGENT);
	assert_string_equal(own.worker, "w1");
	assert_true(own.worker_id > 0);
	assert_int_equal(http_agent_acts_for(&own, "w1", "name", &err), 0);
	assert_int_equal(http_agent_acts_for(&own, "w2", "name", &err), -1);
	assert_int_equal(err.http, 403);
	assert_string_equal(err.code, "forbidden");
	assert_string_equal(err.field, "name");
	assert_string_equal(err.message, "token worker:w1 acts for worker w1 only, not w2");
	/* A name that w1's starts with, or that starts with w1's, is another worker's. */
	assert_int_equal(http_agent_acts_for(&own, "w10", "name", &err), -1);
	assert_int_equal(http_agent_acts_for(&own, "w", "subscribe.worker", &err), -1);
	assert_string_equal(err.field, "subscribe.worker");

	assert_int_equal(auth_create_join(s, "gpus", 0, &lim, "test", bearer, sizeof(bearer),
	    &rec, &err), 0);
	json_decref(rec);
	assert_int_equal(auth_check(bearer, &join), 0);
	assert_int_equal(join.worker_id, 0);
	assert_int_equal(join.uses_left, 2);
	assert_int_equal(http_agent_acts_for(&join, "gpu-1", "name", &err), -1);
	assert_int_equal(err.http, 403);
	assert_string_equal(err.message, "token gpus is a join token: it acts for no worker");
	assert_int_equal(http_join_allows(&join, "gpu-1", "gpu", &err), 0);
	assert_int_equal(http_join_allows(&join, "gpu-12", "gpu", &err), 0);
	assert_int_equal(http_join_allows(&join, "rogue", "gpu", &err), -1);
	assert_int_equal(err.http, 403);
	assert_string_equal(err.field, "name");
	assert_string_equal(err.message, "join token gpus registers workers named gpu-[0-9]* "
	    "only, not rogue");
	assert_int_equal(http_join_allows(&join, "gpu-x", "gpu", &err), -1);
	assert_int_equal(http_join_allows(&join, "gpu-1", "cpu", &err), -1);
	assert_string_equal(err.field, "template");
	assert_int_equal(http_join_allows(&join, "gpu-1", NULL, &err), -1);
	assert_string_equal(err.message, "join token gpus registers workers of template gpu "
	    "only; gpu-1 is of no template");
	join.uses_left = 0;
	assert_int_equal(http_join_allows(&join, "gpu-1", "gpu", &err), -1);
	assert_string_equal(err.message, "join token gpus has no registration left");

	assert_int_equal(auth_create_join(s, "any", 0, NULL, "test", bearer, sizeof(bearer),
	    &rec, &err), 0);
	json_decref(rec);
	assert_int_equal(auth_check(bearer, &open_join), 0);
	assert_int_equal(open_join.uses_left, -1);
	assert_int_equal(http_join_allows(&open_join, "anything", NULL, &err), 0);
	assert_int_equal(http_join_allows(&open_join, "w9", "small", &err), 0);
}

/* A join token's uses are spent in the registration's transaction, and end at 0. */
static void
test_a_join_token_is_spent_once_a_use(void **state)
{
	struct join_limits lim = { .uses = 2 };
	struct op_err err = { 0 };
	struct auth_token t;
	char bearer[80];
	json_t *rec = NULL;
	int64_t id;

	(void)state;
	assert_int_equal(auth_create_join(s, "two", 0, &lim, "test", bearer, sizeof(bearer),
	    &rec, &err), 0);
	id = json_integer_value(json_object_get(rec, "id"));
	assert_int_equal(json_integer_value(json_object_get(rec, "uses_left")), 2);
	assert_true(json_is_null(json_object_get(rec, "worker")));
	json_decref(rec);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_begin(s), 0);
		assert_int_equal(auth_spend_join(s, id), 0);
		assert_int_equal(store_commit(s), 0);
		auth_spent_join(id);
	}
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(auth_spend_join(s, id), -1);
	store_rollback(s);
	assert_int_equal(auth_check(bearer, &t), 0);
	assert_int_equal(t.uses_left, 0);
	/* What a restart loads says the same. */
	assert_int_equal(auth_load(s), 0);
	assert_int_equal(auth_check(bearer, &t), 0);
	assert_int_equal(t.uses_left, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_every_route_and_credential_is_judged_as_the_rules_say, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_token_over_its_rate_waits_and_refusals_spend_nothing, setup, teardown),
		cmocka_unit_test(test_the_bearer_token_of_an_authorization_header),
		cmocka_unit_test_setup_teardown(
		    test_a_token_acts_for_its_own_worker_and_a_join_token_within_its_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_join_token_is_spent_once_a_use, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
