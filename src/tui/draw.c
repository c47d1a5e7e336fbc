/*
 * Everything outpost-top draws. Each frame is erase() and the whole screen
 * written again into ncurses' buffer, then one doupdate(): ncurses sends
 * the terminal only the cells that changed, so nothing flickers and an idle
 * screen sends nothing. Colours come from src/common's state tables; with
 * NO_COLOR or a monochrome terminal the same screen is drawn with bold and
 * reverse video only. Glyphs are UTF-8 box drawing when the locale is UTF-8,
 * ASCII otherwise.
 *
 * What it must never do: talk to the server, or change the model.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <curses.h>

#include "tui.h"

#define HEADER_ROWS 5	/* title, instances, workers, tabs, column titles */
#define FOOTER_ROWS 2	/* keys, status line */

struct glyphs {
	const char *full;
	const char *empty;
	const char *live;
	const char *away;
	const char *up;
	const char *down;
	const char *sep;
};

static const struct glyphs utf8_glyphs = { "\u2588", "\u2591", "\u25cf", "\u25cb", "\u25b2",
	"\u25bc", "\u2502" };
static const struct glyphs ascii_glyphs = { "#", ".", "*", "o", "^", "v", "|" };
static const struct glyphs *g = &ascii_glyphs;
static int has_color;

void
draw_init(struct app *a)
{
	g = a->use_utf8 ? &utf8_glyphs : &ascii_glyphs;
	has_color = a->use_color && has_colors();
	if (has_color) {
		start_color();
		use_default_colors();
		for (short c = 0; c < 8; c++)
			init_pair((short)(c + 1), c, -1);
	}
}

int
draw_list_rows(void)
{
	int n = LINES - HEADER_ROWS - FOOTER_ROWS;

	return n > 1 ? n : 1;
}

static attr_t
color_attr(enum ansi_color c, int is_bold)
{
	attr_t at = is_bold ? A_BOLD : A_NORMAL;

	if (has_color)
		at |= COLOR_PAIR((short)c + 1);
	return at;
}

/* The attribute of a state name in a cell coloured cc; A_NORMAL when unknown. */
static attr_t
state_attr(enum cell_color cc, const char *name)
{
	int is_bold = 0, c = fmt_cell_color(cc, name, &is_bold);

	return c >= 0 ? color_attr((enum ansi_color)c, is_bold) : A_NORMAL;
}

/*
 * Writes s at (y, x) in at most w columns (multibyte aware, wide characters
 * counted as two), padding with spaces when is_padded. Returns the columns used.
 */
static int
put_text(int y, int x, const char *s, int w, attr_t at, int is_padded)
{
	mbstate_t ps;
	int used = 0;

	if (w <= 0)
		return 0;
	memset(&ps, 0, sizeof(ps));
	move(y, x);
	attr_on(at, NULL);
	while (*s != '\0') {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &ps);
		int cw;

		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&ps, 0, sizeof(ps));
			wc = L'?';
			n = 1;
		}
		cw = wcwidth(wc);
		if (cw < 0) {
			wc = L'?';
			cw = 1;
		}
		if (used + cw > w)
			break;
		addnwstr(&wc, 1);
		used += cw;
		s += n;
	}
	for (; is_padded && used < w; used++)
		addch(' ');
	attr_off(at, NULL);
	return used;
}

/* The columns s takes on the terminal (multibyte aware). */
static int
text_cols(const char *s)
{
	wchar_t w[512];
	size_t n = mbstowcs(w, s, sizeof(w) / sizeof(w[0]) - 1);
	int c;

	if (n == (size_t)-1)
		return (int)strlen(s);
	w[n] = L'\0';
	c = wcswidth(w, n);
	return c >= 0 ? c : (int)strlen(s);
}

/* Writes s and moves *x past it. */
static void
put(int y, int *x, const char *s, attr_t at)
{
	if (*x < COLS)
		*x += put_text(y, *x, s, COLS - *x, at, 0);
}

