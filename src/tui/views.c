/*
 * The views of outpost-top, one row each in views[]: their columns and how
 * a cell is written, their one-key actions, and what Enter opens. Cells are
 * plain text written by src/common's fmt.h, as the CLI's are (model.c keeps
 * them for filtering and sorting); draw.c colours them by the column's
 * state table. Events' summaries are the server's.
 *
 * What it must never do: draw with ncurses (draw.c does), or list states
 * (src/common/state.c is the one list).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

/* ---- cells: src/common's (fmt.h), and the few that only the dashboard writes ---- */

/* An RFC 3339 time at key as "YYYY-MM-DD HH:MM" (the width of a column). */
static void
c_minute(json_t *o, const char *key, char *b, size_t n)
{
	const char *t = json_string_value(json_object_get(o, key));

	if (t == NULL || strlen(t) < 16)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.10s %.5s", t, t + 11);
}

/* "dry" for a dry run, else nothing. */
static void
c_dry(json_t *o, const char *key, char *b, size_t n)
{
	snprintf(b, n, "%s", json_is_true(json_object_get(o, key)) ? "dry" : "");
}

/* The names of a runbook's parameters: "node,deadline". */
static void
c_params(json_t *o, const char *key, char *b, size_t n)
{
	json_t *p;
	size_t i, off = 0;

	b[0] = '\0';
	json_array_foreach(json_object_get(o, key), i, p) {
		int w = snprintf(b + off, n - off, "%s%s", i ? "," : "",
		    json_string_value(json_object_get(p, "name")) ?: "?");

		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
}

/* "HH:MM:SS" of an event's time at key. */
static void
c_clock(json_t *o, const char *key, char *b, size_t n)
{
	const char *t = json_string_value(json_object_get(o, key));

	snprintf(b, n, "%.8s", t != NULL && strlen(t) >= 19 ? t + 11 : "-");
}

/* The server's line for an event; an event without one (an older server) shows its type. */
static void
c_summary(json_t *o, const char *key, char *b, size_t n)
{
	const char *said = json_string_value(json_object_get(o, key));

	snprintf(b, n, "%s", said != NULL ? said :
	    json_string_value(json_object_get(o, "type")) ?: "");
}

/* ---- actions ---- */

static void
instance_action(struct app *a, json_t *obj, const char *verb)
{
	char id[32], *path, what[96];

	site_key(V_INSTANCES, obj, id, sizeof(id));
	path = site_path("/api/v1/instances/", id, verb);
	snprintf(what, sizeof(what), "%s instance %s", verb + 1, id);
	if (path != NULL)
		site_post(a, path, NULL, what, NULL);
	free(path);
}

static void
worker_post(struct app *a, const char *key, const char *verb, json_t *body)
{
	struct model_row *r = model_find(&a->vs[V_WORKERS].m, key);
	const char *name = r != NULL ? json_string_value(json_object_get(r->obj, "name")) : NULL;
	char *path = site_path("/api/v1/workers/", key, verb), what[128];

	snprintf(what, sizeof(what), "%s worker %s", verb + 1, name != NULL ? name : key);
	if (path != NULL)
		site_post(a, path, body, what, NULL);
	free(path);
}

static void
worker_action(struct app *a, json_t *obj, const char *verb)
{
	char id[32];

	site_key(V_WORKERS, obj, id, sizeof(id));
	worker_post(a, id, verb, NULL);
}

/* A y answer to "sure?" runs the verb kept in the prompt's context ("KEY /verb"). */
static void
confirmed(struct app *a, const char *text)
{
	char key[64], verb[32];

	if (text[0] != 'y' && text[0] != 'Y') {
		app_message(a, 0, "nothing done");
		return;
	}
	if (sscanf(a->prompt.ctx, "%63s %31s", key, verb) != 2)
		return;
	if (strncmp(a->prompt.ctx, "i:", 2) == 0) {
		char *path = site_path("/api/v1/instances/", key + 2, verb), what[160];

		snprintf(what, sizeof(what), "%s instance %s", verb + 1, key + 2);
		if (path != NULL)
			site_post(a, path, NULL, what, NULL);
		free(path);
	} else {
		worker_post(a, key + 2, verb, NULL);
	}
}

static void
ask(struct app *a, const char *kind, json_t *obj, enum view_id v, const char *verb,
    const char *what)
{
	char key[40], ctx[128], q[160], name[64];

	site_key(v, obj, key, sizeof(key));
	fmt_value(json_object_get(obj, v == V_WORKERS ? "name" : "id"), name, sizeof(name));
	snprintf(ctx, sizeof(ctx), "%s:%s %s", kind, key, verb);
	snprintf(q, sizeof(q), "%s %s %s? (y/n) ", what, v == V_WORKERS ? "worker" : "instance",
	    name);
	prompt_open(a, q, "", confirmed, ctx);
}

static void a_istop(struct app *a, json_t *o) { instance_action(a, o, "/stop"); }
static void a_iretry(struct app *a, json_t *o) { instance_action(a, o, "/retry"); }
static void a_iterm(struct app *a, json_t *o) { ask(a, "i", o, V_INSTANCES, "/terminate", "terminate (no collection, no grade)"); }
static void a_cordon(struct app *a, json_t *o) { worker_action(a, o, "/cordon"); }
static void a_uncordon(struct app *a, json_t *o) { worker_action(a, o, "/uncordon"); }
static void a_wstop(struct app *a, json_t *o) { ask(a, "w", o, V_WORKERS, "/stop", "stop the agent of"); }
static void a_wterm(struct app *a, json_t *o) { ask(a, "w", o, V_WORKERS, "/terminate", "terminate"); }

static void
drain_done(struct app *a, const char *text)
{
	json_t *body = text[0] != '\0' ? json_pack("{s:s}", "deadline", text) : NULL;

	worker_post(a, a->prompt.ctx, "/drain", body);
	json_decref(body);
}

static void
a_drain(struct app *a, json_t *o)
{
	char id[32];

	site_key(V_WORKERS, o, id, sizeof(id));
	prompt_open(a, "drain deadline (a duration such as 30m, a time, or empty for none): ",
	    "30m", drain_done, id);
}

static void
scale_done(struct app *a, const char *text)
{
	int64_t count;
	char *path, what[200];
	json_t *body;

	if (parse_int64(text, 0, 100000, &count) != 0) {
		app_message(a, 1, "scale: the count must be a whole number 0..100000, not '%s'",
		    text);
		return;
	}
	body = json_pack("{s:I}", "count", (json_int_t)count);
	path = site_path("/api/v1/templates/", a->prompt.ctx, "/scale");
	snprintf(what, sizeof(what), "scale template %s to %" PRId64, a->prompt.ctx, count);
	if (path != NULL && body != NULL)
		site_post(a, path, body, what, NULL);
	free(path);
	json_decref(body);
}

static void
a_scale(struct app *a, json_t *o)
{
	char name[64], q[160], cur[32];

	site_key(V_TEMPLATES, o, name, sizeof(name));
	fmt_value(json_object_get(o, "desired"), cur, sizeof(cur));
	snprintf(q, sizeof(q), "scale %s to how many workers (min %" JSON_INTEGER_FORMAT ", max %"
	    JSON_INTEGER_FORMAT ")? ", name, json_integer_value(json_object_get(o, "min")),
	    json_integer_value(json_object_get(o, "max")));
	prompt_open(a, q, cur, scale_done, name);
}

static void
a_run(struct app *a, json_t *o)
{
	json_t *p;
	size_t i;

	form_close(a);
	a->form.runbook = json_incref(o);
	a->form.nparams = json_array_size(json_object_get(o, "params"));
	if (a->form.nparams > FORM_MAX_PARAMS)
		a->form.nparams = FORM_MAX_PARAMS;
	json_array_foreach(json_object_get(o, "params"), i, p) {
		json_t *d = json_object_get(p, "default");

		if (i >= FORM_MAX_PARAMS)
			break;
		a->form.values[i][0] = '\0';
		if (d != NULL && !json_is_null(d))
			fmt_value(d, a->form.values[i], sizeof(a->form.values[i]));
	}
	a->form.is_dry_run = 0;
	a->form.sel = 0;
	a->form.is_open = 1;
}

static void
a_cancel_run(struct app *a, json_t *o)
{
	char id[32], *path, what[64];

	site_key(V_RUNS, o, id, sizeof(id));
	path = site_path("/api/v1/runs/", id, "/cancel");
	snprintf(what, sizeof(what), "cancel run %s", id);
	if (path != NULL)
		site_post(a, path, NULL, what, NULL);
	free(path);
}

/* Starts the run the form holds, then follows its output in the pager. */
void
views_run_form(struct app *a)
{
	json_t *body, *params, *p, *run = NULL;
	const char *name = json_string_value(json_object_get(a->form.runbook, "name"));
	char *path, what[128];
	size_t i;

	params = json_object();
	json_array_foreach(json_object_get(a->form.runbook, "params"), i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));
		const char *pname = json_string_value(json_object_get(p, "name"));
		const char *v;
		int64_t n;

		if (i >= a->form.nparams || pname == NULL)
			break;
		v = a->form.values[i];
		if (v[0] == '\0')
			continue;	/* the runbook's default, or its error if required */
		if (type != NULL && strcmp(type, "int") == 0 &&
		    parse_int64(v, INT64_MIN, INT64_MAX, &n) == 0)
			json_object_set_new(params, pname, json_integer(n));
		else if (type != NULL && strcmp(type, "bool") == 0)
			json_object_set_new(params, pname, json_boolean(strcmp(v, "true") == 0 ||
			    strcmp(v, "yes") == 0 || strcmp(v, "1") == 0));
		else
			json_object_set_new(params, pname, json_string(v));
	}
	body = json_pack("{s:o, s:b, s:b}", "params", params, "dry_run", a->form.is_dry_run,
	    "confirm", json_is_true(json_object_get(a->form.runbook, "confirm")));
	path = site_path("/api/v1/runbooks/", name != NULL ? name : "", "/runs");
	snprintf(what, sizeof(what), "run %s%s", name != NULL ? name : "?",
	    a->form.is_dry_run ? " (dry run)" : "");
	if (path == NULL || body == NULL || site_post(a, path, body, what, &run) != 0) {
		free(path);
		json_decref(body);
		return;	/* the form stays open with the server's reason below it */
	}
	free(path);
	json_decref(body);
	form_close(a);
	views_detail(a, V_RUNS, run);
	json_decref(run);
}

