/*
 * The local provisioner: each worker is an outpost-agent process on this
 * host, a child of ours (children.c: a session of its own, its output in
 * the worker's agent.log), started with its own token written to the
 * worker's directory. What survives a restart is its provider_ref, "PID
 * START" (the start time from /proc, read once at spawn, so that a reused
 * pid is never taken for it).
 *
 * Each tick (supervise) an agent that no longer runs is started again, 1 s
 * doubling to a minute apart, and one whose worker is being stopped is
 * ended: SIGTERM (after AGENT_SEE_STOP_MS when it held instances, so that
 * it ends them itself on hearing), SIGKILL AGENT_STOP_GRACE_MS later. At
 * exit the agents get SIGTERM; their hooks live on under their shims, and
 * the next start finds the agents gone and starts them again.
 *
 * Never: wait for an agent to start or to end (nothing here reads /proc
 * more than once a tick, or sleeps).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "scaler.h"

#define AGENT_STOP_GRACE_MS 10000	/* SIGTERM, then SIGKILL, to a local agent */
#define AGENT_SEE_STOP_MS 15000		/* for an agent with instances to end them itself */
#define AGENT_RESTART_FIRST_MS 1000
#define AGENT_RESTART_MAX_MS 60000
#define AGENT_ARGS 20

/* The agent's program: the template's, the setting's, or the one built or installed with us. */
static const char *
agent_program(const struct app *a, const struct tmpl *t, char *buf, size_t n)
{
	const char *p = json_string_value(json_object_get(t->prov_spec, "agent"));
	char self[PATH_BUF_MAX];
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
			if ((size_t)snprintf(buf, n, "%s/outpost-agent", self) < n &&
			    access(buf, X_OK) == 0)
				return buf;
			if ((size_t)snprintf(buf, n, "%s/../agent/outpost-agent", self) < n &&
			    access(buf, X_OK) == 0)
				return buf;
		}
	}
	snprintf(buf, n, "%s/outpost-agent", BINDIR);
	return buf;
}

/* A worker's file: DIR/NAME under its directory. */
static int
worker_file(const struct app *a, const char *worker, const char *name, char *buf, size_t n,
    char *why, size_t wn)
{
	char dir[PATH_BUF_MAX];

	if (scaler_worker_dir(a, worker, dir, sizeof(dir)) != 0) {
		snprintf(why, wn, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n) {
		snprintf(why, wn, "the path of %s under %s is too long", name, dir);
		return -1;
	}
	return 0;
}

/* Starts the worker's agent, now, without waiting for it; its "PID START" goes to ref. */
static int
agent_start(struct app *a, const struct tmpl *t, const struct wrow *w, char *ref, size_t refn,
    char *why, size_t wn)
{
	char tok[PATH_BUF_MAX], work[PATH_BUF_MAX], log[PATH_BUF_MAX], prog[PATH_BUF_MAX];
	const char *hb = json_string_value(json_object_get(t->prov_spec, "heartbeat"));
	/* 0 to 19 (checked): its hooks inherit it; the agent weighs its instances' cgroups by it. */
	json_int_t niceness = json_integer_value(json_object_get(t->prov_spec, "nice"));
	struct child_spec sp = { .out_fd = -1, .is_session = 1, .grace_ms = AGENT_STOP_GRACE_MS,
		.niceness = (int)niceness };
	char cap[128];
	struct sbuf labels;
	char *argv[AGENT_ARGS];
	struct child *c;
	int k = 0;

	if (worker_file(a, w->name, "token", tok, sizeof(tok), why, wn) != 0 ||
	    worker_file(a, w->name, "work", work, sizeof(work), why, wn) != 0 ||
	    worker_file(a, w->name, "agent.log", log, sizeof(log), why, wn) != 0)
		return -1;
	if (access(tok, R_OK) != 0) {
		snprintf(why, wn, "its token %s is missing", tok);
		return -1;
	}
	template_capacity_arg(t, cap, sizeof(cap));
	sbuf_init(&labels);
	template_labels_arg(t, &labels);
	argv[k++] = (char *)agent_program(a, t, prog, sizeof(prog));
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
	sp.argv = argv;
	sp.log = log;
	/*
	 * A program that cannot run is not waited for: its exec fails in the
	 * child, which ends at once; the supervisor finds the agent not running
	 * and starts it again, and provision_timeout fails a worker whose agent
	 * never registers.
	 */
	c = children_spawn(&sp);
	sbuf_free(&labels);
	if (c == NULL) {
		snprintf(why, wn, "cannot start %s: %s", argv[0], strerror(errno));
		return -1;
	}
	snprintf(ref, refn, "%d %llu", (int)child_pid(c), child_start(c));
	log_info("scaler.agent", "worker", w->name, LOG_INT("pid", child_pid(c)), "program", argv[0],
	    NULL);
	return 0;
}

static int
local_start(struct app *a, const struct tmpl *t, const struct wrow *w, const char *token,
    char *ref, size_t refn, char *why, size_t wn)
{
	char tok[PATH_BUF_MAX];

	if (worker_file(a, w->name, "token", tok, sizeof(tok), why, wn) != 0)
		return -1;
	if (prov_write_secret(tok, token) != 0) {
		snprintf(why, wn, "cannot write %s: %s", tok, strerror(errno));
		return -1;
	}
	return agent_start(a, t, w, ref, refn, why, wn);
}

static int
local_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal, int64_t now)
{
	struct wstate *ws = wstate_get(w->id, now);

	(void)t;
	/* An agent with instances ends them itself when it hears; it gets the time to. */
	if (ws != NULL && ws->stop_at == 0)
		ws->stop_at = now + (w->held > 0 ? AGENT_SEE_STOP_MS : 0);
	if (is_removal) {
		char tok[PATH_BUF_MAX];

		if ((size_t)snprintf(tok, sizeof(tok), "%s/workers/%s/token", a->cfg.state_dir,
		    w->name) < sizeof(tok))
			unlink(tok);
	}
	return 1;
}

