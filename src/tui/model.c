/*
 * The dashboard's lists (model.h). Rows live in one array; a hash of their
 * keys (open addressing, linear probing, at most half full) finds them. No
 * row holds a JSON tree: each is rendered once into one block of text (its
 * key, its cells, their lower-case haystack), so 10,000 instances cost a
 * few hundred bytes each rather than a tree each, and the caller frees the
 * tree at once. order[] keeps every row in the current sort, computed from
 * keys made once a sort (a cell's number parsed once, not at each
 * comparison); the visible rows are the ones of order[] that pass the
 * filter, so typing a filter never sorts. Ties go by key so that equal
 * cells keep a stable order.
 *
 * What it must never do: draw, or talk to the server.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define CELL_MAX 512
#define KEY_MAX 256	/* ids and names are far shorter; offsets are 16 bits */

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
		size_t j = hash_key(model_key(&m->rows[i])) & (nslots - 1);

		while (slots[j] != 0)
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

/* The same table filled again in place (after a removal): it cannot fail. */
static void
hash_refill(struct model *m)
{
	memset(m->slots, 0, m->nslots * sizeof(*m->slots));
	for (size_t i = 0; i < m->n; i++) {
		size_t j = hash_key(model_key(&m->rows[i])) & (m->nslots - 1);

		while (m->slots[j] != 0)
			j = (j + 1) & (m->nslots - 1);
		m->slots[j] = i + 1;
	}
}

/* The slot of key, or of the empty one where it would go. */
static size_t
hash_slot(const struct model *m, const char *key)
{
	size_t j = hash_key(key) & (m->nslots - 1);

	while (m->slots[j] != 0 && strcmp(model_key(&m->rows[m->slots[j] - 1]), key) != 0)
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
	m->state_col = -1;
	m->seq = -1;
	m->is_ordered = 1;	/* no rows: in any order */
	return hash_rebuild(m, 64);
}

void
model_set_state_col(struct model *m, int col, model_state_fn state_of)
{
	assert(col >= 0 && (size_t)col < m->ncols && state_of != NULL);
	m->state_col = col;
	m->state_of = state_of;
}

int
model_init_like(struct model *to, const struct model *m)
{
	if (model_init(to, m->ncols, m->is_numeric, m->format, m->format_arg) != 0)
		return -1;
	to->keeps_json = m->keeps_json;
	to->state_col = m->state_col;
	to->state_of = m->state_of;
	return 0;
}

static void
row_free(struct model_row *r)
{
	free(r->text);
	free(r->json);
	r->text = NULL;
	r->json = NULL;
}

void
model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		row_free(&m->rows[i]);
	m->n = 0;
	memset(m->slots, 0, m->nslots * sizeof(*m->slots));
	m->norder = 0;
	m->is_ordered = 1;
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
	free(m->order);
	free(m->vis);
	memset(m, 0, sizeof(*m));
}

void
model_take(struct model *m, struct model *from)
{
	assert(from->ncols == m->ncols && from->keeps_json == m->keeps_json);
	model_clear(m);
	free(m->rows);
	free(m->slots);
	free(m->order);
	m->rows = from->rows;
	m->n = from->n;
	m->cap = from->cap;
	m->slots = from->slots;
	m->nslots = from->nslots;
	m->seq = from->seq;
	m->order = NULL;
	m->norder = 0;
	m->is_ordered = 0;	/* from's order was in no sort of m's */
	m->nvis = 0;
	m->is_dirty = 1;
	free(from->order);
	free(from->vis);
	memset(from, 0, sizeof(*from));
}

/*
 * r's text from obj: the cells rendered and made safe for a terminal, their
 * haystack, and the state; r->text is replaced only on success.
 */
