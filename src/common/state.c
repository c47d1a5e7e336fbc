/*
 * The state machine of DESIGN §1, as tables. Every check walks a table of at
 * most a few dozen rows, so there is no need for anything cleverer.
 * Invariant: terminated is final for instances and workers alike.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "state.h"

static const struct state_info inst_states[INST_STATE_COUNT] = {
	[INST_PENDING] = { "pending", "waiting for its slot and a worker", "#6c757d", ANSI_WHITE, 0, 1 },
	[INST_SCHEDULED] = { "scheduled", "placed on a worker", "#0dcaf0", ANSI_CYAN, 0, 1 },
	[INST_INSTANTIATING] = { "instantiating", "its instantiate hook runs", "#0d6efd", ANSI_BLUE, 1, 1 },
	[INST_WARM] = { "warm", "instantiated ahead, waiting to be claimed", "#6f42c1", ANSI_MAGENTA, 0, 1 },
	[INST_RUNNING] = { "running", "in its time slot", "#198754", ANSI_GREEN, 1, 1 },
	[INST_COLLECTING] = { "collecting", "its results are collected", "#fd7e14", ANSI_YELLOW, 0, 1 },
	[INST_GRADING] = { "grading", "its grade hook runs", "#ffc107", ANSI_YELLOW, 1, 1 },
	[INST_STOPPING] = { "stopping", "its stop hook runs", "#d63384", ANSI_MAGENTA, 1, 1 },
	[INST_STOPPED] = { "stopped", "ended normally, results kept", "#20c997", ANSI_GREEN, 0, 0 },
	[INST_FAILED] = { "failed", "ended by an error; can be retried", "#dc3545", ANSI_RED, 1, 0 },
	[INST_TERMINATED] = { "terminated", "gone for good", "#495057", ANSI_BLACK, 1, 0 },
};

static const struct state_info worker_states[WORKER_STATE_COUNT] = {
	[WORKER_PROVISIONING] = { "provisioning", "being made; not registered yet", "#0dcaf0", ANSI_CYAN, 0, 0 },
	[WORKER_READY] = { "ready", "takes new instances", "#198754", ANSI_GREEN, 0, 1 },
	[WORKER_CORDONED] = { "cordoned", "runs what it has, takes nothing new", "#ffc107", ANSI_YELLOW, 0, 1 },
	[WORKER_DRAINING] = { "draining", "finishing its instances before it stops", "#fd7e14", ANSI_YELLOW, 1, 1 },
	[WORKER_STOPPED] = { "stopped", "agent stopped, host kept", "#6c757d", ANSI_WHITE, 0, 0 },
	[WORKER_FAILED] = { "failed", "could not be provisioned", "#dc3545", ANSI_RED, 1, 0 },
	[WORKER_TERMINATED] = { "terminated", "deprovisioned and removed", "#495057", ANSI_BLACK, 1, 0 },
};

static const struct state_info health_states[HEALTH_COUNT] = {
	[HEALTH_ONLINE] = { "online", "heartbeats arrive", "#198754", ANSI_GREEN, 0, 1 },
	[HEALTH_OFFLINE] = { "offline", "heartbeats missed", "#ffc107", ANSI_YELLOW, 1, 0 },
	[HEALTH_LOST] = { "lost", "gone past the grace period", "#dc3545", ANSI_RED, 1, 0 },
};

static const struct state_info run_states[RUN_STATUS_COUNT] = {
	[RUN_RUNNING] = { "running", "its steps run", "#0d6efd", ANSI_BLUE, 1, 1 },
	[RUN_SUCCEEDED] = { "succeeded", "every step did its part", "#198754", ANSI_GREEN, 0, 0 },
	[RUN_FAILED] = { "failed", "a step failed; the rest were skipped", "#dc3545", ANSI_RED, 1, 0 },
	[RUN_CANCELLED] = { "cancelled", "stopped by an operator", "#6c757d", ANSI_WHITE, 0, 0 },
	[RUN_INTERRUPTED] = { "interrupted", "the server stopped during it", "#fd7e14", ANSI_YELLOW,
		1, 0 },
};

#define A_SCHED ACTOR_SCHEDULER
#define A_AGENT ACTOR_AGENT
#define A_OP ACTOR_OPERATOR
#define A_SYS ACTOR_SYSTEM

/*
 * The explicit edges. Three families are added by rule in inst_transition_check:
 * every active state may fail; every state but terminated may be terminated;
 * every placed state whose run is not over may go back to pending when its
 * worker is lost (inst_state_may_restart).
 */