static const struct action inst_actions[] = {
	{ 's', "stop", 1, a_istop },
	{ 't', "terminate", 1, a_iterm },
	{ 'r', "retry", 1, a_iretry },
	{ 0, NULL, 0, NULL }
};

static const struct action worker_actions[] = {
	{ 'c', "cordon", 1, a_cordon },
	{ 'u', "uncordon", 1, a_uncordon },
	{ 'd', "drain", 1, a_drain },
	{ 's', "stop", 1, a_wstop },
	{ 't', "terminate", 1, a_wterm },
	{ 0, NULL, 0, NULL }
};

static const struct action template_actions[] = {
	{ 's', "scale", 1, a_scale },
	{ 0, NULL, 0, NULL }
};

static const struct action runbook_actions[] = {
	{ 'r', "run", 1, a_run },
	{ 0, NULL, 0, NULL }
};

static const struct action run_actions[] = {
	{ 'x', "cancel", 1, a_cancel_run },
	{ 0, NULL, 0, NULL }
};

static const struct action no_actions[] = {
	{ 0, NULL, 0, NULL }
};

/* ---- details ---- */

/* A list answer's items, one line each by fmt. */
static void
add_json_lines(struct app *a, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		pager_add_text(a, s);
	free(s);
}

static void
add_fields(struct app *a, json_t *obj)
{
	const char *k;
	json_t *v;
	char val[512];

	json_object_foreach(obj, k, v) {
		fmt_value(v, val, sizeof(val));
		pager_add(a, "%-16s %s", k, val);
	}
}

