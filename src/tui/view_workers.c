/*
 * The workers view of outpost-top: its columns (capacity as bars), its
 * one-key actions (cordon, uncordon, drain with a deadline, stop,
 * terminate) and its detail (the worker and the instances it holds).
 *
 * What it must never do: draw (draw.c does) or list states (state.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

static void a_cordon(struct app *a, json_t *o) { views_act(a, V_WORKERS, o, "/cordon"); }
static void a_uncordon(struct app *a, json_t *o) { views_act(a, V_WORKERS, o, "/uncordon"); }

static void
a_wterm(struct app *a, json_t *o)
{
	views_ask(a, V_WORKERS, o, "/terminate", "terminate");
}

static void
a_wstop(struct app *a, json_t *o)
{
	views_ask(a, V_WORKERS, o, "/stop", "stop the agent of");
}

static void
drain_done(struct app *a, const char *text)
{
	json_t *body = text[0] != '\0' ? json_pack("{s:s}", "deadline", text) : NULL;

	views_post(a, V_WORKERS, a->prompt.ctx, "/drain", body);
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

static const struct action worker_actions[] = {
	{ 'c', "cordon", 1, a_cordon },
	{ 'u', "uncordon", 1, a_uncordon },
	{ 'd', "drain", 1, a_drain },
	{ 's', "stop", 1, a_wstop },
	{ 't', "terminate", 1, a_wterm },
	{ 0, NULL, 0, NULL }
};

static void
worker_detail(struct app *a, json_t *obj)
{
	struct model *im = &a->vs[V_INSTANCES].m;
	const char *name = json_string_value(json_object_get(obj, "name"));
	size_t count = 0;
	json_t *f = json_copy(obj);	/* its agent on one line, below */
	const char *av = json_string_value(json_object_get(obj, "agent_version"));
	const char *ar = json_string_value(json_object_get(obj, "agent_refused"));
	json_int_t ap = json_integer_value(json_object_get(obj, "agent_protocol"));

	if (f != NULL) {
		json_object_del(f, "agent_version");
		json_object_del(f, "agent_protocol");
		json_object_del(f, "agent_refused");
		views_add_fields(a, f);
		json_decref(f);
	}
	if (ar != NULL)
		pager_add(a, "%-16s %s", "agent", ar);
	else if (ap > 0)
		pager_add(a, "%-16s %s, protocol %lld", "agent", av != NULL ? av : "(release not said)",
		    (long long)ap);
	else
		pager_add(a, "%-16s %s", "agent", "-");
	pager_add(a, "%s", "");
	pager_add(a, "== its instances ==");
	/* O(n) over the instances the dashboard holds: their cells and states, no JSON. */
	for (size_t i = 0; name != NULL && i < im->n; i++) {
		const struct model_row *r = &im->rows[i];

		if (r->state < 0 || !inst_state_holds_worker((enum inst_state)r->state) ||
		    strcmp(model_cell(r, INST_COL_WORKER), name) != 0)
			continue;
		pager_add(a, "%-8s %-13s %-20s %s", model_cell(r, INST_COL_ID),
		    inst_state_name((enum inst_state)r->state), model_cell(r, INST_COL_DEFINITION),
		    model_cell(r, INST_COL_OWNER));
		count++;
	}
	if (count == 0)
		pager_add(a, "none");
}

/* "used/total" of a usage cell (fmt_usage), added to *used and *cap. */
static void
add_usage(const char *cell, int64_t *used, int64_t *cap)
{
	const char *slash = strchr(cell, '/');

	/* "-" (not said) counts as 0, as a missing number always did. */
	*used += strtoll(cell, NULL, 10);
	if (slash != NULL)
		*cap += strtoll(slash + 1, NULL, 10);
}

void
views_worker_capacity(struct app *a, int64_t used[2], int64_t cap[2])
{
	struct model *wm = &a->vs[V_WORKERS].m;

	used[0] = used[1] = cap[0] = cap[1] = 0;
	for (size_t i = 0; i < wm->n; i++) {
		const struct model_row *r = &wm->rows[i];

		if (!worker_state_is_live(model_cell(r, WORKER_COL_STATE)))
			continue;
		add_usage(model_cell(r, WORKER_COL_SLOTS), &used[0], &cap[0]);
		add_usage(model_cell(r, WORKER_COL_CPU), &used[1], &cap[1]);
	}
}

static const struct column worker_cols[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 12, NULL },
	{ "STATE", "state", CELL_WORKER_STATE, TABLE_LEFT, 12, NULL },
	{ "HEALTH", "health", CELL_HEALTH, TABLE_LEFT, 7, NULL },
	{ "ISOLATION", "isolation", CELL_PLAIN, TABLE_LEFT, 9, NULL },
	{ "SLOTS", "slots", CELL_BAR, TABLE_RIGHT, 14, fmt_usage },
	{ "CPU", "cpu", CELL_PLAIN, TABLE_RIGHT, 7, fmt_usage },
	{ "MEMORY", "memory_mb", CELL_PLAIN, TABLE_RIGHT, 11, fmt_usage },
	{ "INST", "instance_count", CELL_PLAIN, TABLE_RIGHT, 4, NULL },
	{ "TEMPLATE", "template", CELL_PLAIN, TABLE_LEFT, 8, NULL },
	{ "AGENT", "agent_version", CELL_PLAIN, TABLE_LEFT, 7, NULL },
	{ "REFUSED", "agent_refused", CELL_PLAIN, TABLE_LEFT, 20, NULL },
};

const struct view_def view_workers = {
	.name = "workers", .title = "Workers", .short_title = "Work",
	.cols = worker_cols, .ncols = NCOLS(worker_cols),
	.default_sort = 1,	/* by name */
	.actions = worker_actions,
	.detail = worker_detail,
	.keeps_json = 1,
};
