/*
 * The scaler: makes each template's workers match its desired count, and
 * moves that count by itself when the template autoscales.
 *
 * Once a second (and soon after a kick) scaler_tick():
 *   1. reaps the programs it started and acts on how they ended;
 *   2. fails workers that did not register within provision_timeout;
 *   3. keeps the local provisioner's agents running;
 *   4. autoscales: adds workers when due pending instances fit no worker there
 *      is or is coming (sched_demand), removes workers idle past
 *      idle_timeout, down to min, once per cooldown;
 *   5. reconciles: provisions up to desired (not while a failure's backoff
 *      runs), and retires what is above it, idle workers first: a retiring
 *      worker is drained, and terminated once nothing is left on it;
 *   6. revokes the join tokens of workers that are gone.
 *
 * Every decision is a scaling.action event with its reason. What is kept in
 * memory only: backoffs, cooldowns and idle times, and the programs running.
 * After a restart a cooldown or a backoff starts over as spent (the
 * autoscaler may act, a failing provisioner is tried at once), an idle time
 * from the start; a removal a restart interrupted (a failed worker, or a
 * stopped one that is retiring) is started again. What must survive a
 * restart is in the workers table: the state, retiring, the token made for
 * the worker, and the local agent's pid and start time.
 *
 * Provisioners: local (outpost-agent processes on this host, supervised),
 * systemd (systemctl start|stop UNIT@NAME, with the agent's settings in an
 * environment file), command (the operator's provision, deprovision and
 * stop programs) and static (hosts started by hand: nothing to run).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "server.h"


#define MAX_PROVISION_PER_TICK 32
#define JOB_KILL_GRACE_MS 5000
#define AGENT_STOP_GRACE_MS 10000	/* SIGTERM, then SIGKILL, to a local agent */
#define AGENT_SEE_STOP_MS 15000		/* time for an agent with instances to end them itself */
#define AGENT_RESTART_MAX_MS 60000
#define BACKOFF_MAX_MS 3600000
#define DEPROVISION_TRIES 5

enum job_kind { JOB_PROVISION, JOB_DEPROVISION, JOB_STOP };
static const char *const job_names[] = { "provision", "deprovision", "stop" };

struct job {
	struct job *next;
	enum job_kind kind;
	pid_t pid;
	int64_t worker_id;
	char worker[64];
	char tmpl[TEMPLATE_NAME_MAX + 1];
	int64_t deadline;	/* SIGTERM to its group then; SIGKILL a grace later */
	int is_killed;
	int is_cancelled;	/* killed because its worker is being removed: not a failure */
	int is_done;
	int status;
	char log[1200];
};

struct tstate {
	struct tstate *next;
	char name[TEMPLATE_NAME_MAX + 1];
	int64_t last_action_at;	/* the autoscaler's last decision: the cooldown runs from it */
	int64_t last_fail_at;
	int64_t retry_at;	/* no provisioning before this (backoff) */
	int fails;		/* provisions failed in a row */
	int64_t drain_deadline_ms;	/* for the workers the next scale-down retires; 0: none */
	int is_seen;
};

struct wstate {
	struct wstate *next;
	int64_t id;
	int64_t busy_at;	/* last seen holding an instance (or first seen) */
	int64_t restart_at;	/* the local agent is started again no sooner */
	int restarts;
	int64_t stop_at;	/* the local agent gets SIGTERM then (0: not stopping) */
	int64_t kill_at;
	int deprov_tries;
	int64_t deprov_at;	/* a failed deprovision is tried again then */
	int is_removing;	/* its removal was started by this process */
	int is_seen;
};

/* A worker of a template, as the tick reads it. */
struct wrow {
	int64_t id;
	char name[64];
	char tmpl[TEMPLATE_NAME_MAX + 1];
	enum worker_state state;
	enum worker_health health;
	int retiring;
	char ref[64];
	int64_t held;
	int64_t created_at;
	int64_t token_id;
	int64_t last_heartbeat;
	int is_live;
};

static struct job *jobs;
static struct tstate *tstates;
static struct wstate *wstates;
static int in_tick;

static struct tstate *
tstate_get(const char *name)
{
	struct tstate *t;

	for (t = tstates; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->next = tstates;
	tstates = t;
	return t;
}

static struct wstate *
wstate_get(int64_t id, int64_t now)
{
	struct wstate *w;

	for (w = wstates; w != NULL; w = w->next)
		if (w->id == id)
			return w;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->id = id;
	w->busy_at = now;
	w->next = wstates;
	wstates = w;
	return w;
}

/* snprintf whose truncation is meant (paths and reasons are bounded on purpose). */
static void say(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
say(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* ---- child processes ---- */

/* The last line of a program's output file, for a reason an operator reads. */
static void
log_tail(const char *path, char *out, size_t n)
{
	char buf[512];
	ssize_t len = 0;
	int fd = open(path, O_RDONLY);
	off_t end;

	out[0] = '\0';
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > 0 && lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0,
	    SEEK_SET) >= 0)
		len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	{
		char *nl = strrchr(buf, '\n');

		say(out, n, "%s", nl ? nl + 1 : buf);
	}
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* The directory of a worker's files under the state directory (made on demand). */
static int
worker_dir(const struct app *a, const char *name, char *buf, size_t n)
{
	say(buf, n, "%s/workers/%s", a->cfg.state_dir, name);
	return mkdir_p(buf, 0700);
}

static struct job *
job_start(struct app *a, enum job_kind kind, const struct wrow *w, char *const *argv,
    const char *const *env, int64_t timeout_ms)
{
	struct job *j = calloc(1, sizeof(*j));
	char dir[1100];

	if (j == NULL || worker_dir(a, w->name, dir, sizeof(dir)) != 0) {
		free(j);
		return NULL;
	}
	j->kind = kind;
	j->worker_id = w->id;
	snprintf(j->worker, sizeof(j->worker), "%s", w->name);
	snprintf(j->tmpl, sizeof(j->tmpl), "%s", w->tmpl);
	say(j->log, sizeof(j->log), "%s/%s.log", dir, job_names[kind]);
	j->pid = proc_spawn_log(argv, env, j->log, 0);
	if (j->pid < 0) {
		free(j);
		return NULL;
	}
	j->deadline = now_ms() + timeout_ms;
	j->next = jobs;
	jobs = j;
	log_info("scaler.job", "job", job_names[kind], "worker", w->name, "program", argv[0], NULL);
	return j;
}

/* ---- store helpers ---- */

static int
scaling_event(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason)
{
	int rc = events_append(s, "scaling.action", "template", tmpl ? tmpl : "", 0, "outpostd",
	    json_pack("{s:s, s:s, s:s?, s:s}", "action", action, "template", tmpl ? tmpl : "",
	    "worker", worker, "reason", reason));

	if (rc == 0)
		metrics_scaling_action(action, tmpl ? tmpl : "");
	return rc;
}

/* One scaling event in a transaction of its own (for outcomes that change nothing else). */
static void
scaling_note(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason)
{
	if (store_begin(s) != 0)
		return;
	if (scaling_event(s, action, tmpl, worker, reason) != 0 || store_commit(s) != 0)
		store_rollback(s);
	log_info("scaling.action", "action", action, "template", tmpl, "worker", worker ? worker : "",
	    "reason", reason, NULL);
}

/*
 * Moves a worker to `to` in the caller's transaction, with its worker.state
 * event, if the state machine allows it from where the worker is now.
 */
static int
worker_move(struct store *s, int64_t id, const char *to, const char *reason, const char *actor)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT state FROM workers WHERE id = ?");
	enum worker_state f, t;
	struct op_err err;
	char from[16] = "";
	json_t *w;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(from, sizeof(from), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (worker_state_parse(from, &f) != 0 || worker_state_parse(to, &t) != 0 ||
	    worker_transition_check(f, t, NULL, 0) != 0) {
		log_error("scaler.move", "from", from, "to", to, "error", "not a worker transition", NULL);
		return -1;
	}
	st = store_stmt(s, "UPDATE workers SET state = ?, updated_at = ?, drain_deadline = NULL "
	    "WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	if ((w = worker_get(s, id, &err)) == NULL)
		return -1;
	return events_append(s, "worker.state", "worker", NULL, id, actor,
	    json_pack("{s:s, s:s, s:s, s:o}", "from", from, "to", to, "reason", reason, "worker", w));
}

static int
worker_set_ref(struct store *s, int64_t id, const char *col, const char *text, int64_t num)
{
	char sql[128];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "UPDATE workers SET %s = ? WHERE id = ?", col);
	st = store_stmt(s, sql);
	if (st == NULL)
		return -1;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else if (num != 0)
		sqlite3_bind_int64(st, 1, num);
	else
		sqlite3_bind_null(st, 1);	/* a kept statement keeps its last bindings */
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/* ---- templates and workers, as the tick reads them ---- */

struct tview {
	struct tmpl t;
	int64_t desired;
	int live, coming, retiring;
	char *labels_text;
};

static int
load_templates(struct store *s, struct tview **out, size_t *n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT spec, desired FROM templates ORDER BY name");
	struct tview *v = NULL;
	size_t cap = 0;

	*n = 0;
	*out = NULL;
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *spec = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);

		if (array_grow(&v, &cap, *n, sizeof(*v)) != 0 || spec == NULL ||
		    template_parse(spec, &v[*n].t) != 0) {
			json_decref(spec);
			continue;
		}
		v[*n].desired = sqlite3_column_int64(st, 1);
		v[*n].live = v[*n].coming = v[*n].retiring = 0;
		v[*n].labels_text = json_dumps(v[*n].t.labels, JSON_COMPACT);
		json_decref(spec);
		(*n)++;
	}
	sqlite3_reset(st);
	*out = v;
	return 0;
}

static void
free_templates(struct tview *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		template_clear(&v[i].t);
		free(v[i].labels_text);
	}
	free(v);
}

