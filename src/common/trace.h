/*
 * W3C Trace Context: a trace's and a span's ids, the traceparent header
 * (version 00) read strictly and written, ids from getrandom(2), and the
 * span the calling thread is serving ("current"), which the logger tags its
 * lines with. Exporting spans is otlp.c's; this file knows nothing of it,
 * so the parsers' tests and fuzz harness link it alone.
 */
#ifndef OUTPOST_TRACE_H
#define OUTPOST_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_LEN 16
#define SPAN_ID_LEN 8
#define TRACE_ID_HEX_BUF (2 * TRACE_ID_LEN + 1)
#define SPAN_ID_HEX_BUF (2 * SPAN_ID_LEN + 1)
/* "00-" 32 hex "-" 16 hex "-" 2 hex: 55 characters. */
#define TRACEPARENT_LEN 55
#define TRACEPARENT_BUF (TRACEPARENT_LEN + 1)
#define TRACE_FLAG_SAMPLED 0x01u

/* A place in a trace: its trace id, a span's id, the flags. */
struct trace_ctx {
	unsigned char trace_id[TRACE_ID_LEN];
	unsigned char span_id[SPAN_ID_LEN];
	unsigned char flags;
	int is_valid;
};

/*
 * A traceparent header's value, strictly: version 00, lower-case hex, ids
 * not all zero, exactly 55 characters (no trailing fields, no spaces).
 * Returns 0 and fills out, or -1 (out not valid).
 */
int traceparent_parse(const char *s, size_t len, struct trace_ctx *out);
/* "00-TRACE-SPAN-FLAGS" into buf (TRACEPARENT_BUF); "" when c is not valid. */
char *traceparent_format(const struct trace_ctx *c, char *buf, size_t n);
char *trace_id_hex(const struct trace_ctx *c, char *buf, size_t n);
void trace_hex(const unsigned char *id, size_t len, char *buf);

/* n random bytes (getrandom), never all zero; 0, or -1 when none can be had. */
int trace_random(unsigned char *buf, size_t n);
/* A new trace (sampled) with a new span id. */
int trace_new(struct trace_ctx *c);
/* The same trace and flags as parent, a new span id: a child of parent's span. */
int trace_child(const struct trace_ctx *parent, struct trace_ctx *child);

/*
 * What the calling thread serves: events written meanwhile carry it, log
 * lines carry its trace id. NULL clears it. The context is copied.
 */
void trace_set_current(const struct trace_ctx *c);
/* The current context, or NULL when none. */
const struct trace_ctx *trace_current(void);

#endif
