/*
 * The event-stream client over libwebsockets. One lws context per stream,
 * one connection at a time. The lws callback stays thin: it accumulates a
 * message and hands it to handle_message(), which knows the protocol and
 * nothing of sockets.
 *
 * Invariants: last_seq only grows, and an event reaches on_event only when
 * its seq is above last_seq. resume_seq >= last_seq, and every event of the
 * subscription at or below resume_seq has been delivered: it moves with each
 * event, and to N on {"caught_up": N} (the replay looked at everything up to
 * N) and on {"resync": {"from": N}} (everything up to N was sent or did not
 * match). Every (re)subscription asks for events after resume_seq, so a
 * replay overlaps what was delivered at worst, and the overlap is dropped:
 * the caller sees each event once, in order.
 *
 * What it must never do: print, exit, or block outside lws_service().
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "evstream.h"
#include "log.h"
#include "util.h"

struct evstream {
	struct lws_context *ctx;
	struct lws *wsi;
	struct evstream_url url;
	char *auth;		/* "Bearer TOKEN", or NULL */
	char **types;		/* NULL-terminated copy, or NULL */
	char *worker;		/* the worker whose events alone are asked for, or NULL */
	size_t max_message;
	lws_retry_bo_t policy;	/* idle PINGs and hangup */

	void (*on_event)(void *arg, json_t *event);
	void (*on_caught_up)(void *arg, int64_t seq);
	void (*on_state)(void *arg, const struct evstream_status *st);
	void (*on_error)(void *arg, const char *code, const char *message, const char *field);
	void *arg;

	int64_t last_seq;
	int64_t resume_seq;
	unsigned attempt;	/* failed attempts in a row */
	int has_connected;
	int is_connecting;	/* an attempt is under way and has not ended */
	int need_subscribe;	/* send the subscription when writable */
	int has_overflow;	/* the message being received passed max_message */
	int http_status;
	char close_reason[128];
	struct sbuf rx;

	/* The caller's descriptor watched by the same loop (evstream_watch_fd). */
	void (*on_fd)(void *arg);
	void *fd_arg;
	struct lws *fd_wsi;

	volatile sig_atomic_t is_stopping;
	lws_sorted_usec_list_t sul_connect;
	lws_sorted_usec_list_t sul_wake;
};

static const uint32_t backoff_table[] = { 100, 200, 400, 800, 1600, 3200, 5000 };

int64_t
evstream_backoff_ms(unsigned attempt)
{
	size_t n = sizeof(backoff_table) / sizeof(backoff_table[0]);

	return backoff_table[attempt < n ? attempt : n - 1];
}

/* ---- URLs ---- */

static int
url_fail(char *err, size_t errlen, const char *url, const char *why)
{
	snprintf(err, errlen, "%s: %s", url, why);
	return -1;
}

