/*
 * Prometheus metrics. Counters live in memory (they restart with the
 * process, as Prometheus expects); gauges of stored things are counted from
 * the store when scraped. HTTP series are keyed by method, route pattern
 * and status: a bounded set, since routes are a fixed table. The process's
 * own series (process_*) are read from /proc/self at each scrape.
 */
#include "config.h"
#include <sys/resource.h>
#include <sys/stat.h>

#include <assert.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_send.h"
#include "backup.h"

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct http_series {
	char method[8];
	const char *route;	/* a route table literal, or "other" */
	int code;
	unsigned long long count;
};

struct route_hist {
	const char *route;
	unsigned long long bucket[NBUCKETS];
	unsigned long long count;
	double sum;
};

/* A histogram with its own buckets (upper bounds, ascending). */
struct hist {
	const char *name;
	const char *help;
	const double *le;
	size_t nle;
	unsigned long long bucket[16];
	unsigned long long count;
	double sum;
};

static const double pass_le[] = { 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1 };
static const double latency_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5, 5, 10 };
static const double inst_le[] = { 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };

static const double run_le[] = { 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600 };
static const double lag_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
	2.5 };
static const double commit_le[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5 };

#define HIST(name, help, le) { name, help, le, sizeof(le) / sizeof(le[0]), { 0 }, 0, 0 }
static struct hist durations[HIST_COUNT] = {
	[HIST_SCHED_PASS] = HIST("outpost_scheduler_loop_duration_seconds",
	    "One scheduler pass: reading, placing and writing.", pass_le),
	[HIST_INSTANTIATION] = HIST("outpost_instantiation_duration_seconds",
	    "The instantiate hook: as its agent measured it, or from instantiating to running "
	    "or warm when no wait for the slot's start is in it.", inst_le),
	[HIST_ASSIGNMENT] = HIST("outpost_assignment_latency_seconds",
	    "From a placement to its agent's first report on it.", latency_le),
	[HIST_LOOP_LAG] = HIST("outpost_loop_lag_seconds",
	    "How late the loop's 50 ms timer fired: how long the loop was held.", lag_le),
	[HIST_RUN_DURATION] = HIST("outpost_runbook_run_duration_seconds",
	    "Runs of runbooks, from their start to their end.", run_le),
	[HIST_DB_COMMIT] = HIST("outpost_db_commit_duration_seconds",
	    "One COMMIT of the database: the change written to its log (the next sync puts it "
	    "on disk: outpost_db_sync_duration_seconds).", commit_le),
	[HIST_DB_SYNC] = HIST("outpost_db_sync_duration_seconds",
	    "One sync of the database's log to disk, in the sync thread, for the commits in "
	    "the log when it was asked and not yet on disk (group commit): their answers wait "
	    "for it.", commit_le),
};
static unsigned long long decisions_placed, decisions_unplaced, decisions_claimed;

void
metrics_observe(enum metric_hist which, double v)
{
	struct hist *h = &durations[which];

	assert(which >= 0 && which < HIST_COUNT);
	assert(h->nle <= sizeof(h->bucket) / sizeof(h->bucket[0]));
	for (size_t b = 0; b < h->nle; b++)
		if (v <= h->le[b])
			h->bucket[b]++;
	h->count++;
	h->sum += v;
}

static void
hist_render(struct sbuf *o, const struct hist *h)
{
	const char *name = h->name;

	sbuf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, h->help, name);
	for (size_t b = 0; b < h->nle; b++)
		sbuf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[b], h->bucket[b]);
	sbuf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
	    h->count, name, h->sum, name, h->count);
}

void
metrics_sched_pass(size_t placed, size_t unplaced, double seconds)
{
	decisions_placed += placed;
	decisions_unplaced += unplaced;
	metrics_observe(HIST_SCHED_PASS, seconds);
}

void
metrics_warm_claimed(size_t n)
{
	decisions_claimed += n;
}

/* Scaling actions, by action and template: a few dozen series at most. */
struct scaling_series {
	char action[24];
	char tmpl[48];
	unsigned long long count;
};
static struct scaling_series *scaling;
static size_t nscaling, cap_scaling;

