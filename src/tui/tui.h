/*
 * outpost-top, the terminal dashboard: the types its files share.
 *
 *   main.c    flags, settings, signals, the loop (one poll() through evstream)
 *   app.c     the helpers all share: status line, pager lines, selection
 *   model.c   the lists: filter, sort, visible order (no curses)
 *   site.c    what the dashboard knows of the site: loading it over HTTP,
 *             applying events, actions (no curses)
 *   views.c   views[], and what the views share: their models, actions' POSTs
 *             and "sure?" prompts, the detail pager's start
 *   view_*.c  one view each: its columns, one-key actions and detail
 *   draw.c    everything ncurses draws: header, lists, footer, pager, form
 *   input.c   keys, the prompt line, the command line, the runbook form
 *
 * Every view is a struct view_def of its own file, pointed to by views[]
 * (views.c); adding one is a file, a row of views[] and an enum view_id.
 */
#ifndef OUTPOST_TUI_H
#define OUTPOST_TUI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "clientconf.h"
#include "evstream.h"
#include "fmt.h"
#include "httpc.h"
#include "model.h"
#include "state.h"

enum view_id { V_INSTANCES, V_WORKERS, V_DEFINITIONS, V_TEMPLATES, V_RUNBOOKS, V_RUNS,
	V_EVENTS, V_COUNT };

struct app;

/* A one-key action on the selected row. */
struct action {
	int key;
	const char *label;	/* in the footer and the help */
	int needs_write;	/* refused for a viewer's token */
	void (*run)(struct app *a, json_t *obj);
};

struct view_def {
	const char *name;	/* ":instances" */
	const char *title;
	const char *short_title;	/* the tabs of a narrow terminal */
	const struct column *cols;
	size_t ncols;
	size_t default_sort;
	int default_desc;
	const struct action *actions;	/* ends with key 0 */
	/* Enter on a row; NULL: the object as JSON. */
	void (*detail)(struct app *a, json_t *obj);
	/*
	 * Its rows keep their object as JSON text for the detail and the
	 * actions; without it (the instances: 10,000 of them) these get an
	 * object of the row's key alone.
	 */
	int keeps_json;
};

/* Columns other files read by position: views_init() checks them against the tables. */
enum { INST_COL_ID, INST_COL_STATE, INST_COL_DEFINITION, INST_COL_OWNER, INST_COL_WORKER };
enum { WORKER_COL_STATE = 2, WORKER_COL_HEALTH, WORKER_COL_SLOTS = 5, WORKER_COL_CPU };

/* Each view's row, in its file (view_*.c); views[] points to them in order (views.c). */
extern const struct view_def view_instances, view_workers, view_definitions, view_templates,
    view_runbooks, view_runs, view_events;
extern const struct view_def *const views[V_COUNT];
extern const struct action views_no_actions[];
#define NCOLS(c) (sizeof(c) / sizeof((c)[0]))

/* What a view shows now. */
struct view_state {
	struct model m;
	char sel_key[64];	/* the selected row's key, kept across refreshes */
	long sel;		/* index among the visible rows */
	long top;		/* first visible row drawn */
	int is_numeric[MODEL_MAX_COLS];
};

/* A text page over the lists: a detail, the help, a run's output. */
struct pager {
	int is_open;
	char title[160];
	char **lines;
	size_t n;
	size_t cap;
	long top;
	/* What it shows, so that events can refresh it. */
	enum view_id of_view;
	char of_key[64];
	int64_t run_id;		/* a run whose output is followed, else 0 */
	int64_t run_step;	/* the step of the last output line, -1 before any */
};

/* The prompt line: a question and what answers it. */
struct prompt {
	int is_open;
	char question[160];
	char text[256];
	size_t len;
	int is_live_filter;	/* every key applies the text as the filter */
	void (*done)(struct app *a, const char *text);
	char ctx[128];		/* what the answer concerns (a key, a name) */
};

#define FORM_MAX_PARAMS 24

/* The form of a runbook's parameters. */
struct form {
	int is_open;
	json_t *runbook;	/* owned */
	size_t nparams;
	char values[FORM_MAX_PARAMS][256];
	int is_dry_run;
	int sel;		/* 0..nparams-1 the parameters, nparams dry run, nparams+1 run */
};

enum conn { CONN_CONNECTING, CONN_LIVE, CONN_AWAY };

struct app {
	struct settings set;
	struct httpc *http;
	struct evstream *es;

	struct view_state vs[V_COUNT];
	enum view_id cur;
	struct pager pager;
	struct prompt prompt;
	struct form form;

	enum conn conn;
	char conn_reason[160];
	int64_t last_seq;
	int is_caught_up;
	int is_viewer;		/* read-only */
	char role[16];
	json_t *alerts;		/* GET /api/v1/alerts items, or NULL */
	json_t *backup;		/* GET /api/v1/site's backup (the last ones), or NULL */
	/* The header's counts, made again only when their list changed. */
	size_t inst_counts[INST_STATE_COUNT];
	size_t worker_counts[WORKER_STATE_COUNT];
	size_t health_counts[HEALTH_COUNT];

