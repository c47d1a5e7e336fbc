/*
 * JSON as text for people, the same in outpost and outpost-top: a value as
 * one cell, dotted paths into objects, the cells both programs' lists show
 * (name@version, used/total, yes/no, a capacity), and the colour of a cell
 * from state.h's tables. The CLI puts these cells into table.h's tables,
 * the dashboard into its model; nothing here prints, draws or talks to a
 * server.
 */
#ifndef OUTPOST_FMT_H
#define OUTPOST_FMT_H

#include <stddef.h>

#include <jansson.h>

#include "state.h"
#include "table.h"

/*
 * How a cell is coloured: not at all, by the colour its text (a state's
 * name) has in one of state.h's tables, or, on the dashboard, as a bar of
 * its "used/total" (the CLI prints a bar cell plain).
 */
enum cell_color {
	CELL_PLAIN,
	CELL_INST_STATE,
	CELL_WORKER_STATE,
	CELL_HEALTH,
	CELL_RUN,
	CELL_BAR
};

/*
 * A cell of an item: key is a dotted path ("resources.cpu"), or what the
 * formatter takes it to mean (a resource's name for fmt_usage). A cell
 * without a formatter is fmt_value() of the value at key.
 */
typedef void (*fmt_cell_fn)(json_t *item, const char *key, char *buf, size_t n);

/*
 * A column of a list, as outpost prints it and outpost-top draws it: a
 * table of these is what each list is.
 */
struct column {
	const char *title;
	const char *key;	/* a dotted path into the item, or the formatter's key */
	enum cell_color color;
	enum table_align align;	/* TABLE_RIGHT: a number (the dashboard sorts it as one) */
	int width;		/* outpost cuts a cell to it (0: never); outpost-top gives the
				   column that many, and its last column what is left */
	fmt_cell_fn format;	/* NULL: the value at key */
};

/* The value at a dotted path ("a.b.c"), or NULL. */
json_t *fmt_path(json_t *obj, const char *path);
/* A string, number, boolean or null. */
int fmt_is_scalar(json_t *v);
/*
 * A JSON value as one cell: strings as they are, numbers, true/false, "-"
 * for null or missing, objects of scalars as k=v,k=v, arrays of scalars as
 * a,b, anything else as compact JSON. Cut to n bytes (NUL included).
 */
void fmt_value(json_t *v, char *buf, size_t n);
/* The cell of item at key: format's text, or with format NULL the value at key. */
void fmt_cell(json_t *item, const char *key, fmt_cell_fn format, char *buf, size_t n);

/* name@version from the item's "definition" and "definition_version" (key unused). */
void fmt_defref(json_t *item, const char *key, char *buf, size_t n);
/* "allocated/capacity" of the resource key ("cpu", "slots"): "2/8". */
void fmt_usage(json_t *item, const char *key, char *buf, size_t n);
/* "yes" or "no" for the boolean at key; anything else as any other cell. */
void fmt_yes_no(json_t *item, const char *key, char *buf, size_t n);
/* "cpu=4 mem=4096 slots=4" from the capacity object at key. */
void fmt_capacity(json_t *item, const char *key, char *buf, size_t n);

/*
 * An instance's usage (its "usage" object; key unused), as people read it:
 * CPU as cores used ("0.98 cores"), memory against the limit ("100 MB /
 * 2048 MB (peak 120 MB)"), and both short for a list ("0.98 cores
 * 100/2048 MB"); "-" when never sampled.
 */
void fmt_inst_cpu(json_t *item, const char *key, char *buf, size_t n);
void fmt_inst_memory(json_t *item, const char *key, char *buf, size_t n);
void fmt_inst_usage(json_t *item, const char *key, char *buf, size_t n);
/*
 * A copy of the instance for a view of its fields: "usage" becomes the rows
 * "usage.cpu", "usage.memory" and "usage.sampled_at" in words (or stays a
 * null). NULL when out of memory.
 */
json_t *fmt_inst_fields(json_t *inst);

/*
 * The colour text takes in a cell coloured c: an enum ansi_color, with
 * *is_bold set; -1 when the cell is plain or the text is no state of c's
 * table.
 */
int fmt_cell_color(enum cell_color c, const char *text, int *is_bold);

#endif
