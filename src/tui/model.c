/*
 * The dashboard's lists (model.h). Rows live in one array; a hash of their
 * keys (open addressing, linear probing, at most half full) finds them. The
 * visible order is an array of indexes, filtered and then sorted with
 * qsort_r; ties go by key so that equal cells keep a stable order.
 *
 * What it must never do: draw, or talk to the server.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define CELL_MAX 512

static size_t
hash_key(const char *s)
{
	size_t h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int
hash_rebuild(struct model *m, size_t nslots)
{
	size_t *slots = calloc(nslots, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = hash_key(m->rows[i].key) & (nslots - 1);

		while (slots[j] != 0)
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

/* The slot of key, or of the empty one where it would go. */
static size_t
hash_slot(const struct model *m, const char *key)
{
	size_t j = hash_key(key) & (m->nslots - 1);

	while (m->slots[j] != 0 && strcmp(m->rows[m->slots[j] - 1].key, key) != 0)
		j = (j + 1) & (m->nslots - 1);
	return j;
}

int
model_init(struct model *m, size_t ncols, const int *is_numeric, model_format_fn format,
    void *arg)
{
	memset(m, 0, sizeof(*m));
	if (ncols == 0 || ncols > MODEL_MAX_COLS)
		return -1;
	m->ncols = ncols;
	m->is_numeric = is_numeric;
	m->format = format;
	m->format_arg = arg;
	m->seq = -1;
	return hash_rebuild(m, 64);
}

static void
row_free_parts(struct model *m, struct model_row *r)
{
	for (size_t c = 0; c < m->ncols; c++) {
		free(r->cells[c]);
		r->cells[c] = NULL;
	}
	free(r->hay);
	r->hay = NULL;
}

static void
row_free(struct model *m, struct model_row *r)
{
	row_free_parts(m, r);
	free(r->key);
	json_decref(r->obj);
}

void
model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		row_free(m, &m->rows[i]);
	m->n = 0;
	memset(m->slots, 0, m->nslots * sizeof(*m->slots));
	m->nvis = 0;
	m->is_dirty = 1;
}

void
model_free(struct model *m)
{
	if (m->slots != NULL)
		model_clear(m);
	free(m->rows);
	free(m->slots);
	free(m->vis);
	memset(m, 0, sizeof(*m));
}

