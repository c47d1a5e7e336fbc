/*
 * The HTTP client against a small HTTP/1.1 server on loopback, forked per
 * connection. It answers by path: /echo describes the request it got (and
 * on which connection, so keep-alive shows), /error is the API's error
 * shape, /big passes the client's size bound, /slow passes its timeout,
 * /limited asks to retry later, /text is not JSON.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc.h"

static pid_t srv_pid;
static int srv_port;
static char base[64];

/* Reads one request: headers into hdr, body into body. Returns 0, or -1 at EOF. */
static int
read_request(int fd, char *hdr, size_t hlen, char *body, size_t blen)
{
	size_t n = 0, clen = 0, got;
	char *end, *cl;

	while ((end = strstr(hdr, "\r\n\r\n")) == NULL) {
		ssize_t r;

		if (n + 1 >= hlen || (r = read(fd, hdr + n, 1)) <= 0)
			return -1;
		n += (size_t)r;
		hdr[n] = '\0';
	}
	*end = '\0';
	if ((cl = strcasestr(hdr, "\r\ncontent-length:")) != NULL)
		clen = strtoul(cl + 17, NULL, 10);
	if (clen >= blen)
		return -1;
	for (got = 0; got < clen;) {
		ssize_t r = read(fd, body + got, clen - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	body[clen] = '\0';
	return 0;
}

static void
header_value(const char *hdr, const char *name, char *out, size_t n)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\r\n%s:", name);
	out[0] = '\0';
	if ((p = strcasestr(hdr, key)) == NULL)
		return;
	p += strlen(key);
	while (*p == ' ')
		p++;
	snprintf(out, n, "%.*s", (int)strcspn(p, "\r\n"), p);
}

static void
respond(int fd, int status, const char *extra, const char *ctype, const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%s\r\n", status, ctype, strlen(body), extra);

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		_exit(1);
}

static void
serve_connection(int fd, int conn)
{
	static char hdr[8192], body[65536], out[70000];
	char method[16], path[256], auth[256], ctype[128], tp[128];

	while (read_request(fd, hdr, sizeof(hdr), body, sizeof(body)) == 0) {
		if (sscanf(hdr, "%15s %255s", method, path) != 2)
			break;
		header_value(hdr, "Authorization", auth, sizeof(auth));
		header_value(hdr, "Content-Type", ctype, sizeof(ctype));
		header_value(hdr, "traceparent", tp, sizeof(tp));
		if (strncmp(path, "/api/echo", 9) == 0) {
			snprintf(out, sizeof(out), "{\"method\":\"%s\",\"path\":\"%s\","
			    "\"auth\":\"%s\",\"ctype\":\"%s\",\"body\":%s,\"conn\":%d,"
			    "\"traceparent\":\"%s\"}", method, path, auth, ctype,
			    body[0] != '\0' ? body : "null", conn, tp);
			respond(fd, 200, "", "application/json", out);
		} else if (strcmp(path, "/api/error") == 0) {
			respond(fd, 409, "", "application/json", "{\"error\":{\"code\":"
			    "\"invalid_transition\",\"message\":\"no can do\",\"field\":\"id\"}}");
		} else if (strcmp(path, "/api/big") == 0) {
			memset(out, 'x', 2000);
			out[2000] = '\0';
			respond(fd, 200, "", "text/plain", out);
		} else if (strcmp(path, "/api/slow") == 0) {
			sleep(2);
			respond(fd, 200, "", "application/json", "{}");
		} else if (strcmp(path, "/api/limited") == 0) {
			respond(fd, 429, "Retry-After: 7\r\n", "application/json",
			    "{\"error\":{}}");
		} else {
			respond(fd, 200, "", "text/plain", "just text");
		}
	}
	close(fd);
	_exit(0);
}

static int
setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int ls, one = 1;

	(void)state;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 16) != 0)
		return -1;
	getsockname(ls, (struct sockaddr *)&a, &alen);
	srv_port = ntohs(a.sin_port);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/api/", srv_port);
	srv_pid = fork();
	if (srv_pid == 0) {
		int conn = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN);
		for (;;) {
			int fd = accept(ls, NULL, NULL);

			if (fd < 0)
				continue;
			conn++;
			if (fork() == 0) {
				close(ls);
				serve_connection(fd, conn);
			}
			close(fd);
		}
	}
	close(ls);
	return srv_pid > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	kill(srv_pid, SIGKILL);
	waitpid(srv_pid, NULL, 0);
	return 0;
}

