/*
 * The provisioners: one row of prov_table a type, each saying how a
 * worker is made (start), stopped or removed (end), what is left to clean
 * after its removal (removed), what is kept running for it (supervise) and
 * what is done at exit (shutdown). The rows of systemd (systemctl
 * start|stop UNIT@NAME, with the agent's settings in an environment file),
 * command (the operator's provision, deprovision and stop programs) and
 * static (hosts started by hand: nothing runs) are here; local's is
 * prov_local.c. Nothing outside this table asks which type a template has.
 *
 * The programs a provisioner runs for a worker are jobs: each is a child of
 * children.c (its own process group, its output in the worker's directory,
 * SIGTERM to its group at provision_timeout, SIGKILL JOB_KILL_GRACE_MS
 * later). When one ends children.c says so (job_exited), and the next tick
 * acts on how it ended (jobs_settle): a failed provision fails its worker,
 * a deprovision that worked terminates it, one that failed is tried again.
 *
 * Never: wait for a program, or decide anything about a worker's state
 * (that is the tick's, through worker_transition()).
 */
#define _GNU_SOURCE 1
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "scaler.h"

#define JOB_KILL_GRACE_MS 5000
#define DEPROVISION_TRIES 5
#define ENV_VARS 8			/* what command_env() sets, at most */
#define UNIT_MAX 200			/* a systemd unit's name: UNIT@ and the worker's */
#define LOG_TAIL_MAX 300		/* the start of a program's last line, in a reason */

static const char *const job_names[] = { "provision", "deprovision", "stop" };

struct job {
	struct job *next;
	enum job_kind kind;
	struct child *child;	/* NULL once it ended */
	int64_t worker_id;
	char worker[NAME_BUF];
	char tmpl[TEMPLATE_NAME_MAX + 1];
	int is_killed;		/* it was sent SIGTERM: past its time, or cancelled */
	int is_cancelled;	/* killed because its worker is being removed: not a failure */
	int is_done;
	int status;
	char log[PATH_BUF_MAX];
};

static struct job *jobs;

int
prov_write_secret(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	int rc;

	if (fd < 0)
		return -1;
	rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	if (fsync(fd) != 0)
		rc = -1;
	return close(fd) == 0 ? rc : -1;
}

