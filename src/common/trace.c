/*
 * Trace contexts: traceparent (W3C Trace Context, version 00) read and
 * written, ids from the kernel's random source, and each thread's current
 * context. A malformed traceparent is not an error anywhere: the caller
 * starts a new trace instead (so no client can make a request fail by it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <pthread.h>

#include "log.h"
#include "trace.h"

static __thread struct trace_ctx current;

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;	/* upper case too: the spec asks for lower case */
}

/* n bytes from 2n lower-case hex digits; -1 on any other character. */
static int
hex_bytes(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int
is_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int
traceparent_parse(const char *s, size_t len, struct trace_ctx *out)
{
	unsigned char version;

	memset(out, 0, sizeof(*out));
	if (s == NULL || len != TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -1;
	/* Version ff is forbidden; later versions may add fields, which 00 must not have. */
	if (hex_bytes(s, &version, 1) != 0 || version != 0)
		return -1;
	if (hex_bytes(s + 3, out->trace_id, TRACE_ID_LEN) != 0 ||
	    hex_bytes(s + 36, out->span_id, SPAN_ID_LEN) != 0 ||
	    hex_bytes(s + 53, &out->flags, 1) != 0 ||
	    is_zero(out->trace_id, TRACE_ID_LEN) || is_zero(out->span_id, SPAN_ID_LEN)) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->is_valid = 1;
	return 0;
}

void
trace_hex(const unsigned char *id, size_t len, char *buf)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[id[i] >> 4];
		buf[2 * i + 1] = digits[id[i] & 0xf];
	}
	buf[2 * len] = '\0';
}

char *
traceparent_format(const struct trace_ctx *c, char *buf, size_t n)
{
	char t[TRACE_ID_HEX_BUF], sp[SPAN_ID_HEX_BUF];

	if (c == NULL || !c->is_valid) {
		if (n > 0)
			buf[0] = '\0';
		return buf;
	}
	trace_hex(c->trace_id, TRACE_ID_LEN, t);
	trace_hex(c->span_id, SPAN_ID_LEN, sp);
	snprintf(buf, n, "00-%s-%s-%02x", t, sp, c->flags);
	return buf;
}

char *
trace_id_hex(const struct trace_ctx *c, char *buf, size_t n)
{
	if (c == NULL || !c->is_valid || n < TRACE_ID_HEX_BUF) {
		if (n > 0)
			buf[0] = '\0';
		return buf;
	}
	trace_hex(c->trace_id, TRACE_ID_LEN, buf);
	return buf;
}

/*
 * The kernel's random bytes, taken 256 at a time into a pool of the thread's
 * own: a request's trace and span ids cost two getrandom() calls otherwise,
 * 7% of a cached list page's CPU (bench/RESULTS.md). Each byte is given
 * once. A child made by fork() empties its copy of the pool (pthread_atfork),
 * so that it never gives the ids its parent gives.
 */
static __thread unsigned char pool[256];
static __thread size_t left;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void
pool_forget(void)
{
	explicit_bzero(pool, sizeof(pool));
	left = 0;
}

static void
pool_setup(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static int
pool_draw(unsigned char *buf, size_t n)
{
	pthread_once(&pool_once, pool_setup);
	while (n > 0) {
		size_t k;

		if (left == 0) {
			ssize_t r = getrandom(pool, sizeof(pool), 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			/* Bytes are taken from the pool's end: a short read is moved there. */
			memmove(pool + sizeof(pool) - (size_t)r, pool, (size_t)r);
			left = (size_t)r;
		}
		k = n < left ? n : left;
		memcpy(buf, pool + sizeof(pool) - left, k);
		explicit_bzero(pool + sizeof(pool) - left, k);
		left -= k;
		buf += k;
		n -= k;
	}
	return 0;
}

int
trace_random(unsigned char *buf, size_t n)
{
	if (pool_draw(buf, n) != 0)
		return -1;
	/* All zero is the spec's "invalid"; one chance in 2^64 at worst. */
	if (is_zero(buf, n))
		buf[n - 1] = 1;
	return 0;
}

int
trace_new(struct trace_ctx *c)
{
	memset(c, 0, sizeof(*c));
	if (trace_random(c->trace_id, TRACE_ID_LEN) != 0 ||
	    trace_random(c->span_id, SPAN_ID_LEN) != 0)
		return -1;
	c->flags = TRACE_FLAG_SAMPLED;
	c->is_valid = 1;
	return 0;
}

int
trace_child(const struct trace_ctx *parent, struct trace_ctx *child)
{
	if (parent == NULL || !parent->is_valid)
		return trace_new(child);
	*child = *parent;
	if (trace_random(child->span_id, SPAN_ID_LEN) != 0) {
		child->is_valid = 0;
		return -1;
	}
	return 0;
}

void
trace_set_current(const struct trace_ctx *c)
{
	char id[TRACE_ID_HEX_BUF];

	if (c == NULL || !c->is_valid) {
		memset(&current, 0, sizeof(current));
		log_set_trace_id(NULL);
		return;
	}
	current = *c;
	log_set_trace_id(trace_id_hex(c, id, sizeof(id)));
}

const struct trace_ctx *
trace_current(void)
{
	return current.is_valid ? &current : NULL;
}
