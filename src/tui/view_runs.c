/*
 * The runs view of outpost-top: the newest first, each with its status,
 * its one action (cancel), and its detail (its steps' output, which the
 * pager then follows as runbook.output events come).
 *
 * What it must never do: draw (draw.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

/* "dry" for a dry run, else nothing. */
static void
c_dry(json_t *o, const char *key, char *b, size_t n)
{
	snprintf(b, n, "%s", json_is_true(json_object_get(o, key)) ? "dry" : "");
}

static void a_cancel_run(struct app *a, json_t *o) { views_act(a, V_RUNS, o, "/cancel"); }

static const struct action run_actions[] = {
	{ 'x', "cancel", 1, a_cancel_run },
	{ 0, NULL, 0, NULL }
};

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

static const struct column run_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 5, NULL },
	{ "RUNBOOK", "runbook", CELL_PLAIN, TABLE_LEFT, 22, NULL },
	{ "STATUS", "status", CELL_RUN, TABLE_LEFT, 11, NULL },
	{ "DRY", "dry_run", CELL_PLAIN, TABLE_LEFT, 3, c_dry },
	{ "ACTOR", "actor", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "CREATED", "created_at", CELL_PLAIN, TABLE_LEFT, 16, views_cell_minute },
	{ "ERROR", "error", CELL_PLAIN, TABLE_LEFT, 6, NULL },
};

const struct view_def view_runs = {
	.name = "runs", .title = "Runs", .short_title = "Runs",
	.cols = run_cols, .ncols = NCOLS(run_cols),
	.default_desc = 1,	/* newest first */
	.actions = run_actions,
	.detail = run_detail,
	.keeps_json = 1,
};
