/*
 * Keyset cursors. A cursor is base64url("<listing>:<last id>:<check>"), so it
 * is opaque to clients, cannot be moved from one listing to another, and a
 * cursor that was edited or truncated is refused instead of silently
 * returning the wrong page. Pages are ordered by id, and ids only grow, so a
 * client paging while others create never sees an item twice or misses one.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

static unsigned
check_of(const char *listing, const char *key)
{
	/* FNV-1a over the listing and the key: a guard against accidents, not an adversary. */
	unsigned h = 2166136261u;
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "%s:%s", listing, key);

	for (int i = 0; i < n && i < (int)sizeof(buf); i++) {
		h ^= (unsigned char)buf[i];
		h *= 16777619u;
	}
	return h & 0xffffff;
}

void
cursor_encode_key(const char *listing, const char *key, char *out, size_t outlen)
{
	char raw[160];
	int n = snprintf(raw, sizeof(raw), "%s:%s:%06x", listing, key, check_of(listing, key));

	if (n < 0 || n >= (int)sizeof(raw))
		n = 0;
	base64url_encode((const unsigned char *)raw, (size_t)n, out, outlen);
}

int
cursor_decode_key(const char *listing, const char *cursor, char *key, size_t keylen)
{
	unsigned char raw[160];
	char want[64];
	long n;
	const char *p, *q;
	unsigned check;

	if (cursor == NULL || strlen(cursor) > 200)
		return -1;
	n = base64url_decode(cursor, raw, sizeof(raw) - 1);
	if (n <= 0)
		return -1;
	raw[n] = '\0';
	snprintf(want, sizeof(want), "%s:", listing);
	if (strncmp((const char *)raw, want, strlen(want)) != 0)
		return -1;
	p = (const char *)raw + strlen(want);
	q = strrchr(p, ':');
	if (q == NULL || q == p || (size_t)(q - p) >= keylen)
		return -1;
	memcpy(key, p, (size_t)(q - p));
	key[q - p] = '\0';
	if (strlen(q + 1) != 6 || sscanf(q + 1, "%6x", &check) != 1 ||
	    check != check_of(listing, key))
		return -1;
	return 0;
}

void
cursor_encode(const char *listing, int64_t last_id, char *out, size_t outlen)
{
	char key[32];

	snprintf(key, sizeof(key), "%lld", (long long)last_id);
	cursor_encode_key(listing, key, out, outlen);
}

int
cursor_decode(const char *listing, const char *cursor, int64_t *last_id)
{
	char key[32];

	if (cursor_decode_key(listing, cursor, key, sizeof(key)) != 0)
		return -1;
	return parse_int64(key, 0, INT64_MAX, last_id);
}

int
page_params(const struct req *rq, const char *listing, int64_t *limit, int64_t *after,
    struct op_err *err)
{
	char buf[160];
	const char *v;

	*limit = 50;
	*after = 0;
	v = req_query(rq, "limit", buf, sizeof(buf));
	if (v != NULL && parse_int64(v, 1, 500, limit) != 0) {
		op_err_set(err, 400, "invalid_argument", "limit",
		    "limit must be an integer from 1 to 500");
		return -1;
	}
	v = req_query(rq, "after", buf, sizeof(buf));
	if (v != NULL && cursor_decode(listing, v, after) != 0) {
		op_err_set(err, 400, "invalid_argument", "after",
		    "after is not a cursor from this listing; use the `next` of a previous page");
		return -1;
	}
	return 0;
}
