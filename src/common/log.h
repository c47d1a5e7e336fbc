/*
 * Structured logging: one JSON object a line, or a readable line on a
 * terminal. A log call is a message plus key/value string pairs ending in
 * NULL: log_info("instance.created", "id", "42", "owner", "ana", NULL).
 * The current request id, when one is set, is added to every line.
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

void log_msg(enum log_level l, const char *msg, ...) __attribute__((sentinel));
/* A line from a library's own logger (libwebsockets), trailing newline trimmed. */
void log_external(enum log_level l, const char *source, const char *line);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
