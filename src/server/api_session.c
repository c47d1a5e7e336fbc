/*
 * /api/v1/session: the browser's sign-in. POST exchanges a token for a
 * session cookie (sessions.c keeps the session), GET says who the caller
 * is, DELETE signs out. The cookie is HttpOnly (no script reads it),
 * SameSite=Strict (no other site's page sends it), Path=/, and Secure when
 * the request came over TLS or public_url is https. POST's row is
 * ROUTE_SIGN_IN: with no token, it needs X-Outpost-CSRF and no foreign
 * Origin all the same, as a change made with the cookie does (http_auth.c).
 */
#include <string.h>

#include "server.h"

static int
is_secure(const struct req *rq)
{
	return rq->is_tls || strncmp(rq->app->cfg.public_url, "https://", 8) == 0;
}

static void
set_cookie(const struct req *rq, struct resp *rs, const char *value, int64_t max_age_s)
{
	snprintf(rs->set_cookie, sizeof(rs->set_cookie), "%s=%s; Path=/; Max-Age=%lld; HttpOnly; "
	    "SameSite=Strict%s", SESSION_COOKIE, value, (long long)max_age_s,
	    is_secure(rq) ? "; Secure" : "");
}

static json_t *
whoami(const struct auth_token *t, int64_t expires_at)
{
	char at[40];

	return json_pack("{s:s, s:s, s:b, s:s?}", "name", t->name, "role", role_name(t->role),
	    "session", t->session_id != 0, "expires_at",
	    expires_at ? time_format_ms(expires_at, at, sizeof(at), 0) : NULL);
}

static int
sign_in(struct req *rq, struct resp *rs)
{
	static const char *const fields[] = { "token", NULL };
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err);
	struct auth_token tok;
	const char *token;
	char sid[64];
	int64_t expires_at;

	if (in == NULL)
		return resp_error(rs, &err);
	if (jsonv_known(in, "", fields, &err) != 0 ||
	    jsonv_string(in, "", "token", 1, 1, 200, &token, &err) != 0)
		goto fail;
	if (auth_check(token, &tok) != 0) {
		op_err_set(&err, 401, "unauthenticated", "token",
		    "the token is not valid (unknown, revoked or expired)");
		goto fail;
	}
	if (!role_allows(tok.role, ROLE_VIEWER)) {
		char names[64];

		op_err_set(&err, 403, "forbidden", "token", "signing in needs a %s token; this one "
		    "is %s", role_names_from(ROLE_VIEWER, names, sizeof(names)), role_name(tok.role));
		goto fail;
	}
	json_decref(in);
	in = NULL;
	if (session_create(rq->app->store, &tok, rq->app->cfg.session_ttl_ms, sid, sizeof(sid),
	    &expires_at, &err) != 0)
		goto fail;
	set_cookie(rq, rs, sid, (expires_at - now_ms()) / 1000);
	memset(sid, 0, sizeof(sid));
	tok.session_id = 1;	/* for whoami's "session": true */
	return resp_json(rs, 201, whoami(&tok, expires_at));
fail:
	json_decref(in);
	return resp_error(rs, &err);
}

static int
get(struct req *rq, struct resp *rs)
{
	return resp_json(rs, 200, whoami(&rq->tok, rq->tok.expires_at));
}

static int
sign_out(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };

	if (rq->tok.session_id == 0) {
		op_err_set(&err, 400, "invalid_argument", "Authorization",
		    "sign-out ends a browser session; this request came with a bearer token");
		return resp_error(rs, &err);
	}
	if (session_end(rq->app->store, rq->tok.session_id, rq->tok.name, &err) != 0)
		return resp_error(rs, &err);
	set_cookie(rq, rs, "", 0);
	return resp_json(rs, 200, json_pack("{s:b}", "signed_out", 1));
}

const struct route api_session_routes[] = {
	{ "POST", "/api/v1/session", ROLE_NONE, sign_in, NULL, ROUTE_SIGN_IN | ROUTE_SMALL_BODY },
	{ "GET", "/api/v1/session", ROLE_VIEWER, get, NULL, 0 },
	{ "DELETE", "/api/v1/session", ROLE_VIEWER, sign_out, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
