/*
 * What the dashboard knows of the site, and how it stays true: a load of
 * every list over HTTP, then the event stream from the sequence number read
 * before that load. Events that carry their object (instance.*, worker.*)
 * replace its row; the rest make the small lists (workers' allocations,
 * templates, definitions, alerts) due for a reload a moment later, so that a
 * burst of events costs one request. Load, then follow: each list answer
 * says the sequence number it is consistent with, and an event at or below
 * it, which the replay or a reload overlaps, is not applied again
 * (model_follow), so a row never goes back to an older state.
 *
 * What it must never do: draw, or wait for the server while it is away
 * (due reloads wait for the stream to be back).
 */
#include "config.h"

#include <inttypes.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

#define RELOAD_DELAY_MS 300
#define LIST_LIMIT "500"
#define RUNS_MAX 500

static const char *const list_paths[V_COUNT] = {
	[V_INSTANCES] = "/api/v1/instances",
	[V_WORKERS] = "/api/v1/workers",
	[V_DEFINITIONS] = "/api/v1/definitions",
	[V_TEMPLATES] = "/api/v1/templates",
	[V_RUNBOOKS] = "/api/v1/runbooks",
	[V_RUNS] = "/api/v1/runs",
	[V_EVENTS] = NULL,	/* the tail of the log, see load_events */
};

/* The member of a view's objects that is their key. */
static const char *
key_field(enum view_id v)
{
	return v == V_EVENTS ? "seq" : (v == V_DEFINITIONS || v == V_TEMPLATES ||
	    v == V_RUNBOOKS) ? "name" : "id";
}

void
site_key(enum view_id v, json_t *obj, char *buf, size_t n)
{
	json_t *k = json_object_get(obj, key_field(v));

	if (json_is_integer(k))
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
	else if (json_is_string(k))
		snprintf(buf, n, "%s", json_string_value(k));
	else
		buf[0] = '\0';
}

json_t *
site_key_object(enum view_id v, const char *key)
{
	int64_t n;

	/* A key the server wrote as a number ("12") goes back as one. */
	if (key[0] != '0' && parse_int64(key, 1, INT64_MAX, &n) == 0)
		return json_pack("{s:I}", key_field(v), (json_int_t)n);
	return json_pack("{s:s}", key_field(v), key);
}

static void
say_failure(struct app *a, const char *what, struct httpc_resp *r)
{
	const char *code, *msg, *field;

	if (r->fail != HTTPC_FAIL_NONE)
		app_message(a, 1, "%s: the server did not answer: %s", what, r->error);
	else if (httpc_resp_error(r, &code, &msg, &field) != 0)
		app_message(a, 1, "%s: HTTP %d", what, r->status);
	else if (field[0] != '\0')
		app_message(a, 1, "%s: %s (field %s)", what, msg, field);
	else
		app_message(a, 1, "%s: %s", what, msg);
}

json_t *
site_get(struct app *a, const char *path)
{
	struct httpc_resp r;
	json_t *out = NULL;

	httpc_request(a->http, "GET", path, NULL, &r);
	if (r.status == 200 && r.json != NULL)
		out = json_incref(r.json);
	else
		say_failure(a, path, &r);
	httpc_resp_free(&r);
	return out;
}

char *
site_path(const char *base, const char *name, const char *suffix)
{
	return httpc_path(base, name, suffix);
}

int
site_post(struct app *a, const char *path, json_t *body, const char *what, json_t **out)
{
	struct httpc_resp r;
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = -1;

	httpc_request(a->http, "POST", path, text, &r);
	free(text);
	if (r.status >= 200 && r.status < 300) {
		app_message(a, 0, "%s: done", what);
		if (out != NULL)
			*out = r.json != NULL ? json_incref(r.json) : NULL;
		rc = 0;
	} else {
		say_failure(a, what, &r);
	}
	httpc_resp_free(&r);
	return rc;
}

/*
 * Every page of a list into v's model (the rows that are gone go too). The
 * pages load into a model aside, each page's tree freed once its rows are
 * made, so that at most one page is ever a tree; the rows replace v's only
 * when the list is whole.
 */
static int
load_list(struct app *a, enum view_id v)
{
	struct model *m = &a->vs[v].m, aside;
	struct sbuf path;
	json_t *page = NULL, *it;
	const char *next = NULL;
	char key[64];
	size_t i;
	int64_t seq = -1;
	int rc = -1;

	sbuf_init(&path);
	if (model_init_like(&aside, m) != 0)
		goto done;
	for (;;) {
		sbuf_reset(&path);
		sbuf_puts(&path, list_paths[v]);
		if (v != V_RUNBOOKS && v != V_TEMPLATES) {
			httpc_query_add(&path, "limit", LIST_LIMIT);
			httpc_query_add(&path, "after", next);	/* in the page before */
		}
		json_decref(page);
		if (path.p == NULL || (page = site_get(a, path.p)) == NULL)
			goto done;
		/* The first page's number: the events after it bring every page up to date. */
		if (seq < 0 && json_is_integer(json_object_get(page, "seq")))
			seq = json_integer_value(json_object_get(page, "seq"));
		json_array_foreach(json_object_get(page, "items"), i, it) {
			site_key(v, it, key, sizeof(key));
			if (key[0] != '\0' && model_upsert(&aside, key, it) != 0)
				goto done;
		}
		next = json_string_value(json_object_get(page, "next"));
		if (next == NULL || v == V_RUNS)	/* the newest runs are enough */
			break;
	}
	model_loaded(&aside, seq);
	model_take(m, &aside);
	rc = 0;
done:
	model_free(&aside);
	json_decref(page);
	sbuf_free(&path);
	a->needs_redraw = 1;
	return rc;
}

