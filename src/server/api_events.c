/*
 * GET /api/v1/events: a page of events after `since`, filtered by type and
 * by the worker they concern.
 * The websocket on the same path is events_ws.c.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MAX_TYPES 16
#define MAX_PAGE_BYTES (8 * 1024 * 1024)

static int
types_parse(const char *s, char *buf, size_t buflen, const char **types, int *ntypes,
    struct op_err *err)
{
	char *save = NULL, *tok;

	*ntypes = 0;
	snprintf(buf, buflen, "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*ntypes == MAX_TYPES || strlen(tok) > 47) {
			op_err_set(err, 400, "invalid_argument", "types",
			    "types is a comma list of at most 16 types such as instance.state or instance.*");
			return -1;
		}
		types[(*ntypes)++] = tok;
	}
	return 0;
}

/* The query parameters the list takes (dispatch refuses others). */
static const char *const list_query[] = { "since", "types", "limit", "worker", NULL };

static int
list(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char b1[32], b2[1024], b3[32], b4[80], tbuf[1024];
	const char *v, *types[MAX_TYPES];
	struct event_filter f = { 0 };
	int64_t since = 0, limit = 100, scanned;
	struct event_row *rows;
	int ntypes = 0, n;
	struct sbuf *o = &rs->body;

	if ((v = req_query(rq, "since", b1, sizeof(b1))) != NULL &&
	    parse_int64(v, 0, INT64_MAX, &since) != 0) {
		op_err_set(&err, 400, "invalid_argument", "since", "since must be a sequence number, 0 or more");
		return resp_error(rs, &err);
	}
	if ((v = req_query(rq, "limit", b3, sizeof(b3))) != NULL &&
	    parse_int64(v, 1, 1000, &limit) != 0) {
		op_err_set(&err, 400, "invalid_argument", "limit", "limit must be an integer from 1 to 1000");
		return resp_error(rs, &err);
	}
	if ((v = req_query(rq, "types", b2, sizeof(b2))) != NULL &&
	    types_parse(v, tbuf, sizeof(tbuf), types, &ntypes, &err) != 0)
		return resp_error(rs, &err);
	/* An unknown worker has no events: an empty page, as for GET /instances?worker=. */
	if ((v = req_query(rq, "worker", b4, sizeof(b4))) != NULL &&
	    worker_resolve(rq->app->store, v, &f.worker_id, &err) != 0)
		f.worker_id = -1;
	f.types = types;
	f.ntypes = ntypes;
	rows = calloc((size_t)limit, sizeof(*rows));
	if (rows == NULL) {
		op_err_set(&err, 500, "internal", "", "out of memory");
		return resp_error(rs, &err);
	}
	/* A page stops at 8 MiB (an event can carry a 1 MiB definition): it resumes after its last item. */
	n = events_read(rq->app->store, since, &f, (int)limit, MAX_PAGE_BYTES, rows,
	    &scanned);
	if (n < 0) {
		for (int i = 0; i < (int)limit; i++)
			event_row_free(&rows[i]);
		free(rows);
		op_err_set(&err, 500, "internal", "", "cannot read the event log");
		return resp_error(rs, &err);
	}
	/* Each event is already rendered: the page is spliced, not re-encoded. */
	rs->status = 200;
	rs->content_type = "application/json";
	sbuf_puts(o, "{\"items\":[");
	for (int i = 0; i < n; i++) {
		if (i > 0)
			sbuf_putc(o, ',');
		sbuf_puts(o, rows[i].json);
		event_row_free(&rows[i]);
	}
	/* last_seq: where to resume from; the last event looked at, matched or not. */
	sbuf_printf(o, "],\"last_seq\":%lld}\n", (long long)(n == limit ? rows[n - 1].seq : scanned));
	free(rows);
	rs->is_cacheable = 1;
	return 0;
}

const struct route api_events_routes[] = {
	{ "GET", "/api/v1/events", ROLE_VIEWER, list, list_query, 0 },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