static const struct inst_edge inst_edge_table[] = {
	{ INST_PENDING, INST_SCHEDULED, A_SCHED, "placed on a worker" },
	{ INST_SCHEDULED, INST_INSTANTIATING, A_AGENT, "the agent runs instantiate" },
	{ INST_INSTANTIATING, INST_RUNNING, A_AGENT, "instantiated, slot open" },
	{ INST_INSTANTIATING, INST_WARM, A_AGENT, "instantiated ahead for the warm pool" },
	{ INST_WARM, INST_RUNNING, A_SCHED, "claimed by a new instance" },
	{ INST_WARM, INST_STOPPING, A_SYS | A_OP, "warm pool shrunk" },
	{ INST_RUNNING, INST_COLLECTING, A_OP | A_SYS | A_AGENT, "slot ended or stopped" },
	{ INST_COLLECTING, INST_GRADING, A_AGENT, "results collected" },
	{ INST_COLLECTING, INST_STOPPING, A_AGENT, "results collected, no grade hook" },
	{ INST_GRADING, INST_STOPPING, A_AGENT, "graded" },
	{ INST_STOPPING, INST_STOPPED, A_AGENT, "stop hook done" },
	{ INST_STOPPED, INST_TERMINATED, A_SYS | A_OP, "retention over or terminated" },
	{ INST_FAILED, INST_PENDING, A_OP, "retried" },
};

static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const struct {
	const char *name;
	const struct state_info *table;
	int count;
} kinds[KIND_COUNT] = {
	[KIND_INSTANCE] = { "instance", inst_states, INST_STATE_COUNT },
	[KIND_WORKER] = { "worker", worker_states, WORKER_STATE_COUNT },
	[KIND_HEALTH] = { "health", health_states, HEALTH_COUNT },
	[KIND_RUN] = { "run", run_states, RUN_STATUS_COUNT },
};

static const struct role_info roles[ROLE_COUNT] = {
	[ROLE_NONE] = { "none", "no token: the health routes and the state machine" },
	[ROLE_AGENT] = { "agent", "a worker's agent: its own routes, nothing else" },
	[ROLE_VIEWER] = { "viewer", "reads everything, changes nothing" },
	[ROLE_OPERATOR] = { "operator", "a viewer who runs instances, workers and runbooks" },
	[ROLE_ADMIN] = { "admin", "an operator who also manages tokens, definitions and templates" },
};

static const char *
lookup_name(const struct state_info *t, int n, int i)
{
	if (i < 0 || i >= n)
		return "unknown";
	return t[i].name;
}

static int
lookup_parse(const struct state_info *t, int n, const char *name, int *out)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

const struct state_info *
inst_state_info(enum inst_state s)
{
	return (s >= 0 && s < INST_STATE_COUNT) ? &inst_states[s] : NULL;
}

const char *
inst_state_name(enum inst_state s)
{
	return lookup_name(inst_states, INST_STATE_COUNT, (int)s);
}

int
inst_state_parse(const char *name, enum inst_state *out)
{
	int i;

	if (lookup_parse(inst_states, INST_STATE_COUNT, name, &i) != 0)
		return -1;
	*out = (enum inst_state)i;
	return 0;
}

int
inst_state_is_active(enum inst_state s)
{
	return s >= 0 && s < INST_STATE_COUNT && inst_states[s].is_active;
}

int
inst_state_holds_worker(enum inst_state s)
{
	return inst_state_is_active(s) && s != INST_PENDING;
}

int
inst_state_may_restart(enum inst_state s)
{
	return s == INST_SCHEDULED || s == INST_INSTANTIATING || s == INST_WARM || s == INST_RUNNING;
}

const struct state_info *
worker_state_info(enum worker_state s)
{
	return (s >= 0 && s < WORKER_STATE_COUNT) ? &worker_states[s] : NULL;
}

const char *
worker_state_name(enum worker_state s)
{
	return lookup_name(worker_states, WORKER_STATE_COUNT, (int)s);
}