void
metrics_scaling_action(const char *action, const char *tmpl)
{
	for (size_t i = 0; i < nscaling; i++) {
		if (strcmp(scaling[i].action, action) == 0 && strcmp(scaling[i].tmpl, tmpl) == 0) {
			scaling[i].count++;
			return;
		}
	}
	if (array_grow(&scaling, &cap_scaling, nscaling, sizeof(*scaling)) != 0)
		return;
	snprintf(scaling[nscaling].action, sizeof(scaling[nscaling].action), "%s", action);
	snprintf(scaling[nscaling].tmpl, sizeof(scaling[nscaling].tmpl), "%s", tmpl);
	scaling[nscaling].count = 1;
	nscaling++;
}

static struct http_series *series;
static size_t nseries, cap_series;
static struct route_hist *hists;
static size_t nhists, cap_hists;
static int ws_clients;

void
metrics_ws_clients(int delta)
{
	ws_clients += delta;
}

static void *
grow(void *p, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 32;
	void *np = realloc(p, ncap * elem);

	if (np != NULL)
		*cap = ncap;
	return np;
}

/* O(series): tens of entries; a hash would cost more than it saves. */
void
metrics_http_observe(const char *method, const char *route, int code, double seconds)
{
	size_t i;

	for (i = 0; i < nseries; i++)
		if (series[i].route == route && series[i].code == code &&
		    strcmp(series[i].method, method) == 0)
			break;
	if (i == nseries) {
		if (nseries == cap_series) {
			void *n = grow(series, &cap_series, sizeof(*series));

			if (n == NULL)
				return;
			series = n;
		}
		memset(&series[i], 0, sizeof(series[i]));
		snprintf(series[i].method, sizeof(series[i].method), "%s", method);
		series[i].route = route;
		series[i].code = code;
		nseries++;
	}
	series[i].count++;
	for (i = 0; i < nhists; i++)
		if (hists[i].route == route)
			break;
	if (i == nhists) {
		if (nhists == cap_hists) {
			void *n = grow(hists, &cap_hists, sizeof(*hists));

			if (n == NULL)
				return;
			hists = n;
		}
		memset(&hists[i], 0, sizeof(hists[i]));
		hists[i].route = route;
		nhists++;
	}
	for (size_t b = 0; b < NBUCKETS; b++)
		if (seconds <= buckets[b])
			hists[i].bucket[b]++;
	hists[i].count++;
	hists[i].sum += seconds;
}

void
metrics_free(void)
{
	free(series);
	free(hists);
	free(scaling);
	series = NULL;
	hists = NULL;
	scaling = NULL;
	nseries = cap_series = nhists = cap_hists = nscaling = cap_scaling = 0;
}

/*
 * What the instances held by workers hold, summed per worker: one pass over
 * the held instances through the state index, grouped by worker (ascending
 * id), shared by the usage and capacity series. O(instances held): never the
 * workers' history (instances_worker holds every instance a worker ever ran,
 * terminated ones too, which the per-worker sums used to walk).
 */
struct held {
	int64_t worker_id;
	double n, cpu, memory_mb, cpu_millicores, memory_bytes;
};

static struct held *
held_by_worker(struct store *s, size_t *n)
{
	static char sql[STATES_SQL_BUF + 256];
	struct held *h = NULL;
	size_t cap = 0;
	sqlite3_stmt *st;

	*n = 0;
	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "SELECT worker_id, count(*), total(cpu), "
		    "total(memory_mb), total(cpu_millicores), total(memory_bytes) FROM instances "
		    "WHERE state IN (%s) AND worker_id IS NOT NULL GROUP BY worker_id "
		    "ORDER BY worker_id", inst_holding_sql());
	st = store_stmt(s, sql);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&h, &cap, *n, sizeof(*h)) != 0)
			break;
		h[*n] = (struct held){ sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
		    sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
		    sqlite3_column_double(st, 4), sqlite3_column_double(st, 5) };
		assert(*n == 0 || h[*n - 1].worker_id < h[*n].worker_id);
		(*n)++;
	}
	if (st != NULL)
		sqlite3_reset(st);
	return h;
}

