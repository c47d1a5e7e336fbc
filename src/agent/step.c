/*
 * Each instance's state machine: from where the agent holds it (its local
 * state) and what its hooks have done, the next step: start the hook its
 * state runs, act on a hook's end, or report the next state. It mirrors the
 * server's table (src/common/state.c): the agent takes only the agent's
 * edges there, or fails the instance; every other move is the server's
 * word, taken in work.c.
 *
 * It never sends anything (reports.c does, in order, when the server is
 * there) and never waits: a step starts a hook and returns.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "work.h"

static json_t *
exit_of(enum hook h, const struct hook_result *r, int timed_out)
{
	json_t *e = json_pack("{s:s}", "hook", hook_name(h));

	if (r->has_code)
		json_object_set_new(e, "code", json_integer(r->code));
	if (r->signal > 0)
		json_object_set_new(e, "signal", json_integer(r->signal));
	if (timed_out)
		json_object_set_new(e, "timed_out", json_true());
	return e;
}

/* The grade: one JSON object on the grade hook's stdout, or NULL. */
static json_t *
read_grade(const struct inst *i)
{
	char path[PATH_BUF_MAX];
	json_t *g;

	if (inst_path(i, "grade.out", "", path, sizeof(path)) != 0)
		return NULL;
	g = json_load_file(path, 0, NULL);
	if (g != NULL && !json_is_object(g)) {
		json_decref(g);
		g = NULL;
	}
	return g;
}

static void
hook_failure_reason(char *buf, size_t n, enum hook h, const struct hook_result *r)
{
	if (r->has_code)
		snprintf(buf, n, "hook_failed: %s exited with code %d", hook_name(h), r->code);
	else
		snprintf(buf, n, "hook_failed: %s was killed by signal %d", hook_name(h), r->signal);
}

/* A hook's end, in the light of why it ran and how it ended. */
static void
act_on_result(struct work *w, struct inst *i, int64_t now)
{
	struct hook_result *r = &i->result;
	enum hook h = i->result_hook;
	int is_ok = r->has_code && r->code == 0, is_limit;
	char reason[300], d[32];

	assert(i->has_result && !i->has_proc);
	i->has_result = 0;
	if (!w->pr->is_away)
		hooks_upload_log(w, i, h, 1);
	inst_mark(i);
	/* The stop hook runs once, as a step or to clean up, however it ends. */
	if (h == HOOK_STOP)
		i->ran[HOOK_STOP] = 1;
	if (i->is_cleaning) {
		i->is_cleaning = 0;
		return;
	}
	if (i->result_why == KILL_GONE)
		return;
	if (r->fenced) {
		/* Its shim fenced it (this agent was away or late): as work_fence, never again. */
		work_fence_one(w, i, "fenced: the server answered no heartbeat of the agent for "
		    "most of its worker_lost_after; the hook's shim killed the hooks at the lease's "
		    "end");
		return;
	}
	if (h == HOOK_RUN && i->result_why == KILL_END) {
		i->ran[HOOK_RUN] = 1;
		return;		/* stopped for collection: the slot ended or an operator said */
	}
	if (r->timed_out) {
		snprintf(reason, sizeof(reason), "hook_timeout: %s ran past its timeout of %s",
		    hook_name(h), duration_format(hooks_timeout(i, h), d, sizeof(d)));
		reports_fail(w, i, reason, exit_of(h, r, 1));
		return;
	}
	if (h == HOOK_RUN) {
		i->ran[HOOK_RUN] = 1;
		/* run ending with its slot (a second's leeway for clocks) is its normal end. */
		if (i->local == INST_RUNNING && now >= i->slot_end - 1000) {
			reports_add(w, i, INST_COLLECTING, "run ended with its slot", NULL, NULL);
			return;
		}
		if (i->local != INST_RUNNING)
			return;
		/* A limit of its cgroup (the OOM killer, pids) says why, from its counters. */
		is_limit = cg_failure_reason(i, reason, sizeof(reason));
		if (!is_limit && r->has_code)
			snprintf(reason, sizeof(reason), "run_exited: run exited with code %d before "
			    "the end of its slot", r->code);
		else if (!is_limit)
			snprintf(reason, sizeof(reason), "run_exited: run was killed by signal %d "
			    "before the end of its slot", r->signal);
		reports_fail(w, i, reason, exit_of(h, r, 0));
		return;
	}
	if (!is_ok) {
		if (!cg_failure_reason(i, reason, sizeof(reason)))
			hook_failure_reason(reason, sizeof(reason), h, r);
		reports_fail(w, i, reason, exit_of(h, r, 0));
		return;
	}
	i->ran[h] = 1;
	if (h == HOOK_INSTANTIATE)
		i->instantiate_ms = now > i->result_started_ms ? now - i->result_started_ms : 0;
}

/*
 * Runs hook h if the definition has it and it has not run: 1 while it runs,
 * 0 when done, -1 when it could not start (and the instance failed).
 */
static int
ensure_hook(struct work *w, struct inst *i, enum hook h)
{
	if (i->ran[h] || !hooks_has(i, h)) {
		i->ran[h] = 1;
		return 0;
	}
	return hooks_start(w, i, h) == 0 ? 1 : -1;
}

