/*
 * The front door: what a connection and a request's framing may cost before
 * anyone knows who sent them. It owns the table of open connections (each
 * counted against max_connections and max_connections_per_address from its
 * accept to its close, websockets too), the check of Content-Length (one
 * header of plain digits), the sign of a request line that an encoded CR or
 * LF cut short, and a request body's clock: an absolute deadline from the
 * headers that body chunks do not move, and the bounded drain of a body
 * refused before it was read, so the client, still sending, reads the answer.
 *
 * It never decides who may do what (http_auth.c does) and writes no answer
 * itself: http.c writes them. Everything here runs on the loop.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server.h"

/*
 * Connections over a cap are let in only to be answered 503; this many at
 * most wait for their request at once, the rest are closed at accept.
 */
#define OVER_CAP_MAX 64

struct door_conn {
	const struct lws *wsi;
	unsigned char addr[16];	/* IPv6, or IPv4 mapped into it */
	int is_over;		/* over a cap: its request gets 503 */
};

static struct door_conn *conns;
static size_t nconns, cap_conns;
static size_t nover;	/* how many of conns are over a cap */

/* The peer's address as 16 bytes (IPv4 as ::ffff:a.b.c.d); -1 when it has none. */
static int
peer_addr(struct lws *wsi, unsigned char out[16])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = lws_get_socket_fd(wsi);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	memset(out, 0, 16);
	if (ss.ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	} else {
		return -1;	/* a unix socket: one peer, the total cap holds it */
	}
	return 0;
}

/* Is the address (as peer_addr() gives it) one of trusted_proxies? */
static int
is_trusted_proxy(const unsigned char addr[16], const struct server_config *cfg)
{
	char text[ADDR_TEXT_BUF];

	if (cfg->trusted_proxies.n == 0 ||
	    inet_ntop(AF_INET6, addr, text, sizeof(text)) == NULL)
		return 0;
	return addr_list_has(&cfg->trusted_proxies, text);	/* ::ffff:a.b.c.d is a.b.c.d */
}

/*
 * A connection was accepted: count it. Over either cap it is kept, marked,
 * so that its request is answered 503 with Retry-After rather than met by a
 * closed socket the client would retry at once; -1 (close it now) when
 * OVER_CAP_MAX such connections wait already. O(connections): at the
 * default cap of 1024 a scan of 24 KiB.
 */
int
door_conn_open(struct lws *wsi, const struct server_config *cfg)
{
	struct door_conn *c;
	unsigned char addr[16];
	int64_t same = 0, total = 0;

	if (peer_addr(wsi, addr) != 0)
		memset(addr, 0, sizeof(addr));
	for (size_t i = 0; i < nconns; i++) {
		if (conns[i].is_over)
			continue;
		total++;
		if (memcmp(conns[i].addr, addr, sizeof(addr)) == 0)
			same++;
	}
	if (nconns == cap_conns) {
		size_t ncap = cap_conns ? cap_conns * 2 : 64;
		struct door_conn *n = realloc(conns, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		conns = n;
		cap_conns = ncap;
	}
	c = &conns[nconns];
	c->wsi = wsi;
	memcpy(c->addr, addr, sizeof(addr));
	/* A trusted proxy speaks for many clients: only the total holds it. */
	c->is_over = total >= cfg->max_connections ||
	    (same >= cfg->max_connections_per_address && !is_trusted_proxy(addr, cfg));
	if (c->is_over) {
		if (nover >= OVER_CAP_MAX)
			return -1;
		nover++;
	}
	nconns++;
	return 0;
}

static struct door_conn *
conn_find(const struct lws *wsi)
{
	for (size_t i = 0; i < nconns; i++)
		if (conns[i].wsi == wsi)
			return &conns[i];
	return NULL;
}

/* A connection closed (any wsi: the ones never counted are not found). O(connections). */
void
door_conn_close(const struct lws *wsi)
{
	struct door_conn *c = conn_find(wsi);

	if (c == NULL)
		return;
	if (c->is_over) {
		assert(nover > 0);
		nover--;
	}
	*c = conns[--nconns];
}

int
door_conn_is_over(const struct lws *wsi)
{
	const struct door_conn *c = conn_find(wsi);

	return c != NULL && c->is_over;
}

void
door_free(void)
{
	free(conns);
	conns = NULL;
	nconns = cap_conns = nover = 0;
}

/*
 * The Content-Length header: 0 when there is none, 1 with *len, or -1 with
 * why. One header, plain digits: two headers (which libwebsockets would join
 * as "5,45"), a list, a sign or spaces are refused, since a proxy in front
 * may read them otherwise and frame the next request differently.
 */
int
door_content_length(struct lws *wsi, long long *len, char *why, size_t whylen)
{
	char buf[32];
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

	*len = 0;
	if (n <= 0)
		return 0;
	if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0) {
		snprintf(why, whylen, "the request has more than one Content-Length header");
		return -1;
	}
	if (n > 18 || lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) != n ||
	    strspn(buf, "0123456789") != (size_t)n) {
		snprintf(why, whylen, "Content-Length must be one number of bytes, 0 to 18 digits");
		return -1;
	}
	*len = strtoll(buf, NULL, 10);
	return 1;
}

