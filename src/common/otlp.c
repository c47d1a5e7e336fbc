/*
 * The span exporter: spans in a bounded queue (a mutex held for one copy),
 * one thread that takes them in batches and POSTs each batch as OTLP/HTTP
 * JSON to ENDPOINT/v1/traces with libcurl. The endpoint is not trusted: each
 * send has a connect and a total timeout, follows no redirect, speaks http
 * and https alone, and reads at most OTLP_ANSWER_MAX bytes of the answer.
 * A span that finds the queue full is dropped and counted; a batch whose
 * send fails is counted as failed and not sent again (a collector that is
 * down must not grow the queue). Nothing here logs from the caller's side.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "otlp.h"
#include "util.h"

#define OTLP_QUEUE_MAX 2048
#define OTLP_BATCH_MAX 256
#define OTLP_FLUSH_MS 500		/* a batch goes at least this often while spans wait */
#define OTLP_CONNECT_MS 2000
#define OTLP_TOTAL_MS 5000
#define OTLP_FINAL_MS 1000		/* the last send, at otlp_stop() */
#define OTLP_ANSWER_MAX (16 * 1024)

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int is_on;
	int is_stopping;
	struct span *ring;	/* OTLP_QUEUE_MAX */
	size_t head, n;
	struct otlp_counts counts;
	char url[OTLP_ENDPOINT_BUF + 16];
	char service[64];
	char instance[128];
} ex = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

int64_t
span_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
span_begin(struct span *sp, const char *name, enum span_kind kind,
    const struct trace_ctx *parent)
{
	memset(sp, 0, sizeof(*sp));
	if (parent != NULL && parent->is_valid) {
		trace_child(parent, &sp->ctx);
		memcpy(sp->parent, parent->span_id, SPAN_ID_LEN);
		sp->has_parent = 1;
	} else {
		trace_new(&sp->ctx);
	}
	span_name(sp, name);
	sp->kind = kind;
	sp->start_ns = span_now_ns();
}

void
span_name(struct span *sp, const char *name)
{
	snprintf(sp->name, sizeof(sp->name), "%s", name != NULL ? name : "");
}

static struct span_attr *
attr_add(struct span *sp, const char *key)
{
	struct span_attr *a;

	if (sp->nattrs == SPAN_ATTRS_MAX)
		return NULL;
	a = &sp->attrs[sp->nattrs++];
	snprintf(a->key, sizeof(a->key), "%s", key);
	return a;
}

void
span_str(struct span *sp, const char *key, const char *value)
{
	struct span_attr *a = attr_add(sp, key);

	if (a != NULL)
		snprintf(a->str, sizeof(a->str), "%s", value != NULL ? value : "");
}

void
span_int(struct span *sp, const char *key, int64_t value)
{
	struct span_attr *a = attr_add(sp, key);

	if (a != NULL) {
		a->num = value;
		a->is_num = 1;
	}
}

void
span_end(struct span *sp)
{
	sp->end_ns = span_now_ns();
	if (sp->end_ns < sp->start_ns)
		sp->end_ns = sp->start_ns;	/* the clock was set back meanwhile */
	/* Off, not a real span, or a trace its caller asked not to record. */
	if (!ex.is_on || !sp->ctx.is_valid || !(sp->ctx.flags & TRACE_FLAG_SAMPLED))
		return;
	pthread_mutex_lock(&ex.mu);
	if (ex.n == OTLP_QUEUE_MAX || ex.is_stopping) {
		ex.counts.dropped++;
	} else {
		ex.ring[(ex.head + ex.n) % OTLP_QUEUE_MAX] = *sp;
		/* The first wakes the thread (which waits OTLP_FLUSH_MS); a full batch, at once. */
		if (++ex.n == 1 || ex.n == OTLP_BATCH_MAX)
			pthread_cond_signal(&ex.cv);
	}
	pthread_mutex_unlock(&ex.mu);
}

int
otlp_is_on(void)
{
	return ex.is_on;
}

void
otlp_counts(struct otlp_counts *out)
{
	pthread_mutex_lock(&ex.mu);
	*out = ex.counts;
	pthread_mutex_unlock(&ex.mu);
}