static struct tview *
find_template(struct tview *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].t.name, name) == 0)
			return &v[i];
	return NULL;
}

static int
load_workers(struct store *s, const char *where_extra, int64_t id, struct wrow **out, size_t *n)
{
	char sql[1024];
	sqlite3_stmt *st;
	struct wrow *w = NULL;
	size_t cap = 0;

	snprintf(sql, sizeof(sql), "SELECT w.id, w.name, coalesce(w.template, ''), w.state, "
	    "w.health, w.retiring, coalesce(w.provider_ref, ''), (SELECT count(*) FROM instances i "
	    "WHERE i.worker_id = w.id AND i.state IN (%s)), w.created_at, coalesce(w.token_id, 0), "
	    "coalesce(w.last_heartbeat, 0) FROM workers w WHERE %s ORDER BY w.id", inst_holding_sql(),
	    where_extra);
	st = store_stmt(s, sql);
	*n = 0;
	*out = NULL;
	if (st == NULL)
		return -1;
	if (id != 0)
		sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct wrow *r;

		if (array_grow(&w, &cap, *n, sizeof(*w)) != 0)
			break;
		r = &w[*n];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(r->tmpl, sizeof(r->tmpl), "%s", (const char *)sqlite3_column_text(st, 2));
		if (worker_state_parse((const char *)sqlite3_column_text(st, 3), &r->state) != 0 ||
		    worker_health_parse((const char *)sqlite3_column_text(st, 4), &r->health) != 0)
			continue;
		r->retiring = sqlite3_column_int(st, 5);
		snprintf(r->ref, sizeof(r->ref), "%s", (const char *)sqlite3_column_text(st, 6));
		r->held = sqlite3_column_int64(st, 7);
		r->created_at = sqlite3_column_int64(st, 8);
		r->token_id = sqlite3_column_int64(st, 9);
		r->last_heartbeat = sqlite3_column_int64(st, 10);
		r->is_live = worker_state_is_live(worker_state_name(r->state)) && !r->retiring;
		(*n)++;
	}
	sqlite3_reset(st);
	*out = w;
	return 0;
}

/* ---- what each provisioner does ---- */

static const char *
local_agent_program(const struct app *a, const struct tmpl *t, char *buf, size_t n)
{
	const char *p = json_string_value(json_object_get(t->prov_spec, "agent"));
	char self[1024];
	ssize_t len;

	if (p != NULL)
		return p;
	if (a->cfg.agent_program[0] != '\0')
		return a->cfg.agent_program;
	/* Beside outpostd (installed), or in the build tree's src/agent. */
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		char *slash;

		self[len] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			say(buf, n, "%s/outpost-agent", self);
			if (access(buf, X_OK) == 0)
				return buf;
			say(buf, n, "%s/../agent/outpost-agent", self);
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	say(buf, n, "%s/outpost-agent", BINDIR);
	return buf;
}

static int
write_secret(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(text);
	int rc;

	if (fd < 0)
		return -1;
	rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	if (fsync(fd) != 0)
		rc = -1;
	return close(fd) == 0 ? rc : -1;
}

