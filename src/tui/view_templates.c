/*
 * The templates view of outpost-top: each template's provisioner and
 * counts, and its one action, scale (a count from 0 to its max).
 *
 * What it must never do: draw (draw.c does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "tui.h"
#include "util.h"

static void
scale_done(struct app *a, const char *text)
{
	int64_t count;
	char *path, what[200];
	json_t *body;

	if (parse_int64(text, 0, TEMPLATE_MAX_WORKERS, &count) != 0) {
		app_message(a, 1, "scale: the count must be a whole number 0..%d, not '%s'",
		    TEMPLATE_MAX_WORKERS, text);
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

static const struct action template_actions[] = {
	{ 's', "scale", 1, a_scale },
	{ 0, NULL, 0, NULL }
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

const struct view_def view_templates = {
	.name = "templates", .title = "Templates", .short_title = "Tmpl",
	.cols = tmpl_cols, .ncols = NCOLS(tmpl_cols),
	.actions = template_actions,
	.keeps_json = 1,
};