/* The widths of v's columns on this terminal: the last takes what is left. */
static void
col_widths(const struct view_def *v, int *w)
{
	int left = COLS;

	for (size_t c = 0; c < v->ncols; c++) {
		w[c] = v->cols[c].width;
		if (c + 1 == v->ncols)
			w[c] = left > w[c] ? left : (left > 0 ? left : 0);
		else if (w[c] + 1 > left)
			w[c] = left > 1 ? left - 1 : 0;
		left -= w[c] + 1;
		if (left < 0)
			left = 0;
	}
}

static void
draw_title(struct app *a)
{
	char right[256], left[PATH_SETTING_MAX + 176];	/* the server's URL and its words */
	int x;

	attr_on(A_REVERSE, NULL);
	mvhline(0, 0, ' ', COLS);
	snprintf(left, sizeof(left), " outpost-top %s %s as %s%s", g->sep, a->set.server, a->role,
	    a->is_viewer ? " (read-only)" : "");
	put_text(0, 0, left, COLS, A_REVERSE, 0);
	switch (a->conn) {
	case CONN_LIVE:
		snprintf(right, sizeof(right), "%s live, seq %" PRId64 " ", g->live, a->last_seq);
		break;
	case CONN_AWAY:
		snprintf(right, sizeof(right), "%s SERVER AWAY (%s): last state, seq %" PRId64
		    " ", g->away, a->conn_reason, a->last_seq);
		break;
	default:
		snprintf(right, sizeof(right), "%s connecting, seq %" PRId64 " ", g->away,
		    a->last_seq);
		break;
	}
	x = COLS - text_cols(right);
	if (x < text_cols(left) + 1)
		x = text_cols(left) + 1;
	if (x < COLS)
		put_text(0, x, right, COLS - x, A_REVERSE | (a->conn == CONN_AWAY ?
		    color_attr(ANSI_RED, 1) : 0), 0);
	attr_off(A_REVERSE, NULL);
}

/*
 * The last good backup's age ("backup 3h ago"), red when the last one failed
 * or a schedule has made none; nothing from a server that says nothing.
 */
static void
draw_backup(struct app *a, int *x)
{
	json_t *ok = json_object_get(a->backup, "last_success");
	json_t *bad = json_object_get(a->backup, "last_failure");
	const char *ok_at = json_string_value(json_object_get(ok, "at"));
	const char *bad_at = json_string_value(json_object_get(bad, "at"));
	int64_t t = 0;
	char buf[64], d[32];
	int is_bad;

	if (!json_is_object(a->backup))
		return;
	is_bad = (bad_at != NULL && (ok_at == NULL || strcmp(bad_at, ok_at) > 0)) ||
	    (ok_at == NULL && json_is_true(json_object_get(a->backup, "scheduled")));
	if (ok_at != NULL && time_parse_rfc3339(ok_at, &t) == 0)
		snprintf(buf, sizeof(buf), "backup %s ago%s", duration_format(now_ms() > t ?
		    (now_ms() - t) / 1000 * 1000 : 0, d, sizeof(d)), is_bad ? ", last failed" : "");
	else
		snprintf(buf, sizeof(buf), "backup none%s", is_bad && bad_at ? ", last failed" : "");
	snprintf(d, sizeof(d), " %s ", g->sep);
	put(2, x, d, A_NORMAL);
	put(2, x, buf, is_bad ? color_attr(ANSI_RED, 1) | (has_color ? 0 : A_REVERSE) : A_NORMAL);
}

