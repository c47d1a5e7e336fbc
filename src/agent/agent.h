/*
 * outpost-agent's types. The agent is one process with one loop (main.c):
 * it talks to outpostd over HTTP (proto.c, through httpc) and hears of new
 * work over the event stream (evstream); each instance it is given is a
 * struct inst (work.h: the list in work.c, its state machine in step.c,
 * its hooks in hooks.c, its reports in reports.c, its record in records.c),
 * a small state machine that mirrors the server's and runs the instance's
 * hooks; each hook runs under a shim (outpost-shim,
 * shim_main.c; started by shim.c), a process of its own session that
 * outlives the agent, keeps the hook's output bounded, ends it at its
 * timeout and writes its exit status, so an agent restarted under running
 * hooks takes them back.
 *
 * Files, under the work directory:
 *   lease                      "BOOT_ID ACKED LEASE FENCE_AT", the fence's (proto.c)
 *   instances/ID/record.json   what the agent knows of the instance (atomic writes)
 *   instances/ID/HOOK.log      the hook's output, bounded (the shim writes it)
 *   instances/ID/HOOK.pid      "SHIM_PID HOOK_PID SHIM_START" (the shim writes it)
 *   instances/ID/HOOK.exit     "exit N" or "signal N" [+ " timeout"] (the shim, at the end)
 *   instances/ID/grade.out     the grade hook's stdout
 *   instances/ID/work/         the hooks' working directory (their user's, 0700: hookuser.c)
 */
#ifndef OUTPOST_AGENT_H
#define OUTPOST_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "bounds.h"
#include "hookuser.h"
#include "httpc.h"
#include "log.h"
#include "otlp.h"
#include "shim.h"
#include "state.h"
#include "util.h"


/* The server's URL, at most this long with its NUL. */
#define SERVER_URL_BUF 512

/*
 * The work directory, absolute, is shorter than this: what the agent puts
 * under it (instances/ID/record.json.tmp and the like) adds at most 64
 * bytes, so every path the agent and its shims make fits PATH_BUF_MAX.
 */
#define WORK_DIR_MAX (PATH_SETTING_MAX - 64)

/* A message that may name a path (and say what is wrong with it). */
#define AGENT_ERR_BUF PATH_MSG_BUF

struct agent_config {
	char server[SERVER_URL_BUF];
	char token_file[PATH_SETTING_MAX];
	char ca_file[PATH_SETTING_MAX];	/* the CAs of an https:// server; "": the system's */
	char name[NAME_BUF];
	int64_t cpu;
	int64_t memory_mb;
	int64_t slots;
	char labels[1024];	/* "k=v,k=v" as given */
	char work_dir[PATH_SETTING_MAX];
	int64_t heartbeat_ms;
	int64_t kill_grace_ms;	/* SIGTERM, then this long, then SIGKILL */
	struct hookuser_opts hook;	/* hook_uids, hook_user */
	int is_isolation_off;	/* isolation = none: no cgroups (cgroup.c) */
	char cgroup_root[PATH_SETTING_MAX];	/* v2: where instances' cgroups go ("": the agent's) */
	enum log_format log_format;
	char otlp_endpoint[OTLP_ENDPOINT_BUF];	/* the hooks' spans go there; "": none */
};

/* ---- shim.c: a hook under its shim ---- */

/* Why the agent stopped a hook (its timeout is the shim's, told in HOOK.exit). */
enum kill_why { KILL_NONE, KILL_END = 2, KILL_GONE = 3 };

struct proc {
	enum hook hook;
	pid_t shim;		/* the shim's pid */
	pid_t pgid;		/* the hook's process group (its pid) */
	unsigned long long shim_start;	/* the shim's start time (/proc), to tell pid reuse */
	unsigned long long hook_start;	/* the hook's, likewise */
	int64_t started_ms;
	int is_termed;		/* the shim was told to stop it (SIGTERM, then the grace) */
	int is_killed;		/* its group got SIGKILL */
	enum kill_why why;
	int is_adopted;		/* from an agent before us: not our child, polled */
};

struct hook_result {
	int has_code;
	int code;		/* exit status, when has_code */
	int signal;		/* the signal that ended it, else 0 */
	int timed_out;		/* the shim ended it at its timeout */
	int fenced;		/* the shim killed it at the lease's end (its agent silent) */
};

/*
 * Starts argv under a shim in dir (hooks run in dir/work), with env. The
 * hook's output goes to dir/HOOK.log (bounded), and for the grade hook its
 * stdout also to dir/grade.out. The shim ends it after timeout_ms (0: never),
 * SIGTERM then SIGKILL grace_ms later. user: "UID:GID" the hook runs as
 * (hookuser.h), or NULL for the agent's. Fills p; returns 0, or -1 with err.
 */
int shim_start(struct proc *p, enum hook h, char *const *argv, char *const *env,
    const char *dir, int64_t timeout_ms, int64_t grace_ms, const char *user, char *err,
    size_t errlen);
/*
 * Finds outpost-shim: beside the agent, else in PKGLIBEXECDIR under the root the
 * agent was installed under (ROOT/usr/bin/outpost-agent: ROOT/usr/libexec/...),
 * else in PKGLIBEXECDIR; -1 with err.
 */