static int
start_local_agent(struct app *a, const struct tmpl *t, const struct wrow *w, char *why, size_t wn)
{
	char dir[1100], tok[1200], work[1200], log[1200], prog[1100], cap[128], ref[64];
	const char *hb = json_string_value(json_object_get(t->prov_spec, "heartbeat"));
	struct sbuf labels;
	char *argv[20];
	int k = 0;
	pid_t pid;

	if (worker_dir(a, w->name, dir, sizeof(dir)) != 0) {
		say(why, wn, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	say(tok, sizeof(tok), "%s/token", dir);
	say(work, sizeof(work), "%s/work", dir);
	say(log, sizeof(log), "%s/agent.log", dir);
	if (access(tok, R_OK) != 0) {
		say(why, wn, "its join token %s is missing", tok);
		return -1;
	}
	template_capacity_arg(t, cap, sizeof(cap));
	sbuf_init(&labels);
	template_labels_arg(t, &labels);
	argv[k++] = (char *)local_agent_program(a, t, prog, sizeof(prog));
	argv[k++] = "--server";
	argv[k++] = a->url;
	argv[k++] = "--token-file";
	argv[k++] = tok;
	argv[k++] = "--name";
	argv[k++] = (char *)w->name;
	argv[k++] = "--capacity";
	argv[k++] = cap;
	if (labels.len > 0) {
		argv[k++] = "--labels";
		argv[k++] = labels.p;
	}
	argv[k++] = "--work-dir";
	argv[k++] = work;
	argv[k++] = "--log-format";
	argv[k++] = "text";
	if (hb != NULL) {
		argv[k++] = "--heartbeat";
		argv[k++] = (char *)hb;
	}
	argv[k] = NULL;
	pid = proc_spawn_log(argv, NULL, log, 1);
	sbuf_free(&labels);
	if (pid < 0) {
		say(why, wn, "cannot start %s: %s", argv[0], strerror(errno));
		return -1;
	}
	/* Give exec a moment to fail visibly: a missing program is a failed provision. */
	{
		unsigned long long start = 0;

		for (int i = 0; i < 50 && (start = proc_start(pid)) == 0; i++)
			usleep(1000);
		snprintf(ref, sizeof(ref), "%d %llu", (int)pid, start);
	}
	if (worker_set_ref(a->store, w->id, "provider_ref", ref, 0) != 0) {
		kill(pid, SIGTERM);
		say(why, wn, "cannot record its agent's pid");
		return -1;
	}
	log_info("scaler.agent", "worker", w->name, "pid", ref, "program", argv[0], NULL);
	return 0;
}

static const char *
systemd_str(const struct tmpl *t, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(t->prov_spec, key));

	return v != NULL ? v : def;
}

/* The argv of a command provisioner's program, or NULL. Caller frees the array. */
static char **
command_argv(const struct tmpl *t, const char *key)
{
	json_t *a = json_object_get(t->prov_spec, key), *v;
	char **argv;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return NULL;
	argv = calloc(json_array_size(a) + 1, sizeof(*argv));
	if (argv == NULL)
		return NULL;
	json_array_foreach(a, i, v)
		argv[i] = (char *)json_string_value(v);
	return argv;
}

/* The environment of the operator's programs: who, what, and (provision) how to join. */
static void
command_env(struct app *a, const struct tmpl *t, const struct wrow *w, const char *action,
    const char *token, char env[][1200], const char **out)
{
	struct sbuf labels;
	char cap[128];
	int k = 0;

	template_capacity_arg(t, cap, sizeof(cap));
	sbuf_init(&labels);
	template_labels_arg(t, &labels);
	snprintf(env[k], 1200, "OUTPOST_ACTION=%s", action), out[k] = env[k], k++;
	snprintf(env[k], 1200, "OUTPOST_WORKER=%s", w->name), out[k] = env[k], k++;
	snprintf(env[k], 1200, "OUTPOST_TEMPLATE=%s", t->name), out[k] = env[k], k++;
	/* The operator's programs make hosts elsewhere: they reach us by the public URL. */
	snprintf(env[k], 1200, "OUTPOST_SERVER=%s", a->cfg.public_url[0] ? a->cfg.public_url :
	    a->url), out[k] = env[k], k++;
	snprintf(env[k], 1200, "OUTPOST_CAPACITY=%s", cap), out[k] = env[k], k++;
	snprintf(env[k], 1200, "OUTPOST_LABELS=%s", labels.p ? labels.p : ""), out[k] = env[k], k++;
	if (token != NULL)
		snprintf(env[k], 1200, "OUTPOST_JOIN_TOKEN=%s", token), out[k] = env[k], k++;
	out[k] = NULL;
	sbuf_free(&labels);
}

/* The systemd provisioner's files for one worker. */
static void
systemd_paths(const struct tmpl *t, const char *name, char *envf, char *tokf, size_t n)
{
	const char *dir = systemd_str(t, "env_dir", SYSCONFDIR "/outpost");

	say(envf, n, "%s/agent-%s.env", dir, name);
	say(tokf, n, "%s/agent-%s.token", dir, name);
}

static int
systemctl(struct app *a, const struct tmpl *t, const struct wrow *w, enum job_kind kind,
    const char *verb)
{
	char unit[200];
	char *argv[4];

	snprintf(unit, sizeof(unit), "%s%s", systemd_str(t, "unit", "outpost-agent@"), w->name);
	argv[0] = (char *)systemd_str(t, "systemctl", "systemctl");
	argv[1] = (char *)verb;
	argv[2] = unit;
	argv[3] = NULL;
	return job_start(a, kind, w, argv, NULL, t->provision_timeout_ms) != NULL ? 0 : -1;
}

/*
 * Starts the making of a worker whose row is in (provisioning, with a token
 * when the provisioner needs one). 0: under way; -1: failed at once (why).
 */
static int
prov_start(struct app *a, const struct tmpl *t, const struct wrow *w, const char *token,
    char *why, size_t wn)
{
	char env[8][1200], envf[1100], tokf[1100], dir[1100];
	const char *envp[9];

	switch (t->prov) {
	case PROV_LOCAL:
		if (worker_dir(a, w->name, dir, sizeof(dir)) != 0) {
			say(why, wn, "cannot make %s: %s", dir, strerror(errno));
			return -1;
		}
		say(tokf, sizeof(tokf), "%s/token", dir);
		if (write_secret(tokf, token) != 0) {
			say(why, wn, "cannot write %s: %s", tokf, strerror(errno));
			return -1;
		}
		return start_local_agent(a, t, w, why, wn);
	case PROV_SYSTEMD: {
		struct sbuf b, labels;
		char cap[128];
		int rc;

		systemd_paths(t, w->name, envf, tokf, sizeof(envf));
		template_capacity_arg(t, cap, sizeof(cap));
		sbuf_init(&b);
		sbuf_init(&labels);
		template_labels_arg(t, &labels);
		sbuf_printf(&b, "# written by outpostd for worker %s of template %s\n"
		    "OUTPOST_SERVER=%s\nOUTPOST_TOKEN_FILE=%s\nOUTPOST_CAPACITY=%s\n", w->name, t->name,
		    a->url, tokf, cap);
		if (labels.len > 0)
			sbuf_printf(&b, "OUTPOST_LABELS=%s\n", labels.p);
		rc = b.p == NULL || write_secret(tokf, token) != 0 || write_secret(envf, b.p) != 0;
		sbuf_free(&b);
		sbuf_free(&labels);
		if (rc) {
			say(why, wn, "cannot write %s and %s: %s", envf, tokf, strerror(errno));
			return -1;
		}
		if (systemctl(a, t, w, JOB_PROVISION, "start") != 0) {
			say(why, wn, "cannot run %s: %s", systemd_str(t, "systemctl", "systemctl"),
			    strerror(errno));
			return -1;
		}
		return 0;
	}
	case PROV_COMMAND: {
		char **argv = command_argv(t, "provision");
		struct job *j;

		command_env(a, t, w, "provision", token, env, envp);
		j = argv ? job_start(a, JOB_PROVISION, w, argv, envp, t->provision_timeout_ms) : NULL;
		if (j == NULL)
			say(why, wn, "cannot run %s: %s", argv ? argv[0] : "provision",
			    strerror(errno));
		free(argv);
		return j != NULL ? 0 : -1;
	}
	default:
		return 0;	/* static: the operator starts its agent */
	}
}

/* Kills a worker's running provision job, if any (it failed or is being removed). */
static void
jobs_cancel(int64_t worker_id, enum job_kind kind)
{
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (j->worker_id == worker_id && j->kind == kind && !j->is_done && !j->is_killed) {
			kill(-j->pid, SIGTERM);
			j->is_killed = 1;
			j->is_cancelled = 1;
			j->deadline = now_ms() + JOB_KILL_GRACE_MS;
		}
}

static int
job_running(int64_t worker_id, enum job_kind kind)
{
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (j->worker_id == worker_id && j->kind == kind && !j->is_done)
			return 1;
	return 0;
}

/*
 * Ends what runs for a worker that is stopped (is_removal 0) or removed
 * (failed or terminated, is_removal 1). Returns 1 when that is done now,
 * 0 when a program was started and its end finishes the work.
 */
static int
prov_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal, int64_t now)
{
	struct wstate *ws = wstate_get(w->id, now);
	char env[8][1200], envf[1100], tokf[1100];
	const char *envp[9];

	jobs_cancel(w->id, JOB_PROVISION);
	if (ws != NULL && is_removal)
		ws->is_removing = 1;
	if (t == NULL)
		return 1;
	switch (t->prov) {
	case PROV_LOCAL:
		/* An agent with instances ends them itself when it hears; it gets the time to. */
		if (ws != NULL && ws->stop_at == 0) {
			ws->stop_at = now + (w->held > 0 ? AGENT_SEE_STOP_MS : 0);
			ws->kill_at = ws->stop_at + AGENT_STOP_GRACE_MS;
		}
		if (is_removal) {
			char dir[1100];

			say(dir, sizeof(dir), "%s/workers/%s/token", a->cfg.state_dir, w->name);
			unlink(dir);
		}
		return 1;
	case PROV_SYSTEMD:
		if (systemctl(a, t, w, is_removal ? JOB_DEPROVISION : JOB_STOP, "stop") != 0)
			return 1;
		return 0;
	case PROV_COMMAND: {
		char **argv = command_argv(t, is_removal ? "deprovision" : "stop");
		struct job *j = NULL;

		if (argv == NULL)
			return 1;	/* no stop program: the agent stops itself on hearing */
		command_env(a, t, w, is_removal ? "deprovision" : "stop", NULL, env, envp);
		j = job_start(a, is_removal ? JOB_DEPROVISION : JOB_STOP, w, argv, envp,
		    t->provision_timeout_ms);
		free(argv);
		return j == NULL;
	}
	default:
		(void)envf;
		(void)tokf;
		return 1;
	}
}