static void
draw_glance(struct app *a)
{
	const char *inames[INST_STATE_COUNT], *wnames[WORKER_STATE_COUNT], *hnames[HEALTH_COUNT];
	const size_t *ic = a->inst_counts, *wc = a->worker_counts, *hc = a->health_counts;
	struct model *wm = &a->vs[V_WORKERS].m;
	int64_t used[2] = { 0, 0 }, cap[2] = { 0, 0 };
	size_t firing = 0, i;
	char buf[128];
	json_t *al;
	int x = 0;

	for (i = 0; i < INST_STATE_COUNT; i++)
		inames[i] = inst_state_name((enum inst_state)i);
	for (i = 0; i < WORKER_STATE_COUNT; i++)
		wnames[i] = worker_state_name((enum worker_state)i);
	for (i = 0; i < HEALTH_COUNT; i++)
		hnames[i] = worker_health_name((enum worker_health)i);

	snprintf(buf, sizeof(buf), "Instances %zu:", a->vs[V_INSTANCES].m.n);
	put(1, &x, buf, A_BOLD);
	for (i = 0; i < INST_STATE_COUNT; i++) {
		if (ic[i] == 0)
			continue;
		put(1, &x, " ", A_NORMAL);
		put(1, &x, inames[i], state_attr(CELL_INST_STATE, inames[i]));
		snprintf(buf, sizeof(buf), " %zu", ic[i]);
		put(1, &x, buf, A_NORMAL);
	}
	x = 0;
	snprintf(buf, sizeof(buf), "Workers %zu:", wm->n);
	put(2, &x, buf, A_BOLD);
	for (i = 0; i < WORKER_STATE_COUNT; i++) {
		if (wc[i] == 0)
			continue;
		put(2, &x, " ", A_NORMAL);
		put(2, &x, wnames[i], state_attr(CELL_WORKER_STATE, wnames[i]));
		snprintf(buf, sizeof(buf), " %zu", wc[i]);
		put(2, &x, buf, A_NORMAL);
	}
	if (wm->n > 0) {
		put(2, &x, " ", A_NORMAL);
		put(2, &x, g->sep, A_NORMAL);
	}
	for (i = 0; i < HEALTH_COUNT; i++) {
		if (hc[i] == 0)
			continue;
		put(2, &x, " ", A_NORMAL);
		put(2, &x, hnames[i], state_attr(CELL_HEALTH, hnames[i]));
		snprintf(buf, sizeof(buf), " %zu", hc[i]);
		put(2, &x, buf, A_NORMAL);
	}
	/* Capacity of the workers that take instances: not stopped, failed or gone. */
	views_worker_capacity(a, used, cap);
	snprintf(buf, sizeof(buf), " %s slots %" PRId64 "/%" PRId64 " cpu %" PRId64 "/%" PRId64,
	    g->sep, used[0], cap[0], used[1], cap[1]);
	put(2, &x, buf, A_NORMAL);
	json_array_foreach(a->alerts, i, al)
		firing += json_is_true(json_object_get(al, "firing"));
	snprintf(buf, sizeof(buf), " %s ", g->sep);
	put(2, &x, buf, A_NORMAL);
	snprintf(buf, sizeof(buf), "alerts %zu firing", firing);
	put(2, &x, buf, firing > 0 ? color_attr(ANSI_RED, 1) | (has_color ? 0 : A_REVERSE) :
	    A_NORMAL);
	draw_backup(a, &x);
}

static void
draw_tabs(struct app *a)
{
	struct view_state *s = &a->vs[a->cur];
	char buf[256];
	int x = 0;

	for (int v = 0; v < V_COUNT; v++) {
		snprintf(buf, sizeof(buf), "%d %s", v + 1, COLS >= 110 ? views[v]->title :
		    views[v]->short_title);
		put(3, &x, buf, v == (int)a->cur && !a->pager.is_open ? A_REVERSE | A_BOLD :
		    A_NORMAL);
		put(3, &x, " ", A_NORMAL);
	}
	snprintf(buf, sizeof(buf), " %zu/%zu%s%s", s->m.nvis, s->m.n,
	    s->m.filter[0] ? " filter: " : "", s->m.filter);
	if ((int)strlen(buf) > COLS - x)	/* a narrow terminal: the counts alone */
		snprintf(buf, sizeof(buf), " %zu/%zu%s", s->m.nvis, s->m.n, s->m.filter[0] ?
		    " /" : "");
	if ((int)strlen(buf) <= COLS - x)
		put_text(3, COLS - (int)strlen(buf), buf, (int)strlen(buf), A_BOLD, 0);
}