static void
instance_detail(struct app *a, json_t *obj)
{
	char id[32], path[96], *s;
	json_t *j, *it;
	size_t i;

	site_key(V_INSTANCES, obj, id, sizeof(id));
	snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
	if ((j = site_get(a, path)) != NULL) {
		add_fields(a, j);
		json_decref(j);
	}
	pager_add(a, "%s", "");
	pager_add(a, "== grade ==");
	s = json_dumps(json_object_get(obj, "grade"), JSON_ENCODE_ANY | JSON_COMPACT);
	pager_add(a, "%s", s != NULL ? s : "none");
	free(s);
	pager_add(a, "%s", "");
	pager_add(a, "== placement ==");
	snprintf(path, sizeof(path), "/api/v1/instances/%s/placement", id);
	if ((j = site_get(a, path)) != NULL) {
		const char *why = json_string_value(json_object_get(j, "explanation"));

		if (why != NULL)
			pager_add_text(a, why);
		else
			add_json_lines(a, j);
		json_decref(j);
	}
	pager_add(a, "%s", "");
	pager_add(a, "== transitions ==");
	snprintf(path, sizeof(path), "/api/v1/instances/%s/transitions", id);
	if ((j = site_get(a, path)) != NULL) {
		json_array_foreach(json_object_get(j, "items"), i, it) {
			char at[64], from[32], to[32], why[256], who[64];

			fmt_value(json_object_get(it, "at"), at, sizeof(at));
			fmt_value(json_object_get(it, "from"), from, sizeof(from));
			fmt_value(json_object_get(it, "to"), to, sizeof(to));
			fmt_value(json_object_get(it, "reason"), why, sizeof(why));
			fmt_value(json_object_get(it, "actor"), who, sizeof(who));
			pager_add(a, "%-24s %-13s -> %-13s %s (%s)", at, from, to, why, who);
		}
		json_decref(j);
	}
	pager_add(a, "%s", "");
	pager_add(a, "== log ==");
	snprintf(path, sizeof(path), "/api/v1/instances/%s/log?limit=500", id);
	if ((j = site_get(a, path)) != NULL) {
		const char *hook = "";

		json_array_foreach(json_object_get(j, "items"), i, it) {
			const char *h = json_string_value(json_object_get(it, "hook"));

			if (h != NULL && strcmp(h, hook) != 0) {
				pager_add(a, "--> %s", h);
				hook = h;
			}
			pager_add_text(a, json_string_value(json_object_get(it, "text")) ?: "");
		}
		json_decref(j);
	}
}

