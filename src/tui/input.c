/*
 * Keys: the lists (move, page, filter, sort, views, actions), the pager,
 * the prompt line (a filter typed live, a command, a count, a y/n), and the
 * runbook form. A viewer's token makes every action key refuse with a
 * message before anything is sent.
 *
 * What it must never do: draw (draw.c does, after each key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "tui.h"

#define KEY_ESC 27
#define CTRL(c) ((c) & 0x1f)

void
prompt_open(struct app *a, const char *question, const char *initial,
    void (*done)(struct app *a, const char *text), const char *ctx)
{
	struct prompt *p = &a->prompt;

	memset(p, 0, sizeof(*p));
	snprintf(p->question, sizeof(p->question), "%s", question);
	snprintf(p->text, sizeof(p->text), "%s", initial);
	p->len = strlen(p->text);
	p->done = done;
	snprintf(p->ctx, sizeof(p->ctx), "%s", ctx != NULL ? ctx : "");
	p->is_open = 1;
}

static void
filter_live(struct app *a, const char *text)
{
	model_set_filter(&a->vs[a->cur].m, text);
	a->vs[a->cur].top = 0;
}

static void
filter_done(struct app *a, const char *text)
{
	filter_live(a, text);
	if (text[0] != '\0')
		app_message(a, 0, "filter: %s (/ then Enter on nothing clears it)", text);
}

static void show_help(struct app *a);

static void
command_done(struct app *a, const char *text)
{
	int v;

	while (*text == ':' || *text == ' ')
		text++;
	if (text[0] == '\0')
		return;
	if (strcmp(text, "q") == 0 || strcmp(text, "quit") == 0) {
		a->is_quitting = 1;
		return;
	}
	if (strcmp(text, "help") == 0) {
		show_help(a);
		return;
	}
	if ((v = views_find(text)) < 0) {
		app_message(a, 1, ":%s: no such view (instances, workers, definitions, templates, "
		    "runbooks, runs, events, help, quit)", text);
		return;
	}
	pager_close(a);
	form_close(a);
	a->cur = (enum view_id)v;
}

static void
prompt_key(struct app *a, int ch)
{
	struct prompt *p = &a->prompt;
	char text[sizeof(p->text)];

	if (ch == KEY_ESC || ch == CTRL('g')) {
		p->is_open = 0;
		if (p->is_live_filter)
			filter_live(a, p->ctx);	/* the filter as it was */
		return;
	}
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		p->is_open = 0;
		snprintf(text, sizeof(text), "%s", p->text);
		if (p->done != NULL)
			p->done(a, text);
		return;
	}
	if (ch == KEY_BACKSPACE || ch == 127 || ch == CTRL('h')) {
		if (p->len > 0)
			p->text[--p->len] = '\0';
	} else if (ch == CTRL('u')) {
		p->len = 0;
		p->text[0] = '\0';
	} else if (ch >= 0x20 && ch < 0x100 && ch != 0x7f && p->len + 1 < sizeof(p->text)) {
		p->text[p->len++] = (char)ch;
		p->text[p->len] = '\0';
	}
	if (p->is_live_filter)
		filter_live(a, p->text);
}

static void
help_add_actions(struct app *a, enum view_id v)
{
	for (const struct action *ac = views[v]->actions; ac->key != 0; ac++)
		pager_add(a, "    %c          %s%s", ac->key, ac->label,
		    a->is_viewer && ac->needs_write ? " (not with this viewer token)" : "");
}

