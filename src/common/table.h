/*
 * Aligned text tables for terminals: columns with a header, rows of strings,
 * widths computed from the content (UTF-8 aware), optional ANSI colour per
 * cell. Used by the CLI's table output and by anything else that prints
 * columns. Cells are sanitised on the way in, so server data can never put a
 * control sequence on an operator's terminal.
 */
#ifndef OUTPOST_TABLE_H
#define OUTPOST_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "state.h"
#include "util.h"

enum table_align { TABLE_LEFT, TABLE_RIGHT };

struct table;

struct table *table_new(void);
void table_free(struct table *t);

/*
 * Adds a column; max_width 0 means unbounded, else longer cells are cut and
 * end in "…". Columns are added before the first row. Returns the column's
 * index, or -1.
 */
int table_add_column(struct table *t, const char *header, enum table_align align,
    size_t max_width);
size_t table_columns(const struct table *t);
size_t table_rows(const struct table *t);

/*
 * Appends a row of n cells (copied; NULL is shown as "-"); missing trailing
 * cells are empty. Returns the row's index, or -1.
 */
long table_add_row(struct table *t, const char *const *cells, size_t n);
/* Colours one cell when the table is rendered with colour. */
int table_set_color(struct table *t, size_t row, size_t col, enum ansi_color c, int is_bold);

/* Columns of terminal a UTF-8 string takes: wide East Asian 2, combining marks 0. */
size_t table_text_width(const char *s);

/* The width of each column (header and cells, capped at its max) into widths[columns]. */
void table_compute_widths(const struct table *t, size_t *widths);

/*
 * Renders header and rows, columns separated by two spaces, no trailing
 * blanks. With use_color, coloured cells get ANSI escapes (padding outside).
 */
int table_render(const struct table *t, struct sbuf *out, int use_color);
int table_print(const struct table *t, FILE *f, int use_color);

#endif