/* After a removal's programs: the systemd provisioner's files go. */
static void
prov_removed(const struct tmpl *t, const char *name)
{
	char envf[1100], tokf[1100];

	if (t != NULL && t->prov == PROV_SYSTEMD) {
		systemd_paths(t, name, envf, tokf, sizeof(envf));
		unlink(envf);
		unlink(tokf);
	}
}

/* ---- decisions ---- */

static int64_t
backoff_ms(const struct tmpl *t, int fails)
{
	int64_t d = t->retry_backoff_ms;

	for (int i = 1; i < fails && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* A provision failed: the worker is failed, the template backs off, and what was started ends. */
static void
provision_failed(struct app *a, const struct tmpl *t, const struct wrow *w, const char *why,
    int64_t now)
{
	struct store *s = a->store;
	struct tstate *ts = tstate_get(t->name);
	char reason[700], d[32];
	int fails = ts ? ts->fails + 1 : 1;
	int64_t wait = backoff_ms(t, fails);

	snprintf(reason, sizeof(reason), "%s; %d failed in a row, the next try in %s", why, fails,
	    duration_format(wait, d, sizeof(d)));
	if (store_begin(s) != 0)
		return;
	if (worker_move(s, w->id, "failed", why, "outpostd") != 0 ||
	    scaling_event(s, "provision_failed", t->name, w->name, reason) != 0 ||
	    store_commit(s) != 0) {
		store_rollback(s);
		return;
	}
	log_warn("scaling.action", "action", "provision_failed", "template", t->name, "worker",
	    w->name, "reason", reason, NULL);
	if (ts != NULL) {
		ts->fails = fails;
		ts->last_fail_at = now;
		ts->retry_at = now + wait;
	}
}

/* The worker is gone for good: terminated, with its event; the token goes later. */
static void
worker_finish(struct app *a, int64_t id, const char *reason)
{
	struct store *s = a->store;
	sqlite3_stmt *st;
	char from[16] = "";

	if (store_begin(s) != 0)
		return;
	st = store_stmt(s, "SELECT state FROM workers WHERE id = ?");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(from, sizeof(from), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (from[0] == '\0' || strcmp(from, "terminated") == 0) {
		store_rollback(s);
		return;
	}
	if (worker_move(s, id, "terminated", reason, "outpostd") != 0 || store_commit(s) != 0)
		store_rollback(s);
}

/* Creates one worker of t and starts making it. */
static void
provision_one(struct app *a, struct tview *tv, const char *why, int64_t now)
{
	struct store *s = a->store;
	const struct tmpl *t = &tv->t;
	char name[64], tokname[96], token[128], reason[600], err_why[400] = "";
	struct op_err err = { 0 };
	struct wrow w = { 0 };
	sqlite3_stmt *st;
	json_t *rec = NULL;
	int64_t next = 1;
	int is_static = t->prov == PROV_STATIC;

	if (store_begin(s) != 0)
		return;
	/* NAME-N, N one more than any before it (terminated names are not reused). */
	st = store_stmt(s, "SELECT coalesce(max(CAST(substr(name, length(?1) + 2) AS INTEGER)), 0) "
	    "FROM workers WHERE name GLOB ?1 || '-[0-9]*'");
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		next = sqlite3_column_int64(st, 0) + 1;
	sqlite3_reset(st);
	snprintf(name, sizeof(name), "%s-%lld", t->name, (long long)next);
	st = store_stmt(s, "INSERT INTO workers (name, template, state, health, cpu, memory_mb, "
	    "slots, labels, created_at, updated_at) VALUES (?1, ?2, 'provisioning', 'offline', "
	    "?3, ?4, ?5, ?6, ?7, ?7)");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t->cpu);
	sqlite3_bind_int64(st, 4, t->memory_mb);
	sqlite3_bind_int64(st, 5, t->slots);
	sqlite3_bind_text(st, 6, tv->labels_text ? tv->labels_text : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	if (is_static)
		snprintf(reason, sizeof(reason), "%s; waiting for an agent to register as %s", why, name);
	else
		snprintf(reason, sizeof(reason), "%s; %s provisioner", why, prov_type_name(t->prov));
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		store_rollback(s);
		return;
	}
	sqlite3_reset(st);
	w.id = sqlite3_last_insert_rowid(store_db(s));
	if (scaling_event(s, "provision", t->name, name, reason) != 0 || store_commit(s) != 0) {
		store_rollback(s);
		return;
	}
	log_info("scaling.action", "action", "provision", "template", t->name, "worker", name,
	    "reason", reason, NULL);
	snprintf(w.name, sizeof(w.name), "%s", name);
	snprintf(w.tmpl, sizeof(w.tmpl), "%s", t->name);
	w.state = WORKER_PROVISIONING;
	tv->live++;
	tv->coming++;
	if (is_static)
		return;
	/* Its own join token, revoked once the worker is gone. */
	snprintf(tokname, sizeof(tokname), "worker:%s", name);
	if (auth_create(s, tokname, ROLE_AGENT, 0, "outpostd", token, sizeof(token), &rec, &err) != 0) {
		snprintf(err_why, sizeof(err_why), "cannot make its join token: %s", err.message);
	} else {
		w.token_id = json_integer_value(json_object_get(rec, "id"));
		json_decref(rec);
		if (worker_set_ref(s, w.id, "token_id", NULL, w.token_id) != 0)
			snprintf(err_why, sizeof(err_why), "cannot record its join token");
		else
			prov_start(a, t, &w, token, err_why, sizeof(err_why));
	}
	explicit_bzero(token, sizeof(token));
	if (err_why[0] != '\0') {
		provision_failed(a, t, &w, err_why, now);
		if (prov_end(a, t, &w, 1, now))
			worker_finish(a, w.id, "cleaned up after its failed provision");
	}
}

/* Marks a worker retiring and drains it (deadline_ms 0: its instances finish their slots). */
static void
retire(struct app *a, const struct wrow *w, int64_t deadline_ms, const char *action,
    const char *reason)
{
	struct store *s = a->store;
	json_t *out = NULL, *body = NULL;
	struct op_err err = { 0 };
	char t[40];

	if (store_begin(s) != 0)
		return;
	if (worker_set_ref(s, w->id, "retiring", NULL, 1) != 0 ||
	    scaling_event(s, action, w->tmpl, w->name, reason) != 0 || store_commit(s) != 0) {
		store_rollback(s);
		return;
	}
	log_info("scaling.action", "action", action, "template", w->tmpl, "worker", w->name,
	    "reason", reason, NULL);
	if (w->state == WORKER_READY || w->state == WORKER_CORDONED) {
		/* To the millisecond: cut to the second, the deadline would come up to 1 s early. */
		if (deadline_ms > 0)
			body = json_pack("{s:s}", "deadline", time_format_ms(deadline_ms, t, sizeof(t), 1));
		if (worker_act(s, w->id, WORKER_ACT_DRAIN, body, "outpostd", &out, &err) != 0)
			log_warn("scaler.retire", "worker", w->name, "error", err.message, NULL);
		json_decref(body);
		json_decref(out);
	}
}

/* A retiring worker with nothing on it: stopped and terminated. */
static void
retire_finish(struct app *a, const struct tmpl *t, const struct wrow *w, int64_t now)
{
	if (w->state == WORKER_DRAINING || w->state == WORKER_READY || w->state == WORKER_CORDONED) {
		struct store *s = a->store;

		if (store_begin(s) != 0)
			return;
		if (worker_move(s, w->id, "stopped", "drained and empty: its template scaled down",
		    "outpostd") != 0 ||
		    store_commit(s) != 0) {
			store_rollback(s);
			return;
		}
	}
	if (prov_end(a, t, w, 1, now))
		worker_finish(a, w->id, "scaled down: drained, stopped and deprovisioned");
}

/* Picks the n workers to remove: not yet registered, then idle, then the least held, newest first. */
static int
victim_cmp(const void *x, const void *y)
{
	const struct wrow *a = *(const struct wrow *const *)x, *b = *(const struct wrow *const *)y;
	int pa = a->state == WORKER_PROVISIONING, pb = b->state == WORKER_PROVISIONING;

	if (pa != pb)
		return pb - pa;
	if (a->held != b->held)
		return a->held < b->held ? -1 : 1;
	return a->id > b->id ? -1 : a->id < b->id;
}

static void
scale_down(struct app *a, struct tview *tv, struct wrow *w, size_t nw, int64_t n, int64_t now)
{
	struct tstate *ts = tstate_get(tv->t.name);
	struct wrow **c = calloc(nw + 1, sizeof(*c));
	size_t k = 0;

	if (c == NULL)
		return;
	for (size_t i = 0; i < nw; i++)
		if (w[i].is_live && strcmp(w[i].tmpl, tv->t.name) == 0)
			c[k++] = &w[i];
	qsort(c, k, sizeof(*c), victim_cmp);
	for (size_t i = 0; i < k && (int64_t)i < n; i++) {
		char reason[300];

		snprintf(reason, sizeof(reason), "%s has %d worker%s, desired %lld: %s %s", tv->t.name,
		    tv->live, tv->live == 1 ? "" : "s", (long long)tv->desired, c[i]->state == WORKER_PROVISIONING ?
		    "removing the not yet registered" : c[i]->held == 0 ? "draining the idle" :
		    "draining the least busy", c[i]->name);
		retire(a, c[i], ts ? ts->drain_deadline_ms : 0, "retire", reason);
		c[i]->retiring = 1;
		c[i]->is_live = 0;
		tv->live--;
	}
	/* The deadline of an operator's scale is for the workers that scale retired. */
	if (ts != NULL)
		ts->drain_deadline_ms = 0;
	free(c);
	(void)now;
}

static void
set_desired(struct store *s, const char *name, int64_t desired)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE templates SET desired = ?, updated_at = ? "
	    "WHERE name = ?");

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, desired);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_reset(st);
}

