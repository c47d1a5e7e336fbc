/*
 * The store and the domain on a real SQLite file: migrations from empty and
 * from the previous schema, cursors, and the validation of every field of a
 * definition and an instance, with the check that a refused request changes
 * nothing; a change with no room under db_max_size_mb.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static char dir[64];
static char path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/outpost-unit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char p[160];

	(void)state;
	events_shutdown();
	snprintf(p, sizeof(p), "%s/t.db", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-wal", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/t.db-shm", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static struct store *
fresh(void)
{
	struct op_err err = { 0 };
	struct store *s = store_open(path, &err);

	assert_non_null(s);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), 0);
	return s;
}

static int64_t
count(struct store *s, const char *sql)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int64_t n;

	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static void
test_migrations_from_empty(void **state)
{
	struct store *s = fresh();

	(void)state;
	assert_int_equal(store_schema_version(s), store_latest_version());
	assert_int_equal(count(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	    "name IN ('definitions','instances','transitions','workers','events','tokens')"), 6);
	store_close(s);
}

static void
test_migrations_from_the_previous_schema_keep_data(void **state)
{
	struct op_err err = { 0 };
	struct store *s = store_open(path, &err);
	/* 3: before the log bytes (4) and the templates (5), so both migrations see rows. */
	int prev = 3;

	(void)state;
	assert_true(store_latest_version() > prev);
	assert_int_equal(store_migrate(s, prev, &err), 0);
	assert_int_equal(store_schema_version(s), prev);
	assert_int_equal(sqlite3_exec(store_db(s),
	    "INSERT INTO definitions (name, version, body, created_at) VALUES ('d', 1, '{}', 1);"
	    "INSERT INTO workers (name, state, health, cpu, memory_mb, slots, created_at, updated_at) "
	    "VALUES ('w', 'ready', 'online', 4, 4096, 4, 1, 1);"
	    "INSERT INTO instances (definition, definition_version, owner, state, cpu, memory_mb, "
	    "timeslot_start, timeslot_end, created_at, updated_at) VALUES ('d', 1, 'o', 'pending', "
	    "1, 1, 1, 2, 1, 1);"
	    /* Two bytes and one character, then three. */
	    "INSERT INTO instance_logs (instance_id, attempt, hook, offset, at, text) VALUES "
	    "(1, 1, 'run', 0, 1, 'é'), (1, 1, 'run', 2, 1, 'abc');", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), 0);
	assert_int_equal(store_schema_version(s), store_latest_version());
	assert_int_equal(count(s, "SELECT count(*) FROM instances WHERE owner = 'o'"), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM workers WHERE drain_deadline IS NULL"), 1);
	/* 4: the bytes of the logs kept before it are counted. */
	assert_int_equal(count(s, "SELECT log_bytes FROM instances WHERE owner = 'o'"), 5);
	/* 5: a worker from before templates is nobody's and is not retiring. */
	assert_int_equal(count(s, "SELECT count(*) FROM workers WHERE template IS NULL AND "
	    "retiring = 0 AND provider_ref IS NULL"), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM templates"), 0);
	store_close(s);
}

/*
 * 8: agents' tokens from before one identity per worker. One shared agent
 * token becomes a join token without limits; the scaler's worker:NAME token
 * is bound to its worker (workers.token_id); other roles stay as they were.
 */
static void
test_migration_8_binds_the_scalers_tokens_and_keeps_the_rest_join_tokens(void **state)
{
	struct op_err err = { 0 };
	struct store *s = store_open(path, &err);
	struct auth_token t;

	(void)state;
	assert_int_equal(store_migrate(s, 7, &err), 0);
	assert_int_equal(sqlite3_exec(store_db(s),
	    "INSERT INTO tokens (id, name, role, hash, created_at) VALUES "
	    "(1, 'admin', 'admin', randomblob(32), 1), (2, 'agents', 'agent', randomblob(32), 1), "
	    "(3, 'worker:small-1', 'agent', randomblob(32), 1), "
	    "(4, 'worker:small-2', 'agent', randomblob(32), 1);"
	    "INSERT INTO workers (id, name, template, state, health, cpu, memory_mb, slots, "
	    "created_at, updated_at, token_id) VALUES "
	    "(1, 'w1', NULL, 'ready', 'online', 1, 1, 1, 1, 1, NULL), "
	    "(2, 'small-1', 'small', 'ready', 'online', 1, 1, 1, 1, 1, 3), "
	    "(3, 'small-2', 'small', 'terminated', 'lost', 1, 1, 1, 1, 1, 4);",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM tokens WHERE worker_id IS NULL AND "
	    "uses_left IS NULL AND names IS NULL AND template IS NULL"), 2);
	assert_int_equal(count(s, "SELECT worker_id FROM tokens WHERE id = 3"), 2);
	assert_int_equal(count(s, "SELECT worker_id FROM tokens WHERE id = 4"), 3);
	assert_int_equal(count(s, "SELECT count(*) FROM tokens WHERE id IN (1, 2) AND "
	    "worker_id IS NULL"), 2);
	/* What auth_load makes of them: the bound one knows its worker by name. */
	assert_int_equal(auth_load(s), 0);
	assert_int_equal(auth_get(3, &t), 0);
	assert_int_equal(t.worker_id, 2);
	assert_string_equal(t.worker, "small-1");
	assert_int_equal(auth_get(2, &t), 0);
	assert_int_equal(t.worker_id, 0);
	assert_int_equal(t.uses_left, -1);
	auth_free();
	store_close(s);
}

static void
test_a_newer_schema_is_refused(void **state)
{
	struct op_err err = { 0 };
	struct store *s = fresh();

	(void)state;
	assert_int_equal(sqlite3_exec(store_db(s), "PRAGMA user_version = 999", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), -1);
	assert_non_null(strstr(err.message, "newer"));
	store_close(s);
}

static void
test_cursor_round_trip_and_refusals(void **state)
{
	char c[128];
	int64_t id;

	(void)state;
	cursor_encode("instances", 12345, c, sizeof(c));
	assert_int_equal(cursor_decode("instances", c, &id), 0);
	assert_int_equal(id, 12345);
	assert_int_equal(cursor_decode("workers", c, &id), -1);
	c[3] = c[3] == 'A' ? 'B' : 'A';
	assert_int_equal(cursor_decode("instances", c, &id), -1);
	assert_int_equal(cursor_decode("instances", "", &id), -1);
	assert_int_equal(cursor_decode("instances", "!!!", &id), -1);
	assert_int_equal(cursor_decode("instances", "aW5zdGFuY2VzOjE", &id), -1);
}

/* Each bad definition, and the field its error must name. */
static void
test_definition_fields_are_validated(void **state)
{
	static const struct { const char *json; const char *field; const char *code; } c[] = {
		{ "{\"hooks\":{\"run\":[\"x\"]}}", "name", "invalid_argument" },
		{ "{\"name\":\"\",\"hooks\":{\"run\":[\"x\"]}}", "name", "invalid_argument" },
		{ "{\"name\":\"Bad Name\",\"hooks\":{\"run\":[\"x\"]}}", "name", "invalid_argument" },
		{ "{\"name\":5,\"hooks\":{\"run\":[\"x\"]}}", "name", "invalid_argument" },
		{ "{\"name\":\"a\"}", "hooks", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{}}", "hooks.run", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[]}}", "hooks.run", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\",3]}}", "hooks.run[1]", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"],\"boot\":[\"y\"]}}", "hooks.boot", "unknown_field" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"colour\":1}", "colour", "unknown_field" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"resources\":{\"gpu\":1}}", "resources.gpu", "unknown_field" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"resources\":{\"cpu\":0}}", "resources.cpu", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"resources\":{\"cpu\":\"2\"}}", "resources.cpu", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"labels\":{\"zone\":1}}", "labels.zone", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"timeouts\":{\"run\":\"soon\"}}", "timeouts.run", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"timeouts\":{\"nap\":\"1m\"}}", "timeouts.nap", "unknown_field" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"max_duration\":\"1s\"}", "max_duration", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"warm_pool\":{\"depth\":101}}", "warm_pool.depth", "invalid_argument" },
		{ "{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]},\"on_worker_loss\":\"panic\"}", "on_worker_loss", "invalid_argument" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct op_err err = { 0 };
		json_t *in = json_loads(c[i].json, 0, NULL), *out = NULL;

		assert_non_null(in);
		if (definition_validate(in, &out, &err) == 0)
			fail_msg("accepted %s", c[i].json);
		if (strcmp(err.field, c[i].field) != 0 || strcmp(err.code, c[i].code) != 0)
			fail_msg("%s: got %s/%s (%s), want %s/%s", c[i].json, err.code, err.field,
			    err.message, c[i].code, c[i].field);
		assert_int_equal(err.http, 400);
		assert_null(out);
		json_decref(in);
	}
}

static void
test_definition_defaults_are_filled(void **state)
{
	struct op_err err = { 0 };
	json_t *in = json_loads("{\"name\":\"a\",\"hooks\":{\"run\":[\"x\"]}}", 0, NULL), *out;

	(void)state;
	assert_int_equal(definition_validate(in, &out, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "resources"),
	    "cpu")), 1);
	assert_string_equal(json_string_value(json_object_get(out, "on_worker_loss")), "reschedule");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "warm_pool"),
	    "depth")), 0);
	json_decref(in);
	json_decref(out);
}

