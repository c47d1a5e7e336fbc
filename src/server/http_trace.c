/*
 * A request's trace: the W3C traceparent it brings, honoured when it is
 * well formed (version 00, checked strictly by trace.c) and else ignored
 * for a new trace, never refused; the server span that stands for the
 * request, named by its method and route pattern (never its path, so the
 * names stay few), and ended when the answer is written. http.c calls these
 * two; the traceparent it returns, its events' and its log lines' trace are
 * this span's. Also the exporter's counts as /metrics shows them.
 */
#include <string.h>

#include "server.h"

void
http_trace_begin(struct lws *wsi, struct span *sp)
{
	char tp[TRACEPARENT_BUF + 8];
	struct trace_ctx parent;
	int n;

	/* A longer value does not fit tp (-1), so it is no traceparent of version 00. */
	n = lws_hdr_custom_copy(wsi, tp, sizeof(tp), "traceparent:", 12);
	if (n != TRACEPARENT_LEN || traceparent_parse(tp, (size_t)n, &parent) != 0)
		parent.is_valid = 0;
	span_begin(sp, "HTTP", SPAN_SERVER, &parent);
}

void
http_trace_end(struct span *sp, const struct req *rq, int status, const char *rid)
{
	char name[SPAN_NAME_BUF];
	const char *route = rq->route != NULL ? rq->route : "other";

	if (sp->end_ns != 0 || !sp->ctx.is_valid)
		return;		/* ended already (a drained body's second answer) */
	snprintf(name, sizeof(name), "%s %s", rq->method ? rq->method : "?", route);
	span_name(sp, name);
	span_str(sp, "http.request.method", rq->method);
	span_str(sp, "http.route", route);
	span_int(sp, "http.response.status_code", status);
	span_str(sp, "outpost.request_id", rid);
	if (rq->actor != NULL)
		span_str(sp, "outpost.actor", rq->actor);
	sp->is_error = status >= 500;
	span_end(sp);
}

void
trace_metrics(struct sbuf *o)
{
	struct otlp_counts c;

	otlp_counts(&c);
	sbuf_printf(o, "# HELP outpost_trace_spans_total Spans sent to otlp_endpoint and taken "
	    "(exported), dropped at a full queue (dropped), or lost to a send that failed "
	    "(failed).\n"
	    "# TYPE outpost_trace_spans_total counter\n"
	    "outpost_trace_spans_total{result=\"exported\"} %llu\n"
	    "outpost_trace_spans_total{result=\"dropped\"} %llu\n"
	    "outpost_trace_spans_total{result=\"failed\"} %llu\n",
	    (unsigned long long)c.exported, (unsigned long long)c.dropped,
	    (unsigned long long)c.failed);
}