	char message[256];	/* the status line */
	int is_error_message;

	/* Work that waits for a moment: reloads after bursts of events. */
	int64_t due_workers;	/* 0: nothing due */
	int64_t due_templates;
	int64_t due_definitions;
	int64_t due_alerts;
	int64_t due_redraw;

	int use_color;
	int use_utf8;
	int needs_redraw;
	int is_quitting;
	size_t events_max;	/* the events view keeps this many */
};

/* ---- site.c ---- */

/* Loads everything from the server; -1 with err when it cannot (unreachable, refused). */
int site_load(struct app *a, char *err, size_t errlen);
/* Loads one view's list again; -1 when the server did not answer. */
int site_reload(struct app *a, enum view_id v);
int site_reload_alerts(struct app *a);
/* Finds the token's role (admin, operator, viewer); -1 when the server did not answer. */
int site_probe_role(struct app *a, char *err, size_t errlen);
/* Applies one event of the stream (borrowed). */
void site_on_event(struct app *a, json_t *ev);
/* Runs the reloads that are due at now; returns the next due time, or 0. */
int64_t site_run_due(struct app *a, int64_t now);
/* The key of an object in view v ("12", "w1"); buf of n bytes. */
void site_key(enum view_id v, json_t *obj, char *buf, size_t n);
/* The object of view v with key alone ({"id": 12}); a new reference, or NULL. */
json_t *site_key_object(enum view_id v, const char *key);

/*
 * Sends an action: method POST to path with body (borrowed, may be NULL).
 * Says what happened on the status line; returns 0 on 2xx, else -1. *out,
 * when not NULL, gets the answer (to decref) on success.
 */
int site_post(struct app *a, const char *path, json_t *body, const char *what, json_t **out);
/* GET path; the answer (to decref) or NULL with the status line saying why. */
json_t *site_get(struct app *a, const char *path);
/* "BASE" + name encoded + suffix; the caller frees. */
char *site_path(const char *base, const char *name, const char *suffix);

/* ---- views.c ---- */

int views_init(struct app *a);
/* "YYYY-MM-DD HH:MM" of the RFC 3339 time at key (a cell). */
void views_cell_minute(json_t *o, const char *key, char *b, size_t n);
/* POSTs /api/v1/VIEW/KEY/verb (body may be NULL) and says how it went. */
void views_post(struct app *a, enum view_id v, const char *key, const char *verb, json_t *body);
/* The same for the row obj of view v. */
void views_act(struct app *a, enum view_id v, json_t *obj, const char *verb);
/* Asks "WHAT worker|instance NAME? (y/n)" and does verb on a y. */
void views_ask(struct app *a, enum view_id v, json_t *obj, const char *verb, const char *what);
/* Detail lines: an object's members one a line, or any JSON indented. */
void views_add_fields(struct app *a, json_t *obj);
void views_add_json(struct app *a, json_t *j);
void views_free(struct app *a);
/*
 * The object of the row of key in v (a new reference): its JSON as kept, or
 * for a view that keeps none, an object of its key alone; NULL when no row.
 */
json_t *views_row_json(struct app *a, enum view_id v, const char *key);
/* The slots and CPU allocated and there, over the workers that take instances. */
void views_worker_capacity(struct app *a, int64_t used[2], int64_t cap[2]);
/* Opens the detail of obj in view v. */
void views_detail(struct app *a, enum view_id v, json_t *obj);
/* The pager's detail again, when an event concerns what it shows. */
void views_refresh_detail(struct app *a);
/* Starts the runbook run the form describes. */
void views_run_form(struct app *a);
/* The column index in v for a title, or -1. */
/* A view by its name or a unique prefix of it; -1 when none. */
int views_find(const char *name);

/* ---- draw.c ---- */

void draw_init(struct app *a);
void draw_all(struct app *a);
/* Lines of the list area on this terminal. */
int draw_list_rows(void);

/* ---- input.c ---- */

void input_key(struct app *a, int ch);
void prompt_open(struct app *a, const char *question, const char *initial,
    void (*done)(struct app *a, const char *text), const char *ctx);

/* ---- shared helpers ---- */

void app_message(struct app *a, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pager_open(struct app *a, const char *title);
void pager_add(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds text, split at newlines. */
void pager_add_text(struct app *a, const char *text);
void pager_close(struct app *a);
void form_close(struct app *a);
/* The selected object of the current view (views_row_json: to decref), or NULL. */
json_t *app_selected(struct app *a);
/* Keeps the selection inside the visible rows after a change. */
void app_fix_selection(struct app *a, enum view_id v);

#endif