int
worker_state_parse(const char *name, enum worker_state *out)
{
	int i;

	if (lookup_parse(worker_states, WORKER_STATE_COUNT, name, &i) != 0)
		return -1;
	*out = (enum worker_state)i;
	return 0;
}

int
worker_state_is_live(const char *name)
{
	enum worker_state s;

	if (worker_state_parse(name, &s) != 0)
		return 0;
	return (worker_set_live() & (1u << s)) != 0;
}

const struct state_info *
worker_health_info(enum worker_health h)
{
	return (h >= 0 && h < HEALTH_COUNT) ? &health_states[h] : NULL;
}

const char *
worker_health_name(enum worker_health h)
{
	return lookup_name(health_states, HEALTH_COUNT, (int)h);
}

int
worker_health_parse(const char *name, enum worker_health *out)
{
	int i;

	if (lookup_parse(health_states, HEALTH_COUNT, name, &i) != 0)
		return -1;
	*out = (enum worker_health)i;
	return 0;
}

const char *
state_kind_name(enum state_kind k)
{
	return k >= 0 && k < KIND_COUNT ? kinds[k].name : "unknown";
}

const struct state_info *
state_table(enum state_kind k, int *count)
{
	if (k < 0 || k >= KIND_COUNT) {
		*count = 0;
		return NULL;
	}
	*count = kinds[k].count;
	return kinds[k].table;
}

int
state_index(enum state_kind k, const char *name)
{
	int i;

	if (k < 0 || k >= KIND_COUNT ||
	    lookup_parse(kinds[k].table, kinds[k].count, name, &i) != 0)
		return -1;
	return i;
}

unsigned
state_all(enum state_kind k)
{
	return k >= 0 && k < KIND_COUNT ? (1u << kinds[k].count) - 1 : 0;
}

/* The names of the states in mask, each between pre and post, separated by sep. */
static const char *
set_write(enum state_kind k, unsigned mask, const char *pre, const char *post, const char *sep,
    char *buf, size_t n)
{
	size_t off = 0;

	if (n == 0)
		return buf;
	buf[0] = '\0';
	for (int i = 0; k >= 0 && k < KIND_COUNT && i < kinds[k].count; i++) {
		if (!(mask & (1u << i)))
			continue;
		off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s%s%s",
		    off > 0 ? sep : "", pre, kinds[k].table[i].name, post);
		if (off >= n)
			break;
	}
	return buf;
}

const char *
state_set_sql(enum state_kind k, unsigned mask, char *buf, size_t n)
{
	/* Names are a-z only (the tables above): nothing in them needs quoting. */
	return set_write(k, mask, "'", "'", ",", buf, n);
}

const char *
state_set_names(enum state_kind k, unsigned mask, char *buf, size_t n)
{
	return set_write(k, mask, "", "", ", ", buf, n);
}

int
state_mask_parse(enum state_kind k, const char *list, const char *what, unsigned *mask,
    char *why, size_t whylen)
{
	const char *p = list != NULL ? list : "";
	char names[256];

	*mask = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		int i = -1;

		for (int j = 0; len > 0 && k >= 0 && k < KIND_COUNT && j < kinds[k].count; j++)
			if (strlen(kinds[k].table[j].name) == len &&
			    strncmp(kinds[k].table[j].name, p, len) == 0)
				i = j;
		if (len > 0 && i < 0)
			return refuse(why, whylen, "unknown %s %.*s (one of: %s)", what,
			    (int)(len < 64 ? len : 64), p,
			    state_set_names(k, state_all(k), names, sizeof(names)));
		if (i >= 0)
			*mask |= 1u << i;
		p += len;
		if (*p == ',')
			p++;
	}
	if (*mask == 0)
		return refuse(why, whylen, "%s must name at least one of: %s", what,
		    state_set_names(k, state_all(k), names, sizeof(names)));
	return 0;
}

unsigned
inst_set_holding(void)
{
	unsigned m = 0;

	for (int i = 0; i < INST_STATE_COUNT; i++)
		if (inst_state_holds_worker((enum inst_state)i))
			m |= 1u << i;
	return m;
}

unsigned
inst_set_pool(void)
{
	return 1u << INST_PENDING | 1u << INST_SCHEDULED | 1u << INST_INSTANTIATING |
	    1u << INST_WARM;
}

