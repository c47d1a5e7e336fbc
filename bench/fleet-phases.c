/*
 * fleet-sim's phases, driven by a 50 ms tick on the loop: the fleet joins
 * (every agent registered and subscribed), settles, stays idle for the
 * window in which outpostd's CPU is read; then the operator's creates (one
 * at a time, then one batch), every instance stopped and followed to
 * stopped, and the round trips of the reference. Then the figures, as
 * "key value" lines on stdout.
 */
#define _GNU_SOURCE 1
#include "fleet-sim.h"

/* ---- the operator and the phases ---- */

static void
slot(char *start, char *end, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(start, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	t += 3600;
	gmtime_r(&t, &tm);
	strftime(end, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void create_next(void);

static void
on_create(struct client *c, struct req *r, int status, json_t *body)
{
	json_t *items = json_object_get(body, "items"), *j;
	double now = now_ms();
	size_t k;
	int64_t id;
	struct sample *s;

	(void)c;
	(void)r;
	if (status != 201) {
		fail("a create answered %d: %s", status, err_msg(body));
		return;
	}
	if (!json_is_array(items)) {
		items = json_array();
		json_array_append(items, body);
	} else {
		json_incref(items);
	}
	json_array_foreach(items, k, j) {
		id = json_integer_value(json_object_get(j, "id"));
		if ((s = sample_of(id)) == NULL) {
			fail("instance id %lld is past what the simulator counts", (long long)id);
			break;
		}
		s->answered = now;
		if (g.phase == PH_SINGLES) {
			if (g.first_single == 0)
				g.first_single = id;
			g.last_single = id;
		} else {
			if (g.first_batch == 0)
				g.first_batch = id;
			g.last_batch = id;
		}
	}
	json_decref(items);
	if (g.phase == PH_SINGLES && g.creates_sent < g.singles)
		create_next();
}

static void create_tick(lws_sorted_usec_list_t *sul);
static lws_sorted_usec_list_t sul_create;

static void
create_next(void)
{
	lws_sul_schedule(g.ctx, 0, &sul_create, create_tick, g.gap_ms * LWS_US_PER_MS);
}

static void
create_tick(lws_sorted_usec_list_t *sul)
{
	char start[32], end[32];
	json_t *b;

	(void)sul;
	slot(start, end, sizeof(start));
	b = json_pack("{s:s, s:s, s:s, s:s}", "definition", g.definition, "owner", "fleet",
	    "timeslot_start", start, "timeslot_end", end);
	if (g.phase == PH_BATCH)
		json_object_set_new(b, "count", json_integer(g.batch));
	g.creates_sent++;
	client_call(&g.op, "POST", "/api/v1/instances", b, 0, on_create);
}

static void
on_stop(struct client *c, struct req *r, int status, json_t *body)
{
	(void)c;
	if (status != 200)
		fail("stopping instance %lld answered %d: %s", (long long)r->id, status,
		    err_msg(body));
}

static void
on_rtt(struct client *c, struct req *r, int status, json_t *body)
{
	(void)c;
	(void)body;
	if (status != 200) {
		fail("GET /healthz answered %d", status);
		return;
	}
	g.rtt[g.rtt_sent - 1] = now_ms() - r->sent_ms;
	if (g.rtt_sent < g.rtts) {
		g.rtt_sent++;
		client_call(&g.op, "GET", "/healthz", NULL, 0, on_rtt);
	}
}

/* The value of a /metrics series without labels, or -1. */
static double
metric(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

/* outpostd's syncs and commits at the idle window's start (id 0) or end (id 1). */
static void
on_metrics(struct client *c, struct req *r, int status, json_t *body)
{
	(void)c;
	(void)body;
	if (status != 200 || r->id < 0 || r->id > 1) {
		fail("GET /metrics answered %d", status);
		return;
	}
	g.syncs[r->id] = metric(g.raw_body, "outpost_db_sync_duration_seconds_count");
	g.sync_s[r->id] = metric(g.raw_body, "outpost_db_sync_duration_seconds_sum");
	g.commits[r->id] = metric(g.raw_body, "outpost_db_commit_duration_seconds_count");
}

/* Instances first..last: how many are known to their agents, running, stopped. */
static void
count(int64_t first, int64_t last, int *known, int *running, int *stopped)
{
	*known = *running = *stopped = 0;
	for (int64_t id = first; first > 0 && id <= last; id++) {
		*known += g.s[id].known > 0;
		*running += g.s[id].running > 0;
		*stopped += g.s[id].is_stopped;
	}
}

void
enter(enum phase p, double now)
{
	g.phase = p;
	g.phase_at = now;
	fprintf(stderr, "fleet-sim: %s at %.1f s\n", (const char *[]){ "join", "settle", "idle",
	    "singles", "batch", "stop", "rtt", "done" }[p], (now - g.t0) / 1000);
}

void
tick(lws_sorted_usec_list_t *sul)
{
	double now = now_ms();
	int known, running, stopped;

	(void)sul;
	if (g.is_done)
		return;
	lws_sul_schedule(g.ctx, 0, &g.sul_tick, tick, 50 * LWS_US_PER_MS);
	if (now - g.t0 > (double)g.timeout_ms) {
		count(1, g.max_id, &known, &running, &stopped);
		fail("not done after %lld s (in phase %d): %d agents subscribed; of %lld instances, "
		    "%d known, %d running, %d stopped, %d stops asked", (long long)(g.timeout_ms /
		    1000), g.phase, g.ready, (long long)g.max_id, known, running, stopped,
		    g.stops_sent);
		return;
	}
	switch (g.phase) {
	case PH_JOIN:
		if (g.ready == g.nagents)
			enter(PH_SETTLE, now);
		break;
	case PH_SETTLE:
		if (now - g.phase_at < (double)g.settle_ms)
			break;
		enter(PH_IDLE, now);
		client_call(&g.op, "GET", "/metrics", NULL, 0, on_metrics);
		g.srv_ticks0 = proc_ticks(g.server_pid);
		g.self_cpu0 = self_cpu_ms();
		g.beats0 = g.heartbeats;
		g.idle_t0 = now;
		break;
	case PH_IDLE:
		if (now - g.phase_at < (double)g.idle_ms)
			break;
		g.srv_ticks1 = proc_ticks(g.server_pid);
		client_call(&g.op, "GET", "/metrics", NULL, 1, on_metrics);
		g.self_cpu1 = self_cpu_ms();
		g.beats1 = g.heartbeats;
		g.idle_t1 = now;
		if (g.srv_ticks0 < 0 || g.srv_ticks1 < 0) {
			fail("cannot read /proc/%ld/stat", g.server_pid);
			break;
		}
		g.srv_ticks_a0 = proc_ticks(g.server_pid);
		g.self_cpu_a0 = self_cpu_ms();
		g.assign_t0 = now;
		if (g.singles > 0 && g.nagents > 0) {
			enter(PH_SINGLES, now);
			create_next();
		} else {
			enter(PH_RTT, now);
		}
		break;
	case PH_SINGLES:
		count(g.first_single, g.last_single, &known, &running, &stopped);
		if (g.creates_sent < g.singles || running < g.singles)
			break;
		if (g.batch > 0) {
			enter(PH_BATCH, now);
			create_next();
		} else {
			enter(PH_STOP, now);
		}
		break;
	case PH_BATCH:
		count(g.first_batch, g.last_batch, &known, &running, &stopped);
		if (g.first_batch == 0 || running < g.batch)
			break;
		enter(PH_STOP, now);
		break;
	case PH_STOP:
		/* Every instance stopped by the operator, and followed by its agent to stopped. */
		if (g.stops_sent == 0) {
			g.srv_ticks_a1 = proc_ticks(g.server_pid);
			g.self_cpu_a1 = self_cpu_ms();
			g.assign_t1 = now;
			for (int64_t id = 1; id <= g.max_id; id++) {
				char path[96];

				if (g.s[id].running == 0)
					continue;
				snprintf(path, sizeof(path), "/api/v1/instances/%lld/stop", (long long)id);
				client_call(&g.stoppers[g.stops_sent % STOPPERS], "POST", path, NULL, id,
				    on_stop);
				g.stops_sent++;
			}
		}
		count(1, g.max_id, &known, &running, &stopped);
		if (stopped < g.stops_sent)
			break;
		enter(PH_RTT, now);
		break;
	case PH_RTT:
		if (g.rtt_sent == 0 && g.rtts > 0) {
			g.rtt_sent = 1;
			client_call(&g.op, "GET", "/healthz", NULL, 0, on_rtt);
		}
		if (g.op.head != NULL)
			break;
		enter(PH_DONE, now);
		g.is_done = 1;
		lws_cancel_service(g.ctx);
		break;
	case PH_DONE:
		break;
	}
}

/* ---- the figures ---- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile of v[0..n) (sorted here), nearest rank; NaN when empty. */
static double
pct(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0 / 0.0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(n * p / 100.0 + 0.999999);
	return v[(i < 1 ? 1 : i > n ? n : i) - 1];
}

/* Prints "NAME_p50 NAME_p99 NAME_max NAME_n" of one latency over instances first..last. */
static void
print_latency(const char *name, int64_t first, int64_t last, int what)
{
	double *v = calloc((size_t)(last - first + 2), sizeof(double));
	size_t n = 0;

	for (int64_t id = first; v != NULL && first > 0 && id <= last; id++) {
		struct sample *s = &g.s[id];

		if (s->known == 0)
			continue;
		if (what == 0 && s->placed > 0)
			v[n++] = s->known - s->placed;		/* placement -> its agent knows it */
		else if (what == 1 && s->answered > 0)
			v[n++] = s->known - s->answered;	/* the create's answer -> known */
		else if (what == 2 && s->running > 0)
			v[n++] = s->running - s->known;		/* known -> its running committed */
	}
	printf("%s_n %zu\n%s_p50 %.2f\n%s_p99 %.2f\n", name, n, name, pct(v, n, 50), name,
	    pct(v, n, 99));
	printf("%s_max %.2f\n", name, n > 0 ? v[n - 1] : 0.0 / 0.0);
	free(v);
}

void
print_results(void)
{
	double hz = (double)sysconf(_SC_CLK_TCK), idle_s = (g.idle_t1 - g.idle_t0) / 1000;
	double assign_s = (g.assign_t1 - g.assign_t0) / 1000;

	printf("agents %d\nheartbeat_ms %lld\nlost_after_ms %lld\nidle_s %.2f\n", g.nagents,
	    (long long)g.heartbeat_ms, (long long)g.lost_after_ms, idle_s);
	printf("idle_server_cpu_pct %.3f\n", (g.srv_ticks1 - g.srv_ticks0) / hz / idle_s * 100);
	printf("idle_sim_cpu_pct %.3f\n", (g.self_cpu1 - g.self_cpu0) / 1000 / idle_s * 100);
	printf("idle_heartbeats %ld\n", g.beats1 - g.beats0);
	/* The loop waits while it syncs: how often, and the share of the window it waited. */
	printf("idle_syncs_per_s %.1f\nidle_commits_per_s %.1f\nidle_sync_wait_pct %.2f\n",
	    (g.syncs[1] - g.syncs[0]) / idle_s, (g.commits[1] - g.commits[0]) / idle_s,
	    (g.sync_s[1] - g.sync_s[0]) / idle_s * 100);
	if (g.nagents > 0 && g.singles > 0) {
		print_latency("single_placed_known", g.first_single, g.last_single, 0);
		print_latency("single_answered_known", g.first_single, g.last_single, 1);
		print_latency("single_known_running", g.first_single, g.last_single, 2);
	}
	if (g.nagents > 0 && g.batch > 0) {
		print_latency("batch_placed_known", g.first_batch, g.last_batch, 0);
		print_latency("batch_answered_known", g.first_batch, g.last_batch, 1);
		print_latency("batch_known_running", g.first_batch, g.last_batch, 2);
	}
	if (assign_s > 0) {
		printf("assign_s %.2f\n", assign_s);
		printf("assign_server_cpu_pct %.3f\n", (g.srv_ticks_a1 - g.srv_ticks_a0) / hz /
		    assign_s * 100);
		printf("assign_sim_cpu_pct %.3f\n", (g.self_cpu_a1 - g.self_cpu_a0) / 1000 /
		    assign_s * 100);
	}
	printf("stopped %d\n", g.stops_sent);
	if (g.rtts > 0) {
		printf("rtt_n %d\nrtt_p50 %.3f\n", g.rtt_sent, pct(g.rtt, (size_t)g.rtt_sent, 50));
		printf("rtt_p99 %.3f\n", pct(g.rtt, (size_t)g.rtt_sent, 99));
	}
	printf("heartbeats %ld\nheartbeat_errors %ld\nworks %ld\nreports %ld\n"
	    "report_conflicts %ld\nreport_errors %ld\nevents %ld\nechoes %ld\n"
	    "http_reconnects %ld\nhttp_errors %ld\nws_reconnects %ld\n", g.heartbeats,
	    g.heartbeat_errors, g.works, g.reports, g.report_conflicts, g.report_errors, g.events,
	    g.echoes, g.reconnects, g.http_errors, g.ws_reconnects);
}