/* The autoscaler's two questions, for every template that autoscales. */
static void
autoscale(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now)
{
	struct demand_tmpl *d = calloc(nt + 1, sizeof(*d));
	struct demand_result r;
	size_t nd = 0;

	if (d == NULL)
		return;
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		int64_t have = tv[i].live > tv[i].desired ? tv[i].live : tv[i].desired;

		if (!tv[i].t.autoscale || ts == NULL || now - ts->last_action_at < tv[i].t.cooldown_ms)
			continue;
		d[nd].name = tv[i].t.name;
		d[nd].cpu = tv[i].t.cpu;
		d[nd].memory_mb = tv[i].t.memory_mb;
		d[nd].slots = tv[i].t.slots;
		d[nd].labels_text = tv[i].labels_text;
		/* What is being made, and what is desired but not made yet (a backoff). */
		d[nd].coming = tv[i].coming + (int)(have - tv[i].live);
		d[nd].room = (int)(tv[i].t.max - have > 0 ? tv[i].t.max - have : 0);
		nd++;
	}
	if (nd > 0 && sched_demand(a->store, now, a->cfg.lead_time_ms, d, nd, &r) == 0) {
		for (size_t i = 0; i < nd; i++) {
			struct tview *t = find_template(tv, nt, d[i].name);
			struct tstate *ts = tstate_get(d[i].name);
			char reason[400];
			int64_t have, to;

			if (d[i].add <= 0 || t == NULL || ts == NULL)
				continue;
			have = t->live > t->desired ? t->live : t->desired;
			to = have + d[i].add;
			if (to > t->t.max)
				to = t->t.max;	/* the demand's room says so too; this is a guard */
			if (to <= have)
				continue;
			snprintf(reason, sizeof(reason), "%zu pending need cpu=%lld, memory_mb=%lld, free "
			    "cpu=%lld, memory_mb=%lld -> +%d worker%s of %s (%lld to %lld, max %lld)",
			    d[i].need_n, (long long)d[i].need_cpu, (long long)d[i].need_memory_mb,
			    (long long)r.free_cpu, (long long)r.free_memory_mb, (int)(to - have),
			    to - have == 1 ? "" : "s", t->t.name,
			    (long long)have, (long long)to, (long long)t->t.max);
			if (store_begin(a->store) != 0)
				continue;
			set_desired(a->store, t->t.name, to);
			if (scaling_event(a->store, "scale_up", t->t.name, NULL, reason) != 0 ||
			    store_commit(a->store) != 0) {
				store_rollback(a->store);
				continue;
			}
			log_info("scaling.action", "action", "scale_up", "template", t->t.name, "reason",
			    reason, NULL);
			t->desired = to;
			ts->last_action_at = now;
		}
	}
	free(d);
	/* Down: workers idle past idle_timeout, to min, once per cooldown. */
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		struct sbuf names;
		int64_t room = tv[i].live - tv[i].t.min, n = 0;
		char reason[600], dur[32];

		if (!tv[i].t.autoscale || ts == NULL || room <= 0 ||
		    now - ts->last_action_at < tv[i].t.cooldown_ms)
			continue;
		sbuf_init(&names);
		/* Newest first, as a scale by hand picks among idle workers. */
		for (size_t k = nw; k-- > 0 && n < room;) {
			struct wstate *ws = wstate_get(w[k].id, now);

			if (!w[k].is_live || strcmp(w[k].tmpl, tv[i].t.name) != 0 ||
			    w[k].state != WORKER_READY || w[k].health != HEALTH_ONLINE || w[k].held > 0 ||
			    ws == NULL || now - ws->busy_at < tv[i].t.idle_timeout_ms)
				continue;
			sbuf_printf(&names, "%s%s", n ? ", " : "", w[k].name);
			w[k].retiring = 2;	/* chosen, below */
			n++;
		}
		if (n > 0) {
			snprintf(reason, sizeof(reason), "%s idle past %s -> -%lld workers of %s "
			    "(%d to %lld, min %lld)", names.p, duration_format(tv[i].t.idle_timeout_ms, dur,
			    sizeof(dur)), (long long)n, tv[i].t.name, tv[i].live,
			    (long long)(tv[i].live - n), (long long)tv[i].t.min);
			if (store_begin(a->store) == 0) {
				set_desired(a->store, tv[i].t.name, tv[i].live - n);
				if (scaling_event(a->store, "scale_down", tv[i].t.name, NULL, reason) != 0 ||
				    store_commit(a->store) != 0)
					store_rollback(a->store);
				else
					tv[i].desired = tv[i].live - n;
			}
			log_info("scaling.action", "action", "scale_down", "template", tv[i].t.name,
			    "reason", reason, NULL);
			ts->last_action_at = now;
			for (size_t k = 0; k < nw; k++) {
				if (w[k].retiring != 2)
					continue;
				retire(a, &w[k], 0, "retire", "idle: its template scaled down");
				w[k].retiring = 1;
				w[k].is_live = 0;
				tv[i].live--;
			}
		}
		sbuf_free(&names);
	}
}

