/*
 * The event stream over a websocket (subprotocol outpost.events.v1).
 *
 * A client sends {"subscribe": {"since": N, "types": [...]}}. The server
 * replays every matching event after N, sends {"caught_up": LAST}, then
 * streams live events as they commit. A client more than ws_max_lag events
 * behind while live is sent {"resync": {"from": S}} (S is the last sequence
 * number it was sent) and nothing more until it subscribes again: it never
 * misses an event silently, and a slow client never makes the server hold
 * an unbounded queue for it, since every event is read back from the ring or
 * the table on demand.
 *
 * A subscription may also name a worker ({"worker": "w1"}): only the events
 * that concern it (its own, and its instances') are sent. An agent's token
 * must name its own worker (http_agent_acts_for), and sees nothing else:
 * that is how an agent is pushed its work without reading the rest of the
 * site. A join token opens no stream. A stream ends at once when its token
 * is revoked or its worker is terminated: each of those writes an event, the
 * sync that makes it visible wakes every client, and each looks before it
 * sends. A token or session that expires by time writes no event: its stream
 * is sent nothing more and ends at the next wake (or the ping timeout).
 *
 * Each event is a message of its own; a writeable callback sends as many
 * as the socket takes at once (up to WS_BATCH_MAX), so a client catching up
 * costs one wakeup per socket buffer, not one per event. A live client is
 * woken once per sync and, once it has sent what is visible, is not woken
 * again until the next.
 *
 * Fan-out: the last event sent is kept rendered once, with lws's headroom
 * before it (shared); every client whose next event it is writes it from
 * there, with no read from the ring and no copy. The frame header lws puts
 * in the headroom is the same for every client (a server does not mask).
 *
 * The connected clients are on an lws_dll2 list so that /metrics can say
 * how far behind the newest event the slowest subscribed one is, and how
 * many resyncs were sent.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MAX_TYPES WS_SUB_MAX_TYPES
#define MAX_MSG (64 * 1024)
#define WS_BATCH_MAX 256		/* events a writeable callback sends at most */
#define WS_BATCH_BYTES (256 * 1024)

enum ws_phase { WS_IDLE, WS_REPLAY, WS_LIVE, WS_PAUSED };

struct ws_client {
	struct lws *wsi;
	enum ws_phase phase;
	int64_t cursor;			/* last seq sent or skipped */
	char *types[MAX_TYPES];
	int ntypes;
	int64_t worker_id;		/* 0: every worker's events */
	struct sbuf rx;
	char *control;			/* a control message waiting to be sent */
	struct auth_token tok;
	struct lws_dll2 node;		/* on clients while established */
};

static lws_dll2_owner_t clients;
static unsigned long long resyncs;

/* The last event sent, rendered once: LWS_PRE bytes of headroom, then its text. */
static struct {
	int64_t seq;			/* 0: none */
	char type[48];
	int64_t worker_id;
	unsigned char *buf;
	size_t len, cap;
} shared;

static void
client_unlist(struct ws_client *c)
{
	if (c->node.owner != NULL)
		lws_dll2_remove(&c->node);
}

/* O(clients): replaying or live ones only; idle and paused ones are sent nothing. */
void
events_ws_stats(struct store *s, int64_t *max_lag, unsigned long long *nresyncs)
{
	int64_t last = events_last_seq(s);

	*max_lag = 0;
	lws_start_foreach_dll(struct lws_dll2 *, d, clients.head) {
		struct ws_client *c = lws_container_of(d, struct ws_client, node);

		if ((c->phase == WS_REPLAY || c->phase == WS_LIVE) && last - c->cursor > *max_lag)
			*max_lag = last - c->cursor;
	} lws_end_foreach_dll(d);
	*nresyncs = resyncs;
}

static void
client_free(struct ws_client *c)
{
	client_unlist(c);
	for (int i = 0; i < c->ntypes; i++)
		free(c->types[i]);
	sbuf_free(&c->rx);
	free(c->control);
	free(c);
}

