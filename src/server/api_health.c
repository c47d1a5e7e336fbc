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

/* Ready: started, not draining, the store answers and has room for writes. */
static int
readyz(struct req *rq, struct resp *rs)
{
	struct app *a = rq->app;
	const char *why;

	if (!a->is_draining && store_full_since(a->store, &why) != 0) {
		char text[240];

		snprintf(text, sizeof(text), "not ready: the database's disk is full (%s)\n", why);
		return resp_text(rs, 503, "text/plain; charset=utf-8", text);
	}
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

/* One kind's states: each with its colours, and for instances the hook it runs. */
static json_t *
state_list(enum state_kind k)
{
	json_t *a = json_array();
	int n;
	const struct state_info *t = state_table(k, &n);

	for (int i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:b, s:b}", "name", t[i].name,
		    "description", t[i].description, "color", t[i].color, "ansi", (int)t[i].ansi,
		    "bold", t[i].is_bold, "active", t[i].is_active);

		if (k == KIND_INSTANCE) {
			enum hook hk = inst_state_hook((enum inst_state)i);

			json_object_set_new(o, "hook", hk == HOOK_COUNT ? json_null() :
			    json_string(hook_name(hk)));
		}
		json_array_append_new(a, o);
	}
	return a;
}

/* Each instance action with the states it may start from. */
static json_t *
inst_actions(void)
{
	json_t *actions = json_array();

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
	return actions;
}

/* The same for workers, with the state each leads to. */
static json_t *
worker_actions(void)
{
	json_t *actions = json_array();

	for (int a = 0; a < WORKER_ACT_COUNT; a++) {
		json_t *from = json_array();

		for (int s = 0; s < WORKER_STATE_COUNT; s++) {
			enum worker_state to;

			if (worker_action_target((enum worker_action)a, (enum worker_state)s, &to, NULL,
			    0) == 0)
				json_array_append_new(from,
				    json_string(worker_state_name((enum worker_state)s)));
		}
		json_array_append_new(actions, json_pack("{s:s, s:s, s:o}", "name",
		    worker_action_name((enum worker_action)a), "to",
		    worker_state_name(worker_action_goal((enum worker_action)a)), "from", from));
	}
	return actions;
}

/* The roles a token may have, least first, and what each may do. */
static json_t *
role_list(void)
{
	json_t *a = json_array();

	for (int r = ROLE_AGENT; r < ROLE_COUNT; r++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", role_name((enum role)r),
		    "description", role_info((enum role)r)->description));
	return a;
}

/*
 * The state machine of src/common as data, for the web app and other
 * clients: states, instance edges, the actions of instances and workers,
 * the hooks in the order they run, and the roles.
 */
static int
states(struct req *rq, struct resp *rs)
{
	json_t *edges = json_array(), *hooks = json_array();
	size_t n;
	const struct inst_edge *e = inst_edges(&n);

	for (size_t i = 0; i < n; i++)
		json_array_append_new(edges, json_pack("{s:s, s:s, s:s}", "from",
		    inst_state_name(e[i].from), "to", inst_state_name(e[i].to), "why", e[i].why));
	for (int h = 0; h < HOOK_COUNT; h++)
		json_array_append_new(hooks, json_string(hook_name((enum hook)h)));
	rs->is_cacheable = 1;
	return resp_json(rs, 200, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "instance", state_list(KIND_INSTANCE),
	    "worker", state_list(KIND_WORKER),
	    "health", state_list(KIND_HEALTH),
	    "run", state_list(KIND_RUN),
	    "instance_edges", edges, "instance_actions", inst_actions(),
	    "worker_actions", worker_actions(), "hooks", hooks, "roles", role_list()));
}

const struct route api_health_routes[] = {
	{ "GET", "/healthz", ROLE_NONE, healthz, NULL, 0 },
	{ "GET", "/readyz", ROLE_NONE, readyz, NULL, 0 },
	{ "GET", "/metrics", ROLE_NONE, metrics, NULL, 0 },
	{ "GET", "/api/v1/states", ROLE_NONE, states, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
