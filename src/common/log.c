/*
 * The logger. Each line is formatted into one buffer and written with one
 * write(2) so lines from several processes sharing a journal never interleave.
 * Lines are cut at 8 KiB; a log line is not a place for bulk data.
 * Keys marked by LOG_INT(), LOG_REAL() and LOG_BOOL() (log.h) carry JSON
 * numbers and booleans; under journald each line starts with <N>, its
 * syslog priority (systemd's SyslogLevelPrefix).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static enum log_format log_fmt = LOG_FORMAT_AUTO;
static enum log_level log_min = LOG_INFO;
static __thread char log_rid[80];	/* per thread: the exporter's (otlp.c) never has one */
static __thread char log_tid[33];
static char log_prog[32] = "outpost";

static int log_is_journal;	/* stderr is journald's stream: lines start with <N> */

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const int level_prio[] = { 7, 6, 4, 3 };	/* syslog's debug, info, warning, err */

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to
 * stderr; a program whose stderr was redirected since keeps the variable,
 * so only a match counts.
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (js == NULL || sscanf(js, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    js[n] != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_setup(enum log_format fmt, enum log_level min)
{
	if (fmt == LOG_FORMAT_AUTO)
		fmt = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	log_fmt = fmt;
	log_min = min;
	log_is_journal = stderr_is_journal();
}

const char *
log_fmt_int(char buf[LOG_NUM_BUF], long long v)
{
	snprintf(buf, LOG_NUM_BUF, "%lld", v);
	return buf;
}

const char *
log_fmt_real(char buf[LOG_NUM_BUF], double v)
{
	if (isfinite(v))
		snprintf(buf, LOG_NUM_BUF, "%.15g", v);
	else
		snprintf(buf, LOG_NUM_BUF, "null");
	return buf;
}

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
is_json_number(const char *v)
{
	const char *p = v;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

int
log_format_parse(const char *s, enum log_format *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "auto") == 0)
		*out = LOG_FORMAT_AUTO;
	else
		return -1;
	return 0;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; s != NULL && i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level l)
{
	return (l >= LOG_DEBUG && l <= LOG_ERROR) ? level_names[l] : "info";
}

int
log_enabled(enum log_level l)
{
	return l >= log_min;
}

void
log_set_request_id(const char *rid)
{
	if (rid == NULL)
		log_rid[0] = '\0';
	else
		snprintf(log_rid, sizeof(log_rid), "%s", rid);
}

void
log_set_trace_id(const char *tid)
{
	snprintf(log_tid, sizeof(log_tid), "%s", tid != NULL ? tid : "");
}

void
log_set_program(const char *name)
{
	snprintf(log_prog, sizeof(log_prog), "%s", name);
}

/* A value with a control character is quoted, so it cannot start a false line. */
static int
has_control(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20)
			return 1;
	return 0;
}

void
log_msg(enum log_level l, const char *msg, ...)
{
	struct sbuf b;
	char ts[40];
	va_list ap;
	const char *k;

	if (l < log_min)
		return;
	if (log_fmt == LOG_FORMAT_AUTO)
		log_setup(LOG_FORMAT_AUTO, log_min);
	sbuf_init(&b);
	time_format_ms(now_ms(), ts, sizeof(ts), 1);
	if (log_is_journal)
		sbuf_printf(&b, "<%d>", level_prio[l]);
	if (log_fmt == LOG_FORMAT_JSON) {
		sbuf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"msg\":", ts,
		    level_names[l], log_prog);
		sbuf_json_string(&b, msg);
		if (log_rid[0] != '\0')
			sbuf_printf(&b, ",\"request_id\":\"%s\"", log_rid);
		if (log_tid[0] != '\0')
			sbuf_printf(&b, ",\"trace_id\":\"%s\"", log_tid);
	} else {
		sbuf_printf(&b, "%s %-5s %s", ts, level_names[l], msg);
		if (log_rid[0] != '\0')
			sbuf_printf(&b, " request_id=%s", log_rid);
		if (log_tid[0] != '\0')
			sbuf_printf(&b, " trace_id=%s", log_tid);
	}
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		/* A number's or a boolean's mark: the value goes bare when it is one. */
		int is_bare = (k[0] == LOG_KEY_NUM[0] && v != NULL &&
		    (is_json_number(v) || strcmp(v, "null") == 0)) ||
		    (k[0] == LOG_KEY_BOOL[0] && v != NULL &&
		    (strcmp(v, "true") == 0 || strcmp(v, "false") == 0));

		if (k[0] == LOG_KEY_NUM[0] || k[0] == LOG_KEY_BOOL[0])
			k++;
		if (v == NULL)
			v = "";
		if (log_fmt == LOG_FORMAT_JSON) {
			sbuf_putc(&b, ',');
			sbuf_json_string(&b, k);
			sbuf_putc(&b, ':');
			if (is_bare)
				sbuf_puts(&b, v);
			else
				sbuf_json_string(&b, v);
		} else if (*v == '\0' || strpbrk(v, " \"=\x7f") != NULL || has_control(v)) {
			sbuf_printf(&b, " %s=", k);
			sbuf_json_string(&b, v);
		} else {
			sbuf_printf(&b, " %s=%s", k, v);
		}
	}
	va_end(ap);
	if (log_fmt == LOG_FORMAT_JSON)
		sbuf_putc(&b, '}');
	if (b.len > 8190)
		b.len = 8190;
	sbuf_putc(&b, '\n');
	if (b.p != NULL) {
		ssize_t n = write(STDERR_FILENO, b.p, b.len);
		(void)n;
	}
	sbuf_free(&b);
}

void
log_external(enum log_level l, const char *source, const char *line)
{
	char buf[512];
	size_t n;

	if (l < log_min)
		return;
	snprintf(buf, sizeof(buf), "%s", line ? line : "");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	log_msg(l, source, "detail", buf, NULL);
}