static void
show_help(struct app *a)
{
	pager_open(a, "outpost-top: keys");
	pager_add(a, "1..7 Tab      views: instances, workers, definitions, templates, runbooks,");
	pager_add(a, "              runs, events; or :instances, :workers, ... :quit");
	pager_add(a, "Up Down j k   move a line       PgUp PgDn Space  move a page");
	pager_add(a, "Home End g G  first, last       Enter            details");
	pager_add(a, "/             filter (any column, typed live; Esc restores)");
	pager_add(a, "< >           sort by the column on the left or right   I  invert");
	pager_add(a, "Ctrl-L        redraw            q                quit (or back)");
	for (int v = 0; v < V_COUNT; v++) {
		if (views[v]->actions[0].key == 0)
			continue;
		pager_add(a, "%s", "");
		pager_add(a, "%s:", views[v]->title);
		help_add_actions(a, (enum view_id)v);
	}
	pager_add(a, "%s", "");
	pager_add(a, "Runbook form: Up/Down choose, Enter edits a value or runs, d toggles dry run;");
	pager_add(a, "a runbook with confirm asks for y before it runs for real.");
	pager_add(a, "%s", "");
	pager_add(a, "Colours are the state colours of every Outpost client; NO_COLOR=1 or");
	pager_add(a, "--no-color turns them off.");
	if (a->is_viewer)
		pager_add(a, "This token is a viewer's: the dashboard is read-only.");
}

static void
move_sel(struct app *a, long delta)
{
	struct view_state *s = &a->vs[a->cur];

	s->sel += delta;
	app_fix_selection(a, a->cur);
}

static void
pager_key(struct app *a, int ch)
{
	struct pager *p = &a->pager;
	long page = draw_list_rows();

	switch (ch) {
	case KEY_ESC: case 'q': case KEY_LEFT: case KEY_BACKSPACE:
		pager_close(a);
		break;
	case KEY_UP: case 'k': p->top--; break;
	case KEY_DOWN: case 'j': p->top++; break;
	case KEY_PPAGE: p->top -= page; break;
	case KEY_NPAGE: case ' ': p->top += page; break;
	case KEY_HOME: case 'g': p->top = 0; break;
	case KEY_END: case 'G': p->top = (long)p->n; break;
	default: break;
	}
	if (p->top < 0)
		p->top = 0;
}

static void
form_value_done(struct app *a, const char *text)
{
	int i = atoi(a->prompt.ctx);

	if (i >= 0 && (size_t)i < a->form.nparams)
		snprintf(a->form.values[i], sizeof(a->form.values[i]), "%s", text);
}

static void
form_confirm_done(struct app *a, const char *text)
{
	if (strcmp(text, "y") == 0 || strcmp(text, "yes") == 0)
		views_run_form(a);
	else
		app_message(a, 0, "not run");
}

static void
form_key(struct app *a, int ch)
{
	struct form *f = &a->form;
	int last = (int)f->nparams + 1;

	switch (ch) {
	case KEY_ESC:
		form_close(a);
		app_message(a, 0, "not run");
		return;
	case KEY_UP: case 'k':
		if (f->sel > 0)
			f->sel--;
		return;
	case KEY_DOWN: case 'j': case '\t':
		if (f->sel < last)
			f->sel++;
		return;
	case 'd':
		f->is_dry_run = !f->is_dry_run;
		return;
	case ' ': case '\n': case '\r': case KEY_ENTER:
		break;
	default:
		return;
	}
	if (f->sel < (int)f->nparams) {
		json_t *p = json_array_get(json_object_get(f->runbook, "params"), (size_t)f->sel);
		const char *ty = json_string_value(json_object_get(p, "type"));
		char q[160], ctx[16];

		if (ty != NULL && strcmp(ty, "bool") == 0) {
			snprintf(f->values[f->sel], sizeof(f->values[f->sel]), "%s",
			    strcmp(f->values[f->sel], "true") == 0 ? "false" : "true");
			return;
		}
		snprintf(q, sizeof(q), "%s (%s): ", json_string_value(json_object_get(p, "name")) ?:
		    "?", ty != NULL ? ty : "?");
		snprintf(ctx, sizeof(ctx), "%d", f->sel);
		prompt_open(a, q, f->values[f->sel], form_value_done, ctx);
	} else if (f->sel == (int)f->nparams) {
		f->is_dry_run = !f->is_dry_run;
	} else if (json_is_true(json_object_get(f->runbook, "confirm")) && !f->is_dry_run) {
		char q[160];

		snprintf(q, sizeof(q), "%s is destructive: run it for real? (y/n) ",
		    json_string_value(json_object_get(f->runbook, "name")) ?: "?");
		prompt_open(a, q, "", form_confirm_done, NULL);
	} else {
		views_run_form(a);
	}
}

