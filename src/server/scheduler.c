/*
 * Placement: which worker takes each pending instance. Pure: it sees arrays
 * of workers and instances and writes each instance's worker; the caller
 * reads them from the store, and writes the placements back with their
 * events. Nothing here allocates per instance beyond the arrays below.
 *
 * Cost. Instances that need the same labels form a class; each class keeps
 * a segment tree over the workers that may take it (ready, online, labels
 * match), whose nodes hold the largest free cpu, memory and slots beneath
 * them. A placement is a descent of one tree, pruned by those maxima, and
 * the worker's new free capacity is written into every tree that holds it:
 * O(log m) per instance and O(k·log m) per placement for k classes, instead
 * of a scan of every worker for every instance.
 *
 * Policies. binpack: the first worker, fullest first, that fits (workers
 * fill one after another). spread: of the workers that fit, the one with the
 * most free cpu.
 *
 * Labels must be given sorted (by strcmp): that is how classes are found.
 * Containment is one of them (SCHED_CONTAINED, server.h), named in words.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct stree {
	size_t n;		/* leaves in use */
	size_t size;		/* leaves allocated: a power of two */
	int64_t *cpu;		/* per node: the largest free value beneath it */
	int64_t *mem;
	int64_t *slots;
	int *worker;		/* per leaf: the worker's index */
};

struct membership {
	int cls;
	size_t leaf;
};

/*
 * Requests that found no worker in a class. Capacity only shrinks during a
 * pass, so an instance asking at least as much as one of them fails at once:
 * without this, a pass of many instances that fit nowhere would descend every
 * tree fully (the maxima of cpu, memory and slots may sit on different
 * workers) and cost O(n·m).
 */
#define MAX_FAILS 4

struct fails {
	int64_t cpu[MAX_FAILS];
	int64_t mem[MAX_FAILS];
	int n;
};

static int
fails_cover(const struct fails *f, const struct sched_instance *in)
{
	for (int i = 0; i < f->n; i++)
		if (in->cpu >= f->cpu[i] && in->memory_mb >= f->mem[i])
			return 1;
	return 0;
}

static void
fails_add(struct fails *f, const struct sched_instance *in)
{
	int i = f->n < MAX_FAILS ? f->n++ : MAX_FAILS - 1;	/* full: the newest replaces the last */

	f->cpu[i] = in->cpu;
	f->mem[i] = in->memory_mb;
}

int
sched_policy_parse(const char *s, enum sched_policy *out)
{
	if (s != NULL && strcmp(s, "binpack") == 0)
		*out = SCHED_BINPACK;
	else if (s != NULL && strcmp(s, "spread") == 0)
		*out = SCHED_SPREAD;
	else
		return -1;
	return 0;
}

const char *
sched_policy_name(enum sched_policy p)
{
	return p == SCHED_SPREAD ? "spread" : "binpack";
}

static int
has_label(const struct sched_worker *w, const char *label)
{
	for (int i = 0; i < w->nlabels; i++)
		if (strcmp(w->labels[i], label) == 0)
			return 1;
	return 0;
}

int
sched_worker_may_take(const struct sched_worker *w, const struct sched_instance *in)
{
	if (w->state != WORKER_READY || w->health != HEALTH_ONLINE)
		return 0;
	for (int i = 0; i < in->nlabels; i++)
		if (!has_label(w, in->labels[i]))
			return 0;
	return 1;
}

static int
labels_cmp(const struct sched_instance *a, const struct sched_instance *b)
{
	if (a->nlabels != b->nlabels)
		return a->nlabels < b->nlabels ? -1 : 1;
	for (int i = 0; i < a->nlabels; i++) {
		int c = strcmp(a->labels[i], b->labels[i]);

		if (c != 0)
			return c;
	}
	return 0;
}

static const struct sched_instance *sort_base;

static int
by_labels(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int c = labels_cmp(&sort_base[a], &sort_base[b]);

	return c != 0 ? c : (a < b ? -1 : a > b);
}

