/*
 * Small shared helpers: a growable string buffer, times (RFC 3339, UTC,
 * milliseconds since the epoch internally), durations ("90s", "1h30m"),
 * base64url, and name checks.
 */
#ifndef OUTPOST_UTIL_H
#define OUTPOST_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;
	size_t len;
	size_t cap;
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
int sbuf_reserve(struct sbuf *b, size_t extra);
int sbuf_append(struct sbuf *b, const void *data, size_t n);
int sbuf_puts(struct sbuf *b, const char *s);
int sbuf_putc(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included. */
int sbuf_json_string(struct sbuf *b, const char *s);
/* Detaches the NUL-terminated buffer; the caller frees it. */
char *sbuf_steal(struct sbuf *b);

/*
 * Room for one more element in a growable array: *(T **)array holds *cap
 * elements of elem bytes, n of them used. Doubles the room when n reaches it
 * (from 16). Returns 0, or -1 (out of memory) with the array as it was.
 * Usage: if (array_grow(&items, &cap, n, sizeof(*items)) != 0) ...
 */
int array_grow(void *array, size_t *cap, size_t n, size_t elem);

int64_t now_ms(void);
int64_t mono_us(void);	/* CLOCK_MONOTONIC, for durations */
/* Parses "2026-11-23T10:00:00Z", optional fraction, "Z" or "+hh:mm". */
int time_parse_rfc3339(const char *s, int64_t *ms);
/* Formats UTC; with_ms adds ".mmm". Returns buf. */
char *time_format_ms(int64_t ms, char *buf, size_t n, int with_ms);

/* "500ms", "90s", "10m", "2h", "1d", and sums of them ("1h30m"). */
int duration_parse(const char *s, int64_t *ms);
char *duration_format(int64_t ms, char *buf, size_t n);

size_t base64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen);
/* Returns the decoded length, or -1 on a character outside the alphabet. */
long base64url_decode(const char *in, unsigned char *out, size_t outlen);

/* [a-z0-9][a-z0-9._-]*, 1..max characters. */
int name_is_valid(const char *s, size_t max);
/* Parses a whole decimal integer into *out within [min, max]. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* mkdir -p: path and whatever it needs above it, each made with mode. */
int mkdir_p(const char *path, unsigned mode);
/*
 * The next NAME.json of a directory being read (hidden files passed over):
 * its path and NAME. 1 for one, 0 at the end. A file whose path does not
 * fit is passed over; NAME is cut to namelen - 1 bytes, so give a buffer
 * longer than any valid name and the name's check refuses a cut one.
 */
int dir_next_json(DIR *d, const char *dir, char *path, size_t pathlen, char *name,
    size_t namelen);

/*
 * pthread_create with every signal blocked in the new thread: signals are the
 * loop's (its handlers, signalfd, SIGCHLD), never a worker thread's. 0 or an errno.
 */
#include <pthread.h>
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