static void
draw_bar(int y, int x, int w, const char *text, attr_t at)
{
	long used = 0, cap = 0;
	int n, fill, tw = (int)strlen(text);

	sscanf(text, "%ld/%ld", &used, &cap);
	n = w - tw - 1;
	if (n < 3) {
		put_text(y, x, text, w, at, 1);
		return;
	}
	fill = cap > 0 ? (int)((used * n + cap - 1) / cap) : 0;
	if (fill > n)
		fill = n;
	move(y, x);
	for (int i = 0; i < n; i++) {
		attr_t ba = i < fill ? color_attr(used >= cap ? ANSI_RED : ANSI_GREEN, 0) : A_DIM;

		attr_on(ba | at, NULL);
		addstr(i < fill ? g->full : g->empty);
		attr_off(ba | at, NULL);
	}
	addch(' ');
	put_text(y, x + n + 1, text, tw, at, 1);
}

static void
draw_list(struct app *a)
{
	const struct view_def *v = views[a->cur];
	struct view_state *s = &a->vs[a->cur];
	int w[MODEL_MAX_COLS], rows = draw_list_rows(), x = 0;

	col_widths(v, w);
	for (size_t c = 0; c < v->ncols; c++) {
		char t[64];

		snprintf(t, sizeof(t), "%s%s", v->cols[c].title, c == s->m.sort_col ?
		    (s->m.is_desc ? g->down : g->up) : "");
		put_text(4, x, t, w[c], A_BOLD | A_UNDERLINE, 1);
		x += w[c] + 1;
	}
	for (int i = 0; i < rows; i++) {
		struct model_row *r = model_visible(&s->m, (size_t)(s->top + i));
		int is_sel = s->top + i == s->sel;
		attr_t base = is_sel ? A_REVERSE : A_NORMAL;

		if (r == NULL)
			break;
		if (is_sel)
			mvchgat(HEADER_ROWS + i, 0, COLS, A_REVERSE, 0, NULL);
		x = 0;
		for (size_t c = 0; c < v->ncols && x < COLS; c++) {
			enum cell_color cc = v->cols[c].color;

			if (cc == CELL_BAR)
				draw_bar(HEADER_ROWS + i, x, w[c], model_cell(r, c), base);
			else
				put_text(HEADER_ROWS + i, x, model_cell(r, c), w[c], base |
				    state_attr(cc, model_cell(r, c)), 1);
			x += w[c];
			if (x < COLS)
				put_text(HEADER_ROWS + i, x, " ", 1, base, 0);
			x++;
		}
	}
	if (s->m.nvis == 0)
		put_text(HEADER_ROWS, 1, s->m.n == 0 ? "(none)" : "(nothing matches the filter)",
		    COLS - 1, A_DIM, 0);
}

static void
draw_pager(struct app *a)
{
	struct pager *p = &a->pager;
	int rows = draw_list_rows() + 1;	/* the column titles' row too */
	long max_top = (long)p->n - rows;

	if (max_top < 0)
		max_top = 0;
	if (p->top > max_top)
		p->top = max_top;
	if (p->top < 0)
		p->top = 0;
	mvhline(3, 0, ' ', COLS);
	put_text(3, 0, p->title, COLS, A_REVERSE | A_BOLD, 1);
	for (int i = 0; i < rows && p->top + i < (long)p->n; i++)
		put_text(HEADER_ROWS - 1 + i, 0, p->lines[p->top + i], COLS, A_NORMAL, 0);
}

