/*
 * Who may make a request: the one decision between finding a route and
 * calling it. http_authorize() takes what the request carries (its method,
 * the route found, the bearer token, the session cookie's id, whether
 * X-Outpost-CSRF came, whether Origin is foreign) and answers with the
 * caller's token or the refusal that http.c writes. It never sees a socket
 * or a header, so tests/unit/test_http_auth.c checks it over every route
 * and every kind of credential.
 *
 * The rules, in the order they are applied:
 * 1. a ROUTE_SIGN_IN row (POST /api/v1/session) takes no token, but a
 *    browser makes it: it needs X-Outpost-CSRF and no foreign Origin;
 * 2. a ROLE_NONE row needs nothing more;
 * 3. a bearer token must be live; with none, the session cookie stands for
 *    its token, and a change made with it (not GET or HEAD) needs
 *    X-Outpost-CSRF and no foreign Origin, since a browser sends the cookie
 *    whoever made the page; with neither: 401;
 * 4. the token's role must reach the row's (state.c's role_allows: the agent
 *    role reaches the agent's routes and nothing else); an agent's join
 *    token reaches only the ROUTE_JOIN row (registering), and only while it
 *    has a registration left;
 * 5. the token's rate bucket (auth.c) must hold a request.
 *
 * Which worker an agent acts for is in its body or query, which this file
 * does not read: http_agent_acts_for() and http_join_allows() are the rules
 * the agent's routes (and the event stream) apply to the name they find. A
 * worker's own token acts for its worker alone; a join token registers
 * workers within its limits and does nothing else.
 *
 * It must never write anything: a refusal is a value, answered by http.c.
 */
#include <assert.h>
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

#include "server.h"

const char *
http_bearer(const char *authorization)
{
	const char *token;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	token = authorization + 7;
	while (*token == ' ')
		token++;
	return token;
}