static int
held_cmp(const void *k, const void *e)
{
	int64_t a = *(const int64_t *)k, b = ((const struct held *)e)->worker_id;

	return a < b ? -1 : a > b;
}

static const struct held *
held_of(const struct held *h, size_t n, int64_t worker_id)
{
	return n == 0 ? NULL : bsearch(&worker_id, h, n, sizeof(*h), held_cmp);
}

/*
 * Per worker (not terminated), its instances' latest usage samples summed:
 * one series a worker, never one an instance, so the count stays that of
 * the workers. O(workers log workers), with the sums of held_by_worker.
 */
static void
worker_usage_render(struct store *s, struct sbuf *o, const struct held *h, size_t nh)
{
	struct sbuf mem;
	sqlite3_stmt *st;

	sbuf_init(&mem);
	sbuf_puts(o, "# HELP outpost_worker_cpu_millicores CPU its instances used over their "
	    "last sample intervals, summed (1000 = one core).\n"
	    "# TYPE outpost_worker_cpu_millicores gauge\n");
	sbuf_puts(&mem, "# HELP outpost_worker_memory_bytes Memory its instances held at their "
	    "last samples, summed.\n# TYPE outpost_worker_memory_bytes gauge\n");
	st = store_stmt(s, "SELECT id, name FROM workers WHERE state != 'terminated' "
	    "ORDER BY name");
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const struct held *w = held_of(h, nh, sqlite3_column_int64(st, 0));

		sbuf_puts(o, "outpost_worker_cpu_millicores{worker=");
		sbuf_json_string(o, name);
		sbuf_printf(o, "} %.0f\n", w ? w->cpu_millicores : 0.0);
		sbuf_puts(&mem, "outpost_worker_memory_bytes{worker=");
		sbuf_json_string(&mem, name);
		sbuf_printf(&mem, "} %.0f\n", w ? w->memory_bytes : 0.0);
	}
	if (st != NULL)
		sqlite3_reset(st);
	if (mem.p != NULL)
		sbuf_append(o, mem.p, mem.len);
	sbuf_free(&mem);
}