static const struct sched_worker *order_base;

/* Fullest first (least free cpu, then memory), then by id, so a pass is repeatable. */
static int
by_fullness(const void *x, const void *y)
{
	const struct sched_worker *a = &order_base[*(const int *)x];
	const struct sched_worker *b = &order_base[*(const int *)y];

	if (a->free_cpu != b->free_cpu)
		return a->free_cpu < b->free_cpu ? -1 : 1;
	if (a->free_memory_mb != b->free_memory_mb)
		return a->free_memory_mb < b->free_memory_mb ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void
stree_pull(struct stree *t, size_t node)
{
	size_t l = 2 * node, r = l + 1;

	t->cpu[node] = t->cpu[l] > t->cpu[r] ? t->cpu[l] : t->cpu[r];
	t->mem[node] = t->mem[l] > t->mem[r] ? t->mem[l] : t->mem[r];
	t->slots[node] = t->slots[l] > t->slots[r] ? t->slots[l] : t->slots[r];
}

static void
stree_set(struct stree *t, size_t leaf, const struct sched_worker *w)
{
	size_t node = t->size + leaf;

	t->cpu[node] = w->free_cpu;
	t->mem[node] = w->free_memory_mb;
	t->slots[node] = w->free_slots;
	for (node /= 2; node >= 1; node /= 2)
		stree_pull(t, node);
}

static int
stree_init(struct stree *t, const int *workers, size_t n, const struct sched_worker *w)
{
	size_t size = 1;

	while (size < n)
		size *= 2;
	t->n = n;
	t->size = size;
	t->cpu = malloc(2 * size * sizeof(*t->cpu));
	t->mem = malloc(2 * size * sizeof(*t->mem));
	t->slots = malloc(2 * size * sizeof(*t->slots));
	t->worker = malloc(size * sizeof(*t->worker));
	if (t->cpu == NULL || t->mem == NULL || t->slots == NULL || t->worker == NULL)
		return -1;
	for (size_t i = 0; i < size; i++) {
		size_t node = size + i;

		t->worker[i] = i < n ? workers[i] : -1;
		t->cpu[node] = i < n ? w[workers[i]].free_cpu : -1;
		t->mem[node] = i < n ? w[workers[i]].free_memory_mb : -1;
		t->slots[node] = i < n ? w[workers[i]].free_slots : -1;
	}
	for (size_t node = size - 1; node >= 1; node--)
		stree_pull(t, node);
	return 0;
}

static void
stree_free(struct stree *t)
{
	free(t->cpu);
	free(t->mem);
	free(t->slots);
	free(t->worker);
}

static int
fits(const struct stree *t, size_t node, const struct sched_instance *in)
{
	return t->cpu[node] >= in->cpu && t->mem[node] >= in->memory_mb && t->slots[node] >= 1;
}

/* binpack: the leftmost leaf that fits. A node whose maxima fall short is skipped whole. */
static long
find_first(const struct stree *t, size_t node, const struct sched_instance *in)
{
	long r;

	if (!fits(t, node, in))
		return -1;
	if (node >= t->size)
		return (long)(node - t->size);
	r = find_first(t, 2 * node, in);
	return r >= 0 ? r : find_first(t, 2 * node + 1, in);
}

/* spread: the leaf that fits with the most free cpu; branch and bound on the cpu maxima. */
static void
find_best(const struct stree *t, size_t node, const struct sched_instance *in, long *best,
    int64_t *best_cpu)
{
	size_t a, b;

	if (!fits(t, node, in) || t->cpu[node] <= *best_cpu)
		return;
	if (node >= t->size) {
		*best = (long)(node - t->size);
		*best_cpu = t->cpu[node];
		return;
	}
	a = 2 * node;
	b = a + 1;
	if (t->cpu[b] > t->cpu[a]) {
		a = b;
		b = 2 * node;
	}
	find_best(t, a, in, best, best_cpu);
	find_best(t, b, in, best, best_cpu);
}

int
sched_place(struct sched_worker *w, size_t nw, struct sched_instance *in, size_t ni,
    enum sched_policy policy, struct sched_stats *stats)
{
	size_t *idx = NULL, nclasses = 0;
	int *cls = NULL, *cand = NULL, *nmem = NULL;
	size_t *first = NULL;
	struct stree *trees = NULL;
	struct membership *mem = NULL;
	struct fails *fails = NULL;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	for (size_t i = 0; i < ni; i++)
		in[i].worker = -1;
	if (ni == 0)
		return 0;
	/* Classes: sort the instances by their labels; equal neighbours share a class. */
	idx = malloc(ni * sizeof(*idx));
	cls = malloc(ni * sizeof(*cls));
	first = malloc(ni * sizeof(*first));
	if (idx == NULL || cls == NULL || first == NULL)
		goto out;
	for (size_t i = 0; i < ni; i++)
		idx[i] = i;
	sort_base = in;
	qsort(idx, ni, sizeof(*idx), by_labels);
	for (size_t i = 0; i < ni; i++) {
		if (i == 0 || labels_cmp(&in[idx[i]], &in[idx[i - 1]]) != 0)
			first[nclasses++] = idx[i];
		cls[idx[i]] = (int)nclasses - 1;
	}
	stats->classes = nclasses;
	/* One tree per class over its workers, fullest first; each worker's trees noted. */
	trees = calloc(nclasses, sizeof(*trees));
	fails = calloc(nclasses, sizeof(*fails));
	cand = malloc((nw ? nw : 1) * sizeof(*cand));
	nmem = calloc(nw ? nw : 1, sizeof(*nmem));
	mem = malloc((nw ? nw : 1) * nclasses * sizeof(*mem));
	if (trees == NULL || fails == NULL || cand == NULL || nmem == NULL || mem == NULL)
		goto out;
	for (size_t c = 0; c < nclasses; c++) {
		size_t n = 0;

		for (size_t k = 0; k < nw; k++)
			if (sched_worker_may_take(&w[k], &in[first[c]]))
				cand[n++] = (int)k;
		order_base = w;
		qsort(cand, n, sizeof(*cand), by_fullness);
		if (stree_init(&trees[c], cand, n, w) != 0)
			goto out;
		for (size_t leaf = 0; leaf < n; leaf++) {
			int k = cand[leaf];

			mem[(size_t)k * nclasses + (size_t)nmem[k]].cls = (int)c;
			mem[(size_t)k * nclasses + (size_t)nmem[k]].leaf = leaf;
			nmem[k]++;
		}
	}
	/* In the instances' own order: earlier instances are placed first. */
	for (size_t i = 0; i < ni; i++) {
		struct stree *t = &trees[cls[i]];
		long leaf = -1;
		int64_t best_cpu = -1;
		int k;

		if (t->n == 0 || fails_cover(&fails[cls[i]], &in[i])) {
			stats->unplaced++;
			continue;
		}
		if (policy == SCHED_SPREAD)
			find_best(t, 1, &in[i], &leaf, &best_cpu);
		else
			leaf = find_first(t, 1, &in[i]);
		if (leaf < 0) {
			fails_add(&fails[cls[i]], &in[i]);
			stats->unplaced++;
			continue;
		}
		k = t->worker[leaf];
		w[k].free_cpu -= in[i].cpu;
		w[k].free_memory_mb -= in[i].memory_mb;
		w[k].free_slots -= 1;
		/* The tree only offers a worker with room: capacity is never negative. */
		assert(w[k].free_cpu >= 0 && w[k].free_memory_mb >= 0 && w[k].free_slots >= 0);
		if (w[k].free_cpu < 0 || w[k].free_memory_mb < 0 || w[k].free_slots < 0) {
			log_error("sched.capacity_negative", "worker", w[k].name, NULL);
			goto out;
		}
		for (int m = 0; m < nmem[k]; m++) {
			const struct membership *ms = &mem[(size_t)k * nclasses + (size_t)m];

			stree_set(&trees[ms->cls], ms->leaf, &w[k]);
		}
		in[i].worker = k;
		stats->placed++;
	}
	rc = 0;
out:
	for (size_t c = 0; trees != NULL && c < nclasses; c++)
		stree_free(&trees[c]);
	free(trees);
	free(fails);
	free(mem);
	free(nmem);
	free(cand);
	free(first);
	free(cls);
	free(idx);
	return rc;
}

/* ---- explanations ---- */

enum why {
	WHY_FITS, WHY_STATE, WHY_HEALTH, WHY_CONTAINED, WHY_LABEL, WHY_CPU, WHY_MEMORY, WHY_SLOTS,
	WHY_COUNT
};

/* The first reason w cannot take in, in the order an operator would fix them. */
static enum why
why_not(const struct sched_worker *w, const struct sched_instance *in, const char **label)
{
	if (w->state != WORKER_READY)
		return WHY_STATE;
	if (w->health != HEALTH_ONLINE)
		return WHY_HEALTH;
	for (int i = 0; i < in->nlabels; i++) {
		if (!has_label(w, in->labels[i])) {
			*label = in->labels[i];
			return strcmp(*label, SCHED_CONTAINED) == 0 ? WHY_CONTAINED : WHY_LABEL;
		}
	}
	if (w->free_cpu < in->cpu)
		return WHY_CPU;
	if (w->free_memory_mb < in->memory_mb)
		return WHY_MEMORY;
	if (w->free_slots < 1)
		return WHY_SLOTS;
	return WHY_FITS;
}

/* One worker's answer, for an operator: "cordoned", "lacks cpu: needs 4, 2 free", "fits". */
void
sched_worker_reason(const struct sched_worker *w, const struct sched_instance *in, char *buf,
    size_t n)
{
	const char *label = NULL;

	switch (why_not(w, in, &label)) {
	case WHY_FITS:
		snprintf(buf, n, "fits (free: cpu %lld, memory %lld MB, %lld slot%s)",
		    (long long)w->free_cpu, (long long)w->free_memory_mb, (long long)w->free_slots,
		    w->free_slots == 1 ? "" : "s");
		break;
	case WHY_STATE:
		snprintf(buf, n, "%s: takes no new instances", worker_state_name(w->state));
		break;
	case WHY_HEALTH:
		snprintf(buf, n, "%s: its heartbeats stopped", worker_health_name(w->health));
		break;
	case WHY_CONTAINED:
		snprintf(buf, n, "needs containment; %s has isolation none", w->name);
		break;
	case WHY_LABEL:
		snprintf(buf, n, "lacks label %s", label);
		break;
	case WHY_CPU:
		snprintf(buf, n, "lacks cpu: needs %lld, %lld free", (long long)in->cpu,
		    (long long)w->free_cpu);
		break;
	case WHY_MEMORY:
		snprintf(buf, n, "lacks memory: needs %lld MB, %lld MB free", (long long)in->memory_mb,
		    (long long)w->free_memory_mb);
		break;
	case WHY_SLOTS:
		snprintf(buf, n, "no free slot");
		break;
	case WHY_COUNT:
		buf[0] = '\0';
		break;
	}
}

/* Lists up to 4 values, then "…": "free 2,1,0,3,…". */
static void
put_examples(struct sbuf *b, const int64_t *v, size_t n)
{
	for (size_t i = 0; i < n && i < 4; i++)
		sbuf_printf(b, "%s%lld", i ? "," : "", (long long)v[i]);
	if (n > 4)
		sbuf_puts(b, ",…");
}

/*
 * "3 workers: 2 lack cpu (need 4, free 2,1), 1 cordoned". States and
 * health are counted by name; label, cpu, memory and slot shortfalls say
 * what is needed and what is free. O(m).
 */
int
sched_explain(const struct sched_worker *w, size_t nw, const struct sched_instance *in,
    struct sbuf *out)
{
	size_t count[WHY_COUNT] = { 0 };
	size_t states[WORKER_STATE_COUNT] = { 0 }, health[HEALTH_COUNT] = { 0 };
	int64_t *cpu = calloc(nw ? nw : 1, sizeof(*cpu));
	int64_t *memv = calloc(nw ? nw : 1, sizeof(*memv));
	const char *missing = NULL;
	int is_first = 1;

	if (cpu == NULL || memv == NULL) {
		free(cpu);
		free(memv);
		return -1;
	}
	for (size_t k = 0; k < nw; k++) {
		const char *label = NULL;
		enum why y = why_not(&w[k], in, &label);

		if (y == WHY_CPU)
			cpu[count[y]] = w[k].free_cpu;
		if (y == WHY_MEMORY)
			memv[count[y]] = w[k].free_memory_mb;
		if (y == WHY_STATE && w[k].state >= 0 && w[k].state < WORKER_STATE_COUNT)
			states[w[k].state]++;
		if (y == WHY_HEALTH && w[k].health >= 0 && w[k].health < HEALTH_COUNT)
			health[w[k].health]++;
		if (y == WHY_LABEL && missing == NULL)
			missing = label;
		count[y]++;
	}
	if (nw == 0) {
		sbuf_puts(out, "no workers are registered");
		goto done;
	}
	sbuf_printf(out, "%zu worker%s: ", nw, nw == 1 ? "" : "s");
#define SEP() do { if (!is_first) sbuf_puts(out, ", "); is_first = 0; } while (0)
	if (count[WHY_FITS] > 0) {
		SEP();
		sbuf_printf(out, "%zu can take it", count[WHY_FITS]);
	}
	if (count[WHY_CPU] > 0) {
		SEP();
		sbuf_printf(out, "%zu lack%s cpu (need %lld, free ", count[WHY_CPU],
		    count[WHY_CPU] == 1 ? "s" : "", (long long)in->cpu);
		put_examples(out, cpu, count[WHY_CPU]);
		sbuf_putc(out, ')');
	}
	if (count[WHY_MEMORY] > 0) {
		SEP();
		sbuf_printf(out, "%zu lack%s memory (need %lld MB, free ", count[WHY_MEMORY],
		    count[WHY_MEMORY] == 1 ? "s" : "", (long long)in->memory_mb);
		put_examples(out, memv, count[WHY_MEMORY]);
		sbuf_putc(out, ')');
	}
	if (count[WHY_SLOTS] > 0) {
		SEP();
		sbuf_printf(out, "%zu ha%s no free slot", count[WHY_SLOTS],
		    count[WHY_SLOTS] == 1 ? "s" : "ve");
	}
	if (count[WHY_CONTAINED] > 0) {
		SEP();
		sbuf_printf(out, "%zu ha%s isolation none (needs containment)",
		    count[WHY_CONTAINED], count[WHY_CONTAINED] == 1 ? "s" : "ve");
	}
	if (count[WHY_LABEL] > 0) {
		SEP();
		sbuf_printf(out, "%zu lack%s label %s", count[WHY_LABEL],
		    count[WHY_LABEL] == 1 ? "s" : "", missing);
	}
	for (int s = 0; s < WORKER_STATE_COUNT; s++) {
		if (states[s] > 0) {
			SEP();
			sbuf_printf(out, "%zu %s", states[s], worker_state_name((enum worker_state)s));
		}
	}
	for (int h = 0; h < HEALTH_COUNT; h++) {
		if (health[h] > 0) {
			SEP();
			sbuf_printf(out, "%zu %s", health[h], worker_health_name((enum worker_health)h));
		}
	}
#undef SEP
done:
	free(cpu);
	free(memv);
	return 0;
}
