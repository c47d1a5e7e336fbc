/*
 * The event-stream client: a websocket to /api/v1/events (subprotocol
 * outpost.events.v1) that subscribes from a sequence number, follows
 * {"resync"} requests, reconnects by itself with backoff, and hands the
 * caller every event exactly once, in order. It runs its own libwebsockets
 * context: either evstream_run() until evstream_stop(), or
 * evstream_service() from the caller's own loop.
 *
 * Used by `outpost events --follow`, the agent and the dashboard; it knows
 * nothing of any of them. Not thread-safe, except evstream_stop().
 */
#ifndef OUTPOST_EVSTREAM_H
#define OUTPOST_EVSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVSTREAM_SUBPROTOCOL "outpost.events.v1"
#define EVSTREAM_PATH "/api/v1/events"
#define EVSTREAM_DEFAULT_MAX_MESSAGE ((size_t)16 * 1024 * 1024)
#define EVSTREAM_BACKOFF_MIN_MS 100
#define EVSTREAM_BACKOFF_MAX_MS 5000

enum evstream_state {
	EVSTREAM_CONNECTING,	/* an attempt starts */
	EVSTREAM_CONNECTED,	/* handshake done, subscription sent */
	EVSTREAM_DISCONNECTED,	/* an attempt failed or the connection was lost */
	EVSTREAM_RECONNECTING	/* the next attempt is scheduled (retry_in_ms) */
};

struct evstream_status {
	enum evstream_state state;
	const char *reason;	/* DISCONNECTED: why; else NULL */
	int http_status;	/* the server refused the upgrade with this status, else 0 */
	unsigned attempt;	/* failed attempts in a row so far */
	int64_t retry_in_ms;	/* RECONNECTING: delay before the next attempt */
	int64_t last_seq;	/* the last event delivered */
	int64_t resume_seq;	/* where the next subscription starts (>= last_seq) */
	int has_connected;	/* was the stream ever established */
};

struct evstream_opts {
	const char *url;	/* server base: http[s]:// or ws[s]://host[:port][/prefix] */
	const char *token;	/* bearer token, or NULL */
	int64_t since;		/* deliver events after this sequence number */
	const char *const *types;	/* NULL-terminated patterns ("instance.*"); NULL: all */
	const char *worker;	/* only the events of this worker (name or id); NULL: all */
	size_t max_message;	/* bound on one message; 0: EVSTREAM_DEFAULT_MAX_MESSAGE */
	int ping_secs;		/* idle seconds before a PING; 0: 30 */
	const char *ca_file;	/* the CAs of a wss:// server, PEM; NULL: the system's */

	/* Each event, borrowed: json_incref() it to keep it. seq > every seq before. */
	void (*on_event)(void *arg, json_t *event);
	/* The replay after a (re)subscription is done; live events follow. */
	void (*on_caught_up)(void *arg, int64_t seq);
	void (*on_state)(void *arg, const struct evstream_status *st);
	/*
	 * The server could not use our subscription ({"error": ...}); the
	 * connection stays open. Strings are "" when absent.
	 */
	void (*on_error)(void *arg, const char *code, const char *message, const char *field);
	void *arg;
};

/* The parts of a server URL the stream needs. */
struct evstream_url {
	int is_tls;
	char host[256];		/* without brackets for IPv6 literals */
	int port;
	char path[512];		/* prefix + EVSTREAM_PATH */
	char host_header[280];	/* host[:port], with brackets for IPv6 */
};

/* Parses url; on error returns -1 with what is wrong in err. */
int evstream_url_parse(const char *url, struct evstream_url *out, char *err, size_t errlen);
/* The delay before reconnect attempt n (0-based): 100 ms doubling up to 5 s. */
int64_t evstream_backoff_ms(unsigned attempt);

struct evstream;

/*
 * Copies what it needs from opts; the first connection attempt starts with
 * the first evstream_run() or evstream_service(). Returns NULL with err.
 * It also sends libwebsockets' own errors and warnings to log.h at debug
 * level (lws's log setting is process-wide: a program that uses lws for
 * more than this sets its own after).
 */
struct evstream *evstream_new(const struct evstream_opts *opts, char *err, size_t errlen);
/* Closes the connection and frees everything; callbacks are not called. */
void evstream_free(struct evstream *es);

/* Services the stream until evstream_stop(). Returns 0, or -1 if it could not run. */
int evstream_run(struct evstream *es);
/*
 * Services what is ready, waiting up to timeout_ms (0: do not wait) for
 * something to happen. Returns 1 once evstream_stop() was called, else 0.
 */
int evstream_service(struct evstream *es, int timeout_ms);
/*
 * Asks the stream to stop: safe from callbacks and from a signal handler
 * (it sets a flag and wakes the loop); no callback is called after it.
 */
void evstream_stop(struct evstream *es);
/*
 * Ends the wait of an evstream_service() under way (or the next one) without
 * stopping anything: safe from a signal handler, so a program that waits in
 * evstream_service() hears its SIGCHLD or SIGTERM at once.
 */
void evstream_wake(struct evstream *es);

/*
 * Watches fd (a terminal, a pipe) in the stream's own loop, so that one
 * program waits for its input and its events in one poll(): on_readable is
 * called from evstream_service() when fd has something to read, and reads
 * it itself. One descriptor per stream; the stream closes fd when it is
 * freed (give it a dup() of one that must stay open). Returns 0, or -1.
 */
int evstream_watch_fd(struct evstream *es, int fd, void (*on_readable)(void *arg), void *arg);

/*
 * Handles one whole message as if the server had sent it (the stream's own
 * receive path calls the same code): for the fuzz harness of the handler.
 */
void evstream_feed(struct evstream *es, const char *text, size_t len);

/* The sequence number of the last event delivered (opts.since at first). */
int64_t evstream_last_seq(const struct evstream *es);

/*
 * The subscribe message for since, types and worker (NULL: none), as the
 * server expects it. Returns a string the caller frees, or NULL.
 */
char *evstream_subscribe_message(int64_t since, const char *const *types, const char *worker);

#endif
