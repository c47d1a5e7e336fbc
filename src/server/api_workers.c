/*
 * /api/v1/workers: list, get, and the operator's actions (cordon, uncordon,
 * drain, stop, terminate: worker_act() of worker_life.c). A worker is named
 * by its id or its name. (The agent's own calls are api_agent.c.)
 */
#include <string.h>

#include "server.h"

/* The query parameters the list takes (dispatch refuses others). */
static const char *const list_query[] = { "state", "health", "template", "limit", "after", NULL };

static int
list(struct req *rq, struct resp *rs)
{
	struct worker_filter f = { 0 };
	struct op_err err = { 0 };
	char b1[256], b2[256], b3[80], next[160];
	const char *v;
	int64_t limit, after, last;
	int has_more;
	json_t *items;

	if (page_params(rq, "workers", &limit, &after, &err) != 0)
		return resp_error(rs, &err);
	if ((v = req_query(rq, "state", b1, sizeof(b1))) != NULL &&
	    req_mask_parse(KIND_WORKER, v, "state", &f.state_mask, &err) != 0)
		return resp_error(rs, &err);
	if ((v = req_query(rq, "health", b2, sizeof(b2))) != NULL &&
	    req_mask_parse(KIND_HEALTH, v, "health", &f.health_mask, &err) != 0)
		return resp_error(rs, &err);
	f.template_name = req_query(rq, "template", b3, sizeof(b3));
	items = workers_list(rq->app->store, &f, after, limit, &last, &has_more);
	if (items == NULL) {
		store_fail(rq->app->store, &err);
		return resp_error(rs, &err);
	}
	if (has_more)
		cursor_encode("workers", last, next, sizeof(next));
	rs->is_cacheable = 1;
	rs->shows_heartbeats = 1;
	return resp_json(rs, 200, json_pack("{s:o, s:s?, s:I}", "items", items, "next",
	    has_more ? next : NULL, "seq", (json_int_t)events_last_seq(rq->app->store)));
}

static int
get(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *w;

	if (worker_resolve(rq->app->store, rq->params[0], &id, &err) != 0 ||
	    (w = worker_get(rq->app->store, id, &err)) == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	rs->shows_heartbeats = 1;
	return resp_json(rs, 200, w);
}

static int
act(struct req *rq, struct resp *rs, enum worker_action a)
{
	struct op_err err = { 0 };
	json_t *body = NULL, *out;
	int64_t id;
	int rc;

	if (worker_resolve(rq->app->store, rq->params[0], &id, &err) != 0)
		return resp_error(rs, &err);
	if (rq->body_len > 0 && (body = req_json_body(rq, &err)) == NULL)
		return resp_error(rs, &err);
	rc = worker_act(rq->app, id, a, body, rq->actor, &out, &err);
	json_decref(body);
	if (rc != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, out);
}

static int cordon(struct req *rq, struct resp *rs) { return act(rq, rs, WORKER_ACT_CORDON); }
static int uncordon(struct req *rq, struct resp *rs) { return act(rq, rs, WORKER_ACT_UNCORDON); }
static int drain(struct req *rq, struct resp *rs) { return act(rq, rs, WORKER_ACT_DRAIN); }
static int stop(struct req *rq, struct resp *rs) { return act(rq, rs, WORKER_ACT_STOP); }
static int terminate(struct req *rq, struct resp *rs) { return act(rq, rs, WORKER_ACT_TERMINATE); }

const struct route api_workers_routes[] = {
	{ "GET", "/api/v1/workers", ROLE_VIEWER, list, list_query, 0 },
	{ "GET", "/api/v1/workers/{id}", ROLE_VIEWER, get, NULL, 0 },
	{ "POST", "/api/v1/workers/{id}/cordon", ROLE_OPERATOR, cordon, NULL, 0 },
	{ "POST", "/api/v1/workers/{id}/uncordon", ROLE_OPERATOR, uncordon, NULL, 0 },
	{ "POST", "/api/v1/workers/{id}/drain", ROLE_OPERATOR, drain, NULL, 0 },
	{ "POST", "/api/v1/workers/{id}/stop", ROLE_OPERATOR, stop, NULL, 0 },
	{ "POST", "/api/v1/workers/{id}/terminate", ROLE_OPERATOR, terminate, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
