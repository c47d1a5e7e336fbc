/*
 * JSON answers printed for people: tables of items by column specs, one
 * object as aligned FIELD VALUE lines, instances' logs with a header per
 * hook, and server text made safe for a terminal. The cells and their
 * colours are src/common's (fmt.h), the same as the dashboard's; events'
 * summaries are the server's. Nothing here talks to the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The text of one cell of a table, NUL included: longer values are cut. */
#define CELL_TEXT_MAX 512
/* The text of one FIELD VALUE line's value. */
#define FIELD_TEXT_MAX 4096

static void
color_cell(struct table *t, long row, size_t col, enum cell_color which, const char *text)
{
	int is_bold = 0;
	int color = fmt_cell_color(which, text, &is_bold);

	if (color >= 0)
		table_set_color(t, (size_t)row, col, (enum ansi_color)color, is_bold);
}

int
view_table(struct cli *c, json_t *items, const struct column *cols)
{
	struct table *t = table_new();
	char (*cells)[CELL_TEXT_MAX] = NULL;
	const char **ptrs = NULL;
	size_t ncols = 0, i;
	json_t *item;
	int rc = -1;

	if (t == NULL)
		return -1;
	while (cols[ncols].title != NULL)
		ncols++;
	cells = calloc(ncols, sizeof(*cells));
	ptrs = calloc(ncols, sizeof(*ptrs));
	if (cells == NULL || ptrs == NULL)
		goto fail;
	for (size_t k = 0; k < ncols; k++) {
		if (table_add_column(t, cols[k].title, cols[k].align, (size_t)cols[k].width) < 0)
			goto fail;
		ptrs[k] = cells[k];
	}
	json_array_foreach(items, i, item) {
		long row;

		for (size_t k = 0; k < ncols; k++)
			fmt_cell(item, cols[k].key, cols[k].format, cells[k], sizeof(cells[k]));
		row = table_add_row(t, ptrs, ncols);
		if (row < 0)
			goto fail;
		for (size_t k = 0; k < ncols; k++)
			if (cols[k].color != CELL_PLAIN)
				color_cell(t, row, k, cols[k].color, cells[k]);
	}
	rc = table_print(t, c->out_file, c->use_color);
fail:
	free(cells);
	free(ptrs);
	table_free(t);
	return rc;
}

int
view_object(struct cli *c, json_t *obj)
{
	static const struct { const char *key; enum cell_color color; } colored[] = {
		{ "health", CELL_HEALTH },
	};
	struct table *t = table_new();
	const char *key;
	json_t *v;
	int rc = -1;
	/* A worker has health beside its state; an instance does not. */
	enum cell_color state_color = json_object_get(obj, "health") != NULL ?
	    CELL_WORKER_STATE : CELL_INST_STATE;

	if (t == NULL)
		return -1;
	if (table_add_column(t, "FIELD", TABLE_LEFT, 0) < 0 ||
	    table_add_column(t, "VALUE", TABLE_LEFT, 0) < 0)
		goto fail;
	json_object_foreach(obj, key, v) {
		char text[FIELD_TEXT_MAX];
		const char *row[2] = { key, text };
		enum cell_color which = CELL_PLAIN;
		long r;

		fmt_value(v, text, sizeof(text));
		if ((r = table_add_row(t, row, 2)) < 0)
			goto fail;
		if (strcmp(key, "state") == 0)
			which = state_color;
		for (size_t i = 0; i < sizeof(colored) / sizeof(colored[0]); i++)
			if (strcmp(key, colored[i].key) == 0)
				which = colored[i].color;
		if (which != CELL_PLAIN)
			color_cell(t, r, 1, which, text);
	}
	rc = table_print(t, c->out_file, c->use_color);
fail:
	table_free(t);
	return rc;
}

/* ---- raw text: instances' logs, server sentences ---- */

int
view_write_text(FILE *f, const char *s, size_t n, enum view_text how)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = 0;

	if (how == TEXT_RAW)
		return fwrite(s, 1, n, f) == n ? 0 : -1;
	/*
	 * Runs of harmless bytes go out in one write; each control character
	 * is one '?'. A C1 control is two bytes in UTF-8 (C2 80..C2 9F), and
	 * some terminals act on it as on ESC [.
	 */
	for (i = 0; i < n; i++) {
		size_t len = 1;
		int is_ctl = p[i] < 0x20 || p[i] == 0x7f;

		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] < 0xa0) {
			is_ctl = 1;
			len = 2;
		}
		if (how == TEXT_LINES && (p[i] == '\n' || p[i] == '\t'))
			is_ctl = 0;
		if (!is_ctl)
			continue;
		if (fwrite(s + start, 1, i - start, f) != i - start || fputc('?', f) == EOF)
			return -1;
		i += len - 1;
		start = i + 1;
	}
	return fwrite(s + start, 1, n - start, f) == n - start ? 0 : -1;
}

int
view_log_chunk(struct cli *c, struct view_log *at, json_t *chunk, int is_terminal)
{
	json_t *text = json_object_get(chunk, "text");
	const char *hook = json_string_value(json_object_get(chunk, "hook"));
	int64_t attempt = json_integer_value(json_object_get(chunk, "attempt"));
	size_t len = json_string_length(text);

	if (hook == NULL)
		hook = "?";
	if (!at->has_printed || attempt != at->attempt || strcmp(hook, at->hook) != 0) {
		/* A header is a line of its own, even after a hook that ended mid-line. */
		if (at->is_mid_line && fputc('\n', c->out_file) == EOF)
			return -1;
		if (fputs("==> ", c->out_file) == EOF ||
		    view_write_text(c->out_file, hook, strlen(hook), TEXT_ONE_LINE) != 0 ||
		    fprintf(c->out_file, " (attempt %lld) <==\n", (long long)attempt) < 0)
			return -1;
		snprintf(at->hook, sizeof(at->hook), "%s", hook);
		at->attempt = attempt;
		at->has_printed = 1;
		at->is_mid_line = 0;
	}
	if (len == 0)
		return 0;
	if (view_write_text(c->out_file, json_string_value(text), len,
	    is_terminal ? TEXT_LINES : TEXT_RAW) != 0)
		return -1;
	at->is_mid_line = json_string_value(text)[len - 1] != '\n';
	return 0;
}
