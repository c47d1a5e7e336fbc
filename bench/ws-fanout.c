/*
 * ws-fanout: N websocket subscribers on one libwebsockets event loop, and the
 * latency of one event from the POST that makes it to each of them.
 *
 *   ws-fanout client HOST PORT TOKENFILE N EVENTS SERVER_PID outpost|ref
 *   ws-fanout serve PORTFILE MSGBYTES
 *
 * client: opens N connections (64 handshakes in flight at most) to
 * /api/v1/events with the subprotocol outpost.events.v1, subscribes each
 * from the newest event, and waits until every one is caught up. It reads
 * the server's VmRSS before the first connection and with all of them open.
 * Then EVENTS times, 100 ms apart: the time just before a POST (an instance
 * create; with "ref", a GET /fire to the reference server) is sent on a
 * plain socket of its own, and for each subscriber the arrival of the first
 * event after it. Every event is checked gapless (seq one more than the
 * last) and every subscriber must see the same seq for a POST. Its own CPU
 * time (getrusage) over the POSTs says how much of the latency it can be.
 * It prints "key value" lines on stdout; exit 1 on any failure.
 *
 * serve: the reference, a trivial broadcast server on the same library: it
 * answers a subscribe with {"caught_up":0} and, on GET /fire, sends every
 * subscriber one message of MSGBYTES rendered once ({"seq":N,...}). It
 * writes its port to PORTFILE and runs until killed.
 *
 * Traffic goes to HOST only (the script gives 127.0.0.1); everything is
 * bounded: 120 s in all, 10 s a POST.
 */
#define _GNU_SOURCE		/* memmem, timegm */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <libwebsockets.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT 64		/* handshakes at once */
#define TICK_US 2000		/* the state machine's timer */
#define DEADLINE_MS 120000
#define POST_TIMEOUT_MS 10000
#define SPACING_MS 100
#define SETTLE_MS 500

enum phase { P_CONNECT, P_SETTLE, P_POST, P_WAIT, P_GAP, P_DONE };

struct sub {
	struct lws *wsi;
	int is_up, is_subscribed, is_caught_up;
	int64_t last_seq;
	int nrounds;		/* POSTs whose event arrived */
};

static struct lws_context *ctx;
static lws_sorted_usec_list_t tick_sul;
static struct sub *subs;
static int nsubs, nevents, is_ref, port;
static const char *host;
static char auth[1100];
static pid_t server_pid;

