/*
 * HTTP: the libwebsockets callback for plain requests, the route tables, and
 * the response writer. The callback stays thin: it collects the method,
 * path, query and headers; request_decide() finds the route and asks
 * http_authorize() (http_auth.c) whether the caller may call it, before any
 * byte of a body is read (the front door's checks are http_door.c's); once
 * the body is in, dispatch() asks the response cache (http_cache.c) whether
 * the answer is kept, then hands a struct req to the route's function, which
 * knows nothing of libwebsockets, and writes the struct resp it filled in one
 * lws_write (headers and body in one buffer; see docs/architecture.md for why).
 *
 * It must never decide who may do what itself: the rules are http_auth.c's
 * (the websocket upgrade's, confirm_upgrade(), excepted).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

#define MAX_ARGS 32
#define HEADER_ROOM 2048
#define AUTH_HEADER_BUF 1024	/* a longer Authorization header gets 431 */
#define ETAG_BUF 96		/* our ETags are under 40 bytes; a longer one never matches */
#define SESSION_ID_BUF 64	/* a session id is 43 characters */
#define ALLOW_BUF 64		/* "GET, HEAD, POST, PUT, PATCH, DELETE" */
#define MESSAGE_BUF 160

struct pss_http {
	char method[8];
	char path[HTTP_PATH_BUF];
	char argbuf[HTTP_QUERY_BUF];
	const char *args[MAX_ARGS];
	int nargs;
	char auth[AUTH_HEADER_BUF];
	char inm[ETAG_BUF];
	char sid[SESSION_ID_BUF];	/* the session cookie's value, or "" */
	int has_csrf;		/* an X-Outpost-CSRF header came */
	int is_cross_origin;	/* an Origin header came that is not this server's */
	int is_tls;		/* TLS to us, or to a trusted proxy that says so */
	char client[ADDR_TEXT_BUF];	/* the client's address (clientaddr.c) */
	char peer[ADDR_TEXT_BUF];	/* the trusted proxy that forwarded for it, or "" */
	char rid[REQUEST_ID_MAX + 1];	/* the caller's sane X-Request-Id, or made here */
	char parambuf[HTTP_PATH_BUF];
	const char *allow;	/* for a 405: the methods the path takes */
	struct sbuf body;
	long long content_length;
	int has_body;		/* content_length > 0: a body follows the headers */
	int is_body_read;	/* ... and it has all come */
	int is_answered;
	int must_close;		/* a body method with no Content-Length: lws reads on */
	int is_in_flight;
	int is_after_sigterm;	/* began after SIGTERM: refused; those before are finished */
	struct timespec t0;
	struct req rq;		/* from the headers: route, caller, query; the body at the end */
	const struct route *route;
	char actor[sizeof(((struct req *)0)->tok.name)];
	struct door_body door;	/* the body's deadline, or the drain of a refused one */
	/* The answer, headers and body, once made; held while its commit is not synced. */
	unsigned char *out;	/* malloc'd, LWS_PRE bytes before the answer */
	size_t out_len;
	int out_status, out_routine, out_close, out_drain;
	uint64_t out_mark;	/* store_commit_mark() when it was made */
	struct lws *wsi;
	struct lws_dll2 held;	/* on held_list while its answer waits */
	int is_dispatched;	/* the route ran: its answer may say what is not yet synced */
	struct span span;	/* the request's server span (http_trace.c) */
	char conn_peer[ADDR_TEXT_BUF];	/* the socket's peer, read once a connection */
};

/* The answers waiting for a sync, oldest at the tail (group commit: store_sync.c). */
static lws_dll2_owner_t held_list;

const struct route *const http_route_tables[] = {
	api_health_routes,
	api_definitions_routes,
	api_instances_routes,
	api_workers_routes,
	api_events_routes,
	api_site_routes,
	api_tokens_routes,
	api_agent_routes,
	api_templates_routes,
	api_runbooks_routes,
	api_session_routes,
	api_backups_routes,
	NULL,
};

/* ---- routing ---- */

/* Matches "/api/v1/instances/{id}/stop"; captures go to rq->params. O(segments). */
static int
route_match(const char *pattern, const char *path, struct req *rq, char *pbuf, size_t plen)
{
	const char *p = pattern, *u = path;
	size_t used = 0;

	rq->nparams = 0;
	while (*p && *u) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			const char *ue = strchr(u, '/');
			size_t n = ue ? (size_t)(ue - u) : strlen(u);

			if (pe == NULL || n == 0 || used + n + 1 > plen || rq->nparams == MAX_PARAMS)
				return 0;
			memcpy(pbuf + used, u, n);
			pbuf[used + n] = '\0';
			rq->params[rq->nparams++] = pbuf + used;
			used += n + 1;
			p = pe + 1;
			u += n;
			continue;
		}
		if (*p != *u)
			return 0;
		p++;
		u++;
	}
	return *p == '\0' && *u == '\0';
}

