/*
 * The runbooks view of outpost-top: each runbook's role and parameters,
 * its one action (run it through the form of its parameters, input.c's,
 * which views_run_form() then starts), and its detail (its recent runs).
 *
 * What it must never do: draw (draw.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

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

static const struct action runbook_actions[] = {
	{ 'r', "run", 1, a_run },
	{ 0, NULL, 0, NULL }
};

static void
runbook_detail(struct app *a, json_t *obj)
{
	const char *name = json_string_value(json_object_get(obj, "name"));
	struct sbuf path;
	json_t *j, *it;
	size_t i;

	views_add_json(a, obj);
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

static const struct column rb_cols[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 24, NULL },
	{ "ROLE", "role", CELL_PLAIN, TABLE_LEFT, 8, NULL },
	{ "CONFIRM", "confirm", CELL_PLAIN, TABLE_LEFT, 7, fmt_yes_no },
	{ "PARAMS", "params", CELL_PLAIN, TABLE_LEFT, 16, c_params },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

const struct view_def view_runbooks = {
	.name = "runbooks", .title = "Runbooks", .short_title = "Books",
	.cols = rb_cols, .ncols = NCOLS(rb_cols),
	.actions = runbook_actions,
	.detail = runbook_detail,
	.keeps_json = 1,
};