int shim_locate(char *err, size_t errlen);
/* Is the shim still there (for an adopted one: alive and the same process)? */
int shim_alive(const struct proc *p);
/* Tells the shim to stop its hook: SIGTERM to the group, SIGKILL after the grace. */
void shim_stop(struct proc *p);
/* The hook's result, from dir/HOOK.exit; -1 when the shim wrote none (it was killed). */
int shim_result(const char *dir, enum hook h, struct hook_result *r);
/* Signals the hook's process group. */
void proc_signal(struct proc *p, int sig);
/* Kills what is left of the hook's group once its shim vanished without a word. */
void proc_kill_orphan(struct proc *p);

/* ---- proto.c: what the agent says to outpostd ---- */

/* Outcome of a call: done, refused for good (4xx), or try again later. */
enum call { CALL_OK, CALL_REFUSED, CALL_CONFLICT, CALL_GONE, CALL_RETRY, CALL_FATAL };

struct proto {
	struct httpc *http;
	const char *name;
	char *register_body;
	char *heartbeat_body;
	int is_away;		/* the last call had no answer (no connection, or a timeout) */
	int last_status;	/* the HTTP status of the last answer */
	char last_refusal[600];	/* the server's last refusal, "message (field: F)" */
	char last_field[64];	/* and its field alone */
	int is_usage_refused;	/* a server older than the agent: no "usage" in heartbeats */
	char last_code[48];	/* the last refusal's error code */
	int is_protocol_refused;	/* the server does not serve this agent's protocol */
	const char *tolerated;	/* a field whose refusal the caller handles (not logged as one) */

	/*
	 * The lease (main.c fences on it): times on the monotonic clock
	 * (proto_clock_ms). acked_ms is when the last heartbeat or registration
	 * the server answered was SENT; the server counts its worker's silence
	 * from the receipt of that same call, which is later.
	 */
	int64_t total_ms;	/* a call's time limit outside the lease's */
	int64_t heartbeat_ms;	/* the agent's heartbeat interval */
	int64_t lease_ms;	/* the server's worker_lost_after (0: it did not say) */
	int64_t acked_ms;
	int64_t fence_ms;	/* from then on the instances are fenced (0: never) */
	int is_fenced;		/* past fence_ms, no heartbeat answered since */
	int64_t sent_ms;	/* when the call under way was sent */
	char lease_path[PATH_BUF_MAX];	/* WORK_DIR/lease: the lease for an agent after us */
};

/* Milliseconds on the monotonic clock (the lease's; never set back). */
int64_t proto_clock_ms(void);
/* When to fence, from the lease and the heartbeat: lease - min(max(heartbeat, 1s), lease/4). */
int64_t proto_fence_after(int64_t lease_ms, int64_t heartbeat_ms);
/*
 * The lease an agent before this one kept in lease_path, if this host has
 * not restarted since: an agent restarted while cut off fences on time too.
 */
void proto_lease_load(struct proto *pr);

/* *answer: the registered worker, and "token" when a join token registered it (caller decrefs). */
/* Adds "protocol" and "agent_version" to a registration's or heartbeat's body. */
int proto_announce(json_t *body);
enum call proto_register(struct proto *pr, json_t **answer);
/* usage: the instances' usage (cgroup.c), or NULL. */
enum call proto_heartbeat(struct proto *pr, json_t *usage, int *is_retired);
/* POST /agent/sync with the ids still alive; *work is the answer (caller decrefs). */
enum call proto_sync(struct proto *pr, const int64_t *alive, size_t n, json_t **work);
enum call proto_work(struct proto *pr, json_t **work);
/* A report; on CALL_CONFLICT, *state is the stored state when the server said it. */
enum call proto_report(struct proto *pr, int64_t id, json_t *report);
enum call proto_log(struct proto *pr, int64_t id, int64_t attempt, enum hook h, int64_t offset,
    const char *text, size_t len);

/* ---- work.c (and the files of work.h): the instances ---- */

struct work;

struct work *work_new(const struct agent_config *c, struct proto *pr);
void work_free(struct work *w);
/* Reads the records an earlier agent left; the ids still alive (caller frees). */
int work_recover(struct work *w, int64_t **alive, size_t *n);
/* The server's answer of agent/work or agent/sync: the instances it must run. */
void work_apply(struct work *w, json_t *answer);
/* A child ended: look at the shims. */
void work_reap(struct work *w);
/*
 * Runs what is due: starts, completions, reports, log uploads (no calls
 * while the server is away). Returns the milliseconds until it next needs to
 * run (or 0 to run again now). *want_work is set when the agent should ask
 * for its work again.
 */
int64_t work_step(struct work *w, int64_t now, int *want_work);
/* Is the event only the echo of the agent's own report? */
int work_is_echo(const struct work *w, json_t *ev);
/* How many instances it has; how many hooks run. */
size_t work_count(const struct work *w, size_t *running);
/*
 * The fence: every hook is killed, whole, and every instance not ended
 * fails (its report waits for the server), so that nothing of it runs when
 * the server may give it to another worker. Returns how many it fenced.
 */
size_t work_fence(struct work *w, const char *reason);

#endif
