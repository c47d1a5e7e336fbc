/*
 * fleet-sim's kept HTTP/1.1 connections: one per simulated agent and one for
 * the operator, each a raw client socket on the libwebsockets loop with one
 * call in flight at a time (the agent's calls are synchronous), answers
 * framed by Content-Length (outpostd frames every answer so). A connection
 * the server closed while idle is opened again for the next call; a call
 * whose connection closed before its answer goes once more on a new one, as
 * libcurl does with a kept handle. Also the small helpers the rest shares.
 */
#define _GNU_SOURCE 1
#include "fleet-sim.h"

void
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fleet-sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	g.is_failed = 1;
	g.is_done = 1;
	lws_cancel_service(g.ctx);
}

/* An error answer's message, for the operator. */
const char *
err_msg(json_t *body)
{
	const char *m = json_string_value(json_object_get(json_object_get(body, "error"),
	    "message"));

	return m != NULL ? m : "(no error message)";
}

double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* "2026-12-02T05:27:04.708Z" in ms since the epoch, or -1. */
double
rfc3339_ms(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	double frac = 0;
	const char *p;

	if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return -1;
	p = s + n;
	if (*p == '.') {
		double scale = 100;

		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (double)timegm(&tm) * 1000.0 + frac;
}

/* utime+stime of a process in clock ticks, from /proc/PID/stat; -1 if unreadable. */
long
proc_ticks(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis: state is field 3, utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

double
self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

struct sample *
sample_of(int64_t id)
{
	if (id < 1 || id >= MAX_IDS)
		return NULL;
	if (id > g.max_id)
		g.max_id = id;
	return &g.s[id];
}

/* ---- the kept HTTP/1.1 connections ---- */

static void client_send_next(struct client *c);

static void
req_free(struct req *r)
{
	free(r->buf);
	free(r);
}

static void
client_connect(struct client *c)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = g.ctx;
	i.address = g.host;
	i.port = g.port;
	i.host = g.host;
	i.origin = g.host;
	i.method = "RAW";
	i.local_protocol_name = HTTP_PROTO;
	i.userdata = c;
	i.pwsi = &c->wsi;
	c->is_connecting = 1;
	c->rxlen = 0;
	if (lws_client_connect_via_info(&i) == NULL && c->is_connecting)
		fail("cannot start a connection to %s:%d", g.host, g.port);
}

void
client_call(struct client *c, const char *method, const char *path, json_t *body, int64_t id,
    void (*done)(struct client *, struct req *, int, json_t *))
{
	struct req *r = calloc(1, sizeof(*r));
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t blen = text != NULL ? strlen(text) : 0, cap = 512 + strlen(path) + blen;
	int n;

	json_decref(body);
	if (r == NULL || (r->buf = malloc(LWS_PRE + cap)) == NULL) {
		fail("out of memory");
		free(text);
		free(r);
		return;
	}
	n = snprintf((char *)r->buf + LWS_PRE, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Authorization: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, g.host, g.port, c->auth, blen, text != NULL ? text : "");
	free(text);
	if (n < 0 || (size_t)n >= cap) {
		fail("a request to %s is too long", path);
		req_free(r);
		return;
	}
	r->len = (size_t)n;
	r->id = id;
	r->done = done;
	if (c->tail != NULL)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	client_send_next(c);
}

static void
client_send_next(struct client *c)
{
	if (c->head == NULL || c->is_sent || g.is_done)
		return;
	if (c->wsi == NULL) {
		if (!c->is_connecting)
			client_connect(c);
		return;
	}
	lws_callback_on_writable(c->wsi);
}

/* The answer to the call in flight, whole. */
static void
client_complete(struct client *c, int status, const char *body, size_t blen)
{
	struct req *r = c->head;
	json_t *j = blen > 0 ? json_loadb(body, blen, 0, NULL) : NULL;

	assert(r != NULL && c->is_sent);
	c->head = r->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->is_sent = 0;
	g.raw_body = body != NULL ? body : "";
	if (r->done != NULL)
		r->done(c, r, status, j);
	g.raw_body = NULL;
	json_decref(j);
	req_free(r);
	client_send_next(c);
}

/* Parses what arrived: each whole answer (Content-Length framed) completes a call. */
static int
client_rx(struct client *c, const char *in, size_t len)
{
	char *hend, *p;
	size_t hlen, clen;
	int status;

	if (c->rxlen + len + 1 > c->rxcap) {
		size_t cap = (c->rxlen + len + 1) * 2;
		char *nb;

		if (cap > RX_MAX || (nb = realloc(c->rx, cap)) == NULL)
			return -1;
		c->rx = nb;
		c->rxcap = cap;
	}
	memcpy(c->rx + c->rxlen, in, len);
	c->rxlen += len;
	c->rx[c->rxlen] = '\0';
	while (c->rxlen > 0) {
		if ((hend = strstr(c->rx, "\r\n\r\n")) == NULL)
			return 0;
		hlen = (size_t)(hend - c->rx) + 4;
		if (sscanf(c->rx, "HTTP/1.%*d %d", &status) != 1)
			return -1;
		clen = 0;
		/* Each header line starts after a CRLF; the status line is not one. */
		for (p = strstr(c->rx, "\r\n"); p != NULL && p < hend; p = strstr(p + 2, "\r\n")) {
			if (strncasecmp(p + 2, "content-length:", 15) == 0)
				clen = strtoul(p + 17, NULL, 10);
			else if (strncasecmp(p + 2, "transfer-encoding:", 18) == 0)
				return -1;	/* outpostd frames every answer by its length */
		}
		if (c->rxlen < hlen + clen)
			return 0;
		if (!c->is_sent || c->head == NULL)
			return -1;	/* an answer to nothing asked */
		{
			char *body = malloc(clen + 1);

			if (body == NULL)
				return -1;
			memcpy(body, c->rx + hlen, clen);
			body[clen] = '\0';
			memmove(c->rx, c->rx + hlen + clen, c->rxlen - hlen - clen + 1);
			c->rxlen -= hlen + clen;
			client_complete(c, status, body, clen);
			free(body);
		}
	}
	return 0;
}

/* The connection ended: the call in flight, unanswered, goes again once on a new one. */
static void
client_closed(struct client *c)
{
	struct req *r = c->head;

	c->wsi = NULL;
	c->is_connecting = 0;
	c->rxlen = 0;
	if (g.is_done)
		return;
	if (c->is_sent && r != NULL) {
		c->is_sent = 0;
		if (++r->tries > 1) {
			g.http_errors++;
			c->is_sent = 1;
			client_complete(c, 0, NULL, 0);
			return;
		}
	}
	if (c->head != NULL) {
		g.reconnects++;
		client_connect(c);
	}
}

int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct client *c = user;

	switch (reason) {
	case LWS_CALLBACK_RAW_CONNECTED:
		c->is_connecting = 0;
		client_send_next(c);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c != NULL) {
			c->wsi = NULL;
			c->is_connecting = 0;
			fail("connection to %s:%d: %s", g.host, g.port,
			    in != NULL ? (const char *)in : "refused");
		}
		break;
	case LWS_CALLBACK_RAW_RX:
		if (client_rx(c, in, len) != 0) {
			fail("an answer that is not HTTP/1.1 framed by Content-Length");
			return -1;
		}
		break;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (c->head == NULL || c->is_sent || g.is_done)
			break;
		c->head->sent_ms = now_ms();
		if (lws_write(wsi, c->head->buf + LWS_PRE, c->head->len, LWS_WRITE_RAW) <
		    (int)c->head->len)
			return -1;
		c->is_sent = 1;
		break;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c != NULL && c->wsi == wsi)
			client_closed(c);
		break;
	default:
		break;
	}
	return 0;
}