/* Each tick: an agent whose worker is being stopped is ended; one that died is started again. */
static void
local_supervise(struct app *a, const struct tmpl *t, const struct wrow *w, int64_t now)
{
	struct wstate *ws = wstate_get(w->id, now);
	char why[SCALER_WHY_MAX], ref[PROC_REF_BUF];
	int64_t wait = AGENT_RESTART_FIRST_MS;

	if (ws == NULL)
		return;
	if (ws->stop_at != 0 || !worker_state_is_live(worker_state_name(w->state))) {
		if (ws->stop_at == 0)
			ws->stop_at = now;
		if (!ws->is_stop_asked) {
			children_stop_ref(w->ref, 0, ws->stop_at - now, AGENT_STOP_GRACE_MS);
			ws->is_stop_asked = 1;
		}
		return;
	}
	if (proc_ref_alive(w->ref) > 0) {
		if (now - ws->restart_at > AGENT_RESTART_MAX_MS)
			ws->restarts = 0;
		return;
	}
	if (now < ws->restart_at)
		return;
	for (int k = 0; k < ws->restarts && wait < AGENT_RESTART_MAX_MS; k++)
		wait *= 2;
	ws->restarts++;
	ws->restart_at = now + wait;
	if (w->ref[0] != '\0')
		log_warn("scaler.agent", "worker", w->name, "detail",
		    "its agent is not running; starting it again", NULL);
	if (agent_start(a, t, w, ref, sizeof(ref), why, sizeof(why)) != 0) {
		log_error("scaler.agent", "worker", w->name, "error", why, NULL);
		return;
	}
	if (scaler_set_ref(a->store, w->id, ref) != 0) {
		children_stop_ref(ref, 0, 0, AGENT_STOP_GRACE_MS);
		log_error("scaler.agent", "worker", w->name, "error",
		    "cannot record its agent's pid", NULL);
	}
}

/* At exit: SIGTERM to the agent; its hooks live on under their shims. */
static void
local_shutdown(const struct tmpl *t, const struct wrow *w)
{
	(void)t;
	children_stop_ref(w->ref, 0, 0, -1);
}

const struct prov_ops prov_local_ops = {
	.start = local_start,
	.end = local_end,
	.supervise = local_supervise,
	.shutdown = local_shutdown,
};
