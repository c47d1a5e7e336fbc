/*
 * /api/v1/tokens: an admin creates (shown once), lists and revokes tokens.
 */
#include <string.h>

#include "server.h"

static int
token_create(struct req *rq, struct resp *rs)
{
	static const char *const fields[] = { "name", "role", "expires_in", NULL };
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *rec = NULL;
	const char *name, *role_s;
	enum role role;
	int64_t expires_in = 0;
	char token[64];

	if (in == NULL)
		return resp_error(rs, &err);
	if (jsonv_known(in, "", fields, &err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, TOKEN_NAME_MAX, &name, &err) != 0 ||
	    jsonv_string(in, "", "role", 1, 1, 16, &role_s, &err) != 0 ||
	    jsonv_duration(in, "", "expires_in", 0, 60000, 3650LL * 86400000, &expires_in, &err) != 0)
		goto fail;
	if (role_parse(role_s, &role) != 0) {
		char names[64];

		op_err_set(&err, 400, "invalid_argument", "role", "role must be %s",
		    role_names_from(ROLE_AGENT, names, sizeof(names)));
		goto fail;
	}
	if (auth_create(rq->app->store, name, role, expires_in ? now_ms() + expires_in : 0,
	    rq->actor, token, sizeof(token), &rec, &err) != 0)
		goto fail;
	json_decref(in);
	json_object_set_new(rec, "token", json_string(token));
	return resp_json(rs, 201, rec);
fail:
	json_decref(in);
	return resp_error(rs, &err);
}

static int
token_list(struct req *rq, struct resp *rs)
{
	return resp_json(rs, 200, auth_list(rq->app->store));
}

static int
token_revoke(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *rec;

	if (parse_int64(rq->params[0], 1, INT64_MAX, &id) != 0) {
		op_err_set(&err, 400, "invalid_argument", "id", "a token id is a positive integer");
		return resp_error(rs, &err);
	}
	if (auth_revoke(rq->app->store, id, rq->actor, &rec, &err) != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, rec);
}

const struct route api_tokens_routes[] = {
	{ "POST", "/api/v1/tokens", ROLE_ADMIN, token_create, NULL, 0 },
	{ "GET", "/api/v1/tokens", ROLE_ADMIN, token_list, NULL, 0 },
	{ "DELETE", "/api/v1/tokens/{id}", ROLE_ADMIN, token_revoke, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
