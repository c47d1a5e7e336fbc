/*
 * The instances an agent runs, as a list, and the agent's face to them
 * (agent.h's work_*(), but work_recover(): records.c): what the server
 * lists (work_apply), the loop's turn over every instance (work_step), the
 * ends of shims (work_reap).
 *
 * The server moves an instance on its own in a few ways (the slot ends or an
 * operator stops it: running → collecting; a warm instance is claimed or its
 * pool shrinks; it is terminated, fails, or goes back to pending when the
 * worker was lost): the agent adopts the server's state whenever none of its
 * reports is waiting, and an instance the server no longer lists is killed,
 * cleaned up (its stop hook, if it was instantiated) and forgotten.
 *
 * The rest is in the files work.h names: each instance's steps (step.c),
 * its hooks (hooks.c), its reports (reports.c), its record (records.c).
 * Everything here runs on the agent's one loop and never waits for a hook.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "work.h"

static int64_t
time_of(json_t *o, const char *key)
{
	int64_t ms = 0;
	const char *s = json_string_value(json_object_get(o, key));

	if (s != NULL)
		time_parse_rfc3339(s, &ms);
	return ms;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

void
work_rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- instances ---- */

static struct inst *
inst_find(struct work *w, int64_t id)
{
	for (struct inst *i = w->list; i != NULL; i = i->next)
		if (i->id == id)
			return i;
	return NULL;
}

static void
inst_free(struct inst *i)
{
	json_decref(i->queue);
	json_decref(i->hooks);
	json_decref(i->timeouts);
	json_decref(i->resources);
	free(i);
}

struct inst *
inst_new(struct work *w, int64_t id, int64_t attempt)
{
	struct inst *i;
	char path[PATH_BUF_MAX];

	assert(id > 0);
	i = calloc(1, sizeof(*i));
	if (i == NULL)
		return NULL;
	i->id = id;
	i->attempt = attempt;
	i->instantiate_ms = -1;
	i->queue = json_array();
	i->hooks = json_object();
	i->timeouts = json_object();
	i->resources = json_object();
	if (path_fmt(i->dir, sizeof(i->dir), "%s/instances/%lld", w->cfg->work_dir,
	    (long long)id) != 0 || inst_path(i, "work", "", path, sizeof(path)) != 0) {
		inst_free(i);
		return NULL;
	}
	/* Hooks' users pass through the instance's directory to their own (hookuser.c). */
	mkdir(i->dir, hookuser_dir_mode());
	mkdir(path, 0750);
	i->next = w->list;
	w->list = i;
	return i;
}

int
inst_path(const struct inst *i, const char *name, const char *ext, char *buf, size_t n)
{
	return path_fmt(buf, n, "%s/%s%s", i->dir, name, ext);
}

/*
 * Forgets the instance: its directory goes (its log is on the server).
 * Never while a hook of it runs (nothing would watch it) or a report waits.
 */
static void
inst_forget(struct work *w, struct inst *i)
{
	char id[ID_BUF];

	assert(!i->has_proc && json_array_size(i->queue) == 0);
	for (struct inst **p = &w->list; *p != NULL; p = &(*p)->next) {
		if (*p == i) {
			*p = i->next;
			break;
		}
	}
	id_str(i->id, id, sizeof(id));
	log_info("agent.forgot", "instance", id, "state", inst_state_name(i->local), NULL);
	cg_remove(i);	/* an end is whole: whatever of it still runs is killed */
	/* Nothing left of its user may change its directory while it is removed. */
	if (i->has_user)
		hookuser_kill_all(i->hook_uid);
	work_rm_tree(i->dir);
	inst_free(i);
}

/*
 * Takes what the server says of the instance: its definition's hooks, its
 * owner and slot. Returns whether anything changed (the record is written
 * then, not at every answer).
 */