static void
draw_form(struct app *a)
{
	struct form *f = &a->form;
	const char *name = json_string_value(json_object_get(f->runbook, "name"));
	const char *desc = json_string_value(json_object_get(f->runbook, "description"));
	int y = 3, is_confirm = json_is_true(json_object_get(f->runbook, "confirm"));
	char line[512];
	json_t *p;
	size_t i;

	snprintf(line, sizeof(line), "Run runbook %s", name != NULL ? name : "?");
	mvhline(y, 0, ' ', COLS);
	put_text(y++, 0, line, COLS, A_REVERSE | A_BOLD, 1);
	put_text(y++, 1, desc != NULL ? desc : "", COLS - 1, A_NORMAL, 0);
	y++;
	json_array_foreach(json_object_get(f->runbook, "params"), i, p) {
		const char *pn = json_string_value(json_object_get(p, "name"));
		const char *ty = json_string_value(json_object_get(p, "type"));

		if (i >= f->nparams || y >= LINES - FOOTER_ROWS - 3)
			break;
		snprintf(line, sizeof(line), "%s %-18s %-10s [%s]%s", (int)i == f->sel ? ">" : " ",
		    pn != NULL ? pn : "?", ty != NULL ? ty : "?", f->values[i],
		    json_is_true(json_object_get(p, "required")) ? " required" : "");
		put_text(y++, 1, line, COLS - 1, (int)i == f->sel ? A_REVERSE : A_NORMAL, 0);
	}
	y++;
	snprintf(line, sizeof(line), "%s [%s] dry run", f->sel == (int)f->nparams ? ">" : " ",
	    f->is_dry_run ? "x" : " ");
	put_text(y++, 1, line, COLS - 1, f->sel == (int)f->nparams ? A_REVERSE : A_NORMAL, 0);
	snprintf(line, sizeof(line), "%s < Run >%s", f->sel == (int)f->nparams + 1 ? ">" : " ",
	    is_confirm ? "  (destructive: asks to confirm)" : "");
	put_text(y++, 1, line, COLS - 1, f->sel == (int)f->nparams + 1 ? A_REVERSE | A_BOLD :
	    A_BOLD, 0);
}

static void
draw_footer(struct app *a)
{
	char buf[512];
	size_t off = 0;
	int y = LINES - 2;

	buf[0] = '\0';
	if (a->form.is_open) {
		snprintf(buf, sizeof(buf), "Up/Down choose  Enter edit/toggle/run  d dry run  "
		    "Esc cancel");
	} else if (a->pager.is_open) {
		snprintf(buf, sizeof(buf), "Esc/q back  Up/Down PgUp/PgDn scroll  g/G top/end");
	} else {
		for (const struct action *ac = views[a->cur]->actions; ac->key != 0; ac++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%c %s  ", ac->key,
			    ac->label);
		snprintf(buf + off, sizeof(buf) - off, "Enter detail  / filter  < > sort  "
		    "I invert  : command  ? help  q quit");
	}
	mvhline(y, 0, ' ', COLS);
	put_text(y, 0, buf, COLS, A_REVERSE, 1);
	y++;
	if (a->prompt.is_open) {
		int x = 0;

		put(y, &x, a->prompt.question, A_BOLD);
		put(y, &x, a->prompt.text, A_NORMAL);
		if (x < COLS)
			move(y, x);
		curs_set(1);
	} else {
		curs_set(0);
		put_text(y, 0, a->message, COLS, a->is_error_message ?
		    color_attr(ANSI_RED, 1) | (has_color ? 0 : A_BOLD) : A_NORMAL, 0);
	}
}

void
draw_all(struct app *a)
{
	erase();
	if (LINES >= 8 && COLS >= 20) {
		draw_title(a);
		draw_glance(a);
		draw_tabs(a);
		if (a->form.is_open)
			draw_form(a);
		else if (a->pager.is_open)
			draw_pager(a);
		else
			draw_list(a);
		draw_footer(a);
	} else {
		put_text(0, 0, "outpost-top: the terminal is too small", COLS, A_BOLD, 0);
	}
	wnoutrefresh(stdscr);
	doupdate();
	a->needs_redraw = 0;
}
