/*
 * The instances' cgroups (cgroup.c): which hierarchy the agent may use (v2
 * with memory, cpu and pids in its own delegated subtree, else v1's
 * memory, cpu and pids mounts), one cgroup an instance with its limits,
 * its end (every process in it killed, then the cgroup removed), the
 * reasons a hook ended at a limit, and the usage sampled for heartbeats.
 *
 * Layout: PARENT/i<ID>, where PARENT is "outpost-agent-<worker>.<hash>"
 * under the agent's own cgroup (in each v1 controller's hierarchy; in v2,
 * beside the leaf "agent" the agent moves itself into). The hash is of the
 * work directory's path: two agents of the same worker name on one host
 * never share a parent. Each instance's directory holds the file "cgroup",
 * the instance's cgroup directories one a line, which its shim's child
 * joins before it becomes the hook (cg_join_self() in shim.h).
 */
#ifndef OUTPOST_AGENT_CGROUP_H
#define OUTPOST_AGENT_CGROUP_H

#include <stddef.h>

#include <jansson.h>

struct agent_config;
struct inst;
struct work;

/* A definition that says no pids limit gets this one (an older server sends none). */
#define CG_PIDS_DEFAULT 1024

/*
 * Finds the hierarchy the agent may use and makes its parent there; never
 * fatal: with none, instances run as before and "isolation" is "none",
 * logged once with why. Call once, before any thread (libcurl's) starts:
 * on v2 it moves the agent's process into a leaf of its own cgroup.
 */
void cg_setup(const struct agent_config *c);
/* What the registration says: "none", "cgroup-v1" or "cgroup-v2". */
const char *cg_isolation(void);
/*
 * Before each hook: makes the instance's cgroup (again, after a restart)
 * with the limits of its resources, writes DIR/cgroup for its shim, and
 * notes the limits' counters. -1 with err: the hook must not start.
 */
int cg_prepare(struct inst *i, char *err, size_t errlen);
/* Kills every process in the instance's cgroup (it stays). */
void cg_kill(struct inst *i);
/* Kills every process in it and removes it: the instance is forgotten. */
void cg_remove(struct inst *i);
/*
 * A failed hook that hit a limit of its cgroup since it started: 1 with
 * the reason ("out of memory: limit N MB", "pids limit reached: limit N");
 * else 0.
 */
int cg_failure_reason(struct inst *i, char *buf, size_t n);
/* The heartbeat's "usage": a sample of each instance with a cgroup (NULL: none). */
json_t *cg_usage(struct work *w);
/* Kills and removes the cgroups in the agent's parent that no instance it holds has. */
void cg_reap(struct work *w);
/* At the agent's exit: its parents are removed if they are empty. */
void cg_finish(void);

#endif