static void
test_get_parses_json_and_sends_the_token(void **state)
{
	struct httpc *h = httpc_new(base, "opt_abc");
	struct httpc_resp r;

	(void)state;
	assert_non_null(h);
	/* The trailing slash of the base is dropped: paths bring their own. */
	assert_int_equal(strncmp(httpc_base_url(h), base, strlen(base) - 1), 0);
	assert_int_equal(strlen(httpc_base_url(h)), strlen(base) - 1);
	assert_int_equal(httpc_request(h, "GET", "/echo?x=1", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.fail, HTTPC_FAIL_NONE);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/api/echo?x=1");
	assert_string_equal(json_string_value(json_object_get(r.json, "auth")), "Bearer opt_abc");
	assert_true(json_is_null(json_object_get(r.json, "body")));
	assert_string_equal(r.content_type, "application/json");
	httpc_resp_free(&r);
	httpc_free(h);
}

/* A traceparent goes with the next request alone; one with a control character, never. */
static void
test_traceparent_goes_with_one_request(void **state)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	struct httpc *h = httpc_new(base, NULL);
	struct httpc_resp r;

	(void)state;
	assert_non_null(h);
	httpc_set_traceparent(h, tp);
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "traceparent")), tp);
	httpc_resp_free(&r);
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "traceparent")), "");
	httpc_resp_free(&r);
	httpc_set_traceparent(h, "00-4bf92f3577b34da6a3ce929d0e0e4736\r\nX-Evil: 1");
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "traceparent")), "");
	httpc_resp_free(&r);
	/* Set, then a request that fails before it is sent: the next one does not carry it. */
	httpc_set_traceparent(h, tp);
	assert_int_equal(httpc_request(h, "GET", "/echo\n", NULL, &r), -1);
	httpc_resp_free(&r);
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "traceparent")), "");
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_body_methods_and_keep_alive(void **state)
{
	struct httpc *h = httpc_new(base, NULL);
	struct httpc_resp r;
	json_int_t conn;

	(void)state;
	assert_int_equal(httpc_request(h, "POST", "/echo", "{\"a\":1}", &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(r.json, "ctype")),
	    "application/json");
	assert_string_equal(json_string_value(json_object_get(r.json, "auth")), "");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "body"),
	    "a")), 1);
	conn = json_integer_value(json_object_get(r.json, "conn"));
	httpc_resp_free(&r);

	/* A POST without a body, then a DELETE and a PUT: all on the same connection. */
	assert_int_equal(httpc_request(h, "POST", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "POST");
	assert_int_equal(json_integer_value(json_object_get(r.json, "conn")), conn);
	httpc_resp_free(&r);
	assert_int_equal(httpc_request(h, "DELETE", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "DELETE");
	assert_int_equal(json_integer_value(json_object_get(r.json, "conn")), conn);
	httpc_resp_free(&r);
	assert_int_equal(httpc_request(h, "PUT", "/echo", "{\"b\":2}", &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "PUT");
	assert_int_equal(json_integer_value(json_object_get(r.json, "conn")), conn);
	/* The body of the PUT does not leak into the GET after it. */
	httpc_resp_free(&r);
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r.json, "method")), "GET");
	assert_true(json_is_null(json_object_get(r.json, "body")));
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_an_error_status_is_an_answer(void **state)
{
	struct httpc *h = httpc_new(base, "t");
	const char *code, *message, *field;
	struct httpc_resp r;

	(void)state;
	assert_int_equal(httpc_request(h, "POST", "/error", NULL, &r), 0);
	assert_int_equal(r.status, 409);
	assert_int_equal(httpc_resp_error(&r, &code, &message, &field), 0);
	assert_string_equal(code, "invalid_transition");
	assert_string_equal(message, "no can do");
	assert_string_equal(field, "id");
	httpc_resp_free(&r);

	assert_int_equal(httpc_request(h, "GET", "/limited", NULL, &r), 0);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after, 7);
	assert_int_equal(httpc_resp_error(&r, &code, &message, &field), 0);
	assert_string_equal(message, "");
	httpc_resp_free(&r);

	assert_int_equal(httpc_request(h, "GET", "/text", NULL, &r), 0);
	assert_null(r.json);
	assert_string_equal(r.body, "just text");
	assert_int_equal(httpc_resp_error(&r, &code, &message, &field), -1);
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_answers_over_the_bound_fail(void **state)
{
	struct httpc *h = httpc_new(base, NULL);
	struct httpc_resp r;

	(void)state;
	httpc_set_max_body(h, 1000);
	assert_int_equal(httpc_request(h, "GET", "/big", NULL, &r), -1);
	assert_int_equal(r.fail, HTTPC_FAIL_TOO_LARGE);
	assert_int_equal(r.status, 0);
	assert_non_null(r.body);
	assert_non_null(strstr(r.error, "1000"));
	httpc_resp_free(&r);
	/* The handle is still good after an aborted transfer. */
	assert_int_equal(httpc_request(h, "GET", "/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_timeout(void **state)
{
	struct httpc *h = httpc_new(base, NULL);
	struct httpc_resp r;

	(void)state;
	httpc_set_timeouts(h, 0, 300);
	assert_int_equal(httpc_request(h, "GET", "/slow", NULL, &r), -1);
	assert_int_equal(r.fail, HTTPC_FAIL_TIMEOUT);
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_refused_connection_is_a_transport_failure(void **state)
{
	struct httpc *h = httpc_new("http://127.0.0.1:9", NULL);
	struct httpc_resp r;

	(void)state;
	assert_int_equal(httpc_request(h, "GET", "/api/v1/instances", NULL, &r), -1);
	assert_int_equal(r.fail, HTTPC_FAIL_CONNECT);
	assert_int_equal(r.status, 0);
	assert_true(r.error[0] != '\0');
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_bad_host_is_a_dns_failure(void **state)
{
	struct httpc *h = httpc_new("http://no-such-host.invalid", NULL);
	struct httpc_resp r;

	(void)state;
	assert_int_equal(httpc_request(h, "GET", "/", NULL, &r), -1);
	assert_int_equal(r.fail, HTTPC_FAIL_DNS);
	httpc_resp_free(&r);
	httpc_free(h);
}

static void
test_control_characters_are_refused(void **state)
{
	struct httpc *h;
	struct httpc_resp r;

	(void)state;
	assert_null(httpc_new("http://h", "tok\r\nX-Evil: 1"));
	assert_null(httpc_new("http://h\n", NULL));
	h = httpc_new(base, NULL);
	assert_int_equal(httpc_request(h, "GET", "/echo\r\nX: y", NULL, &r), -1);
	assert_int_equal(r.fail, HTTPC_FAIL_OTHER);
	httpc_resp_free(&r);
	assert_int_equal(httpc_set_user_agent(h, "ua\n"), -1);
	assert_int_equal(httpc_set_user_agent(h, "outpost-test/1"), 0);
	httpc_free(h);
}

static void
test_url_encode_and_query(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b);
	assert_int_equal(httpc_url_encode(&b, ""), 0);
	assert_string_equal(b.p, "");
	assert_int_equal(httpc_url_encode(&b, "a-Z_0.~ /?&=%\xc3\xa9"), 0);
	assert_string_equal(b.p, "a-Z_0.~%20%2F%3F%26%3D%25%C3%A9");
	sbuf_reset(&b);
	sbuf_puts(&b, "/api/v1/instances");
	assert_int_equal(httpc_query_add(&b, "state", "pending,running"), 0);
	assert_int_equal(httpc_query_add(&b, "owner", NULL), 0);
	assert_int_equal(httpc_query_add(&b, "owner", "a b&c"), 0);
	assert_string_equal(b.p, "/api/v1/instances?state=pending%2Crunning&owner=a%20b%26c");
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traceparent_goes_with_one_request),
		cmocka_unit_test(test_get_parses_json_and_sends_the_token),
		cmocka_unit_test(test_body_methods_and_keep_alive),
		cmocka_unit_test(test_an_error_status_is_an_answer),
		cmocka_unit_test(test_answers_over_the_bound_fail),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_refused_connection_is_a_transport_failure),
		cmocka_unit_test(test_bad_host_is_a_dns_failure),
		cmocka_unit_test(test_control_characters_are_refused),
		cmocka_unit_test(test_url_encode_and_query),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