/* ---- the tick ---- */

static void
reap(struct app *a, struct tview *tv, size_t nt, int64_t now)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int is_ours = 0;

		for (struct job *j = jobs; j != NULL; j = j->next) {
			if (j->pid == pid && !j->is_done) {
				j->is_done = 1;
				j->status = status;
				is_ours = 1;
			}
		}
		if (!is_ours)
			runs_child_exited(pid, status);	/* a runbook's program */
	}
	for (struct job **jp = &jobs; *jp != NULL;) {
		struct job *j = *jp;
		struct tview *t = find_template(tv, nt, j->tmpl);
		char words[64], tail[300], why[500];
		struct wrow w = { 0 };
		struct wstate *ws;

		if (!j->is_done) {
			/* Past its time: SIGTERM to its group, then SIGKILL. */
			if (now >= j->deadline && !j->is_killed) {
				kill(-j->pid, SIGTERM);
				j->is_killed = 1;
				j->deadline = now + JOB_KILL_GRACE_MS;
			} else if (now >= j->deadline && j->is_killed) {
				kill(-j->pid, SIGKILL);
			}
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		w.id = j->worker_id;
		snprintf(w.name, sizeof(w.name), "%s", j->worker);
		snprintf(w.tmpl, sizeof(w.tmpl), "%s", j->tmpl);
		proc_status_words(j->status, words, sizeof(words));
		log_tail(j->log, tail, sizeof(tail));
		snprintf(why, sizeof(why), "%s %s%s%s%s", job_names[j->kind], j->is_killed ?
		    "timed out and " : "", words, tail[0] ? ": " : "", tail);
		log_info("scaler.job", "job", job_names[j->kind], "worker", j->worker, "outcome", why,
		    NULL);
		if (j->kind == JOB_PROVISION && j->is_cancelled) {
			;	/* its worker is being removed: the removal goes on by itself */
		} else if (j->kind == JOB_PROVISION && (j->is_killed || !WIFEXITED(j->status) ||
		    WEXITSTATUS(j->status) != 0)) {
			sqlite3_stmt *st = store_stmt(a->store, "SELECT state FROM workers WHERE id = ?");
			int is_prov = 0;

			sqlite3_bind_int64(st, 1, j->worker_id);
			is_prov = sqlite3_step(st) == SQLITE_ROW &&
			    strcmp((const char *)sqlite3_column_text(st, 0), "provisioning") == 0;
			sqlite3_reset(st);
			if (is_prov && t != NULL) {
				w.state = WORKER_PROVISIONING;
				provision_failed(a, &t->t, &w, why, now);
				if (prov_end(a, &t->t, &w, 1, now))
					worker_finish(a, w.id, "cleaned up after its failed provision");
			}
		} else if (j->kind == JOB_DEPROVISION) {
			ws = wstate_get(j->worker_id, now);
			if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0 && !j->is_killed) {
				prov_removed(t ? &t->t : NULL, j->worker);
				worker_finish(a, j->worker_id, "deprovisioned");
			} else if (ws != NULL && ++ws->deprov_tries < DEPROVISION_TRIES && t != NULL) {
				char reason[700], d[32];
				int64_t wait = backoff_ms(&t->t, ws->deprov_tries);

				ws->deprov_at = now + wait;
				snprintf(reason, sizeof(reason), "%s; try %d of %d again in %s", why,
				    ws->deprov_tries, DEPROVISION_TRIES, duration_format(wait, d, sizeof(d)));
				scaling_note(a->store, "deprovision_failed", j->tmpl, j->worker, reason);
			} else {
				char reason[700];

				snprintf(reason, sizeof(reason), "%s; gave up after %d tries: remove the host "
				    "by hand", why, DEPROVISION_TRIES);
				scaling_note(a->store, "deprovision_failed", j->tmpl, j->worker, reason);
				worker_finish(a, j->worker_id, "deprovision failed; given up (see its events)");
			}
		}
		free(j);
	}
}

