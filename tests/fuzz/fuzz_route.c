/*
 * The router and the query: an input is "METHOD TARGET" (a method, one
 * space, a path with its query), handed to the routes as http.c hands a
 * request over: percent-decoded, the query's pairs split and checked, the
 * route found (405s and 404s included), its query parameters checked, and a
 * GET route's function called on the seeded store (lists, cursors, filters,
 * ids, names). Routes that change things take bodies: fuzz_body.c's.
 */
#include <string.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *sp = memchr(in, ' ', size);
	char method[8];
	size_t n;

	if (sp == NULL)
		return 0;
	n = (size_t)(sp - in);
	if (n == 0 || n >= sizeof(method))
		return 0;	/* libwebsockets knows no such method */
	memcpy(method, in, n);
	method[n] = '\0';
	fuzz_request(method, sp + 1, size - n - 1, NULL, 0, 1);
	return 0;
}