static int
inst_update(struct inst *i, json_t *a)
{
	const char *owner = json_string_value(json_object_get(a, "owner"));
	const char *def = json_string_value(json_object_get(a, "definition"));
	int64_t version = json_integer_value(json_object_get(a, "definition_version"));
	int64_t start = time_of(a, "timeslot_start"), end = time_of(a, "timeslot_end");
	int is_pool = json_is_true(json_object_get(a, "pool"));
	json_t *hooks = json_object_get(a, "hooks"), *timeouts = json_object_get(a, "timeouts");
	json_t *resources = json_object_get(a, "resources");
	const char *trace = json_string_value(json_object_get(a, "trace"));
	int changed = 0;

	if (strcmp(i->owner, owner ? owner : "") != 0 ||
	    strcmp(i->definition, def ? def : "") != 0 || i->definition_version != version ||
	    i->slot_start != start || i->slot_end != end || i->is_pool != is_pool)
		changed = 1;
	snprintf(i->owner, sizeof(i->owner), "%s", owner ? owner : "");
	snprintf(i->definition, sizeof(i->definition), "%s", def ? def : "");
	i->definition_version = version;
	i->slot_start = start;
	i->slot_end = end;
	i->is_pool = is_pool;
	/* The server's word on the trace its hooks continue; a malformed one is none. */
	if (trace == NULL || traceparent_parse(trace, strlen(trace), &i->trace) != 0)
		i->trace.is_valid = 0;
	if (json_is_object(hooks) && !json_equal(hooks, i->hooks)) {
		json_decref(i->hooks);
		i->hooks = json_incref(hooks);
		changed = 1;
	}
	if (json_is_object(timeouts) && !json_equal(timeouts, i->timeouts)) {
		json_decref(i->timeouts);
		i->timeouts = json_incref(timeouts);
		changed = 1;
	}
	if (json_is_object(resources) && !json_equal(resources, i->resources)) {
		json_decref(i->resources);
		i->resources = json_incref(resources);
		changed = 1;
	}
	return changed;
}

/* ---- the public face ---- */

struct work *
work_new(const struct agent_config *c, struct proto *pr)
{
	struct work *w = calloc(1, sizeof(*w));
	char path[PATH_BUF_MAX];

	if (w == NULL)
		return NULL;
	w->cfg = c;
	w->pr = pr;
	if (hooks_env_init(w) != 0) {
		free(w);
		return NULL;
	}
	if (path_fmt(path, sizeof(path), "%s/instances", c->work_dir) == 0)
		mkdir(path, 0750);
	return w;
}

void
work_free(struct work *w)
{
	struct inst *i, *next;

	if (w == NULL)
		return;
	for (i = w->list; i != NULL; i = next) {
		next = i->next;
		if (i->is_dirty)
			records_write(i);
		inst_free(i);
	}
	free(w->env);
	free(w);
}

void
work_apply(struct work *w, json_t *answer)
{
	json_t *items = json_object_get(answer, "instances"), *a;
	struct inst *i;
	size_t k;

	if (!json_is_array(items))
		return;
	for (i = w->list; i != NULL; i = i->next)
		i->is_listed = 0;
	json_array_foreach(items, k, a) {
		int64_t id = json_integer_value(json_object_get(a, "id"));
		int64_t attempt = json_integer_value(json_object_get(a, "attempt"));
		enum inst_state st;
		char ids[ID_BUF];

		if (id <= 0 || inst_state_parse(json_string_value(json_object_get(a, "state")),
		    &st) != 0)
			continue;
		i = inst_find(w, id);
		if (i != NULL && i->attempt != attempt) {
			/* An earlier placement of the same instance: it goes first, then this one. */
			i->is_gone = 1;
			i->is_stale = 0;
			i->is_listed = 0;
			json_array_clear(i->queue);
			inst_mark(i);
			continue;
		}
		if (i == NULL) {
			i = inst_new(w, id, attempt);
			if (i == NULL)
				continue;
			i->local = st;
			inst_update(i, a);
			i->server = st;
			i->is_listed = 1;
			id_str(id, ids, sizeof(ids));
			log_info("agent.assigned", "instance", ids, "state", inst_state_name(st),
			    "definition", i->definition, NULL);
			/* Past scheduled and unknown here: whatever ran it is not this agent's. */
			if (st != INST_SCHEDULED)
				reports_fail(w, i, "agent_lost: the agent has no record of it", NULL);
			inst_mark(i);
			continue;
		}
		if (inst_update(i, a))
			inst_mark(i);
		i->server = st;
		i->is_listed = 1;
		if (i->is_stale) {
			i->is_stale = 0;
			i->local = st;	/* a refused report: the server's word is the state */
			inst_mark(i);
		}
		/* The server moved it on its own (the clock, an operator, a claim): take its word. */
		if (json_array_size(i->queue) == 0 && st != i->local && !i->is_gone) {
			id_str(id, ids, sizeof(ids));
			log_info("agent.moved", "instance", ids, "from", inst_state_name(i->local), "to",
			    inst_state_name(st), NULL);
			i->local = st;
			inst_mark(i);
		}
	}
	/* No longer listed: terminated, failed, or placed elsewhere; unless it ended here. */
	for (i = w->list; i != NULL; i = i->next) {
		if (i->is_listed || i->is_gone)
			continue;
		if (i->local == INST_STOPPED && json_array_size(i->queue) == 0)
			continue;
		i->is_gone = 1;
		i->is_stale = 0;	/* nothing to wait for: the server will say no more of it */
		json_array_clear(i->queue);
		inst_mark(i);
	}
	/* What the agent now holds is on disk before it next speaks to the server. */
	for (i = w->list; i != NULL; i = i->next)
		if (i->is_dirty)
			records_write(i);
}

