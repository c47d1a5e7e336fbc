/*
 * /api/v1/runbooks, /api/v1/runs and /api/v1/alerts: the runbooks loaded
 * (viewer), starting a run (the runbook's own role, checked by run_request),
 * the runs and their output (viewer), cancelling one (operator), and the
 * alert rules with their state (viewer). Runbooks and alerts live in
 * memory, loaded from files: their answers are never cached.
 */
#include <string.h>

#include "server.h"

static int
list(struct req *rq, struct resp *rs)
{
	return resp_json(rs, 200, runbooks_list());
}

static int
get(struct req *rq, struct resp *rs)
{
	struct runbook *rb = runbook_find(rq->params[0]);
	struct op_err err = { 0 };

	if (rb == NULL) {
		op_err_set(&err, 404, "not_found", "name", "no runbook named %s", rq->params[0]);
		return resp_error(rs, &err);
	}
	return resp_json(rs, 200, runbook_json(rb));
}

static int
start(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = NULL, *out = NULL;
	int rc;

	if (rq->body_len > 0 && (in = req_json_body(rq, &err)) == NULL)
		return resp_error(rs, &err);
	rc = run_request(rq->app, rq->params[0], in, rq->tok.role, rq->actor, &out, &err);
	json_decref(in);
	if (rc != 0)
		return resp_error(rs, &err);
	snprintf(rs->location, sizeof(rs->location), "/api/v1/runs/%lld",
	    (long long)json_integer_value(json_object_get(out, "id")));
	return resp_json(rs, 202, out);
}

static int
runs(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char b1[80], b2[32], next[160];
	const char *runbook, *status;
	int64_t limit, after, last;
	int has_more;
	enum run_status rsv;
	json_t *items;

	if (page_params(rq, "runs", &limit, &after, &err) != 0)
		return resp_error(rs, &err);
	runbook = req_query(rq, "runbook", b1, sizeof(b1));
	status = req_query(rq, "status", b2, sizeof(b2));
	if (status != NULL && run_status_parse(status, &rsv) != 0) {
		char names[128];

		op_err_set(&err, 400, "invalid_argument", "status", "status must be one of %s",
		    state_set_names(KIND_RUN, state_all(KIND_RUN), names, sizeof(names)));
		return resp_error(rs, &err);
	}
	items = runs_list(rq->app->store, runbook, status, after, limit, &last, &has_more);
	if (has_more)
		cursor_encode("runs", last, next, sizeof(next));
	return resp_json(rs, 200, json_pack("{s:o, s:s?, s:I}", "items", items, "next",
	    has_more ? next : NULL, "seq", (json_int_t)events_last_seq(rq->app->store)));
}

static int
run(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *o;

	if (req_param_id(rq, 0, "run", &id, &err) != 0 ||
	    (o = run_get(rq->app->store, id, &err)) == NULL)
		return resp_error(rs, &err);
	return resp_json(rs, 200, o);
}

static int
cancel(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	int64_t id;
	json_t *o;

	if (req_param_id(rq, 0, "run", &id, &err) != 0 ||
	    run_cancel(rq->app, id, rq->actor, &o, &err) != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, o);
}

static int
alerts(struct req *rq, struct resp *rs)
{
	return resp_json(rs, 200, json_pack("{s:o}", "items", alerts_list()));
}

static const char *const runs_query[] = { "runbook", "status", "limit", "after", NULL };

const struct route api_runbooks_routes[] = {
	{ "GET", "/api/v1/runbooks", ROLE_VIEWER, list, NULL, 0 },
	{ "GET", "/api/v1/runbooks/{name}", ROLE_VIEWER, get, NULL, 0 },
	/* The runbook says which role it needs: run_request checks it. */
	{ "POST", "/api/v1/runbooks/{name}/runs", ROLE_OPERATOR, start, NULL, 0 },
	{ "GET", "/api/v1/runs", ROLE_VIEWER, runs, runs_query, 0 },
	{ "GET", "/api/v1/runs/{id}", ROLE_VIEWER, run, NULL, 0 },
	{ "POST", "/api/v1/runs/{id}/cancel", ROLE_OPERATOR, cancel, NULL, 0 },
	{ "GET", "/api/v1/alerts", ROLE_VIEWER, alerts, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
