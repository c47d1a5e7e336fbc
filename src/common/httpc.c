/*
 * The libcurl client. One CURL easy handle lives as long as the struct httpc,
 * so connections are kept alive between requests; each request resets the
 * handle's options (curl_easy_reset keeps the connection cache) and sets
 * them all again, so nothing leaks from one request into the next.
 * What it must never do: print, exit, or know which program it serves.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "httpc.h"

struct httpc {
	CURL *curl;
	char *base;		/* without a trailing '/' */
	char *auth_header;	/* "Authorization: Bearer ..." or NULL */
	char *user_agent;
	char *ca_file;		/* the CAs to trust, PEM; NULL: the system's */
	long connect_ms;
	long total_ms;
	size_t max_body;
	char errbuf[CURL_ERROR_SIZE];
	char traceparent[80];	/* "traceparent: ..." for the next request alone, or "" */
};

/* Body being received, bounded. */
struct sink {
	struct sbuf buf;
	size_t max;
	int is_too_large;
	int is_oom;
};

/* libcurl's global state is set up with the first client and torn down with the last. */
static int curl_users;

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

struct httpc *
httpc_new(const char *base_url, const char *token)
{
	struct httpc *h;
	size_t n;

	if (base_url == NULL || has_ctl(base_url) || (token != NULL && has_ctl(token)))
		return NULL;
	if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	curl_users++;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto fail;
	h->connect_ms = HTTPC_DEFAULT_CONNECT_MS;
	h->total_ms = HTTPC_DEFAULT_TOTAL_MS;
	h->max_body = HTTPC_DEFAULT_MAX_BODY;
	h->base = strdup(base_url);
	h->user_agent = strdup("outpost");
	if (h->base == NULL || h->user_agent == NULL)
		goto fail;
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	if (token != NULL && *token != '\0') {
		struct sbuf b;

		sbuf_init(&b);
		if (sbuf_printf(&b, "Authorization: Bearer %s", token) != 0)
			goto fail;
		h->auth_header = sbuf_steal(&b);
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		goto fail;
	return h;
fail:
	httpc_free(h);
	if (h == NULL && --curl_users == 0)
		curl_global_cleanup();
	return NULL;
}

void
httpc_free(struct httpc *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->base);
	free(h->auth_header);
	free(h->user_agent);
	free(h->ca_file);
	free(h);
	if (--curl_users == 0)
		curl_global_cleanup();
}

void
httpc_set_traceparent(struct httpc *h, const char *tp)
{
	/* A value with a control character would end the header: none is sent. */
	if (tp == NULL || has_ctl(tp) || (size_t)snprintf(h->traceparent,
	    sizeof(h->traceparent), "traceparent: %s", tp) >= sizeof(h->traceparent))
		h->traceparent[0] = '\0';
}

void
httpc_set_timeouts(struct httpc *h, long connect_ms, long total_ms)
{
	if (connect_ms > 0)
		h->connect_ms = connect_ms;
	if (total_ms > 0)
		h->total_ms = total_ms;
}

void
httpc_set_max_body(struct httpc *h, size_t max)
{
	h->max_body = max;
}

int
httpc_set_user_agent(struct httpc *h, const char *ua)
{
	char *p;

	if (ua == NULL || has_ctl(ua) || (p = strdup(ua)) == NULL)
		return -1;
	free(h->user_agent);
	h->user_agent = p;
	return 0;
}

int
httpc_set_ca_file(struct httpc *h, const char *path)
{
	char *p = NULL;

	if (path != NULL && *path != '\0' && (has_ctl(path) || (p = strdup(path)) == NULL))
		return -1;
	free(h->ca_file);
	h->ca_file = p;
	return 0;
}

const char *
httpc_base_url(const struct httpc *h)
{
	return h->base;
}

