/*
 * The fixture the lifecycle's unit tests share (test_lifecycle.c,
 * test_warm_pools.c): a real SQLite file migrated as outpostd migrates it,
 * made before each test and removed after, and the helpers that act on it
 * as the API would (definitions, workers, instances, passes, an agent's
 * reports) without sockets. Linked with --wrap=realloc: a test may make any
 * growth past a bound fail (realloc_bound), as when memory runs out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

#include "lifecycle_fix.h"

struct app *the_app;

/*
 * Linked with --wrap=realloc: the server's code (libserver, libcommon) grows
 * its buffers through this, and a test may make any growth past a bound fail,
 * as when memory runs out.
 */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
size_t realloc_bound;		/* 0: none */

void *
__wrap_realloc(void *p, size_t n)
{
	if (realloc_bound > 0 && n > realloc_bound)
		return NULL;
	return __real_realloc(p, n);
}

static char dir[64];
static char path[128];
struct store *s;

/* worker_act() acts for an app: here the store alone (no loop, no provisioner). */
struct app *
app_of(struct store *st)
{
	static struct app a;

	a.store = st;
	return &a;
}

int
setup(void **state)
{
	struct op_err err = { 0 };

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/outpost-unit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	s = store_open(path, &err);
	if (s == NULL || store_migrate(s, store_latest_version(), &err) != 0)
		return -1;
	return 0;
}

int
teardown(void **state)
{
	char p[160];

	(void)state;
	store_close(s);
	s = NULL;
	events_shutdown();
	lifecycle_free();
	snprintf(p, sizeof(p), "%s/t.db", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-wal", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-shm", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

/* ---- helpers ---- */

int64_t
count(const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void
define(const char *text)
{
	struct op_err err = { 0 };
	json_t *in = json_loads(text, 0, NULL), *out = NULL;

	assert_non_null(in);
	if (definition_create(s, in, "test", &out, &err) != 0)
		fail_msg("definition %s: %s", text, err.message);
	json_decref(in);
	json_decref(out);
}

int64_t
worker(const char *name, int cpu, const char *labels)
{
	struct op_err err = { 0 };
	char text[256], cred[TOKEN_BUF];
	json_t *in, *out = NULL;
	int64_t id;

	snprintf(text, sizeof(text), "{\"name\":\"%s\",\"capacity\":{\"cpu\":%d,\"memory_mb\":8192,"
	    "\"slots\":8},\"labels\":%s}", name, cpu, labels);
	in = json_loads(text, 0, NULL);
	assert_true(worker_register(s, in, NULL, "test", &out, cred, sizeof(cred), &err) >= 0);
	id = json_integer_value(json_object_get(out, "id"));
	json_decref(in);
	json_decref(out);
	return id;
}

/* An instance whose slot runs from now + start_s to now + end_s (seconds). */
int64_t
instance(const char *def, const char *owner, int start_s, int end_s)
{
	struct op_err err = { 0 };
	char text[300], a[40], b[40];
	struct sbuf out;
	json_t *in, *j;
	int64_t id;

	snprintf(text, sizeof(text), "{\"definition\":\"%s\",\"owner\":\"%s\",\"timeslot_start\":"
	    "\"%s\",\"timeslot_end\":\"%s\"}", def, owner,
	    time_format_ms(now_ms() / 1000 * 1000 + start_s * 1000LL, a, sizeof(a), 0),
	    time_format_ms(now_ms() / 1000 * 1000 + end_s * 1000LL, b, sizeof(b), 0));
	in = json_loads(text, 0, NULL);
	sbuf_init(&out);
	if (instances_create(s, in, "test", &out, &id, &err) != 0)
		fail_msg("instance of %s: %s", def, err.message);
	j = json_loads(out.p, 0, NULL);
	id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	json_decref(in);
	sbuf_free(&out);
	return id;
}

const char *
field(int64_t id, const char *key, char *buf, size_t n)
{
	struct op_err err = { 0 };
	json_t *j = instance_get(s, id, &err), *v;

	assert_non_null(j);
	v = json_object_get(j, key);
	if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_null(v) || v == NULL)
		snprintf(buf, n, "null");
	else {
		char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		snprintf(buf, n, "%s", t ? t : "?");
		free(t);
	}
	json_decref(j);
	return buf;
}


struct sched_pass_result
pass(void)
{
	struct sched_pass_result r;

	assert_int_equal(sched_pass(s, now_ms(), SCHED_BINPACK, 300000, &r), 0);
	return r;
}

/* An agent's report as it is; returns 0 or the HTTP status of the refusal, with its field. */
int
report_as_is(int64_t id, json_t *in, char *field_out)
{
	struct op_err err = { 0 };
	json_t *out = NULL;
	int rc;

	assert_non_null(in);
	rc = instance_report(s, id, in, "agent", &out, &err);
	json_decref(in);
	json_decref(out);
	if (field_out != NULL)
		snprintf(field_out, 64, "%s", rc == 0 ? "" : err.field);
	return rc == 0 ? 0 : err.http;
}

/* An agent's report, of the instance's current attempt unless the text names one. */
int
report(int64_t id, const char *text, char *field_out)
{
	json_t *in = json_loads(text, 0, NULL);

	assert_non_null(in);
	if (json_object_get(in, "attempt") == NULL)
		json_object_set_new(in, "attempt", json_integer(count("SELECT attempt FROM instances "
		    "WHERE id = ?", id)));
	return report_as_is(id, in, field_out);
}

void
walk(int64_t id, const char *w, const char *const *steps)
{
	char text[256];

	for (int i = 0; steps[i + 1] != NULL; i++) {
		snprintf(text, sizeof(text), "{\"name\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", w,
		    steps[i], steps[i + 1]);
		if (report(id, text, NULL) != 0)
			fail_msg("report %s", text);
	}
}

const struct server_config *
config(int64_t retention)
{
	static struct server_config c;

	server_config_defaults(&c);
	c.instance_retention_ms = retention;
	return &c;
}