/* The last line of a program's output file, for a reason an operator reads. */
static void
log_tail(const char *path, char *out, size_t n)
{
	char buf[2 * LOG_TAIL_MAX];
	ssize_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	char *nl;

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
	nl = strrchr(buf, '\n');
	nl = nl != NULL ? nl + 1 : buf;
	len = (ssize_t)strlen(nl);
	if ((size_t)len >= n)
		len = (ssize_t)n - 1;	/* cut on purpose: a reason holds the line's start */
	memcpy(out, nl, (size_t)len);
	out[len] = '\0';
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* ---- jobs ---- */

static void
job_exited(void *owner, const struct child_exit *e)
{
	struct job *j = owner;

	j->child = NULL;
	j->is_done = 1;
	j->status = e->status;
	j->is_killed = j->is_killed || e->was_stopped;
}

int
job_start(struct app *a, enum job_kind kind, const struct wrow *w, char *const *argv,
    const char *const *env, int64_t timeout_ms)
{
	struct job *j = calloc(1, sizeof(*j));
	char dir[PATH_BUF_MAX];
	struct child_spec sp = {
		.argv = argv, .env = env, .out_fd = -1, .signals_group = 1,
		.timeout_ms = timeout_ms, .grace_ms = JOB_KILL_GRACE_MS, .on_exit = job_exited,
	};

	if (j == NULL || scaler_worker_dir(a, w->name, dir, sizeof(dir)) != 0 ||
	    (size_t)snprintf(j->log, sizeof(j->log), "%s/%s.log", dir, job_names[kind]) >=
	    sizeof(j->log)) {
		free(j);
		return -1;
	}
	j->kind = kind;
	j->worker_id = w->id;
	snprintf(j->worker, sizeof(j->worker), "%s", w->name);
	snprintf(j->tmpl, sizeof(j->tmpl), "%s", w->tmpl);
	sp.log = j->log;
	sp.owner = j;
	j->child = children_spawn(&sp);
	if (j->child == NULL) {
		free(j);
		return -1;
	}
	j->next = jobs;
	jobs = j;
	log_info("scaler.job", "job", job_names[kind], "worker", w->name, "program", argv[0],
	    NULL);
	return 0;
}

/* Ends a worker's running job of this kind, if any (its worker is being removed). */
static void
jobs_cancel(int64_t worker_id, enum job_kind kind)
{
	for (struct job *j = jobs; j != NULL; j = j->next) {
		if (j->worker_id == worker_id && j->kind == kind && !j->is_done && !j->is_killed &&
		    !child_was_stopped(j->child)) {
			j->is_killed = 1;
			j->is_cancelled = 1;
			child_stop(j->child, 0);
		}
	}
}

int
job_running(int64_t worker_id, enum job_kind kind)
{
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (j->worker_id == worker_id && j->kind == kind && !j->is_done)
			return 1;
	return 0;
}

/* A provision program that failed: its worker fails, unless it registered meanwhile. */
static void
provision_job_failed(struct app *a, const struct job *j, const struct tview *t, const char *why,
    int64_t now)
{
	struct op_err err = { 0 };
	struct wrow w = { 0 };
	enum worker_state state;

	if (worker_state_of(a->store, j->worker_id, &state, &err) != 0 ||
	    state != WORKER_PROVISIONING || t == NULL)
		return;
	w.id = j->worker_id;
	snprintf(w.name, sizeof(w.name), "%s", j->worker);
	snprintf(w.tmpl, sizeof(w.tmpl), "%s", j->tmpl);
	w.state = WORKER_PROVISIONING;
	scaler_provision_failed(a, &t->t, &w, why, now);
	if (prov_end(a, &t->t, &w, 1, now))
		worker_finish(a->store, w.id, "cleaned up after its failed provision", "outpostd");
}

/* A deprovision program ended: the worker is terminated, or its removal is tried again. */
static void
deprovision_job_ended(struct app *a, const struct job *j, const struct tview *t, const char *why,
    int64_t now)
{
	struct wstate *ws = wstate_get(j->worker_id, now);
	char reason[SCALER_REASON_MAX], d[32];

	if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0 && !j->is_killed) {
		prov_removed(t ? &t->t : NULL, j->worker);
		worker_finish(a->store, j->worker_id, "deprovisioned", "outpostd");
	} else if (ws != NULL && ++ws->deprov_tries < DEPROVISION_TRIES && t != NULL) {
		int64_t wait = scaler_backoff_ms(&t->t, ws->deprov_tries);

		ws->deprov_at = now + wait;
		snprintf(reason, sizeof(reason), "%s; try %d of %d again in %s", why,
		    ws->deprov_tries, DEPROVISION_TRIES, duration_format(wait, d, sizeof(d)));
		scaling_note(a->store, "deprovision_failed", j->tmpl, j->worker, reason);
	} else {
		snprintf(reason, sizeof(reason), "%s; gave up after %d tries: remove the host "
		    "by hand", why, DEPROVISION_TRIES);
		scaling_note(a->store, "deprovision_failed", j->tmpl, j->worker, reason);
		worker_finish(a->store, j->worker_id,
		    "deprovision failed; given up (see its events)", "outpostd");
	}
}

