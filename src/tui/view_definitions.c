/*
 * The definitions view of outpost-top: the latest version of each, and in
 * its detail every version.
 *
 * What it must never do: draw (draw.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

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
	views_add_json(a, j);
	json_decref(j);
}

static const struct column def_cols[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 18, NULL },
	{ "VER", "version", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "CPU", "resources.cpu", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "MEM MB", "resources.memory_mb", CELL_PLAIN, TABLE_RIGHT, 7, NULL },
	{ "WARM", "warm_pool.depth", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "ON LOSS", "on_worker_loss", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 10, NULL },
};

const struct view_def view_definitions = {
	.name = "definitions", .title = "Definitions", .short_title = "Defs",
	.cols = def_cols, .ncols = NCOLS(def_cols),
	.actions = views_no_actions,
	.detail = definition_detail,
	.keeps_json = 1,
};