unsigned
worker_set_heartbeating(void)
{
	return 1u << WORKER_READY | 1u << WORKER_CORDONED | 1u << WORKER_DRAINING;
}

unsigned
worker_set_live(void)
{
	return 1u << WORKER_PROVISIONING | worker_set_heartbeating();
}

const struct role_info *
role_info(enum role r)
{
	return r >= 0 && r < ROLE_COUNT ? &roles[r] : NULL;
}

const char *
role_name(enum role r)
{
	return r >= 0 && r < ROLE_COUNT ? roles[r].name : "none";
}

int
role_parse(const char *s, enum role *out)
{
	for (int i = ROLE_AGENT; s != NULL && i < ROLE_COUNT; i++) {
		if (strcmp(roles[i].name, s) == 0) {
			*out = (enum role)i;
			return 0;
		}
	}
	return -1;
}

int
role_allows(enum role have, enum role need)
{
	if (need == ROLE_NONE)
		return 1;
	if (need == ROLE_AGENT)
		return have == ROLE_AGENT;
	if (have == ROLE_AGENT)
		return 0;
	return have >= need;
}

const char *
role_names_from(enum role least, char *buf, size_t n)
{
	int first = least > ROLE_NONE ? (int)least : (int)ROLE_AGENT;
	size_t off = 0;

	if (n == 0)
		return buf;
	buf[0] = '\0';
	for (int r = first; r < ROLE_COUNT; r++) {
		off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s",
		    r == first ? "" : r == ROLE_COUNT - 1 ? " or " : ", ", roles[r].name);
		if (off >= n)
			break;
	}
	return buf;
}

const struct inst_edge *
inst_edges(size_t *count)
{
	*count = sizeof(inst_edge_table) / sizeof(inst_edge_table[0]);
	return inst_edge_table;
}

/* "the scheduler's", "an agent's or an operator's": who may make a move. */
static const char *
actors_name(int actors, char *buf, size_t n)
{
	static const struct { int bit; const char *name; } who[] = {
		{ A_SCHED, "the scheduler's" }, { A_AGENT, "an agent's" },
		{ A_OP, "an operator's" }, { A_SYS, "the server's" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		if (!(actors & who[i].bit))
			continue;
		off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s",
		    off > 0 ? " or " : "", who[i].name);
		if (off >= n)
			break;
	}
	return buf;
}

static int
refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int
inst_transition_check(enum inst_state from, enum inst_state to, int actor,
    char *why, size_t whylen)
{
	if (from < 0 || from >= INST_STATE_COUNT || to < 0 || to >= INST_STATE_COUNT)
		return refuse(why, whylen, "unknown state%s%s", "", "");
	if (from == INST_TERMINATED)
		return refuse(why, whylen, "the instance is %s; %s is final", "terminated", "terminated");
	if (to == INST_TERMINATED)
		return 0;
	if (to == INST_FAILED && inst_states[from].is_active)
		return 0;
	/*
	 * A lost worker sends what it held back to pending, but for an instance
	 * whose run is over: its results are being collected, graded or cleaned
	 * up, and running it again from the start would throw them away.
	 */
	if (to == INST_PENDING && (actor & (A_SYS | A_SCHED))) {
		if (inst_state_may_restart(from))
			return 0;
		if (from != INST_PENDING && inst_states[from].is_active)
			return refuse(why, whylen, "an instance that is %s has run; it is not run "
			    "again from the start", inst_states[from].name);
	}
	for (size_t i = 0; i < sizeof(inst_edge_table) / sizeof(inst_edge_table[0]); i++) {
		const struct inst_edge *e = &inst_edge_table[i];

		if (e->from == from && e->to == to) {
			char who[96];

			if (e->actors & actor)
				return 0;
			return refuse(why, whylen, "%s to %s is %s move", inst_states[from].name,
			    inst_states[to].name, actors_name(e->actors, who, sizeof(who)));
		}
	}
	return refuse(why, whylen, "an instance cannot go from %s to %s",
	    inst_states[from].name, inst_states[to].name);
}

static const char *const inst_action_names[INST_ACT_COUNT] = {
	[INST_ACT_STOP] = "stop",
	[INST_ACT_TERMINATE] = "terminate",
	[INST_ACT_RETRY] = "retry",
	[INST_ACT_EXTEND] = "extend",
};