void
work_reap(struct work *w)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct inst *i = w->list; i != NULL; i = i->next) {
			if (i->has_proc && !i->proc.is_adopted && i->proc.shim == pid) {
				hooks_ended(i);
				break;
			}
		}
	}
}

int64_t
work_step(struct work *w, int64_t now, int *want_work)
{
	int64_t wait = 60000;
	struct inst *i, *next;
	int is_log_time = now - w->logs_at >= w->cfg->heartbeat_ms;

	if (is_log_time)
		w->logs_at = now;
	for (i = w->list; i != NULL; i = next) {
		int64_t iw;

		next = i->next;
		/*
		 * Steps follow each other at once until the instance waits for
		 * something; each report goes out as soon as it is made, before the
		 * next hook starts, so the server hears of a step when it happens.
		 * While the server is away, nothing is sent (its heartbeat looks
		 * for it) and the steps go on: the reports wait in order.
		 */
		for (int round = 0; round < 16; round++) {
			size_t queued = json_array_size(i->queue);

			iw = step_instance(w, i, now);
			assert(iw >= -1);
			if (json_array_size(i->queue) > queued)
				reports_flush(w, i, want_work);
			if (iw != 0)
				break;
		}
		reports_flush(w, i, want_work);
		/* What hooks printed: each heartbeat, and whatever an away server missed. */
		if (!w->pr->is_away && (is_log_time || iw < 0))
			for (int h = 0; h < HOOK_COUNT && !w->pr->is_away; h++)
				hooks_upload_log(w, i, (enum hook)h, !(i->has_proc && (int)i->proc.hook == h));
		if (iw < 0 && json_array_size(i->queue) == 0) {
			inst_forget(w, i);
			*want_work = 1;	/* a later placement of it may be waiting */
			continue;
		}
		if (i->is_dirty)
			records_write(i);
		if (iw >= 0)
			wait = min_wait(wait, iw);
		else
			wait = min_wait(wait, 1000);	/* reports wait: try again soon */
	}
	return wait;
}

/*
 * Is the event only the echo of this agent's own step (an instance it has,
 * moved to the state it already holds it in)? Then there is nothing to ask
 * the server: every report comes back as an event, and asking each time
 * would double the agent's requests.
 */
int
work_is_echo(const struct work *w, json_t *ev)
{
	json_t *data = json_object_get(ev, "data");
	json_t *in = json_object_get(data, "instance");
	const char *to = json_string_value(json_object_get(data, "to"));
	int64_t id = json_integer_value(json_object_get(in, "id"));
	enum inst_state st;

	if (to == NULL || id <= 0 || inst_state_parse(to, &st) != 0)
		return 0;
	for (const struct inst *i = w->list; i != NULL; i = i->next)
		if (i->id == id)
			return i->local == st && i->attempt ==
			    json_integer_value(json_object_get(in, "attempt")) && !i->is_stale;
	return 0;
}

/*
 * Nothing of a fenced instance may run: its hook's group gets SIGKILL (no
 * grace: it would come out of the lease), then whatever is left of it, in
 * its cgroup or under its uid. It fails, its report waiting for the server;
 * its local state is failed from now on, in its record too, so no hook of
 * it starts again, after a restart either. Its stop hook, if it was
 * instantiated, runs to clean up once the server has answered (step.c).
 */
int
work_fence_one(struct work *w, struct inst *i, const char *reason)
{
	int is_over = i->local == INST_STOPPED || i->local == INST_FAILED ||
	    i->local == INST_TERMINATED;
	char id[ID_BUF];

	if (i->has_proc)
		hooks_stop(i, KILL_GONE);
	if (is_over && !i->has_proc)
		return 0;
	cg_kill(i);
	if (i->has_user)
		hookuser_kill_all(i->hook_uid);
	if (is_over || i->is_gone)
		return 0;
	id_str(i->id, id, sizeof(id));
	log_warn("agent.fenced", "instance", id, "state", inst_state_name(i->local),
	    "detail", reason, NULL);
	i->is_stale = 0;	/* the failure goes whatever the server said last */
	reports_fail(w, i, reason, NULL);
	/* The server takes it as for a lost worker: its on_worker_loss says what next. */
	json_object_set_new(json_array_get(i->queue, json_array_size(i->queue) - 1),
	    "fenced", json_true());
	records_write(i);
	return 1;
}

size_t
work_fence(struct work *w, const char *reason)
{
	size_t n = 0;

	for (struct inst *i = w->list; i != NULL; i = i->next)
		n += (size_t)work_fence_one(w, i, reason);
	return n;
}

size_t
work_count(const struct work *w, size_t *running)
{
	size_t n = 0;

	*running = 0;
	for (const struct inst *i = w->list; i != NULL; i = i->next) {
		n++;
		if (i->has_proc)
			(*running)++;
	}
	return n;
}