/*
 * O(clients). Called after each commit and after each sync; only a sync
 * makes events visible, so a wake that would find nothing new to send (the
 * commit's, before its sync) is skipped: it would cost every client a
 * writeable callback for nothing.
 */
void
events_ws_wake(void *ctx)
{
	static int64_t woken_at = -1;
	struct lws_context *lc = ctx;
	int64_t visible;

	if (lc == NULL || clients.count == 0)
		return;
	visible = store_visible_seq(the_app->store);
	if (visible == woken_at)
		return;
	woken_at = visible;
	lws_callback_on_writable_all_protocol(lc, &server_protocols[1]);
}

static int
send_text(struct lws *wsi, const char *text)
{
	size_t n = strlen(text);
	unsigned char *buf = malloc(LWS_PRE + n);
	int rc;

	if (buf == NULL)
		return -1;
	memcpy(buf + LWS_PRE, text, n);
	rc = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
	free(buf);
	return rc < (int)n ? -1 : 0;
}

static void
set_control(struct ws_client *c, json_t *msg)
{
	free(c->control);
	c->control = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	lws_callback_on_writable(c->wsi);
}

static void
refuse(struct ws_client *c, const char *code, const char *field, const char *message)
{
	set_control(c, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code,
	    "message", message, "field", field));
}

/*
 * A client's message, checked whole: 0 with sub filled in (its types
 * strdup'd: ws_subscribe_free), or -1 with err (code, field, message) and
 * nothing to free. Nothing here depends on the connection, so the fuzz
 * harness calls it as the callback does.
 */
int
ws_subscribe_parse(const char *p, size_t len, const struct auth_token *tok,
    struct ws_subscribe *sub_out, struct op_err *err)
{
	json_t *msg = json_loadb(p ? p : "", len, 0, NULL);
	json_t *sub, *since, *types, *worker;
	int64_t worker_id = 0;
	size_t i;
	int rc = -1;