/* The kernel's boot time, Unix seconds: /proc/stat's btime, read once. */
static long long
boot_time(void)
{
	static long long btime = -1;
	char line[256];
	FILE *f;

	if (btime >= 0)
		return btime;
	f = fopen("/proc/stat", "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	if (btime < 0)
		btime = 0;
	return btime;
}

/* Open descriptors: /proc/self/fd's entries, less the one that reads it. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

/*
 * The standard process_* series, as Prometheus' client libraries name them:
 * CPU (user and system) and resident memory from /proc/self/stat, the start
 * from its start time after boot, descriptors from /proc/self/fd and the
 * soft RLIMIT_NOFILE. A series whose source cannot be read is left out.
 */
static void
process_render(struct sbuf *o)
{
	char buf[1024], *p;
	unsigned long long utime, stime, start;
	unsigned long vsize;
	long rss, tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;
	struct rlimit rl;
	size_t n = 0;
	FILE *f = fopen("/proc/self/stat", "re");

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	/* After the command's name, which may hold spaces and parentheses: field 3 on. */
	p = strrchr(buf, ')');
	if (p != NULL && tck > 0 && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %*d %*d %*d %*d %*d %*d %llu %lu %ld", &utime, &stime, &start, &vsize,
	    &rss) == 5) {
		sbuf_printf(o, "# HELP process_cpu_seconds_total User and system CPU time spent "
		    "in seconds.\n# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)tck);
		sbuf_printf(o, "# HELP process_resident_memory_bytes Resident memory size in "
		    "bytes.\n# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %lld\n", (long long)rss * page);
		sbuf_printf(o, "# HELP process_virtual_memory_bytes Virtual memory size in "
		    "bytes.\n# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %lu\n", vsize);
		sbuf_printf(o, "# HELP process_start_time_seconds Start time of the process since "
		    "unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n",
		    (double)boot_time() + (double)start / (double)tck);
	}
	if ((fds = open_fds()) >= 0)
		sbuf_printf(o, "# HELP process_open_fds Number of open file descriptors.\n"
		    "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		sbuf_printf(o, "# HELP process_max_fds Maximum number of open file descriptors.\n"
		    "# TYPE process_max_fds gauge\nprocess_max_fds %lld\n",
		    rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur);
}

/* The WAL file's size (0 when there is none), beside the database's own figures. */
static void
wal_render(struct store *s, struct sbuf *o)
{
	const char *db = sqlite3_db_filename(store_db(s), "main");
	char path[PATH_MAX];
	struct stat st;
	long long size = 0;

	if (db != NULL && *db != '\0' &&
	    (size_t)snprintf(path, sizeof(path), "%s-wal", db) < sizeof(path) &&
	    stat(path, &st) == 0)
		size = (long long)st.st_size;
	sbuf_printf(o, "# HELP outpost_db_wal_size_bytes The database's write-ahead log file.\n"
	    "# TYPE outpost_db_wal_size_bytes gauge\noutpost_db_wal_size_bytes %lld\n", size);
}

/*
 * How long the oldest instance has been in each state that should move on
 * by itself: pending (due, and not a pool's) and every state on a worker.
 * From each one's last transition, an index lookup each: the due pending
 * ones through instances_due (those not due yet are never read), the held
 * ones through the state index; O(due + held). Every such state has its
 * series, 0 when none is in it.
 */
static void
state_age_render(struct store *s, struct sbuf *o)
{
	static char sql[STATES_SQL_BUF + 512];
	static const char due_sql[] = "SELECT 'pending', min((SELECT t.at FROM transitions t "
	    "WHERE t.instance_id = i.id ORDER BY t.id DESC LIMIT 1)) FROM instances i "
	    "INDEXED BY instances_due WHERE i.state = 'pending' AND i.timeslot_start <= ?1 AND "
	    "i.pool = 0";
	unsigned mask = inst_set_holding() | 1u << INST_PENDING;
	int64_t now = now_ms(), age[INST_STATE_COUNT] = { 0 };
	enum inst_state is;
	sqlite3_stmt *st;

	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "SELECT i.state, min((SELECT t.at FROM transitions t "
		    "WHERE t.instance_id = i.id ORDER BY t.id DESC LIMIT 1)) FROM instances i "
		    "WHERE i.state IN (%s) GROUP BY i.state", inst_holding_sql());
	for (int q = 0; q < 2; q++) {
		st = store_stmt(s, q == 0 ? due_sql : sql);
		if (st != NULL && q == 0)
			sqlite3_bind_int64(st, 1, now + (the_app != NULL ?
			    the_app->cfg.lead_time_ms : 0));
		while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
			if (sqlite3_column_type(st, 1) == SQLITE_NULL ||
			    inst_state_parse((const char *)sqlite3_column_text(st, 0), &is) != 0)
				continue;
			age[is] = now > sqlite3_column_int64(st, 1) ?
			    now - sqlite3_column_int64(st, 1) : 0;
		}
		if (st != NULL)
			sqlite3_reset(st);
	}
	sbuf_puts(o, "# HELP outpost_instance_state_age_seconds How long the oldest instance in "
	    "the state has been in it (pending: due ones only).\n"
	    "# TYPE outpost_instance_state_age_seconds gauge\n");
	for (int i = 0; i < INST_STATE_COUNT; i++)
		if (mask & 1u << i)
			sbuf_printf(o, "outpost_instance_state_age_seconds{state=\"%s\"} %.3f\n",
			    inst_state_name((enum inst_state)i), (double)age[i] / 1000.0);
}

/*
 * The capacity of the workers that take instances now (ready and online),
 * and what their instances hold of it: the figures of free_capacity_below.
 * O(workers log workers), with the sums of held_by_worker.
 */
