/*
 * The queue of an instance's reports: what the agent says of each step it
 * takes, kept in order until the server takes it. A server that is away
 * delays the reports, never the hooks: steps go on and their reports wait.
 * The queue is part of the record (records.c), written before each report
 * is sent, so an agent killed during a call starts no hook twice and loses
 * no report.
 *
 * A report the server refuses ends the queue: the agent then waits for the
 * server's word (agent/work) rather than build on a state that is no more.
 * Nothing here decides a step (step.c does) or starts a hook.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "work.h"

static int
str_eq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/*
 * Queues the report from the agent's state to `to`, and moves there. Takes
 * exitj. Every step but a failure is one of the agent's edges of the table.
 */
void
reports_add(struct work *w, struct inst *i, enum inst_state to, const char *reason, json_t *exitj,
    json_t *grade)
{
	json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", w->cfg->name, "from",
	    inst_state_name(i->local), "to", inst_state_name(to), "reason", reason,
	    "attempt", (json_int_t)i->attempt);
	char id[ID_BUF];

	assert(to == INST_FAILED || inst_transition_check(i->local, to, ACTOR_AGENT, NULL, 0) == 0);
	if (r != NULL) {
		/* instantiate's own time, for the server's metric (not the wait for the slot) */
		if (i->local == INST_INSTANTIATING && (to == INST_RUNNING || to == INST_WARM) &&
		    i->instantiate_ms >= 0)
			json_object_set_new(r, "instantiate_ms", json_integer(i->instantiate_ms));
		if (exitj != NULL)
			json_object_set(r, "exit", exitj);
		if (grade != NULL)
			json_object_set(r, "grade", grade);
		json_array_append_new(i->queue, r);
	}
	json_decref(exitj);
	id_str(i->id, id, sizeof(id));
	log_info("agent.step", "instance", id, "from", inst_state_name(i->local), "to",
	    inst_state_name(to), "reason", reason, NULL);
	i->local = to;
	inst_mark(i);
}

void
reports_fail(struct work *w, struct inst *i, const char *reason, json_t *exitj)
{
	reports_add(w, i, INST_FAILED, reason, exitj, NULL);
}

/*
 * A report the server refused as invalid (400) would be refused again: the
 * instance fails instead, with the refusal for its reason, and the agent
 * cleans up after it. The failure replaces the reports that were waiting.
 */
static void
refused(struct work *w, struct inst *i)
{
	json_t *r0 = json_array_get(i->queue, 0), *f;
	const char *from = json_string_value(json_object_get(r0, "from"));
	const char *to = json_string_value(json_object_get(r0, "to"));
	char reason[512], id[ID_BUF];

	assert(r0 != NULL);
	id_str(i->id, id, sizeof(id));
	log_error("agent.report_refused", "instance", id, "from", from, "to", to, "message",
	    w->pr->last_refusal, NULL);
	snprintf(reason, sizeof(reason), "agent_refused: the server refused the report from %s to "
	    "%s: %.380s", from ? from : "?", to ? to : "?", w->pr->last_refusal);
	f = json_pack("{s:s, s:s?, s:s, s:s}", "name", w->cfg->name, "from", from, "to", "failed",
	    "reason", reason);
	if (f != NULL && json_object_get(r0, "attempt") != NULL)
		json_object_set(f, "attempt", json_object_get(r0, "attempt"));
	json_array_clear(i->queue);
	if (f != NULL && from != NULL) {
		json_array_append_new(i->queue, f);
		i->local = INST_FAILED;
	} else {
		json_decref(f);
		i->is_stale = 1;
	}
}

/* Sends the instance's waiting reports in order; stops at the first the server does not take. */
void
reports_flush(struct work *w, struct inst *i, int *want_work)
{
	if (i->is_dirty)
		records_write(i);	/* what the agent did is on disk before it says so */
	while (json_array_size(i->queue) > 0 && !w->pr->is_away) {
		json_t *r0 = json_array_get(i->queue, 0);
		char tp[TRACEPARENT_BUF];
		enum call c;

		/* In the instance's trace: its span at the server, and its events, join it. */
		if (i->trace.is_valid)
			httpc_set_traceparent(w->pr->http,
			    traceparent_format(&i->trace, tp, sizeof(tp)));
		c = proto_report(w->pr, i->id, r0);

		/* Away, forgotten, or the token refused (the agent stops): the reports wait. */
		if (c == CALL_RETRY || c == CALL_GONE || c == CALL_FATAL) {
			if (c == CALL_GONE)
				*want_work = 1;
			return;
		}
		if (c == CALL_OK) {
			json_array_remove(i->queue, 0);
		} else if (c == CALL_REFUSED && w->pr->last_status != 404 &&
		    !str_eq(json_string_value(json_object_get(r0, "to")), "failed")) {
			refused(w, i);
		} else {
			/*
			 * A conflict means the server's state moved on (an operator,
			 * the clock), and a refused failure leaves it to the server:
			 * the rest were built on a state that is no more, so they go
			 * too, and the agent looks again.
			 */
			if (c == CALL_REFUSED)
				log_error("agent.report_refused", "message", w->pr->last_refusal, NULL);
			json_array_clear(i->queue);
			i->is_stale = 1;
			*want_work = 1;
		}
		inst_mark(i);
	}
	if (i->is_dirty)
		records_write(i);
}