	memset(sub_out, 0, sizeof(*sub_out));
	if (msg == NULL || !json_is_object(msg)) {
		op_err_set(err, 400, "invalid_argument", "",
		    "messages must be JSON objects such as {\"subscribe\":{\"since\":0}}");
		goto out;
	}
	sub = json_object_get(msg, "subscribe");
	if (!json_is_object(sub)) {
		op_err_set(err, 400, "invalid_argument", "subscribe",
		    "the only message a client sends is {\"subscribe\":{...}}");
		goto out;
	}
	{
		const char *k;
		json_t *v;

		json_object_foreach(sub, k, v) {
			if (strcmp(k, "since") != 0 && strcmp(k, "types") != 0 &&
			    strcmp(k, "worker") != 0) {
				op_err_set(err, 400, "invalid_argument", "subscribe",
				    "a subscribe takes since, types and worker only");
				goto out;
			}
		}
	}
	since = json_object_get(sub, "since");
	types = json_object_get(sub, "types");
	worker = json_object_get(sub, "worker");
	if (worker != NULL && !json_is_null(worker)) {
		char idbuf[24];
		const char *ref = idbuf;

		/* A name, or an id as a number or a string. */
		if (json_is_integer(worker) && json_integer_value(worker) > 0) {
			snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(worker));
		} else if (json_is_string(worker) && json_string_length(worker) > 0 &&
		    json_string_length(worker) <= 63) {
			ref = json_string_value(worker);
		} else {
			op_err_set(err, 400, "invalid_argument", "subscribe.worker",
			    "worker is a worker's name or id");
			goto out;
		}
		/* An agent's own worker only: any other name is refused before it is looked up. */
		if (tok->role == ROLE_AGENT && (json_is_string(worker) ?
		    http_agent_acts_for(tok, ref, "subscribe.worker", err) != 0 :
		    json_integer_value(worker) != tok->worker_id)) {
			if (err->code == NULL)
				op_err_set(err, 403, "forbidden", "subscribe.worker", "token %s acts "
				    "for worker %s only", tok->name, tok->worker);
			goto out;
		}
		if (worker_resolve(the_app->store, ref, &worker_id, err) != 0) {
			/* Not found, or the store failed: a protocol error either way. */
			err->http = 400;
			err->code = "invalid_argument";
			snprintf(err->field, sizeof(err->field), "%s", "subscribe.worker");
			goto out;
		}
	} else if (tok->role == ROLE_AGENT) {
		op_err_set(err, 400, "invalid_argument", "subscribe.worker",
		    "an agent's subscription names its worker");
		goto out;
	}
	if (since != NULL && (!json_is_integer(since) || json_integer_value(since) < 0)) {
		op_err_set(err, 400, "invalid_argument", "subscribe.since",
		    "since must be a sequence number, 0 or more");
		goto out;
	}
	if (types != NULL && !json_is_null(types) &&
	    (!json_is_array(types) || json_array_size(types) > MAX_TYPES)) {
		op_err_set(err, 400, "invalid_argument", "subscribe.types",
		    "types must be an array of at most 16 strings");
		goto out;
	}
	if (json_is_array(types)) {
		json_t *t;

		json_array_foreach(types, i, t) {
			if (!json_is_string(t) || json_string_length(t) == 0 ||
			    json_string_length(t) > 47) {
				op_err_set(err, 400, "invalid_argument", "subscribe.types",
				    "each type is a string such as \"instance.state\" or \"instance.*\"");
				goto out;
			}
		}
		json_array_foreach(types, i, t) {
			sub_out->types[sub_out->ntypes] = strdup(json_string_value(t));
			if (sub_out->types[sub_out->ntypes] == NULL) {
				ws_subscribe_free(sub_out);
				op_err_set(err, 500, "internal", "", "out of memory");
				goto out;
			}
			sub_out->ntypes++;
		}
	}
	sub_out->worker_id = worker_id;
	sub_out->since = since ? json_integer_value(since) : 0;
	rc = 0;
out:
	json_decref(msg);
	return rc;
}

void
ws_subscribe_free(struct ws_subscribe *sub)
{
	for (int k = 0; k < sub->ntypes; k++)
		free(sub->types[k]);
	sub->ntypes = 0;
}

static void
handle_message(struct ws_client *c)
{
	struct ws_subscribe sub;
	struct op_err err = { 0 };

	if (ws_subscribe_parse(c->rx.p, c->rx.len, &c->tok, &sub, &err) != 0) {
		/* A refused subscribe keeps the old one. */
		refuse(c, err.code ? err.code : "internal", err.field, err.message);
		return;
	}
	for (int k = 0; k < c->ntypes; k++)
		free(c->types[k]);
	memcpy(c->types, sub.types, sizeof(c->types));
	c->ntypes = sub.ntypes;
	c->worker_id = sub.worker_id;
	c->cursor = sub.since;
	/* Never past what is on disk: caught_up must not name an event a crash could lose. */
	if (c->cursor > store_visible_seq(the_app->store))
		c->cursor = store_visible_seq(the_app->store);
	c->phase = WS_REPLAY;
	lws_callback_on_writable(c->wsi);
}

static int
worker_is_terminated(int64_t id)
{
	int64_t n = 0;

	if (store_exec(the_app->store, &n, "SELECT count(*) FROM workers WHERE id = ?1 AND "
	    "state = 'terminated'", "i", id) != 0)
		return 0;
	return n > 0;
}