/* The last events_max events before since (inclusive) into the events view. */
static int
load_events(struct app *a, int64_t upto)
{
	int64_t from = upto > (int64_t)a->events_max ? upto - (int64_t)a->events_max : 0;
	char path[128], key[32];
	json_t *page, *it;
	size_t i;

	for (;;) {
		snprintf(path, sizeof(path), "/api/v1/events?since=%" PRId64 "&limit=1000", from);
		if ((page = site_get(a, path)) == NULL)
			return -1;
		json_array_foreach(json_object_get(page, "items"), i, it) {
			int64_t seq = json_integer_value(json_object_get(it, "seq"));

			if (seq > upto)
				break;
			snprintf(key, sizeof(key), "%" PRId64, seq);
			model_upsert(&a->vs[V_EVENTS].m, key, it);
			from = seq;
		}
		i = json_array_size(json_object_get(page, "items"));
		json_decref(page);
		if (i == 0 || from >= upto)
			return 0;
	}
}

int
site_reload_alerts(struct app *a)
{
	json_t *r = site_get(a, "/api/v1/alerts");

	if (r == NULL)
		return -1;
	json_decref(a->alerts);
	a->alerts = json_incref(json_object_get(r, "items"));
	json_decref(r);
	/* The last backups, for the header: a server without them leaves none. */
	if ((r = site_get(a, "/api/v1/site")) != NULL) {
		json_decref(a->backup);
		a->backup = json_incref(json_object_get(r, "backup"));
		json_decref(r);
	}
	a->needs_redraw = 1;
	return 0;
}

int
site_reload(struct app *a, enum view_id v)
{
	if (v == V_EVENTS)
		return 0;
	return load_list(a, v);
}

int
site_probe_role(struct app *a, char *err, size_t errlen)
{
	struct httpc_resp r;
	const char *role;
	enum role rv;

	/* Who the token is: GET /api/v1/session answers any role its name and role. */
	if (httpc_request(a->http, "GET", "/api/v1/session", NULL, &r) != 0) {
		snprintf(err, errlen, "cannot reach %s: %s", a->set.server, r.error);
		httpc_resp_free(&r);
		return -1;
	}
	if (r.status != 200) {
		const char *code, *msg, *field;

		if (httpc_resp_error(&r, &code, &msg, &field) != 0)
			msg = "unauthenticated";
		snprintf(err, errlen, "%s refused the token%s%s: %s", a->set.server,
		    a->set.token_from[0] ? " of " : "", a->set.token_from, msg);
		httpc_resp_free(&r);
		return -1;
	}
	role = json_string_value(json_object_get(r.json, "role"));
	snprintf(a->role, sizeof(a->role), "%s", role != NULL ? role : role_name(ROLE_VIEWER));
	a->is_viewer = role_parse(a->role, &rv) != 0 || !role_allows(rv, ROLE_OPERATOR);
	httpc_resp_free(&r);
	return 0;
}

int
site_load(struct app *a, char *err, size_t errlen)
{
	json_t *r;

	/* A since past the end answers the newest number: the stream starts there. */
	r = site_get(a, "/api/v1/events?since=9223372036854775807&limit=1");
	if (r == NULL) {
		snprintf(err, errlen, "%s", a->message);
		return -1;
	}
	a->last_seq = json_integer_value(json_object_get(r, "last_seq"));
	json_decref(r);
	for (int v = 0; v < V_COUNT; v++) {
		if (site_reload(a, v) != 0) {
			snprintf(err, errlen, "%s", a->message);
			return -1;
		}
	}
	if (load_events(a, a->last_seq) != 0 || site_reload_alerts(a) != 0) {
		snprintf(err, errlen, "%s", a->message);
		return -1;
	}
#ifdef HAVE_MALLOC_TRIM
	/* The pages' trees are freed: give their pages back, not only to malloc. */
	malloc_trim(0);
#endif
	a->message[0] = '\0';
	return 0;
}

static void
make_due(int64_t *due, int64_t now)
{
	if (*due == 0)
		*due = now + RELOAD_DELAY_MS;
}