int64_t
step_instance(struct work *w, struct inst *i, int64_t now)
{
	char reason[200];

	/* A refused report: what the agent believed is not so; nothing starts until it knows. */
	if (i->is_stale && !i->is_gone)
		return i->has_proc ? hooks_watch(i) : 60000;
	if (i->has_proc) {
		/* What runs must stop when the instance went away or moved past its hook. */
		if (i->is_gone && i->proc.hook == HOOK_STOP && !i->is_cleaning) {
			i->is_cleaning = 1;	/* a stop hook under way finishes as the clean-up */
			inst_mark(i);
		} else if (i->is_gone && !i->is_cleaning)
			hooks_stop(i, KILL_GONE);
		else if (i->proc.hook == HOOK_RUN && i->local != INST_RUNNING)
			hooks_stop(i, KILL_END);
		else if (i->proc.hook == HOOK_INSTANTIATE && i->local != INST_INSTANTIATING)
			hooks_stop(i, KILL_GONE);
		return hooks_watch(i);
	}
	if (i->has_result)
		act_on_result(w, i, now);
	if (i->is_gone || i->local == INST_FAILED || i->local == INST_TERMINATED) {
		/*
		 * Clean up after an instance that ended badly: its stop hook, once, if it
		 * began; once the server took the failure (it may say the instance moved
		 * on instead, and then that is what happens).
		 */
		if (!i->is_gone && json_array_size(i->queue) > 0)
			return 1000;
		/* Its end is whole: what its hooks left (double-forked, setsid'd) goes first. */
		cg_kill(i);
		if (i->is_instantiated && !i->ran[HOOK_STOP] && hooks_has(i, HOOK_STOP) &&
		    !i->is_cleaning) {
			i->is_cleaning = 1;
			if (hooks_start(w, i, HOOK_STOP) == 0)
				return 0;
			i->is_cleaning = 0;
			i->ran[HOOK_STOP] = 1;
		}
		/* Gone, or its failure taken by the server (a refusal would have made it stale). */
		if (json_array_size(i->queue) == 0 && (i->is_gone || !i->is_stale))
			return -1;	/* forget it */
		return 60000;
	}
	switch (i->local) {
	case INST_SCHEDULED:
		snprintf(reason, sizeof(reason), hooks_has(i, HOOK_INSTANTIATE) ?
		    "the agent of %s runs instantiate" : "the agent of %s took it (no instantiate hook)",
		    w->cfg->name);
		reports_add(w, i, INST_INSTANTIATING, reason, NULL, NULL);
		return 0;
	case INST_INSTANTIATING:
		if (ensure_hook(w, i, HOOK_INSTANTIATE) != 0)
			return 0;	/* it runs (or could not start, and failed) */
		if (!hooks_has(i, HOOK_INSTANTIATE))
			i->instantiate_ms = 0;
		i->is_instantiated = 1;
		if (i->is_pool) {
			reports_add(w, i, INST_WARM, "instantiated for the warm pool", NULL, NULL);
			return 0;
		}
		if (now < i->slot_start)
			return i->slot_start - now;	/* ready early: wait for the slot */
		reports_add(w, i, INST_RUNNING, hooks_has(i, HOOK_INSTANTIATE) ?
		    "instantiated; run started" : "run started", NULL, NULL);
		return 0;
	case INST_WARM:
		return 60000;
	case INST_RUNNING:
		if (!i->ran[HOOK_RUN] && hooks_start(w, i, HOOK_RUN) == 0)
			return 0;
		return 60000;
	case INST_COLLECTING:
		if (ensure_hook(w, i, HOOK_COLLECT) != 0)
			return 0;
		if (hooks_has(i, HOOK_GRADE))
			reports_add(w, i, INST_GRADING, "collected", NULL, NULL);
		else
			reports_add(w, i, INST_STOPPING, hooks_has(i, HOOK_COLLECT) ?
			    "collected (no grade hook)" : "no collect or grade hook", NULL, NULL);
		return 0;
	case INST_GRADING: {
		json_t *g;

		if (ensure_hook(w, i, HOOK_GRADE) != 0)
			return 0;
		g = read_grade(i);
		if (g == NULL) {
			reports_fail(w, i, "grade_invalid: the grade hook printed no JSON object on its "
			    "stdout (64 KiB at most)", json_pack("{s:s}", "hook", "grade"));
			return 0;
		}
		/* The bound is the server's: the object as JSON, compact (numbers may grow). */
		{
			char *text = json_dumps(g, JSON_COMPACT);
			size_t len = text ? strlen(text) : SIZE_MAX;

			free(text);
			if (len > GRADE_MAX) {
				json_decref(g);
				reports_fail(w, i, "grade_invalid: the grade is larger than 64 KiB as "
				    "compact JSON", json_pack("{s:s}", "hook", "grade"));
				return 0;
			}
		}
		reports_add(w, i, INST_STOPPING, "graded", NULL, g);
		json_decref(g);
		return 0;
	}
	case INST_STOPPING:
		if (ensure_hook(w, i, HOOK_STOP) != 0)
			return 0;
		reports_add(w, i, INST_STOPPED, hooks_has(i, HOOK_STOP) ? "stop hook done" :
		    "no stop hook", NULL, NULL);
		return 0;
	case INST_STOPPED:
		return json_array_size(i->queue) == 0 ? -1 : 60000;
	default:
		return 60000;
	}
}