const char *
inst_action_name(enum inst_action a)
{
	return (a >= 0 && a < INST_ACT_COUNT) ? inst_action_names[a] : "unknown";
}

int
inst_action_parse(const char *name, enum inst_action *out)
{
	for (int i = 0; name != NULL && i < INST_ACT_COUNT; i++) {
		if (strcmp(inst_action_names[i], name) == 0) {
			*out = (enum inst_action)i;
			return 0;
		}
	}
	return -1;
}

int
inst_action_target(enum inst_action a, enum inst_state from, enum inst_state *to,
    char *why, size_t whylen)
{
	const char *fname = inst_state_name(from);

	switch (a) {
	case INST_ACT_STOP:
		/* Stopping collects and grades: only something running has results. */
		if (from == INST_RUNNING) {
			*to = INST_COLLECTING;
			return 0;
		}
		if (from == INST_WARM) {
			*to = INST_STOPPING;
			return 0;
		}
		if (from == INST_COLLECTING || from == INST_GRADING || from == INST_STOPPING)
			return refuse(why, whylen, "the instance is already %s%s; it stops by itself",
			    fname, "");
		return refuse(why, whylen, "stop needs a running instance; this one is %s%s",
		    fname, inst_states[from].is_active ? " (terminate it to end it now)" : "");
	case INST_ACT_TERMINATE:
		if (from == INST_TERMINATED)
			return refuse(why, whylen, "the instance is already %s%s", fname, "");
		*to = INST_TERMINATED;
		return 0;
	case INST_ACT_RETRY:
		if (from == INST_FAILED) {
			*to = INST_PENDING;
			return 0;
		}
		return refuse(why, whylen, "retry needs a failed instance; this one is %s%s", fname, "");
	case INST_ACT_EXTEND:
		/*
		 * The slot can move while the instance has not begun to end, and for a
		 * failed one, so that a retry after its slot is over has one again.
		 */
		if (from == INST_PENDING || from == INST_SCHEDULED || from == INST_INSTANTIATING ||
		    from == INST_WARM || from == INST_RUNNING || from == INST_FAILED) {
			*to = from;
			return 0;
		}
		return refuse(why, whylen, "extend needs an instance whose slot has not ended; this one is %s%s",
		    fname, "");
	case INST_ACT_COUNT:
		break;
	}
	return refuse(why, whylen, "unknown action%s%s", "", "");
}

int
worker_transition_check(enum worker_state from, enum worker_state to, char *why, size_t whylen)
{
	static const struct { enum worker_state from, to; } edges[] = {
		{ WORKER_PROVISIONING, WORKER_READY },
		{ WORKER_PROVISIONING, WORKER_FAILED },
		{ WORKER_READY, WORKER_CORDONED },
		{ WORKER_CORDONED, WORKER_READY },
		{ WORKER_READY, WORKER_DRAINING },
		{ WORKER_CORDONED, WORKER_DRAINING },
		{ WORKER_DRAINING, WORKER_READY },
		{ WORKER_DRAINING, WORKER_STOPPED },
		{ WORKER_READY, WORKER_STOPPED },
		{ WORKER_CORDONED, WORKER_STOPPED },
		{ WORKER_STOPPED, WORKER_READY },
	};

	if (from < 0 || from >= WORKER_STATE_COUNT || to < 0 || to >= WORKER_STATE_COUNT)
		return refuse(why, whylen, "unknown state%s%s", "", "");
	if (from == WORKER_TERMINATED)
		return refuse(why, whylen, "the worker is %s; %s is final", "terminated", "terminated");
	if (to == WORKER_TERMINATED)
		return 0;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		if (edges[i].from == from && edges[i].to == to)
			return 0;
	return refuse(why, whylen, "a worker cannot go from %s to %s",
	    worker_states[from].name, worker_states[to].name);
}

static const char *const worker_action_names[WORKER_ACT_COUNT] = {
	[WORKER_ACT_CORDON] = "cordon",
	[WORKER_ACT_UNCORDON] = "uncordon",
	[WORKER_ACT_DRAIN] = "drain",
	[WORKER_ACT_STOP] = "stop",
	[WORKER_ACT_TERMINATE] = "terminate",
};

