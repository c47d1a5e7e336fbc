/*
 * GET /api/v1/site: the site at a glance, for the dashboards' headers:
 * instances by state, workers by state and health, the capacity of the
 * workers that take instances (and of those their templates count) with
 * what their instances use, and the alert rules that fire. One answer in
 * place of the web app parsing /metrics or a client summing every list.
 *
 * What it must never do: change anything. The counts are instance_counts()
 * and worker_counts(), the ones /metrics shows; the capacity is its one
 * query, grouped by state and health, O(workers + holding instances).
 */
#include <assert.h>
#include <string.h>

#include "backup.h"

/* Bytes of the capacity query with the holding states written in. */
#define SITE_SQL_MAX 1024

/* Capacity and what the instances on it use: the workers of one set, summed. */
struct site_room {
	int64_t workers;
	int64_t cap[3];		/* cpu, memory_mb, slots */
	int64_t used[3];
};

static json_t *
resources(const int64_t *v)
{
	return json_pack("{s:I, s:I, s:I}", "cpu", (json_int_t)v[0], "memory_mb",
	    (json_int_t)v[1], "slots", (json_int_t)v[2]);
}

static json_t *
room_json(const struct site_room *r)
{
	return json_pack("{s:I, s:o, s:o}", "workers", (json_int_t)r->workers,
	    "capacity", resources(r->cap), "allocated", resources(r->used));
}

/* The sum of one state count object ({"pending": 3, ...}). */
static int64_t
total_of(json_t *counts)
{
	const char *k;
	json_t *v;
	int64_t n = 0;

	json_object_foreach(counts, k, v) {
		assert(json_integer_value(v) >= 0);
		n += json_integer_value(v);
	}
	return n;
}

/*
 * The capacity of the workers that take instances (ready and online: what
 * the scheduler places on) and of the live ones (what templates count), and
 * what their instances in holding states use. A worker's allocated slots
 * are its holding instances, as in its own answer.
 */
static int
site_capacity(struct store *s, struct site_room *taking, struct site_room *live,
    struct op_err *err)
{
	static char sql[SITE_SQL_MAX];
	sqlite3_stmt *st;

	if (sql[0] == '\0') {
		int n = snprintf(sql, sizeof(sql), "SELECT w.state, w.health, count(*), "
		    "sum(w.cpu), sum(w.memory_mb), sum(w.slots), coalesce(sum(a.cpu), 0), "
		    "coalesce(sum(a.memory_mb), 0), coalesce(sum(a.n), 0) FROM workers w "
		    "LEFT JOIN (SELECT worker_id, sum(cpu) AS cpu, sum(memory_mb) AS memory_mb, "
		    "count(*) AS n FROM instances WHERE state IN (%s) GROUP BY worker_id) a "
		    "ON a.worker_id = w.id GROUP BY w.state, w.health", inst_holding_sql());

		assert(n > 0 && (size_t)n < sizeof(sql));
	}
	if ((st = store_stmt(s, sql)) == NULL) {
		store_fail(s, err);
		return -1;
	}
	memset(taking, 0, sizeof(*taking));
	memset(live, 0, sizeof(*live));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		const char *health = (const char *)sqlite3_column_text(st, 1);
		int is_taking = state != NULL && health != NULL &&
		    strcmp(state, worker_state_name(WORKER_READY)) == 0 &&
		    strcmp(health, worker_health_name(HEALTH_ONLINE)) == 0;
		int is_live = state != NULL && worker_state_is_live(state);

		for (int set = 0; set < 2; set++) {
			struct site_room *r = set == 0 ? taking : live;

			if (!(set == 0 ? is_taking : is_live))
				continue;
			r->workers += sqlite3_column_int64(st, 2);
			for (int i = 0; i < 3; i++) {
				r->cap[i] += sqlite3_column_int64(st, 3 + i);
				r->used[i] += sqlite3_column_int64(st, 6 + i);
			}
		}
	}
	sqlite3_reset(st);
	assert(taking->workers >= 0 && taking->workers <= live->workers);
	return 0;
}

static int
site(struct req *rq, struct resp *rs)
{
	struct store *s = rq->app->store;
	struct op_err err = { 0 };
	struct site_room taking, live;
	json_t *ic, *wc, *alerts, *al, *out;
	size_t i, firing = 0;

	if (site_capacity(s, &taking, &live, &err) != 0)
		return resp_error(rs, &err);
	ic = instance_counts(s);
	wc = worker_counts(s);
	alerts = alerts_list();
	json_array_foreach(alerts, i, al)
		firing += json_is_true(json_object_get(al, "firing"));
	out = json_pack("{s:{s:I, s:o}, s:{s:I, s:O, s:O}, s:{s:o, s:o}, s:{s:I, s:I}}",
	    "instances", "total", (json_int_t)total_of(ic), "state", ic,
	    "workers", "total", (json_int_t)total_of(json_object_get(wc, "state")),
	    "state", json_object_get(wc, "state"), "health", json_object_get(wc, "health"),
	    "capacity", "taking", room_json(&taking), "live", room_json(&live),
	    "alerts", "rules", (json_int_t)json_array_size(alerts), "firing", (json_int_t)firing);
	json_decref(wc);
	json_decref(alerts);
	/* The last backups' times: the age the dashboards show is counted by them. */
	if (out != NULL) {
		json_t *b = backup_status(rq->app);

		json_object_set_new(out, "backup", json_pack("{s:O, s:O, s:b}",
		    "last_success", json_object_get(b, "last_success"),
		    "last_failure", json_object_get(b, "last_failure"),
		    "scheduled", rq->app->cfg.backup_interval_ms > 0 || rq->app->cfg.backup_at >= 0));
		json_decref(b);
	}
	if (out == NULL) {
		op_err_set(&err, 500, "internal", "", "out of memory");
		return resp_error(rs, &err);
	}
	/*
	 * Whether a rule fires changes with its alert.fired or alert.resolved
	 * event, so with the data version; but alerts.c marks a rule that holds
	 * again within its cooldown firing without an event, which this answer
	 * (like the event stream) shows at the next change.
	 */
	rs->is_cacheable = 1;
	return resp_json(rs, 200, out);
}

const struct route api_site_routes[] = {
	{ "GET", "/api/v1/site", ROLE_VIEWER, site, NULL, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
