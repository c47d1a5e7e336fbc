/*
 * The autoscaler: for each template with autoscale that is past its
 * cooldown, two questions a tick.
 *
 *   up    sched_demand() (placement.c) places the due pending instances, as
 *         a dry run with binpack, on the workers that take instances and on
 *         those coming, at their template's full capacity; what is left goes
 *         on new workers of each template, up to max. The workers used raise
 *         the template's desired count: one scale_up event saying what is
 *         pending, what it needs, and what is free.
 *   down  the workers ready, online, holding nothing, and idle for
 *         idle_timeout, newest first, down to min, lower the count (one
 *         scale_down event) and are retired.
 *
 * Either decision starts the cooldown. The count it sets is reconciled by
 * the tick (scaler.c), like an operator's. Cost: sched_demand's, plus
 * O(templates × workers) here. Never: provision or remove a worker itself.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "scaler.h"

#define AUTOSCALE_REASON_MAX 600

/* Up: what is due and fits nothing there is or is coming, on new workers. */
static void
scale_up(struct app *a, struct tview *tv, size_t nt, int64_t now)
{
	struct demand_tmpl *d = calloc(nt + 1, sizeof(*d));
	struct demand_result r;
	size_t nd = 0;

	if (d == NULL)
		return;
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		int64_t have = tv[i].live > tv[i].desired ? tv[i].live : tv[i].desired;

		if (!tv[i].t.autoscale || ts == NULL ||
		    now - ts->last_action_at < tv[i].t.cooldown_ms)
			continue;
		d[nd].name = tv[i].t.name;
		d[nd].cpu = tv[i].t.cpu;
		d[nd].memory_mb = tv[i].t.memory_mb;
		d[nd].slots = tv[i].t.slots;
		d[nd].labels_text = tv[i].labels_text;
		/* What is being made, and what is desired but not made yet (a backoff). */
		d[nd].coming = tv[i].coming + (int)(have - tv[i].live);
		d[nd].room = (int)(tv[i].t.max - have > 0 ? tv[i].t.max - have : 0);
		nd++;
	}
	if (nd > 0 && sched_demand(a->store, now, a->cfg.lead_time_ms, d, nd, &r) == 0) {
		for (size_t i = 0; i < nd; i++) {
			struct tview *t = scaler_find_template(tv, nt, d[i].name);
			struct tstate *ts = tstate_get(d[i].name);
			char reason[AUTOSCALE_REASON_MAX];
			int64_t have, to;

			if (d[i].add <= 0 || t == NULL || ts == NULL)
				continue;
			have = t->live > t->desired ? t->live : t->desired;
			to = have + d[i].add;
			if (to > t->t.max)
				to = t->t.max;	/* the demand's room says so too: a guard */
			if (to <= have)
				continue;
			snprintf(reason, sizeof(reason), "%zu pending need cpu=%lld, "
			    "memory_mb=%lld, free cpu=%lld, memory_mb=%lld -> +%d worker%s of %s "
			    "(%lld to %lld, max %lld)",
			    d[i].need_n, (long long)d[i].need_cpu, (long long)d[i].need_memory_mb,
			    (long long)r.free_cpu, (long long)r.free_memory_mb, (int)(to - have),
			    to - have == 1 ? "" : "s", t->t.name,
			    (long long)have, (long long)to, (long long)t->t.max);
			if (store_begin(a->store) != 0)
				continue;
			if (scaler_set_desired(a->store, t->t.name, to) != 0 ||
			    scaling_event(a->store, "scale_up", t->t.name, NULL, reason) != 0 ||
			    store_commit(a->store) != 0) {
				store_rollback(a->store);
				continue;
			}
			log_info("scaling.action", "action", "scale_up", "template", t->t.name,
			    "reason", reason, NULL);
			t->desired = to;
			ts->last_action_at = now;
		}
	}
	free(d);
}

/* Down: workers idle past idle_timeout, to min. */
static void
scale_down_idle(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw,
    int64_t now)
{
	assert(nw == 0 || w != NULL);
	for (size_t i = 0; i < nt; i++) {
		struct tstate *ts = tstate_get(tv[i].t.name);
		struct sbuf names;
		int64_t room = tv[i].live - tv[i].t.min, n = 0;
		char reason[AUTOSCALE_REASON_MAX], dur[32];

		if (!tv[i].t.autoscale || ts == NULL || room <= 0 ||
		    now - ts->last_action_at < tv[i].t.cooldown_ms)
			continue;
		sbuf_init(&names);
		/* Newest first, as a scale by hand picks among idle workers. */
		for (size_t k = nw; k-- > 0 && n < room;) {
			struct wstate *ws = wstate_get(w[k].id, now);

			if (!w[k].is_live || strcmp(w[k].tmpl, tv[i].t.name) != 0 ||
			    w[k].state != WORKER_READY || w[k].health != HEALTH_ONLINE ||
			    w[k].held > 0 || ws == NULL ||
			    now - ws->busy_at < tv[i].t.idle_timeout_ms)
				continue;
			sbuf_printf(&names, "%s%s", n ? ", " : "", w[k].name);
			w[k].retiring = 2;	/* chosen, below */
			n++;
		}
		if (n > 0) {
			snprintf(reason, sizeof(reason), "%s idle past %s -> -%lld workers of %s "
			    "(%d to %lld, min %lld)", names.p,
			    duration_format(tv[i].t.idle_timeout_ms, dur, sizeof(dur)),
			    (long long)n, tv[i].t.name, tv[i].live, (long long)(tv[i].live - n),
			    (long long)tv[i].t.min);
			if (store_begin(a->store) == 0) {
				int64_t to = tv[i].live - n;

				if (scaler_set_desired(a->store, tv[i].t.name, to) != 0 ||
				    scaling_event(a->store, "scale_down", tv[i].t.name, NULL,
				    reason) != 0 || store_commit(a->store) != 0)
					store_rollback(a->store);
				else
					tv[i].desired = to;
			}
			log_info("scaling.action", "action", "scale_down", "template",
			    tv[i].t.name, "reason", reason, NULL);
			ts->last_action_at = now;
			for (size_t k = 0; k < nw; k++) {
				if (w[k].retiring != 2)
					continue;
				scaler_retire(a, &w[k], 0, "retire",
				    "idle: its template scaled down");
				w[k].retiring = 1;
				w[k].is_live = 0;
				tv[i].live--;
				assert(tv[i].live >= 0);
			}
		}
		sbuf_free(&names);
	}
}

void
autoscale(struct app *a, struct tview *tv, size_t nt, struct wrow *w, size_t nw, int64_t now)
{
	scale_up(a, tv, nt, now);
	scale_down_idle(a, tv, nt, w, nw, now);
}