/* The local provisioner's agents: stopped when asked, started again when they die. */
static void
supervise(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now)
{
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = find_template(tv, nt, w[i].tmpl);
		struct wstate *ws = wstate_get(w[i].id, now);
		pid_t pid;

		if (t == NULL || t->t.prov != PROV_LOCAL || ws == NULL)
			continue;
		pid = proc_ref_alive(w[i].ref);
		if (ws->stop_at != 0 || !worker_state_is_live(worker_state_name(w[i].state))) {
			if (pid > 0 && now >= ws->kill_at && ws->kill_at != 0)
				kill(pid, SIGKILL);
			else if (pid > 0 && (ws->stop_at == 0 || now >= ws->stop_at))
				kill(pid, SIGTERM);
			if (ws->stop_at == 0) {
				ws->stop_at = now;
				ws->kill_at = now + AGENT_STOP_GRACE_MS;
			}
			continue;
		}
		if (pid > 0) {
			if (now - ws->restart_at > AGENT_RESTART_MAX_MS)
				ws->restarts = 0;
			continue;
		}
		if (now < ws->restart_at)
			continue;
		{
			char why[300];
			int64_t wait = 1000;

			for (int k = 0; k < ws->restarts && wait < AGENT_RESTART_MAX_MS; k++)
				wait *= 2;
			ws->restarts++;
			ws->restart_at = now + wait;
			if (w[i].ref[0] != '\0')
				log_warn("scaler.agent", "worker", w[i].name, "detail",
				    "its agent is not running; starting it again", NULL);
			if (start_local_agent(a, &t->t, &w[i], why, sizeof(why)) != 0)
				log_error("scaler.agent", "worker", w[i].name, "error", why, NULL);
		}
	}
}

static lws_sorted_usec_list_t kick_sul;
static int kick_queued;

static void
kick_run(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	kick_queued = 0;
	if (the_app != NULL)
		scaler_tick(the_app, now_ms());
}

void
scaler_kick(void)
{
	if (the_app == NULL || the_app->lws == NULL || kick_queued || in_tick)
		return;
	kick_queued = 1;
	lws_sul_schedule(the_app->lws, 0, &kick_sul, kick_run, 100 * LWS_US_PER_MS);
}

void
scaler_tick(struct app *a, int64_t now)
{
	struct tview *tv = NULL;
	struct wrow *w = NULL;
	size_t nt = 0, nw = 0;

	if (in_tick || a->is_draining)
		return;
	in_tick = 1;
	if (load_templates(a->store, &tv, &nt) != 0)
		goto out;
	reap(a, tv, nt, now);
	if (load_workers(a->store, "w.template IS NOT NULL AND (w.state != 'terminated' OR "
	    "w.token_id IS NOT NULL)", 0, &w, &nw) != 0)
		goto out;
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = find_template(tv, nt, w[i].tmpl);
		struct tstate *ts = t ? tstate_get(t->t.name) : NULL;
		struct wstate *ws = wstate_get(w[i].id, now);

		if (ws != NULL && w[i].held > 0)
			ws->busy_at = now;
		if (t == NULL)
			continue;
		if (w[i].is_live)
			t->live++;
		if (w[i].state == WORKER_PROVISIONING && !w[i].retiring)
			t->coming++;
		/* A worker of the template registered since the last failure: the backoff is over. */
		if (ts != NULL && ts->fails > 0 && w[i].state == WORKER_READY &&
		    w[i].created_at > ts->last_fail_at - t->t.provision_timeout_ms) {
			ts->fails = 0;
			ts->retry_at = 0;
		}
	}
	/* 2. Provisions past their time. */
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = find_template(tv, nt, w[i].tmpl);
		char why[200], d[32];

		if (t == NULL || w[i].state != WORKER_PROVISIONING || w[i].retiring ||
		    now - w[i].created_at < t->t.provision_timeout_ms)
			continue;
		snprintf(why, sizeof(why), "it did not register within provision_timeout (%s)",
		    duration_format(t->t.provision_timeout_ms, d, sizeof(d)));
		provision_failed(a, &t->t, &w[i], why, now);
		w[i].state = WORKER_FAILED;
		w[i].is_live = 0;
		t->live--;
		t->coming--;
		if (prov_end(a, &t->t, &w[i], 1, now))
			worker_finish(a, w[i].id, "cleaned up after its failed provision");
	}
	/* 3. Local agents. */
	supervise(a, tv, nt, w, nw, now);
	/* 4. The autoscaler. */
	autoscale(a, tv, nt, w, nw, now);
	/* 5. Desired against live. */
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		int64_t want = tv[i].desired, n = 0;
		char why[200];

		if (ts == NULL)
			continue;
		if (tv[i].live < want && now >= ts->retry_at) {
			snprintf(why, sizeof(why), "%s has %d workers, desired %lld", tv[i].t.name,
			    tv[i].live, (long long)want);
			while (tv[i].live < want && n++ < MAX_PROVISION_PER_TICK && now >= ts->retry_at)
				provision_one(a, &tv[i], why, now);
		} else if (tv[i].live > want) {
			scale_down(a, &tv[i], w, nw, tv[i].live - want, now);
		}
	}
	/* Retiring workers with nothing left on them, and removals to try again. */
	for (size_t i = 0; i < nw; i++) {
		struct tview *t = find_template(tv, nt, w[i].tmpl);
		struct wstate *ws = wstate_get(w[i].id, now);

		if (w[i].retiring && w[i].held == 0 &&
		    worker_state_is_live(worker_state_name(w[i].state)) &&
		    !job_running(w[i].id, JOB_DEPROVISION) && (ws == NULL || now >= ws->deprov_at)) {
			if (ws != NULL)
				ws->deprov_at = 0;
			retire_finish(a, t ? &t->t : NULL, &w[i], now);
		}
		else if (ws != NULL && t != NULL && (w[i].state == WORKER_FAILED ||
		    (w[i].state == WORKER_STOPPED && w[i].retiring)) &&
		    !job_running(w[i].id, JOB_DEPROVISION) &&
		    ((ws->deprov_at != 0 && now >= ws->deprov_at) ||
		    (ws->deprov_at == 0 && !ws->is_removing))) {
			/* A failed removal's next try, or one a restart interrupted. */
			ws->deprov_at = 0;
			if (prov_end(a, &t->t, &w[i], 1, now))
				worker_finish(a, w[i].id, "deprovisioned");
		}
	}
	/* 6. The tokens of workers gone, once their agents are silent. */
	for (size_t i = 0; i < nw; i++) {
		if (w[i].state != WORKER_TERMINATED || w[i].token_id == 0 ||
		    now - w[i].last_heartbeat < a->cfg.worker_offline_after_ms)
			continue;
		{
			struct op_err err = { 0 };
			json_t *rec = NULL;

			if (auth_revoke(a->store, w[i].token_id, "outpostd", &rec, &err) != 0 &&
			    err.http != 404 && err.http != 409)
				continue;
			json_decref(rec);
			worker_set_ref(a->store, w[i].id, "token_id", NULL, 0);
		}
	}
out:
	free(w);
	free_templates(tv, nt);
	in_tick = 0;
}

/* ---- the operator's actions ---- */

