/*
 * The events view of outpost-top: the newest first, each with the server's
 * one-line summary.
 *
 * What it must never do: draw (draw.c does), or make a summary of its own
 * (the server gives each event its line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

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

static const struct column ev_cols[] = {
	{ "SEQ", "seq", CELL_PLAIN, TABLE_RIGHT, 7, NULL },
	{ "TIME", "ts", CELL_PLAIN, TABLE_LEFT, 8, c_clock },
	{ "TYPE", "type", CELL_PLAIN, TABLE_LEFT, 18, NULL },
	{ "ID", "id", CELL_PLAIN, TABLE_LEFT, 8, NULL },
	{ "SUMMARY", "summary", CELL_PLAIN, TABLE_LEFT, 10, c_summary },
};

const struct view_def view_events = {
	.name = "events", .title = "Events", .short_title = "Evts",
	.cols = ev_cols, .ncols = NCOLS(ev_cols),
	.default_desc = 1,	/* newest first */
	.actions = views_no_actions,
	.keeps_json = 1,
};
