/*
 * /api/v1/tokens: an admin creates (shown once), lists and revokes tokens.
 * A token made with the agent role is a join token: it registers workers
 * (within its limits: uses, names, template), each of which gets a token of
 * its own in the registration's answer.
 */
#include <string.h>

#include "agent_tokens.h"
#include "server.h"

#define JOIN_USES_MAX 1000000

/* A glob of worker names: their characters and fnmatch's * ? [ ] !, within a name's length. */
static int
names_glob_is_valid(const char *g)
{
	return g[0] != '\0' && strlen(g) <= NAME_MAX_LEN &&
	    strspn(g, "abcdefghijklmnopqrstuvwxyz0123456789._-*?[]!") == strlen(g);
}

/* The join limits of an agent's token; -1 and err naming the field. */
static int
join_limits(json_t *in, enum role role, struct join_limits *lim, struct op_err *err)
{
	static const char *const keys[] = { "uses", "names", "template", NULL };

	memset(lim, 0, sizeof(*lim));
	if (role != ROLE_AGENT) {
		for (int i = 0; keys[i] != NULL; i++) {
			if (json_object_get(in, keys[i]) != NULL) {
				op_err_set(err, 400, "invalid_argument", keys[i], "%s limits a "
				    "join token: it goes with role agent", keys[i]);
				return -1;
			}
		}
		return 0;
	}
	if (jsonv_int(in, "", "uses", 0, 1, JOIN_USES_MAX, &lim->uses, err) != 0 ||
	    jsonv_string(in, "", "names", 0, 1, NAME_MAX_LEN, &lim->names, err) != 0 ||
	    jsonv_string(in, "", "template", 0, 1, NAME_MAX_LEN, &lim->tmpl, err) != 0)
		return -1;
	if (lim->names != NULL && !names_glob_is_valid(lim->names)) {
		op_err_set(err, 400, "invalid_argument", "names", "names is a pattern of worker "
		    "names (a-z, 0-9, '.', '_', '-' and the wildcards * ? [...]), at most %d "
		    "characters", NAME_MAX_LEN);
		return -1;
	}
	if (lim->tmpl != NULL && !name_is_valid(lim->tmpl, NAME_MAX_LEN)) {
		op_err_set(err, 400, "invalid_argument", "template", "template must be a template's "
		    "name: 1 to %d of a-z, 0-9, '.', '_', '-'", NAME_MAX_LEN);
		return -1;
	}
	return 0;
}

static int
token_create(struct req *rq, struct resp *rs)
{
	static const char *const fields[] = { "name", "role", "expires_in", "uses", "names",
		"template", NULL };
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *rec = NULL;
	const char *name, *role_s;
	enum role role;
	int64_t expires_in = 0;
	struct join_limits lim;
	char token[TOKEN_BUF];
	int rc;

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
	if (join_limits(in, role, &lim, &err) != 0)
		goto fail;
	if (role == ROLE_AGENT)
		rc = auth_create_join(rq->app->store, name, expires_in ? now_ms() + expires_in : 0,
		    &lim, rq->actor, token, sizeof(token), &rec, &err);
	else
		rc = auth_create(rq->app->store, name, role, expires_in ? now_ms() + expires_in : 0,
		    rq->actor, token, sizeof(token), &rec, &err);
	if (rc != 0)
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
