/*
 * Text tables. A table owns copies of its headers and cells; rendering walks
 * every cell twice (widths, then output), O(rows × columns). Widths count
 * terminal columns, not bytes: UTF-8 is decoded and the common wide and
 * zero-width ranges are known. Cells are sanitised when added: control
 * characters and invalid UTF-8 become '?', so nothing a server sends can
 * move the cursor or change colours on an operator's terminal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define CELL_SEP "  "
#define ELLIPSIS "\xe2\x80\xa6"	/* U+2026, one column */

struct table_cell {
	char *text;
	int color;		/* -1: none, else enum ansi_color */
	int is_bold;
};

struct table_col {
	char *header;
	enum table_align align;
	size_t max_width;
};

struct table {
	struct table_col *cols;
	size_t ncols;
	struct table_cell *cells;	/* rows × ncols, row-major */
	size_t nrows;
	size_t cap_rows;
};

struct table *
table_new(void)
{
	return calloc(1, sizeof(struct table));
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		free(t->cols[i].header);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cols);
	free(t->cells);
	free(t);
}

/*
 * Decodes one UTF-8 sequence at s. Returns its length and sets *cp, or 0 for
 * an invalid, overlong or truncated sequence.
 */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		v = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		v = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min_cp[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

struct cp_range {
	uint32_t lo;
	uint32_t hi;
};

/* Combining marks and invisible format characters: zero columns. */
static const struct cp_range zero_width[] = {
	{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
	{ 0x064b, 0x065f }, { 0x0e31, 0x0e31 }, { 0x0e34, 0x0e3a }, { 0x1ab0, 0x1aff },
	{ 0x1dc0, 0x1dff }, { 0x200b, 0x200f }, { 0x202a, 0x202e }, { 0x2060, 0x2064 },
	{ 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }, { 0xfeff, 0xfeff },
	{ 0xe0100, 0xe01ef },
};

/* East Asian wide and fullwidth ranges, and the emoji blocks: two columns. */
static const struct cp_range double_width[] = {
	{ 0x1100, 0x115f }, { 0x231a, 0x231b }, { 0x2329, 0x232a }, { 0x23e9, 0x23ec },
	{ 0x25fd, 0x25fe }, { 0x2614, 0x2615 }, { 0x2648, 0x2653 }, { 0x26a1, 0x26a1 },
	{ 0x26aa, 0x26ab }, { 0x26bd, 0x26be }, { 0x26c4, 0x26c5 }, { 0x26d4, 0x26d4 },
	{ 0x26ea, 0x26ea }, { 0x26f2, 0x26f5 }, { 0x26fa, 0x26fd }, { 0x2705, 0x2705 },
	{ 0x270a, 0x270b }, { 0x2728, 0x2728 }, { 0x274c, 0x274c }, { 0x2753, 0x2755 },
	{ 0x2757, 0x2757 }, { 0x2795, 0x2797 }, { 0x27b0, 0x27b0 }, { 0x27bf, 0x27bf },
	{ 0x2b1b, 0x2b1c }, { 0x2b50, 0x2b50 }, { 0x2b55, 0x2b55 }, { 0x2e80, 0x303e },
	{ 0x3041, 0x33ff }, { 0x3400, 0x4dbf }, { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf },
	{ 0xa960, 0xa97f }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 },
	{ 0xfe30, 0xfe6f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x16fe0, 0x16fe4 },
	{ 0x17000, 0x18cff }, { 0x1b000, 0x1b2ff }, { 0x1f004, 0x1f004 }, { 0x1f0cf, 0x1f0cf },
	{ 0x1f18e, 0x1f18e }, { 0x1f191, 0x1f19a }, { 0x1f200, 0x1f2ff }, { 0x1f300, 0x1f64f },
	{ 0x1f680, 0x1f6ff }, { 0x1f7e0, 0x1f7eb }, { 0x1f90c, 0x1f9ff }, { 0x1fa70, 0x1faff },
	{ 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
};

/* Binary search of a sorted range table: O(log n). */
static int
in_ranges(uint32_t cp, const struct cp_range *r, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

static size_t
cp_width(uint32_t cp)
{
	if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0])))
		return 0;
	if (in_ranges(cp, double_width, sizeof(double_width) / sizeof(double_width[0])))
		return 2;
	return 1;
}

size_t
table_text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	while (*p) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0) {
			w++;
			p++;
			continue;
		}
		w += cp_width(cp);
		p += n;
	}
	return w;
}

/* A copy of s that is valid UTF-8 with no control characters; tabs become spaces. */
static char *
sanitize(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct sbuf b;

	sbuf_init(&b);
	/* Reserve it all at once; the empty append also NUL-terminates "". */
	if (sbuf_reserve(&b, strlen(s)) != 0 || sbuf_append(&b, "", 0) != 0)
		return NULL;
	while (*p) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0) {
			sbuf_putc(&b, '?');
			p++;
		} else if (cp == '\t') {
			sbuf_putc(&b, ' ');
			p++;
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			sbuf_putc(&b, '?');
			p += n;
		} else {
			sbuf_append(&b, p, n);
			p += n;
		}
	}
	return sbuf_steal(&b);
}

