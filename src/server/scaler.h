/*
 * The scaler's pieces, for one another and for the worker lifecycle
 * (worker_life.c), and for no other file of the server (which has
 * server.h):
 *
 *   scaler.c        the reconcile tick, its in-memory state, provisioning and
 *                   retiring, scales asked for, what is done at exit;
 *   autoscale.c     the autoscaler's two questions, up and down;
 *   provisioners.c  the table of provisioners (one row a type) and the
 *                   systemd, command and static rows; the programs they run
 *                   (jobs) and what their ends mean;
 *   prov_local.c    the local provisioner's row: outpost-agent processes on
 *                   this host, supervised.
 *
 * What is durable is in the workers and templates tables; everything here
 * that is not is listed in docs/architecture.md, "The scaler".
 */
#ifndef OUTPOST_SCALER_H
#define OUTPOST_SCALER_H

#include "server.h"

#define MAX_PROVISION_PER_TICK 32
#define SCALER_REASON_MAX 700	/* a scaling.action's reason, with a program's last line */
#define SCALER_WHY_MAX 512	/* why a provision or removal failed (a program's last line) */
#define JOIN_TOKEN_BUF 64	/* a worker's own token, as auth_insert_worker() writes it */

/* A worker of a template, as the tick reads it. */
struct wrow {
	int64_t id;
	char name[NAME_BUF];
	char tmpl[TEMPLATE_NAME_MAX + 1];
	enum worker_state state;
	enum worker_health health;
	int retiring;
	char ref[PROC_REF_BUF];	/* provider_ref: a local agent's "PID START" */
	int64_t held;		/* instances it holds */
	int64_t created_at;
	int64_t token_id;
	int64_t last_heartbeat;
	int is_live;		/* its template counts it: a live state, not retiring */
};

/* A template, as the tick reads it, with what the tick counts of it. */
struct tview {
	struct tmpl t;
	int64_t desired;
	int live;
	int coming;
	char *labels_text;	/* its labels as JSON text */
};

/* Per template, in memory only. */
struct tstate {
	struct tstate *next;
	char name[TEMPLATE_NAME_MAX + 1];
	int64_t last_action_at;	/* the autoscaler's last decision: its cooldown's start */
	int64_t last_fail_at;
	int64_t retry_at;	/* no provisioning before this (backoff) */
	int fails;		/* provisions failed in a row */
	int64_t drain_deadline_ms;	/* for those the next scale-down retires; 0: none */
};

/* Per worker, in memory only. */
struct wstate {
	struct wstate *next;
	int64_t id;
	int64_t busy_at;	/* last seen holding an instance (or first seen) */
	int64_t restart_at;	/* the local agent is started again no sooner */
	int restarts;
	int64_t stop_at;	/* the local agent gets SIGTERM then (0: not stopping) */
	int is_stop_asked;	/* ... and the supervisor (children.c) has been asked to */
	int deprov_tries;
	int64_t deprov_at;	/* a failed deprovision is tried again then */
	int is_removing;	/* its removal was started by this process */
};

/* scaler.c */
struct tstate *tstate_get(const char *name);
struct wstate *wstate_get(int64_t id, int64_t now);
int scaler_load_templates(struct store *s, struct tview **out, size_t *n);
void scaler_free_templates(struct tview *v, size_t n);
struct tview *scaler_find_template(struct tview *v, size_t n, const char *name);
/* One template by name (0), or -1 when there is none or its spec does not parse. */
int scaler_load_template(struct store *s, const char *name, struct tview *v);
void scaler_clear_template(struct tview *v);
/* The workers matching where_extra (bound ?1 = id when id is not 0), by id. */
int scaler_load_workers(struct store *s, const char *where_extra, int64_t id, struct wrow **out,
    size_t *n);
/* A scaling.action event in the caller's transaction, counted in the metrics. */
int scaling_event(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason);
/* ... in a transaction of its own, for outcomes that change nothing else; logged. */
void scaling_note(struct store *s, const char *action, const char *tmpl, const char *worker,
    const char *reason);