static void
capacity_render(struct store *s, struct sbuf *o, const struct held *h, size_t nh)
{
	static const char *const res[] = { "slots", "cpu", "memory_mb" };
	long long total[3] = { 0 }, used[3] = { 0 };
	sqlite3_stmt *st = store_stmt(s, "SELECT id, slots, cpu, memory_mb FROM workers "
	    "WHERE state = 'ready' AND health = 'online'");

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const struct held *w = held_of(h, nh, sqlite3_column_int64(st, 0));

		for (int k = 0; k < 3; k++)
			total[k] += sqlite3_column_int64(st, k + 1);
		if (w != NULL) {
			used[0] += (long long)w->n;
			used[1] += (long long)w->cpu;
			used[2] += (long long)w->memory_mb;
		}
	}
	if (st != NULL)
		sqlite3_reset(st);
	sbuf_puts(o, "# HELP outpost_capacity What the ready, online workers offer: slots, cpu, "
	    "memory_mb.\n# TYPE outpost_capacity gauge\n");
	for (int k = 0; k < 3; k++)
		sbuf_printf(o, "outpost_capacity{resource=\"%s\"} %lld\n", res[k], total[k]);
	sbuf_puts(o, "# HELP outpost_capacity_used What their instances hold of it.\n"
	    "# TYPE outpost_capacity_used gauge\n");
	for (int k = 0; k < 3; k++)
		sbuf_printf(o, "outpost_capacity_used{resource=\"%s\"} %lld\n", res[k], used[k]);
}