static int
row_render(struct model *m, struct model_row *r, const char *key, json_t *obj)
{
	char cells[MODEL_MAX_COLS][CELL_MAX];
	size_t len[MODEL_MAX_COLS], klen = strlen(key), size, at;
	char *text, *hay;

	if (klen >= KEY_MAX)
		return -1;
	size = klen + 1;
	for (size_t c = 0; c < m->ncols; c++) {
		cells[c][0] = '\0';
		m->format(obj, c, cells[c], sizeof(cells[c]), m->format_arg);
		cells[c][CELL_MAX - 1] = '\0';
		/* Server text reaches a terminal: no control characters. */
		for (char *p = cells[c]; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		len[c] = strlen(cells[c]);
		size += 2 * (len[c] + 1);	/* the cell, and in the haystack with a tab */
	}
	size++;
	_Static_assert(KEY_MAX + 2 * MODEL_MAX_COLS * (CELL_MAX + 1) + 1 <= UINT16_MAX,
	    "a row's text must fit its 16-bit offsets");
	if ((text = malloc(size)) == NULL)
		return -1;
	memcpy(text, key, klen + 1);
	at = klen + 1;
	for (size_t c = 0; c < m->ncols; c++) {
		r->off[c] = (uint16_t)at;
		memcpy(text + at, cells[c], len[c] + 1);
		at += len[c] + 1;
	}
	r->hay_off = (uint16_t)at;
	hay = text + at;
	for (size_t c = 0; c < m->ncols; c++) {
		for (size_t i = 0; i < len[c]; i++)
			*hay++ = (char)tolower((unsigned char)cells[c][i]);
		*hay++ = '\t';
	}
	*hay = '\0';
	assert((size_t)(hay - text) + 1 == size);
	free(r->text);
	r->text = text;
	r->key_len = (uint16_t)klen;
	r->is_key_digits = klen > 0 && strspn(key, "0123456789") == klen;
	r->state = -1;
	if (m->state_col >= 0) {
		int st = m->state_of(model_cell(r, (size_t)m->state_col));

		r->state = (int8_t)(st >= 0 && st <= INT8_MAX ? st : -1);
	}
	return 0;
}

/* r's JSON text, when m keeps it; the old text goes only on success. */
static int
row_keep_json(struct model *m, struct model_row *r, json_t *obj)
{
	char *json;

	if (!m->keeps_json)
		return 0;
	if ((json = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return -1;
	free(r->json);
	r->json = json;
	return 0;
}

int
model_upsert(struct model *m, const char *key, json_t *obj)
{
	struct model_row *r;
	size_t j = hash_slot(m, key), i;

	if (m->slots[j] != 0) {
		char *was;

		i = m->slots[j] - 1;
		r = &m->rows[i];
		m->is_dirty = 1;
		/* A row in order whose sort cell is the same keeps its place. */
		if (i >= m->norder)
			return row_keep_json(m, r, obj) != 0 ? -1 : row_render(m, r, key, obj);
		if ((was = strdup(model_cell(r, m->sort_col))) == NULL)
			return -1;
		if (row_keep_json(m, r, obj) != 0 || row_render(m, r, key, obj) != 0) {
			free(was);
			return -1;
		}
		if (strcmp(was, model_cell(r, m->sort_col)) != 0)
			m->is_ordered = 0;
		free(was);
		return 0;
	}
	if (array_grow(&m->rows, &m->cap, m->n, sizeof(*m->rows)) != 0)
		return -1;
	r = &m->rows[m->n];
	memset(r, 0, sizeof(*r));
	r->seq = m->seq;
	if (row_keep_json(m, r, obj) != 0 || row_render(m, r, key, obj) != 0) {
		row_free(r);
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

json_t *
model_row_json(const struct model_row *r)
{
	return r->json != NULL ? json_loads(r->json, JSON_DECODE_ANY, NULL) : NULL;
}

/*
 * A removal keeps the order: order[] loses the row's index, the last ordered
 * row takes its place (and its index in order[]), and the last row fills the
 * hole that leaves, so rows 0..norder-1 are still the ordered ones. The
 * events view removes its oldest row at every event: it must not cost a sort.
 */
int
model_remove(struct model *m, const char *key)
{
	size_t j = hash_slot(m, key), i, hole, p;

	if (m->slots[j] == 0)
		return 0;
	i = m->slots[j] - 1;
	row_free(&m->rows[i]);
	hole = i;
	if (i < m->norder) {
		for (p = 0; m->order[p] != i; p++)
			assert(p + 1 < m->norder);
		memmove(&m->order[p], &m->order[p + 1], (m->norder - 1 - p) * sizeof(*m->order));
		hole = --m->norder;
		if (i != hole) {
			m->rows[i] = m->rows[hole];
			for (p = 0; m->order[p] != hole; p++)
				assert(p + 1 < m->norder);
			m->order[p] = i;
		}
	}
	if (hole != m->n - 1)
		m->rows[hole] = m->rows[m->n - 1];
	m->n--;
	m->nvis = 0;	/* its indexes may be stale until the next refresh */
	m->is_dirty = 1;
	hash_refill(m);
	return 1;
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
	if (col < m->ncols && col != m->sort_col) {
		m->sort_col = col;
		m->is_ordered = 0;
	}
	if (is_desc != m->is_desc)
		m->is_ordered = 0;
	m->is_desc = is_desc;
	m->is_dirty = 1;
}

/* A row's sort key, made once a sort: its cell, and the cell's number if it has one. */
struct sort_key {
	double num;
	const char *cell;
	const struct model_row *row;
	size_t i;
	int has_num;
};

static void
sort_key_make(const struct model *m, size_t i, struct sort_key *k)
{
	const struct model_row *r = &m->rows[i];
	char *end;

	k->row = r;
	k->i = i;
	k->cell = model_cell(r, m->sort_col);
	k->has_num = 0;
	k->num = 0;
	if (m->is_numeric != NULL && m->is_numeric[m->sort_col]) {
		k->num = strtod(k->cell, &end);
		k->has_num = end != k->cell && !isnan(k->num);
	}
}

/* Numbers first, in their order; then text; "-" (nothing) last; then by key. */
static int
sort_key_cmp(const struct sort_key *a, const struct sort_key *b)
{
	const struct model_row *ra = a->row, *rb = b->row;
	int r;

	if (a->has_num && b->has_num && a->num != b->num)
		return a->num < b->num ? -1 : 1;
	if (a->has_num != b->has_num)
		return a->has_num ? -1 : 1;
	if ((r = strcmp(a->cell, b->cell)) != 0)
		return r;
	/* Numeric keys in their order: a shorter string of digits is the smaller. */
	if (ra->key_len != rb->key_len && ra->is_key_digits && rb->is_key_digits)
		return ra->key_len < rb->key_len ? -1 : 1;
	return strcmp(model_key(ra), model_key(rb));
}

static int
cmp_asc(const void *pa, const void *pb)
{
	return sort_key_cmp(pa, pb);
}

static int
cmp_desc(const void *pa, const void *pb)
{
	return sort_key_cmp(pb, pa);
}

/*
 * order[] brought to every row in the current sort: all of them sorted when
 * the order is lost, else the rows added since sorted alone and merged.
 * O(n) keys, then O(n log n) or O(n + k log k) comparisons.
 */
static int
order_update(struct model *m)
{
	size_t from = m->is_ordered ? m->norder : 0, k = m->n - from, i, j, o;
	struct sort_key *keys, *old;
	size_t *order;
	int (*cmp)(const void *, const void *) = m->is_desc ? cmp_desc : cmp_asc;

	if (m->is_ordered && m->norder == m->n)
		return 0;
	order = malloc((m->n > 0 ? m->n : 1) * sizeof(*order));
	keys = malloc((m->n > 0 ? m->n : 1) * sizeof(*keys));
	if (order == NULL || keys == NULL) {
		free(order);
		free(keys);
		return -1;
	}
	/* keys[0..from): the ordered rows in their order; keys[from..n): the new ones. */
	for (i = 0; i < from; i++)
		sort_key_make(m, m->order[i], &keys[i]);
	for (i = from; i < m->n; i++)
		sort_key_make(m, i, &keys[i]);
	qsort(keys + from, k, sizeof(*keys), cmp);
	old = keys;
	for (i = 0, j = from, o = 0; o < m->n; o++) {
		if (j >= m->n || (i < from && cmp(&old[i], &old[j]) <= 0))
			order[o] = old[i++].i;
		else
			order[o] = old[j++].i;
	}
	free(keys);
	free(m->order);
	m->order = order;
	m->norder = m->n;
	m->is_ordered = 1;
	return 0;
}

int
model_refresh(struct model *m)
{
	size_t *vis;
	size_t n = 0;

	if (!m->is_dirty)
		return 0;
	if (order_update(m) != 0)
		return -1;
	assert(m->norder == m->n);
	vis = malloc((m->n > 0 ? m->n : 1) * sizeof(*vis));
	if (vis == NULL)
		return -1;
	/* O(n) substring searches: the haystacks were made in lower case once. */
	for (size_t i = 0; i < m->n; i++) {
		const struct model_row *r = &m->rows[m->order[i]];

		if (m->filter[0] == '\0' || strstr(r->text + r->hay_off, m->filter) != NULL)
			vis[n++] = m->order[i];
	}
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
		if (strcmp(model_key(&m->rows[m->vis[i]]), key) == 0)
			return (long)i;
	return -1;
}
