/*
 * The lifecycle tests' fixture (lifecycle_fix.c): a store on a real SQLite
 * file, made by setup() and removed by teardown(), and helpers on it.
 */
#ifndef OUTPOST_LIFECYCLE_FIX_H
#define OUTPOST_LIFECYCLE_FIX_H

#include "server.h"

extern struct store *s;		/* the test's store */
extern size_t realloc_bound;	/* realloc() past it fails; 0: none */

struct app *app_of(struct store *st);
int setup(void **state);
int teardown(void **state);
/* One integer a query (with at most one bound argument) gives. */
int64_t count(const char *sql, int64_t arg);
void define(const char *text);
int64_t worker(const char *name, int cpu, const char *labels);
/* An instance whose slot runs from now + start_s to now + end_s (seconds). */
int64_t instance(const char *def, const char *owner, int start_s, int end_s);
const char *field(int64_t id, const char *key, char *buf, size_t n);
struct sched_pass_result pass(void);
/* An agent's report as it is; returns 0 or the HTTP status of the refusal, with its field. */
int report_as_is(int64_t id, json_t *in, char *field_out);
/* An agent's report, of the instance's current attempt unless the text names one. */
int report(int64_t id, const char *text, char *field_out);
/* Reports each step of steps (NULL-terminated) on worker w. */
void walk(int64_t id, const char *w, const char *const *steps);
const struct server_config *config(int64_t retention);

#define assert_field(id, key, want) do { \
	char buf_[512]; \
	assert_string_equal(field((id), (key), buf_, sizeof(buf_)), (want)); \
} while (0)

#endif
