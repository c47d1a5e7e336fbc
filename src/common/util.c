/*
 * Helpers shared by every program. No allocation failure is fatal here:
 * sbuf functions return -1 and leave the buffer as it was.
 */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "bounds.h"
#include "util.h"

void
sbuf_init(struct sbuf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	sbuf_init(b);
}

void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

int
sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;
	char *p;

	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* The array's pointer is copied in and out with memcpy: a void ** would not alias a T **. */
int
array_grow(void *array, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p, *np;

	if (n < *cap)
		return 0;
	if (*cap > SIZE_MAX / 2)
		return -1;	/* doubling would wrap (to 0: realloc would free the array) */
	ncap = *cap ? *cap * 2 : 16;
	if (elem == 0 || ncap > SIZE_MAX / elem)
		return -1;
	memcpy(&p, array, sizeof(p));
	np = realloc(p, ncap * elem);
	if (np == NULL)
		return -1;
	memcpy(array, &np, sizeof(np));
	*cap = ncap;
	return 0;
}

int
sbuf_append(struct sbuf *b, const void *data, size_t n)
{
	if (sbuf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
sbuf_puts(struct sbuf *b, const char *s)
{
	return sbuf_append(b, s, strlen(s));
}

int
sbuf_putc(struct sbuf *b, char c)
{
	return sbuf_append(b, &c, 1);
}

int
sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list again;
	size_t room;
	int n;

	/* Most writes are short: one formatting into the room there is, a second only if short. */
	if (sbuf_reserve(b, 128) != 0)
		return -1;
	room = b->cap - b->len;
	va_copy(again, ap);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	if (n >= 0 && (size_t)n >= room) {
		if (sbuf_reserve(b, (size_t)n) != 0)
			n = -1;
		else
			vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
	}
	va_end(again);
	if (n < 0)
		return -1;
	b->len += (size_t)n;
	return 0;
}

int
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* The length of the valid UTF-8 sequence at p, or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Appends s as a JSON string literal. Bytes that are not valid UTF-8 (from
 * a URL-decoded path, say) become U+FFFD, so the output is always valid JSON.
 */
int
sbuf_json_string(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (sbuf_putc(b, '"') != 0)
		return -1;
	while (*p) {
		char esc[7] = "\\u00";
		size_t n;

		switch (*p) {
		case '"': sbuf_puts(b, "\\\""); p++; continue;
		case '\\': sbuf_puts(b, "\\\\"); p++; continue;
		case '\n': sbuf_puts(b, "\\n"); p++; continue;
		case '\r': sbuf_puts(b, "\\r"); p++; continue;
		case '\t': sbuf_puts(b, "\\t"); p++; continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			esc[6] = '\0';
			sbuf_puts(b, esc);
			p++;
			continue;
		}
		n = utf8_len(p);
		if (n == 0) {
			sbuf_puts(b, "\\ufffd");
			p++;
			continue;
		}
		sbuf_append(b, p, n);
		p += n;
	}
	return sbuf_putc(b, '"');
}

char *
sbuf_steal(struct sbuf *b)
{
	char *p = b->p;

	if (p == NULL)
		p = strdup("");
	sbuf_init(b);
	return p;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int
time_parse_rfc3339(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, frac = 0, off = 0;
	const char *p = s;

	if (s == NULL)
		return -1;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	if (*p == '.') {
		int scale = 100, n = 0;

		p++;
		while (isdigit((unsigned char)*p)) {
			if (scale > 0)
				frac += (*p - '0') * scale;
			scale /= 10;
			p++;
			n++;
		}
		if (n == 0)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, sign = *p == '-' ? -1 : 1;

		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (sec == 60)
		sec = 59;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = sec };
	*ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

/* Writes v as `width` digits, zero-padded, and returns what follows them. */
static char *
put_digits(char *p, int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/*
 * The civil date of a day count since 1970-01-01, in the proleptic Gregorian
 * calendar: eras of 400 years (146097 days) repeat exactly, so the day of the
 * era gives the year of the era, and a year counted from March puts the leap
 * day last. Pure arithmetic: no gmtime_r, which takes the C library's
 * timezone lock on every call.
 */
static void
civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*month <= 2));
}

char *
time_format_ms(int64_t ms, char *buf, size_t n, int with_ms)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int rem = (int)(ms - secs * 1000);
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int sod = (int)(secs - days * 86400);
	char tmp[32], *p = tmp;
	int y, mo, d;

	civil_from_days(days, &y, &mo, &d);
	if (y < 0 || y > 9999) {
		/* Outside what RFC 3339 writes with four digits: the C library's way, as before. */
		time_t t = (time_t)secs;
		struct tm tm;

		gmtime_r(&t, &tm);
		snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		return buf;
	}
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, mo, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	if (with_ms) {
		*p++ = '.';
		p = put_digits(p, rem, 3);
	}
	*p++ = 'Z';
	if (n > 0) {
		size_t len = (size_t)(p - tmp) < n - 1 ? (size_t)(p - tmp) : n - 1;

		memcpy(buf, tmp, len);
		buf[len] = '\0';
	}
	return buf;
}

int
duration_parse(const char *s, int64_t *ms)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p) {
		int64_t v = 0, unit;
		int nd = 0;

		while (isdigit((unsigned char)*p)) {
			if (v > INT64_MAX / 10 - 10)
				return -1;
			v = v * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0)
			return -1;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else if (*p == 'd') {
			unit = 86400000;
			p++;
		} else {
			return -1;
		}
		if (v > (INT64_MAX - total) / unit)
			return -1;
		total += v * unit;
	}
	*ms = total;
	return 0;
}

char *
duration_format(int64_t ms, char *buf, size_t n)
{
	static const struct { int64_t unit; const char *sfx; } u[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" },
	};
	size_t off = 0;

	if (ms <= 0) {
		snprintf(buf, n, "0s");
		return buf;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]) && off < n; i++) {
		if (ms >= u[i].unit) {
			int w = snprintf(buf + off, n - off, "%lld%s", (long long)(ms / u[i].unit), u[i].sfx);

			if (w < 0)
				break;
			off += (size_t)w;
			ms %= u[i].unit;
		}
	}
	return buf;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
base64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		int k = 2;

		if (i + 1 < n) {
			v |= (uint32_t)in[i + 1] << 8;
			k++;
		}
		if (i + 2 < n) {
			v |= in[i + 2];
			k++;
		}
		for (int j = 0; j < k; j++) {
			if (o + 1 >= outlen)
				goto done;
			out[o++] = b64url[(v >> (18 - 6 * j)) & 63];
		}
	}
done:
	if (outlen > 0)
		out[o] = '\0';
	return o;
}

long
base64url_decode(const char *in, unsigned char *out, size_t outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		const char *c = strchr(b64url, *p);

		if (c == NULL)
			return -1;
		acc = (acc << 6) | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)((acc >> bits) & 0xff);
		}
	}
	/* Leftover bits must be zero padding, else the input was not ours. */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

int
name_is_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!islower(c) && !isdigit(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

int
parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_BUF_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST ? -1 : 0;
}

int
dir_next_json(DIR *d, const char *dir, char *path, size_t pathlen, char *name,
    size_t namelen)
{
	struct dirent *e;

	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.' ||
		    (size_t)snprintf(path, pathlen, "%s/%s", dir, e->d_name) >= pathlen)
			continue;
		snprintf(name, namelen, "%.*s", (int)(len - 5 < namelen - 1 ? len - 5 :
		    namelen - 1), e->d_name);
		return 1;
	}
	return 0;
}

int
thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