static void
test_instance_fields_are_validated_and_nothing_changes(void **state)
{
	static const struct { const char *json; const char *field; int http; } c[] = {
		{ "{\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "definition", 400 },
		{ "{\"definition\":\"nope\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "definition", 422 },
		{ "{\"definition\":\"web@9\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "definition", 422 },
		{ "{\"definition\":\"web@x\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "definition", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "owner", 400 },
		{ "{\"definition\":\"web\",\"owner\":7,\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "owner", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"a\\u0001\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "owner", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"soon\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}", "timeslot_start", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\"}", "timeslot_end", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T10:00:00Z\"}", "timeslot_end", 422 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T13:00:01Z\"}", "timeslot_end", 422 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"count\":0}", "count", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"count\":1001}", "count", 400 },
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"pet\":1}", "pet", 400 },
		/* a slot that is over */
		{ "{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":\"2020-01-01T10:00:00Z\",\"timeslot_end\":\"2020-01-01T11:00:00Z\"}", "timeslot_end", 422 },
	};
	struct store *s = fresh();
	struct op_err err = { 0 };
	json_t *def = json_loads("{\"name\":\"web\",\"hooks\":{\"run\":[\"x\"]},\"max_duration\":\"3h\"}",
	    0, NULL), *out;
	int64_t n_inst, n_ev;

	(void)state;
	assert_int_equal(definition_create(s, def, "test", &out, &err), 0);
	json_decref(out);
	json_decref(def);
	n_inst = count(s, "SELECT count(*) FROM instances");
	n_ev = count(s, "SELECT count(*) FROM events");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		json_t *in = json_loads(c[i].json, 0, NULL);

		struct sbuf text;
		int64_t first;

		memset(&err, 0, sizeof(err));
		sbuf_init(&text);
		assert_non_null(in);
		if (instances_create(s, in, "test", &text, &first, &err) == 0)
			fail_msg("accepted %s", c[i].json);
		sbuf_free(&text);
		if (strcmp(err.field, c[i].field) != 0 || err.http != c[i].http)
			fail_msg("%s: got %d %s (%s), want %d %s", c[i].json, err.http, err.field,
			    err.message, c[i].http, c[i].field);
		json_decref(in);
	}
	assert_int_equal(count(s, "SELECT count(*) FROM instances"), n_inst);
	assert_int_equal(count(s, "SELECT count(*) FROM events"), n_ev);
	store_close(s);
}

static void
test_a_batch_is_one_transaction_with_one_event_each(void **state)
{
	struct store *s = fresh();
	struct op_err err = { 0 };
	json_t *def = json_loads("{\"name\":\"web\",\"hooks\":{\"run\":[\"x\"]}}", 0, NULL), *out;
	json_t *in = json_loads("{\"definition\":\"web\",\"owner\":\"o\",\"timeslot_start\":"
	    "\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"count\":25}", 0, NULL);
	int64_t before, first;
	struct sbuf text;

	(void)state;
	assert_int_equal(definition_create(s, def, "test", &out, &err), 0);
	json_decref(out);
	before = events_last_seq(s);
	sbuf_init(&text);
	assert_int_equal(instances_create(s, in, "test", &text, &first, &err), 0);
	out = json_loads(text.p, 0, NULL);
	assert_non_null(out);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 25);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(out,
	    "items"), 0), "id")), first);
	sbuf_free(&text);
	assert_int_equal(events_last_seq(s), before + 25);
	assert_int_equal(count(s, "SELECT count(*) FROM transitions WHERE to_state = 'pending'"), 25);
	json_decref(out);
	json_decref(in);
	json_decref(def);
	store_close(s);
}

