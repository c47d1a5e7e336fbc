/*
 * Who is on the other end of a request: the peer's address, or, when the
 * peer is one of the trusted_proxies, the client it forwards for, from
 * X-Forwarded-For. Nothing else may believe that header: any client can
 * send one, so it counts only from a proxy the operator named.
 *
 * Pure functions of text (no socket): tests/unit/test_clientaddr.c checks them.
 * So is the check of the X-Request-Id a client sends, kept as the request's id.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "server.h"

/* "a.b.c.d" or an IPv6 literal into family and bytes. Returns 0 or -1. */
static int
addr_from_text(const char *s, int *family, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		/* An IPv4-mapped IPv6 peer ("::ffff:10.0.0.1") is that IPv4 address. */
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(out, mapped, sizeof(mapped)) == 0) {
			memmove(out, out + 12, 4);
			*family = AF_INET;
			return 0;
		}
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

int
addr_list_parse(const char *s, struct addr_list *l, char *why, size_t whylen)
{
	memset(l, 0, sizeof(*l));
	while (*s != '\0') {
		char item[ADDR_TEXT_BUF], *slash;
		size_t n;
		struct addr_net *e;
		int64_t prefix;

		s += strspn(s, " ,");
		n = strcspn(s, " ,");
		if (n == 0)
			break;
		if (n >= sizeof(item)) {
			snprintf(why, whylen, "an entry is longer than %zu bytes", sizeof(item) - 1);
			return -1;
		}
		if (l->n == ADDR_LIST_MAX) {
			snprintf(why, whylen, "at most %d entries", ADDR_LIST_MAX);
			return -1;
		}
		memcpy(item, s, n);
		item[n] = '\0';
		s += n;
		e = &l->e[l->n];
		if ((slash = strchr(item, '/')) != NULL)
			*slash = '\0';
		if (addr_from_text(item, &e->family, e->addr) != 0) {
			snprintf(why, whylen, "%s is not an IPv4 or IPv6 address", item);
			return -1;
		}
		e->prefix = e->family == AF_INET ? 32 : 128;
		if (slash != NULL) {
			if (parse_int64(slash + 1, 0, e->prefix, &prefix) != 0) {
				snprintf(why, whylen, "%s/%s: the prefix must be 0 to %d", item, slash + 1,
				    e->prefix);
				return -1;
			}
			e->prefix = (int)prefix;
		}
		l->n++;
	}
	return 0;
}

static int
net_has(const struct addr_net *e, int family, const unsigned char *a)
{
	int whole = e->prefix / 8, rest = e->prefix % 8;

	if (e->family != family || memcmp(e->addr, a, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((e->addr[whole] ^ a[whole]) & (0xff << (8 - rest))) == 0;
}

int
addr_list_has(const struct addr_list *l, const char *addr)
{
	unsigned char a[16];
	int family;

	if (addr_from_text(addr, &family, a) != 0)
		return 0;
	for (int i = 0; i < l->n; i++)
		if (net_has(&l->e[i], family, a))
			return 1;
	return 0;
}

#define XFF_HOPS_MAX 16

int
client_address(const char *peer, const char *xff, const struct addr_list *trusted, char *out,
    size_t outlen)
{
	char hops[XFF_HOPS_MAX][ADDR_TEXT_BUF];
	int n = 0;

	snprintf(out, outlen, "%s", peer);
	if (xff == NULL || *xff == '\0' || !addr_list_has(trusted, peer))
		return 0;
	/* The hops, left to right; a header of more than XFF_HOPS_MAX keeps the last ones. */
	for (const char *p = xff; *p != '\0';) {
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, " \t,");
		if (len == 0)
			break;
		if (n == XFF_HOPS_MAX) {
			memmove(hops[0], hops[1], sizeof(hops[0]) * (XFF_HOPS_MAX - 1));
			n--;
		}
		snprintf(hops[n++], sizeof(hops[0]), "%.*s",
		    (int)(len < ADDR_TEXT_BUF - 1 ? len : ADDR_TEXT_BUF - 1), p);
		p += len;
	}
	/* From the right: each hop a trusted proxy added, until one it did not. */
	for (int i = n - 1; i >= 0; i--) {
		unsigned char a[16];
		int family;

		if (addr_from_text(hops[i], &family, a) != 0)
			break;
		snprintf(out, outlen, "%s", hops[i]);
		if (!addr_list_has(trusted, hops[i]))
			break;
	}
	return 1;
}

int
request_id_is_sane(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= REQUEST_ID_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n;
}