/* retry_backoff doubled per failure in a row, at most an hour. */
int64_t scaler_backoff_ms(const struct tmpl *t, int fails);
/* A provision failed: the worker failed, the template backs off. */
void scaler_provision_failed(struct app *a, const struct tmpl *t, const struct wrow *w,
    const char *why, int64_t now);
/* Marks a worker retiring and drains it (deadline_ms 0: its instances finish their slots). */
void scaler_retire(struct app *a, const struct wrow *w, int64_t deadline_ms, const char *action,
    const char *reason);
/* A worker's provider_ref ("": none), outside any transaction. */
int scaler_set_ref(struct store *s, int64_t id, const char *ref);
/* A template's desired count, in the caller's transaction. */
int scaler_set_desired(struct store *s, const char *name, int64_t desired);
/* The directory of a worker's files under the state directory (made on demand). */
int scaler_worker_dir(const struct app *a, const char *name, char *buf, size_t n);

/* autoscale.c */
void autoscale(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now);

/* provisioners.c: one row a provisioner type. */
struct prov_ops {
	/*
	 * Starts making a worker whose row is in (provisioning) with its join
	 * token; what it knows the worker by goes to ref (may stay ""). 0: under
	 * way; -1: failed at once, with why.
	 */
	int (*start)(struct app *a, const struct tmpl *t, const struct wrow *w, const char *token,
	    char *ref, size_t refn, char *why, size_t wn);
	/*
	 * Ends what runs for a worker stopped (is_removal 0) or removed (failed
	 * or terminated, 1): 1 when that is done now, 0 when a program was
	 * started and its end finishes the work.
	 */
	int (*end)(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal,
	    int64_t now);
	/* After a removal's program worked: its files here go. NULL: none. */
	void (*removed)(const struct tmpl *t, const char *name);
	/* Each tick, each of its workers: what runs for it is kept running. NULL: nothing. */
	void (*supervise)(struct app *a, const struct tmpl *t, const struct wrow *w, int64_t now);
	/* At exit, each of its workers not terminated. NULL: nothing. */
	void (*shutdown)(const struct tmpl *t, const struct wrow *w);
	int is_by_hand;		/* nothing runs: an operator starts the agent (static) */
	int removes_by_program;	/* terminated only once a program removed its host */
};
const struct prov_ops *prov_ops_of(enum prov_type t);
/* prov_ops_of(t->prov)->end, after the end of any provision still running (t NULL: none). */
int prov_end(struct app *a, const struct tmpl *t, const struct wrow *w, int is_removal,
    int64_t now);
/* prov_ops_of(t->prov)->removed, if it has one. */
void prov_removed(const struct tmpl *t, const char *name);
/* The programs provisioners run for a worker: provision, deprovision, stop. */
enum job_kind { JOB_PROVISION, JOB_DEPROVISION, JOB_STOP };
int job_start(struct app *a, enum job_kind kind, const struct wrow *w, char *const *argv,
    const char *const *env, int64_t timeout_ms);
int job_running(int64_t worker_id, enum job_kind kind);
/* Step 1 of the tick: acts on how the programs that ended since the last tick ended. */
void jobs_settle(struct app *a, struct tview *tv, size_t nt, int64_t now);
void jobs_shutdown(void);
void jobs_free(void);
/* A file only its owner reads, on disk when this returns 0. */
int prov_write_secret(const char *path, const char *text);

/* prov_local.c: the local provisioner's row. */
extern const struct prov_ops prov_local_ops;

/*
 * The provisioner's side of an operator's stop or terminate, after its
 * commit (t NULL: a worker of no template): it stops or removes what runs.
 */
void scaler_worker_ended(struct app *a, const struct tmpl *t, const struct wrow *w, int is_term,
    int is_via_program, const char *reason);

/* worker_life.c: on its way out; not live, and not made ready again by registering. */
int worker_set_retiring(struct store *s, int64_t id);

#endif