/*
 * O(routes). HEAD is answered as GET without the body. When the path exists
 * but not for this method, allow lists the methods it takes (for 405).
 */
const struct route *
route_find(struct req *rq, char *pbuf, size_t plen, char *allow, size_t allowlen)
{
	const char *m = strcmp(rq->method, "HEAD") == 0 ? "GET" : rq->method;
	const struct route *found = NULL;

	allow[0] = '\0';
	for (int t = 0; http_route_tables[t] != NULL; t++) {
		for (const struct route *r = http_route_tables[t]; r->method != NULL; r++) {
			if (!route_match(r->pattern, rq->path, rq, pbuf, plen))
				continue;
			if (strcmp(r->method, m) == 0)
				found = r;
			if (strstr(allow, r->method) == NULL)
				snprintf(allow + strlen(allow), allowlen - strlen(allow), "%s%s%s",
				    allow[0] ? ", " : "", r->method,
				    strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
			if (found)
				return found;
		}
	}
	return NULL;
}

/* ---- writing ---- */

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
    unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

static void
held_unlink(struct pss_http *pss)
{
	if (pss->held.owner != NULL)
		lws_dll2_remove(&pss->held);
}

/*
 * A sync ended: each answer it holds has its connection asked to write it.
 * Answers are held at the head, their marks in order: those the sync covers
 * are at the tail; the rest wait for the next one.
 */
void
http_release_held(void)
{
	for (struct lws_dll2 *d = held_list.tail; d != NULL; d = d->prev) {
		struct pss_http *pss = lws_container_of(d, struct pss_http, held);

		if (!store_is_synced(pss->out_mark))
			break;
		lws_callback_on_writable(pss->wsi);
	}
}

/* 1 when an answer a sync let go (http_release_held) is not written yet. */
int
http_has_released(void)
{
	struct lws_dll2 *d = held_list.tail;

	return d != NULL &&
	    store_is_synced(lws_container_of(d, struct pss_http, held)->out_mark);
}

/*
 * Sends the answer write_response made, in one write; then the metrics, the
 * log line, and what comes after (the next request, a drain, or the close).
 * Returns what the callback should return: -1 closes the connection.
 */
static int
send_out(struct lws *wsi, struct pss_http *pss, const struct req *rq)
{
	enum log_level level;
	int rc = 0, status = pss->out_status;

	if (lws_write(wsi, pss->out + LWS_PRE, pss->out_len, LWS_WRITE_HTTP_FINAL) < 0)
		rc = -1;
	free(pss->out);
	pss->out = NULL;
	metrics_http_observe(rq->method, rq->route ? rq->route : "other", status,
	    elapsed(&pss->t0));
	http_trace_end(&pss->span, rq, status, pss->rid);
	/* Reads and routine calls that went well are for debugging; changes and errors are news. */
	level = (strcmp(rq->method, "GET") == 0 || pss->out_routine) && status < 400 ?
	    LOG_DEBUG : LOG_INFO;
	trace_set_current(&pss->span.ctx);	/* its log line says its trace_id */
	if (log_enabled(level)) {
		/* ms to the microsecond; the proxy last: with none, its NULL key ends the list. */
		double ms = (double)(long long)(elapsed(&pss->t0) * 1e6) / 1000.0;

		log_set_request_id(pss->rid);
		log_msg(level, "http.request", "method", rq->method, "path", rq->path,
		    LOG_INT("status", status), LOG_REAL("ms", ms), "actor", rq->actor,
		    "client", pss->client, pss->peer[0] ? "proxy" : NULL, pss->peer, NULL);
		log_set_request_id(NULL);
	}
	trace_set_current(NULL);
	if (pss->is_in_flight) {
		pss->is_in_flight = 0;
		the_app->in_flight--;
	}
	if (rc == 0 && pss->out_drain) {
		pss->has_body = 0;
		door_body_drain(&pss->door, wsi, pss->content_length);
		return 0;
	}
	if (rc != 0 || pss->out_close)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/*
 * Headers and body go out in one buffer and one write. Returns what the
 * callback should return: -1 closes the connection. An answer given before
 * the request's body came closes the connection too, after a bounded drain
 * of that body (http_door.c), so that a client still sending reads it.
 *
 * An answer made while a commit is not yet on disk (the request's own, or
 * one whose rows it read) is held until a sync of the WAL covers it, then
 * written (group commit: store_sync.c; LWS_CALLBACK_HTTP_WRITEABLE).
 */
static int
write_response(struct lws *wsi, struct pss_http *pss, const struct req *rq, struct resp *rs,
    const char *body, size_t len, int must_close)
{
	unsigned char *buf, *start, *p, *end;
	char num[32], tp[TRACEPARENT_BUF];
	int is_drain = pss->has_body && !pss->is_body_read;

	must_close = must_close || is_drain || pss->must_close;
	pss->is_answered = 1;

	buf = malloc(LWS_PRE + HEADER_ROOM + len);
	if (buf == NULL)
		return -1;
	start = p = buf + LWS_PRE;
	end = start + HEADER_ROOM;
	if (lws_add_http_common_headers(wsi, (unsigned)rs->status,
	    rs->content_type ? rs->content_type : "application/json",
	    (lws_filepos_t)len, &p, end))
		goto fail;
	if (add_header(wsi, "x-request-id:", pss->rid, &p, end) ||
	    add_header(wsi, "traceparent:", traceparent_format(&pss->span.ctx, tp, sizeof(tp)),
	    &p, end) ||
	    add_header(wsi, "cache-control:", rs->cache_control ? rs->cache_control :
	    rs->etag[0] ? "no-cache" : "no-store", &p, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &p, end))
		goto fail;
	if (rs->csp != NULL && (add_header(wsi, "content-security-policy:", rs->csp, &p, end) ||
	    add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
	    add_header(wsi, "x-frame-options:", "DENY", &p, end)))
		goto fail;
	if (rs->set_cookie[0] && add_header(wsi, "set-cookie:", rs->set_cookie, &p, end))
		goto fail;
	if (rs->etag[0] && add_header(wsi, "etag:", rs->etag, &p, end))
		goto fail;
	if (rs->location[0] && add_header(wsi, "location:", rs->location, &p, end))
		goto fail;
	if (rs->status == 401 && add_header(wsi, "www-authenticate:", "Bearer realm=\"outpost\"",
	    &p, end))
		goto fail;
	if (rs->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", rs->retry_after);
		if (add_header(wsi, "retry-after:", num, &p, end))
			goto fail;
	}
	if (must_close && add_header(wsi, "connection:", "close", &p, end))
		goto fail;
	if (pss->allow != NULL && add_header(wsi, "allow:", pss->allow, &p, end))
		goto fail;
	if (lws_finalize_http_header(wsi, &p, end))
		goto fail;
	if (len > 0 && strcmp(rq->method, "HEAD") != 0) {
		memcpy(p, body, len);
		p += len;
	}
	free(pss->out);
	pss->out = buf;
	pss->out_len = (size_t)(p - start);
	pss->out_status = rs->status;
	pss->out_routine = rs->is_routine;
	pss->out_close = must_close;
	pss->out_drain = is_drain;
	pss->out_mark = store_commit_mark();
	/*
	 * Only a route's answer can say what a commit wrote: the front door's
	 * refusals (a 408 whose connection is killed at once among them) go now.
	 */
	if (pss->is_dispatched && rq == &pss->rq && !store_is_synced(pss->out_mark)) {
		store_answer_held(rs->may_wait);
		pss->wsi = wsi;
		lws_dll2_add_head(&pss->held, &held_list);
		return 0;
	}
	return send_out(wsi, pss, rq);
fail:
	free(buf);
	return -1;
}

/* An error in resp_error()'s shape; retry_after > 0 adds its header (a 503 always has one). */
static int
write_op_err(struct lws *wsi, struct pss_http *pss, const struct req *rq,
    const struct op_err *e, int retry_after, int must_close)
{
	struct resp rs = { 0 };
	int rc;

	sbuf_init(&rs.body);
	resp_error(&rs, e);
	if (retry_after > 0)
		rs.retry_after = retry_after;
	rc = write_response(wsi, pss, rq, &rs, rs.body.p, rs.body.len, must_close);
	sbuf_free(&rs.body);
	return rc;
}

static int
write_error(struct lws *wsi, struct pss_http *pss, const struct req *rq, int status,
    const char *code, const char *field, const char *msg, int must_close)
{
	struct op_err e;

	op_err_set(&e, status, code, field, "%s", msg);
	return write_op_err(wsi, pss, rq, &e, 0, must_close);
}

/* What the request carries that says who sent it, for http_authorize(). */
static struct http_creds
creds_of(const struct pss_http *pss)
{
	struct http_creds c = {
		.method = pss->method,
		.bearer = http_bearer(pss->auth),
		.sid = pss->sid[0] != '\0' ? pss->sid : NULL,
		.has_csrf = pss->has_csrf,
		.is_cross_origin = pss->is_cross_origin,
	};

	return c;
}

/* No route took the path: a 405 when it takes other methods, the web app's files, or 404. */
static int
dispatch_unrouted(struct lws *wsi, struct pss_http *pss, struct req *rq, const char *allow)
{
	struct resp rs = { 0 };
	int rc;

	if (allow[0] != '\0') {
		char msg[MESSAGE_BUF];

		snprintf(msg, sizeof(msg), "this path takes %s", allow);
		pss->allow = allow;
		return write_error(wsi, pss, rq, 405, "method_not_allowed", "", msg, 0);
	}
	/* The web app's files: anything outside /api/ that no route took. */
	if ((strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) &&
	    strncmp(rq->path, "/api/", 5) != 0) {
		rq->route = "static";
		sbuf_init(&rs.body);
		static_serve(rq, &rs);
		rc = write_response(wsi, pss, rq, &rs, rs.body.p, rs.body.len, 0);
		sbuf_free(&rs.body);
		return rc;
	}
	return write_error(wsi, pss, rq, 404, "not_found", "", "no such route", 0);
}

/*
 * One request, its body read (or none to come): the cache, the route's
 * function, the answer. request_decide() found the route and the caller.
 */
static int
dispatch(struct lws *wsi, struct pss_http *pss)
{
	struct req *rq = &pss->rq;
	struct resp rs = { 0 };
	struct http_cache_ref cref;
	const char *body;
	size_t len;
	int rc;

	assert(pss->route != NULL);
	pss->is_dispatched = 1;
	rq->body = pss->body.p;
	rq->body_len = pss->body.len;
	/* A cached GET: the same path and query at the same data version. */
	if (http_cache_get(rq, &cref, &rs, &body, &len)) {
		if (http_cache_not_modified(rq, &rs)) {
			rs.status = 304;
			return write_response(wsi, pss, rq, &rs, NULL, 0, 0);
		}
		return write_response(wsi, pss, rq, &rs, body, len, 0);
	}
	sbuf_init(&rs.body);
	trace_set_current(&pss->span.ctx);	/* its events and log lines carry the trace */
	pss->route->fn(rq, &rs);
	trace_set_current(NULL);
	store_idle(the_app->store);
	if (http_cache_put(&cref, &rs) && http_cache_not_modified(rq, &rs)) {
		rs.status = 304;
		rc = write_response(wsi, pss, rq, &rs, NULL, 0, 0);
	} else {
		rc = write_response(wsi, pss, rq, &rs, rs.body.p, rs.body.len, 0);
	}
	sbuf_free(&rs.body);
	return rc;
}

/* The body's deadline passed before it all came: 408, and the connection closes. */
static void
body_expired(struct door_body *b)
{
	struct pss_http *pss = lws_container_of(b, struct pss_http, door);
	char msg[MESSAGE_BUF];

	pss->has_body = 0;	/* no drain: it was given its time */
	snprintf(msg, sizeof(msg), "the body did not come within %lld s of the headers",
	    (long long)(the_app->cfg.body_timeout_ms / 1000));
	write_error(b->wsi, pss, &pss->rq, 408, "request_timeout", "", msg, 1);
}

/*
 * The headers are in: the route, who may call it, its query and the size
 * of its body are decided now, before any byte of the body is read, so a
 * refused request costs no buffer and no parse. Then the body is read (with
 * its deadline), or the request, having none, is answered.
 */
static int
request_decide(struct lws *wsi, struct pss_http *pss)
{
	static const char *const no_query[] = { NULL };
	struct req *rq = &pss->rq;
	struct http_creds creds = creds_of(pss);
	struct op_err e = { 0 };
	const struct route *r;
	char allow[ALLOW_BUF];
	int wait;

	if (door_conn_is_over(wsi))
		return write_error(wsi, pss, rq, 503, "unavailable", "",
		    "too many connections: try again later", 1);
	if (pss->is_after_sigterm)
		return write_error(wsi, pss, rq, 503, "unavailable", "",
		    "outpostd is shutting down", 1);
	r = route_find(rq, pss->parambuf, sizeof(pss->parambuf), allow, sizeof(allow));
	if (r == NULL)
		return dispatch_unrouted(wsi, pss, rq, allow);
	rq->route = r->pattern;
	if (http_authorize(r, &creds, &the_app->cfg, &rq->tok, &wait, &e) != 0)
		return write_op_err(wsi, pss, rq, &e, wait, 0);
	if (r->role != ROLE_NONE) {
		snprintf(pss->actor, sizeof(pss->actor), "%s", rq->tok.name);
		rq->actor = pss->actor;
	}
	/* Each route names the query parameters it takes; anything else is refused. */
	if (req_query_check(rq, r->query ? r->query : no_query, &e) != 0)
		return write_op_err(wsi, pss, rq, &e, 0, 0);
	if (pss->content_length > door_body_cap(r)) {
		op_err_set(&e, 413, "payload_too_large", "", "the body is larger than %lld bytes, "
		    "this route's limit", door_body_cap(r));
		return write_op_err(wsi, pss, rq, &e, 0, 0);
	}
	pss->route = r;
	if (pss->has_body && !pss->is_body_read && (strcmp(rq->method, "POST") == 0 ||
	    strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "PATCH") == 0)) {
		door_body_arm(&pss->door, wsi, the_app->cfg.body_timeout_ms, body_expired);
		return 0;
	}
	return dispatch(wsi, pss);
}

static const char *
method_of(struct lws *wsi)
{
	static const struct { enum lws_token_indexes tok; const char *name; } m[] = {
		{ WSI_TOKEN_GET_URI, "GET" },
		{ WSI_TOKEN_POST_URI, "POST" },
		{ WSI_TOKEN_PUT_URI, "PUT" },
		{ WSI_TOKEN_DELETE_URI, "DELETE" },
		{ WSI_TOKEN_PATCH_URI, "PATCH" },
		{ WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
		{ WSI_TOKEN_HEAD_URI, "HEAD" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (lws_hdr_total_length(wsi, m[i].tok) > 0)
			return m[i].name;
	return NULL;
}

/*
 * The query's name=value pairs, URL-decoded by lws. A query that does not fit
 * (more than MAX_ARGS pairs, 2 KiB in all, or a value over MAX_ARG_VALUE) is
 * refused whole: dropping a pair would turn a filtered list into an
 * unfiltered one. Returns 0, or -1 with what to say in why.
 */
#define MAX_ARG_VALUE 1000

static int
collect_args(struct lws *wsi, struct pss_http *pss, char *why, size_t whylen, char *field,
    size_t fieldlen, int *is_bad)
{
	size_t used = 0;
	const char *eq;

	pss->nargs = 0;
	for (int i = 0;; i++) {
		int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
		int n;

		if (len <= 0) {
			if (lws_hdr_copy_fragment(wsi, pss->argbuf + used,
			    (int)(sizeof(pss->argbuf) - used), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
				return 0;	/* no fragment i: the end */
			continue;		/* an empty pair ("a=1&&b=2") */
		}
		if (pss->nargs == MAX_ARGS || used + (size_t)len + 1 > sizeof(pss->argbuf)) {
			snprintf(why, whylen, "the query is too long: at most %d parameters and %zu bytes",
			    MAX_ARGS, sizeof(pss->argbuf) - 1);
			return -1;
		}
		n = lws_hdr_copy_fragment(wsi, pss->argbuf + used, (int)(sizeof(pss->argbuf) - used),
		    WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			return 0;
		eq = strchr(pss->argbuf + used, '=');
		if (eq != NULL && strlen(eq + 1) > MAX_ARG_VALUE) {
			snprintf(why, whylen, "query parameter %.*s is longer than %d bytes",
			    (int)(eq - (pss->argbuf + used)), pss->argbuf + used, MAX_ARG_VALUE);
			return -1;
		}
		/* A decoded control character has no business in a name or value (and \x01
		 * separates pairs in the cache's key). */
		for (const unsigned char *c = (const unsigned char *)pss->argbuf + used; *c; c++) {
			if (*c < 0x20 || *c == 0x7f) {
				const unsigned char *a = (const unsigned char *)pss->argbuf + used;
				size_t k = 0;

				while (a[k] != '\0' && a[k] != '=' && a[k] >= 0x20 && a[k] != 0x7f)
					k++;
				snprintf(field, fieldlen, "%.*s", (int)k, (const char *)a);
				snprintf(why, whylen, "query parameter %s holds a control character", field);
				*is_bad = 1;
				return -1;
			}
		}
		pss->args[pss->nargs++] = pss->argbuf + used;
		used += (size_t)n + 1;
	}
}

/*
 * The session cookie's value into sid ("" if none or malformed): the
 * cookie header is "a=1; outpost_session=VALUE; b=2".
 */
static void
cookie_sid(struct lws *wsi, char *sid, size_t n)
{
	char buf[4096];
	const char *p;
	size_t want = strlen(SESSION_COOKIE);

	sid[0] = '\0';
	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_COOKIE) <= 0)
		return;
	for (p = buf; *p;) {
		size_t len;

		while (*p == ' ' || *p == ';')
			p++;
		len = strcspn(p, ";");
		if (len > want && strncmp(p, SESSION_COOKIE, want) == 0 && p[want] == '=') {
			size_t vlen = len - want - 1;

			if (vlen < n) {
				memcpy(sid, p + want + 1, vlen);
				sid[vlen] = '\0';
			}
			return;
		}
		p += len;
	}
}

/*
 * Is there an Origin header naming another site than the Host the request
 * was sent to? A browser sends Origin with every POST, DELETE and websocket.
 * With has_origin, tells whether one came.
 */
static int
is_cross_origin(struct lws *wsi, int *has_origin)
{
	char origin[300], host[260];
	const char *o = origin;

	*has_origin = 0;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 0;
	*has_origin = 1;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return 1;
	if (strncmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncmp(o, "https://", 8) == 0)
		o += 8;
	else
		return 1;
	return strcasecmp(o, host) != 0;
}

/*
 * Who sent the request and over what: the peer, or, from a trusted proxy,
 * the client X-Forwarded-For names and the scheme X-Forwarded-Proto says
 * (so a session cookie made through a TLS proxy is Secure).
 */
static void
read_client(struct lws *wsi, struct pss_http *pss)
{
	char peer[ADDR_TEXT_BUF] = "", xff[512] = "", proto[16] = "";

	pss->is_tls = lws_is_ssl(wsi);
	/* A connection's peer does not change: one getpeername() a connection, not a request. */
	if (pss->conn_peer[0] == '\0' &&
	    lws_get_peer_simple(wsi, pss->conn_peer, sizeof(pss->conn_peer)) == NULL)
		snprintf(pss->conn_peer, sizeof(pss->conn_peer), "?");
	snprintf(peer, sizeof(peer), "%s", pss->conn_peer);
	/* lws knows X-Forwarded-For by name; -Proto is a custom header to it. */
	if (lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) < 0)
		xff[0] = '\0';
	if (!client_address(peer, xff, &the_app->cfg.trusted_proxies, pss->client,
	    sizeof(pss->client)))
		return;
	snprintf(pss->peer, sizeof(pss->peer), "%s", strcmp(peer, pss->client) ? peer : "");
	if (lws_hdr_custom_copy(wsi, proto, sizeof(proto), "x-forwarded-proto:", 18) > 0)
		pss->is_tls = strcasecmp(proto, "https") == 0;
}

static void
read_browser_headers(struct lws *wsi, struct pss_http *pss)
{
	int has_origin;

	cookie_sid(wsi, pss->sid, sizeof(pss->sid));
	pss->has_csrf = lws_hdr_custom_length(wsi, "x-outpost-csrf:", 15) > 0;
	pss->is_cross_origin = is_cross_origin(wsi, &has_origin);
}

static int
request_start(struct lws *wsi, struct pss_http *pss, const char *path)
{
	static unsigned long long counter;
	const char *m = method_of(wsi);
	char buf[64], why[160], field[64] = "", conn_peer[ADDR_TEXT_BUF];
	int is_bad = 0, framing;
	struct req *rq = &pss->rq;

	/*
	 * A request pipelined behind one whose answer is held for the sync: lws
	 * hands it over with the held one's headers still in place, and would
	 * never say the connection is writeable again. It is not served; the
	 * connection closes (the held change was made, its answer not sent).
	 */
	if (pss->held.owner != NULL || pss->out != NULL) {
		log_warn("http.pipelined", "client", pss->client, "detail", "a request pipelined "
		    "behind one whose answer waits for the sync: the connection closes", NULL);
		return -1;
	}
	door_body_stop(&pss->door);	/* a kept-alive connection's previous request */
	sbuf_free(&pss->body);
	memcpy(conn_peer, pss->conn_peer, sizeof(conn_peer));
	memset(pss, 0, sizeof(*pss));
	memcpy(pss->conn_peer, conn_peer, sizeof(conn_peer));
	sbuf_init(&pss->body);
	clock_gettime(CLOCK_MONOTONIC, &pss->t0);
	if (lws_hdr_custom_copy(wsi, pss->rid, sizeof(pss->rid), "x-request-id:", 13) <= 0 ||
	    !request_id_is_sane(pss->rid))
		snprintf(pss->rid, sizeof(pss->rid), "%s-%06llx", the_app->boot_id, ++counter);
	http_trace_begin(wsi, &pss->span);
	read_client(wsi, pss);
	pss->is_in_flight = 1;
	pss->is_after_sigterm = the_app->is_draining;
	the_app->in_flight++;
	snprintf(pss->method, sizeof(pss->method), "%s", m ? m : "?");
	rq->method = pss->method;
	rq->path = path;
	rq->request_id = pss->rid;
	rq->app = the_app;
	framing = door_content_length(wsi, &pss->content_length, why, sizeof(why));
	pss->has_body = framing > 0 && pss->content_length > 0;
	if (strlen(path) >= sizeof(pss->path))
		return write_error(wsi, pss, rq, 414, "invalid_argument", "", "the path is too long", 1);
	snprintf(pss->path, sizeof(pss->path), "%s", path);
	rq->path = pss->path;
	if (m == NULL)
		return write_error(wsi, pss, rq, 405, "method_not_allowed", "", "unknown method", 1);
	if (framing < 0) {
		pss->has_body = 0;	/* its length unknown: nothing to drain */
		return write_error(wsi, pss, rq, 400, "invalid_argument", "Content-Length", why, 1);
	}
	if (collect_args(wsi, pss, why, sizeof(why), field, sizeof(field), &is_bad) != 0)
		return write_error(wsi, pss, rq, is_bad ? 400 : 414, "invalid_argument", field,
		    why, 1);
	if (door_request_line_is_cut(wsi)) {
		if (pss->nargs > 0) {
			const char *a = pss->args[pss->nargs - 1];

			snprintf(field, sizeof(field), "%.*s", (int)strcspn(a, "="), a);
			snprintf(why, sizeof(why), "query parameter %s holds an encoded CR or LF",
			    field);
		} else {
			snprintf(why, sizeof(why), "the path holds an encoded CR or LF");
		}
		return write_error(wsi, pss, rq, 400, "invalid_argument", field, why, 1);
	}
	rq->args = pss->args;
	rq->nargs = pss->nargs;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >= (int)sizeof(pss->auth))
		return write_error(wsi, pss, rq, 431, "invalid_argument", "Authorization",
		    "the Authorization header is too long", 1);
	lws_hdr_copy(wsi, pss->auth, sizeof(pss->auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	lws_hdr_copy(wsi, pss->inm, sizeof(pss->inm), WSI_TOKEN_HTTP_IF_NONE_MATCH);
	rq->if_none_match = pss->inm[0] ? pss->inm : NULL;
	read_browser_headers(wsi, pss);
	rq->is_tls = pss->is_tls;
	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_TRANSFER_ENCODING) != 0) {
		pss->has_body = 0;	/* framed otherwise than by its length: not drained */
		if (strcasestr(buf, "chunked") != NULL)
			return write_error(wsi, pss, rq, 411, "invalid_argument", "Content-Length",
			    "send the body with a Content-Length; chunked bodies are not read", 1);
		return write_error(wsi, pss, rq, 400, "invalid_argument", "Transfer-Encoding",
		    "send the body with a Content-Length and no Transfer-Encoding", 1);
	}
	if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		/* lws would read on to the close as a body: close after the answer. */
		if (framing == 0)
			pss->must_close = 1;
		/* lws reports an empty POST body through the body callbacks: decided there. */
		else if (pss->content_length == 0 && strcmp(m, "POST") == 0)
			return 0;
	}
	return request_decide(wsi, pss);
}

/*
 * A websocket with the session cookie. A browser always sends Origin with a
 * websocket; it must be this server's, or any page the user opens could
 * read the stream with their cookie.
 */
enum ws_cookie
ws_cookie_auth(struct lws *wsi, struct auth_token *tok)
{
	char sid[SESSION_ID_BUF];
	int has_origin;

	cookie_sid(wsi, sid, sizeof(sid));
	if (sid[0] == '\0')
		return WS_COOKIE_NONE;
	if (is_cross_origin(wsi, &has_origin) || !has_origin)
		return WS_COOKIE_FOREIGN;
	return session_check(sid, tok) == 0 ? WS_COOKIE_OK : WS_COOKIE_BAD;
}

/*
 * A websocket upgrade is checked here, while it is still HTTP, so a refusal
 * is an answer a client can read (401, 403, 404, 503) rather than a closed
 * socket it would retry forever. events_ws.c checks the token again when
 * it binds the connection.
 */
static int
confirm_upgrade(struct lws *wsi)
{
	static unsigned long long counter;
	static struct pss_http upgrade;	/* lws binds no session data yet; one at a time */
	struct pss_http *pss = &upgrade;
	struct req rq = { .method = "GET" };
	struct auth_token tok;
	const char *token;
	char proto[128];

	memset(pss, 0, sizeof(*pss));
	clock_gettime(CLOCK_MONOTONIC, &pss->t0);
	snprintf(pss->rid, sizeof(pss->rid), "%s-u%05llx", the_app->boot_id, ++counter);
	http_trace_begin(wsi, &pss->span);
	snprintf(pss->method, sizeof(pss->method), "GET");
	if (lws_hdr_copy(wsi, pss->path, sizeof(pss->path), WSI_TOKEN_GET_URI) < 0)
		pss->path[0] = '\0';
	rq.path = pss->path;
	rq.route = "/api/v1/events";
	if (strcmp(pss->path, "/api/v1/events") != 0) {
		rq.route = "other";
		write_error(wsi, pss, &rq, 404, "not_found", "", "no websocket at this path", 1);
		return 1;
	}
	if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 ||
	    strstr(proto, "outpost.events.v1") == NULL) {
		write_error(wsi, pss, &rq, 400, "invalid_argument", "Sec-WebSocket-Protocol",
		    "the event stream's subprotocol is outpost.events.v1", 1);
		return 1;
	}
	if (the_app->is_draining || door_conn_is_over(wsi)) {
		write_error(wsi, pss, &rq, 503, "unavailable", "", the_app->is_draining ?
		    "outpostd is shutting down" : "too many connections: try again later", 1);
		return 1;
	}
	lws_hdr_copy(wsi, pss->auth, sizeof(pss->auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	token = http_bearer(pss->auth);
	switch (token == NULL ? ws_cookie_auth(wsi, &tok) : WS_COOKIE_NONE) {
	case WS_COOKIE_OK:
		return 0;
	case WS_COOKIE_FOREIGN:
		write_error(wsi, pss, &rq, 403, "forbidden", "Origin",
		    "a page from another origin cannot use the session cookie", 1);
		return 1;
	case WS_COOKIE_BAD:
		write_error(wsi, pss, &rq, 401, "unauthenticated", "",
		    "the session has ended or expired: sign in again", 1);
		return 1;
	case WS_COOKIE_NONE:
		break;
	}
	if (token == NULL || auth_check(token, &tok) != 0) {
		write_error(wsi, pss, &rq, 401, "unauthenticated", "", token == NULL ?
		    "an Authorization: Bearer token is required" :
		    "the token is not valid (unknown, revoked or expired)", 1);
		return 1;
	}
	/* Agents too: their subscription is held to their worker's events (events_ws.c). */
	if (tok.role != ROLE_AGENT && !role_allows(tok.role, ROLE_VIEWER)) {
		write_error(wsi, pss, &rq, 403, "forbidden", "",
		    "the event stream needs the viewer role or higher, or the agent role", 1);
		return 1;
	}
	if (tok.role == ROLE_AGENT && tok.worker_id == 0) {
		write_error(wsi, pss, &rq, 403, "forbidden", "", "a join token only registers a "
		    "worker; the event stream takes the worker's own token", 1);
		return 1;
	}
	return 0;
}

static int
callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	struct pss_http *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return request_start(wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		switch (door_body_take(&pss->door, len)) {
		case -1:
			return -1;	/* past its deadline, or drained enough */
		case 1:
			return 0;	/* answered already: dropped */
		}
		if (pss->is_answered || len == 0)
			return 0;
		/* lws gives no more than Content-Length, which the route's cap was checked on. */
		if (pss->body.len + len > (size_t)pss->content_length)
			return -1;
		return sbuf_append(&pss->body, in, len) != 0 ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->door.is_draining || pss->door.is_expired)
			return -1;	/* the answer said the connection closes */
		if (pss->is_answered)
			return 0;
		door_body_stop(&pss->door);
		pss->is_body_read = 1;
		return pss->route != NULL ? dispatch(wsi, pss) : request_decide(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		/* A held answer, its commit now on disk (http_release_held). */
		if (pss == NULL || pss->held.owner == NULL || !store_is_synced(pss->out_mark))
			return 0;
		held_unlink(pss);
		return send_out(wsi, pss, &pss->rq);
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		return door_conn_open(wsi, &the_app->cfg);
	case LWS_CALLBACK_WSI_DESTROY:
		door_conn_close(wsi);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL) {
			door_body_stop(&pss->door);
			sbuf_free(&pss->body);
			held_unlink(pss);
			free(pss->out);
			pss->out = NULL;
			if (pss->is_in_flight) {
				pss->is_in_flight = 0;
				the_app->in_flight--;
			}
		}
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(wsi);
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		tls_took_ssl_ctx(user);	/* the TLS vhost's SSL_CTX, for tls.c's reload */
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A websocket that names no subprotocol lands here: refuse it. */
		return -1;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols server_protocols[] = {
	{ "http", callback_http, sizeof(struct pss_http), 0, 0, NULL, 1024 * 1024 },
	/* rx: a client sends only small subscribes (longer ones come in pieces, events_ws.c);
	 * lws allocates this much for each websocket. tx: an event is one write. */
	{ "outpost.events.v1", events_ws_callback, sizeof(void *), 512, 0, NULL, 64 * 1024 },
	/* The output pipes of runbooks' programs, adopted as raw files (runs.c). */
	{ "outpost.run-output", runs_pipe_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
