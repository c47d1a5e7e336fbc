/*
 * The dashboard's lists, apart from any drawing: rows kept by key as
 * compact structs, each made once from its JSON object (which is then the
 * caller's to free): the text of its cells and their lower-case haystack in
 * one block, the state of its state column as its enum (state.h), and, only
 * where a view asks for it, the object as compact JSON text for its detail
 * and actions. A filter; a sort by any column; the visible order that
 * results. Knows nothing of ncurses, HTTP or the event stream, so that it
 * can be tested on its own.
 *
 * Load, then follow (docs/architecture.md): a list read at a sequence number
 * is model_loaded() at it, and each row remembers the number it is known at;
 * model_follow() applies an event's object only when the event is newer.
 *
 * Costs: an upsert is O(1) (a hash of the keys) plus rendering the row; a
 * removal is O(n) (the hash is filled again in place; the order is kept).
 * The rows are kept in sort order (order[]): a new filter is one O(n) pass
 * of substring searches over it; a new sort is O(n log n) with each row's
 * sort key computed once; rows added since are sorted alone and merged in
 * (O(n + k log k)); a row replaced with the same sort cell keeps its place.
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
/* A state column's cell as its enum, or -1 when it names no state. */
typedef int (*model_state_fn)(const char *cell);

/*
 * A row: 56 bytes and one block of text, "key\0cell0\0...\0hay\0", where
 * hay is every cell in lower case, each followed by a tab.
 */
struct model_row {
	char *text;			/* owned */
	char *json;			/* owned; NULL unless the model keeps JSON */
	int64_t seq;			/* the event (or the list) it is known at */
	uint16_t off[MODEL_MAX_COLS];	/* each cell's offset in text */
	uint16_t hay_off;
	uint16_t key_len;
	int8_t state;			/* state_col's enum, -1: none */
	uint8_t is_key_digits;		/* the key is a number: sorted as one */
};

struct model {
	size_t ncols;
	const int *is_numeric;		/* per column: sort as numbers */
	model_format_fn format;
	void *format_arg;
	int keeps_json;			/* rows keep their object as JSON text */
	int state_col;			/* the column whose enum rows keep; -1: none */
	model_state_fn state_of;

	struct model_row *rows;
	size_t n;
	size_t cap;
	size_t *slots;			/* hash of keys: row index + 1, 0 empty */
	size_t nslots;

	char filter[MODEL_FILTER_MAX];	/* "" shows every row */
	size_t sort_col;
	int is_desc;

	int64_t seq;			/* the list's sequence number; -1: none */

	size_t *order;			/* every row, sorted; rows norder..n-1 came since */
	size_t norder;
	int is_ordered;			/* order[0..norder) is in the current sort */
	size_t *vis;			/* indexes into rows: filtered and sorted */
	size_t nvis;
	int is_dirty;			/* vis needs model_refresh() */
};

/* is_numeric (ncols flags) is borrowed and must outlive m. */
int model_init(struct model *m, size_t ncols, const int *is_numeric, model_format_fn format,
    void *arg);
/* Rows keep their state column's enum (state_of of the cell) from now on; col < ncols. */
void model_set_state_col(struct model *m, int col, model_state_fn state_of);
void model_free(struct model *m);
/* Drops every row. */
void model_clear(struct model *m);
/*
 * Starts an empty model made as m is (columns, formats, JSON kept or not),
 * for a list to be loaded aside; 0, or -1 (no memory).
 */
int model_init_like(struct model *to, const struct model *m);
/*
 * m's rows become from's (filter, sort and selection stay m's); from is left
 * freed. A list loaded aside replaces the rows only once it is whole.
 */
void model_take(struct model *m, struct model *from);

/* Adds or replaces the row of key from obj (borrowed). Returns 0, or -1 (no memory). */
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

static inline const char *
model_key(const struct model_row *r)
{
	return r->text;
}

/* The text of column c (< the model's ncols) of r. */
static inline const char *
model_cell(const struct model_row *r, size_t c)
{
	return r->text + r->off[c];
}

/* r's object parsed again (a new reference), or NULL when the model keeps no JSON. */
json_t *model_row_json(const struct model_row *r);

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
