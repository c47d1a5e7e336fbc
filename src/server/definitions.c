/*
 * Definitions: named recipes, versioned. Every create makes a new immutable
 * version; an instance pins the version it was made from. The body is kept
 * in its normal form (every field present, defaults filled) so readers never
 * guess a default.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static int
validate_hooks(json_t *in, json_t *out, struct op_err *err)
{
	json_t *hooks = jsonv_object(in, "", "hooks", 1, err);
	const char *name;
	json_t *argv;

	if (hooks == NULL || jsonv_known(hooks, "hooks", hook_names, err) != 0)
		return -1;
	if (jsonv_array(hooks, "hooks", "run", 1, err) == NULL)
		return -1;
	json_object_foreach(hooks, name, argv) {
		char path[64];
		size_t i;
		json_t *a;

		snprintf(path, sizeof(path), "hooks.%s", name);
		if (!json_is_array(argv)) {
			op_err_set(err, 400, "invalid_argument", path,
			    "%s must be an array of strings (a program and its arguments)", path);
			return -1;
		}
		if (json_array_size(argv) < 1 || json_array_size(argv) > 64) {
			op_err_set(err, 400, "invalid_argument", path,
			    "%s must hold 1 to 64 strings: a program and its arguments", path);
			return -1;
		}
		json_array_foreach(argv, i, a) {
			if (!json_is_string(a) || json_string_length(a) < 1 ||
			    json_string_length(a) > 4096 ||
			    strlen(json_string_value(a)) != json_string_length(a)) {
				snprintf(path, sizeof(path), "hooks.%s[%zu]", name, i);
				op_err_set(err, 400, "invalid_argument", path,
				    "%s must be a string of 1 to 4096 bytes", path);
				return -1;
			}
		}
	}
	json_object_set(out, "hooks", hooks);
	return 0;
}

int
definition_validate(json_t *in, json_t **normal, struct op_err *err)
{
	static const char *const fields[] = { "name", "description", "resources", "labels", "hooks",
		"timeouts", "max_duration", "warm_pool", "on_worker_loss", "containment", NULL };
	static const char *const res_fields[] = { "cpu", "memory_mb", "pids", NULL };
	static const char *const pool_fields[] = { "depth", NULL };
	json_t *out = json_object(), *sub, *labels = NULL, *timeouts;
	const char *name, *desc = "", *loss = "reschedule", *containment = "optional";
	int64_t cpu = 1, mem = 512, pids = PIDS_DEFAULT, depth = 0, maxdur = 0;

	*normal = NULL;
	if (jsonv_known(in, "", fields, err) != 0)
		goto fail;
	if (jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0)
		goto fail;
	if (!name_is_valid(name, NAME_MAX_LEN)) {
		op_err_set(err, 400, "invalid_argument", "name", "name must be 1 to %d of a-z, 0-9, "
		    "'.', '_', '-', starting with a letter or digit", NAME_MAX_LEN);
		goto fail;
	}
	if (jsonv_string(in, "", "description", 0, 0, 1024, &desc, err) != 0)
		goto fail;
	err->code = NULL;
	sub = jsonv_object(in, "", "resources", 0, err);
	if (err->code != NULL)
		goto fail;
	if (sub != NULL && (jsonv_known(sub, "resources", res_fields, err) != 0 ||
	    jsonv_int(sub, "resources", "cpu", 0, 1, 1024, &cpu, err) != 0 ||
	    jsonv_int(sub, "resources", "memory_mb", 0, 1, 16 * 1024 * 1024, &mem, err) != 0 ||
	    jsonv_int(sub, "resources", "pids", 0, PIDS_MIN, PIDS_MAX, &pids, err) != 0))
		goto fail;
	if (jsonv_labels(in, "", "labels", &labels, err) != 0)
		goto fail;
	if (validate_hooks(in, out, err) != 0)
		goto fail;
	err->code = NULL;
	timeouts = jsonv_object(in, "", "timeouts", 0, err);
	if (err->code != NULL)
		goto fail;
	if (timeouts != NULL) {
		const char *k;
		json_t *v;

		if (jsonv_known(timeouts, "timeouts", hook_names, err) != 0)
			goto fail;
		json_object_foreach(timeouts, k, v) {
			int64_t ms;

			if (jsonv_duration(timeouts, "timeouts", k, 1, 1000, 86400000, &ms, err) != 0)
				goto fail;
		}
	}
	if (jsonv_duration(in, "", "max_duration", 0, 60000, 30LL * 86400000, &maxdur, err) != 0)
		goto fail;
	err->code = NULL;
	sub = jsonv_object(in, "", "warm_pool", 0, err);
	if (err->code != NULL)
		goto fail;
	if (sub != NULL && (jsonv_known(sub, "warm_pool", pool_fields, err) != 0 ||
	    jsonv_int(sub, "warm_pool", "depth", 0, 0, 100, &depth, err) != 0))
		goto fail;
	if (jsonv_string(in, "", "on_worker_loss", 0, 1, 32, &loss, err) != 0)
		goto fail;
	if (strcmp(loss, "reschedule") != 0 && strcmp(loss, "fail") != 0) {
		op_err_set(err, 400, "invalid_argument", "on_worker_loss",
		    "on_worker_loss must be \"reschedule\" or \"fail\"");
		goto fail;
	}
	if (jsonv_string(in, "", "containment", 0, 1, 32, &containment, err) != 0)
		goto fail;
	if (strcmp(containment, "required") != 0 && strcmp(containment, "optional") != 0) {
		op_err_set(err, 400, "invalid_argument", "containment",
		    "containment must be \"required\" (only workers whose isolation is not none "
		    "take it) or \"optional\"");
		goto fail;
	}
	json_object_set_new(out, "name", json_string(name));
	json_object_set_new(out, "description", json_string(desc));
	json_object_set_new(out, "resources", json_pack("{s:I, s:I, s:I}", "cpu", (json_int_t)cpu,
	    "memory_mb", (json_int_t)mem, "pids", (json_int_t)pids));
	json_object_set_new(out, "labels", labels ? json_deep_copy(labels) : json_object());
	json_object_set_new(out, "timeouts", timeouts ? json_deep_copy(timeouts) : json_object());
	json_object_set_new(out, "max_duration", maxdur ? json_string(json_string_value(
	    json_object_get(in, "max_duration"))) : json_null());
	json_object_set_new(out, "warm_pool", json_pack("{s:I}", "depth", (json_int_t)depth));
	json_object_set_new(out, "on_worker_loss", json_string(loss));
	json_object_set_new(out, "containment", json_string(containment));
	*normal = out;
	return 0;
fail:
	json_decref(out);
	return -1;
}

static json_t *
definition_from_row(sqlite3_stmt *st)
{
	/* columns: name, version, body, created_at */
	json_t *d = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	char ts[40];

	if (d == NULL)
		return NULL;
	json_object_set_new(d, "version", json_integer(sqlite3_column_int64(st, 1)));
	json_object_set_new(d, "created_at", json_string(time_format_ms(
	    sqlite3_column_int64(st, 3), ts, sizeof(ts), 0)));
	return d;
}

