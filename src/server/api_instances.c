/*
 * /api/v1/instances: create (one or a batch), list with filters and keyset
 * pages, get, the operator's actions, the transition history, the hooks'
 * log, and where (or why not) the scheduler placed it.
 */
#include <string.h>

#include "server.h"

static int
id_param(struct req *rq, int64_t *id, struct op_err *err)
{
	return req_param_id(rq, 0, "instance", id, err);
}

static int
create(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err);
	int64_t first;
	int rc;

	if (in == NULL)
		return resp_error(rs, &err);
	rc = instances_create(rq->app->store, in, rq->actor, &rs->body, &first, &err);
	if (rc != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	if (json_object_get(in, "count") == NULL || json_is_null(json_object_get(in, "count")))
		snprintf(rs->location, sizeof(rs->location), "/api/v1/instances/%lld", (long long)first);
	json_decref(in);
	rs->status = 201;
	rs->content_type = "application/json";
	return 0;
}

/* The query parameters the list takes (dispatch refuses others). */
static const char *const list_query[] = { "state", "definition", "owner", "worker", "limit",
		"after", NULL };

static int
list(struct req *rq, struct resp *rs)
{
	struct instance_filter f = { 0 };
	struct op_err err = { 0 };
	char sbuf_[256], dbuf[128], obuf[160], wbuf[80], next[160];
	const char *v;
	int64_t limit, after, last;
	int has_more;

	if (page_params(rq, "instances", &limit, &after, &err) != 0)
		return resp_error(rs, &err);
	if ((v = req_query(rq, "state", sbuf_, sizeof(sbuf_))) != NULL &&
	    req_mask_parse(KIND_INSTANCE, v, "state", &f.state_mask, &err) != 0)
		return resp_error(rs, &err);
	f.definition = req_query(rq, "definition", dbuf, sizeof(dbuf));
	f.owner = req_query(rq, "owner", obuf, sizeof(obuf));
	if ((v = req_query(rq, "worker", wbuf, sizeof(wbuf))) != NULL) {
		if (worker_resolve(rq->app->store, v, &f.worker_id, &err) != 0) {
			/* An unknown worker holds nothing: an empty page, not an error. */
			f.worker_id = -1;
		}
	}
	rs->status = 200;
	rs->content_type = "application/json";
	sbuf_puts(&rs->body, "{\"items\":[");
	if (instances_list(rq->app->store, &f, after, limit, &rs->body, &last, &has_more) < 0) {
		op_err_set(&err, 500, "internal", "", "database error");
		return resp_error(rs, &err);
	}
	if (has_more) {
		cursor_encode("instances", last, next, sizeof(next));
		sbuf_printf(&rs->body, "],\"next\":\"%s\"", next);
	} else {
		sbuf_puts(&rs->body, "],\"next\":null");
	}
	/* The sequence number the page is consistent with: follow events after it. */
	sbuf_printf(&rs->body, ",\"seq\":%" PRId64 "}\n", events_last_seq(rq->app->store));
	rs->is_cacheable = 1;
	rs->shows_usage = 1;	/* usage comes with heartbeats */
	return 0;
}

static int
get(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *j;

	if (id_param(rq, &id, &err) != 0 || (j = instance_get(rq->app->store, id, &err)) == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	rs->shows_usage = 1;	/* usage comes with heartbeats */
	return resp_json(rs, 200, j);
}

static int
act(struct req *rq, struct resp *rs, enum inst_action a)
{
	struct op_err err = { 0 };
	json_t *body = NULL, *out;
	int64_t id;
	int rc;

	if (id_param(rq, &id, &err) != 0)
		return resp_error(rs, &err);
	if (rq->body_len > 0 && (body = req_json_body(rq, &err)) == NULL)
		return resp_error(rs, &err);
	if (a != INST_ACT_EXTEND && body != NULL && json_object_size(body) > 0) {
		op_err_set(&err, 400, "unknown_field", json_object_iter_key(json_object_iter(body)),
		    "%s takes no fields", inst_action_name(a));
		json_decref(body);
		return resp_error(rs, &err);
	}
	rc = instance_act(rq->app->store, id, a, body, rq->actor, &out, &err);
	json_decref(body);
	if (rc != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, out);
}

static int stop(struct req *rq, struct resp *rs) { return act(rq, rs, INST_ACT_STOP); }
static int terminate(struct req *rq, struct resp *rs) { return act(rq, rs, INST_ACT_TERMINATE); }
static int retry(struct req *rq, struct resp *rs) { return act(rq, rs, INST_ACT_RETRY); }
static int extend(struct req *rq, struct resp *rs) { return act(rq, rs, INST_ACT_EXTEND); }

static int
transitions(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *j;

	if (id_param(rq, &id, &err) != 0 ||
	    (j = instance_transitions(rq->app->store, id, &err)) == NULL)
		return resp_error(rs, &err);
	rs->is_cacheable = 1;
	return resp_json(rs, 200, j);
}

static const char *const log_query[] = { "hook", "attempt", "limit", "after", NULL };

/* Never cached: log chunks commit without moving the data version (logs.c). */
static int
log_get(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char hbuf[40], abuf[32];
	const char *hook, *v;
	int64_t id, attempt = 0, limit, after;

	if (id_param(rq, &id, &err) != 0 || page_params(rq, "log", &limit, &after, &err) != 0)
		return resp_error(rs, &err);
	hook = req_query(rq, "hook", hbuf, sizeof(hbuf));
	if ((v = req_query(rq, "attempt", abuf, sizeof(abuf))) != NULL &&
	    parse_int64(v, 1, INT32_MAX, &attempt) != 0) {
		op_err_set(&err, 400, "invalid_argument", "attempt",
		    "attempt must be a positive integer (the instance's placements count from 1)");
		return resp_error(rs, &err);
	}
	if (instance_log_read(rq->app->store, id, hook, attempt, after, limit, &rs->body, &err) != 0)
		return resp_error(rs, &err);
	rs->status = 200;
	rs->content_type = "application/json";
	return 0;
}

static int
placement(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *j;

	if (id_param(rq, &id, &err) != 0 || (j = instance_placement(rq->app->store, id, now_ms(),
	    rq->app->cfg.lead_time_ms, &err)) == NULL)
		return resp_error(rs, &err);
	/* Not cached: the answer depends on the clock (due or not) as well as the data. */
	return resp_json(rs, 200, j);
}

const struct route api_instances_routes[] = {
	{ "POST", "/api/v1/instances", ROLE_OPERATOR, create, NULL, 0 },
	{ "GET", "/api/v1/instances", ROLE_VIEWER, list, list_query, 0 },
	{ "GET", "/api/v1/instances/{id}", ROLE_VIEWER, get, NULL, 0 },
	{ "POST", "/api/v1/instances/{id}/stop", ROLE_OPERATOR, stop, NULL, 0 },
	{ "POST", "/api/v1/instances/{id}/terminate", ROLE_OPERATOR, terminate, NULL, 0 },
	{ "POST", "/api/v1/instances/{id}/retry", ROLE_OPERATOR, retry, NULL, 0 },
	{ "POST", "/api/v1/instances/{id}/extend", ROLE_OPERATOR, extend, NULL, 0 },
	{ "GET", "/api/v1/instances/{id}/transitions", ROLE_VIEWER, transitions, NULL, 0 },
	{ "GET", "/api/v1/instances/{id}/log", ROLE_VIEWER, log_get, log_query, 0 },
	{ "GET", "/api/v1/instances/{id}/placement", ROLE_VIEWER, placement, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
