/*
 * The one state machine of Outpost: instance and worker states, their names,
 * their colours, and which transitions are allowed; the operators' actions
 * on each, the hooks an instance runs, and the roles of tokens. The server
 * enforces it, the TUI and CLI draw with it, and the web app receives it as
 * data (GET /api/v1/states). Nothing else in the tree may list states,
 * actions, hooks or roles: a set of states a query or a message needs is a
 * mask made here, written out by state_set_sql() or state_set_names().
 */
#ifndef OUTPOST_STATE_H
#define OUTPOST_STATE_H

#include <stddef.h>

enum inst_state {
	INST_PENDING,
	INST_SCHEDULED,
	INST_INSTANTIATING,
	INST_WARM,
	INST_RUNNING,
	INST_COLLECTING,
	INST_GRADING,
	INST_STOPPING,
	INST_STOPPED,
	INST_FAILED,
	INST_TERMINATED,
	INST_STATE_COUNT
};

enum worker_state {
	WORKER_PROVISIONING,
	WORKER_READY,
	WORKER_CORDONED,
	WORKER_DRAINING,
	WORKER_STOPPED,
	WORKER_FAILED,
	WORKER_TERMINATED,
	WORKER_STATE_COUNT
};

enum worker_health {
	HEALTH_ONLINE,
	HEALTH_OFFLINE,
	HEALTH_LOST,
	HEALTH_COUNT
};

/* A runbook's run: running until it ends one of the other ways. */
enum run_status {
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_CANCELLED,
	RUN_INTERRUPTED,
	RUN_STATUS_COUNT
};

/* Terminal colours are the eight ANSI colours (ncurses COLOR_* share the values). */
enum ansi_color {
	ANSI_BLACK, ANSI_RED, ANSI_GREEN, ANSI_YELLOW,
	ANSI_BLUE, ANSI_MAGENTA, ANSI_CYAN, ANSI_WHITE
};

struct state_info {
	const char *name;
	const char *description;
	const char *color;	/* CSS colour for the web app */
	enum ansi_color ansi;	/* colour for terminals */
	int is_bold;
	int is_active;		/* holds or is about to hold resources on a worker */
};

/* The four tables of states, for what treats them alike (names, masks, the API). */
enum state_kind { KIND_INSTANCE, KIND_WORKER, KIND_HEALTH, KIND_RUN, KIND_COUNT };

/* "instance", "worker", "health", "run": the kind's key in GET /api/v1/states. */
const char *state_kind_name(enum state_kind k);
/* The kind's states in order, and how many. */
const struct state_info *state_table(enum state_kind k, int *count);
/* A state of the kind by name: its index, or -1. */
int state_index(enum state_kind k, const char *name);

/*
 * A set of states is a mask, a bit per state (1u << state). Written out for
 * SQL ("'ready','cordoned'", for IN (...)) or for people ("ready, cordoned").
 * Both return buf, cut to n bytes; a mask of every state of a kind is
 * state_all(k).
 */
unsigned state_all(enum state_kind k);
const char *state_set_sql(enum state_kind k, unsigned mask, char *buf, size_t n);
const char *state_set_names(enum state_kind k, unsigned mask, char *buf, size_t n);
/*
 * "running,failed" (a query's list) into a mask. On an unknown name, -1 and
 * why says so, with the states there are ("unknown state x (states: ...)").
 * An empty list is refused too. `what` names one of them ("state", "health").
 */
int state_mask_parse(enum state_kind k, const char *list, const char *what, unsigned *mask,
    char *why, size_t whylen);

/*
 * The sets the server's queries and rules name. Each is defined once, here,
 * from the states' meaning.
 */
/* Placed on a worker and using its capacity (inst_state_holds_worker). */
unsigned inst_set_holding(void);
/* Where a warm pool's instance is before it is claimed: pending, on its way to warm, warm. */
unsigned inst_set_pool(void);
/* Workers whose agents should heartbeat: registered and not stopped, failed or gone. */
unsigned worker_set_heartbeating(void);
/* Workers whose template counts them (worker_state_is_live). */
unsigned worker_set_live(void);

/*
 * Roles of tokens, from least to most. An agent's role reaches only the
 * agent's routes, and no other role reaches those; viewer < operator <
 * admin, each with what the one before it has.
 */