static int
is_safe_method(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/*
 * A change a browser makes (signing in, or anything with the cookie): a
 * browser sends the cookie whoever made the page, so the change needs a
 * header no form and no other origin's script can add without this
 * server's consent (which it never gives), and no foreign Origin. The
 * messages say which change it was.
 */
static int
browser_change_check(const struct http_creds *c, const char *cross_msg, const char *csrf_msg,
    struct op_err *err)
{
	if (c->is_cross_origin) {
		op_err_set(err, 403, "forbidden", "Origin", "%s", cross_msg);
		return -1;
	}
	if (!c->has_csrf) {
		op_err_set(err, 403, "forbidden", "X-Outpost-CSRF", "%s", csrf_msg);
		return -1;
	}
	return 0;
}

/* Rule 3: the caller's token, from the bearer token or else the session cookie. */
static int
credential_check(const struct http_creds *c, struct auth_token *tok, struct op_err *err)
{
	if (c->bearer == NULL && c->sid != NULL) {
		if (session_check(c->sid, tok) != 0) {
			op_err_set(err, 401, "unauthenticated", "", "the session has ended or expired: "
			    "sign in again");
			return -1;
		}
		if (is_safe_method(c->method))
			return 0;
		return browser_change_check(c, "a request from another origin cannot use the "
		    "session cookie", "a change made with the session cookie needs an "
		    "X-Outpost-CSRF: 1 header", err);
	}
	if (c->bearer == NULL) {
		op_err_set(err, 401, "unauthenticated", "", "an Authorization: Bearer token is "
		    "required");
		return -1;
	}
	if (auth_check(c->bearer, tok) != 0) {
		op_err_set(err, 401, "unauthenticated", "", "the token is not valid (unknown, revoked "
		    "or expired)");
		return -1;
	}
	return 0;
}

/* Rule 5: 0, or -1 with a 429 and the seconds to wait. */
static int
rate_check(const struct auth_token *tok, const struct server_config *cfg, int *retry_after,
    struct op_err *err)
{
	int wait;

	if (cfg->rate_limit <= 0)
		return 0;
	wait = auth_rate_check(tok->id, (double)cfg->rate_limit, (double)cfg->rate_burst);
	if (wait <= 0)
		return 0;
	op_err_set(err, 429, "rate_limited", "", "token %s is over its limit of %lld requests a "
	    "second; retry in %d s", tok->name, (long long)cfg->rate_limit, wait);
	*retry_after = wait;
	return -1;
}

int
http_authorize(const struct route *r, const struct http_creds *c,
    const struct server_config *cfg, struct auth_token *tok, int *retry_after,
    struct op_err *err)
{
	assert(r != NULL && r->fn != NULL && c != NULL && c->method != NULL);
	memset(tok, 0, sizeof(*tok));
	*retry_after = 0;
	/* Rule 1: signing in changes state too; it takes what the cookie's changes take. */
	if ((r->flags & ROUTE_SIGN_IN) && browser_change_check(c, "a request from another origin "
	    "cannot sign in", "signing in needs an X-Outpost-CSRF: 1 header", err) != 0)
		return -1;
	if (r->role == ROLE_NONE)
		return 0;
	if (credential_check(c, tok, err) != 0)
		goto refused;
	if (!role_allows(tok->role, r->role)) {
		op_err_set(err, 403, "forbidden", "", "this needs the %s role; the token has %s",
		    role_name(r->role), role_name(tok->role));
		goto refused;
	}
	if (tok->role == ROLE_AGENT && tok->worker_id == 0 && !(r->flags & ROUTE_JOIN)) {
		op_err_set(err, 403, "forbidden", "", "token %s is a join token: it only registers a "
		    "worker (POST /api/v1/agent/register), whose answer holds the worker's own token",
		    tok->name);
		goto refused;
	}
	if (tok->role == ROLE_AGENT && tok->worker_id == 0 && tok->uses_left == 0) {
		op_err_set(err, 403, "forbidden", "", "join token %s has no registration left",
		    tok->name);
		goto refused;
	}
	if (rate_check(tok, cfg, retry_after, err) != 0)
		goto refused;
	assert(tok->id > 0);
	return 0;
refused:
	memset(tok, 0, sizeof(*tok));	/* a refused caller is nobody */
	return -1;
}

int
http_agent_acts_for(const struct auth_token *tok, const char *name, const char *field,
    struct op_err *err)
{
	assert(tok->role == ROLE_AGENT && name != NULL);
	if (tok->worker_id == 0) {
		op_err_set(err, 403, "forbidden", field, "token %s is a join token: it acts for no "
		    "worker", tok->name);
		return -1;
	}
	if (strcmp(tok->worker, name) != 0) {
		op_err_set(err, 403, "forbidden", field, "token %s acts for worker %s only, not %s",
		    tok->name, tok->worker, name);
		return -1;
	}
	return 0;
}

int
http_join_allows(const struct auth_token *tok, const char *name, const char *tmpl,
    struct op_err *err)
{
	assert(tok->role == ROLE_AGENT && tok->worker_id == 0 && name != NULL);
	if (tok->uses_left == 0) {
		op_err_set(err, 403, "forbidden", "", "join token %s has no registration left",
		    tok->name);
		return -1;
	}
	if (tok->names[0] != '\0' && fnmatch(tok->names, name, 0) != 0) {
		op_err_set(err, 403, "forbidden", "name", "join token %s registers workers named %s "
		    "only, not %s", tok->name, tok->names, name);
		return -1;
	}
	if (tok->tmpl[0] != '\0' && (tmpl == NULL || strcmp(tok->tmpl, tmpl) != 0)) {
		op_err_set(err, 403, "forbidden", "template", "join token %s registers workers of "
		    "template %s only; %s is %s", tok->name, tok->tmpl, name,
		    tmpl ? tmpl : "of no template");
		return -1;
	}
	return 0;
}
