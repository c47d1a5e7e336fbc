/*
 * The small parsers of values that come from outside: durations ("1h30m"),
 * RFC 3339 times, keyset cursors (by id and by key), integers, base64url,
 * names, lists of states, trusted_proxies lists and X-Forwarded-For, W3C
 * traceparent headers (read from the input's own bytes, unterminated). The
 * input's first byte chooses the parser, the rest is its text. Where a
 * value parses, what the code writes back must parse to the same value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz.h"

static void
round_trips(const char *s)
{
	int64_t ms, ms2, id;
	char buf[1024], key[256], key2[256];
	unsigned char raw[256];
	long n;

	if (duration_parse(s, &ms) == 0) {
		duration_format(ms, buf, sizeof(buf));
		if (duration_parse(buf, &ms2) != 0 || ms2 != ms)
			abort();
	}
	if (time_parse_rfc3339(s, &ms) == 0) {
		time_format_ms(ms, buf, sizeof(buf), 1);
		if (time_parse_rfc3339(buf, &ms2) != 0 || ms2 != ms)
			abort();
	}
	if (cursor_decode("instances", s, &id) == 0) {
		cursor_encode("instances", id, buf, sizeof(buf));
		if (cursor_decode("instances", buf, &ms2) != 0 || ms2 != id)
			abort();
	}
	if (cursor_decode_key("definitions", s, key, sizeof(key)) == 0) {
		cursor_encode_key("definitions", key, buf, sizeof(buf));
		if (cursor_decode_key("definitions", buf, key2, sizeof(key2)) != 0 ||
		    strcmp(key2, key) != 0)
			abort();
	}
	parse_int64(s, INT64_MIN, INT64_MAX, &id);
	name_is_valid(s, NAME_MAX_LEN);
	n = base64url_decode(s, raw, sizeof(raw));
	if (n >= 0)
		base64url_encode(raw, (size_t)n, buf, sizeof(buf));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	unsigned mask;
	char why[256];

	if (size == 0)
		return 0;
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		round_trips(s);
		break;
	case 1:
		for (int k = 0; k < KIND_COUNT; k++)
			state_mask_parse((enum state_kind)k, s, "state", &mask, why, sizeof(why));
		break;
	case 2: {
		struct addr_list l = { 0 };

		addr_list_parse(s, &l, why, sizeof(why));
		break;
	}
	case 3: {
		/* "TRUSTED\nXFF": a trusted_proxies list, then a header's value. */
		struct addr_list l = { 0 };
		char addr[ADDR_TEXT_BUF];
		char *nl = strchr(s, '\n');

		if (nl == NULL)
			break;
		*nl = '\0';
		if (addr_list_parse(s, &l, why, sizeof(why)) == 0)
			client_address("127.0.0.1", nl + 1, &l, addr, sizeof(addr));
		break;
	}
	case 4: {
		/* A traceparent that parses is written back byte for byte (it is that strict). */
		struct trace_ctx c;
		char tp[TRACEPARENT_BUF];

		if (traceparent_parse((const char *)data + 1, size - 1, &c) == 0 &&
		    (!c.is_valid || size - 1 != TRACEPARENT_LEN ||
		    memcmp(traceparent_format(&c, tp, sizeof(tp)), data + 1, TRACEPARENT_LEN) != 0))
			abort();
		break;
	}
	}
	free(s);
	return 0;
}