int
otlp_endpoint_is_valid(const char *v)
{
	size_t n = strlen(v);
	CURLU *u;
	char *host = NULL, *user = NULL;
	int ok;

	if (n == 0 || n >= OTLP_ENDPOINT_BUF || (strncmp(v, "http://", 7) != 0 &&
	    strncmp(v, "https://", 8) != 0) || strpbrk(v, " \t\r\n\"'\\?#") != NULL ||
	    v[n - 1] == '/')
		return 0;
	/* A URL libcurl reads, with a host: what it will be asked to send to. */
	u = curl_url();
	ok = u != NULL && curl_url_set(u, CURLUPART_URL, v, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL &&
	    host[0] != '\0';
	/* No user:password@: the URL is logged when sends fail. */
	if (ok && curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		ok = 0;
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

/* ---- the payload ---- */

static void
put_kv_str(struct sbuf *b, const char *k, const char *v)
{
	sbuf_puts(b, "{\"key\":");
	sbuf_json_string(b, k);
	sbuf_puts(b, ",\"value\":{\"stringValue\":");
	sbuf_json_string(b, v);
	sbuf_puts(b, "}}");
}

static void
put_span(struct sbuf *b, const struct span *sp)
{
	char t[TRACE_ID_HEX_BUF], id[SPAN_ID_HEX_BUF], parent[SPAN_ID_HEX_BUF];

	trace_hex(sp->ctx.trace_id, TRACE_ID_LEN, t);
	trace_hex(sp->ctx.span_id, SPAN_ID_LEN, id);
	sbuf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", t, id);
	if (sp->has_parent) {
		trace_hex(sp->parent, SPAN_ID_LEN, parent);
		sbuf_printf(b, ",\"parentSpanId\":\"%s\"", parent);
	}
	sbuf_puts(b, ",\"name\":");
	sbuf_json_string(b, sp->name);
	/* 64-bit integers are strings in OTLP's JSON (proto3's mapping). */
	sbuf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\","
	    "\"attributes\":[", (int)sp->kind, (long long)sp->start_ns, (long long)sp->end_ns);
	for (int i = 0; i < sp->nattrs; i++) {
		const struct span_attr *a = &sp->attrs[i];

		if (i > 0)
			sbuf_putc(b, ',');
		if (a->is_num) {
			sbuf_puts(b, "{\"key\":");
			sbuf_json_string(b, a->key);
			sbuf_printf(b, ",\"value\":{\"intValue\":\"%lld\"}}", (long long)a->num);
		} else {
			put_kv_str(b, a->key, a->str);
		}
	}
	/* Status: ERROR (2) when the owner said so, else UNSET. */
	sbuf_printf(b, "],\"status\":{\"code\":%d}}", sp->is_error ? 2 : 0);
}

static int
payload(struct sbuf *b, const struct span *spans, size_t n)
{
	sbuf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	put_kv_str(b, "service.name", ex.service);
	sbuf_putc(b, ',');
	put_kv_str(b, "service.version", PACKAGE_VERSION);
	if (ex.instance[0] != '\0') {
		sbuf_putc(b, ',');
		put_kv_str(b, "service.instance.id", ex.instance);
	}
	sbuf_puts(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"outpost\",\"version\":\""
	    PACKAGE_VERSION "\"},\"spans\":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sbuf_putc(b, ',');
		put_span(b, &spans[i]);
	}
	sbuf_puts(b, "]}]}]}");
	return b->p == NULL ? -1 : 0;
}

/* ---- the thread ---- */

static size_t
on_answer(char *p, size_t size, size_t nmemb, void *arg)
{
	size_t *got = arg;

	(void)p;
	*got += size * nmemb;
	/* More than any collector's answer needs: the transfer is ended (a failure). */
	return *got > OTLP_ANSWER_MAX ? 0 : size * nmemb;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	int is_final = *(int *)arg, stop;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	pthread_mutex_lock(&ex.mu);
	stop = ex.is_stopping && !is_final;
	pthread_mutex_unlock(&ex.mu);
	return stop;	/* non-zero aborts the transfer */
}

/* One batch: 0 when the collector took it (2xx). */
static int
send_batch(CURL *c, const struct span *spans, size_t n, int is_final)
{
	static int was_failing;
	struct curl_slist *h = NULL;
	struct sbuf b;
	size_t got = 0;
	long status = 0;
	CURLcode rc;
	int ok = 0;

	sbuf_init(&b);
	if (payload(&b, spans, n) != 0) {
		sbuf_free(&b);
		return -1;
	}
	curl_easy_reset(c);
	h = curl_slist_append(h, "Content-Type: application/json");
	ok |= curl_easy_setopt(c, CURLOPT_URL, ex.url);
#if LIBCURL_VERSION_NUM >= 0x075500
	ok |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	ok |= curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	ok |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	ok |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	ok |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)OTLP_CONNECT_MS);
	ok |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, is_final ? (long)OTLP_FINAL_MS :
	    (long)OTLP_TOTAL_MS);
	ok |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	ok |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, b.p);
	ok |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b.len);
	ok |= curl_easy_setopt(c, CURLOPT_USERAGENT, "outpost/" PACKAGE_VERSION);
	ok |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
	ok |= curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
	ok |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	ok |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	ok |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, &is_final);
	rc = ok == 0 ? curl_easy_perform(c) : CURLE_FAILED_INIT;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	sbuf_free(&b);
	if (rc != CURLE_OK || status < 200 || status > 299) {
		/* Once when sends begin to fail, not at every batch of a collector that is down. */
		if (!was_failing)
			log_warn("otlp.send_failed", "url", ex.url, LOG_INT("spans", (long long)n),
			    LOG_INT("status", status),
			    "error", rc == CURLE_OK ? "the collector's answer was not 2xx" :
			    curl_easy_strerror(rc), NULL);
		was_failing = 1;
		return -1;
	}
	if (was_failing)
		log_info("otlp.send_recovered", "url", ex.url, NULL);
	was_failing = 0;
	return 0;
}

