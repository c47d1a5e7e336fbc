/*
 * The server's edge, where the network meets it: the TLS listener (tls.c),
 * who the client is (clientaddr.c) and the front door (http_door.c), which
 * decides what a connection and a request's framing may cost before anyone
 * knows who sent them. Included by server.h; apart only to keep that short.
 */
#ifndef OUTPOST_EDGE_H
#define OUTPOST_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct route;
struct server_config;

/* ---- the TLS listener (tls.c) ---- */
/* Are tls_cert and tls_key readable PEM and each other's? 0, or -1 with err. */
int tls_check(const struct server_config *c, char *err, size_t errlen);
/*
 * With tls_listen set, makes the TLS vhost from info (a plain vhost's, which
 * it changes). Returns 0 (also with none), or -1 with err.
 */
int tls_listen(struct lws_context *lws, struct lws_context_creation_info *info,
    const struct server_config *c, char *err, size_t errlen);
/* The TLS vhost's port, or -1 with none. */
int tls_port(struct lws_context *lws);
/* The vhost's SSL_CTX, as libwebsockets makes it (http.c's callback hands it over). */
void tls_took_ssl_ctx(void *ssl_ctx);
/* SIGHUP: the files again, into the running vhost. 0, or -1 with err (the old pair kept). */
int tls_reload(const struct server_config *c, char *err, size_t errlen);

/* ---- client addresses (clientaddr.c) ---- */
#define ADDR_LIST_MAX 32
#define ADDR_TEXT_BUF 64	/* an IPv6 address as text, with room */

/* Addresses and networks: "10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8". */
struct addr_list {
	int n;
	struct addr_net {
		int family;		/* AF_INET or AF_INET6 */
		unsigned char addr[16];	/* network order; 4 bytes for AF_INET */
		int prefix;		/* bits that must match */
	} e[ADDR_LIST_MAX];
};

/* A comma list into l (empty: none). Returns 0, or -1 with why naming the bad entry. */
int addr_list_parse(const char *s, struct addr_list *l, char *why, size_t whylen);
/* Is the address (text) inside one of l's networks? */
int addr_list_has(const struct addr_list *l, const char *addr);
/*
 * Who the client is: peer when it is not a trusted proxy; else the right-most
 * address of X-Forwarded-For (xff, may be NULL) that is not a trusted proxy
 * (or the left-most, when they all are). An entry that is not an address
 * stops the walk there: the peer (or the last good entry) is the answer.
 * Writes the address into out and returns whether a trusted proxy spoke.
 */
int client_address(const char *peer, const char *xff, const struct addr_list *trusted,
    char *out, size_t outlen);
/*
 * Whether a caller's X-Request-Id may be the request's id (in its log line
 * and answer): 1 to REQUEST_ID_MAX letters, digits and "-_.:".
 */
int request_id_is_sane(const char *s);

/* ---- the front door: connections, framing, a body's clock (http_door.c) ---- */
#define DOOR_DRAIN_MS 2000	/* a refused body is read and dropped this long at most, */
#define DOOR_DRAIN_BYTES (2LL * 1024 * 1024)	/* and this much, before the close */
struct door_body {
	lws_sorted_usec_list_t sul;
	struct lws *wsi;
	void (*on_expiry)(struct door_body *b);	/* the deadline passed while reading */
	long long drain_left;	/* bytes a refused body may still send */
	int is_draining;	/* answered: what comes is dropped */
	int is_expired;
};
int door_conn_open(struct lws *wsi, const struct server_config *cfg);
void door_conn_close(const struct lws *wsi);
int door_conn_is_over(const struct lws *wsi);
void door_free(void);
int door_content_length(struct lws *wsi, long long *len, char *why, size_t whylen);
int door_request_line_is_cut(struct lws *wsi);
long long door_body_cap(const struct route *r);
void door_body_arm(struct door_body *b, struct lws *wsi, int64_t ms,
    void (*on_expiry)(struct door_body *b));
void door_body_drain(struct door_body *b, struct lws *wsi, long long content_length);
int door_body_take(struct door_body *b, size_t len);
void door_body_stop(struct door_body *b);

#endif