/* Two statements formatted into one buffer are two statements, not the first one again. */
static void
test_statements_are_cached_by_their_text(void **state)
{
	struct store *s = fresh();
	char sql[64];

	(void)state;
	snprintf(sql, sizeof(sql), "SELECT %d", 1);
	assert_int_equal(count(s, sql), 1);
	snprintf(sql, sizeof(sql), "SELECT %d", 2);
	assert_int_equal(count(s, sql), 2);
	assert_int_equal(count(s, "SELECT 1"), 1);
	store_close(s);
}

/*
 * A statement left mid-step is found and reset by store_idle, which looks only
 * when a statement was handed out since it last did (the loop calls it every turn).
 */
static void
test_a_statement_left_busy_is_found(void **state)
{
	struct store *s = fresh();
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(store_idle(s), 0);
	st = store_stmt(s, "SELECT 1 UNION ALL SELECT 2");
	assert_non_null(st);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(store_idle(s), 1);
	assert_int_equal(sqlite3_stmt_busy(st), 0);
	assert_int_equal(store_idle(s), 0);
	/* Handed out again and stepped to its end: nothing left. */
	st = store_stmt(s, "SELECT 1 UNION ALL SELECT 2");
	while (sqlite3_step(st) == SQLITE_ROW)
		;
	assert_int_equal(store_idle(s), 0);
	/* Handed out, then left at a row after an idle that had nothing to find. */
	st = store_stmt(s, "SELECT 3 UNION ALL SELECT 4");
	assert_int_equal(store_idle(s), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	st = store_stmt(s, "SELECT 5");
	assert_int_equal(store_idle(s), 1);
	store_close(s);
}

static json_t *
name_of(sqlite3_stmt *st)
{
	return json_string((const char *)sqlite3_column_text(st, 1));
}

static json_t *
id_of(sqlite3_stmt *st)
{
	return json_integer(sqlite3_column_int64(st, 0));
}

/* store_exec, store_int, store_row, store_get_json, store_state_of and store_page. */
static void
test_the_statement_helpers(void **state)
{
	struct store *s = fresh();
	struct op_err err = { 0 };
	sqlite3_stmt *st;
	json_t *items, *j;
	int64_t n, last = 0;

	(void)state;
	assert_int_equal(store_exec(s, NULL, "CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, "
	    "name TEXT, state TEXT)", ""), 0);
	for (int64_t i = 1; i <= 5; i++)
		assert_int_equal(store_exec(s, NULL, "INSERT INTO t VALUES (?, ?, ?)", "itt", i,
		    i == 3 ? NULL : "w", i == 5 ? "asleep" : "ready"), 0);
	assert_int_equal(store_exec(s, &n, "SELECT count(*) FROM t WHERE name IS NULL", ""), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_exec(s, &n, "SELECT id FROM t WHERE id > ?", "i", (int64_t)9), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_exec(s, NULL, "SELECT nonsense FROM t", ""), -1);
	/* A row by id; none is a 404 naming what it is. */
	st = store_row(s, "SELECT id, name FROM t WHERE id = ?", 2, "thing", &err);
	assert_non_null(st);
	assert_int_equal(sqlite3_column_int64(st, 0), 2);
	sqlite3_reset(st);
	assert_null(store_row(s, "SELECT id, name FROM t WHERE id = ?", 7, "thing", &err));
	assert_int_equal(err.http, 404);
	assert_string_equal(err.message, "no thing with id 7");
	j = store_get_json(s, "SELECT id, name FROM t WHERE id = ?", 1, name_of, "thing", &err);
	assert_string_equal(json_string_value(j), "w");
	json_decref(j);
	assert_int_equal(store_state_of(s, "SELECT state FROM t WHERE id = ?", KIND_WORKER, 4,
	    "worker", &err), WORKER_READY);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_state_of(s, "SELECT state FROM t WHERE id = ?", KIND_WORKER, 5,
	    "worker", &err), -1);
	assert_int_equal(err.http, 500);
	/* Pages of 2: three pages, the last without more. */
	st = store_stmt(s, "SELECT id, name FROM t WHERE id > ? ORDER BY id LIMIT 3");
	for (int page = 0; page < 3; page++) {
		items = json_array();
		sqlite3_bind_int64(st, 1, last);
		assert_int_equal(store_page(st, 2, items, id_of, store_mark_id, &last),
		    page < 2);
		assert_int_equal(json_array_size(items), page < 2 ? 2 : 1);
		assert_int_equal(last, page < 2 ? 2 * (page + 1) : 5);
		json_decref(items);
	}
	store_close(s);
}