static void
sort_move(struct app *a, int delta)
{
	struct model *m = &a->vs[a->cur].m;
	long c = (long)m->sort_col + delta;

	if (c < 0)
		c = (long)m->ncols - 1;
	if (c >= (long)m->ncols)
		c = 0;
	model_set_sort(m, (size_t)c, m->is_desc);
	app_message(a, 0, "sorted by %s", views[a->cur]->cols[c].title);
}

static int
action_key(struct app *a, int ch)
{
	for (const struct action *ac = views[a->cur]->actions; ac->key != 0; ac++) {
		json_t *obj;

		if (ac->key != ch)
			continue;
		if (ac->needs_write && a->is_viewer) {
			app_message(a, 1, "read-only: this token is a viewer's; %s needs an "
			    "operator's", ac->label);
			return 1;
		}
		if ((obj = app_selected(a)) == NULL) {
			app_message(a, 1, "%s: nothing is selected", ac->label);
			return 1;
		}
		ac->run(a, obj);	/* obj is ours: an answer's event may replace the row */
		json_decref(obj);
		return 1;
	}
	return 0;
}

void
input_key(struct app *a, int ch)
{
	struct view_state *s = &a->vs[a->cur];
	long page = draw_list_rows();
	json_t *obj;

	a->needs_redraw = 1;
	if (ch == KEY_RESIZE || ch == CTRL('l')) {
		if (ch == CTRL('l'))
			clearok(curscr, TRUE);	/* the one full repaint: asked for */
		return;
	}
	if (a->prompt.is_open) {
		prompt_key(a, ch);
		return;
	}
	if (a->form.is_open) {
		form_key(a, ch);
		return;
	}
	if (ch >= '1' && ch < '1' + V_COUNT) {
		pager_close(a);
		a->cur = (enum view_id)(ch - '1');
		return;
	}
	if (ch == '?') {
		show_help(a);
		return;
	}
	if (ch == ':') {
		prompt_open(a, ":", "", command_done, NULL);
		return;
	}
	if (a->pager.is_open) {
		pager_key(a, ch);
		return;
	}
	a->message[0] = '\0';
	if (action_key(a, ch))
		return;
	switch (ch) {
	case 'q':
		a->is_quitting = 1;
		break;
	case '\t':
		a->cur = (enum view_id)((a->cur + 1) % V_COUNT);
		break;
	case KEY_BTAB:
		a->cur = (enum view_id)((a->cur + V_COUNT - 1) % V_COUNT);
		break;
	case KEY_UP: case 'k': move_sel(a, -1); break;
	case KEY_DOWN: case 'j': move_sel(a, 1); break;
	case KEY_PPAGE: move_sel(a, -page); break;
	case KEY_NPAGE: case ' ': move_sel(a, page); break;
	case KEY_HOME: case 'g': move_sel(a, -s->sel); break;
	case KEY_END: case 'G': move_sel(a, (long)s->m.nvis); break;
	case '<': sort_move(a, -1); break;
	case '>': sort_move(a, 1); break;
	case 'I':
		model_set_sort(&s->m, s->m.sort_col, !s->m.is_desc);
		break;
	case '/':
		prompt_open(a, "/", s->m.filter, filter_done, s->m.filter);
		a->prompt.is_live_filter = 1;
		break;
	case '\n': case '\r': case KEY_ENTER:
		if ((obj = app_selected(a)) != NULL)
			views_detail(a, a->cur, obj);
		json_decref(obj);
		break;
	default:
		break;
	}
}
