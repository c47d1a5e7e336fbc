/*
 * The instances' insides, shared by the files that do their work: work.c
 * (the list and the server's word), step.c (each instance's state machine),
 * hooks.c (its hooks under their shims), reports.c (the queue of its
 * reports) and records.c (its record on disk, and what a restarted agent
 * takes back). main.c and proto.c never include it: they see agent.h's
 * work_*() alone.
 *
 * An instance has two states: the server's (its last word, from agent/work)
 * and the agent's own ("local": where its hooks have brought it, reported
 * or about to be). Invariants the files rely on (asserted where they act):
 *   - at most one hook runs at a time (has_proc), and none starts while
 *     another's end is not acted on (has_result);
 *   - the agent moves local along the state table's agent edges, or to
 *     failed; any other move is the server's word (work_apply);
 *   - an instance is forgotten only with no hook running and no report
 *     waiting;
 *   - log_sent and log_base never go down within an attempt.
 */
#ifndef OUTPOST_AGENT_WORK_H
#define OUTPOST_AGENT_WORK_H

#include <stdio.h>

#include "agent.h"

/* An instance's id as text, for logs (INT64_MAX has 19 digits). */
#define ID_BUF 24

struct inst {
	int64_t id;
	int64_t attempt;
	char dir[PATH_BUF_MAX];	/* WORK_DIR/instances/ID */

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
	struct trace_ctx trace;	/* its hooks' spans are children of it (not valid: none) */

	/* the agent's own */
	enum inst_state local;
	int has_proc;
	struct proc proc;
	int has_result;		/* a hook ended and its end is not acted on yet */
	struct hook_result result;
	enum hook result_hook;
	enum kill_why result_why;
	int64_t result_started_ms;
	struct span hook_span;	/* the running hook's; TRACEPARENT names it */
	int is_instantiated;	/* instantiate began: the stop hook cleans up after it */
	int64_t instantiate_ms;	/* how long instantiate took (0: none); -1: not known */
	int ran[HOOK_COUNT];	/* hooks that ran to their end this attempt */
	int is_gone;		/* not this agent's any more: kill, clean up, forget */
	int is_cleaning;	/* its stop hook runs to clean up, not as a step */
	int is_stale;		/* the server refused a report: wait for its word (agent/work) */
	json_t *queue;		/* reports not yet taken by the server */
	int64_t log_sent[HOOK_COUNT];	/* bytes of HOOK.log the server has */
	int64_t log_base[HOOK_COUNT];	/* the log offset of HOOK.log's start (earlier runs) */
	int is_dirty;		/* changed since its record was last written */
	int has_user;		/* its hooks run as hook_uid:hook_gid (hookuser.c) */
	uid_t hook_uid;
	gid_t hook_gid;

	/* its cgroup (cgroup.c) */
	json_t *resources;	/* {"cpu": N, "memory_mb": N, "pids": N}, the server's */
	uint64_t cg_oom_base;	/* the cgroup's OOM kills when the hook started */
	uint64_t cg_pids_base;	/* and the forks its pids limit refused */
	uint64_t cg_usec;	/* the last sample's CPU time */
	int64_t cg_at;		/* and when it was taken (0: never) */
	uint64_t cg_peak;	/* the most memory seen */

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

/* ---- work.c ---- */

/* A new instance, first in the list, with its directory made; NULL if it cannot be. */
struct inst *inst_new(struct work *w, int64_t id, int64_t attempt);
/* The instance's DIR/NAME+EXT into buf; -1 (nothing to use) when it does not fit. */
int inst_path(const struct inst *i, const char *name, const char *ext, char *buf, size_t n);
/* Removes a directory and everything under it. */
void work_rm_tree(const char *dir);

static inline void
inst_mark(struct inst *i)
{
	i->is_dirty = 1;
}

static inline const char *
id_str(int64_t id, char *buf, size_t n)
{
	snprintf(buf, n, "%lld", (long long)id);
	return buf;
}

static inline int64_t
min_wait(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ---- step.c ---- */

/*
 * One step of the instance's state machine. Returns the milliseconds until
 * it needs another (0: at once), or -1 when it is done and may be forgotten
 * once its reports are taken.
 */
int64_t step_instance(struct work *w, struct inst *i, int64_t now);

/* ---- hooks.c ---- */

/* The agent's environment without what is its own (OUTPOST_*, systemd's); -1: no memory. */
int hooks_env_init(struct work *w);
/* Does the instance's definition have hook h? */
int hooks_has(const struct inst *i, enum hook h);
/* Hook h's timeout in milliseconds (0: none). */
int64_t hooks_timeout(const struct inst *i, enum hook h);
/* Starts hook h under its shim; -1 when it cannot (the instance failed, unless cleaning). */
int hooks_start(struct work *w, struct inst *i, enum hook h);
/* The hook ended: its result is taken from the shim's file, to be acted on. */
void hooks_ended(struct inst *i);
/* A hook runs: looks at an adopted shim; the milliseconds until the next look. */
int64_t hooks_watch(struct inst *i);
/* Ends the hook: at once (KILL_GONE), or through its shim (SIGTERM, the grace, SIGKILL). */
void hooks_stop(struct inst *i, enum kill_why why);
/* Sends what hook h printed since the last time. */
void hooks_upload_log(struct work *w, struct inst *i, enum hook h, int is_final);

/* ---- reports.c ---- */

/* Queues the report from the agent's state to `to`, and moves there. Takes exitj. */
void reports_add(struct work *w, struct inst *i, enum inst_state to, const char *reason,
    json_t *exitj, json_t *grade);
/* reports_add() to failed. */
void reports_fail(struct work *w, struct inst *i, const char *reason, json_t *exitj);
/* Sends the waiting reports in order; stops at the first the server does not take. */
void reports_flush(struct work *w, struct inst *i, int *want_work);

/* ---- records.c ---- */

/* Writes what the agent knows of the instance to its record.json (atomically). */
void records_write(struct inst *i);

/*
 * work.c: work_fence (agent.h) for one instance, also when its shim fenced
 * its hook without the agent: 1 when it failed here, 0 when it was over.
 */
int work_fence_one(struct work *w, struct inst *i, const char *reason);

#endif