/*
 * Changes of 256 KB under a cap of 2 MB until one has no room: it is 507
 * storage_full naming the cap, rolled back whole (no row, no event, no
 * version moved), and starts a full episode, which the room check ends once
 * the cap is raised; then the change goes through.
 */
static void
test_a_change_with_no_room_is_507_and_room_ends_the_episode(void **state)
{
	struct store *s = fresh();
	struct op_err err = { 0 };
	size_t blen = 256 * 1024;
	char *blob = malloc(blen + 1), name[16];
	struct sbuf m;
	const char *why;
	uint64_t v = 0;
	int64_t seq = 0;
	int i;

	(void)state;
	assert_non_null(blob);
	memset(blob, 'x', blen);
	blob[blen] = '\0';
	store_set_max_size(s, 2);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		v = store_data_version(s);
		seq = events_last_seq(s);
		assert_int_equal(store_begin(s), 0);
		if (store_exec(s, NULL, "INSERT INTO definitions (name, version, body, created_at) "
		    "VALUES (?, 1, ?, 1)", "tt", name, blob) != 0 ||
		    events_append_text(s, "definition.created", "definition", name, 0, "test",
		    "{}") != 0 || store_commit(s) != 0)
			break;
	}
	assert_true(i > 0 && i < 20);
	assert_int_equal(store_abort(s, &err), -1);
	assert_int_equal(err.http, 507);
	assert_string_equal(err.code, "storage_full");
	assert_non_null(strstr(err.message, "the database's disk is full (it reached "
	    "db_max_size_mb, 2 MB)"));
	assert_int_equal(count(s, "SELECT count(*) FROM definitions"), i);
	assert_int_equal(count(s, "SELECT count(*) FROM events WHERE type = 'definition.created'"),
	    i);
	assert_int_equal(events_last_seq(s), seq);
	assert_int_equal(store_data_version(s), v);
	assert_true(store_full_since(s, &why) != 0);
	assert_non_null(strstr(why, "db_max_size_mb"));
	sbuf_init(&m);
	store_metrics(s, &m);
	assert_non_null(strstr(m.p, "\noutpost_db_full 1\n"));
	assert_non_null(strstr(m.p, "outpost_db_write_failures_total{cause=\"full\"} 1\n"));
	sbuf_free(&m);
	/* Less than a change of room is left: the episode goes on until the cap moves. */
	assert_int_equal(store_room_check(s), 0);
	store_set_max_size(s, 8);
	assert_int_equal(store_room_check(s), 1);
	assert_int_equal(store_full_since(s, NULL), 0);
	assert_true(store_full_ended(s) > 0);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_exec(s, NULL, "INSERT INTO definitions (name, version, body, "
	    "created_at) VALUES (?, 1, ?, 1)", "tt", name, blob), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM definitions"), i + 1);
	free(blob);
	store_close(s);
}