/*
 * Did an encoded CR or LF (%0d, %0a) end the request line early? The
 * parser of libwebsockets decodes the target as it reads it and takes a
 * decoded CR or LF for the end of the line: the rest of the query is then
 * lost and the line has no HTTP version. HTTP/2 has no request line.
 */
int
door_request_line_is_cut(struct lws *wsi)
{
	return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP) <= 0 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_PATH) <= 0;
}

/* The largest body route r takes. */
long long
door_body_cap(const struct route *r)
{
	return r != NULL && (r->flags & ROUTE_SMALL_BODY) ? SMALL_BODY : MAX_BODY;
}

/* ---- a body's clock ---- */

static void
body_fired(lws_sorted_usec_list_t *sul)
{
	struct door_body *b = lws_container_of(sul, struct door_body, sul);

	assert(b->wsi != NULL);
	b->is_expired = 1;
	if (!b->is_draining && b->on_expiry != NULL)
		b->on_expiry(b);
	/* Closed on the loop's next turn; a chunk read before that closes it too. */
	lws_set_timeout(b->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* A body is coming: it must be whole within ms of now, however its chunks come. */
void
door_body_arm(struct door_body *b, struct lws *wsi, int64_t ms,
    void (*on_expiry)(struct door_body *b))
{
	lws_sul_cancel(&b->sul);
	b->wsi = wsi;
	b->on_expiry = on_expiry;
	b->is_draining = 0;
	b->is_expired = 0;
	lws_sul_schedule(lws_get_context(wsi), 0, &b->sul, body_fired, ms * LWS_US_PER_MS);
}

/*
 * The request was answered before its body of content_length bytes was
 * read: read and drop at most DOOR_DRAIN_BYTES of it for DOOR_DRAIN_MS,
 * then close.
 */
void
door_body_drain(struct door_body *b, struct lws *wsi, long long content_length)
{
	door_body_arm(b, wsi, DOOR_DRAIN_MS, NULL);
	b->is_draining = 1;
	b->drain_left = content_length < DOOR_DRAIN_BYTES ? content_length : DOOR_DRAIN_BYTES;
}

/*
 * A chunk of len bytes came: -1 to close the connection (past the deadline,
 * or more than the drain takes), 1 to drop it (draining), 0 to keep it.
 */
int
door_body_take(struct door_body *b, size_t len)
{
	if (b->is_expired)
		return -1;
	if (!b->is_draining)
		return 0;
	if ((long long)len >= b->drain_left)
		return -1;
	b->drain_left -= (long long)len;
	return 1;
}

void
door_body_stop(struct door_body *b)
{
	lws_sul_cancel(&b->sul);
	b->is_draining = 0;
}