void
jobs_settle(struct app *a, struct tview *tv, size_t nt, int64_t now)
{
	for (struct job **jp = &jobs; *jp != NULL;) {
		struct job *j = *jp;
		struct tview *t = scaler_find_template(tv, nt, j->tmpl);
		char words[64], tail[LOG_TAIL_MAX], why[SCALER_WHY_MAX];

		if (!j->is_done) {
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		proc_status_words(j->status, words, sizeof(words));
		log_tail(j->log, tail, sizeof(tail));
		snprintf(why, sizeof(why), "%s %s%s%s%s", job_names[j->kind], j->is_killed ?
		    "timed out and " : "", words, tail[0] ? ": " : "", tail);
		log_info("scaler.job", "job", job_names[j->kind], "worker", j->worker, "outcome",
		    why, NULL);
		if (j->kind == JOB_PROVISION && j->is_cancelled) {
			;	/* its worker is being removed: the removal goes on by itself */
		} else if (j->kind == JOB_PROVISION && (j->is_killed || !WIFEXITED(j->status) ||
		    WEXITSTATUS(j->status) != 0)) {
			provision_job_failed(a, j, t, why, now);
		} else if (j->kind == JOB_DEPROVISION) {
			deprovision_job_ended(a, j, t, why, now);
		}
		free(j);
	}
}

void
jobs_shutdown(void)
{
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (!j->is_done)
			log_warn("scaler.job", "job", job_names[j->kind], "worker", j->worker,
			    "detail", "left running at exit", NULL);
}

void
jobs_free(void)
{
	while (jobs != NULL) {
		struct job *j = jobs;

		jobs = j->next;
		if (j->child != NULL)
			child_forget(j->child);
		free(j);
	}
}

/* ---- systemd ---- */

static const char *
spec_str(const struct tmpl *t, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(t->prov_spec, key));

	return v != NULL ? v : def;
}