enum role { ROLE_NONE, ROLE_AGENT, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN, ROLE_COUNT };
struct role_info {
	const char *name;
	const char *description;
};
const struct role_info *role_info(enum role r);
const char *role_name(enum role r);
/* A role a token may have (agent, viewer, operator, admin; not "none"). */
int role_parse(const char *s, enum role *out);
/* May a caller with `have` use what needs `need`? Agents only reach agent routes. */
int role_allows(enum role have, enum role need);
/* "viewer, operator or admin": the roles from `least` up, for messages. */
const char *role_names_from(enum role least, char *buf, size_t n);

/* Who may cause a transition. */
enum actor_kind {
	ACTOR_SCHEDULER = 1 << 0,
	ACTOR_AGENT = 1 << 1,
	ACTOR_OPERATOR = 1 << 2,
	ACTOR_SYSTEM = 1 << 3,	/* slot end, worker loss, retention */
};

const struct state_info *inst_state_info(enum inst_state s);
const char *inst_state_name(enum inst_state s);
int inst_state_parse(const char *name, enum inst_state *out);
int inst_state_is_active(enum inst_state s);
/* Placed on a worker and using its capacity: active, and past pending. */
int inst_state_holds_worker(enum inst_state s);
/*
 * Placed, and its run not over (scheduled, instantiating, warm, running): an
 * instance that may be sent back to pending and run again from the start
 * when its worker is lost. Collecting, grading and stopping are past that.
 */
int inst_state_may_restart(enum inst_state s);

const struct state_info *worker_state_info(enum worker_state s);
const char *worker_state_name(enum worker_state s);
int worker_state_parse(const char *name, enum worker_state *out);
/* A worker its template counts: being made, or taking or finishing instances (by name). */
int worker_state_is_live(const char *name);

const struct state_info *worker_health_info(enum worker_health h);
const char *worker_health_name(enum worker_health h);
int worker_health_parse(const char *name, enum worker_health *out);

const struct state_info *run_status_info(enum run_status s);
const char *run_status_name(enum run_status s);
int run_status_parse(const char *name, enum run_status *out);

/*
 * May an instance go from `from` to `to`, caused by `actor`? Returns 0 if so;
 * otherwise -1 with an operator-readable reason in why.
 */
int inst_transition_check(enum inst_state from, enum inst_state to, int actor,
    char *why, size_t whylen);
int worker_transition_check(enum worker_state from, enum worker_state to,
    char *why, size_t whylen);

/*
 * Operator actions on an instance. Each names the state it leads to from a
 * given state, or refuses with a reason ("stop needs a running instance ...").
 */
enum inst_action { INST_ACT_STOP, INST_ACT_TERMINATE, INST_ACT_RETRY, INST_ACT_EXTEND, INST_ACT_COUNT };
const char *inst_action_name(enum inst_action a);
int inst_action_parse(const char *name, enum inst_action *out);
/* Returns 0 and sets *to, or -1 with why. For EXTEND, *to is the unchanged state. */
int inst_action_target(enum inst_action a, enum inst_state from, enum inst_state *to,
    char *why, size_t whylen);

enum worker_action { WORKER_ACT_CORDON, WORKER_ACT_UNCORDON, WORKER_ACT_DRAIN,
	WORKER_ACT_STOP, WORKER_ACT_TERMINATE, WORKER_ACT_COUNT };
const char *worker_action_name(enum worker_action a);
int worker_action_parse(const char *name, enum worker_action *out);
int worker_action_target(enum worker_action a, enum worker_state from, enum worker_state *to,
    char *why, size_t whylen);
/* The state the action leaves a worker in: a worker already there has nothing to do. */
enum worker_state worker_action_goal(enum worker_action a);

/*
 * The hooks of a definition, in the order an instance's life runs them (run
 * alone is required). Every program names them from here.
 */
enum hook { HOOK_INSTANTIATE, HOOK_RUN, HOOK_COLLECT, HOOK_GRADE, HOOK_STOP, HOOK_COUNT };
/* Their names, in that order, ending with NULL (for the API's lists of known fields). */
extern const char *const hook_names[HOOK_COUNT + 1];
const char *hook_name(enum hook h);
int hook_parse(const char *s, enum hook *out);
/* "instantiate, run, collect, grade or stop", for messages. */
const char *hook_names_text(char *buf, size_t n);
/* The hook an instance runs while in state s, or HOOK_COUNT when none runs. */
enum hook inst_state_hook(enum inst_state s);

/* Iteration over the transition tables, for the API's description of them. */
struct inst_edge {
	enum inst_state from;
	enum inst_state to;
	int actors;
	const char *why;
};
const struct inst_edge *inst_edges(size_t *count);

#endif
