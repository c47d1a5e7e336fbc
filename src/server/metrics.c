/*
 * Prometheus metrics. Counters live in memory (they restart with the
 * process, as Prometheus expects); gauges of stored things are counted from
 * the store when scraped. HTTP series are keyed by method, route pattern
 * and status: a bounded set, since routes are a fixed table.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

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
	series = NULL;
	hists = NULL;
	nseries = cap_series = nhists = cap_hists = 0;
}

int
metrics_render(struct store *s, struct sbuf *o)
{
	json_t *ic = instance_counts(s), *wc = worker_counts(s), *v;
	const char *k;

	sbuf_puts(o, "# HELP outpost_instances Instances by state.\n# TYPE outpost_instances gauge\n");
	json_object_foreach(ic, k, v)
		sbuf_printf(o, "outpost_instances{state=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
	sbuf_puts(o, "# HELP outpost_workers Workers by state.\n# TYPE outpost_workers gauge\n");
	json_object_foreach(json_object_get(wc, "state"), k, v)
		sbuf_printf(o, "outpost_workers{state=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
	sbuf_puts(o, "# HELP outpost_workers_health Workers not terminated, by health.\n"
	    "# TYPE outpost_workers_health gauge\n");
	json_object_foreach(json_object_get(wc, "health"), k, v)
		sbuf_printf(o, "outpost_workers_health{health=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
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
	sbuf_printf(o, "# HELP outpost_ws_clients Websocket event-stream clients connected.\n"
	    "# TYPE outpost_ws_clients gauge\noutpost_ws_clients %d\n", ws_clients);
	return 0;
}