/* Rows in definitions another connection sees: what is committed. */
static int64_t
committed_definitions(void)
{
	sqlite3 *db;
	int64_t n;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	n = store_query_int(db, "SELECT count(*) FROM definitions");
	sqlite3_close(db);
	return n;
}

/* A definition and its event in a change (shared or not); commits it, or rolls it back. */
static void
change(struct store *s, int is_shared, const char *name, int is_kept)
{
	assert_int_equal(is_shared ? store_begin_shared(s) : store_begin(s), 0);
	assert_int_equal(store_exec(s, NULL, "INSERT INTO definitions (name, version, body, "
	    "created_at) VALUES (?, 1, '{}', 1)", "t", name), 0);
	assert_int_equal(events_append_text(s, "definition.created", "definition", name, 0,
	    "test", "{}"), 0);
	if (is_kept)
		assert_int_equal(store_commit(s), 0);
	else
		store_rollback(s);
}

static void
test_changes_share_the_turns_transaction(void **state)
{
	struct store *s = fresh();
	struct op_err err = { 0 };
	uint64_t mark;

	(void)state;
	/* Not the loop's store: a shared change is its own transaction. */
	change(s, 1, "alone", 1);
	assert_int_equal(committed_definitions(), 1);
	assert_int_equal(store_group_start(s, &err), 0);
	assert_true(store_is_grouped(s));
	/* Two kept and one rolled back between them: one transaction, committed at the sync. */
	change(s, 1, "a", 1);
	change(s, 1, "b", 0);
	change(s, 1, "c", 1);
	mark = store_commit_mark();
	assert_int_equal(count(s, "SELECT count(*) FROM definitions"), 3);
	assert_int_equal(committed_definitions(), 1);
	assert_false(store_is_synced(mark));
	assert_int_equal(store_sync(s), 1);
	assert_true(store_is_synced(mark));
	assert_int_equal(committed_definitions(), 3);
	assert_int_equal(count(s, "SELECT count(*) FROM definitions WHERE name = 'b'"), 0);
	/* b's number went to c: the events stay gapless. */
	assert_int_equal(count(s, "SELECT count(*) FROM events"), 3);
	assert_int_equal(count(s, "SELECT max(seq) - min(seq) + 1 FROM events"), 3);
	assert_int_equal(events_last_seq(s), count(s, "SELECT max(seq) FROM events"));
	/* A change of its own commits the turn's first, then itself at once. */
	change(s, 1, "d", 1);
	assert_int_equal(committed_definitions(), 3);
	change(s, 0, "e", 1);
	assert_int_equal(committed_definitions(), 5);
	assert_int_equal(store_sync(s), 1);
	/* A turn whose only change rolled back commits nothing and is no failure. */
	change(s, 1, "f", 0);
	store_settle(s);
	assert_int_equal(committed_definitions(), 5);
	/* Under a cap with little room, each change is its own transaction (a full disk is
	 * answered 507 by the change alone, never found by the turn's commit). */
	store_set_max_size(s, 2);
	change(s, 1, "g", 1);
	assert_int_equal(committed_definitions(), 6);
	store_set_max_size(s, 0);
	change(s, 1, "h", 1);
	assert_int_equal(committed_definitions(), 6);
	/* A write outside any change commits the turn's first, then itself, alone. */
	change(s, 1, "i", 1);
	assert_int_equal(committed_definitions(), 6);
	assert_int_equal(store_exec(s, NULL, "UPDATE definitions SET created_at = 2 WHERE "
	    "name = 'a'", ""), 0);
	assert_int_equal(committed_definitions(), 8);
	assert_int_equal(store_sync(s), 1);
	/* A change left open at the turn's end (a bug) is rolled back, the others kept. */
	assert_int_equal(store_begin_shared(s), 0);
	assert_int_equal(store_exec(s, NULL, "INSERT INTO definitions (name, version, body, "
	    "created_at) VALUES ('left', 1, '{}', 1)", ""), 0);
	assert_int_equal(store_sync(s), 0);	/* nothing committed since the last */
	assert_int_equal(committed_definitions(), 8);
	assert_int_equal(count(s, "SELECT count(*) FROM definitions WHERE name = 'left'"), 0);
	store_close(s);
	assert_int_equal(committed_definitions(), 8);
}