int
definition_create(struct store *s, json_t *in, const char *actor, json_t **out,
    struct op_err *err)
{
	json_t *normal = NULL;
	char *body = NULL;
	const char *name;
	int64_t version = 1, now = now_ms();

	*out = NULL;
	if (definition_validate(in, &normal, err) != 0)
		return -1;
	name = json_string_value(json_object_get(normal, "name"));
	if (store_begin(s) != 0)
		goto db;
	if (store_exec(s, &version, "SELECT coalesce(max(version), 0) + 1 FROM definitions "
	    "WHERE name = ?", "t", name) != 0)
		goto db_rb;
	body = json_dumps(normal, JSON_COMPACT | JSON_SORT_KEYS);
	if (body == NULL || store_exec(s, NULL, "INSERT INTO definitions (name, version, body, "
	    "created_at, warm_depth) VALUES (?, ?, ?, ?, ?)", "titii", name, version, body, now,
	    (int64_t)json_integer_value(json_object_get(json_object_get(normal, "warm_pool"),
	    "depth"))) != 0)
		goto db_rb;
	*out = json_deep_copy(normal);
	json_object_set_new(*out, "version", json_integer(version));
	{
		char ts[40];

		json_object_set_new(*out, "created_at", json_string(time_format_ms(now, ts,
		    sizeof(ts), 0)));
	}
	if (events_append(s, "definition.created", "definition", name, 0, actor,
	    json_pack("{s:s, s:I, s:O}", "name", name, "version", (json_int_t)version,
	    "definition", *out)) != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	free(body);
	json_decref(normal);
	return 0;
db_rb:
	store_rollback(s);
db:
	store_fail(s, err);
	free(body);
	json_decref(normal);
	json_decref(*out);
	*out = NULL;
	return -1;
}

/* version 0: the latest, with the list of all versions. */
json_t *
definition_get(struct store *s, const char *name, int64_t version, struct op_err *err)
{
	sqlite3_stmt *st;
	json_t *d = NULL, *versions;

	if (version > 0) {
		st = store_stmt(s, "SELECT name, version, body, created_at FROM definitions "
		    "WHERE name = ? AND version = ?");
	} else {
		st = store_stmt(s, "SELECT name, version, body, created_at FROM definitions "
		    "WHERE name = ? ORDER BY version DESC LIMIT 1");
	}
	if (st == NULL) {
		store_fail(s, err);
		return NULL;
	}
	if (version > 0)
		sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		d = definition_from_row(st);
	sqlite3_reset(st);
	if (d == NULL) {
		if (version > 0)
			op_err_set(err, 404, "not_found", "version",
			    "definition %s has no version %lld", name, (long long)version);
		else
			op_err_set(err, 404, "not_found", "name", "no definition named %s", name);
		return NULL;
	}
	if (version == 0) {
		st = store_stmt(s, "SELECT version FROM definitions WHERE name = ? ORDER BY version");
		if (st == NULL) {
			json_decref(d);
			store_fail(s, err);
			return NULL;
		}
		versions = json_array();
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(versions, json_integer(sqlite3_column_int64(st, 0)));
		sqlite3_reset(st);
		json_object_set_new(d, "versions", versions);
	}
	return d;
}

struct name_mark {
	char *last;
	size_t len;
};

static void
mark_name(sqlite3_stmt *st, void *arg)
{
	struct name_mark *m = arg;

	snprintf(m->last, m->len, "%s", (const char *)sqlite3_column_text(st, 0));
}

/* Keyset pages by name; the name index makes each page O(limit). */
json_t *
definitions_list(struct store *s, const char *after, int64_t limit, char *last, size_t lastlen,
    int *has_more)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT d.name, d.version, d.body, d.created_at "
	    "FROM definitions d WHERE d.name > ?1 AND d.version = "
	    "(SELECT max(version) FROM definitions WHERE name = d.name) ORDER BY d.name LIMIT ?2");
	struct name_mark m = { last, lastlen };
	json_t *items = json_array();

	*has_more = 0;
	if (st == NULL)
		return items;
	sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit + 1);
	*has_more = store_page(st, limit, items, definition_from_row, mark_name, &m);
	return items;
}
