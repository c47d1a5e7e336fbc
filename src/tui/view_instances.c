/*
 * The instances view of outpost-top: its columns, its one-key actions
 * (stop, terminate, retry) and its detail (the instance, its grade, where it
 * is placed and why, its transitions and its hooks' log). Its rows keep no
 * JSON (a site has 10,000 of them): the actions need the id alone, and the
 * detail asks the server for the instance.
 *
 * What it must never do: draw (draw.c does) or list states (state.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

static void a_istop(struct app *a, json_t *o) { views_act(a, V_INSTANCES, o, "/stop"); }
static void a_iretry(struct app *a, json_t *o) { views_act(a, V_INSTANCES, o, "/retry"); }

static void
a_iterm(struct app *a, json_t *o)
{
	views_ask(a, V_INSTANCES, o, "/terminate", "terminate (no collection, no grade)");
}

static const struct action inst_actions[] = {
	{ 's', "stop", 1, a_istop },
	{ 't', "terminate", 1, a_iterm },
	{ 'r', "retry", 1, a_iretry },
	{ 0, NULL, 0, NULL }
};

static void
instance_detail(struct app *a, json_t *obj)
{
	char id[32], path[96], *s;
	json_t *j, *it;
	size_t i;

	/* The row keeps no JSON: obj is its id alone; the server says the rest. */
	site_key(V_INSTANCES, obj, id, sizeof(id));
	snprintf(path, sizeof(path), "/api/v1/instances/%s", id);
	if ((j = site_get(a, path)) != NULL) {
		json_t *shown = fmt_inst_fields(j);	/* usage in words */

		views_add_fields(a, shown != NULL ? shown : j);
		json_decref(shown);
	}
	pager_add(a, "%s", "");
	pager_add(a, "== grade ==");
	s = json_dumps(json_object_get(j, "grade"), JSON_ENCODE_ANY | JSON_COMPACT);
	pager_add(a, "%s", s != NULL ? s : "none");
	free(s);
	json_decref(j);
	pager_add(a, "%s", "");
	pager_add(a, "== placement ==");
	snprintf(path, sizeof(path), "/api/v1/instances/%s/placement", id);
	if ((j = site_get(a, path)) != NULL) {
		const char *why = json_string_value(json_object_get(j, "explanation"));

		if (why != NULL)
			pager_add_text(a, why);
		else
			views_add_json(a, j);
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

static const struct column inst_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 6, NULL },
	{ "STATE", "state", CELL_INST_STATE, TABLE_LEFT, 13, NULL },
	{ "DEFINITION", "definition", CELL_PLAIN, TABLE_LEFT, 14, fmt_defref },
	{ "OWNER", "owner", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "WORKER", "worker", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	{ "SLOT END", "timeslot_end", CELL_PLAIN, TABLE_LEFT, 16, views_cell_minute },
	{ "REASON", "state_reason", CELL_PLAIN, TABLE_LEFT, 10, NULL },
	/* Last: from about 100 columns on (heartbeats bring it; events and reloads show it). */
	{ "USAGE", "usage", CELL_PLAIN, TABLE_LEFT, 22, fmt_inst_usage },
};

const struct view_def view_instances = {
	.name = "instances", .title = "Instances", .short_title = "Inst",
	.cols = inst_cols, .ncols = NCOLS(inst_cols),
	.actions = inst_actions,
	.detail = instance_detail,
};
