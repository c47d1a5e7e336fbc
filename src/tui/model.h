/*
 * The dashboard's lists, apart from any drawing: rows of JSON objects kept
 * by key, each rendered once into the text of its cells; a filter; a sort by
 * any column; and the visible order that results. Knows nothing of ncurses,
 * HTTP or the event stream, so that it can be tested on its own.
 *
 * Load, then follow (docs/architecture.md): a list read at a sequence number
 * is model_loaded() at it, and each row remembers the number it is known at;
 * model_follow() applies an event's object only when the event is newer.
 *
 * Costs: an upsert is O(1) (a hash of the keys) plus rendering the row; a
 * removal is O(n) (the hash is rebuilt); model_refresh() is O(n log n) and
 * runs only after something changed.
 */
#ifndef OUTPOST_TUI_MODEL_H
#define OUTPOST_TUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MODEL_MAX_COLS 12
#define MODEL_FILTER_MAX 128

/* The text of a column for an object; writes at most n bytes (NUL included). */
typedef void (*model_format_fn)(json_t *obj, size_t col, char *buf, size_t n, void *arg);

struct model_row {
	char *key;
	json_t *obj;			/* owned */
	char *cells[MODEL_MAX_COLS];	/* owned */
	char *hay;			/* every cell, lower case, for the filter */
	int64_t seq;			/* the event (or the list) it is known at */
};

struct model {
	size_t ncols;
	const int *is_numeric;		/* per column: sort as numbers */
	model_format_fn format;
	void *format_arg;

	struct model_row *rows;
	size_t n;
	size_t cap;
	size_t *slots;			/* hash of keys: row index + 1, 0 empty */
	size_t nslots;

	char filter[MODEL_FILTER_MAX];	/* "" shows every row */
	size_t sort_col;
	int is_desc;

	int64_t seq;			/* the list's sequence number; -1: none */

	size_t *vis;			/* indexes into rows: filtered and sorted */
	size_t nvis;
	int is_dirty;			/* vis needs model_refresh() */
};

/* is_numeric (ncols flags) is borrowed and must outlive m. */
int model_init(struct model *m, size_t ncols, const int *is_numeric, model_format_fn format,
    void *arg);
void model_free(struct model *m);
/* Drops every row. */
void model_clear(struct model *m);

/* Adds or replaces the row of key; takes a reference of obj. Returns 0, or -1 (no memory). */
int model_upsert(struct model *m, const char *key, json_t *obj);
/*
 * The rows are a list read at seq (a server without one: -1): each is known
 * at seq, and events at or below it are not applied again.
 */
void model_loaded(struct model *m, int64_t seq);
/*
 * An event at seq brings obj as the row of key: applied when seq is past
 * what the row is known at (a key the model lacks: past the list's number).
 * Returns 1 when applied, 0 when older than what is shown, -1 (no memory).
 */
int model_follow(struct model *m, const char *key, json_t *obj, int64_t seq);
/* Removes the row of key; returns 1 when there was one. */
int model_remove(struct model *m, const char *key);
/* The row of key, or NULL. */
struct model_row *model_find(const struct model *m, const char *key);
/* Re-renders every row (after a change in how cells are formatted). */
int model_rerender(struct model *m);

/* Sets the filter (a case-insensitive substring of any cell); marks dirty. */
void model_set_filter(struct model *m, const char *filter);
void model_set_sort(struct model *m, size_t col, int is_desc);

/* Recomputes vis when dirty. Returns 0, or -1 (no memory: vis is left as it was). */
int model_refresh(struct model *m);
/* The visible row at i (0 <= i < nvis), after model_refresh(). */
struct model_row *model_visible(const struct model *m, size_t i);
/* The position of key among the visible rows, or -1. O(nvis). */
long model_visible_index(const struct model *m, const char *key);

#endif