static void *
exporter(void *arg)
{
	struct span *batch = calloc(OTLP_BATCH_MAX, sizeof(*batch));
	CURL *c = curl_easy_init();
	int is_final = 0;

	(void)arg;
	pthread_mutex_lock(&ex.mu);
	for (;;) {
		size_t n;

		while (ex.n == 0 && !ex.is_stopping) {
			pthread_cond_wait(&ex.cv, &ex.mu);
		}
		/* A batch fills, or OTLP_FLUSH_MS passes: fewer, larger sends. */
		if (ex.n < OTLP_BATCH_MAX && !ex.is_stopping) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += OTLP_FLUSH_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ex.cv, &ex.mu, &until);
		}
		if (ex.is_stopping) {
			if (is_final || ex.n == 0)
				break;
			is_final = 1;	/* one last batch, on a short timeout */
		}
		n = ex.n < OTLP_BATCH_MAX ? ex.n : OTLP_BATCH_MAX;
		for (size_t i = 0; i < n; i++)
			batch[i] = ex.ring[(ex.head + i) % OTLP_QUEUE_MAX];
		ex.head = (ex.head + n) % OTLP_QUEUE_MAX;
		ex.n -= n;
		pthread_mutex_unlock(&ex.mu);
		if (n > 0 && batch != NULL && c != NULL && send_batch(c, batch, n, is_final) == 0) {
			pthread_mutex_lock(&ex.mu);
			ex.counts.exported += n;
		} else {
			pthread_mutex_lock(&ex.mu);
			ex.counts.failed += n;
		}
	}
	/* What the last send left is lost: counted, as a full queue's spans are. */
	ex.counts.dropped += ex.n;
	ex.n = 0;
	pthread_mutex_unlock(&ex.mu);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(batch);
	return NULL;
}

int
otlp_start(const char *endpoint, const char *service, const char *instance, char *err,
    size_t errlen)
{
	if (endpoint == NULL || endpoint[0] == '\0' || ex.is_on)
		return 0;
	if (!otlp_endpoint_is_valid(endpoint)) {
		snprintf(err, errlen, "%s", OTLP_ENDPOINT_RULE);
		return -1;
	}
	snprintf(ex.url, sizeof(ex.url), "%s/v1/traces", endpoint);
	snprintf(ex.service, sizeof(ex.service), "%s", service);
	snprintf(ex.instance, sizeof(ex.instance), "%s", instance != NULL ? instance : "");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "otlp_endpoint: libcurl cannot start");
		return -1;
	}
	ex.ring = calloc(OTLP_QUEUE_MAX, sizeof(*ex.ring));
	if (ex.ring == NULL) {
		curl_global_cleanup();
		snprintf(err, errlen, "otlp_endpoint: out of memory for the span queue");
		return -1;
	}
	ex.head = ex.n = 0;
	ex.is_stopping = 0;
	if (thread_start(&ex.thread, exporter, NULL) != 0) {
		free(ex.ring);
		ex.ring = NULL;
		curl_global_cleanup();
		snprintf(err, errlen, "otlp_endpoint: cannot start the exporter's thread");
		return -1;
	}
	ex.is_on = 1;
	return 0;
}

void
otlp_stop(void)
{
	if (!ex.is_on)
		return;
	pthread_mutex_lock(&ex.mu);
	ex.is_stopping = 1;
	pthread_cond_signal(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
	pthread_join(ex.thread, NULL);
	ex.is_on = 0;
	free(ex.ring);
	ex.ring = NULL;
	curl_global_cleanup();
}
