/*
 * An instance's hooks, as the agent sees them: the environment a hook gets,
 * the user it runs as (hookuser.c), starting one under its shim (shim.c),
 * hearing of its end (a SIGCHLD, or a look at a shim an earlier agent
 * started), ending one that must stop, and sending what it printed to the
 * server.
 *
 * What a hook's end means for the instance is step.c's; the timeout and the
 * grace are the shim's. Nothing here waits for a hook or blocks the loop on
 * one: a shim is started and left to run, and its status is read from the
 * file it leaves.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "work.h"

extern char **environ;

/* A hook's output sent in one call at most (the rest goes at the next). */
#define LOG_UPLOAD_MAX (200 * 1024)

int
hooks_has(const struct inst *i, enum hook h)
{
	json_t *a = json_object_get(i->hooks, hook_name(h));

	return json_is_array(a) && json_array_size(a) > 0;
}

int64_t
hooks_timeout(const struct inst *i, enum hook h)
{
	const char *t = json_string_value(json_object_get(i->timeouts, hook_name(h)));
	int64_t ms = 0;

	if (t == NULL || duration_parse(t, &ms) != 0)
		return 0;
	return ms;
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
 * passed sockets are the agent's), and a trace the agent itself was started
 * in (each hook is given its own TRACEPARENT).
 */
static int
is_agents_own(const char *e)
{
	static const char *const prefixes[] = { "OUTPOST_", "NOTIFY_SOCKET=", "WATCHDOG_PID=",
		"WATCHDOG_USEC=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "TRACEPARENT=",
		"TRACESTATE=", NULL };

	for (int i = 0; prefixes[i] != NULL; i++)
		if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

int
hooks_env_init(struct work *w)
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

/* The OUTPOST_* (and TRACEPARENT) a hook is given, after the agent's environment. */
#define ENV_ADDED_MAX 16

/* Caller frees the array and the strings it added (those past w->nenv). */
static char **
env_for(struct work *w, const struct inst *i, enum hook h, size_t *added)
{
	char **env = calloc(w->nenv + ENV_ADDED_MAX, sizeof(char *));
	char tp[TRACEPARENT_BUF];
	char buf[ID_BUF], t[40], work_dir[PATH_BUF_MAX];
	size_t n = w->nenv;

	if (env == NULL)
		return NULL;
	if (inst_path(i, "work", "", work_dir, sizeof(work_dir)) != 0) {
		free(env);
		return NULL;
	}
	memcpy(env, w->env, w->nenv * sizeof(char *));
	env[n++] = env_pair("OUTPOST_INSTANCE_ID", id_str(i->id, buf, sizeof(buf)));
	env[n++] = env_pair("OUTPOST_DEFINITION", i->definition);
	env[n++] = env_pair("OUTPOST_DEFINITION_VERSION",
	    id_str(i->definition_version, buf, sizeof(buf)));
	env[n++] = env_pair("OUTPOST_ATTEMPT", id_str(i->attempt, buf, sizeof(buf)));
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
	/* W3C Trace Context: the hook's own span, for the spans the hook makes. */
	if (i->hook_span.ctx.is_valid)
		env[n++] = env_pair("TRACEPARENT", traceparent_format(&i->hook_span.ctx, tp,
		    sizeof(tp)));
	/* The last slot stays NULL: the end of the array. */
	assert(n < w->nenv + ENV_ADDED_MAX);
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

/* ---- a hook's start and end ---- */

/*
 * The user the instance's hooks run as, "UID:GID" into arg: the one it was
 * given, else one picked now (no other instance of the agent's holds it),
 * to whom its work directory goes. "" when hooks run as the agent's user.
 */
static int
hook_user(struct work *w, struct inst *i, char *arg, size_t n, char *err, size_t errlen)
{
	char work_dir[PATH_BUF_MAX];
	uid_t *taken = NULL, uid;
	gid_t gid;
	size_t ntaken = 0, cap = 0;

	arg[0] = '\0';
	if (!hookuser_is_on())
		return 0;
	if (!i->has_user) {
		for (struct inst *o = w->list; o != NULL; o = o->next) {
			if (!o->has_user)
				continue;
			if (array_grow(&taken, &cap, ntaken, sizeof(*taken)) != 0) {
				free(taken);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			taken[ntaken++] = o->hook_uid;
		}
		if (hookuser_pick(taken, ntaken, &uid, &gid, err, errlen) != 0) {
			free(taken);
			return -1;
		}
		free(taken);
		if (inst_path(i, "work", "", work_dir, sizeof(work_dir)) != 0 ||
		    hookuser_give_dir(i->dir, work_dir, uid, gid) != 0) {
			snprintf(err, errlen, "cannot give its work directory to uid %u: %s",
			    (unsigned)uid, strerror(errno));
			return -1;
		}
		i->has_user = 1;
		i->hook_uid = uid;
		i->hook_gid = gid;
		inst_mark(i);
		records_write(i);	/* before a hook runs as it, the user is the instance's */
	}
	/* Never root: a hook user is of hook_uids or hook_user, both checked to be other. */
	assert(i->hook_uid != 0 && i->hook_gid != 0);
	snprintf(arg, n, "%u:%u", (unsigned)i->hook_uid, (unsigned)i->hook_gid);
	return 0;
}

int
hooks_start(struct work *w, struct inst *i, enum hook h)
{
	json_t *argv_j = json_object_get(i->hooks, hook_name(h));
	size_t n = json_array_size(argv_j), added = 0;
	char **argv, **env;
	char err[512], id[ID_BUF], path[PATH_BUF_MAX], user[HOOKUSER_ARG_BUF];
	int64_t before = i->log_sent[h];
	struct stat sb;
	int rc;

	/* One hook at a time, and the last one's end acted on before the next starts. */
	assert(!i->has_proc && !i->has_result);
	assert(before >= 0);
	argv = calloc(n + 1, sizeof(char *));
	if (argv == NULL)
		return -1;
	for (size_t k = 0; k < n; k++)
		argv[k] = (char *)json_string_value(json_array_get(argv_j, k));
	if (hook_user(w, i, user, sizeof(user), err, sizeof(err)) != 0) {
		char reason[600];

		free(argv);
		id_str(i->id, id, sizeof(id));
		log_error("agent.hook", "instance", id, "hook", hook_name(h), "error", err, NULL);
		snprintf(reason, sizeof(reason), "hook_failed: cannot start %s: %s", hook_name(h), err);
		if (!i->is_cleaning)
			reports_fail(w, i, reason, json_pack("{s:s}", "hook", hook_name(h)));
		return -1;
	}
	/* Its span, when the server gave the instance a trace (its placement's span). */
	memset(&i->hook_span, 0, sizeof(i->hook_span));
	if (i->trace.is_valid) {
		char name[SPAN_NAME_BUF];

		snprintf(name, sizeof(name), "hook %s", hook_name(h));
		span_begin(&i->hook_span, name, SPAN_INTERNAL, &i->trace);
		span_str(&i->hook_span, "outpost.hook", hook_name(h));
		span_int(&i->hook_span, "outpost.instance_id", i->id);
		span_int(&i->hook_span, "outpost.attempt", i->attempt);
		span_str(&i->hook_span, "outpost.definition", i->definition);
	}
	env = env_for(w, i, h, &added);
	if (env == NULL || n == 0) {
		free(argv);
		free(env);
		snprintf(err, sizeof(err), "hook_failed: cannot start %s: out of memory", hook_name(h));
		reports_fail(w, i, err, json_pack("{s:s}", "hook", hook_name(h)));
		return -1;
	}
	/* A hook that ran before in this attempt: its output goes on after the earlier run's. */
	if (inst_path(i, hook_name(h), ".log", path, sizeof(path)) == 0 && stat(path, &sb) == 0 &&
	    sb.st_size > before)
		before = sb.st_size;
	/* Its cgroup first (cgroup.c): a hook that cannot be contained does not start. */
	rc = cg_prepare(i, err, sizeof(err));
	if (rc == 0)
		rc = shim_start(&i->proc, h, argv, env, i->dir, hooks_timeout(i, h),
		    w->cfg->kill_grace_ms, user[0] != '\0' ? user : NULL, err, sizeof(err));
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
			reports_fail(w, i, reason, json_pack("{s:s}", "hook", hook_name(h)));
		return -1;
	}
	i->has_proc = 1;
	i->log_base[h] += before;
	i->log_sent[h] = 0;
	if (h == HOOK_INSTANTIATE)
		i->is_instantiated = 1;
	log_info("agent.hook_started", "instance", id, "hook", hook_name(h), NULL);
	inst_mark(i);
	return 0;
}

void
hooks_ended(struct inst *i)
{
	struct hook_result r;
	char id[ID_BUF], how[32];

	assert(i->has_proc);
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
	if (r.has_code)
		snprintf(how, sizeof(how), "exit %d", r.code);
	else
		snprintf(how, sizeof(how), "signal %d", r.signal);
	log_info("agent.hook_ended", "instance", id, "hook", hook_name(i->proc.hook), "status",
	    how, NULL);
	/* Its span ends with it (none for a hook an earlier agent started: its start is lost). */
	if (i->hook_span.ctx.is_valid && i->hook_span.end_ns == 0) {
		span_str(&i->hook_span, "outpost.hook.status", how);
		if (r.timed_out)
			span_int(&i->hook_span, "outpost.hook.timed_out", 1);
		/* Ended by the agent (its slot's end, the instance gone) is no failure of it. */
		i->hook_span.is_error = i->proc.why == KILL_NONE && (!r.has_code || r.code != 0);
		span_end(&i->hook_span);
	}
	inst_mark(i);
}

/*
 * A hook runs; its shim keeps its timeout and grace. An adopted shim is not
 * our child: no SIGCHLD tells of its end, so it is looked at. Returns the
 * milliseconds until the next look.
 */
int64_t
hooks_watch(struct inst *i)
{
	struct proc *p = &i->proc;

	assert(i->has_proc);
	if (!p->is_adopted)
		return 60000;
	if (!shim_alive(p)) {
		hooks_ended(i);
		return 0;
	}
	return 500;
}

void
hooks_stop(struct inst *i, enum kill_why why)
{
	struct proc *p = &i->proc;

	assert(i->has_proc && why != KILL_NONE);
	if (why == KILL_GONE) {
		if (!p->is_killed) {
			p->why = KILL_GONE;
			p->is_killed = 1;
			proc_signal(p, SIGKILL);
			inst_mark(i);
		}
		return;
	}
	if (!p->is_termed) {
		p->why = why;
		shim_stop(p);
		inst_mark(i);
	}
}

/* ---- a hook's output ---- */

/* The server keeps each offset once: a piece sent twice (after a restart) is no harm. */
void
hooks_upload_log(struct work *w, struct inst *i, enum hook h, int is_final)
{
	char path[PATH_BUF_MAX], *buf;
	struct stat sb;
	ssize_t n;
	size_t len;
	int fd;

	assert(i->log_sent[h] >= 0);
	if (inst_path(i, hook_name(h), ".log", path, sizeof(path)) != 0 ||
	    stat(path, &sb) != 0 || sb.st_size <= i->log_sent[h])
		return;
	len = (size_t)(sb.st_size - i->log_sent[h]);
	if (len > LOG_UPLOAD_MAX)
		len = LOG_UPLOAD_MAX;
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
		inst_mark(i);
	}
	free(buf);
}