const char *
worker_action_name(enum worker_action a)
{
	return (a >= 0 && a < WORKER_ACT_COUNT) ? worker_action_names[a] : "unknown";
}

int
worker_action_parse(const char *name, enum worker_action *out)
{
	for (int i = 0; name != NULL && i < WORKER_ACT_COUNT; i++) {
		if (strcmp(worker_action_names[i], name) == 0) {
			*out = (enum worker_action)i;
			return 0;
		}
	}
	return -1;
}

static const enum worker_state worker_action_targets[WORKER_ACT_COUNT] = {
	[WORKER_ACT_CORDON] = WORKER_CORDONED,
	[WORKER_ACT_UNCORDON] = WORKER_READY,
	[WORKER_ACT_DRAIN] = WORKER_DRAINING,
	[WORKER_ACT_STOP] = WORKER_STOPPED,
	[WORKER_ACT_TERMINATE] = WORKER_TERMINATED,
};

enum worker_state
worker_action_goal(enum worker_action a)
{
	return a >= 0 && a < WORKER_ACT_COUNT ? worker_action_targets[a] : WORKER_STATE_COUNT;
}

int
worker_action_target(enum worker_action a, enum worker_state from, enum worker_state *to,
    char *why, size_t whylen)
{
	const enum worker_state *target = worker_action_targets;
	const char *fname = worker_state_name(from);

	if (a < 0 || a >= WORKER_ACT_COUNT)
		return refuse(why, whylen, "unknown action%s%s", "", "");
	if (from == target[a])
		return refuse(why, whylen, "the worker is already %s%s", fname, "");
	if (a == WORKER_ACT_UNCORDON && from != WORKER_CORDONED && from != WORKER_DRAINING)
		return refuse(why, whylen, "uncordon needs a cordoned or draining worker; this one is %s%s",
		    fname, "");
	if (worker_transition_check(from, target[a], NULL, 0) != 0)
		return refuse(why, whylen, "%s is not possible for a worker that is %s",
		    worker_action_names[a], fname);
	*to = target[a];
	return 0;
}

const char *const hook_names[HOOK_COUNT + 1] = {
	[HOOK_INSTANTIATE] = "instantiate",
	[HOOK_RUN] = "run",
	[HOOK_COLLECT] = "collect",
	[HOOK_GRADE] = "grade",
	[HOOK_STOP] = "stop",
	[HOOK_COUNT] = NULL,
};

const char *
hook_name(enum hook h)
{
	return h >= 0 && h < HOOK_COUNT ? hook_names[h] : "unknown";
}

const char *
hook_names_text(char *buf, size_t n)
{
	size_t off = 0;

	if (n == 0)
		return buf;
	buf[0] = '\0';
	for (int h = 0; h < HOOK_COUNT && off < n; h++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", h == 0 ? "" :
		    h == HOOK_COUNT - 1 ? " or " : ", ", hook_names[h]);
	return buf;
}

enum hook
inst_state_hook(enum inst_state s)
{
	switch (s) {
	case INST_INSTANTIATING:
		return HOOK_INSTANTIATE;
	case INST_RUNNING:
		return HOOK_RUN;
	case INST_COLLECTING:
		return HOOK_COLLECT;
	case INST_GRADING:
		return HOOK_GRADE;
	case INST_STOPPING:
		return HOOK_STOP;
	default:
		return HOOK_COUNT;
	}
}

int
hook_parse(const char *s, enum hook *out)
{
	for (int i = 0; s != NULL && i < HOOK_COUNT; i++) {
		if (strcmp(hook_names[i], s) == 0) {
			*out = (enum hook)i;
			return 0;
		}
	}
	return -1;
}

const struct state_info *
run_status_info(enum run_status s)
{
	return (s >= 0 && s < RUN_STATUS_COUNT) ? &run_states[s] : NULL;
}

const char *
run_status_name(enum run_status s)
{
	return lookup_name(run_states, RUN_STATUS_COUNT, (int)s);
}

int
run_status_parse(const char *name, enum run_status *out)
{
	int i;

	if (lookup_parse(run_states, RUN_STATUS_COUNT, name, &i) != 0)
		return -1;
	*out = (enum run_status)i;
	return 0;
}
