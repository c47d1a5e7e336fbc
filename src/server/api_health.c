/*
 * Liveness, readiness, metrics, and the state machine as data: the routes
 * that need no token.
 */
#include "server.h"

static int
healthz(struct req *rq, struct resp *rs)
{
	return resp_text(rs, 200, "text/plain; charset=utf-8", "ok\n");
}

static int
readyz(struct req *rq, struct resp *rs)
{
	struct app *a = rq->app;

	if (!a->is_ready || a->is_draining || store_check(a->store) != 0 ||
	    store_schema_version(a->store) != store_latest_version())
		return resp_text(rs, 503, "text/plain; charset=utf-8",
		    a->is_draining ? "shutting down\n" : "not ready\n");
	return resp_text(rs, 200, "text/plain; charset=utf-8", "ready\n");
}

static int
metrics(struct req *rq, struct resp *rs)
{
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return metrics_render(rq->app->store, &rs->body);
}

static json_t *
state_list(const struct state_info *(*info)(int), int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++) {
		const struct state_info *si = info(i);

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:b, s:b}", "name", si->name,
		    "description", si->description, "color", si->color, "ansi", (int)si->ansi,
		    "bold", si->is_bold, "active", si->is_active));
	}
	return a;
}

static const struct state_info *inst_info(int i) { return inst_state_info((enum inst_state)i); }
static const struct state_info *worker_info(int i) { return worker_state_info((enum worker_state)i); }
static const struct state_info *health_info(int i) { return worker_health_info((enum worker_health)i); }
static const struct state_info *run_info(int i) { return run_status_info((enum run_status)i); }

/* The state machine of src/common as data, for the web app and other clients. */
static int
states(struct req *rq, struct resp *rs)
{
	json_t *edges = json_array(), *actions = json_array();
	size_t n;
	const struct inst_edge *e = inst_edges(&n);

	for (size_t i = 0; i < n; i++)
		json_array_append_new(edges, json_pack("{s:s, s:s, s:s}", "from",
		    inst_state_name(e[i].from), "to", inst_state_name(e[i].to), "why", e[i].why));
	for (int a = 0; a < INST_ACT_COUNT; a++) {
		json_t *from = json_array();

		for (int s = 0; s < INST_STATE_COUNT; s++) {
			enum inst_state to;

			if (inst_action_target((enum inst_action)a, (enum inst_state)s, &to, NULL, 0) == 0)
				json_array_append_new(from, json_string(inst_state_name((enum inst_state)s)));
		}
		json_array_append_new(actions, json_pack("{s:s, s:o}", "name",
		    inst_action_name((enum inst_action)a), "from", from));
	}
	rs->is_cacheable = 1;
	return resp_json(rs, 200, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
	    "instance", state_list(inst_info, INST_STATE_COUNT),
	    "worker", state_list(worker_info, WORKER_STATE_COUNT),
	    "health", state_list(health_info, HEALTH_COUNT),
	    "run", state_list(run_info, RUN_STATUS_COUNT),
	    "instance_edges", edges, "instance_actions", actions));
}

const struct route api_health_routes[] = {
	{ "GET", "/healthz", ROLE_NONE, healthz, NULL },
	{ "GET", "/readyz", ROLE_NONE, readyz, NULL },
	{ "GET", "/metrics", ROLE_NONE, metrics, NULL },
	{ "GET", "/api/v1/states", ROLE_NONE, states, NULL },
	{ NULL, NULL, ROLE_NONE, NULL, NULL },
};