/* Keeps ev's text as the shared rendering (ev stays the caller's). */
static int
shared_set(const struct event_row *ev)
{
	size_t n = strlen(ev->json);

	if (LWS_PRE + n > shared.cap) {
		size_t cap = LWS_PRE + n + 1024;
		unsigned char *p = realloc(shared.buf, cap);

		if (p == NULL)
			return -1;
		shared.buf = p;
		shared.cap = cap;
	}
	memcpy(shared.buf + LWS_PRE, ev->json, n);
	shared.len = n;
	shared.seq = ev->seq;
	snprintf(shared.type, sizeof(shared.type), "%s", ev->type);
	shared.worker_id = ev->worker_id;
	return 0;
}

void
events_ws_free(void)
{
	free(shared.buf);
	memset(&shared, 0, sizeof(shared));
}

/*
 * Whether the shared rendering is still an event the ring holds: one pruned
 * (events_forget) is gone from the ring and the table, and is not sent.
 */
static int
shared_is_held(void)
{
	int64_t count;
	size_t bytes;

	events_ring_stats(&count, &bytes);
	return shared.seq != 0 && shared.seq > events_last_seq(the_app->store) - count;
}

/*
 * The client's next event into the shared rendering: 1 (shared holds it),
 * 0 (nothing more visible; the cursor moved past what the filter skipped),
 * or -1. O(1) when another client has just sent it, else one events_read.
 */
static int
next_event(struct ws_client *c, int64_t last)
{
	struct event_filter f;
	struct event_row ev;
	int64_t scanned;
	int n;

	if (shared.seq == c->cursor + 1 && shared_is_held()) {
		assert(shared.seq <= last);
		if ((c->worker_id == 0 || shared.worker_id == c->worker_id) &&
		    events_type_matches(shared.type, (const char *const *)c->types, c->ntypes))
			return 1;
		c->cursor = shared.seq;		/* not for this client: skipped */
		return c->cursor < last ? next_event(c, last) : 0;
	}
	f.types = (const char *const *)c->types;
	f.ntypes = c->ntypes;
	f.worker_id = c->worker_id;
	n = events_read(the_app->store, c->cursor, &f, 1, 0, &ev, &scanned);
	if (n <= 0) {
		if (n == 0)
			c->cursor = scanned < last ? scanned : last;
		return n;
	}
	if (ev.seq > last) {
		/* Not yet on disk (the sync wakes us): nothing up to last was for this client. */
		event_row_free(&ev);
		c->cursor = last;
		return 0;
	}
	n = shared_set(&ev);
	event_row_free(&ev);
	return n == 0 ? 1 : -1;
}

static int
writeable(struct ws_client *c)
{
	/* The last event on disk: one committed this turn waits for its sync (store_sync.c). */
	int64_t last = store_visible_seq(the_app->store);
	int n;

	/* Revocation is at once, for streams too: a revoked or expired token ends it. */
	if (!auth_is_live(c->tok.id) ||
	    (c->tok.session_id != 0 && !session_is_live(c->tok.session_id))) {
		log_info("ws.closed", "actor", c->tok.name, "reason", "token revoked or expired", NULL);
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    (unsigned char *)"token revoked or expired", 24);
		return -1;
	}
	/* So is a worker's end: its token acts for nothing any more. One indexed read. */
	if (c->tok.worker_id != 0 && worker_is_terminated(c->tok.worker_id)) {
		log_info("ws.closed", "actor", c->tok.name, "reason", "worker terminated", NULL);
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    (unsigned char *)"worker terminated", 17);
		return -1;
	}
	if (c->control != NULL) {
		char *m = c->control;

		c->control = NULL;
		n = send_text(c->wsi, m);
		free(m);
		if (n != 0)
			return -1;
		if (c->phase != WS_IDLE && c->phase != WS_PAUSED)
			lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->phase == WS_IDLE || c->phase == WS_PAUSED)
		return 0;
	if (c->phase == WS_LIVE && last - c->cursor > the_app->cfg.ws_max_lag) {
		c->phase = WS_PAUSED;
		resyncs++;
		set_control(c, json_pack("{s:{s:I}}", "resync", "from", (json_int_t)c->cursor));
		return 0;
	}
	/*
	 * As many events as the socket takes now, each its own message, up to
	 * a bound so that one client catching up does not hold the loop.
	 */
	for (int k = 0, bytes = 0; k < WS_BATCH_MAX && bytes < WS_BATCH_BYTES &&
	    c->cursor < last; k++) {
		n = next_event(c, last);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		assert(shared.seq > c->cursor && shared.seq <= last);
		/* lws writes the frame header into the headroom before the text */
		if (lws_write(c->wsi, shared.buf + LWS_PRE, shared.len, LWS_WRITE_TEXT) <
		    (int)shared.len)
			return -1;
		bytes += (int)shared.len;
		c->cursor = shared.seq;
		/*
		 * The kernel did not take it all (lws keeps the rest): the socket is
		 * full. Not lws_send_pipe_choked(): that is a poll() each time, a
		 * syscall per client per event in a fan-out.
		 */
		if (lws_partial_buffered(c->wsi))
			break;
	}
	if (c->cursor < last) {
		/* the socket is full, or the batch's bound: on with the rest when it drains */
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->phase == WS_REPLAY) {
		c->phase = WS_LIVE;
		set_control(c, json_pack("{s:I}", "caught_up", (json_int_t)c->cursor));
	}
	/* A live client that has sent what is visible waits for the next sync's wake. */
	return 0;
}