/* Fills the cells and the haystack of r from its object. */
static int
row_render(struct model *m, struct model_row *r)
{
	char buf[CELL_MAX];
	struct sbuf hay;

	row_free_parts(m, r);
	sbuf_init(&hay);
	for (size_t c = 0; c < m->ncols; c++) {
		buf[0] = '\0';
		m->format(r->obj, c, buf, sizeof(buf), m->format_arg);
		/* Server text reaches a terminal: no control characters. */
		for (char *p = buf; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if ((r->cells[c] = strdup(buf)) == NULL)
			goto fail;
		for (char *p = buf; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (sbuf_puts(&hay, buf) != 0 || sbuf_putc(&hay, '\t') != 0)
			goto fail;
	}
	if (hay.p == NULL && sbuf_puts(&hay, "") != 0)
		goto fail;
	r->hay = sbuf_steal(&hay);
	return 0;
fail:
	sbuf_free(&hay);
	row_free_parts(m, r);
	return -1;
}

int
model_upsert(struct model *m, const char *key, json_t *obj)
{
	struct model_row *r;
	size_t j = hash_slot(m, key);

	if (m->slots[j] != 0) {
		r = &m->rows[m->slots[j] - 1];
		json_decref(r->obj);
		r->obj = json_incref(obj);
		m->is_dirty = 1;
		return row_render(m, r);
	}
	if (array_grow(&m->rows, &m->cap, m->n, sizeof(*m->rows)) != 0)
		return -1;
	r = &m->rows[m->n];
	memset(r, 0, sizeof(*r));
	if ((r->key = strdup(key)) == NULL)
		return -1;
	r->obj = json_incref(obj);
	r->seq = m->seq;
	if (row_render(m, r) != 0) {
		row_free(m, r);
		return -1;
	}
	m->n++;
	m->slots[j] = m->n;
	m->is_dirty = 1;
	if (m->n * 2 > m->nslots && hash_rebuild(m, m->nslots * 2) != 0)
		return -1;
	return 0;
}

void
model_loaded(struct model *m, int64_t seq)
{
	m->seq = seq;
	for (size_t i = 0; i < m->n; i++)
		m->rows[i].seq = seq;
}

int
model_follow(struct model *m, const char *key, json_t *obj, int64_t seq)
{
	struct model_row *r = model_find(m, key);

	if (seq <= (r != NULL ? r->seq : m->seq))
		return 0;
	if (model_upsert(m, key, obj) != 0)
		return -1;
	r = model_find(m, key);
	assert(r != NULL);
	r->seq = seq;
	return 1;
}

struct model_row *
model_find(const struct model *m, const char *key)
{
	size_t j = hash_slot(m, key);

	return m->slots[j] != 0 ? &m->rows[m->slots[j] - 1] : NULL;
}

int
model_remove(struct model *m, const char *key)
{
	size_t j = hash_slot(m, key), i;

	if (m->slots[j] == 0)
		return 0;
	i = m->slots[j] - 1;
	row_free(m, &m->rows[i]);
	/* The last row fills the hole; order in rows does not matter, vis has its own. */
	if (i != m->n - 1)
		m->rows[i] = m->rows[m->n - 1];
	m->n--;
	m->nvis = 0;	/* its indexes may be stale until the next refresh */
	m->is_dirty = 1;
	hash_rebuild(m, m->nslots);
	return 1;
}

int
model_rerender(struct model *m)
{
	m->is_dirty = 1;
	for (size_t i = 0; i < m->n; i++)
		if (row_render(m, &m->rows[i]) != 0)
			return -1;
	return 0;
}

void
model_set_filter(struct model *m, const char *filter)
{
	size_t i;

	for (i = 0; filter[i] != '\0' && i + 1 < sizeof(m->filter); i++)
		m->filter[i] = (char)tolower((unsigned char)filter[i]);
	m->filter[i] = '\0';
	m->is_dirty = 1;
}

void
model_set_sort(struct model *m, size_t col, int is_desc)
{
	if (col < m->ncols)
		m->sort_col = col;
	m->is_desc = is_desc;
	m->is_dirty = 1;
}

/* Numbers first, in their order; then text; "-" (nothing) last. */
static int
cmp_cells(const char *a, const char *b, int is_numeric)
{
	if (is_numeric) {
		char *ea, *eb;
		double x = strtod(a, &ea), y = strtod(b, &eb);
		int has_a = ea != a, has_b = eb != b;

		if (has_a && has_b && x != y)
			return x < y ? -1 : 1;
		if (has_a != has_b)
			return has_a ? -1 : 1;
	}
	return strcmp(a, b);
}

static int
cmp_keys(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* Numeric ids in their order: a shorter string of digits is the smaller. */
	if (la != lb && strspn(a, "0123456789") == la && strspn(b, "0123456789") == lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static int
cmp_vis(const void *pa, const void *pb, void *arg)
{
	const struct model *m = arg;
	const struct model_row *a = &m->rows[*(const size_t *)pa];
	const struct model_row *b = &m->rows[*(const size_t *)pb];
	size_t c = m->sort_col;
	int r = cmp_cells(a->cells[c], b->cells[c], m->is_numeric != NULL && m->is_numeric[c]);

	if (r == 0)
		r = cmp_keys(a->key, b->key);
	return m->is_desc ? -r : r;
}

int
model_refresh(struct model *m)
{
	size_t *vis;
	size_t n = 0;

	if (!m->is_dirty)
		return 0;
	vis = malloc((m->n > 0 ? m->n : 1) * sizeof(*vis));
	if (vis == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++)
		if (m->filter[0] == '\0' || strstr(m->rows[i].hay, m->filter) != NULL)
			vis[n++] = i;
	qsort_r(vis, n, sizeof(*vis), cmp_vis, m);
	free(m->vis);
	m->vis = vis;
	m->nvis = n;
	m->is_dirty = 0;
	return 0;
}

struct model_row *
model_visible(const struct model *m, size_t i)
{
	return i < m->nvis ? &m->rows[m->vis[i]] : NULL;
}

long
model_visible_index(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nvis; i++)
		if (strcmp(m->rows[m->vis[i]].key, key) == 0)
			return (long)i;
	return -1;
}