static void
worker_detail(struct app *a, json_t *obj)
{
	struct model *im = &a->vs[V_INSTANCES].m;
	const char *name = json_string_value(json_object_get(obj, "name"));
	size_t count = 0;

	add_fields(a, obj);
	pager_add(a, "%s", "");
	pager_add(a, "== its instances ==");
	/* O(n) over the instances the dashboard holds. */
	for (size_t i = 0; name != NULL && i < im->n; i++) {
		const char *w = json_string_value(json_object_get(im->rows[i].obj, "worker"));
		const char *st = json_string_value(json_object_get(im->rows[i].obj, "state"));
		enum inst_state s;

		if (w == NULL || strcmp(w, name) != 0 || st == NULL ||
		    inst_state_parse(st, &s) != 0 || !inst_state_holds_worker(s))
			continue;
		pager_add(a, "%-8s %-13s %-20s %s", im->rows[i].cells[0], st,
		    im->rows[i].cells[2], im->rows[i].cells[3]);
		count++;
	}
	if (count == 0)
		pager_add(a, "none");
}

static void
definition_detail(struct app *a, json_t *obj)
{
	char *path = site_path("/api/v1/definitions/",
	    json_string_value(json_object_get(obj, "name")) ?: "", "");
	json_t *j = path != NULL ? site_get(a, path) : NULL;
	char v[256];

	free(path);
	if (j == NULL)
		return;
	fmt_value(json_object_get(j, "versions"), v, sizeof(v));
	pager_add(a, "versions: %s", v);
	pager_add(a, "%s", "");
	add_json_lines(a, j);
	json_decref(j);
}

static void
runbook_detail(struct app *a, json_t *obj)
{
	const char *name = json_string_value(json_object_get(obj, "name"));
	struct sbuf path;
	json_t *j, *it;
	size_t i;

	add_json_lines(a, obj);
	pager_add(a, "%s", "");
	pager_add(a, "== its runs, newest first ==");
	sbuf_init(&path);
	sbuf_puts(&path, "/api/v1/runs");
	httpc_query_add(&path, "runbook", name);
	httpc_query_add(&path, "limit", "20");
	if (path.p != NULL && (j = site_get(a, path.p)) != NULL) {
		json_array_foreach(json_object_get(j, "items"), i, it) {
			char id[16], st[16], at[40], who[64];

			fmt_value(json_object_get(it, "id"), id, sizeof(id));
			fmt_value(json_object_get(it, "status"), st, sizeof(st));
			fmt_value(json_object_get(it, "created_at"), at, sizeof(at));
			fmt_value(json_object_get(it, "actor"), who, sizeof(who));
			pager_add(a, "run %-5s %-11s %s by %s%s", id, st, at, who,
			    json_is_true(json_object_get(it, "dry_run")) ? " (dry run)" : "");
		}
		json_decref(j);
	}
	sbuf_free(&path);
}