int
evstream_url_parse(const char *url, struct evstream_url *out, char *err, size_t errlen)
{
	static const struct { const char *prefix; int is_tls; } schemes[] = {
		{ "http://", 0 }, { "https://", 1 }, { "ws://", 0 }, { "wss://", 1 },
	};
	const char *p = NULL, *host, *host_end, *rest;
	size_t hostlen, prefixlen;
	int has_port = 0;

	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return url_fail(err, errlen, "(null)", "no URL");
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);

		if (strncasecmp(url, schemes[i].prefix, n) == 0) {
			p = url + n;
			out->is_tls = schemes[i].is_tls;
			break;
		}
	}
	if (p == NULL)
		return url_fail(err, errlen, url,
		    "must start with http://, https://, ws:// or wss://");
	out->port = out->is_tls ? 443 : 80;
	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL)
			return url_fail(err, errlen, url, "unclosed [ in the host");
		rest = host_end + 1;
	} else {
		host = p;
		host_end = host + strcspn(host, ":/?#");
		rest = host_end;
	}
	hostlen = (size_t)(host_end - host);
	if (hostlen == 0)
		return url_fail(err, errlen, url, "no host");
	if (hostlen >= sizeof(out->host))
		return url_fail(err, errlen, url, "host name too long");
	if (memchr(host, '@', hostlen) != NULL)
		return url_fail(err, errlen, url, "user names in URLs are not supported");
	memcpy(out->host, host, hostlen);
	out->host[hostlen] = '\0';
	for (const char *c = out->host; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return url_fail(err, errlen, url, "invalid character in the host");
	if (*rest == ':') {
		long port = 0;
		const char *d = rest + 1;

		while (*d >= '0' && *d <= '9' && port <= 65535)
			port = port * 10 + (*d++ - '0');
		if (d == rest + 1 || port < 1 || port > 65535 || (*d != '\0' && *d != '/'))
			return url_fail(err, errlen, url, "the port must be a number 1..65535");
		out->port = (int)port;
		has_port = 1;
		rest = d;
	} else if (*rest != '\0' && *rest != '/') {
		return url_fail(err, errlen, url, "unexpected character after the host");
	}
	if (strpbrk(rest, "?#") != NULL)
		return url_fail(err, errlen, url, "a server URL carries no query or fragment");
	prefixlen = strlen(rest);
	while (prefixlen > 0 && rest[prefixlen - 1] == '/')
		prefixlen--;
	if ((size_t)snprintf(out->path, sizeof(out->path), "%.*s%s", (int)prefixlen, rest,
	    EVSTREAM_PATH) >= sizeof(out->path))
		return url_fail(err, errlen, url, "path too long");
	snprintf(out->host_header, sizeof(out->host_header), "%s%s%s", strchr(out->host, ':') ?
	    "[" : "", out->host, strchr(out->host, ':') ? "]" : "");
	if (has_port && out->port != (out->is_tls ? 443 : 80)) {
		size_t n = strlen(out->host_header);

		snprintf(out->host_header + n, sizeof(out->host_header) - n, ":%d", out->port);
	}
	return 0;
}

/* ---- messages ---- */

char *
evstream_subscribe_message(int64_t since, const char *const *types, const char *worker)
{
	json_t *sub, *msg;
	char *s;

	sub = json_pack("{s:I}", "since", (json_int_t)since);
	if (sub == NULL)
		return NULL;
	if (types != NULL) {
		json_t *a = json_array();

		for (size_t i = 0; a != NULL && types[i] != NULL; i++)
			json_array_append_new(a, json_string(types[i]));
		json_object_set_new(sub, "types", a);
	}
	if (worker != NULL)
		json_object_set_new(sub, "worker", json_string(worker));
	msg = json_pack("{s:o}", "subscribe", sub);
	if (msg == NULL)
		return NULL;
	s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return s;
}

static void
report(struct evstream *es, enum evstream_state state, const char *reason, int64_t retry_in)
{
	struct evstream_status st = {
		.state = state,
		.reason = reason,
		.http_status = state == EVSTREAM_DISCONNECTED ? es->http_status : 0,
		.attempt = es->attempt,
		.retry_in_ms = retry_in,
		.last_seq = es->last_seq,
		.resume_seq = es->resume_seq,
		.has_connected = es->has_connected,
	};

	if (!es->is_stopping && es->on_state != NULL)
		es->on_state(es->arg, &st);
}

static void want_subscribe(struct evstream *es);

static void
advance_resume(struct evstream *es, json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) > es->resume_seq)
		es->resume_seq = json_integer_value(v);
}