static enum phase phase;
static int launched, inflight, nup, ncaught, failures, gaps, mismatches, round_no;
static int64_t t_start, t_phase, t_post, rss_before, rss_with;
static int64_t round_seq_floor;	/* events after this one belong to the POST */
static int64_t *round_seq;	/* the seq each POST's event has */
static int64_t *lat_us, *stamp_ms;	/* [round * nsubs + i] */
static int narrived;
static int post_fd = -1;
static double cpu_posts_ms;
static int64_t srv_cpu0, srv_cpu_ns;
static struct rusage ru0;
static long long msg_bytes, nmsgs;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
cpu_ms(const struct rusage *a, const struct rusage *b)
{
	return (b->ru_utime.tv_sec - a->ru_utime.tv_sec) * 1e3 +
	    (b->ru_utime.tv_usec - a->ru_utime.tv_usec) / 1e3 +
	    (b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e3 +
	    (b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e3;
}

static int64_t
rss_kb(pid_t pid)
{
	char path[64], line[256];
	int64_t kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtoll(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* The server's CPU time in ns (schedstat: ns resolution, where stat has ticks), or -1. */
static int64_t
server_cpu_ns(void)
{
	char path[64];
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)server_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

static void
fail(const char *what)
{
	fprintf(stderr, "ws-fanout: %s\n", what);
	failures++;
	phase = P_DONE;
	lws_cancel_service(ctx);
}

/* "ts":"2026-12-07T02:30:00.123Z" to milliseconds since the epoch, or -1. */
static int64_t
parse_ts(const char *p, size_t len)
{
	const char *t = memmem(p, len, "\"ts\":\"", 6);
	struct tm tm;
	int ms = 0;

	if (t == NULL || (size_t)(t - p) + 30 > len)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(t + 6, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static void
on_message(struct sub *s, const char *p, size_t len)
{
	int64_t now = mono_us(), seq;

	if (len > 13 && strncmp(p, "{\"caught_up\":", 13) == 0) {
		if (!s->is_caught_up) {
			s->is_caught_up = 1;
			s->last_seq = strtoll(p + 13, NULL, 10);
			ncaught++;
		}
		return;
	}
	if (len < 8 || strncmp(p, "{\"seq\":", 7) != 0) {
		fprintf(stderr, "ws-fanout: unexpected message %.*s\n", (int)(len > 200 ? 200 : len),
		    p);
		fail("a subscriber was sent something other than an event");
		return;
	}
	seq = strtoll(p + 7, NULL, 10);
	if (s->is_caught_up && seq != s->last_seq + 1)
		gaps++;
	s->last_seq = seq;
	msg_bytes += (long long)len;
	nmsgs++;
	if (phase == P_WAIT && s->nrounds == round_no && seq > round_seq_floor) {
		size_t k = (size_t)round_no * (size_t)nsubs + (size_t)(s - subs);

		if (round_seq[round_no] == 0)
			round_seq[round_no] = seq;
		else if (round_seq[round_no] != seq)
			mismatches++;
		lat_us[k] = now - t_post;
		stamp_ms[k] = -1;
		if (!is_ref) {
			int64_t ts = parse_ts(p, len);

			if (ts > 0)
				stamp_ms[k] = real_ms() - ts;
		}
		s->nrounds++;
		narrived++;
	}
}

static int
cb_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct sub *s = lws_get_opaque_user_data(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;

		if (!is_ref && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
		    (unsigned char *)auth, (int)strlen(auth), p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->is_up = 1;
		nup++;
		inflight--;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		/* since is capped at the newest event: this is "from now" */
		static const char msg[] = "{\"subscribe\":{\"since\":1000000000000000}}";
		unsigned char buf[LWS_PRE + sizeof(msg)];

		if (s->is_subscribed)
			break;
		memcpy(buf + LWS_PRE, msg, sizeof(msg) - 1);
		if (lws_write(wsi, buf + LWS_PRE, sizeof(msg) - 1, LWS_WRITE_TEXT) <
		    (int)sizeof(msg) - 1)
			return -1;
		s->is_subscribed = 1;
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		/* Only a message's start matters: seq, ts come first. */
		if (lws_is_first_fragment(wsi))
			on_message(s, in, len);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "ws-fanout: connection %d: %s\n", (int)(s - subs),
		    in ? (const char *)in : "error");
		s->wsi = NULL;
		fail("a subscriber could not connect");
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		s->wsi = NULL;
		if (phase != P_DONE)
			fail("a subscriber was closed");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {
	{ "outpost.events.v1", cb_client, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
connect_one(void)
{
	struct lws_client_connect_info ci;
	struct sub *s = &subs[launched++];

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = host;
	ci.port = port;
	ci.path = "/api/v1/events";
	ci.host = host;
	ci.origin = host;
	ci.protocol = "outpost.events.v1";
	ci.opaque_user_data = s;
	ci.pwsi = &s->wsi;
	inflight++;
	if (lws_client_connect_via_info(&ci) == NULL && phase != P_DONE)
		fail("lws_client_connect_via_info failed");
}

/* The POST on a blocking socket of its own: sent whole; the answer read after its events. */
static void
post_send(void)
{
	static const char body[] = "{\"definition\":\"bench\",\"owner\":\"o\","
	    "\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}";
	char req[2048];
	struct sockaddr_in sa;
	int n;

	if (is_ref)
		n = snprintf(req, sizeof(req), "GET /fire HTTP/1.1\r\nHost: %s\r\n"
		    "Connection: close\r\n\r\n", host);
	else
		n = snprintf(req, sizeof(req), "POST /api/v1/instances HTTP/1.1\r\nHost: %s\r\n"
		    "Authorization: %s\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", host, auth,
		    sizeof(body) - 1, body);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		fail("request too long");
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fail("HOST must be an IPv4 address");
		return;
	}
	post_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (post_fd < 0 || connect(post_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fail("cannot connect for the POST");
		return;
	}
	round_seq_floor = 0;
	for (int i = 0; i < nsubs; i++)
		if (subs[i].last_seq > round_seq_floor)
			round_seq_floor = subs[i].last_seq;
	t_post = mono_us();
	if (write(post_fd, req, (size_t)n) != n)
		fail("cannot send the POST");
}

static void
post_finish(void)
{
	char buf[512];
	struct pollfd pfd = { .fd = post_fd, .events = POLLIN };
	ssize_t n = 0;

	if (poll(&pfd, 1, 5000) == 1)
		n = read(post_fd, buf, sizeof(buf) - 1);
	close(post_fd);
	post_fd = -1;
	if (n <= 12) {
		fail("no answer to the POST");
		return;
	}
	buf[n] = '\0';
	if (strncmp(buf + 9, is_ref ? "200" : "201", 3) != 0) {
		fprintf(stderr, "ws-fanout: answer %.60s\n", buf);
		fail("the POST was not answered 201");
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_us();

	(void)sul;
	if (phase != P_DONE && now - t_start > (int64_t)DEADLINE_MS * 1000)
		fail("out of time");
	switch (phase) {
	case P_CONNECT:
		while (launched < nsubs && inflight < INFLIGHT && phase == P_CONNECT)
			connect_one();
		if (ncaught == nsubs) {
			phase = P_SETTLE;
			t_phase = now;
		}
		break;
	case P_SETTLE:
		if (now - t_phase < (int64_t)SETTLE_MS * 1000)
			break;
		rss_with = rss_kb(server_pid);
		getrusage(RUSAGE_SELF, &ru0);
		srv_cpu0 = server_cpu_ns();
		phase = P_POST;
		/* FALLTHROUGH */
	case P_POST:
		phase = P_WAIT;
		post_send();
		break;
	case P_WAIT:
		if (narrived == (round_no + 1) * nsubs ||
		    now - t_post > (int64_t)POST_TIMEOUT_MS * 1000) {
			struct rusage ru;

			getrusage(RUSAGE_SELF, &ru);
			cpu_posts_ms += cpu_ms(&ru0, &ru);
			srv_cpu_ns += server_cpu_ns() - srv_cpu0;
			if (narrived != (round_no + 1) * nsubs)
				fail("an event did not reach every subscriber in 10 s");
			post_finish();
			if (phase == P_DONE)
				break;
			round_no++;
			t_phase = now;
			phase = round_no == nevents ? P_DONE : P_GAP;
		}
		break;
	case P_GAP:
		if (now - t_phase >= (int64_t)SPACING_MS * 1000) {
			getrusage(RUSAGE_SELF, &ru0);
			srv_cpu0 = server_cpu_ns();
			phase = P_WAIT;
			post_send();
		}
		break;
	case P_DONE:
		break;
	}
	if (phase != P_DONE)
		lws_sul_schedule(ctx, 0, &tick_sul, tick, TICK_US);
	else
		lws_cancel_service(ctx);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(const int64_t *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	if (n == 0)
		return -1;
	if (k < 1)
		k = 1;
	return v[(k > n ? n : k) - 1];
}

static void
report(void)
{
	size_t n = (size_t)narrived, m = 0;

	qsort(lat_us, (size_t)nevents * (size_t)nsubs, sizeof(int64_t), cmp64);
	/* unfilled slots are INT64_MAX: sorted last, not counted */
	qsort(stamp_ms, (size_t)nevents * (size_t)nsubs, sizeof(int64_t), cmp64);
	while (m < n && stamp_ms[m] < 0)
		m++;
	printf("subscribers %d\nevents %d\nsamples %zu\n", nsubs, nevents, n);
	printf("gaps %d\nmismatches %d\n", gaps, mismatches);
	printf("p50_ms %.3f\np95_ms %.3f\np99_ms %.3f\nmax_ms %.3f\n",
	    pct(lat_us, n, 0.50) / 1e3, pct(lat_us, n, 0.95) / 1e3,
	    pct(lat_us, n, 0.99) / 1e3, n ? lat_us[n - 1] / 1e3 : -1.0);
	if (m < n)
		printf("stamp_p50_ms %lld\nstamp_p99_ms %lld\n",
		    (long long)pct(stamp_ms + m, n - m, 0.50),
		    (long long)pct(stamp_ms + m, n - m, 0.99));
	printf("rss_before_kb %lld\nrss_with_kb %lld\nkb_per_sub %.2f\n", (long long)rss_before,
	    (long long)rss_with, (double)(rss_with - rss_before) / nsubs);
	printf("client_cpu_ms_per_event %.3f\nclient_cpu_us_per_msg %.2f\n",
	    cpu_posts_ms / nevents, cpu_posts_ms * 1e3 / ((double)nevents * nsubs));
	printf("server_cpu_ms_per_event %.3f\n", srv_cpu_ns / 1e6 / nevents);
	printf("msg_bytes %lld\n", nmsgs ? msg_bytes / nmsgs : 0);
}

static void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
run_client(int argc, char **argv)
{
	struct lws_context_creation_info info;
	char tok[1024];
	FILE *f;
	size_t total;
	int rc = 1;

	if (argc != 9) {
		fprintf(stderr, "usage: ws-fanout client HOST PORT TOKENFILE N EVENTS PID outpost|ref\n");
		return 2;
	}
	host = argv[2];
	port = atoi(argv[3]);
	nsubs = atoi(argv[5]);
	nevents = atoi(argv[6]);
	server_pid = (pid_t)atoi(argv[7]);
	is_ref = strcmp(argv[8], "ref") == 0;
	if (port <= 0 || nsubs < 1 || nsubs > 10000 || nevents < 1 || nevents > 100) {
		fprintf(stderr, "ws-fanout: PORT, N (1 to 10000) or EVENTS (1 to 100) out of range\n");
		return 2;
	}
	if ((f = fopen(argv[4], "r")) == NULL) {
		fprintf(stderr, "ws-fanout: cannot open the token file %s\n", argv[4]);
		return 2;
	}
	if (fgets(tok, sizeof(tok), f) == NULL) {
		fprintf(stderr, "ws-fanout: no token in %s\n", argv[4]);
		fclose(f);
		return 2;
	}
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	total = (size_t)nsubs * (size_t)nevents;
	subs = calloc((size_t)nsubs, sizeof(*subs));
	round_seq = calloc((size_t)nevents, sizeof(*round_seq));
	lat_us = malloc(total * sizeof(*lat_us));
	stamp_ms = malloc(total * sizeof(*stamp_ms));
	if (subs == NULL || round_seq == NULL || lat_us == NULL || stamp_ms == NULL)
		goto out;
	for (size_t i = 0; i < total; i++)
		lat_us[i] = stamp_ms[i] = INT64_MAX;
	raise_nofile((rlim_t)nsubs + 256);
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	ctx = lws_create_context(&info);
	if (ctx == NULL) {
		fprintf(stderr, "ws-fanout: cannot make a libwebsockets context\n");
		goto out;
	}
	rss_before = rss_kb(server_pid);
	if (rss_before < 0) {
		fprintf(stderr, "ws-fanout: no process %d to read the RSS of\n", (int)server_pid);
		goto out;
	}
	t_start = mono_us();
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 1);
	while (phase != P_DONE)
		if (lws_service(ctx, 0) < 0)
			break;
	if (failures == 0) {
		report();
		rc = gaps || mismatches ? 1 : 0;
	}
out:
	if (ctx != NULL)
		lws_context_destroy(ctx);
	if (post_fd >= 0)
		close(post_fd);
	free(subs);
	free(round_seq);
	free(lat_us);
	free(stamp_ms);
	return rc;
}

/* ---- the reference server ---- */

struct rsub {
	int is_owed_caught_up;
	int64_t sent;		/* the last message sent */
};

static unsigned char *shared;	/* LWS_PRE + the message, rendered once per /fire */
static size_t shared_len, shared_cap;
static int64_t shared_gen;

static int
cb_ref_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct rsub *r = user;

	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		r->sent = shared_gen;
		break;
	case LWS_CALLBACK_RECEIVE:
		r->is_owed_caught_up = 1;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (r->is_owed_caught_up) {
			char m[LWS_PRE + 64];
			int n = snprintf(m + LWS_PRE, 64, "{\"caught_up\":%lld}", (long long)r->sent);

			r->is_owed_caught_up = 0;
			if (lws_write(wsi, (unsigned char *)m + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
				return -1;
			lws_callback_on_writable(wsi);
			break;
		}
		if (r->sent < shared_gen) {
			/* lws writes the frame header into the headroom: the same for all */
			if (lws_write(wsi, shared + LWS_PRE, shared_len, LWS_WRITE_TEXT) <
			    (int)shared_len)
				return -1;
			r->sent = shared_gen;
		}
		break;
	default:
		break;
	}
	return 0;
}

static int
cb_ref_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_HTTP) {
		if (in == NULL || strcmp(in, "/fire") != 0) {
			lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
			return -1;
		}
		shared_gen++;
		{
			char *m = (char *)shared + LWS_PRE;
			int n = snprintf(m, shared_cap, "{\"seq\":%lld,\"pad\":\"",
			    (long long)shared_gen);

			memset(m + n, 'x', shared_cap - (size_t)n);
			memcpy(m + shared_cap - 2, "\"}", 2);
			shared_len = shared_cap;
		}
		lws_callback_on_writable_all_protocol(lws_get_context(wsi),
		    lws_get_protocol(wsi) + 1);
		lws_return_http_status(wsi, HTTP_STATUS_OK, NULL);
		return -1;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols ref_protocols[] = {
	{ "http", cb_ref_http, 0, 0, 0, NULL, 0 },
	{ "outpost.events.v1", cb_ref_ws, sizeof(struct rsub), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static volatile sig_atomic_t is_stopping;

static void
on_term(int sig)
{
	(void)sig;
	is_stopping = 1;
	if (ctx != NULL)
		lws_cancel_service(ctx);
}

static int
run_server(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_vhost *vh;
	FILE *f;
	int rc = 1;

	if (argc != 4 || atoi(argv[3]) < 32 || atoi(argv[3]) > 65536) {
		fprintf(stderr, "usage: ws-fanout serve PORTFILE MSGBYTES (32 to 65536)\n");
		return 2;
	}
	shared_cap = (size_t)atoi(argv[3]);
	if ((shared = malloc(LWS_PRE + shared_cap + 1)) == NULL)
		return 1;
	raise_nofile(16384);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ref_protocols;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if ((ctx = lws_create_context(&info)) == NULL)
		goto out;
	info.port = 0;
	info.iface = "127.0.0.1";
	info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if ((vh = lws_create_vhost(ctx, &info)) == NULL)
		goto out;
	if ((f = fopen(argv[2], "w")) == NULL)
		goto out;
	fprintf(f, "%d\n", lws_get_vhost_listen_port(vh));
	fclose(f);
	while (!is_stopping)
		if (lws_service(ctx, 0) < 0)
			break;
	rc = 0;
out:
	if (ctx != NULL)
		lws_context_destroy(ctx);
	free(shared);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return run_client(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return run_server(argc, argv);
	fprintf(stderr, "usage: ws-fanout client ... | ws-fanout serve ...\n");
	return 2;
}
