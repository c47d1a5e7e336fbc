/*
 * The event-stream client against a scripted websocket server on loopback.
 * The server runs in a forked child (its own lws context) and plays the
 * protocol of DESIGN §5: it replays from the client's `since`, sends
 * {"caught_up"}, drops the first connection, overlaps its replays on
 * purpose, fragments messages and asks for a resync, so the client must
 * reassemble, reconnect, resubscribe and drop duplicates to pass.
 * Each event says which connection and subscription produced it
 * (data.conn, data.sub, data.since), so the client side can check what the
 * server saw.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "evstream.h"
#include "util.h"

#define TOKEN "s3cret-token"
#define LAST_SEQ 20
#define MAXQ 64

/* ---- the scripted server (child process) ---- */

struct qitem {
	char *data;
	size_t len;
	int flags;
};

struct session {
	int conn;		/* 1-based connection number */
	int nsub;		/* subscriptions seen on this connection */
	struct qitem q[MAXQ];
	int qhead;
	int qtail;
	int close_after;	/* close once the queue is empty */
};

static int srv_conns;
static volatile sig_atomic_t srv_stop;

static void
q_push(struct session *s, const char *data, size_t len, int flags)
{
	struct qitem *it = &s->q[s->qtail++ % MAXQ];

	it->data = malloc(len);
	memcpy(it->data, data, len);
	it->len = len;
	it->flags = flags;
}

static void
q_event(struct session *s, int64_t seq, int64_t since, int fragment)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof(msg), "{\"seq\":%lld,\"ts\":\"2026-11-23T10:00:00Z\","
	    "\"type\":\"instance.state\",\"kind\":\"instance\",\"id\":%lld,\"actor\":\"test\","
	    "\"data\":{\"conn\":%d,\"sub\":%d,\"since\":%lld}}", (long long)seq,
	    (long long)seq, s->conn, s->nsub, (long long)since);
	if (!fragment) {
		q_push(s, msg, (size_t)n, LWS_WRITE_TEXT);
		return;
	}
	/* Three frames: text, continuation, final continuation. */
	q_push(s, msg, 10, LWS_WRITE_TEXT | LWS_WRITE_NO_FIN);
	q_push(s, msg + 10, 20, LWS_WRITE_CONTINUATION | LWS_WRITE_NO_FIN);
	q_push(s, msg + 30, (size_t)n - 30, LWS_WRITE_CONTINUATION);
}

static void
q_text(struct session *s, const char *text)
{
	q_push(s, text, strlen(text), LWS_WRITE_TEXT);
}

/* The subscription's filter, as the scripted server plays it: 6, 10 and 11 never match. */
static int
matches(int64_t seq)
{
	return seq != 6 && seq != 10 && seq != 11;
}

/*
 * The script. Connection 1: replay since+1..5 (event 3 fragmented), then
 * caught_up 6 (6 did not match), then the connection is dropped.
 * Connection 2: replay with an overlap of one, caught_up, a message of an
 * unknown kind, an error, then a resync from 11 (10 and 11 did not match);
 * the next subscription gets the rest to LAST_SEQ with an overlap of two,
 * some fragmented, and the connection stays open.
 */
static void
on_subscribe(struct session *s, int64_t since)
{
	char buf[64];

	s->nsub++;
	if (s->conn == 1) {
		for (int64_t i = since + 1; i <= 5; i++)
			q_event(s, i, since, i == 3);
		q_text(s, "{\"caught_up\":6}");
		s->close_after = 1;
	} else if (s->nsub == 1) {
		for (int64_t i = since - 1; i <= since + 3; i++)
			if (i > 0 && matches(i))
				q_event(s, i, since, 0);
		snprintf(buf, sizeof(buf), "{\"caught_up\":%lld}", (long long)since + 3);
		q_text(s, buf);
		q_text(s, "{\"unknown\":true}");
		q_text(s, "{\"error\":{\"code\":\"invalid_argument\",\"message\":\"m\","
		    "\"field\":\"subscribe.types\"}}");
		q_text(s, "{\"resync\":{\"from\":11}}");
	} else {
		for (int64_t i = since - 2; i <= LAST_SEQ; i++)
			if (i > 0 && matches(i))
				q_event(s, i, since, i % 4 == 0);
		snprintf(buf, sizeof(buf), "{\"caught_up\":%d}", LAST_SEQ);
		q_text(s, buf);
	}
}