static const char *
str_or_empty(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/*
 * One whole message from the server. Unknown shapes are ignored so that a
 * newer server can add messages; a message that is not JSON is dropped.
 */
static void
handle_message(struct evstream *es, const char *text, size_t len)
{
	json_t *m, *v;

	m = json_loadb(text, len, 0, NULL);
	if (!json_is_object(m)) {
		log_debug("evstream.bad_message", "bytes", len > 0 ? "some" : "none", NULL);
		goto done;
	}
	if (json_is_integer(v = json_object_get(m, "seq"))) {
		int64_t seq = json_integer_value(v);

		if (seq <= es->last_seq)
			goto done;	/* seen already: the overlap of a replay */
		es->last_seq = seq;
		if (seq > es->resume_seq)
			es->resume_seq = seq;
		es->attempt = 0;
		if (!es->is_stopping && es->on_event != NULL)
			es->on_event(es->arg, m);
	} else if (json_is_integer(v = json_object_get(m, "caught_up"))) {
		es->attempt = 0;
		advance_resume(es, v);
		if (!es->is_stopping && es->on_caught_up != NULL)
			es->on_caught_up(es->arg, json_integer_value(v));
	} else if (json_is_object(v = json_object_get(m, "resync"))) {
		/* We fell behind and the server stopped: ask again from "from". */
		advance_resume(es, json_object_get(v, "from"));
		want_subscribe(es);
	} else if (json_is_object(v = json_object_get(m, "error"))) {
		if (!es->is_stopping && es->on_error != NULL)
			es->on_error(es->arg, str_or_empty(v, "code"), str_or_empty(v, "message"),
			    str_or_empty(v, "field"));
	}
done:
	json_decref(m);
}

void
evstream_feed(struct evstream *es, const char *text, size_t len)
{
	handle_message(es, text, len);
}

/* ---- the connection ---- */

static void connect_now(lws_sorted_usec_list_t *sul);

static void
want_subscribe(struct evstream *es)
{
	es->need_subscribe = 1;
	if (es->wsi != NULL)
		lws_callback_on_writable(es->wsi);
}

/* The connection attempt failed or the connection ended: try again later. */
static void
lost(struct evstream *es, const char *why)
{
	int64_t delay;

	es->wsi = NULL;
	es->is_connecting = 0;
	es->need_subscribe = 0;
	sbuf_reset(&es->rx);
	if (es->is_stopping)
		return;
	es->attempt++;
	report(es, EVSTREAM_DISCONNECTED, why, 0);
	if (es->is_stopping)
		return;		/* on_state asked us to stop */
	delay = evstream_backoff_ms(es->attempt - 1);
	report(es, EVSTREAM_RECONNECTING, NULL, delay);
	lws_sul_schedule(es->ctx, 0, &es->sul_connect, connect_now, delay * LWS_US_PER_MS);
}

static void
connect_now(lws_sorted_usec_list_t *sul)
{
	struct evstream *es = lws_container_of(sul, struct evstream, sul_connect);
	struct lws_client_connect_info i;

	if (es->is_stopping || es->wsi != NULL)
		return;
	memset(&i, 0, sizeof(i));
	i.context = es->ctx;
	i.address = es->url.host;
	i.port = es->url.port;
	i.path = es->url.path;
	i.host = es->url.host_header;
	i.origin = es->url.host_header;
	i.ssl_connection = es->url.is_tls ? LCCSCF_USE_SSL : 0;
	i.protocol = EVSTREAM_SUBPROTOCOL;
	i.local_protocol_name = EVSTREAM_SUBPROTOCOL;
	i.retry_and_idle_policy = &es->policy;
	i.pwsi = &es->wsi;
	es->http_status = 0;
	es->close_reason[0] = '\0';
	es->is_connecting = 1;
	report(es, EVSTREAM_CONNECTING, NULL, 0);
	/* A failure may be reported through the callback before this returns. */
	if (lws_client_connect_via_info(&i) == NULL && es->is_connecting)
		lost(es, "cannot start a connection");
}

static int
on_append_header(struct evstream *es, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;

	if (es->auth == NULL)
		return 0;
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
	    (const unsigned char *)es->auth, (int)strlen(es->auth), p, end) != 0)
		return -1;
	return 0;
}

static int
on_writeable(struct evstream *es, struct lws *wsi)
{
	unsigned char *buf;
	char *msg;
	size_t n;
	int rc = 0;

	if (!es->need_subscribe)
		return 0;
	es->need_subscribe = 0;
	msg = evstream_subscribe_message(es->resume_seq, (const char *const *)es->types,
	    es->worker);
	if (msg == NULL)
		return -1;
	n = strlen(msg);
	buf = malloc(LWS_PRE + n);
	if (buf == NULL) {
		free(msg);
		return -1;
	}
	memcpy(buf + LWS_PRE, msg, n);
	if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
		rc = -1;
	free(buf);
	free(msg);
	return rc;
}