/* A run and its steps' output; the pager then follows runbook.output events. */
static void
run_detail(struct app *a, json_t *obj)
{
	char id[32], path[64], st[32];
	json_t *j, *step;
	size_t i;

	site_key(V_RUNS, obj, id, sizeof(id));
	snprintf(path, sizeof(path), "/api/v1/runs/%s", id);
	j = site_get(a, path);
	if (j == NULL)
		j = json_incref(obj);
	fmt_value(json_object_get(j, "status"), st, sizeof(st));
	pager_add(a, "run %s of %s: %s%s", id, json_string_value(json_object_get(j, "runbook")) ?:
	    "?", st, json_is_true(json_object_get(j, "dry_run")) ? " (dry run)" : "");
	a->pager.run_id = json_integer_value(json_object_get(j, "id"));
	a->pager.run_step = -1;
	json_array_foreach(json_object_get(j, "steps"), i, step) {
		const char *out = json_string_value(json_object_get(step, "output"));

		if (out == NULL || out[0] == '\0')
			continue;
		pager_add(a, "--- step %zu ---", i + 1);
		pager_add_text(a, out);
		a->pager.run_step = (int64_t)i;
	}
	if (strcmp(st, "running") != 0)
		pager_add(a, "=== the run %s ===", st);
	json_decref(j);
}

void
views_detail(struct app *a, enum view_id v, json_t *obj)
{
	char key[64], title[160];

	site_key(v, obj, key, sizeof(key));
	snprintf(title, sizeof(title), "%s %s", views[v].title, key);
	json_incref(obj);	/* pager_open may free the row that holds it */
	pager_open(a, title);
	a->pager.of_view = v;
	snprintf(a->pager.of_key, sizeof(a->pager.of_key), "%s", key);
	if (views[v].detail != NULL)
		views[v].detail(a, obj);
	else
		add_json_lines(a, obj);
	json_decref(obj);
	a->needs_redraw = 1;
}

void
views_refresh_detail(struct app *a)
{
	struct model_row *r = model_find(&a->vs[a->pager.of_view].m, a->pager.of_key);
	long top = a->pager.top;

	if (r == NULL)
		return;
	views_detail(a, a->pager.of_view, r->obj);
	a->pager.top = top;
}

/* ---- the table ---- */

static const struct column inst_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 6, NULL },
	{ "STATE", "state", CELL_INST_STATE, TABLE_LEFT, 13, NULL },
	{ "DEFINITION", "definition", CELL_PLAIN, TABLE_LEFT, 14, fmt_defref },
	{ "OWNER", "owner", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "WORKER", "worker", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "SLOT END", "timeslot_end", CELL_PLAIN, TABLE_LEFT, 16, c_minute },
	{ "REASON", "state_reason", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

static const struct column worker_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 12, NULL },
	{ "STATE", "state", CELL_WORKER_STATE, TABLE_LEFT, 12, NULL },
	{ "HEALTH", "health", CELL_HEALTH, TABLE_LEFT, 7, NULL },
	{ "SLOTS", "slots", CELL_BAR, TABLE_RIGHT, 14, fmt_usage },
	{ "CPU", "cpu", CELL_PLAIN, TABLE_RIGHT, 7, fmt_usage },
	{ "MEMORY", "memory_mb", CELL_PLAIN, TABLE_RIGHT, 11, fmt_usage },
	{ "INST", "instance_count", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "TEMPLATE", "template", CELL_PLAIN, TABLE_LEFT, 8, NULL },
};

