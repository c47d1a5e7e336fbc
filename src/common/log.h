/*
 * Structured logging: one JSON object a line, or a readable line on a
 * terminal. A log call is a message plus key/value string pairs ending in
 * NULL: log_info("instance.created", "id", "42", "owner", "ana", NULL).
 * A number or a yes/no is written with LOG_INT(), LOG_REAL() or LOG_BOOL(),
 * each two arguments, so that a JSON line carries a JSON number or boolean:
 * log_info("http.request", LOG_INT("status", 201), LOG_REAL("ms", 5.8), NULL).
 * The call site says the type; a value is never guessed from its text (a
 * worker named "42" stays a string).
 * The current request id, when one is set, is added to every line. Under
 * journald (JOURNAL_STREAM names stderr) each line starts with its syslog
 * priority, <3> to <7>, which journald takes off and keeps as PRIORITY.
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_AUTO, LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

void log_setup(enum log_format fmt, enum log_level min);
int log_format_parse(const char *s, enum log_format *out);
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);
int log_enabled(enum log_level l);

/* The request being served; NULL when none. The string is copied. */
void log_set_request_id(const char *rid);
/* The trace the calling thread serves (32 hex digits), added to its lines; NULL: none. */
void log_set_trace_id(const char *tid);
void log_set_program(const char *name);

/*
 * A key marked as a number's or a boolean's: its value is the text the
 * log_fmt_* functions make. The buffer is the call's own (a compound literal).
 */
#define LOG_KEY_NUM "\001"
#define LOG_KEY_BOOL "\002"
#define LOG_NUM_BUF 32
#define LOG_INT(k, v) LOG_KEY_NUM k, log_fmt_int((char[LOG_NUM_BUF]){ "" }, (long long)(v))
#define LOG_REAL(k, v) LOG_KEY_NUM k, log_fmt_real((char[LOG_NUM_BUF]){ "" }, (double)(v))
#define LOG_BOOL(k, v) LOG_KEY_BOOL k, ((v) ? "true" : "false")
const char *log_fmt_int(char buf[LOG_NUM_BUF], long long v);
const char *log_fmt_real(char buf[LOG_NUM_BUF], double v);

void log_msg(enum log_level l, const char *msg, ...) __attribute__((sentinel));
/* A line from a library's own logger (libwebsockets), trailing newline trimmed. */
void log_external(enum log_level l, const char *source, const char *line);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
