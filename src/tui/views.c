/*
 * The views of outpost-top: views[] points to each view's row (a file of
 * its own, view_*.c: its columns and how a cell is written, its one-key
 * actions, what Enter opens), and this file holds what they share: the
 * models the rows live in, the detail pager's start, a worker's POSTs and
 * the "sure?" prompt of the actions that end things. Cells are plain text
 * written by src/common's fmt.h, as the CLI's are (model.c keeps them for
 * filtering and sorting); draw.c colours them by the column's state table.
 *
 * What it must never do: draw with ncurses (draw.c does), or list states
 * (src/common/state.c is the one list).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

const struct view_def *const views[V_COUNT] = {
	[V_INSTANCES] = &view_instances,
	[V_WORKERS] = &view_workers,
	[V_DEFINITIONS] = &view_definitions,
	[V_TEMPLATES] = &view_templates,
	[V_RUNBOOKS] = &view_runbooks,
	[V_RUNS] = &view_runs,
	[V_EVENTS] = &view_events,
};

const struct action views_no_actions[] = {
	{ 0, NULL, 0, NULL }
};

/* ---- cells the dashboard writes itself ---- */

void
views_cell_minute(json_t *o, const char *key, char *b, size_t n)
{
	const char *t = json_string_value(json_object_get(o, key));

	if (t == NULL || strlen(t) < 16)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.10s %.5s", t, t + 11);
}

/* ---- actions ---- */

void
views_post(struct app *a, enum view_id v, const char *key, const char *verb, json_t *body)
{
	static const struct { const char *base, *noun; } of[V_COUNT] = {
		[V_INSTANCES] = { "/api/v1/instances/", "instance" },
		[V_WORKERS] = { "/api/v1/workers/", "worker" },
		[V_TEMPLATES] = { "/api/v1/templates/", "template" },
		[V_RUNS] = { "/api/v1/runs/", "run" },
	};
	json_t *obj;
	const char *name;
	char *path, what[160];

	if (of[v].base == NULL)
		return;
	obj = views_row_json(a, v, key);
	name = json_string_value(json_object_get(obj, "name"));
	path = site_path(of[v].base, key, verb);
	snprintf(what, sizeof(what), "%s %s %s", verb + 1, of[v].noun, name != NULL ? name : key);
	json_decref(obj);
	if (path != NULL)
		site_post(a, path, body, what, NULL);
	free(path);
}

void
views_act(struct app *a, enum view_id v, json_t *obj, const char *verb)
{
	char key[64];

	site_key(v, obj, key, sizeof(key));
	views_post(a, v, key, verb, NULL);
}

/* A y answer to "sure?" runs the verb kept in the prompt's context ("VIEW:KEY /verb"). */
static void
confirmed(struct app *a, const char *text)
{
	char key[64], verb[32];
	int v;

	if (text[0] != 'y' && text[0] != 'Y') {
		app_message(a, 0, "nothing done");
		return;
	}
	if (sscanf(a->prompt.ctx, "%d:%63s %31s", &v, key, verb) != 3 || v < 0 || v >= V_COUNT)
		return;
	views_post(a, (enum view_id)v, key, verb, NULL);
}

void
views_ask(struct app *a, enum view_id v, json_t *obj, const char *verb, const char *what)
{
	char key[40], ctx[128], q[160], name[64];

	site_key(v, obj, key, sizeof(key));
	fmt_value(json_object_get(obj, v == V_WORKERS ? "name" : "id"), name, sizeof(name));
	snprintf(ctx, sizeof(ctx), "%d:%s %s", (int)v, key, verb);
	snprintf(q, sizeof(q), "%s %s %s? (y/n) ", what, v == V_WORKERS ? "worker" : "instance",
	    name);
	prompt_open(a, q, "", confirmed, ctx);
}

/* ---- details ---- */

void
views_add_json(struct app *a, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		pager_add_text(a, s);
	free(s);
}

