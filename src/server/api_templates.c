/*
 * /api/v1/templates: kinds of workers (viewer reads, admin writes) and
 * scaling one by hand (operator).
 */
#include "server.h"

static int
list(struct req *rq, struct resp *rs)
{
	rs->is_cacheable = 1;
	return resp_json(rs, 200, json_pack("{s:o, s:n, s:I}", "items",
	    templates_list(rq->app->store), "next", "seq",
	    (json_int_t)events_last_seq(rq->app->store)));
}

static int
get(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *t = template_get(rq->app->store, rq->params[0], &err);

	if (t == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	return resp_json(rs, 200, t);
}

static int
put(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *out;
	int rc;

	if (in == NULL)
		return resp_error(rs, &err);
	rc = template_put(rq->app->store, rq->params[0], in, "api",
	    rq->app->cfg.api_program_provisioners, rq->actor, &out, &err);
	json_decref(in);
	if (rc < 0)
		return resp_error(rs, &err);
	snprintf(rs->location, sizeof(rs->location), "/api/v1/templates/%s", rq->params[0]);
	return resp_json(rs, rc == 1 ? 201 : 200, out);
}

static int
scale(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *out;
	int rc;

	if (in == NULL)
		return resp_error(rs, &err);
	rc = scaler_scale(rq->app, rq->params[0], in, rq->actor, &out, &err);
	json_decref(in);
	if (rc != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, out);
}

const struct route api_templates_routes[] = {
	{ "GET", "/api/v1/templates", ROLE_VIEWER, list, NULL, 0 },
	{ "GET", "/api/v1/templates/{name}", ROLE_VIEWER, get, NULL, 0 },
	{ "PUT", "/api/v1/templates/{name}", ROLE_ADMIN, put, NULL, 0 },
	{ "POST", "/api/v1/templates/{name}/scale", ROLE_OPERATOR, scale, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
