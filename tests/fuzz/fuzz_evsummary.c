/*
 * An event's one-line summary (evsummary.c), which scans the event's data
 * as JSON text without parsing it: the input is "TYPE\nDATA". The summary
 * must be one line of valid UTF-8 within its buffer, whatever the data
 * holds, of the JSON text the server always has (jansson's or
 * sbuf_json_string's: well-formed, UTF-8, controls escaped).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evsummary.h"
#include "fuzz.h"

/*
 * Are the n bytes at s UTF-8 in form (with no control character below
 * 0x20 when is_line)? The server's data always is: its JSON comes from
 * jansson or sbuf_json_string, which write U+FFFD for what is not.
 */
static int
is_utf8(const unsigned char *s, size_t len, int is_line)
{
	const unsigned char *end = s + len;

	while (s < end) {
		size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 :
		    (*s & 0xf8) == 0xf0 ? 4 : 0;

		if (n == 0 || (size_t)(end - s) < n || (is_line && n == 1 && *s < 0x20))
			return 0;
		for (size_t k = 1; k < n; k++)
			if ((s[k] & 0xc0) != 0x80)
				return 0;
		s += n;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char type[128], small[16], line[EVSUMMARY_MAX];
	size_t tn;

	if (nl == NULL)
		return 0;
	tn = (size_t)(nl - data);
	if (tn >= sizeof(type) || memchr(data, '\0', tn) != NULL ||
	    !is_utf8(nl + 1, size - tn - 1, 0))
		return 0;
	{
		json_t *j = json_loadb((const char *)nl + 1, size - tn - 1, JSON_DECODE_ANY, NULL);

		if (j == NULL)
			return 0;	/* not what the server has */
		json_decref(j);
	}
	memcpy(type, data, tn);
	type[tn] = '\0';
	for (size_t k = 0; k < tn; k++)
		if (type[k] < 0x20 || type[k] > 0x7e)
			return 0;	/* the server's types are its own words */
	evsummary_write(type, (const char *)nl + 1, size - tn - 1, line, sizeof(line));
	if (strlen(line) >= sizeof(line) || !is_utf8((unsigned char *)line, strlen(line), 1))
		abort();
	evsummary_write(type, (const char *)nl + 1, size - tn - 1, small, sizeof(small));
	if (!is_utf8((unsigned char *)small, strlen(small), 1))
		abort();
	return 0;
}
