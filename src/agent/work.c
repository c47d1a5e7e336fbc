/*
 * The instances an agent runs. Each is a struct inst with two states: the
 * server's (its last word, from agent/work) and the agent's own ("local":
 * where its hooks have brought it, reported or about to be). Reports wait
 * in a queue, in order, until the server takes them, so a server that is
 * away delays the reports but never the hooks.
 *
 * The server moves an instance on its own in a few ways (the slot ends or an
 * operator stops it: running → collecting; a warm instance is claimed or its
 * pool shrinks; it is terminated, fails, or goes back to pending when the
 * worker was lost): the agent adopts the server's state whenever none of its
 * reports is waiting, and an instance the server no longer lists is killed,
 * cleaned up (its stop hook, if it was instantiated) and forgotten.
 *
 * What the agent knows of an instance is written to its record.json at
 * every change, so an agent that restarts finds its hooks (they run under
 * shims that outlive it) and its unsent reports.
 *
 * Everything here runs on the agent's one loop and never waits for a hook.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

extern char **environ;

struct inst {
	int64_t id;
	int64_t attempt;
	char dir[1100];

	/* the server's last word */
	enum inst_state server;
	int is_listed;
	char owner[160];
	char definition[80];
	int64_t definition_version;
	int64_t slot_start;
	int64_t slot_end;
	int is_pool;
	json_t *hooks;		/* {"run": [...], ...} */
	json_t *timeouts;	/* {"instantiate": "2m", ...} */

	/* the agent's own */
	enum inst_state local;
	int has_proc;
	struct proc proc;
	int has_result;		/* a hook ended and its end is not acted on yet */
	struct hook_result result;
	enum hook result_hook;
	enum kill_why result_why;
	int64_t result_started_ms;
	int is_instantiated;	/* instantiate began: the stop hook cleans up after it */
	int64_t instantiate_ms;	/* how long instantiate took (0: none); -1: not known */
	int ran[HOOK_COUNT];	/* hooks that ran to their end this attempt */
	int is_gone;		/* not this agent's any more: kill, clean up, forget */
	int is_cleaning;	/* its stop hook runs to clean up, not as a step */
	int is_stale;		/* the server refused a report: wait for its word (agent/work) */
	json_t *queue;		/* reports not yet taken by the server */
	int64_t log_sent[HOOK_COUNT];	/* bytes of HOOK.log the server has */
	int64_t log_base[HOOK_COUNT];	/* the log offset of HOOK.log's start (earlier runs) */
	int is_dirty;

	struct inst *next;
};

struct work {
	const struct agent_config *cfg;
	struct proto *pr;
	struct inst *list;
	char **env;		/* the agent's environment without OUTPOST_* settings */
	size_t nenv;
	int64_t logs_at;	/* the last upload of running hooks' output */
};

static void record_write(struct work *w, struct inst *i);

/* ---- small helpers ---- */

static int
hook_has(const struct inst *i, enum hook h)
{
	json_t *a = json_object_get(i->hooks, hook_name(h));

	return json_is_array(a) && json_array_size(a) > 0;
}

static int64_t
hook_timeout(const struct inst *i, enum hook h)
{
	const char *t = json_string_value(json_object_get(i->timeouts, hook_name(h)));
	int64_t ms = 0;

	if (t == NULL || duration_parse(t, &ms) != 0)
		return 0;
	return ms;
}

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
str_eq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