/*
 * A change of the turn's that fails for room after another was committed in
 * it: either SQLite rolled back that change alone (the other is kept, synced
 * and on disk), or it rolled back the whole transaction, and the process
 * stops before the sync (turn_lost: exit 1), the other never said to be
 * synced and not on disk. Never synced and lost. Run in a child: it may exit.
 */
static void
test_a_turn_lost_is_never_synced(void **state)
{
	size_t blen = 1024 * 1024;
	int wst;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = fresh();
		struct op_err err = { 0 };
		char *blob = malloc(blen + 1), name[16];
		uint64_t mark;
		int i;

		if (blob == NULL || store_group_start(s, &err) != 0)
			_exit(2);
		memset(blob, 'x', blen);
		blob[blen] = '\0';
		store_set_max_size(s, 65);	/* just over TURN_ROOM_MIN_BYTES: shared */
		change(s, 1, "kept", 1);
		mark = store_commit_mark();
		if (store_begin_shared(s) != 0)
			_exit(2);
		for (i = 0; i < 80; i++) {
			snprintf(name, sizeof(name), "big%d", i);
			if (store_exec(s, NULL, "INSERT INTO definitions (name, version, body, "
			    "created_at) VALUES (?, 1, ?, 1)", "tt", name, blob) != 0)
				break;
		}
		if (i == 80)
			_exit(3);	/* the cap never bit */
		store_abort(s, &err);
		if (store_sync(s) != 1 || !store_is_synced(mark))
			_exit(4);
		store_close(s);
		free(blob);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	if (WEXITSTATUS(wst) == 0)
		assert_int_equal(committed_definitions(), 1);
	else {
		assert_int_equal(WEXITSTATUS(wst), 1);
		assert_int_equal(committed_definitions(), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations_from_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations_from_the_previous_schema_keep_data,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migration_8_binds_the_scalers_tokens_and_keeps_the_rest_join_tokens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test(test_cursor_round_trip_and_refusals),
		cmocka_unit_test(test_definition_fields_are_validated),
		cmocka_unit_test(test_definition_defaults_are_filled),
		cmocka_unit_test_setup_teardown(test_instance_fields_are_validated_and_nothing_changes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_statements_are_cached_by_their_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_the_statement_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_statement_left_busy_is_found, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_batch_is_one_transaction_with_one_event_each,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_change_with_no_room_is_507_and_room_ends_the_episode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_share_the_turns_transaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_a_turn_lost_is_never_synced, setup, teardown),
	};

	log_setup(LOG_FORMAT_TEXT, LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