/* The systemd provisioner's files for one worker. */
static int
systemd_paths(const struct tmpl *t, const char *name, char *envf, char *tokf, size_t n)
{
	const char *dir = spec_str(t, "env_dir", SYSCONFDIR "/outpost");

	if ((size_t)snprintf(envf, n, "%s/agent-%s.env", dir, name) >= n ||
	    (size_t)snprintf(tokf, n, "%s/agent-%s.token", dir, name) >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * systemctl VERB UNIT: the worker's agent unit. A removal with the shipped
 * unit stops outpost-instances@NAME too, the cgroup its instances ran under
 * (docs/containment.md), which the agent's stop leaves running.
 */
static int
systemctl(struct app *a, const struct tmpl *t, const struct wrow *w, enum job_kind kind,
    const char *verb)
{
	const char *prefix = spec_str(t, "unit", "outpost-agent@");
	char unit[UNIT_MAX], holder[UNIT_MAX];
	char *argv[5];

	if ((size_t)snprintf(unit, sizeof(unit), "%s%s", prefix, w->name) >= sizeof(unit) ||
	    (size_t)snprintf(holder, sizeof(holder), "outpost-instances@%s", w->name) >=
	    sizeof(holder)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	argv[0] = (char *)spec_str(t, "systemctl", "systemctl");
	argv[1] = (char *)verb;
	argv[2] = unit;
	argv[3] = kind == JOB_DEPROVISION && strcmp(prefix, "outpost-agent@") == 0 ? holder : NULL;
	argv[4] = NULL;
	return job_start(a, kind, w, argv, NULL, t->provision_timeout_ms);
}

/*
 * One line of an environment file, KEY="VALUE", quoted as systemd.exec(5)
 * reads EnvironmentFile=: in double quotes, '"', '\\', '`' and '$' behind a
 * backslash. A control character is refused, not written: a newline would
 * start a line of its own (labels are checked for them on the way in; this
 * is the second wall). -1 then, and nothing is added to b.
 */
static int
env_line(struct sbuf *b, const char *key, const char *value)
{
	for (const char *p = value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	sbuf_printf(b, "%s=\"", key);
	for (const char *p = value; *p != '\0'; p++) {
		if (strchr("\"\\`$", *p) != NULL)
			sbuf_putc(b, '\\');
		sbuf_putc(b, *p);
	}
	sbuf_printf(b, "\"\n");
	return 0;
}

static int
systemd_start(struct app *a, const struct tmpl *t, const struct wrow *w, const char *token,
    char *ref, size_t refn, char *why, size_t wn)
{
	char envf[PATH_BUF_MAX], tokf[PATH_BUF_MAX], cap[128];
	struct sbuf b, labels;
	int rc;

	(void)ref;
	(void)refn;
	if (systemd_paths(t, w->name, envf, tokf, sizeof(envf)) != 0) {
		snprintf(why, wn, "its files' paths under %s are too long",
		    spec_str(t, "env_dir", SYSCONFDIR "/outpost"));
		return -1;
	}
	template_capacity_arg(t, cap, sizeof(cap));
	sbuf_init(&b);
	sbuf_init(&labels);
	template_labels_arg(t, &labels);
	sbuf_printf(&b, "# written by outpostd for worker %s of template %s\n", w->name, t->name);
	if (env_line(&b, "OUTPOST_SERVER", a->url) != 0 ||
	    env_line(&b, "OUTPOST_TOKEN_FILE", tokf) != 0 ||
	    env_line(&b, "OUTPOST_CAPACITY", cap) != 0 ||
	    (labels.len > 0 && env_line(&b, "OUTPOST_LABELS", labels.p) != 0)) {
		snprintf(why, wn, "its environment file %s would hold a control character (a "
		    "label's value, or the path of env_dir): nothing was written", envf);
		sbuf_free(&b);
		sbuf_free(&labels);
		return -1;
	}
	rc = b.p == NULL || prov_write_secret(tokf, token) != 0 ||
	    prov_write_secret(envf, b.p) != 0;
	sbuf_free(&b);
	sbuf_free(&labels);
	if (rc) {
		snprintf(why, wn, "cannot write %s and %s: %s", envf, tokf, strerror(errno));
		return -1;
	}
	if (systemctl(a, t, w, JOB_PROVISION, "start") != 0) {
		snprintf(why, wn, "cannot run %s: %s", spec_str(t, "systemctl", "systemctl"),
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
systemd_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal,
    int64_t now)
{
	(void)now;
	return systemctl(a, t, w, is_removal ? JOB_DEPROVISION : JOB_STOP, "stop") != 0;
}

static void
systemd_removed(const struct tmpl *t, const char *name)
{
	char envf[PATH_BUF_MAX], tokf[PATH_BUF_MAX];

	if (systemd_paths(t, name, envf, tokf, sizeof(envf)) != 0)
		return;
	unlink(envf);
	unlink(tokf);
}

/* ---- command ---- */

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

/*
 * The environment of the operator's programs: who, what, and (provision) how
 * to join. Each variable is made to its length (labels run to kilobytes), so
 * none is cut; the caller frees env[0..] with env_free().
 */
static int
command_env(struct app *a, const struct tmpl *t, const struct wrow *w, const char *action,
    const char *token, char **env)
{
	struct sbuf labels;
	char cap[128];
	int k = 0, rc = 0;

	template_capacity_arg(t, cap, sizeof(cap));
	sbuf_init(&labels);
	template_labels_arg(t, &labels);
	rc |= asprintf(&env[k++], "OUTPOST_ACTION=%s", action) < 0;
	rc |= asprintf(&env[k++], "OUTPOST_WORKER=%s", w->name) < 0;
	rc |= asprintf(&env[k++], "OUTPOST_TEMPLATE=%s", t->name) < 0;
	/* The operator's programs make hosts elsewhere: they reach us by the public URL. */
	rc |= asprintf(&env[k++], "OUTPOST_SERVER=%s", a->cfg.public_url[0] ? a->cfg.public_url :
	    a->url) < 0;
	rc |= asprintf(&env[k++], "OUTPOST_CAPACITY=%s", cap) < 0;
	rc |= asprintf(&env[k++], "OUTPOST_LABELS=%s", labels.p ? labels.p : "") < 0;
	if (token != NULL)
		rc |= asprintf(&env[k++], "OUTPOST_JOIN_TOKEN=%s", token) < 0;
	assert(k < ENV_VARS);
	env[k] = NULL;
	sbuf_free(&labels);
	return rc ? -1 : 0;
}

static void
env_free(char **env)
{
	for (size_t i = 0; i < ENV_VARS && env[i] != NULL; i++) {
		explicit_bzero(env[i], strlen(env[i]));	/* a join token may be in it */
		free(env[i]);
	}
}

/* Runs the command provisioner's program `key` for the worker. 0: started. */
static int
command_run(struct app *a, const struct tmpl *t, const struct wrow *w, const char *key,
    enum job_kind kind, const char *token)
{
	char **argv = command_argv(t, key);
	char *env[ENV_VARS] = { 0 };
	int rc = -1;

	if (argv != NULL && command_env(a, t, w, key, token, env) == 0)
		rc = job_start(a, kind, w, argv, (const char *const *)env,
		    t->provision_timeout_ms);
	env_free(env);
	free(argv);
	return rc;
}

static int
command_start(struct app *a, const struct tmpl *t, const struct wrow *w, const char *token,
    char *ref, size_t refn, char *why, size_t wn)
{
	const char *prog = json_string_value(json_array_get(json_object_get(t->prov_spec,
	    "provision"), 0));

	(void)ref;
	(void)refn;
	if (command_run(a, t, w, "provision", JOB_PROVISION, token) == 0)
		return 0;
	snprintf(why, wn, "cannot run %s: %s", prog != NULL ? prog : "provision", strerror(errno));
	return -1;
}

static int
command_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal,
    int64_t now)
{
	const char *key = is_removal ? "deprovision" : "stop";

	(void)now;
	if (!json_is_array(json_object_get(t->prov_spec, key)))
		return 1;	/* no stop program: the agent stops itself on hearing */
	return command_run(a, t, w, key, is_removal ? JOB_DEPROVISION : JOB_STOP, NULL) != 0;
}

/* ---- the table ---- */

static const struct prov_ops prov_systemd_ops = {
	.start = systemd_start,
	.end = systemd_end,
	.removed = systemd_removed,
	.removes_by_program = 1,
};

static const struct prov_ops prov_command_ops = {
	.start = command_start,
	.end = command_end,
	.removes_by_program = 1,
};

/* Hosts started by hand: nothing to run, nothing to stop; the agent registers. */
static const struct prov_ops prov_static_ops = {
	.is_by_hand = 1,
};

static const struct prov_ops *const prov_table[PROV_COUNT] = {
	[PROV_LOCAL] = &prov_local_ops,
	[PROV_SYSTEMD] = &prov_systemd_ops,
	[PROV_COMMAND] = &prov_command_ops,
	[PROV_STATIC] = &prov_static_ops,
};

const struct prov_ops *
prov_ops_of(enum prov_type t)
{
	assert(t >= 0 && t < PROV_COUNT && prov_table[t] != NULL);
	return prov_table[t];
}

int
prov_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal, int64_t now)
{
	struct wstate *ws = wstate_get(w->id, now);
	const struct prov_ops *ops;

	jobs_cancel(w->id, JOB_PROVISION);
	if (ws != NULL && is_removal)
		ws->is_removing = 1;
	if (t == NULL)
		return 1;
	ops = prov_ops_of(t->prov);
	return ops->end != NULL ? ops->end(a, t, w, is_removal, now) : 1;
}

void
prov_removed(const struct tmpl *t, const char *name)
{
	if (t != NULL && prov_ops_of(t->prov)->removed != NULL)
		prov_ops_of(t->prov)->removed(t, name);
}

void
scaler_worker_ended(struct app *a, const struct tmpl *t, const struct wrow *w, int is_term,
    int is_via_program, const char *reason)
{
	if (prov_end(a, t, w, is_term, now_ms()) && is_term) {
		prov_removed(t, w->name);
		/* Nothing was started after all (a program that cannot run): done now. */
		if (is_via_program)
			worker_finish(a->store, w->id, reason, "outpostd");
	}
}
