/*
 * Runbooks (runbooks.c, builtins.c), their runs (runs.c) and alert rules
 * (alerts.c). Included by server.h, where it stood; apart only to keep that
 * short.
 */
#ifndef OUTPOST_RUNBOOKS_H
#define OUTPOST_RUNBOOKS_H

enum param_type { PT_STRING, PT_INT, PT_BOOL, PT_DURATION, PT_ENUM, PT_WORKER, PT_INSTANCE,
	PT_DEFINITION, PT_TEMPLATE };

struct builtin;

/* What a built-in works with; state is its own between slices (NULL at first). */
struct bctx {
	struct app *app;
	json_t *args;		/* substituted from the parameters */
	json_t *written;	/* the step's args as the runbook wrote them, or NULL */
	int is_dry;
	int is_cancelled;	/* set before a last call: free state, return -1 */
	const char *actor;
	struct sbuf *out;	/* what it says, a line a fact */
	void *state;
};

#define RB_VALUE_MAX 4096	/* bytes of a parameter's string value */
#define RB_ENV_NAME_MAX 64	/* OUTPOST_PARAM_ and a parameter's name, upper-cased */

struct rb_param {
	char name[48];
	enum param_type type;
	int required;
	int allows_dash;	/* "allow_dash": a value may start with '-' */
	json_t *def;		/* its default, checked, or NULL */
	json_t *choices;	/* enum: the strings it may be */
	char help[256];
};

struct rb_step {
	char name[128];
	const struct builtin *builtin;	/* NULL: an exec step */
	json_t *args;		/* a built-in's, with {{references}}; points into spec */
	json_t *argv;		/* an exec's program and arguments; points into spec */
	int64_t timeout_ms;
};

struct runbook {
	int refs;
	char name[NAME_MAX_LEN + 1];
	char file[PATH_BUF_MAX];
	char dir[PATH_BUF_MAX];	/* an exec's relative program is found here */
	enum role role;
	int confirm;
	struct rb_param *params;
	size_t nparams;
	struct rb_step *steps;
	size_t nsteps;
	json_t *spec;		/* the file as loaded */
};

const char *param_type_name(enum param_type t);
/* Loads every NAME.json of dir in place of the runbooks loaded before; -1 if one was bad. */
int runbooks_load_dir(const char *dir);
struct runbook *runbook_find(const char *name);
struct runbook *runbook_ref(struct runbook *rb);
void runbook_unref(struct runbook *rb);
json_t *runbook_json(const struct runbook *rb);
/* {items, errors}: the runbooks, and the files that did not load. */
json_t *runbooks_list(void);
/* Checks a run's parameters (400 or 422 naming params.NAME); *out: all, defaults filled. */
int runbook_params(const struct runbook *rb, struct store *s, json_t *in, json_t **out,
    struct op_err *err);
/* Its variable: OUTPOST_PARAM_ and the name upper-cased, '-' as '_'. */
void param_env_name(const char *name, char *out, size_t n);
/* Is s exactly one "{{name}}"? Then 1, and the name in out. */
int subst_whole_ref(const char *s, char *out, size_t n);
/* A copy of v with its "{{name}}" references taken from vars. */
json_t *subst(json_t *v, json_t *vars);
void subst_text(json_t *v, struct sbuf *b);
int subst_refs_check(json_t *v, const char *field, int (*known)(void *, const char *, size_t),
    void *arg, struct op_err *err);
void runbooks_free(void);

const struct builtin *builtin_find(const char *name);
const char *builtin_name(const struct builtin *b);
/* 0 done, -1 failed (out says why), 1 call again soon. */
int builtin_run(const struct builtin *b, struct bctx *c);
/* For the built-ins' own files: a line of output, a duration argument in ms. */
void bc_say(struct bctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t bc_duration(struct bctx *c, const char *name);
/* builtins_prune.c */
int b_events_prune(struct bctx *c);
int b_instances_prune(struct bctx *c);
/* At load: known arguments, required ones given, literals of the right type. */
int builtin_args_check(const struct builtin *b, json_t *args, const char *prefix,
    struct op_err *err);
/* At run, after substitution. */
int builtin_args_ready(const struct builtin *b, json_t *args, const char *prefix,
    struct op_err *err);

/* POST /runbooks/{name}/runs: checks role, confirm and parameters; starts the run. */
int run_request(struct app *a, const char *name, json_t *body, enum role role,
    const char *actor, json_t **out, struct op_err *err);
/*
 * Starts a run whose parameters are checked (alert rules); *id is the run's,
 * *seq (when not NULL) the sequence number of its runbook.run event.
 */
int run_start(struct app *a, struct runbook *rb, json_t *params, int is_dry, const char *actor,
    int64_t *id, int64_t *seq, struct op_err *err);
json_t *run_get(struct store *s, int64_t id, struct op_err *err);
/* Newest first; after is the id below which to list (0: from the newest). */
json_t *runs_list(struct store *s, const char *runbook, const char *status, int64_t after,
    int64_t limit, int64_t *last, int *has_more);
int run_cancel(struct app *a, int64_t id, const char *actor, json_t **out, struct op_err *err);
/* At start: runs the last process left running are marked interrupted, their programs ended. */
int runs_recover(struct app *a);
/* At exit: running programs get SIGTERM and their runs are marked interrupted. */
void runs_shutdown(struct app *a);
int runs_pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len);
void runs_metrics(struct store *s, struct sbuf *o);
void runs_free(void);

/* alerts.c: rules over the site's state, checked on the loop's clock. */
int alerts_load(struct store *s, const char *path, char *err, size_t errlen);
void alerts_tick(struct app *a, int64_t now);
json_t *alerts_list(void);
void alerts_metrics(struct sbuf *o);
void alerts_free(void);

#endif
