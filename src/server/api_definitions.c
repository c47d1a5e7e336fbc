/*
 * /api/v1/definitions: create versions (admin), read the latest or one
 * version (viewer).
 */
#include "server.h"

static int
create(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *out;

	if (in == NULL)
		return resp_error(rs, &err);
	if (definition_create(rq->app->store, in, rq->actor, &out, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	json_decref(in);
	snprintf(rs->location, sizeof(rs->location), "/api/v1/definitions/%s/versions/%lld",
	    json_string_value(json_object_get(out, "name")),
	    (long long)json_integer_value(json_object_get(out, "version")));
	return resp_json(rs, 201, out);
}

/* The query parameters the list takes (dispatch refuses others). */
static const char *const list_query[] = { "limit", "after", NULL };

static int
list(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char buf[256], after[80] = "", last[80] = "", next[200];
	const char *v;
	int64_t limit = 50;
	int has_more;
	json_t *items;

	if ((v = req_query(rq, "limit", buf, sizeof(buf))) != NULL &&
	    parse_int64(v, 1, 500, &limit) != 0) {
		op_err_set(&err, 400, "invalid_argument", "limit", "limit must be an integer from 1 to 500");
		return resp_error(rs, &err);
	}
	if ((v = req_query(rq, "after", buf, sizeof(buf))) != NULL &&
	    cursor_decode_key("definitions", v, after, sizeof(after)) != 0) {
		op_err_set(&err, 400, "invalid_argument", "after",
		    "after is not a cursor from this listing; use the `next` of a previous page");
		return resp_error(rs, &err);
	}
	items = definitions_list(rq->app->store, after, limit, last, sizeof(last), &has_more);
	if (has_more)
		cursor_encode_key("definitions", last, next, sizeof(next));
	rs->is_cacheable = 1;
	return resp_json(rs, 200, json_pack("{s:o, s:s?, s:I}", "items", items, "next",
	    has_more ? next : NULL, "seq", (json_int_t)events_last_seq(rq->app->store)));
}

static int
get(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *d = definition_get(rq->app->store, rq->params[0], 0, &err);

	if (d == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	return resp_json(rs, 200, d);
}

static int
get_version(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t v;
	json_t *d;

	if (parse_int64(rq->params[1], 1, INT64_MAX, &v) != 0) {
		op_err_set(&err, 400, "invalid_argument", "version", "version must be a positive integer");
		return resp_error(rs, &err);
	}
	d = definition_get(rq->app->store, rq->params[0], v, &err);
	if (d == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	return resp_json(rs, 200, d);
}

const struct route api_definitions_routes[] = {
	{ "POST", "/api/v1/definitions", ROLE_ADMIN, create, NULL, 0 },
	{ "GET", "/api/v1/definitions", ROLE_VIEWER, list, list_query, 0 },
	{ "GET", "/api/v1/definitions/{name}", ROLE_VIEWER, get, NULL, 0 },
	{ "GET", "/api/v1/definitions/{name}/versions/{v}", ROLE_VIEWER, get_version, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