int
table_add_column(struct table *t, const char *header, enum table_align align, size_t max_width)
{
	struct table_col *cols;

	if (t->nrows > 0)
		return -1;
	cols = realloc(t->cols, (t->ncols + 1) * sizeof(*cols));
	if (cols == NULL)
		return -1;
	t->cols = cols;
	cols[t->ncols].header = sanitize(header);
	if (cols[t->ncols].header == NULL)
		return -1;
	cols[t->ncols].align = align;
	/* Room for at least one character and the ellipsis. */
	cols[t->ncols].max_width = (max_width == 1) ? 2 : max_width;
	return (int)t->ncols++;
}

size_t
table_columns(const struct table *t)
{
	return t->ncols;
}

size_t
table_rows(const struct table *t)
{
	return t->nrows;
}

long
table_add_row(struct table *t, const char *const *cells, size_t n)
{
	struct table_cell *row;

	if (t->ncols == 0)
		return -1;
	if (t->nrows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		struct table_cell *c = realloc(t->cells, cap * t->ncols * sizeof(*c));

		if (c == NULL)
			return -1;
		t->cells = c;
		t->cap_rows = cap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = "";

		if (i < n)
			s = cells[i] != NULL ? cells[i] : "-";
		row[i].text = sanitize(s);
		row[i].color = -1;
		row[i].is_bold = 0;
		if (row[i].text == NULL) {
			for (size_t j = 0; j < i; j++)
				free(row[j].text);
			return -1;
		}
	}
	return (long)t->nrows++;
}

int
table_set_color(struct table *t, size_t row, size_t col, enum ansi_color c, int is_bold)
{
	struct table_cell *cell;

	if (row >= t->nrows || col >= t->ncols)
		return -1;
	cell = &t->cells[row * t->ncols + col];
	cell->color = (int)c;
	cell->is_bold = is_bold;
	return 0;
}

static size_t
capped(size_t w, size_t max)
{
	return (max > 0 && w > max) ? max : w;
}

void
table_compute_widths(const struct table *t, size_t *widths)
{
	for (size_t c = 0; c < t->ncols; c++)
		widths[c] = capped(table_text_width(t->cols[c].header), t->cols[c].max_width);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = table_text_width(t->cells[r * t->ncols + c].text);

			w = capped(w, t->cols[c].max_width);
			if (w > widths[c])
				widths[c] = w;
		}
	}
}

/*
 * Appends s cut to at most max columns (0: no limit), ending in an ellipsis
 * when cut. Returns the columns written.
 */
static size_t
put_cut(struct sbuf *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = table_text_width(s), used = 0;

	if (max == 0 || w <= max) {
		sbuf_puts(out, s);
		return w;
	}
	while (*p) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);
		size_t cw;

		if (n == 0)
			n = 1, cp = '?';
		cw = cp_width(cp);
		if (used + cw > max - 1)
			break;
		sbuf_append(out, p, n);
		used += cw;
		p += n;
	}
	sbuf_puts(out, ELLIPSIS);
	return used + 1;
}

static void
pad(struct sbuf *out, size_t n)
{
	while (n-- > 0)
		sbuf_putc(out, ' ');
}

static void
render_cell(struct sbuf *out, const struct table_col *col, const struct table_cell *cell,
    size_t width, int is_last, int use_color)
{
	size_t w = capped(table_text_width(cell->text), col->max_width);
	int has_color = use_color && cell->color >= 0;

	if (col->align == TABLE_RIGHT)
		pad(out, width - w);
	if (has_color)
		sbuf_printf(out, "\033[%s3%dm", cell->is_bold ? "1;" : "", cell->color);
	put_cut(out, cell->text, col->max_width);
	if (has_color)
		sbuf_puts(out, "\033[0m");
	if (col->align == TABLE_LEFT && !is_last)
		pad(out, width - w);
}

int
table_render(const struct table *t, struct sbuf *out, int use_color)
{
	size_t *widths;

	if (t->ncols == 0)
		return 0;
	widths = calloc(t->ncols, sizeof(*widths));
	if (widths == NULL)
		return -1;
	table_compute_widths(t, widths);
	for (size_t r = 0; r <= t->nrows; r++) {
		size_t line = out->len;

		for (size_t c = 0; c < t->ncols; c++) {
			struct table_cell head = { t->cols[c].header, -1, 0 };
			const struct table_cell *cell = r == 0 ? &head :
			    &t->cells[(r - 1) * t->ncols + c];

			if (c > 0)
				sbuf_puts(out, CELL_SEP);
			render_cell(out, &t->cols[c], cell, widths[c], c + 1 == t->ncols,
			    use_color);
		}
		/* Empty last cells leave separators behind; a line never ends in blanks. */
		while (out->len > line && out->p[out->len - 1] == ' ')
			out->p[--out->len] = '\0';
		sbuf_putc(out, '\n');
	}
	free(widths);
	return 0;
}

int
table_print(const struct table *t, FILE *f, int use_color)
{
	struct sbuf b;
	int rc = 0;

	sbuf_init(&b);
	if (table_render(t, &b, use_color) != 0)
		rc = -1;
	else if (b.len > 0 && fwrite(b.p, 1, b.len, f) != b.len)
		rc = -1;
	sbuf_free(&b);
	return rc;
}