static int
stop_or_terminate(struct app *a, int64_t id, json_t *body, const char *actor, int is_term,
    json_t **out, struct op_err *err)
{
	static const char *const fields[] = { "force", NULL };
	struct store *s = a->store;
	enum worker_action act = is_term ? WORKER_ACT_TERMINATE : WORKER_ACT_STOP;
	enum worker_state to;
	struct tview *tv = NULL;
	struct wrow *w = NULL;
	size_t nt = 0, nw = 0;
	char why[200], reason[300];
	int force = 0, rc = -1, via_program = 0;

	*out = NULL;
	err->code = NULL;
	if (body != NULL && (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_bool(body, "", "force", &force, err) != 0))
		return -1;
	if (load_templates(s, &tv, &nt) != 0 || store_begin(s) != 0) {
		store_fail(s, err);
		goto done;
	}
	if (load_workers(s, "w.id = ?1", id, &w, &nw) != 0 || nw == 0) {
		store_rollback(s);
		op_err_set(err, 404, "not_found", "id", "no worker with id %lld", (long long)id);
		goto done;
	}
	if (worker_action_target(act, w->state, &to, why, sizeof(why)) != 0) {
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "", "%s", why);
		goto done;
	}
	if (w->held > 0 && !force) {
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "force", "worker %s holds %lld instance%s; "
		    "drain it first (outpost worker drain %s), or %s it with force, which ends them "
		    "as if the worker were lost", w->name, (long long)w->held, w->held == 1 ? "" : "s",
		    w->name, is_term ? "terminate" : "stop");
		goto done;
	}
	{
		struct tview *t = find_template(tv, nt, w->tmpl);

		/* Its host is removed by a program: terminated when that has run. */
		via_program = is_term && t != NULL && (t->t.prov == PROV_COMMAND ||
		    t->t.prov == PROV_SYSTEMD);
	}
	snprintf(reason, sizeof(reason), "%s by %s%s%s", is_term ? "terminate" : "stop",
	    actor ? actor : "operator", force && w->held > 0 ? ", with force" : "",
	    via_program ? "; terminated once its host is deprovisioned" : "");
	/* A terminate passes through stopped when the worker ran (its agent is stopped first). */
	if ((w->held > 0 && lifecycle_worker_gone(s, id, w->name, is_term ? "terminated" :
	    "stopped") != 0) ||
	    ((!is_term || worker_transition_check(w->state, WORKER_STOPPED, NULL, 0) == 0) &&
	    worker_move(s, id, "stopped", reason, actor) != 0))
		goto db;
	/* The operator meant one worker fewer: the template's count follows, down to its min. */
	if (w->is_live && w->tmpl[0] != '\0') {
		sqlite3_stmt *st = store_stmt(s, "UPDATE templates SET desired = "
		    "max(json_extract(spec, '$.min'), desired - 1) WHERE name = ?");

		sqlite3_bind_text(st, 1, w->tmpl, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			goto db;
		}
		sqlite3_reset(st);
	}
	if (is_term && !via_program && worker_move(s, id, "terminated", reason, actor) != 0)
		goto db;
	if (via_program && worker_set_ref(s, id, "retiring", NULL, 1) != 0)
		goto db;
	if (store_commit(s) != 0)
		goto db;
	{
		struct tview *t = find_template(tv, nt, w->tmpl);

		if (prov_end(a, t ? &t->t : NULL, w, is_term, now_ms()) && is_term) {
			prov_removed(t ? &t->t : NULL, w->name);
			/* Nothing was started after all (a program that cannot run): done now. */
			if (via_program)
				worker_finish(a, id, reason);
		}
	}
	*out = worker_get(s, id, err);
	rc = *out != NULL ? 0 : -1;
	scaler_kick();
	timers_kick();
	goto done;
db:
	store_rollback(s);
	store_fail(s, err);
done:
	free(w);
	free_templates(tv, nt);
	return rc;
}

int
scaler_worker_stop(struct app *a, int64_t id, json_t *body, const char *actor, json_t **out,
    struct op_err *err)
{
	return stop_or_terminate(a, id, body, actor, 0, out, err);
}

int
scaler_worker_terminate(struct app *a, int64_t id, json_t *body, const char *actor, json_t **out,
    struct op_err *err)
{
	return stop_or_terminate(a, id, body, actor, 1, out, err);
}

int
scaler_scale(struct app *a, const char *name, json_t *body, const char *actor, json_t **out,
    struct op_err *err)
{
	static const char *const fields[] = { "count", "deadline", NULL };
	int64_t count, was, deadline = 0;
	struct tstate *ts;
	char reason[200];
	const char *dl;

	*out = NULL;
	if (body == NULL) {
		op_err_set(err, 400, "invalid_argument", "count", "count is required: {\"count\": 3}");
		return -1;
	}
	if (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_int(body, "", "count", 1, 0, TEMPLATE_MAX_WORKERS, &count, err) != 0 ||
	    jsonv_string(body, "", "deadline", 0, 1, 64, &dl, err) != 0)
		return -1;
	if (json_object_get(body, "deadline") != NULL && !json_is_null(json_object_get(body, "deadline"))) {
		int64_t ms;

		if (time_parse_rfc3339(dl, &ms) == 0) {
			deadline = ms;
		} else if (duration_parse(dl, &ms) == 0 && ms <= 30LL * 86400000) {
			deadline = now_ms() + ms;
		} else {
			op_err_set(err, 400, "invalid_argument", "deadline", "deadline must be an RFC 3339 "
			    "time such as 2026-11-23T10:00:00Z or a duration from now up to 30d, such as "
			    "\"30m\"");
			return -1;
		}
	}
	snprintf(reason, sizeof(reason), "scaled to %lld by %s", (long long)count,
	    actor ? actor : "operator");
	if (template_set_desired(a->store, name, count, actor, reason, &was, err) != 0)
		return -1;
	ts = tstate_get(name);
	if (ts != NULL) {
		ts->drain_deadline_ms = deadline;
		/* The autoscaler leaves the operator's count alone for a cooldown. */
		ts->last_action_at = now_ms();
	}
	*out = template_get(a->store, name, err);
	return *out != NULL ? 0 : -1;
}

void
scaler_shutdown(void)
{
	struct tview *tv = NULL;
	struct wrow *w = NULL;
	size_t nt = 0, nw = 0;

	if (the_app == NULL || the_app->store == NULL)
		return;
	lws_sul_cancel(&kick_sul);
	kick_queued = 0;
	if (load_templates(the_app->store, &tv, &nt) == 0 &&
	    load_workers(the_app->store, "w.template IS NOT NULL AND w.provider_ref IS NOT NULL "
	    "AND w.state != 'terminated'", 0, &w, &nw) == 0) {
		for (size_t i = 0; i < nw; i++) {
			struct tview *t = find_template(tv, nt, w[i].tmpl);
			pid_t pid = proc_ref_alive(w[i].ref);

			if (t != NULL && t->t.prov == PROV_LOCAL && pid > 0)
				kill(pid, SIGTERM);
		}
	}
	free(w);
	free_templates(tv, nt);
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (!j->is_done)
			log_warn("scaler.job", "job", job_names[j->kind], "worker", j->worker, "detail",
			    "left running at exit", NULL);
}

void
scaler_free(void)
{
	while (jobs != NULL) {
		struct job *j = jobs;

		jobs = j->next;
		free(j);
	}
	while (tstates != NULL) {
		struct tstate *t = tstates;

		tstates = t->next;
		free(t);
	}
	while (wstates != NULL) {
		struct wstate *w = wstates;

		wstates = w->next;
		free(w);
	}
}
