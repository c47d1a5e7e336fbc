/*
 * Spans and their export as OTLP/HTTP JSON (POST ENDPOINT/v1/traces). A
 * span is begun and ended by its owner on its own loop; span_end() copies
 * it into a bounded queue and returns at once (a full queue drops it and
 * counts the drop). One thread of the exporter's own sends the queue in
 * batches with libcurl, under timeouts, reading at most a few KiB of each
 * answer: an endpoint that is slow, silent or hostile costs spans, never
 * the caller's loop. With no endpoint nothing is queued or sent.
 */
#ifndef OUTPOST_OTLP_H
#define OUTPOST_OTLP_H

#include <stdint.h>

#include "trace.h"

#define SPAN_ATTRS_MAX 8
#define SPAN_NAME_BUF 96
#define SPAN_KEY_BUF 32
#define SPAN_VALUE_BUF 96
/* The longest endpoint, with its NUL ("/v1/traces" is added to it). */
#define OTLP_ENDPOINT_BUF 512

/* OTLP's SpanKind. */
enum span_kind { SPAN_INTERNAL = 1, SPAN_SERVER = 2, SPAN_CLIENT = 3 };

struct span_attr {
	char key[SPAN_KEY_BUF];
	char str[SPAN_VALUE_BUF];
	int64_t num;
	int is_num;
};

struct span {
	struct trace_ctx ctx;	/* its trace, its own id, the flags */
	unsigned char parent[SPAN_ID_LEN];
	int has_parent;
	char name[SPAN_NAME_BUF];
	enum span_kind kind;
	int64_t start_ns;	/* unix nanoseconds */
	int64_t end_ns;
	int is_error;
	int nattrs;
	struct span_attr attrs[SPAN_ATTRS_MAX];
};

/*
 * Begins a span named name, a child of parent's span (NULL or not valid: the
 * first span of a new trace). Its context (sp->ctx) is what its own
 * children and a traceparent it hands on name.
 */
void span_begin(struct span *sp, const char *name, enum span_kind kind,
    const struct trace_ctx *parent);
void span_name(struct span *sp, const char *name);
/* Attributes past SPAN_ATTRS_MAX are left out; values are cut to fit. */
void span_str(struct span *sp, const char *key, const char *value);
void span_int(struct span *sp, const char *key, int64_t value);
/* Ends it now and queues it (when the exporter runs and the trace is sampled). */
void span_end(struct span *sp);
int64_t span_now_ns(void);

/* An endpoint as a setting may hold: http:// or https://, no spaces, no trailing /. */
int otlp_endpoint_is_valid(const char *v);
/* What otlp_endpoint_is_valid() takes, said in every refusal of one. */
#define OTLP_ENDPOINT_RULE "otlp_endpoint must be an http:// or https:// URL without a " \
	"trailing / or a user:password@, such as \"http://127.0.0.1:4318\""

/*
 * Starts the exporter's thread for endpoint ("" or NULL: stays off);
 * service and instance name the resource (service.name,
 * service.instance.id). 0, or -1 with err.
 */
int otlp_start(const char *endpoint, const char *service, const char *instance, char *err,
    size_t errlen);
/* Sends what is queued (a second at most), then ends the thread. */
void otlp_stop(void);
int otlp_is_on(void);

/* Spans sent and taken (2xx), dropped at a full queue, and lost to a failed send. */
struct otlp_counts {
	uint64_t exported;
	uint64_t dropped;
	uint64_t failed;
};
void otlp_counts(struct otlp_counts *out);

#endif
