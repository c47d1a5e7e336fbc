/*
 * /api/v1/agent/...: what outpost-agent calls, with a token of role agent
 * (and no other role reaches these). Each call names its worker (name), and
 * the token must be that worker's own (http_agent_acts_for: 403 otherwise);
 * a join token only registers (http_authorize lets it reach nothing else),
 * and the registration's answer carries the worker's own token.
 *
 *   POST register                  the worker, its capacity and labels
 *   POST heartbeat                 alive
 * (both say the agent's protocol and release: agent_version.c)
 *   POST sync                      (re)started: what it still runs; its work back
 *   GET  work?name=W               its work: the instances it must run
 *   POST instances/{id}/report     a step of an instance: from, to, exit, grade
 *   POST instances/{id}/log        a chunk of a hook's output
 *
 * The registration's and the heartbeat's answers carry lost_after_ms, the
 * worker's lease: the agent fences its instances when no heartbeat of its
 * has been answered for nearly that long (docs/architecture.md, "How a
 * cut-off agent is fenced").
 *
 * Pushed work comes over the event stream (a subscription naming the
 * worker); these routes are the whole of what the agent says. What each
 * means is agent_proto.c's (and logs.c's, workers.c's): here only HTTP in
 * and JSON out.
 */
#define _DEFAULT_SOURCE 1	/* explicit_bzero */
#include <string.h>

#include "server.h"

static int
id_param(struct req *rq, int64_t *id, struct op_err *err)
{
	return req_param_id(rq, 0, "instance", id, err);
}

/*
 * The worker a body names must be the token's own; a name that is not a
 * string is left to the domain's checks, which refuse it (400) before
 * anything changes.
 */
static int
acts_for(const struct req *rq, json_t *in, struct op_err *err)
{
	const char *name = json_string_value(json_object_get(in, "name"));

	return name == NULL ? 0 : http_agent_acts_for(&rq->tok, name, "name", err);
}

static int
agent_register(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *out;
	char cred[TOKEN_BUF];
	int rc, is_join = rq->tok.role == ROLE_AGENT && rq->tok.worker_id == 0;

	if (in == NULL)
		return resp_error(rs, &err);
	/* A join token's limits are the domain's to check: they need the stored worker. */
	if (rq->tok.worker_id != 0 && acts_for(rq, in, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	/* What the agent says is shown from its registration on, if that succeeds. */
	if (is_join)
		agent_version_hold(in);
	if (agent_version_take(rq->app->store, in, is_join || rq->tok.worker_id != 0,
	    &err) != 0) {
		if (is_join)
			agent_version_undo(rq->app->store);
		json_decref(in);
		return resp_error(rs, &err);
	}
	rc = worker_register(rq->app->store, in, &rq->tok, rq->actor, &out, cred, sizeof(cred),
	    &err);
	json_decref(in);
	if (rc < 0) {
		if (is_join)
			agent_version_undo(rq->app->store);
		return resp_error(rs, &err);
	}
	/* Shown once, as POST /api/v1/tokens shows a token: only its hash is kept. */
	if (cred[0] != '\0')
		json_object_set_new(out, "token", json_string(cred));
	explicit_bzero(cred, sizeof(cred));
	json_object_set_new(out, "lost_after_ms", json_integer(rq->app->cfg.worker_lost_after_ms));
	return resp_json(rs, rc == 1 ? 201 : 200, out);
}

static int
agent_heartbeat(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err), *out;
	int rc;

	if (in == NULL)
		return resp_error(rs, &err);
	if (acts_for(rq, in, &err) != 0 || agent_version_take(rq->app->store, in, 1, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	rc = worker_heartbeat(rq->app->store, in, rq->actor, &out, &err);
	json_decref(in);
	if (rc < 0)
		return resp_error(rs, &err);
	json_object_set_new(out, "lost_after_ms", json_integer(rq->app->cfg.worker_lost_after_ms));
	rs->is_routine = 1;
	/* Held for its sync, which may wait for other heartbeats (store_sync.c). */
	rs->may_wait = 1;
	return resp_json(rs, 200, out);
}

static const char *const work_query[] = { "name", NULL };

static int
agent_get_work(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char name[80];
	const char *n = req_query(rq, "name", name, sizeof(name));

	if ((n != NULL && n[0] != '\0' && http_agent_acts_for(&rq->tok, n, "name", &err) != 0) ||
	    agent_work(rq->app->store, n, rq->app->cfg.hook_timeout_ms, &rs->body, &err) != 0)
		return resp_error(rs, &err);
	rs->status = 200;
	rs->content_type = "application/json";
	return 0;
}

static int
agent_post_sync(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in = req_json_body(rq, &err);
	int rc;

	if (in == NULL)
		return resp_error(rs, &err);
	if (acts_for(rq, in, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	rc = agent_sync(rq->app->store, in, rq->actor, rq->app->cfg.hook_timeout_ms, &rs->body,
	    &err);
	json_decref(in);
	if (rc != 0)
		return resp_error(rs, &err);
	rs->status = 200;
	rs->content_type = "application/json";
	return 0;
}

static int
agent_report(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in, *out;
	int64_t id;
	int rc;

	if (id_param(rq, &id, &err) != 0 || (in = req_json_body(rq, &err)) == NULL)
		return resp_error(rs, &err);
	/* The instance must be on that worker too: instance_report says 403 when it is not. */
	if (acts_for(rq, in, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	rc = instance_report(rq->app->store, id, in, rq->actor, &out, &err);
	json_decref(in);
	if (rc != 0)
		return resp_error(rs, &err);
	return resp_json(rs, 200, out);
}

static int
agent_log(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	json_t *in;
	int64_t id, stored;
	int rc;

	if (id_param(rq, &id, &err) != 0 || (in = req_json_body(rq, &err)) == NULL)
		return resp_error(rs, &err);
	if (acts_for(rq, in, &err) != 0) {
		json_decref(in);
		return resp_error(rs, &err);
	}
	rc = instance_log_append(rq->app->store, id, in, &stored, &err);
	json_decref(in);
	if (rc != 0)
		return resp_error(rs, &err);
	rs->is_routine = 1;
	return resp_json(rs, 200, json_pack("{s:I}", "stored", (json_int_t)stored));
}

const struct route api_agent_routes[] = {
	{ "POST", "/api/v1/agent/register", ROLE_AGENT, agent_register, NULL, ROUTE_JOIN },
	{ "POST", "/api/v1/agent/heartbeat", ROLE_AGENT, agent_heartbeat, NULL, 0 },
	{ "POST", "/api/v1/agent/sync", ROLE_AGENT, agent_post_sync, NULL, 0 },
	{ "GET", "/api/v1/agent/work", ROLE_AGENT, agent_get_work, work_query, 0 },
	{ "POST", "/api/v1/agent/instances/{id}/report", ROLE_AGENT, agent_report, NULL, 0 },
	{ "POST", "/api/v1/agent/instances/{id}/log", ROLE_AGENT, agent_log, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
