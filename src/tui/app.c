/*
 * outpost-top: the helpers every file of the dashboard shares, on struct
 * app alone (no terminal, no server): the status line, the pager's lines,
 * the runbook form's end, and the selection of a list. In libtui.a, so that
 * the tests and the fuzz harness link them without main.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

void
app_message(struct app *a, int is_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
	for (char *p = a->message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	a->is_error_message = is_error;
	a->needs_redraw = 1;
}

void
pager_close(struct app *a)
{
	struct pager *p = &a->pager;

	for (size_t i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->lines);
	memset(p, 0, sizeof(*p));
	a->needs_redraw = 1;
}

void
pager_open(struct app *a, const char *title)
{
	pager_close(a);
	snprintf(a->pager.title, sizeof(a->pager.title), "%s", title);
	a->pager.of_view = V_COUNT;
	a->pager.run_step = -1;
	a->pager.is_open = 1;
}

static void
pager_push(struct pager *p, const char *s, size_t n)
{
	char *line;

	if (array_grow(&p->lines, &p->cap, p->n, sizeof(*p->lines)) != 0)
		return;
	if ((line = strndup(s, n)) == NULL)
		return;
	for (char *c = line; *c; c++)
		if (*c == '\t')
			*c = ' ';
		else if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	p->lines[p->n++] = line;
}

void
pager_add(struct app *a, const char *fmt, ...)
{
	struct sbuf line;
	va_list ap;

	sbuf_init(&line);
	va_start(ap, fmt);
	if (sbuf_vprintf(&line, fmt, ap) == 0)
		pager_push(&a->pager, line.p, line.len);
	va_end(ap);
	sbuf_free(&line);
}

void
pager_add_text(struct app *a, const char *text)
{
	const char *nl;

	if (text == NULL)
		return;
	/* A chunk that ends a line leaves no empty line behind it. */
	while ((nl = strchr(text, '\n')) != NULL) {
		pager_push(&a->pager, text, (size_t)(nl - text));
		text = nl + 1;
	}
	if (*text != '\0')
		pager_push(&a->pager, text, strlen(text));
}

void
form_close(struct app *a)
{
	json_decref(a->form.runbook);
	memset(&a->form, 0, sizeof(a->form));
	a->needs_redraw = 1;
}

void
app_fix_selection(struct app *a, enum view_id v)
{
	struct view_state *s = &a->vs[v];
	long rows = draw_list_rows();
	struct model_row *r;

	if (s->sel >= (long)s->m.nvis)
		s->sel = (long)s->m.nvis - 1;
	if (s->sel < 0)
		s->sel = 0;
	if (s->top > s->sel)
		s->top = s->sel;
	if (s->sel >= s->top + rows)
		s->top = s->sel - rows + 1;
	if (s->top < 0)
		s->top = 0;
	r = model_visible(&s->m, (size_t)s->sel);
	snprintf(s->sel_key, sizeof(s->sel_key), "%s", r != NULL ? model_key(r) : "");
}

json_t *
app_selected(struct app *a)
{
	struct view_state *s = &a->vs[a->cur];
	struct model_row *r = model_visible(&s->m, (size_t)s->sel);

	return r != NULL ? views_row_json(a, a->cur, model_key(r)) : NULL;
}
