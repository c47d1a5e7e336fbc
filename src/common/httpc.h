/*
 * A small synchronous HTTP client over libcurl for Outpost's JSON API: one
 * handle per server, kept alive between requests; bearer token; bounded
 * responses; a transport failure (no connection, DNS, timeout) is told apart
 * from an HTTP answer. It knows the API's error shape and nothing else of any
 * program: the CLI, the agent and the TUI all use it.
 *
 * Not thread-safe: use one struct httpc per thread.
 */
#ifndef OUTPOST_HTTPC_H
#define OUTPOST_HTTPC_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define HTTPC_DEFAULT_MAX_BODY ((size_t)64 * 1024 * 1024)
#define HTTPC_DEFAULT_CONNECT_MS 5000
#define HTTPC_DEFAULT_TOTAL_MS 30000

/* Why a request got no HTTP answer. */
enum httpc_fail {
	HTTPC_FAIL_NONE,	/* an HTTP answer came back (any status) */
	HTTPC_FAIL_CONNECT,	/* refused, unreachable, reset, TLS handshake */
	HTTPC_FAIL_DNS,		/* the host name did not resolve */
	HTTPC_FAIL_TIMEOUT,	/* connect or total timeout */
	HTTPC_FAIL_TOO_LARGE,	/* the body passed the size bound */
	HTTPC_FAIL_OTHER	/* bad URL, out of memory, protocol error */
};

struct httpc_resp {
	int status;		/* HTTP status; 0 when fail != HTTPC_FAIL_NONE */
	enum httpc_fail fail;
	char *body;		/* NUL-terminated, never NULL after httpc_request */
	size_t body_len;
	json_t *json;		/* the body parsed, when it is JSON; else NULL */
	char content_type[128];
	long retry_after;	/* seconds from Retry-After, or -1 */
	char error[512];	/* what went wrong, for fail != HTTPC_FAIL_NONE */
};

struct httpc;

/*
 * base_url is "http[s]://host[:port][/prefix]"; token may be NULL (no
 * Authorization header). Both are copied. Returns NULL on out of memory or
 * when libcurl cannot start.
 */
struct httpc *httpc_new(const char *base_url, const char *token);
void httpc_free(struct httpc *h);

/* Timeouts in milliseconds; 0 leaves the current value. */
void httpc_set_timeouts(struct httpc *h, long connect_ms, long total_ms);
void httpc_set_max_body(struct httpc *h, size_t max);
/* The User-Agent header; copied. */
int httpc_set_user_agent(struct httpc *h, const char *ua);
/* The CAs (a PEM file) a https:// server's certificate must chain to; NULL or "": the system's. */
int httpc_set_ca_file(struct httpc *h, const char *path);
const char *httpc_base_url(const struct httpc *h);
/* A W3C traceparent sent with the next request alone (NULL: none). */
void httpc_set_traceparent(struct httpc *h, const char *tp);

/*
 * Sends method (GET, POST, PUT, PATCH, DELETE) to base_url + path (which
 * starts with '/' and may carry a query). json_body, when not NULL, is sent
 * with Content-Type: application/json; a POST without one sends an empty
 * body. Fills *resp (which the caller frees with httpc_resp_free, whatever
 * the result). Returns 0 when an HTTP answer came back, whatever its status,
 * or -1 on a transport failure (resp->fail and resp->error say which).
 */
int httpc_request(struct httpc *h, const char *method, const char *path,
    const char *json_body, struct httpc_resp *resp);
void httpc_resp_init(struct httpc_resp *r);
void httpc_resp_free(struct httpc_resp *r);

/*
 * The API's error answer {"error": {"code", "message", "field"}}: sets the
 * three pointers (into resp->json; "" when absent) and returns 0, or -1 when
 * the body is not such an error.
 */
int httpc_resp_error(const struct httpc_resp *r, const char **code, const char **message,
    const char **field);

/* Appends s percent-encoded (RFC 3986: all but A-Z a-z 0-9 - . _ ~). */
int httpc_url_encode(struct sbuf *b, const char *s);
/*
 * Appends "?name=value" or "&name=value" (whichever fits what b holds so
 * far), both encoded. A NULL value appends nothing.
 */
int httpc_query_add(struct sbuf *b, const char *name, const char *value);
/*
 * base + name percent-encoded + suffix ("/api/v1/workers/", "local-1",
 * "/drain"), to free; NULL for an empty name or when out of memory.
 */
char *httpc_path(const char *base, const char *name, const char *suffix);

#endif
