/*
 * Who the client is (clientaddr.c): trusted_proxies lists, and
 * X-Forwarded-For believed only from a proxy the operator named, and only
 * as far back as the chain of trusted proxies goes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static void
test_lists_parse_and_refuse_what_is_not_an_address(void **state)
{
	struct addr_list l;
	char why[160];

	(void)state;
	assert_int_equal(addr_list_parse("", &l, why, sizeof(why)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(addr_list_parse("127.0.0.1, 10.0.0.0/8,::1 fd00::/8", &l, why,
	    sizeof(why)), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(addr_list_parse("10.0.0.0/33", &l, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "prefix must be 0 to 32"));
	assert_int_equal(addr_list_parse("localhost", &l, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "localhost is not an IPv4 or IPv6 address"));
	assert_int_equal(addr_list_parse("::/129", &l, why, sizeof(why)), -1);
	assert_int_equal(addr_list_parse("10.0.0.1/x", &l, why, sizeof(why)), -1);
}

static void
test_networks_match_by_their_prefix(void **state)
{
	struct addr_list l;
	char why[160];

	(void)state;
	assert_int_equal(addr_list_parse("10.1.0.0/16,192.168.1.7,fd00::/8,172.16.0.0/12",
	    &l, why, sizeof(why)), 0);
	assert_true(addr_list_has(&l, "10.1.255.3"));
	assert_false(addr_list_has(&l, "10.2.0.1"));
	assert_true(addr_list_has(&l, "192.168.1.7"));
	assert_false(addr_list_has(&l, "192.168.1.8"));
	assert_true(addr_list_has(&l, "172.31.255.255"));
	assert_false(addr_list_has(&l, "172.32.0.0"));
	assert_true(addr_list_has(&l, "fd12::1"));
	assert_false(addr_list_has(&l, "fe80::1"));
	/* The IPv4-mapped form of an IPv4 peer is that address. */
	assert_true(addr_list_has(&l, "::ffff:10.1.2.3"));
	assert_false(addr_list_has(&l, "not an address"));
	assert_false(addr_list_has(&l, ""));
}

static void
test_forwarded_for_counts_only_from_a_trusted_proxy(void **state)
{
	struct addr_list l;
	char why[160], out[ADDR_TEXT_BUF];

	(void)state;
	assert_int_equal(addr_list_parse("127.0.0.1,10.0.0.0/8", &l, why, sizeof(why)), 0);
	/* From anyone else, the header is the client's own word: ignored. */
	assert_int_equal(client_address("203.0.113.9", "1.2.3.4", &l, out, sizeof(out)), 0);
	assert_string_equal(out, "203.0.113.9");
	/* From the proxy: the address it saw. */
	assert_int_equal(client_address("127.0.0.1", "198.51.100.7", &l, out, sizeof(out)), 1);
	assert_string_equal(out, "198.51.100.7");
	/* A client that sends its own header: the right-most untrusted hop wins. */
	assert_int_equal(client_address("127.0.0.1", "6.6.6.6, 198.51.100.7", &l, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "198.51.100.7");
	/* Through two trusted proxies. */
	assert_int_equal(client_address("127.0.0.1", "198.51.100.7,10.0.0.5", &l, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "198.51.100.7");
	/* Garbage stops the walk: the last good hop (here the proxy) stands. */
	assert_int_equal(client_address("127.0.0.1", "198.51.100.7, <script>", &l, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "127.0.0.1");
	/* No header from the proxy: the proxy. */
	assert_int_equal(client_address("127.0.0.1", NULL, &l, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1");
	/* Every hop trusted: the left-most. */
	assert_int_equal(client_address("127.0.0.1", "10.9.9.9 , 10.0.0.1", &l, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "10.9.9.9");
}

/* An X-Request-Id is kept only when a log line and a header can carry it as it is. */
static void
test_request_ids_kept_only_when_sane(void **state)
{
	char max[REQUEST_ID_MAX + 2];

	(void)state;
	assert_true(request_id_is_sane("12345"));
	assert_true(request_id_is_sane("abc-DEF_1.2:3"));
	memset(max, 'a', REQUEST_ID_MAX);
	max[REQUEST_ID_MAX] = '\0';
	assert_true(request_id_is_sane(max));
	max[REQUEST_ID_MAX] = 'a';
	max[REQUEST_ID_MAX + 1] = '\0';
	assert_false(request_id_is_sane(max));
	assert_false(request_id_is_sane(""));
	assert_false(request_id_is_sane("a b"));
	assert_false(request_id_is_sane("a\"b"));
	assert_false(request_id_is_sane("a\nb"));
	assert_false(request_id_is_sane("a\x7f"));
	assert_false(request_id_is_sane("caf\xc3\xa9"));
	assert_false(request_id_is_sane("a/b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_parse_and_refuse_what_is_not_an_address),
		cmocka_unit_test(test_networks_match_by_their_prefix),
		cmocka_unit_test(test_forwarded_for_counts_only_from_a_trusted_proxy),
		cmocka_unit_test(test_request_ids_kept_only_when_sane),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