static const struct column def_cols[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 18, NULL },
	{ "VER", "version", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "CPU", "resources.cpu", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "MEM MB", "resources.memory_mb", CELL_PLAIN, TABLE_RIGHT, 7, NULL },
	{ "WARM", "warm_pool.depth", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "ON LOSS", "on_worker_loss", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

static const struct column tmpl_cols[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 14, NULL },
	{ "PROVISIONER", "provisioner.type", CELL_PLAIN, TABLE_LEFT, 11, NULL },
	{ "MIN", "min", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "MAX", "max", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "DESIRED", "desired", CELL_PLAIN, TABLE_RIGHT, 7, NULL },
	{ "LIVE", "workers.live", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

static const struct column rb_cols[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 24, NULL },
	{ "ROLE", "role", CELL_PLAIN, TABLE_LEFT, 8, NULL },
	{ "CONFIRM", "confirm", CELL_PLAIN, TABLE_LEFT, 7, fmt_yes_no },
	{ "PARAMS", "params", CELL_PLAIN, TABLE_LEFT, 16, c_params },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

static const struct column run_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 5, NULL },
	{ "RUNBOOK", "runbook", CELL_PLAIN, TABLE_LEFT, 22, NULL },
	{ "STATUS", "status", CELL_RUN, TABLE_LEFT, 11, NULL },
	{ "DRY", "dry_run", CELL_PLAIN, TABLE_LEFT, 3, c_dry },
	{ "ACTOR", "actor", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "CREATED", "created_at", CELL_PLAIN, TABLE_LEFT, 16, c_minute },
	{ "ERROR", "error", CELL_PLAIN, TABLE_LEFT, 6, NULL },
};

static const struct column ev_cols[] = {
	{ "SEQ", "seq", CELL_PLAIN, TABLE_RIGHT, 7, NULL },
	{ "TIME", "ts", CELL_PLAIN, TABLE_LEFT, 8, c_clock },
	{ "TYPE", "type", CELL_PLAIN, TABLE_LEFT, 18, NULL },
	{ "ID", "id", CELL_PLAIN, TABLE_LEFT, 8, NULL },
	{ "SUMMARY", "summary", CELL_PLAIN, TABLE_LEFT, 10, c_summary },
};

#define NCOLS(c) (sizeof(c) / sizeof((c)[0]))

const struct view_def views[V_COUNT] = {
	[V_INSTANCES] = { "instances", "Instances", "Inst", inst_cols, NCOLS(inst_cols), 0, 0,
	    inst_actions, instance_detail },
	[V_WORKERS] = { "workers", "Workers", "Work", worker_cols, NCOLS(worker_cols), 1, 0,
	    worker_actions, worker_detail },
	[V_DEFINITIONS] = { "definitions", "Definitions", "Defs", def_cols, NCOLS(def_cols), 0, 0,
	    no_actions, definition_detail },
	[V_TEMPLATES] = { "templates", "Templates", "Tmpl", tmpl_cols, NCOLS(tmpl_cols), 0, 0,
	    template_actions, NULL },
	[V_RUNBOOKS] = { "runbooks", "Runbooks", "Books", rb_cols, NCOLS(rb_cols), 0, 0,
	    runbook_actions, runbook_detail },
	[V_RUNS] = { "runs", "Runs", "Runs", run_cols, NCOLS(run_cols), 0, 1, run_actions, run_detail },
	[V_EVENTS] = { "events", "Events", "Evts", ev_cols, NCOLS(ev_cols), 0, 1, no_actions, NULL },
};

static void
format_cell(json_t *obj, size_t col, char *buf, size_t n, void *arg)
{
	const struct view_def *v = arg;

	fmt_cell(obj, v->cols[col].key, v->cols[col].format, buf, n);
}

int
views_init(struct app *a)
{
	for (int v = 0; v < V_COUNT; v++) {
		struct view_state *s = &a->vs[v];

		for (size_t c = 0; c < views[v].ncols; c++)
			s->is_numeric[c] = views[v].cols[c].align == TABLE_RIGHT;
		if (model_init(&s->m, views[v].ncols, s->is_numeric, format_cell,
		    (void *)&views[v]) != 0)
			return -1;
		model_set_sort(&s->m, views[v].default_sort, views[v].default_desc);
	}
	return 0;
}

void
views_free(struct app *a)
{
	for (int v = 0; v < V_COUNT; v++)
		model_free(&a->vs[v].m);
}

int
views_find(const char *name)
{
	int found = -1;

	for (int v = 0; v < V_COUNT; v++) {
		if (strcmp(views[v].name, name) == 0)
			return v;
		if (name[0] != '\0' && strncmp(views[v].name, name, strlen(name)) == 0) {
			if (found >= 0)
				return -1;	/* ambiguous */
			found = v;
		}
	}
	return found;
}