static int
on_receive(struct evstream *es, struct lws *wsi, const void *in, size_t len)
{
	if (!es->has_overflow) {
		if (es->rx.len + len > es->max_message) {
			es->has_overflow = 1;
			sbuf_reset(&es->rx);
		} else if (sbuf_append(&es->rx, in, len) != 0) {
			return -1;
		}
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (!es->has_overflow && es->rx.len > 0)
		handle_message(es, es->rx.p, es->rx.len);
	es->has_overflow = 0;
	sbuf_reset(&es->rx);
	return 0;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct evstream *es = lws_context_user(lws_get_context(wsi));
	char why[192];

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return on_append_header(es, wsi, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		es->is_connecting = 0;
		es->has_connected = 1;
		sbuf_reset(&es->rx);
		es->has_overflow = 0;
		want_subscribe(es);
		report(es, EVSTREAM_CONNECTED, NULL, 0);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(es, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (es->is_stopping)
			return -1;
		return on_writeable(es, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* Two bytes of status, then the server's reason. */
		if (len > 2)
			snprintf(es->close_reason, sizeof(es->close_reason), "%.*s",
			    (int)(len - 2), (const char *)in + 2);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi != es->wsi && es->wsi != NULL)
			break;
		es->http_status = (int)lws_http_client_http_response(wsi);
		snprintf(why, sizeof(why), "%s", in != NULL ? (const char *)in : "cannot connect");
		lost(es, why);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi != es->wsi)
			break;
		snprintf(why, sizeof(why), "connection closed%s%s",
		    es->close_reason[0] != '\0' ? ": " : "", es->close_reason);
		lost(es, why);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* The caller's descriptor: readable means call it back; lws reads nothing of it. */
static int
fd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct evstream *es = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!es->is_stopping && es->on_fd != NULL)
			es->on_fd(es->fd_arg);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == es->fd_wsi)
			es->fd_wsi = NULL;
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

#define EVSTREAM_FD_PROTOCOL "outpost-fd"

static const struct lws_protocols protocols[] = {
	{ EVSTREAM_SUBPROTOCOL, ws_callback, 0, 0, 0, NULL, 0 },
	{ EVSTREAM_FD_PROTOCOL, fd_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* lws's own diagnostics go to our log at debug level; programs opt in. */
static void
lws_log_emit(int level, const char *line)
{
	log_external(LOG_DEBUG, level == LLL_ERR ? "lws.err" : "lws.warn", line);
}

/* ---- the public face ---- */

struct evstream *
evstream_new(const struct evstream_opts *o, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct evstream *es;
	size_t ntypes = 0;

	es = calloc(1, sizeof(*es));
	if (es == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sbuf_init(&es->rx);
	if (evstream_url_parse(o->url, &es->url, err, errlen) != 0)
		goto fail;
	if (o->token != NULL && *o->token != '\0') {
		struct sbuf b;

		for (const char *c = o->token; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				snprintf(err, errlen, "the token holds a control character");
				goto fail;
			}
		}
		sbuf_init(&b);
		if (sbuf_printf(&b, "Bearer %s", o->token) != 0)
			goto oom;
		es->auth = sbuf_steal(&b);
	}
	if (o->types != NULL) {
		while (o->types[ntypes] != NULL)
			ntypes++;
		es->types = calloc(ntypes + 1, sizeof(char *));
		if (es->types == NULL)
			goto oom;
		for (size_t i = 0; i < ntypes; i++)
			if ((es->types[i] = strdup(o->types[i])) == NULL)
				goto oom;
	}
	if (o->worker != NULL && (es->worker = strdup(o->worker)) == NULL)
		goto oom;
	es->max_message = o->max_message > 0 ? o->max_message : EVSTREAM_DEFAULT_MAX_MESSAGE;
	es->last_seq = o->since;
	es->resume_seq = o->since;
	es->on_event = o->on_event;
	es->on_caught_up = o->on_caught_up;
	es->on_state = o->on_state;
	es->on_error = o->on_error;
	es->arg = o->arg;
	es->policy.retry_ms_table = backoff_table;
	es->policy.retry_ms_table_count = sizeof(backoff_table) / sizeof(backoff_table[0]);
	es->policy.conceal_count = LWS_RETRY_CONCEAL_ALWAYS;
	es->policy.secs_since_valid_ping = (uint16_t)(o->ping_secs > 0 ? o->ping_secs : 30);
	es->policy.secs_since_valid_hangup = (uint16_t)(es->policy.secs_since_valid_ping * 2 + 5);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = es;
	if (es->url.is_tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		if (o->ca_file != NULL && *o->ca_file != '\0')
			info.client_ssl_ca_filepath = o->ca_file;
	}
	es->ctx = lws_create_context(&info);
	if (es->ctx == NULL) {
		snprintf(err, errlen, "cannot create the websocket context");
		goto fail;
	}
	/* The first attempt runs from the loop, so its callbacks come from there too. */
	lws_sul_schedule(es->ctx, 0, &es->sul_connect, connect_now, 1);
	return es;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	evstream_free(es);
	return NULL;
}

void
evstream_free(struct evstream *es)
{
	if (es == NULL)
		return;
	es->is_stopping = 1;
	if (es->ctx != NULL) {
		lws_sul_cancel(&es->sul_connect);
		lws_sul_cancel(&es->sul_wake);
		lws_context_destroy(es->ctx);
	}
	if (es->types != NULL) {
		for (size_t i = 0; es->types[i] != NULL; i++)
			free(es->types[i]);
		free(es->types);
	}
	free(es->auth);
	free(es->worker);
	sbuf_free(&es->rx);
	free(es);
}

static void
wake(lws_sorted_usec_list_t *sul)
{
	(void)sul;	/* only there to end the wait in lws_service() */
}

int
evstream_service(struct evstream *es, int timeout_ms)
{
	if (es->is_stopping)
		return 1;
	/*
	 * lws 4.1 waits for its next timer or socket event whatever timeout
	 * it is given (a negative one means do not wait), so a timer bounds
	 * the wait.
	 */
	if (timeout_ms > 0)
		lws_sul_schedule(es->ctx, 0, &es->sul_wake, wake,
		    (lws_usec_t)timeout_ms * LWS_US_PER_MS);
	lws_service(es->ctx, timeout_ms > 0 ? 0 : -1);
	lws_sul_cancel(&es->sul_wake);
	return es->is_stopping ? 1 : 0;
}

int
evstream_run(struct evstream *es)
{
	if (es == NULL || es->ctx == NULL)
		return -1;
	while (!es->is_stopping)
		if (lws_service(es->ctx, 0) < 0)
			return -1;
	return 0;
}

void
evstream_stop(struct evstream *es)
{
	es->is_stopping = 1;
	if (es->ctx != NULL)
		lws_cancel_service(es->ctx);
}

void
evstream_wake(struct evstream *es)
{
	if (es != NULL && es->ctx != NULL)
		lws_cancel_service(es->ctx);
}

int
evstream_watch_fd(struct evstream *es, int fd, void (*on_readable)(void *arg), void *arg)
{
	lws_sock_file_fd_type d;
	struct lws_vhost *vh;

	if (es->fd_wsi != NULL || es->ctx == NULL)
		return -1;
	vh = lws_get_vhost_by_name(es->ctx, "default");
	if (vh == NULL)
		return -1;
	es->on_fd = on_readable;
	es->fd_arg = arg;
	memset(&d, 0, sizeof(d));
	d.filefd = fd;
	es->fd_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d,
	    EVSTREAM_FD_PROTOCOL, NULL);
	return es->fd_wsi != NULL ? 0 : -1;
}

int64_t
evstream_last_seq(const struct evstream *es)
{
	return es->last_seq;
}