static int
srv_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct session *s = user;
	char auth[128];
	unsigned char buf[LWS_PRE + 512];

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
		    strcmp(auth, "Bearer " TOKEN) != 0) {
			lws_return_http_status(wsi, 401, NULL);
			return 1;
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		s->conn = ++srv_conns;
		break;
	case LWS_CALLBACK_RECEIVE: {
		json_t *m = json_loadb(in, len, 0, NULL);
		json_t *sub = json_object_get(m, "subscribe");

		if (json_is_object(sub))
			on_subscribe(s, json_integer_value(json_object_get(sub, "since")));
		json_decref(m);
		lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (s->qhead < s->qtail) {
			struct qitem *it = &s->q[s->qhead++ % MAXQ];

			memcpy(buf + LWS_PRE, it->data, it->len);
			lws_write(wsi, buf + LWS_PRE, it->len, (enum lws_write_protocol)it->flags);
			free(it->data);
			lws_callback_on_writable(wsi);
		} else if (s->close_after) {
			return -1;
		}
		break;
	case LWS_CALLBACK_CLOSED:
		while (s->qhead < s->qtail)
			free(s->q[s->qhead++ % MAXQ].data);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols srv_protocols[] = {
	{ "http", lws_callback_http_dummy, 0, 0, 0, NULL, 0 },
	{ EVSTREAM_SUBPROTOCOL, srv_ws, sizeof(struct session), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
srv_on_term(int sig)
{
	(void)sig;
	srv_stop = 1;
}

static void
server_main(int fd)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	int port;

	signal(SIGTERM, srv_on_term);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = srv_protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	ctx = lws_create_context(&info);
	if (ctx == NULL)
		_exit(1);
	port = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx, "default"));
	if (write(fd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	close(fd);
	while (!srv_stop)
		lws_service(ctx, 0);
	lws_context_destroy(ctx);
	_exit(0);
}

struct server {
	pid_t pid;
	int port;
};

static void
server_start(struct server *srv)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	srv->pid = fork();
	assert_true(srv->pid >= 0);
	if (srv->pid == 0) {
		/* A failed test must not leave its server behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		server_main(fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &srv->port, sizeof(srv->port)), sizeof(srv->port));
	close(fds[0]);
	assert_true(srv->port > 0);
}

static void
server_stop(struct server *srv)
{
	int status;

	if (srv->pid <= 0)
		return;
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, &status, 0);
	srv->pid = 0;
}

/* The fixture: a fresh server per test, stopped even when the test fails. */
static struct server srv;

static int
setup_server(void **state)
{
	(void)state;
	server_start(&srv);
	return 0;
}

static int
teardown_server(void **state)
{
	(void)state;
	server_stop(&srv);
	return 0;
}

/* ---- the client side ---- */

struct seen {
	struct evstream *es;
	int64_t seqs[64];
	int conn[64];
	int sub[64];
	int64_t since[64];
	int nevents;
	int ncaught_up;
	int nconnected;
	int ndisconnected;
	int nerrors;
	char error_field[64];
	int last_http;
	int64_t retry[8];
	int nretry;
	int stop_after_retries;
	int stop_on_disconnect;
	int64_t stop_at_seq;
};

static void
on_event(void *arg, json_t *ev)
{
	struct seen *s = arg;
	json_t *data = json_object_get(ev, "data");

	assert_true(s->nevents < 64);
	s->seqs[s->nevents] = json_integer_value(json_object_get(ev, "seq"));
	s->conn[s->nevents] = (int)json_integer_value(json_object_get(data, "conn"));
	s->sub[s->nevents] = (int)json_integer_value(json_object_get(data, "sub"));
	s->since[s->nevents] = json_integer_value(json_object_get(data, "since"));
	assert_int_equal(evstream_last_seq(s->es), s->seqs[s->nevents]);
	s->nevents++;
	if (s->stop_at_seq > 0 && s->seqs[s->nevents - 1] >= s->stop_at_seq)
		evstream_stop(s->es);
}

static void
on_caught_up(void *arg, int64_t seq)
{
	struct seen *s = arg;

	(void)seq;
	s->ncaught_up++;
}

static void
on_error(void *arg, const char *code, const char *message, const char *field)
{
	struct seen *s = arg;

	assert_string_equal(code, "invalid_argument");
	assert_string_equal(message, "m");
	snprintf(s->error_field, sizeof(s->error_field), "%s", field);
	s->nerrors++;
}

static void
on_state(void *arg, const struct evstream_status *st)
{
	struct seen *s = arg;

	switch (st->state) {
	case EVSTREAM_CONNECTED:
		s->nconnected++;
		break;
	case EVSTREAM_DISCONNECTED:
		s->ndisconnected++;
		s->last_http = st->http_status;
		assert_non_null(st->reason);
		if (s->stop_on_disconnect)
			evstream_stop(s->es);
		break;
	case EVSTREAM_RECONNECTING:
		if (s->nretry < 8)
			s->retry[s->nretry++] = st->retry_in_ms;
		if (s->stop_after_retries > 0 && s->nretry >= s->stop_after_retries)
			evstream_stop(s->es);
		break;
	default:
		break;
	}
}

static struct evstream *
client_new(struct seen *s, const char *url, const char *token, int64_t since)
{
	struct evstream_opts o = {
		.url = url, .token = token, .since = since,
		.on_event = on_event, .on_caught_up = on_caught_up, .on_state = on_state,
		.on_error = on_error, .arg = s,
	};
	char err[256];

	s->es = evstream_new(&o, err, sizeof(err));
	assert_non_null(s->es);
	return s->es;
}

static volatile sig_atomic_t alarm_fired;
static struct evstream *alarm_es;

static void
on_alarm(int sig)
{
	(void)sig;
	alarm_fired = 1;
	evstream_stop(alarm_es);
}

/* A stuck test fails after 10 s rather than hanging the suite. */
static void
arm_deadline(struct evstream *es, int secs)
{
	struct sigaction sa;
	struct itimerval it = { .it_value = { .tv_sec = secs } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm_fired = 0;
	alarm_es = es;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void
disarm_deadline(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
	alarm_es = NULL;
}

static void
test_every_event_once_in_order_across_reconnect_and_resync(void **state)
{
	struct seen s = { .stop_at_seq = LAST_SEQ };
	char url[64];
	int n = 0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	client_new(&s, url, TOKEN, 0);
	arm_deadline(s.es, 10);
	assert_int_equal(evstream_run(s.es), 0);
	disarm_deadline();
	assert_false(alarm_fired);
	for (int64_t seq = 1; seq <= LAST_SEQ; seq++) {
		if (!matches(seq))
			continue;
		assert_true(n < s.nevents);
		assert_int_equal(s.seqs[n], seq);
		n++;
	}
	assert_int_equal(s.nevents, n);
	/* 1..5 from the first connection, fragmented event 3 included. */
	assert_int_equal(s.conn[2], 1);
	assert_int_equal(s.conn[4], 1);
	/* The reconnect resubscribed from caught_up's 6, past the last event (5). */
	assert_int_equal(s.seqs[5], 7);
	assert_int_equal(s.conn[5], 2);
	assert_int_equal(s.sub[5], 1);
	assert_int_equal(s.since[5], 6);
	/* The resync resubscribed from its "from", 11, past the last event (9). */
	assert_int_equal(s.seqs[8], 12);
	assert_int_equal(s.sub[8], 2);
	assert_int_equal(s.since[8], 11);
	assert_int_equal(s.nconnected, 2);
	assert_int_equal(s.ndisconnected, 1);
	assert_int_equal(s.ncaught_up, 2);
	assert_int_equal(s.nerrors, 1);
	assert_string_equal(s.error_field, "subscribe.types");
	assert_int_equal(evstream_last_seq(s.es), LAST_SEQ);
	evstream_free(s.es);
}

static void
test_resume_from_since(void **state)
{
	struct seen s = { .stop_at_seq = 5 };
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", srv.port);
	client_new(&s, url, TOKEN, 3);
	arm_deadline(s.es, 10);
	assert_int_equal(evstream_run(s.es), 0);
	disarm_deadline();
	assert_int_equal(s.nevents, 2);
	assert_int_equal(s.seqs[0], 4);
	assert_int_equal(s.since[0], 3);
	evstream_free(s.es);
}

static void
test_wrong_token_is_reported_with_its_status(void **state)
{
	struct seen s = { .stop_on_disconnect = 1 };
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	client_new(&s, url, "wrong", 0);
	arm_deadline(s.es, 10);
	assert_int_equal(evstream_run(s.es), 0);
	disarm_deadline();
	assert_false(alarm_fired);
	assert_int_equal(s.ndisconnected, 1);
	assert_int_equal(s.nconnected, 0);
	assert_int_equal(s.last_http, 401);
	evstream_free(s.es);
}

static void
test_refused_connection_backs_off(void **state)
{
	struct seen s = { .stop_after_retries = 4 };
	struct server gone;
	char url[64];

	(void)state;
	/* A port that was just free: start a server to learn one, then stop it. */
	server_start(&gone);
	server_stop(&gone);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", gone.port);
	client_new(&s, url, TOKEN, 0);
	arm_deadline(s.es, 10);
	assert_int_equal(evstream_run(s.es), 0);
	disarm_deadline();
	assert_false(alarm_fired);
	assert_int_equal(s.nconnected, 0);
	assert_int_equal(s.ndisconnected, 4);
	assert_int_equal(s.retry[0], 100);
	assert_int_equal(s.retry[1], 200);
	assert_int_equal(s.retry[2], 400);
	assert_int_equal(s.retry[3], 800);
	evstream_free(s.es);
}

static void
test_stop_from_a_signal_handler_ends_run(void **state)
{
	struct seen s = { 0 };

	(void)state;
	/* Nothing listens on port 9 of loopback: the client keeps retrying. */
	client_new(&s, "http://127.0.0.1:9", TOKEN, 0);
	arm_deadline(s.es, 1);
	assert_int_equal(evstream_run(s.es), 0);
	disarm_deadline();
	assert_true(alarm_fired);
	evstream_free(s.es);
}

static void
test_service_returns_after_its_timeout(void **state)
{
	struct seen s = { 0 };
	struct timespec a, b;
	long ms;

	(void)state;
	client_new(&s, "http://127.0.0.1:9", TOKEN, 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 3; i++)
		assert_int_equal(evstream_service(s.es, 50), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms < 2000);
	evstream_stop(s.es);
	assert_int_equal(evstream_service(s.es, 50), 1);
	evstream_free(s.es);
}

static void
test_url_parse(void **state)
{
	struct evstream_url u;
	char err[256];

	(void)state;
	assert_int_equal(evstream_url_parse("http://127.0.0.1:8080", &u, err, sizeof(err)), 0);
	assert_false(u.is_tls);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.path, "/api/v1/events");
	assert_string_equal(u.host_header, "127.0.0.1:8080");

	assert_int_equal(evstream_url_parse("HTTPS://ops.example.org/outpost/", &u, err,
	    sizeof(err)), 0);
	assert_true(u.is_tls);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/outpost/api/v1/events");
	assert_string_equal(u.host_header, "ops.example.org");

	assert_int_equal(evstream_url_parse("ws://[::1]:9000", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.host_header, "[::1]:9000");
	assert_int_equal(evstream_url_parse("wss://h:443/", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host_header, "h");
}

static void
test_url_parse_refuses_bad_urls(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1:8080", "ftp://h", "http://", "http://:80", "http://h:0",
		"http://h:65536", "http://h:8x", "http://[::1", "http://u@h",
		"http://h/?q=1", "http://h#x", "http://h:",
	};
	struct evstream_url u;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (evstream_url_parse(bad[i], &u, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
}

static void
test_backoff_doubles_to_five_seconds(void **state)
{
	static const int64_t want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };

	(void)state;
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(evstream_backoff_ms(i), want[i]);
	assert_int_equal(evstream_backoff_ms(1000000), 5000);
}

static void
test_subscribe_message(void **state)
{
	static const char *const types[] = { "instance.*", "worker.state", NULL };
	char *m;

	(void)state;
	m = evstream_subscribe_message(42, NULL, NULL);
	assert_string_equal(m, "{\"subscribe\":{\"since\":42}}");
	free(m);
	m = evstream_subscribe_message(0, types, NULL);
	assert_string_equal(m,
	    "{\"subscribe\":{\"since\":0,\"types\":[\"instance.*\",\"worker.state\"]}}");
	free(m);
	m = evstream_subscribe_message(7, NULL, "w1");
	assert_string_equal(m, "{\"subscribe\":{\"since\":7,\"worker\":\"w1\"}}");
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_url_parse_refuses_bad_urls),
		cmocka_unit_test(test_backoff_doubles_to_five_seconds),
		cmocka_unit_test(test_subscribe_message),
		cmocka_unit_test_setup_teardown(
		    test_every_event_once_in_order_across_reconnect_and_resync, setup_server,
		    teardown_server),
		cmocka_unit_test_setup_teardown(test_resume_from_since, setup_server,
		    teardown_server),
		cmocka_unit_test_setup_teardown(test_wrong_token_is_reported_with_its_status,
		    setup_server, teardown_server),
		cmocka_unit_test(test_refused_connection_backs_off),
		cmocka_unit_test(test_stop_from_a_signal_handler_ends_run),
		cmocka_unit_test(test_service_returns_after_its_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