void
views_add_fields(struct app *a, json_t *obj)
{
	const char *k;
	json_t *v;
	char val[512];

	json_object_foreach(obj, k, v) {
		fmt_value(v, val, sizeof(val));
		pager_add(a, "%-16s %s", k, val);
	}
}

void
views_detail(struct app *a, enum view_id v, json_t *obj)
{
	char key[64], title[160];

	site_key(v, obj, key, sizeof(key));
	snprintf(title, sizeof(title), "%s %s", views[v]->title, key);
	json_incref(obj);	/* pager_open may free the row that holds it */
	pager_open(a, title);
	a->pager.of_view = v;
	snprintf(a->pager.of_key, sizeof(a->pager.of_key), "%s", key);
	if (views[v]->detail != NULL)
		views[v]->detail(a, obj);
	else
		views_add_json(a, obj);
	json_decref(obj);
	a->needs_redraw = 1;
}

void
views_refresh_detail(struct app *a)
{
	json_t *obj = views_row_json(a, a->pager.of_view, a->pager.of_key);
	long top = a->pager.top;

	if (obj == NULL)
		return;
	views_detail(a, a->pager.of_view, obj);
	json_decref(obj);
	a->pager.top = top;
}

json_t *
views_row_json(struct app *a, enum view_id v, const char *key)
{
	struct model_row *r;

	if (v >= V_COUNT || (r = model_find(&a->vs[v].m, key)) == NULL)
		return NULL;
	return views[v]->keeps_json ? model_row_json(r) : site_key_object(v, key);
}

/* ---- the models ---- */

static void
format_cell(json_t *obj, size_t col, char *buf, size_t n, void *arg)
{
	const struct view_def *v = arg;

	fmt_cell(obj, v->cols[col].key, v->cols[col].format, buf, n);
}

static int
state_of_instance(const char *cell)
{
	enum inst_state st;

	return inst_state_parse(cell, &st) == 0 ? (int)st : -1;
}

static int
state_of_worker(const char *cell)
{
	enum worker_state st;

	return worker_state_parse(cell, &st) == 0 ? (int)st : -1;
}

int
views_init(struct app *a)
{
	/* The columns tui.h names by position are where it says. */
	assert(strcmp(view_instances.cols[INST_COL_ID].key, "id") == 0);
	assert(view_instances.cols[INST_COL_STATE].color == CELL_INST_STATE);
	assert(strcmp(view_instances.cols[INST_COL_DEFINITION].key, "definition") == 0);
	assert(strcmp(view_instances.cols[INST_COL_OWNER].key, "owner") == 0);
	assert(strcmp(view_instances.cols[INST_COL_WORKER].key, "worker") == 0);
	assert(view_workers.cols[WORKER_COL_STATE].color == CELL_WORKER_STATE);
	assert(view_workers.cols[WORKER_COL_HEALTH].color == CELL_HEALTH);
	assert(strcmp(view_workers.cols[WORKER_COL_SLOTS].key, "slots") == 0);
	assert(strcmp(view_workers.cols[WORKER_COL_CPU].key, "cpu") == 0);
	for (int v = 0; v < V_COUNT; v++) {
		struct view_state *s = &a->vs[v];

		for (size_t c = 0; c < views[v]->ncols; c++)
			s->is_numeric[c] = views[v]->cols[c].align == TABLE_RIGHT;
		if (model_init(&s->m, views[v]->ncols, s->is_numeric, format_cell,
		    (void *)views[v]) != 0)
			return -1;
		s->m.keeps_json = views[v]->keeps_json;
		model_set_sort(&s->m, views[v]->default_sort, views[v]->default_desc);
	}
	model_set_state_col(&a->vs[V_INSTANCES].m, INST_COL_STATE, state_of_instance);
	model_set_state_col(&a->vs[V_WORKERS].m, WORKER_COL_STATE, state_of_worker);
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
		if (strcmp(views[v]->name, name) == 0)
			return v;
		if (name[0] != '\0' && strncmp(views[v]->name, name, strlen(name)) == 0) {
			if (found >= 0)
				return -1;	/* ambiguous */
			found = v;
		}
	}
	return found;
}