static int
auth_upgrade(struct lws *wsi, struct auth_token *tok)
{
	char uri[64], auth[1024];
	const char *t;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, "/api/v1/events") != 0)
		return -1;
	if (the_app->is_draining)
		return -1;
	if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
	    strncasecmp(auth, "Bearer ", 7) != 0) {
		/* A browser: its session cookie, from this server's own pages only. */
		return ws_cookie_auth(wsi, tok) == WS_COOKIE_OK ? 0 : -1;
	}
	t = auth + 7;
	while (*t == ' ')
		t++;
	/* A join token only registers: the stream is a worker's own token's. */
	if (auth_check(t, tok) != 0 ||
	    (tok->role != ROLE_AGENT && !role_allows(tok->role, ROLE_VIEWER)) ||
	    (tok->role == ROLE_AGENT && tok->worker_id == 0))
		return -1;
	return 0;
}

int
events_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	struct ws_client **slot = user, *c = slot ? *slot : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		struct auth_token tok;

		if (auth_upgrade(wsi, &tok) != 0) {
			log_info("ws.refused", "reason", "bad path, token or role", NULL);
			return 1;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return 1;
		c->wsi = wsi;
		c->tok = tok;
		sbuf_init(&c->rx);
		*slot = c;
		return 0;
	}
	case LWS_CALLBACK_ESTABLISHED:
		if (c == NULL)
			return -1;
		metrics_ws_clients(1);
		lws_dll2_add_head(&c->node, &clients);
		log_debug("ws.open", "actor", c->tok.name, NULL);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (c == NULL)
			return -1;
		if (c->rx.len + len > MAX_MSG) {
			static const char why[] = "message too large";

			log_info("ws.closed", "actor", c->tok.name, "reason",
			    "a message over 64 KiB", NULL);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			    (unsigned char *)why, sizeof(why) - 1);
			return -1;
		}
		if (sbuf_append(&c->rx, in, len) != 0)
			return -1;
		if (lws_is_final_fragment(wsi)) {
			handle_message(c);
			/* A large message's room is not kept for the rest of the stream. */
			if (c->rx.cap > 1024)
				sbuf_free(&c->rx);
			else
				sbuf_reset(&c->rx);
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c == NULL)
			return -1;
		return writeable(c);
	case LWS_CALLBACK_CLOSED:
		if (c != NULL) {
			metrics_ws_clients(-1);
			client_free(c);
			*slot = NULL;
		}
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Refused before ESTABLISHED: CLOSED never came. */
		if (c != NULL) {
			client_free(c);
			*slot = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}
