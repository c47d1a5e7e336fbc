/*
 * JSON answers as text for people: tables of items by column specs, one
 * object as aligned FIELD VALUE lines, instances' logs with a header per
 * hook. State cells take their colours from state.h, the one table of
 * states; events' summaries are the server's. Nothing here talks to the
 * server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

json_t *
view_path(json_t *obj, const char *path)
{
	char key[128];
	const char *p = path;

	while (obj != NULL && *p) {
		size_t n = strcspn(p, ".");

		if (!json_is_object(obj) || n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return obj;
}

static int
is_scalar(json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static void
scalar(json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%g", json_real_value(v));
	else if (json_is_true(v))
		snprintf(buf, n, "true");
	else if (json_is_false(v))
		snprintf(buf, n, "false");
	else
		snprintf(buf, n, "-");
}

void
view_value(json_t *v, char *buf, size_t n)
{
	struct sbuf b;
	char one[512];

	if (v == NULL || is_scalar(v)) {
		scalar(v, buf, n);
		return;
	}
	sbuf_init(&b);
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		int all_scalar = 1;

		json_object_foreach(v, k, x)
			all_scalar &= is_scalar(x);
		if (all_scalar) {
			json_object_foreach(v, k, x) {
				scalar(x, one, sizeof(one));
				sbuf_printf(&b, "%s%s=%s", b.len > 0 ? "," : "", k, one);
			}
			goto out;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		int all_scalar = 1;

		json_array_foreach(v, i, x)
			all_scalar &= is_scalar(x);
		if (all_scalar) {
			json_array_foreach(v, i, x) {
				scalar(x, one, sizeof(one));
				sbuf_printf(&b, "%s%s", i > 0 ? "," : "", one);
			}
			goto out;
		}
	}
	{
		char *s = json_dumps(v, JSON_COMPACT);

		if (s != NULL)
			sbuf_puts(&b, s);
		free(s);
	}
out:
	snprintf(buf, n, "%s", b.p != NULL ? b.p : "");
	sbuf_free(&b);
}

void
view_fmt_defref(json_t *item, const struct column *col, char *buf, size_t n)
{
	json_t *name = json_object_get(item, "definition");
	json_t *ver = json_object_get(item, "definition_version");

	(void)col;
	if (json_is_string(name) && json_is_integer(ver))
		snprintf(buf, n, "%s@%lld", json_string_value(name),
		    (long long)json_integer_value(ver));
	else
		view_value(name, buf, n);
}

void
view_fmt_usage(json_t *item, const struct column *col, char *buf, size_t n)
{
	char used[64], cap[64];

	view_value(view_path(json_object_get(item, "allocated"), col->key), used, sizeof(used));
	view_value(view_path(json_object_get(item, "capacity"), col->key), cap, sizeof(cap));
	snprintf(buf, n, "%s/%s", used, cap);
}

void
view_fmt_yes_no(json_t *item, const struct column *col, char *buf, size_t n)
{
	json_t *v = view_path(item, col->key);

	if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "yes" : "no");
	else
		view_value(v, buf, n);
}

void
view_fmt_capacity(json_t *item, const struct column *col, char *buf, size_t n)
{
	json_t *cap = view_path(item, col->key);
	char cpu[32], mem[32], slots[32];

	if (!json_is_object(cap)) {
		view_value(cap, buf, n);
		return;
	}
	view_value(json_object_get(cap, "cpu"), cpu, sizeof(cpu));
	view_value(json_object_get(cap, "memory_mb"), mem, sizeof(mem));
	view_value(json_object_get(cap, "slots"), slots, sizeof(slots));
	snprintf(buf, n, "cpu=%s mem=%s slots=%s", cpu, mem, slots);
}

int
view_state_color(enum col_color which, const char *name, int *is_bold)
{
	const struct state_info *info = NULL;

	if (name == NULL)
		return -1;
	switch (which) {
	case COLOR_INST_STATE: {
		enum inst_state s;

		if (inst_state_parse(name, &s) == 0)
			info = inst_state_info(s);
		break;
	}
	case COLOR_WORKER_STATE: {
		enum worker_state s;

		if (worker_state_parse(name, &s) == 0)
			info = worker_state_info(s);
		break;
	}
	case COLOR_HEALTH: {
		enum worker_health h;

		if (worker_health_parse(name, &h) == 0)
			info = worker_health_info(h);
		break;
	}
	case COLOR_RUN: {
		enum run_status r;

		if (run_status_parse(name, &r) == 0)
			info = run_status_info(r);
		break;
	}
	case COLOR_NONE:
		break;
	}
	if (info == NULL)
		return -1;
	*is_bold = info->is_bold;
	return (int)info->ansi;
}

static void
color_cell(struct table *t, long row, size_t col, enum col_color which, const char *text)
{
	int is_bold = 0;
	int color = view_state_color(which, text, &is_bold);

	if (color >= 0)
		table_set_color(t, (size_t)row, col, (enum ansi_color)color, is_bold);
}

int
view_table(struct cli *c, json_t *items, const struct column *cols)
{
	struct table *t = table_new();
	char (*cells)[512] = NULL;
	const char **ptrs = NULL;
	size_t ncols = 0, i;
	json_t *item;
	int rc = -1;

	if (t == NULL)
		return -1;
	while (cols[ncols].header != NULL)
		ncols++;
	cells = calloc(ncols, sizeof(*cells));
	ptrs = calloc(ncols, sizeof(*ptrs));
	if (cells == NULL || ptrs == NULL)
		goto fail;
	for (size_t k = 0; k < ncols; k++) {
		if (table_add_column(t, cols[k].header, cols[k].align, cols[k].max_width) < 0)
			goto fail;
		ptrs[k] = cells[k];
	}
	json_array_foreach(items, i, item) {
		long row;

		for (size_t k = 0; k < ncols; k++) {
			if (cols[k].format != NULL)
				cols[k].format(item, &cols[k], cells[k], sizeof(cells[k]));
			else
				view_value(view_path(item, cols[k].key), cells[k],
				    sizeof(cells[k]));
		}
		row = table_add_row(t, ptrs, ncols);
		if (row < 0)
			goto fail;
		for (size_t k = 0; k < ncols; k++)
			if (cols[k].color != COLOR_NONE)
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
	static const struct { const char *key; enum col_color color; } colored[] = {
		{ "health", COLOR_HEALTH },
	};
	struct table *t = table_new();
	const char *key;
	json_t *v;
	int rc = -1;
	/* A worker has health beside its state; an instance does not. */
	enum col_color state_color = json_object_get(obj, "health") != NULL ?
	    COLOR_WORKER_STATE : COLOR_INST_STATE;

	if (t == NULL)
		return -1;
	if (table_add_column(t, "FIELD", TABLE_LEFT, 0) < 0 ||
	    table_add_column(t, "VALUE", TABLE_LEFT, 0) < 0)
		goto fail;
	json_object_foreach(obj, key, v) {
		char text[4096];
		const char *row[2] = { key, text };
		enum col_color which = COLOR_NONE;
		long r;

		view_value(v, text, sizeof(text));
		if ((r = table_add_row(t, row, 2)) < 0)
			goto fail;
		if (strcmp(key, "state") == 0)
			which = state_color;
		for (size_t i = 0; i < sizeof(colored) / sizeof(colored[0]); i++)
			if (strcmp(key, colored[i].key) == 0)
				which = colored[i].color;
		if (which != COLOR_NONE)
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