int
metrics_render(struct store *s, struct sbuf *o)
{
	json_t *ic = instance_counts(s), *wc = worker_counts(s), *v;
	struct held *held;
	size_t nheld;
	const char *k;
	int64_t ring_count;
	size_t ring_size;

	sbuf_puts(o, "# HELP outpost_instances Instances by state.\n# TYPE outpost_instances gauge\n");
	json_object_foreach(ic, k, v)
		sbuf_printf(o, "outpost_instances{state=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
	/* By template ("" for workers registered by hand) and state, every state of each. */
	sbuf_puts(o, "# HELP outpost_workers Workers by template and state.\n"
	    "# TYPE outpost_workers gauge\n");
	{
		sqlite3_stmt *st = store_stmt(s, "SELECT t.name, w.state, count(w.id) FROM "
		    "(SELECT name FROM templates UNION SELECT coalesce(template, '') FROM workers) t "
		    "LEFT JOIN workers w ON coalesce(w.template, '') = t.name GROUP BY t.name, w.state "
		    "ORDER BY t.name");
		json_t *by = json_object();
		const char *tk;
		json_t *tv;

		while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
			const char *tn = (const char *)sqlite3_column_text(st, 0);
			json_t *row = json_object_get(by, tn);

			if (row == NULL) {
				row = json_object();
				for (int i = 0; i < WORKER_STATE_COUNT; i++)
					json_object_set_new(row, worker_state_name((enum worker_state)i),
					    json_integer(0));
				json_object_set_new(by, tn, row);
			}
			if (sqlite3_column_type(st, 1) != SQLITE_NULL)
				json_object_set_new(row, (const char *)sqlite3_column_text(st, 1),
				    json_integer(sqlite3_column_int64(st, 2)));
		}
		if (st != NULL)
			sqlite3_reset(st);
		json_object_foreach(by, tk, tv) {
			json_object_foreach(tv, k, v) {
				sbuf_puts(o, "outpost_workers{template=");
				sbuf_json_string(o, tk);
				sbuf_printf(o, ",state=\"%s\"} %lld\n", k, (long long)json_integer_value(v));
			}
		}
		json_decref(by);
	}
	sbuf_puts(o, "# HELP outpost_scaling_actions_total The scaler's decisions and their "
	    "outcomes, by action and template.\n# TYPE outpost_scaling_actions_total counter\n");
	for (size_t i = 0; i < nscaling; i++) {
		sbuf_printf(o, "outpost_scaling_actions_total{action=\"%s\",template=", scaling[i].action);
		sbuf_json_string(o, scaling[i].tmpl);
		sbuf_printf(o, "} %llu\n", scaling[i].count);
	}
	sbuf_puts(o, "# HELP outpost_workers_health Workers not terminated, by health.\n"
	    "# TYPE outpost_workers_health gauge\n");
	json_object_foreach(json_object_get(wc, "health"), k, v)
		sbuf_printf(o, "outpost_workers_health{health=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
	held = held_by_worker(s, &nheld);
	worker_usage_render(s, o, held, nheld);
	state_age_render(s, o);
	capacity_render(s, o, held, nheld);
	free(held);
	json_decref(ic);
	json_decref(wc);

	sbuf_puts(o, "# HELP outpost_http_requests_total HTTP requests answered.\n"
	    "# TYPE outpost_http_requests_total counter\n");
	for (size_t i = 0; i < nseries; i++)
		sbuf_printf(o, "outpost_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
		    series[i].method, series[i].route, series[i].code, series[i].count);
	sbuf_puts(o, "# HELP outpost_http_request_duration_seconds Time to answer a request.\n"
	    "# TYPE outpost_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < nhists; i++) {
		for (size_t b = 0; b < NBUCKETS; b++)
			sbuf_printf(o, "outpost_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			    hists[i].route, buckets[b], hists[i].bucket[b]);
		sbuf_printf(o, "outpost_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		    hists[i].route, hists[i].count);
		sbuf_printf(o, "outpost_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
		    hists[i].route, hists[i].sum);
		sbuf_printf(o, "outpost_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    hists[i].route, hists[i].count);
	}
	sbuf_printf(o, "# HELP outpost_events_total Events written (the last sequence number).\n"
	    "# TYPE outpost_events_total counter\noutpost_events_total %lld\n",
	    (long long)events_last_seq(s));
	events_ring_stats(&ring_count, &ring_size);
	sbuf_printf(o, "# HELP outpost_event_ring_events Events held in memory for readers.\n"
	    "# TYPE outpost_event_ring_events gauge\noutpost_event_ring_events %lld\n"
	    "# HELP outpost_event_ring_bytes Bytes of the events held in memory.\n"
	    "# TYPE outpost_event_ring_bytes gauge\noutpost_event_ring_bytes %zu\n",
	    (long long)ring_count, ring_size);
	sbuf_printf(o, "# HELP outpost_ws_clients Websocket event-stream clients connected.\n"
	    "# TYPE outpost_ws_clients gauge\noutpost_ws_clients %d\n", ws_clients);
	{
		int64_t lag;
		unsigned long long resyncs;

		events_ws_stats(s, &lag, &resyncs);
		sbuf_printf(o, "# HELP outpost_ws_lag_events The slowest subscribed event-stream "
		    "client: events written that it has not been sent yet.\n"
		    "# TYPE outpost_ws_lag_events gauge\noutpost_ws_lag_events %lld\n"
		    "# HELP outpost_ws_resyncs_total Event-stream clients told to resync, more "
		    "than ws_max_lag events behind.\n# TYPE outpost_ws_resyncs_total counter\n"
		    "outpost_ws_resyncs_total %llu\n", (long long)lag, resyncs);
	}

	sbuf_printf(o, "# HELP outpost_scheduling_decisions_total Instances the scheduler placed, "
	    "left unplaced (each pass that looked at them), or served from a warm pool.\n"
	    "# TYPE outpost_scheduling_decisions_total counter\n"
	    "outpost_scheduling_decisions_total{result=\"placed\"} %llu\n"
	    "outpost_scheduling_decisions_total{result=\"unplaced\"} %llu\n"
	    "outpost_scheduling_decisions_total{result=\"claimed\"} %llu\n",
	    decisions_placed, decisions_unplaced, decisions_claimed);
	for (int i = 0; i < HIST_COUNT; i++)
		hist_render(o, &durations[i]);
	runs_metrics(s, o);
	alerts_metrics(o);
	alert_send_metrics(o);
	store_metrics(s, o);
	wal_render(s, o);
	backup_metrics(o);
	trace_metrics(o);
	{
		json_t *warm = pools_warm_counts(s);

		sbuf_puts(o, "# HELP outpost_instances_warm Warm instances waiting to be claimed, per "
		    "definition that has a pool.\n# TYPE outpost_instances_warm gauge\n");
		json_object_foreach(warm, k, v) {
			sbuf_puts(o, "outpost_instances_warm{definition=");
			sbuf_json_string(o, k);
			sbuf_printf(o, "} %lld\n", (long long)json_integer_value(v));
		}
		json_decref(warm);
	}
	sbuf_puts(o, "# HELP outpost_build_info The running outpostd's version.\n"
	    "# TYPE outpost_build_info gauge\noutpost_build_info{version=");
	sbuf_json_string(o, PACKAGE_VERSION);
	sbuf_puts(o, "} 1\n");
	process_render(o);
	return 0;
}
