/* Times, durations, base64url, names and integers: the parsers every input goes through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "confread.h"
#include "util.h"

static void
test_rfc3339_round_trip(void **state)
{
	int64_t ms;
	char buf[40];

	(void)state;
	assert_int_equal(time_parse_rfc3339("2026-11-23T10:00:00Z", &ms), 0);
	assert_int_equal(ms, 1795428000000LL);
	assert_string_equal(time_format_ms(ms, buf, sizeof(buf), 0), "2026-11-23T10:00:00Z");
	assert_int_equal(time_parse_rfc3339("2026-11-23T10:00:00.250Z", &ms), 0);
	assert_string_equal(time_format_ms(ms, buf, sizeof(buf), 1), "2026-11-23T10:00:00.250Z");
	assert_int_equal(time_parse_rfc3339("2026-11-23T12:00:00+02:00", &ms), 0);
	assert_string_equal(time_format_ms(ms, buf, sizeof(buf), 0), "2026-11-23T10:00:00Z");
	assert_int_equal(time_parse_rfc3339("2024-02-29T00:00:00Z", &ms), 0);
}

/* The formatter's own calendar agrees with the C library's, leap years and all. */
static void
test_time_format_agrees_with_gmtime(void **state)
{
	unsigned seed = 7;
	char buf[40], want[96];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		/* From 1900 to 2200, with milliseconds; and the edges of days and years. */
		int64_t ms = -2208988800000LL + (int64_t)rand_r(&seed) * 4 % 9467280000000LL +
		    (int64_t)(rand_r(&seed) % 1000);
		time_t t;
		struct tm tm;

		if (i % 4 == 0)
			ms -= ms % 86400000;
		t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
		gmtime_r(&t, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    (int)(ms - (int64_t)t * 1000));
		time_format_ms(ms, buf, sizeof(buf), 1);
		if (strcmp(buf, want) != 0)
			fail_msg("%lld: %s, the C library says %s", (long long)ms, buf, want);
	}
	assert_string_equal(time_format_ms(951782400000LL, buf, sizeof(buf), 0),
	    "2000-02-29T00:00:00Z");
	assert_string_equal(time_format_ms(-1, buf, sizeof(buf), 1), "1969-12-31T23:59:59.999Z");
	assert_string_equal(time_format_ms(253402300799999LL, buf, sizeof(buf), 1),
	    "9999-12-31T23:59:59.999Z");
	/* A short buffer gets what fits, terminated. */
	assert_string_equal(time_format_ms(0, buf, 11, 0), "1970-01-01");
}

/* A growable array keeps what it held as it doubles, and refuses a size that overflows. */
static void
test_array_grow_doubles_and_keeps(void **state)
{
	int64_t *v = NULL;
	size_t cap = 0, n;

	(void)state;
	for (n = 0; n < 1000; n++) {
		assert_int_equal(array_grow(&v, &cap, n, sizeof(*v)), 0);
		assert_true(cap > n);
		v[n] = (int64_t)n * 7;
	}
	assert_int_equal(cap, 1024);
	for (n = 0; n < 1000; n++)
		assert_int_equal(v[n], (int64_t)n * 7);
	assert_int_equal(array_grow(&v, &cap, 10, sizeof(*v)), 0);	/* room left: nothing moves */
	assert_int_equal(cap, 1024);
	cap = SIZE_MAX / 2 + 1;
	assert_int_equal(array_grow(&v, &cap, cap, sizeof(*v)), -1);
	assert_non_null(v);
	free(v);
}

static void
test_rfc3339_refuses_what_is_not_a_time(void **state)
{
	static const char *const bad[] = { "", "2026-11-23", "2026-11-23T10:00:00",
		"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
		"2026-11-23T24:00:00Z", "2026-11-23T10:00:00Zjunk", "2026-11-23T10:00:00.Z",
		"tomorrow", "2026-11-23T10:00:00+2:00", NULL };
	int64_t ms;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++)
		if (time_parse_rfc3339(bad[i], &ms) == 0)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(time_parse_rfc3339(NULL, &ms), -1);
}