void
httpc_resp_init(struct httpc_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

void
httpc_resp_free(struct httpc_resp *r)
{
	free(r->body);
	if (r->json != NULL)
		json_decref(r->json);
	httpc_resp_init(r);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->buf.len + n > s->max) {
		s->is_too_large = 1;
		return 0;	/* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (sbuf_append(&s->buf, data, n) != 0) {
		s->is_oom = 1;
		return 0;
	}
	return n;
}

static enum httpc_fail
classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTPC_FAIL_NONE;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTPC_FAIL_DNS;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_FAIL_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return HTTPC_FAIL_CONNECT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTPC_FAIL_TOO_LARGE;
	default:
		return HTTPC_FAIL_OTHER;
	}
}

static int
is_json_body(const char *ctype, const char *body)
{
	while (isspace((unsigned char)*body))
		body++;
	if (ctype[0] != '\0')
		return strstr(ctype, "json") != NULL;
	return *body == '{' || *body == '[';
}

/* Sets every option a request needs; the handle was reset before. */
static int
setup(struct httpc *h, const char *method, const char *url, const char *json_body,
    struct curl_slist *headers, struct sink *sink)
{
	CURL *c = h->curl;
	int rc = 0;

	rc |= curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (h->ca_file != NULL)
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->total_ms);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	rc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
	if (strcmp(method, "GET") == 0 && json_body == NULL) {
		rc |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (json_body != NULL || strcmp(method, "POST") == 0) {
		const char *body = json_body != NULL ? json_body : "";

		rc |= curl_easy_setopt(c, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (strcmp(method, "POST") != 0)
			rc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else {
		rc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	return rc == 0 ? 0 : -1;
}

int
httpc_request(struct httpc *h, const char *method, const char *path, const char *json_body,
    struct httpc_resp *resp)
{
	/* "Expect:" turns off 100-continue, a round trip the server does not need. */
	static const char *const fixed[] = { "Accept: application/json", "Expect:", NULL };
	struct curl_slist *headers = NULL, *l;
	struct sink sink = { .max = h->max_body };
	struct sbuf url;
	CURLcode rc;
	char *ct = NULL, tp[sizeof(h->traceparent)];
	curl_off_t ra = -1;
	long status = 0;

	httpc_resp_init(resp);
	sbuf_init(&url);
	sbuf_init(&sink.buf);
	h->errbuf[0] = '\0';
	/* A traceparent goes with this request alone, whatever becomes of it. */
	memcpy(tp, h->traceparent, sizeof(tp));
	h->traceparent[0] = '\0';
	if (has_ctl(method) || has_ctl(path) || sbuf_printf(&url, "%s%s", h->base, path) != 0) {
		resp->fail = HTTPC_FAIL_OTHER;
		snprintf(resp->error, sizeof(resp->error), "invalid request");
		goto fail;
	}
	for (size_t i = 0; fixed[i] != NULL; i++) {
		if ((l = curl_slist_append(headers, fixed[i])) == NULL)
			goto oom;
		headers = l;
	}
	if (json_body != NULL) {
		if ((l = curl_slist_append(headers, "Content-Type: application/json")) == NULL)
			goto oom;
		headers = l;
	}
	if (h->auth_header != NULL) {
		if ((l = curl_slist_append(headers, h->auth_header)) == NULL)
			goto oom;
		headers = l;
	}
	if (tp[0] != '\0') {
		if ((l = curl_slist_append(headers, tp)) == NULL)
			goto oom;
		headers = l;
	}
	curl_easy_reset(h->curl);
	if (setup(h, method, url.p, json_body, headers, &sink) != 0)
		goto oom;
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK) {
		resp->fail = classify(rc);
		if (sink.is_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			resp->fail = HTTPC_FAIL_TOO_LARGE;
			snprintf(resp->error, sizeof(resp->error),
			    "the answer is larger than %zu bytes", h->max_body);
		} else if (sink.is_oom) {
			resp->fail = HTTPC_FAIL_OTHER;
			snprintf(resp->error, sizeof(resp->error), "out of memory");
		} else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
			/* Say what to do: a private CA is named with --ca-file (or ca_file). */
			snprintf(resp->error, sizeof(resp->error), "the server's TLS certificate could not be "
			    "verified (%s); if the site has its own CA, name it with --ca-file",
			    h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc));
		} else {
			snprintf(resp->error, sizeof(resp->error), "%s",
			    h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc));
		}
		goto fail;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
	if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		resp->retry_after = (long)ra;
	resp->status = (int)status;
	resp->body_len = sink.buf.len;
	resp->body = sbuf_steal(&sink.buf);
	if (resp->body == NULL)
		goto oom;
	if (resp->body_len > 0 && is_json_body(resp->content_type, resp->body))
		resp->json = json_loadb(resp->body, resp->body_len, 0, NULL);
	curl_slist_free_all(headers);
	sbuf_free(&url);
	return 0;
oom:
	resp->fail = HTTPC_FAIL_OTHER;
	snprintf(resp->error, sizeof(resp->error), "out of memory");
fail:
	curl_slist_free_all(headers);
	sbuf_free(&url);
	sbuf_free(&sink.buf);
	/* Callers may print the body whatever happened. */
	if (resp->body == NULL)
		resp->body = calloc(1, 1);
	resp->status = 0;
	return -1;
}

int
httpc_resp_error(const struct httpc_resp *r, const char **code, const char **message,
    const char **field)
{
	json_t *e;
	const char *s;

	if (r->json == NULL || !json_is_object(e = json_object_get(r->json, "error")))
		return -1;
	s = json_string_value(json_object_get(e, "code"));
	*code = s != NULL ? s : "";
	s = json_string_value(json_object_get(e, "message"));
	*message = s != NULL ? s : "";
	s = json_string_value(json_object_get(e, "field"));
	*field = s != NULL ? s : "";
	return 0;
}

int
httpc_url_encode(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int is_unreserved = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';

		if (is_unreserved) {
			if (sbuf_putc(b, (char)*p) != 0)
				return -1;
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			if (sbuf_append(b, esc, 3) != 0)
				return -1;
		}
	}
	/* An empty string must still leave a terminated (empty) buffer behind. */
	return sbuf_append(b, "", 0);
}

int
httpc_query_add(struct sbuf *b, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	if (sbuf_putc(b, (b->p != NULL && strchr(b->p, '?') != NULL) ? '&' : '?') != 0 ||
	    httpc_url_encode(b, name) != 0 || sbuf_putc(b, '=') != 0 ||
	    httpc_url_encode(b, value) != 0)
		return -1;
	return 0;
}

char *
httpc_path(const char *base, const char *name, const char *suffix)
{
	struct sbuf b;

	if (name[0] == '\0')
		return NULL;
	sbuf_init(&b);
	if (sbuf_puts(&b, base) != 0 || httpc_url_encode(&b, name) != 0 ||
	    sbuf_puts(&b, suffix) != 0) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}