static void
mark(struct inst *i)
{
	i->is_dirty = 1;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
id_str(int64_t id, char *buf, size_t n)
{
	snprintf(buf, n, "%lld", (long long)id);
}

/* ---- the environment of hooks ---- */

static char *
env_pair(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s=%s", k, v);
	return p;
}

/*
 * What of the agent's environment a hook does not get: the agent's own
 * settings (OUTPOST_*), and what systemd gave the agent alone (a hook that
 * wrote to NOTIFY_SOCKET would speak for the unit; the watchdog and the
 * passed sockets are the agent's).
 */
static int
is_agents_own(const char *e)
{
	static const char *const prefixes[] = { "OUTPOST_", "NOTIFY_SOCKET=", "WATCHDOG_PID=",
		"WATCHDOG_USEC=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", NULL };

	for (int i = 0; prefixes[i] != NULL; i++)
		if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

static int
env_init(struct work *w)
{
	size_t n = 0;

	for (char **e = environ; *e != NULL; e++)
		n++;
	w->env = calloc(n + 1, sizeof(char *));
	if (w->env == NULL)
		return -1;
	for (char **e = environ; *e != NULL; e++)
		if (!is_agents_own(*e))
			w->env[w->nenv++] = *e;
	return 0;
}

/* Caller frees the array and the strings it added (those past w->nenv). */
static char **
env_for(struct work *w, const struct inst *i, enum hook h, size_t *added)
{
	char **env = calloc(w->nenv + 16, sizeof(char *));
	char buf[64], t[40], work_dir[1200];
	size_t n = w->nenv;

	if (env == NULL)
		return NULL;
	memcpy(env, w->env, w->nenv * sizeof(char *));
	snprintf(work_dir, sizeof(work_dir), "%s/work", i->dir);
	id_str(i->id, buf, sizeof(buf));
	env[n++] = env_pair("OUTPOST_INSTANCE_ID", buf);
	env[n++] = env_pair("OUTPOST_DEFINITION", i->definition);
	id_str(i->definition_version, buf, sizeof(buf));
	env[n++] = env_pair("OUTPOST_DEFINITION_VERSION", buf);
	id_str(i->attempt, buf, sizeof(buf));
	env[n++] = env_pair("OUTPOST_ATTEMPT", buf);
	env[n++] = env_pair("OUTPOST_HOOK", hook_name(h));
	env[n++] = env_pair("OUTPOST_WORKER", w->cfg->name);
	env[n++] = env_pair("OUTPOST_WORK_DIR", work_dir);
	/* A pool's instance has no owner or slot yet: they come when it is claimed. */
	env[n++] = env_pair("OUTPOST_WARM_POOL", i->is_pool ? "1" : "0");
	env[n++] = env_pair("OUTPOST_OWNER", i->is_pool ? "" : i->owner);
	env[n++] = env_pair("OUTPOST_TIMESLOT_START", i->is_pool ? "" :
	    time_format_ms(i->slot_start, t, sizeof(t), 0));
	env[n++] = env_pair("OUTPOST_TIMESLOT_END", i->is_pool ? "" :
	    time_format_ms(i->slot_end, t, sizeof(t), 0));
	*added = n - w->nenv;
	for (size_t k = w->nenv; k < n; k++) {
		if (env[k] == NULL) {
			for (size_t j = w->nenv; j < n; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	}
	return env;
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

static struct inst *
inst_new(struct work *w, int64_t id, int64_t attempt)
{
	struct inst *i = calloc(1, sizeof(*i));
	char path[1200];

	if (i == NULL)
		return NULL;
	i->id = id;
	i->attempt = attempt;
	i->instantiate_ms = -1;
	i->queue = json_array();
	i->hooks = json_object();
	i->timeouts = json_object();
	snprintf(i->dir, sizeof(i->dir), "%s/instances/%lld", w->cfg->work_dir, (long long)id);
	mkdir(i->dir, 0750);
	snprintf(path, sizeof(path), "%s/work", i->dir);
	mkdir(path, 0750);
	i->next = w->list;
	w->list = i;
	return i;
}

static void
inst_free(struct inst *i)
{
	json_decref(i->queue);
	json_decref(i->hooks);
	json_decref(i->timeouts);
	free(i);
}

/* Forgets the instance: its directory goes (its log is on the server). */
static void
inst_forget(struct work *w, struct inst *i)
{
	char id[24];

	for (struct inst **p = &w->list; *p != NULL; p = &(*p)->next) {
		if (*p == i) {
			*p = i->next;
			break;
		}
	}
	id_str(i->id, id, sizeof(id));
	log_info("agent.forgot", "instance", id, "state", inst_state_name(i->local), NULL);
	rm_tree(i->dir);
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
	return changed;
}

/* Queues the report from the agent's state to `to`, and moves there. Takes exitj. */
static void
report(struct work *w, struct inst *i, enum inst_state to, const char *reason, json_t *exitj,
    json_t *grade)
{
	json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", w->cfg->name, "from",
	    inst_state_name(i->local), "to", inst_state_name(to), "reason", reason,
	    "attempt", (json_int_t)i->attempt);
	char id[24];

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
	mark(i);
}

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

static void
fail(struct work *w, struct inst *i, const char *reason, json_t *exitj)
{
	report(w, i, INST_FAILED, reason, exitj, NULL);
}

/* ---- hooks ---- */

static int
start_hook(struct work *w, struct inst *i, enum hook h)
{
	json_t *argv_j = json_object_get(i->hooks, hook_name(h));
	size_t n = json_array_size(argv_j), added = 0;
	char **argv = calloc(n + 1, sizeof(char *)), **env;
	char err[512], id[24], path[1200];
	int64_t before = i->log_sent[h];
	struct stat sb;
	int rc;

	if (argv == NULL)
		return -1;
	for (size_t k = 0; k < n; k++)
		argv[k] = (char *)json_string_value(json_array_get(argv_j, k));
	env = env_for(w, i, h, &added);
	if (env == NULL || n == 0) {
		free(argv);
		free(env);
		snprintf(err, sizeof(err), "hook_failed: cannot start %s: out of memory", hook_name(h));
		fail(w, i, err, json_pack("{s:s}", "hook", hook_name(h)));
		return -1;
	}
	/* A hook that ran before in this attempt: its output goes on after the earlier run's. */
	snprintf(path, sizeof(path), "%s/%s.log", i->dir, hook_name(h));
	if (stat(path, &sb) == 0 && sb.st_size > before)
		before = sb.st_size;
	rc = shim_start(&i->proc, h, argv, env, i->dir, hook_timeout(i, h), w->cfg->kill_grace_ms,
	    err, sizeof(err));
	for (size_t k = w->nenv; k < w->nenv + added; k++)
		free(env[k]);
	free(env);
	free(argv);
	id_str(i->id, id, sizeof(id));
	if (rc != 0) {
		char reason[600];

		log_error("agent.hook", "instance", id, "hook", hook_name(h), "error", err, NULL);
		snprintf(reason, sizeof(reason), "hook_failed: %s", err);
		if (!i->is_cleaning)
			fail(w, i, reason, json_pack("{s:s}", "hook", hook_name(h)));
		return -1;
	}
	i->has_proc = 1;
	i->log_base[h] += before;
	i->log_sent[h] = 0;
	if (h == HOOK_INSTANTIATE)
		i->is_instantiated = 1;
	log_info("agent.hook_started", "instance", id, "hook", hook_name(h), NULL);
	mark(i);
	return 0;
}

/* The hook ended: take its result from the shim's file. */
static void
proc_ended(struct inst *i)
{
	struct hook_result r;
	char id[24];

	if (shim_result(i->dir, i->proc.hook, &r) != 0) {
		/* No status: the shim was killed (by hand, or a cgroup's end); its hook goes too. */
		proc_kill_orphan(&i->proc);
		memset(&r, 0, sizeof(r));
		r.signal = SIGKILL;
	}
	i->has_proc = 0;
	i->has_result = 1;
	i->result = r;
	i->result_hook = i->proc.hook;
	i->result_why = i->proc.why;
	i->result_started_ms = i->proc.started_ms;
	id_str(i->id, id, sizeof(id));
	{
		char how[32];

		if (r.has_code)
			snprintf(how, sizeof(how), "exit %d", r.code);
		else
			snprintf(how, sizeof(how), "signal %d", r.signal);
		log_info("agent.hook_ended", "instance", id, "hook", hook_name(i->proc.hook), "status",
		    how, NULL);
	}
	mark(i);
}

/* Sends what a hook printed since the last time; the server keeps each offset once. */
static void
upload_log(struct work *w, struct inst *i, enum hook h, int is_final)
{
	char path[1200], *buf;
	struct stat sb;
	ssize_t n;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.log", i->dir, hook_name(h));
	if (stat(path, &sb) != 0 || sb.st_size <= i->log_sent[h])
		return;
	len = (size_t)(sb.st_size - i->log_sent[h]);
	if (len > 200 * 1024)
		len = 200 * 1024;
	buf = malloc(len + 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (buf == NULL || fd < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return;
	}
	n = pread(fd, buf, len, i->log_sent[h]);
	close(fd);
	if (n <= 0) {
		free(buf);
		return;
	}
	len = (size_t)n;
	/* A hook still writing may have cut a character in two: keep its start for next time. */
	if (!is_final) {
		size_t cut = len;

		while (cut > 0 && ((unsigned char)buf[cut - 1] & 0xc0) == 0x80)
			cut--;
		if (cut > 0 && ((unsigned char)buf[cut - 1] & 0xc0) == 0xc0)
			len = cut - 1;
	}
	if (len > 0 && proto_log(w->pr, i->id, i->attempt, h, i->log_base[h] + i->log_sent[h], buf,
	    len) != CALL_RETRY) {
		i->log_sent[h] += (int64_t)len;
		mark(i);
	}
	free(buf);
}

/* The grade: one JSON object on the grade hook's stdout, or NULL. */
static json_t *
read_grade(const struct inst *i)
{
	char path[1200];
	json_t *g;

	snprintf(path, sizeof(path), "%s/grade.out", i->dir);
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
	int is_ok = r->has_code && r->code == 0;
	char reason[300], d[32];

	i->has_result = 0;
	if (!w->pr->is_away)
		upload_log(w, i, h, 1);
	mark(i);
	/* The stop hook runs once, as a step or to clean up, however it ends. */
	if (h == HOOK_STOP)
		i->ran[HOOK_STOP] = 1;
	if (i->is_cleaning) {
		i->is_cleaning = 0;
		return;
	}
	if (i->result_why == KILL_GONE)
		return;
	if (h == HOOK_RUN && i->result_why == KILL_END) {
		i->ran[HOOK_RUN] = 1;
		return;		/* stopped for collection: the slot ended or an operator said */
	}
	if (r->timed_out) {
		snprintf(reason, sizeof(reason), "hook_timeout: %s ran past its timeout of %s",
		    hook_name(h), duration_format(hook_timeout(i, h), d, sizeof(d)));
		fail(w, i, reason, exit_of(h, r, 1));
		return;
	}
	if (h == HOOK_RUN) {
		i->ran[HOOK_RUN] = 1;
		/* run ending with its slot (a second's leeway for clocks) is its normal end. */
		if (i->local == INST_RUNNING && now >= i->slot_end - 1000) {
			report(w, i, INST_COLLECTING, "run ended with its slot", NULL, NULL);
			return;
		}
		if (i->local != INST_RUNNING)
			return;
		if (r->has_code)
			snprintf(reason, sizeof(reason), "run_exited: run exited with code %d before "
			    "the end of its slot", r->code);
		else
			snprintf(reason, sizeof(reason), "run_exited: run was killed by signal %d "
			    "before the end of its slot", r->signal);
		fail(w, i, reason, exit_of(h, r, 0));
		return;
	}
	if (!is_ok) {
		hook_failure_reason(reason, sizeof(reason), h, r);
		fail(w, i, reason, exit_of(h, r, 0));
		return;
	}
	i->ran[h] = 1;
	if (h == HOOK_INSTANTIATE)
		i->instantiate_ms = now > i->result_started_ms ? now - i->result_started_ms : 0;
}

/* ---- the step of one instance ---- */

static int64_t
min_wait(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * A hook runs; its shim keeps its timeout and grace. An adopted shim is not
 * our child: no SIGCHLD tells of its end, so it is looked at. Returns the
 * milliseconds until the next look.
 */
static int64_t
watch_proc(struct inst *i)
{
	struct proc *p = &i->proc;

	if (!p->is_adopted)
		return 60000;
	if (!shim_alive(p)) {
		proc_ended(i);
		return 0;
	}
	return 500;
}

/* Ends the hook: at once (gone), or through its shim, SIGTERM then SIGKILL after the grace. */
static void
stop_proc(struct inst *i, enum kill_why why)
{
	struct proc *p = &i->proc;

	if (why == KILL_GONE) {
		if (!p->is_killed) {
			p->why = KILL_GONE;
			p->is_killed = 1;
			proc_signal(p, SIGKILL);
			mark(i);
		}
		return;
	}
	if (!p->is_termed) {
		p->why = why;
		shim_stop(p);
		mark(i);
	}
}

/* Runs hook h if the definition has it and it has not run; 1 while it runs, 0 when done. */
static int
ensure_hook(struct work *w, struct inst *i, enum hook h)
{
	if (i->ran[h] || !hook_has(i, h)) {
		i->ran[h] = 1;
		return 0;
	}
	return start_hook(w, i, h) == 0 ? 1 : -1;
}

static int64_t
inst_step(struct work *w, struct inst *i, int64_t now)
{
	char reason[200];

	/* A refused report: what the agent believed is not so; nothing starts until it knows. */
	if (i->is_stale && !i->is_gone)
		return i->has_proc ? watch_proc(i) : 60000;
	if (i->has_proc) {
		/* What runs must stop when the instance went away or moved past its hook. */
		if (i->is_gone && i->proc.hook == HOOK_STOP && !i->is_cleaning) {
			i->is_cleaning = 1;	/* a stop hook under way finishes as the clean-up */
			mark(i);
		} else if (i->is_gone && !i->is_cleaning)
			stop_proc(i, KILL_GONE);
		else if (i->proc.hook == HOOK_RUN && i->local != INST_RUNNING)
			stop_proc(i, KILL_END);
		else if (i->proc.hook == HOOK_INSTANTIATE && i->local != INST_INSTANTIATING)
			stop_proc(i, KILL_GONE);
		return watch_proc(i);
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
		if (i->is_instantiated && !i->ran[HOOK_STOP] && hook_has(i, HOOK_STOP) &&
		    !i->is_cleaning) {
			i->is_cleaning = 1;
			if (start_hook(w, i, HOOK_STOP) == 0)
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
		snprintf(reason, sizeof(reason), hook_has(i, HOOK_INSTANTIATE) ?
		    "the agent of %s runs instantiate" : "the agent of %s took it (no instantiate hook)",
		    w->cfg->name);
		report(w, i, INST_INSTANTIATING, reason, NULL, NULL);
		return 0;
	case INST_INSTANTIATING:
		if (ensure_hook(w, i, HOOK_INSTANTIATE) != 0)
			return 0;	/* it runs (or could not start, and failed) */
		if (!hook_has(i, HOOK_INSTANTIATE))
			i->instantiate_ms = 0;
		i->is_instantiated = 1;
		if (i->is_pool) {
			report(w, i, INST_WARM, "instantiated for the warm pool", NULL, NULL);
			return 0;
		}
		if (now < i->slot_start)
			return i->slot_start - now;	/* ready early: wait for the slot */
		report(w, i, INST_RUNNING, hook_has(i, HOOK_INSTANTIATE) ? "instantiated; run started" :
		    "run started", NULL, NULL);
		return 0;
	case INST_WARM:
		return 60000;
	case INST_RUNNING:
		if (!i->ran[HOOK_RUN] && start_hook(w, i, HOOK_RUN) == 0)
			return 0;
		return 60000;
	case INST_COLLECTING:
		if (ensure_hook(w, i, HOOK_COLLECT) != 0)
			return 0;
		if (hook_has(i, HOOK_GRADE))
			report(w, i, INST_GRADING, "collected", NULL, NULL);
		else
			report(w, i, INST_STOPPING, hook_has(i, HOOK_COLLECT) ? "collected (no grade hook)" :
			    "no collect or grade hook", NULL, NULL);
		return 0;
	case INST_GRADING: {
		json_t *g;

		if (ensure_hook(w, i, HOOK_GRADE) != 0)
			return 0;
		g = read_grade(i);
		if (g == NULL) {
			fail(w, i, "grade_invalid: the grade hook printed no JSON object on its stdout "
			    "(64 KiB at most)", json_pack("{s:s}", "hook", "grade"));
			return 0;
		}
		/* The bound is the server's: the object as JSON, compact (numbers may grow). */
		{
			char *text = json_dumps(g, JSON_COMPACT);
			size_t len = text ? strlen(text) : SIZE_MAX;

			free(text);
			if (len > GRADE_MAX) {
				json_decref(g);
				fail(w, i, "grade_invalid: the grade is larger than 64 KiB as compact JSON",
				    json_pack("{s:s}", "hook", "grade"));
				return 0;
			}
		}
		report(w, i, INST_STOPPING, "graded", NULL, g);
		json_decref(g);
		return 0;
	}
	case INST_STOPPING:
		if (ensure_hook(w, i, HOOK_STOP) != 0)
			return 0;
		report(w, i, INST_STOPPED, hook_has(i, HOOK_STOP) ? "stop hook done" : "no stop hook",
		    NULL, NULL);
		return 0;
	case INST_STOPPED:
		return json_array_size(i->queue) == 0 ? -1 : 60000;
	default:
		return 60000;
	}
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
	char reason[512], id[24];

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
static void
flush(struct work *w, struct inst *i, int *want_work)
{
	if (i->is_dirty)
		record_write(w, i);	/* what the agent did is on disk before it says so */
	while (json_array_size(i->queue) > 0 && !w->pr->is_away) {
		json_t *r0 = json_array_get(i->queue, 0);
		enum call c = proto_report(w->pr, i->id, r0);

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
		mark(i);
	}
	if (i->is_dirty)
		record_write(w, i);
}

/* ---- records ---- */

static json_t *
proc_json(const struct proc *p)
{
	return json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:b, s:b, s:i}", "hook",
	    hook_name(p->hook), "shim", (int)p->shim, "pgid", (int)p->pgid,
	    "shim_start", (json_int_t)p->shim_start, "hook_start", (json_int_t)p->hook_start,
	    "started", (json_int_t)p->started_ms, "termed", p->is_termed, "killed", p->is_killed,
	    "why", (int)p->why);
}

static void
record_write(struct work *w, struct inst *i)
{
	char path[1200], tmp[1210];
	json_t *r, *ran = json_array(), *sent = json_object(), *base = json_object();
	int rc;

	(void)w;
	for (int h = 0; h < HOOK_COUNT; h++) {
		if (i->ran[h])
			json_array_append_new(ran, json_string(hook_name((enum hook)h)));
		if (i->log_sent[h] > 0)
			json_object_set_new(sent, hook_name((enum hook)h), json_integer(i->log_sent[h]));
		if (i->log_base[h] > 0)
			json_object_set_new(base, hook_name((enum hook)h), json_integer(i->log_base[h]));
	}
	r = json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:O, s:O, s:O, s:o, s:o, "
	    "s:o, s:b, s:b, s:I}", "id", (json_int_t)i->id, "attempt", (json_int_t)i->attempt,
	    "local", inst_state_name(i->local), "owner", i->owner, "definition", i->definition,
	    "definition_version", (json_int_t)i->definition_version,
	    "slot_start", (json_int_t)i->slot_start, "slot_end", (json_int_t)i->slot_end,
	    "pool", i->is_pool, "hooks", i->hooks, "timeouts", i->timeouts, "queue", i->queue,
	    "ran", ran, "log_sent", sent, "log_base", base, "instantiated", i->is_instantiated,
	    "cleaning", i->is_cleaning, "instantiate_ms", (json_int_t)i->instantiate_ms);
	if (r == NULL)
		return;
	if (i->has_proc)
		json_object_set_new(r, "proc", proc_json(&i->proc));
	snprintf(path, sizeof(path), "%s/record.json", i->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = json_dump_file(r, tmp, JSON_COMPACT);
	json_decref(r);
	if (rc == 0 && rename(tmp, path) == 0)
		i->is_dirty = 0;
}

static struct inst *
record_read(struct work *w, const char *dir_name)
{
	char path[1400];
	json_t *r, *p, *v;
	struct inst *i;
	enum inst_state st;
	size_t k;
	int64_t id;

	if (parse_int64(dir_name, 1, INT64_MAX, &id) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/instances/%s/record.json", w->cfg->work_dir, dir_name);
	r = json_load_file(path, 0, NULL);
	if (r == NULL || inst_state_parse(json_string_value(json_object_get(r, "local")), &st) != 0 ||
	    json_integer_value(json_object_get(r, "id")) != id) {
		json_decref(r);
		return NULL;
	}
	i = inst_new(w, id, json_integer_value(json_object_get(r, "attempt")));
	if (i == NULL) {
		json_decref(r);
		return NULL;
	}
	i->local = st;
	i->server = st;
	snprintf(i->owner, sizeof(i->owner), "%s", json_string_value(json_object_get(r, "owner")) ?
	    json_string_value(json_object_get(r, "owner")) : "");
	snprintf(i->definition, sizeof(i->definition), "%s",
	    json_string_value(json_object_get(r, "definition")) ?
	    json_string_value(json_object_get(r, "definition")) : "");
	i->definition_version = json_integer_value(json_object_get(r, "definition_version"));
	i->slot_start = json_integer_value(json_object_get(r, "slot_start"));
	i->slot_end = json_integer_value(json_object_get(r, "slot_end"));
	i->is_pool = json_is_true(json_object_get(r, "pool"));
	i->is_instantiated = json_is_true(json_object_get(r, "instantiated"));
	i->is_cleaning = json_is_true(json_object_get(r, "cleaning"));
	i->instantiate_ms = json_is_integer(json_object_get(r, "instantiate_ms")) ?
	    json_integer_value(json_object_get(r, "instantiate_ms")) : -1;
	if (json_is_object(json_object_get(r, "hooks"))) {
		json_decref(i->hooks);
		i->hooks = json_incref(json_object_get(r, "hooks"));
	}
	if (json_is_object(json_object_get(r, "timeouts"))) {
		json_decref(i->timeouts);
		i->timeouts = json_incref(json_object_get(r, "timeouts"));
	}
	if (json_is_array(json_object_get(r, "queue"))) {
		json_decref(i->queue);
		i->queue = json_deep_copy(json_object_get(r, "queue"));
	}
	json_array_foreach(json_object_get(r, "ran"), k, v) {
		enum hook h;

		if (hook_parse(json_string_value(v), &h) == 0)
			i->ran[h] = 1;
	}
	for (int h = 0; h < HOOK_COUNT; h++) {
		i->log_sent[h] = json_integer_value(json_object_get(json_object_get(r, "log_sent"),
		    hook_name((enum hook)h)));
		i->log_base[h] = json_integer_value(json_object_get(json_object_get(r, "log_base"),
		    hook_name((enum hook)h)));
	}
	p = json_object_get(r, "proc");
	if (json_is_object(p) && hook_parse(json_string_value(json_object_get(p, "hook")),
	    &i->proc.hook) == 0) {
		i->proc.shim = (pid_t)json_integer_value(json_object_get(p, "shim"));
		i->proc.pgid = (pid_t)json_integer_value(json_object_get(p, "pgid"));
		i->proc.shim_start = (unsigned long long)json_integer_value(json_object_get(p,
		    "shim_start"));
		i->proc.hook_start = (unsigned long long)json_integer_value(json_object_get(p,
		    "hook_start"));
		i->proc.started_ms = json_integer_value(json_object_get(p, "started"));
		i->proc.is_termed = json_is_true(json_object_get(p, "termed"));
		i->proc.is_killed = json_is_true(json_object_get(p, "killed"));
		i->proc.why = (enum kill_why)json_integer_value(json_object_get(p, "why"));
		i->proc.is_adopted = 1;
		i->has_proc = 1;
	}
	json_decref(r);
	return i;
}

/* ---- the public face ---- */

struct work *
work_new(const struct agent_config *c, struct proto *pr)
{
	struct work *w = calloc(1, sizeof(*w));
	char path[1100];

	if (w == NULL)
		return NULL;
	w->cfg = c;
	w->pr = pr;
	if (env_init(w) != 0) {
		free(w);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/instances", c->work_dir);
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
			record_write(w, i);
		inst_free(i);
	}
	free(w->env);
	free(w);
}

/*
 * What an agent before us left: each record is read back; a hook whose shim
 * still runs is taken over, one whose shim ended has its result read, one
 * whose shim vanished without a word was lost (and its instance with it).
 * alive: the instances still had, for the server's sync.
 */
int
work_recover(struct work *w, int64_t **alive, size_t *n)
{
	char path[1100], id[24];
	struct dirent *de;
	size_t cap = 0, kept = 0, lost = 0;
	DIR *d;

	*alive = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/instances", w->cfg->work_dir);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct inst *i;
		int is_alive = 1;

		if (de->d_name[0] == '.')
			continue;
		i = record_read(w, de->d_name);
		if (i == NULL) {
			char dir[1400];

			/* No record, or one we cannot read: nothing of it can be resumed. */
			snprintf(dir, sizeof(dir), "%s/%s", path, de->d_name);
			log_warn("agent.unreadable_record", "dir", dir, NULL);
			rm_tree(dir);
			continue;
		}
		id_str(i->id, id, sizeof(id));
		if (i->has_proc && !shim_alive(&i->proc)) {
			struct hook_result r;

			if (shim_result(i->dir, i->proc.hook, &r) == 0) {
				proc_ended(i);	/* it ended while we were away: act on it now */
			} else {
				/* The shim went without a word: nothing watches its hook; it goes. */
				proc_kill_orphan(&i->proc);
				i->has_proc = 0;
				is_alive = 0;
			}
		}
		/* Ended here; still alive for the server while the report of its end waits. */
		if ((i->local == INST_STOPPED || i->local == INST_FAILED ||
		    i->local == INST_TERMINATED) && json_array_size(i->queue) == 0)
			is_alive = 0;
		if (is_alive) {
			if (array_grow(alive, &cap, *n, sizeof(**alive)) != 0)
				break;
			(*alive)[(*n)++] = i->id;
			kept++;
			log_info("agent.recovered", "instance", id, "state", inst_state_name(i->local),
			    "hook", i->has_proc ? hook_name(i->proc.hook) : "none", NULL);
		} else if (i->local != INST_STOPPED && i->local != INST_FAILED) {
			/* The server is told by its absence from alive; here it is cleaned up. */
			i->is_gone = 1;
			lost++;
			log_warn("agent.lost", "instance", id, "state", inst_state_name(i->local), NULL);
		}
		mark(i);
	}
	closedir(d);
	{
		char k[24], l[24];

		snprintf(k, sizeof(k), "%zu", kept);
		snprintf(l, sizeof(l), "%zu", lost);
		log_info("agent.recovery", "kept", k, "lost", l, NULL);
	}
	return 0;
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
		char ids[24];

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
			mark(i);
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
				fail(w, i, "agent_lost: the agent has no record of it", NULL);
			mark(i);
			continue;
		}
		if (inst_update(i, a))
			mark(i);
		i->server = st;
		i->is_listed = 1;
		if (i->is_stale) {
			i->is_stale = 0;
			i->local = st;	/* a refused report: the server's word is the state */
			mark(i);
		}
		/* The server moved it on its own (the clock, an operator, a claim): take its word. */
		if (json_array_size(i->queue) == 0 && st != i->local && !i->is_gone) {
			id_str(id, ids, sizeof(ids));
			log_info("agent.moved", "instance", ids, "from", inst_state_name(i->local), "to",
			    inst_state_name(st), NULL);
			i->local = st;
			mark(i);
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
		mark(i);
	}
	/* What the agent now holds is on disk before it next speaks to the server. */
	for (i = w->list; i != NULL; i = i->next)
		if (i->is_dirty)
			record_write(w, i);
}

void
work_reap(struct work *w)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct inst *i = w->list; i != NULL; i = i->next) {
			if (i->has_proc && !i->proc.is_adopted && i->proc.shim == pid) {
				proc_ended(i);
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

			iw = inst_step(w, i, now);
			if (json_array_size(i->queue) > queued)
				flush(w, i, want_work);
			if (iw != 0)
				break;
		}
		flush(w, i, want_work);
		/* What hooks printed: each heartbeat, and whatever an away server missed. */
		if (!w->pr->is_away && (is_log_time || iw < 0))
			for (int h = 0; h < HOOK_COUNT && !w->pr->is_away; h++)
				upload_log(w, i, (enum hook)h, !(i->has_proc && (int)i->proc.hook == h));
		if (iw < 0 && json_array_size(i->queue) == 0) {
			inst_forget(w, i);
			*want_work = 1;	/* a later placement of it may be waiting */
			continue;
		}
		if (i->is_dirty)
			record_write(w, i);
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