static void
test_durations(void **state)
{
	int64_t ms;
	char buf[32];

	(void)state;
	assert_int_equal(duration_parse("90s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(duration_parse("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(duration_parse("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(duration_parse("2d", &ms), 0);
	assert_string_equal(duration_format(ms, buf, sizeof(buf)), "2d");
	assert_string_equal(duration_format(5400000, buf, sizeof(buf)), "1h30m");
	assert_int_equal(duration_parse("", &ms), -1);
	assert_int_equal(duration_parse("10", &ms), -1);
	assert_int_equal(duration_parse("m", &ms), -1);
	assert_int_equal(duration_parse("-5s", &ms), -1);
	assert_int_equal(duration_parse("5 s", &ms), -1);
	assert_int_equal(duration_parse("99999999999999999999s", &ms), -1);
}

static void
test_base64url(void **state)
{
	const unsigned char in[] = { 0xfb, 0xff, 0x00, 'a', 'b' };
	unsigned char out[16];
	char enc[16];

	(void)state;
	for (size_t n = 0; n <= sizeof(in); n++) {
		base64url_encode(in, n, enc, sizeof(enc));
		assert_null(strchr(enc, '+'));
		assert_null(strchr(enc, '/'));
		assert_int_equal(base64url_decode(enc, out, sizeof(out)), (long)n);
		assert_memory_equal(in, out, n);
	}
	assert_int_equal(base64url_decode("a+b", out, sizeof(out)), -1);
	assert_int_equal(base64url_decode("ab=", out, sizeof(out)), -1);
	assert_int_equal(base64url_decode("AB", out, sizeof(out)), -1);	/* nonzero padding bits */
}

static void
test_names_and_integers(void **state)
{
	int64_t v;

	(void)state;
	assert_true(name_is_valid("lab-linux.v2_x", 64));
	assert_false(name_is_valid("", 64));
	assert_false(name_is_valid("-x", 64));
	assert_false(name_is_valid("Lab", 64));
	assert_false(name_is_valid("a b", 64));
	assert_false(name_is_valid("abcd", 3));
	assert_int_equal(parse_int64("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_int64("0", 1, 100, &v), -1);
	assert_int_equal(parse_int64("101", 1, 100, &v), -1);
	assert_int_equal(parse_int64("4x", 1, 100, &v), -1);
	assert_int_equal(parse_int64(" 4", 1, 100, &v), -1);
	assert_int_equal(parse_int64("", 1, 100, &v), -1);
}

static void
test_sbuf_json_string_escapes(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b);
	sbuf_json_string(&b, "a\"b\\c\n\x01");
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\"");
	/* Not UTF-8: a lone byte, an overlong form, a surrogate; and DEL. Valid text stays. */
	sbuf_reset(&b);
	sbuf_json_string(&b, "x\xffy\xc0\xafz\xed\xa0\x80\x7f\xc3\xbc\xe2\x82\xac");
	assert_string_equal(b.p, "\"x\\ufffdy\\ufffd\\ufffdz\\ufffd\\ufffd\\ufffd\\u007f\xc3\xbc\xe2\x82\xac\"");
	sbuf_free(&b);
}

static int
record(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	char *seen = ctx;

	if (strcmp(value, "bad") == 0) {
		snprintf(err, errlen, "%s cannot be bad", key);
		return -1;
	}
	strcat(seen, key);
	strcat(seen, "=");
	strcat(seen, value);
	strcat(seen, ";");
	return 0;
}

static void
test_flags_name_their_keys(void **state)
{
	static const char *const keys[] = { "state_dir", "listen", NULL };
	char *ok[] = { "p", "--state-dir", "/x", "--listen=1:2", "--config", "c.conf", NULL };
	char *unknown[] = { "p", "--state_dirx", "1", NULL };
	char *missing[] = { "p", "--listen", NULL };
	char *stray[] = { "p", "listen", NULL };
	char *help[] = { "p", "--listen", "1", "-h", NULL };
	char *bad[] = { "p", "--state-dir", "bad", NULL };
	struct config_flags f;
	char seen[256] = "", err[256];

	(void)state;
	assert_int_equal(config_parse_flags(6, ok, "p", keys, &f), CONFIG_FLAGS_OK);
	assert_string_equal(f.config, "c.conf");
	assert_int_equal(config_apply_flags(&f, record, seen, err, sizeof(err)), 0);
	assert_string_equal(seen, "state_dir=/x;listen=1:2;");
	assert_int_equal(config_parse_flags(3, unknown, "p", keys, &f), CONFIG_FLAGS_BAD);
	assert_int_equal(config_parse_flags(2, missing, "p", keys, &f), CONFIG_FLAGS_BAD);
	assert_int_equal(config_parse_flags(2, stray, "p", keys, &f), CONFIG_FLAGS_BAD);
	assert_int_equal(config_parse_flags(4, help, "p", keys, &f), CONFIG_FLAGS_HELP);
	assert_int_equal(config_parse_flags(3, bad, "p", keys, &f), CONFIG_FLAGS_OK);
	assert_int_equal(config_apply_flags(&f, record, seen, err, sizeof(err)), -1);
	assert_string_equal(err, "--state-dir: state_dir cannot be bad");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_round_trip),
		cmocka_unit_test(test_time_format_agrees_with_gmtime),
		cmocka_unit_test(test_array_grow_doubles_and_keeps),
		cmocka_unit_test(test_rfc3339_refuses_what_is_not_a_time),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_base64url),
		cmocka_unit_test(test_names_and_integers),
		cmocka_unit_test(test_sbuf_json_string_escapes),
		cmocka_unit_test(test_flags_name_their_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