/* obj as its row of v, as of the event at seq (0: not an event's, always). */
static void
upsert(struct app *a, enum view_id v, json_t *obj, int64_t seq)
{
	char key[64];

	if (!json_is_object(obj))
		return;
	site_key(v, obj, key, sizeof(key));
	if (key[0] == '\0')
		return;
	if (seq > 0)
		model_follow(&a->vs[v].m, key, obj, seq);
	else
		model_upsert(&a->vs[v].m, key, obj);
	a->needs_redraw = 1;
}

static int
is_type(const char *type, const char *prefix)
{
	return strncmp(type, prefix, strlen(prefix)) == 0;
}

/* A run's output, appended to the pager that follows that run. */
static void
run_output(struct app *a, json_t *ev)
{
	json_t *data = json_object_get(ev, "data");
	int64_t step = json_integer_value(json_object_get(data, "step"));
	const char *text = json_string_value(json_object_get(data, "text"));

	if (text == NULL)
		return;
	if (step != a->pager.run_step) {
		pager_add(a, "--- step %" PRId64 " ---", step + 1);
		a->pager.run_step = step;
	}
	pager_add_text(a, text);
	/* Follow the end, as tail -f does. */
	a->pager.top = (long)a->pager.n;
	a->needs_redraw = 1;
}

void
site_on_event(struct app *a, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *data = json_object_get(ev, "data");
	int64_t seq = json_integer_value(json_object_get(ev, "seq"));
	int64_t id = json_integer_value(json_object_get(ev, "id"));
	int64_t now = now_ms();
	char key[32];

	if (type == NULL)
		return;
	a->last_seq = seq;
	snprintf(key, sizeof(key), "%" PRId64, seq);
	model_upsert(&a->vs[V_EVENTS].m, key, ev);
	if (seq > (int64_t)a->events_max) {
		snprintf(key, sizeof(key), "%" PRId64, seq - (int64_t)a->events_max);
		model_remove(&a->vs[V_EVENTS].m, key);
	}
	a->needs_redraw = 1;

	if (json_is_object(json_object_get(data, "instance"))) {
		upsert(a, V_INSTANCES, json_object_get(data, "instance"), seq);
		/* A placement or a release moves the worker's allocation. */
		make_due(&a->due_workers, now);
		if (a->pager.is_open && a->pager.of_view == V_INSTANCES) {
			char k[32];

			site_key(V_INSTANCES, json_object_get(data, "instance"), k, sizeof(k));
			if (strcmp(k, a->pager.of_key) == 0)
				views_refresh_detail(a);
		}
	}
	if (json_is_object(json_object_get(data, "worker"))) {
		upsert(a, V_WORKERS, json_object_get(data, "worker"), seq);
		make_due(&a->due_templates, now);
	} else if (is_type(type, "worker.")) {
		make_due(&a->due_workers, now);
	}
	if (is_type(type, "definition."))
		make_due(&a->due_definitions, now);
	if (is_type(type, "template.") || is_type(type, "scaling.")) {
		make_due(&a->due_templates, now);
		make_due(&a->due_workers, now);
	}
	if (is_type(type, "alert.") || is_type(type, "backup."))
		make_due(&a->due_alerts, now);
	if (strcmp(type, "runbook.run") == 0) {
		char path[64];
		json_t *run;
		const char *status = json_string_value(json_object_get(data, "status"));

		/* Runs are few and their events carry no run: ask for it. */
		snprintf(path, sizeof(path), "/api/v1/runs/%" PRId64, id);
		if (a->conn == CONN_LIVE && (run = site_get(a, path)) != NULL) {
			upsert(a, V_RUNS, run, 0);
			json_decref(run);
		}
		if (a->pager.is_open && a->pager.run_id == id && status != NULL &&
		    strcmp(status, "running") != 0) {
			pager_add(a, "=== the run %s ===", status);
			a->pager.top = (long)a->pager.n;
		}
	}
	if (strcmp(type, "runbook.output") == 0 && a->pager.is_open && a->pager.run_id == id)
		run_output(a, ev);
}

static int
run_one(struct app *a, int64_t *due, int64_t now, int (*fn)(struct app *, enum view_id),
    enum view_id v, int64_t *next)
{
	if (*due == 0)
		return 0;
	if (*due <= now) {
		/* A reload that fails waits for the next event or reconnection. */
		*due = 0;
		return fn(a, v);
	}
	if (*next == 0 || *due < *next)
		*next = *due;
	return 0;
}

static int
reload_alerts_fn(struct app *a, enum view_id v)
{
	(void)v;
	return site_reload_alerts(a);
}

int64_t
site_run_due(struct app *a, int64_t now)
{
	int64_t next = 0;

	if (a->conn != CONN_LIVE)
		return 0;	/* due work waits for the server */
	run_one(a, &a->due_workers, now, site_reload, V_WORKERS, &next);
	run_one(a, &a->due_templates, now, site_reload, V_TEMPLATES, &next);
	run_one(a, &a->due_definitions, now, site_reload, V_DEFINITIONS, &next);
	run_one(a, &a->due_alerts, now, reload_alerts_fn, V_COUNT, &next);
	return next;
}
