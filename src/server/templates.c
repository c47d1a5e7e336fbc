/*
 * Templates: kinds of workers, each with its capacity, labels, bounds
 * (min, max), timings and the provisioner that makes and removes its
 * workers. They come from the config directory (one JSON file each) or from
 * PUT /api/v1/templates/{name}; either way they are validated here into one
 * normal form, stored in the templates table, and read back by the scaler
 * (scaler.c), which owns what is done with them.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

static const char *const prov_names[PROV_COUNT] = {
	[PROV_LOCAL] = "local",
	[PROV_SYSTEMD] = "systemd",
	[PROV_COMMAND] = "command",
	[PROV_STATIC] = "static",
};

const char *
prov_type_name(enum prov_type t)
{
	return t >= 0 && t < PROV_COUNT ? prov_names[t] : "unknown";
}

static int
prov_type_parse(const char *s, enum prov_type *out)
{
	for (int i = 0; s != NULL && i < PROV_COUNT; i++) {
		if (strcmp(prov_names[i], s) == 0) {
			*out = (enum prov_type)i;
			return 0;
		}
	}
	return -1;
}

/* An argv array: 1 to 64 non-empty strings, the first a program. */
static int
argv_check(json_t *obj, const char *prefix, const char *key, int is_required,
    struct op_err *err)
{
	json_t *a = jsonv_array(obj, prefix, key, is_required, err), *v;
	char path[128];
	size_t i;

	if (a == NULL)
		return err->code != NULL ? -1 : 0;
	snprintf(path, sizeof(path), "%s.%s", prefix, key);
	if (json_array_size(a) < 1 || json_array_size(a) > 64) {
		op_err_set(err, 400, "invalid_argument", path,
		    "%s must be an argv array of 1 to 64 strings, such as [\"/usr/local/bin/make-vm\"]", path);
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096) {
			snprintf(path, sizeof(path), "%s.%s[%zu]", prefix, key, i);
			op_err_set(err, 400, "invalid_argument", path,
			    "%s must be a string of 1 to 4096 bytes", path);
			return -1;
		}
	}
	return 0;
}

/* "outpost-agent@": a template unit's name up to its @. */
static int
unit_prefix_ok(const char *s)
{
	size_t n = strlen(s);
	char head[101];

	if (n < 2 || n > sizeof(head) - 1 || s[n - 1] != '@')
		return 0;
	memcpy(head, s, n - 1);
	head[n - 1] = '\0';
	return name_is_valid(head, sizeof(head) - 1);
}

/* The provisioner object, checked for its type; *out is its normal form. */
static int
provisioner_check(json_t *in, json_t **out, struct op_err *err)
{
	static const char *const local_f[] = { "type", "agent", "heartbeat", "nice", NULL };
	static const char *const systemd_f[] = { "type", "systemctl", "unit", "env_dir", NULL };
	static const char *const command_f[] = { "type", "provision", "deprovision", "stop", NULL };
	static const char *const static_f[] = { "type", NULL };
	static const char *const *const fields[PROV_COUNT] = {
		[PROV_LOCAL] = local_f, [PROV_SYSTEMD] = systemd_f,
		[PROV_COMMAND] = command_f, [PROV_STATIC] = static_f,
	};
	json_t *p = in ? json_object_get(in, "provisioner") : NULL;
	const char *type = "local", *s;
	enum prov_type t;
	int64_t ms, niceness;

	*out = NULL;
	if (p == NULL || json_is_null(p)) {
		*out = json_pack("{s:s}", "type", "local");
		return 0;
	}
	if (!json_is_object(p)) {
		op_err_set(err, 400, "invalid_argument", "provisioner",
		    "provisioner must be an object such as {\"type\": \"local\"}");
		return -1;
	}
	if (jsonv_string(p, "provisioner", "type", 0, 1, 16, &type, err) != 0)
		return -1;
	if (type == NULL)
		type = "local";
	if (prov_type_parse(type, &t) != 0) {
		op_err_set(err, 400, "invalid_argument", "provisioner.type",
		    "provisioner.type must be local, systemd, command or static");
		return -1;
	}
	if (jsonv_known(p, "provisioner", fields[t], err) != 0)
		return -1;
	switch (t) {
	case PROV_LOCAL:
		if (jsonv_string(p, "provisioner", "agent", 0, 1, 1000, &s, err) != 0 ||
		    jsonv_duration(p, "provisioner", "heartbeat", 0, 100, 600000, &ms, err) != 0 ||
		    jsonv_int(p, "provisioner", "nice", 0, 0, 19, &niceness, err) != 0)
			return -1;
		break;
	case PROV_SYSTEMD:
		if (jsonv_string(p, "provisioner", "systemctl", 0, 1, 1000, &s, err) != 0 ||
		    jsonv_string(p, "provisioner", "env_dir", 0, 1, 900, &s, err) != 0)
			return -1;
		s = NULL;
		if (jsonv_string(p, "provisioner", "unit", 0, 1, 100, &s, err) != 0)
			return -1;
		if (s != NULL && !unit_prefix_ok(s)) {
			op_err_set(err, 400, "invalid_argument", "provisioner.unit",
			    "provisioner.unit must be a template unit's prefix ending in @, such as "
			    "\"outpost-agent@\"");
			return -1;
		}
		break;
	case PROV_COMMAND:
		if (argv_check(p, "provisioner", "provision", 1, err) != 0 ||
		    argv_check(p, "provisioner", "deprovision", 1, err) != 0 ||
		    argv_check(p, "provisioner", "stop", 0, err) != 0)
			return -1;
		break;
	default:
		break;
	}
	*out = json_deep_copy(p);
	json_object_set_new(*out, "type", json_string(type));
	return 0;
}

/*
 * The fields of each provisioner that name a program to run, a path to write
 * or a unit to start on this host. Through the API they are refused (unless
 * api_program_provisioners is on): only the server's disk names them.
 */
static const char *const local_prog[] = { "agent", NULL };
static const char *const systemd_prog[] = { "systemctl", "unit", "env_dir", NULL };
static const char *const command_prog[] = { "provision", "deprovision", "stop", NULL };
static const char *const static_prog[] = { NULL };
static const char *const *const prog_fields[PROV_COUNT] = {
	[PROV_LOCAL] = local_prog, [PROV_SYSTEMD] = systemd_prog,
	[PROV_COMMAND] = command_prog, [PROV_STATIC] = static_prog,
};

/*
 * A provisioner given through the API, in its normal form, against the one
 * stored (old, NULL for none): each program field must be absent or what the
 * stored template already says (a template whose file is gone keeps its
 * programs, and may still be changed in its other fields). Else 403 naming
 * the field, such as provisioner.provision.
 */
static int
programs_check(json_t *prov, json_t *old, struct op_err *err)
{
	const char *type = json_string_value(json_object_get(prov, "type"));
	const char *old_type = json_string_value(json_object_get(old, "type"));
	enum prov_type t;
	char path[64];
	int rc;

	rc = prov_type_parse(type, &t);
	assert(rc == 0);	/* the normal form's type */
	for (const char *const *f = prog_fields[t]; *f != NULL; f++) {
		json_t *v = json_object_get(prov, *f);

		if (v == NULL || (old_type != NULL && strcmp(type, old_type) == 0 &&
		    json_equal(v, json_object_get(old, *f))))
			continue;
		snprintf(path, sizeof(path), "provisioner.%s", *f);
		op_err_set(err, 403, "forbidden", path, "%s names a program, a path or a unit of the "
		    "server's host: only a template file in the server's template_dir may (or the "
		    "API, with the server's api_program_provisioners setting on); leave it out "
		    "for the default", path);
		return -1;
	}
	return 0;
}

static int
tmpl_name_ok(const char *name, struct op_err *err)
{
	if (name == NULL || !name_is_valid(name, TEMPLATE_NAME_MAX) ||
	    strspn(name, "0123456789") == strlen(name)) {
		op_err_set(err, 400, "invalid_argument", "name",
		    "name must be 1 to %d of a-z, 0-9, '.', '_', '-', starting with a letter or digit "
		    "(its workers are named NAME-1, NAME-2, ...)", TEMPLATE_NAME_MAX);
		return -1;
	}
	return 0;
}

/*
 * A template as given (PUT body or file) to its normal form: every field
 * present, durations written as durations. `name` is the one of the URL or
 * the file; a name in the body must agree with it.
 */
int
template_validate(json_t *in, const char *name, json_t **normal, struct op_err *err)
{
	static const char *const fields[] = { "name", "description", "capacity", "labels", "min",
		"max", "cooldown", "idle_timeout", "provision_timeout", "retry_backoff", "autoscale",
		"provisioner", NULL };
	const char *body_name = NULL, *desc = NULL;
	json_t *labels = NULL, *prov = NULL;
	int64_t cpu, mem, slots, min = 0, max, cooldown = 300000, idle = 600000,
	    ptimeout = 120000, backoff = 10000;
	int autoscale = 1;
	char d[4][32];

	*normal = NULL;
	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", "", "a template is a JSON object");
		return -1;
	}
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 0, 1, 64, &body_name, err) != 0 ||
	    jsonv_string(in, "", "description", 0, 0, 1000, &desc, err) != 0)
		return -1;
	if (body_name != NULL && strcmp(body_name, name) != 0) {
		op_err_set(err, 400, "invalid_argument", "name",
		    "name %s in the body is not the template's name %s", body_name, name);
		return -1;
	}
	if (tmpl_name_ok(name, err) != 0)
		return -1;
	if (jsonv_capacity(in, "capacity", &cpu, &mem, &slots, err) != 0 ||
	    jsonv_labels(in, "", "labels", &labels, err) != 0)
		goto fail;
	if (jsonv_int(in, "", "max", 1, 0, TEMPLATE_MAX_WORKERS, &max, err) != 0 ||
	    jsonv_int(in, "", "min", 0, 0, TEMPLATE_MAX_WORKERS, &min, err) != 0)
		goto fail;
	if (min > max) {
		op_err_set(err, 400, "invalid_argument", "min", "min (%lld) must not be above max (%lld)",
		    (long long)min, (long long)max);
		goto fail;
	}
	if (jsonv_duration(in, "", "cooldown", 0, 0, 86400000, &cooldown, err) != 0 ||
	    jsonv_duration(in, "", "idle_timeout", 0, 1000, 30LL * 86400000, &idle, err) != 0 ||
	    jsonv_duration(in, "", "provision_timeout", 0, 1000, 86400000, &ptimeout, err) != 0 ||
	    jsonv_duration(in, "", "retry_backoff", 0, 100, 3600000, &backoff, err) != 0 ||
	    jsonv_bool(in, "", "autoscale", &autoscale, err) != 0 ||
	    provisioner_check(in, &prov, err) != 0)
		goto fail;
	*normal = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:o, s:I, s:I, s:s, s:s, s:s, s:s, s:b, s:o}",
	    "name", name, "description", desc ? desc : "",
	    "capacity", "cpu", (json_int_t)cpu, "memory_mb", (json_int_t)mem, "slots", (json_int_t)slots,
	    "labels", labels ? json_deep_copy(labels) : json_object(),
	    "min", (json_int_t)min, "max", (json_int_t)max,
	    "cooldown", duration_format(cooldown, d[0], sizeof(d[0])),
	    "idle_timeout", duration_format(idle, d[1], sizeof(d[1])),
	    "provision_timeout", duration_format(ptimeout, d[2], sizeof(d[2])),
	    "retry_backoff", duration_format(backoff, d[3], sizeof(d[3])),
	    "autoscale", autoscale, "provisioner", prov);
	return *normal != NULL ? 0 : -1;
fail:
	json_decref(prov);	/* labels is in's own */
	return -1;
}

/* The normal form to the scaler's struct (the form was validated: this cannot fail but on OOM). */
int
template_parse(json_t *spec, struct tmpl *t)
{
	json_t *cap = json_object_get(spec, "capacity"), *p = json_object_get(spec, "provisioner");

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", json_string_value(json_object_get(spec, "name")));
	t->cpu = json_integer_value(json_object_get(cap, "cpu"));
	t->memory_mb = json_integer_value(json_object_get(cap, "memory_mb"));
	t->slots = json_integer_value(json_object_get(cap, "slots"));
	t->min = json_integer_value(json_object_get(spec, "min"));
	t->max = json_integer_value(json_object_get(spec, "max"));
	t->autoscale = json_is_true(json_object_get(spec, "autoscale"));
	if (duration_parse(json_string_value(json_object_get(spec, "cooldown")), &t->cooldown_ms) != 0 ||
	    duration_parse(json_string_value(json_object_get(spec, "idle_timeout")),
	    &t->idle_timeout_ms) != 0 ||
	    duration_parse(json_string_value(json_object_get(spec, "provision_timeout")),
	    &t->provision_timeout_ms) != 0 ||
	    duration_parse(json_string_value(json_object_get(spec, "retry_backoff")),
	    &t->retry_backoff_ms) != 0 ||
	    prov_type_parse(json_string_value(json_object_get(p, "type")), &t->prov) != 0)
		return -1;
	t->labels = json_incref(json_object_get(spec, "labels"));
	t->prov_spec = json_incref(p);
	return 0;
}

void
template_clear(struct tmpl *t)
{
	json_decref(t->labels);
	json_decref(t->prov_spec);
	t->labels = t->prov_spec = NULL;
}

/* "cpu=4,memory_mb=4096,slots=4" and "k=v,k2=v2", as the agent's flags take them. */
void
template_capacity_arg(const struct tmpl *t, char *buf, size_t n)
{
	snprintf(buf, n, "cpu=%lld,memory_mb=%lld,slots=%lld", (long long)t->cpu,
	    (long long)t->memory_mb, (long long)t->slots);
}

void
template_labels_arg(const struct tmpl *t, struct sbuf *b)
{
	const char *k;
	json_t *v;
	int i = 0;

	json_object_foreach(t->labels, k, v)
		sbuf_printf(b, "%s%s=%s", i++ ? "," : "", k, json_string_value(v));
	sbuf_putc(b, '\0');
	b->len--;
}

/* The row of a template, with its workers counted: the API's answer. */
static json_t *
template_from_row(struct store *s, sqlite3_stmt *st)
{
	json_t *spec = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
	json_t *by_state = json_object();
	sqlite3_stmt *w;
	int64_t live = 0;

	if (spec == NULL) {
		json_decref(by_state);
		return NULL;
	}
	json_object_set_new(spec, "desired", json_integer(sqlite3_column_int64(st, 2)));
	json_object_set_new(spec, "source", json_string((const char *)sqlite3_column_text(st, 3)));
	json_object_set_new(spec, "created_at", json_time(sqlite3_column_int64(st, 4)));
	json_object_set_new(spec, "updated_at", json_time(sqlite3_column_int64(st, 5)));
	w = store_stmt(s, "SELECT state, retiring, count(*) FROM workers WHERE template = ? "
	    "AND state != 'terminated' GROUP BY state, retiring");
	if (w != NULL) {
		sqlite3_bind_text(w, 1, (const char *)sqlite3_column_text(st, 0), -1, SQLITE_TRANSIENT);
		while (sqlite3_step(w) == SQLITE_ROW) {
			const char *state = (const char *)sqlite3_column_text(w, 0);
			int64_t n = sqlite3_column_int64(w, 2);

			json_object_set_new(by_state, state, json_integer(n +
			    json_integer_value(json_object_get(by_state, state))));
			if (sqlite3_column_int(w, 1) == 0 && worker_state_is_live(state))
				live += n;
		}
		sqlite3_reset(w);
	}
	json_object_set_new(spec, "workers", json_pack("{s:I, s:o}", "live", (json_int_t)live,
	    "by_state", by_state));
	return spec;
}

json_t *
template_get(struct store *s, const char *name, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT name, spec, desired, source, created_at, updated_at "
	    "FROM templates WHERE name = ?");
	json_t *j = NULL;

	if (st == NULL) {
		store_fail(s, err);
		return NULL;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* template_from_row runs another kept statement: this one stays on its row. */
		j = template_from_row(s, st);
	}
	sqlite3_reset(st);
	if (j == NULL)
		op_err_set(err, 404, "not_found", "name", "no template named %s", name);
	return j;
}

json_t *
templates_list(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT name, spec, desired, source, created_at, updated_at "
	    "FROM templates ORDER BY name");
	json_t *items = json_array(), *t;

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		if ((t = template_from_row(s, st)) != NULL)
			json_array_append_new(items, t);
	if (st != NULL)
		sqlite3_reset(st);
	return items;
}

/*
 * Creates or replaces a template (source "api" or "config"). desired keeps
 * its value within the new [min, max]; a new template starts at min.
 * Returns 1 created, 0 replaced, -1 error. A template from the config
 * directory is changed there, not through the API. Through the API without
 * may_name_programs, a provisioner names no program but the stored one's
 * (programs_check).
 */
int
template_put(struct store *s, const char *name, json_t *in, const char *source,
    int may_name_programs, const char *actor, json_t **out, struct op_err *err)
{
	int is_api = strcmp(source, "api") == 0;
	json_t *spec = NULL, *old = NULL;
	sqlite3_stmt *st;
	char *text = NULL, old_source[16] = "";
	int64_t now = now_ms(), desired = -1, min, max;
	int is_new;

	*out = NULL;
	if (template_validate(in, name, &spec, err) != 0)
		return -1;
	min = json_integer_value(json_object_get(spec, "min"));
	max = json_integer_value(json_object_get(spec, "max"));
	text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL || store_begin(s) != 0)
		goto db;
	st = store_stmt(s, "SELECT desired, source, spec FROM templates WHERE name = ?");
	if (st == NULL)
		goto db_rb;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		desired = sqlite3_column_int64(st, 0);
		snprintf(old_source, sizeof(old_source), "%s", (const char *)sqlite3_column_text(st, 1));
		/* The same file read again: nothing changes, no event. */
		if (strcmp(source, "config") == 0 && strcmp(old_source, "config") == 0 &&
		    strcmp((const char *)sqlite3_column_text(st, 2), text) == 0) {
			sqlite3_reset(st);
			store_rollback(s);
			free(text);
			json_decref(spec);
			return 0;
		}
		if (is_api && !may_name_programs)
			old = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	}
	sqlite3_reset(st);
	if (is_api && strcmp(old_source, "config") == 0) {
		op_err_set(err, 409, "conflict", "name", "template %s comes from the config directory; "
		    "change its file there and reload (SIGHUP)", name);
		goto fail;
	}
	if (is_api && !may_name_programs && programs_check(json_object_get(spec, "provisioner"),
	    json_object_get(old, "provisioner"), err) != 0)
		goto fail;
	json_decref(old);
	old = NULL;
	is_new = desired < 0;
	if (desired < min)
		desired = min;
	if (desired > max)
		desired = max;
	st = store_stmt(s, "INSERT INTO templates (name, spec, desired, source, created_at, updated_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO UPDATE SET spec = ?2, "
	    "desired = ?3, source = ?4, updated_at = ?5");
	if (st == NULL)
		goto db_rb;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, desired);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db_rb;
	*out = template_get(s, name, err);
	if (*out == NULL || events_append(s, is_new ? "template.created" : "template.updated",
	    "template", name, 0, actor, json_pack("{s:O}", "template", *out)) != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	free(text);
	json_decref(spec);
	scaler_kick();
	return is_new;
db_rb:
	store_rollback(s);
db:
	store_fail(s, err);
	free(text);
	json_decref(spec);
	json_decref(*out);
	*out = NULL;
	return -1;
fail:
	store_rollback(s);
	free(text);
	json_decref(spec);
	json_decref(old);
	return -1;
}

/*
 * One pass over every *.json of dir, each a template named after its file:
 * with is_put each is put, else only validated. Each bad file is reported
 * naming the file and the field; with is_strict the first one ends the pass.
 */
static int
load_pass(struct store *s, DIR *d, const char *dir, int is_put, int is_strict, char *errbuf,
    size_t errlen)
{
	char path[PATH_BUF_MAX], name[TEMPLATE_NAME_MAX + 8];
	int bad = 0;

	rewinddir(d);
	while (dir_next_json(d, dir, path, sizeof(path), name, sizeof(name))) {
		struct op_err err = { 0 };
		json_error_t je;
		json_t *in, *out = NULL;
		int rc;

		in = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (in == NULL) {
			snprintf(err.message, sizeof(err.message), "line %d: %s", je.line, je.text);
		} else {
			rc = is_put ? template_put(s, name, in, "config", 1, "config", &out, &err) :
			    template_validate(in, name, &out, &err);
			json_decref(out);
			if (rc >= 0) {
				json_decref(in);
				continue;
			}
		}
		json_decref(in);
		log_error("template.load", "file", path, "field", err.field, "error", err.message, NULL);
		if (!bad)
			snprintf(errbuf, errlen, "%s: %s%s%s", path, err.field[0] ? err.field : "",
			    err.field[0] ? ": " : "", err.message);
		bad = 1;
		if (is_strict)
			break;
	}
	return bad ? -1 : 0;
}

/*
 * A template whose file is gone from dir (or that came from another
 * directory) is kept, with its workers, and is the API's from now on: it can
 * be changed with PUT, scaled to 0, and so on.
 */
static void
release_orphans(struct store *s, const char *dir)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT name FROM templates WHERE source = 'config'");
	char (*names)[TEMPLATE_NAME_MAX + 1] = NULL;
	size_t n = 0, cap = 0;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *nm = (const char *)sqlite3_column_text(st, 0);
		char path[PATH_BUF_MAX];

		/* A path too long for its file to exist is a file that is gone. */
		if (((size_t)snprintf(path, sizeof(path), "%s/%s.json", dir, nm) < sizeof(path) &&
		    access(path, F_OK) == 0) || array_grow(&names, &cap, n, sizeof(*names)) != 0)
			continue;
		snprintf(names[n++], sizeof(*names), "%s", nm);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		struct op_err err = { 0 };
		json_t *t;

		if (store_begin(s) != 0)
			break;
		st = store_stmt(s, "UPDATE templates SET source = 'api', updated_at = ? WHERE name = ?");
		if (st == NULL) {
			store_rollback(s);
			break;
		}
		sqlite3_bind_int64(st, 1, now_ms());
		sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE || (t = template_get(s, names[i], &err)) == NULL ||
		    events_append(s, "template.updated", "template", names[i], 0, "config",
		    json_pack("{s:o}", "template", t)) != 0 || store_commit(s) != 0) {
			sqlite3_reset(st);
			store_rollback(s);
			break;
		}
		sqlite3_reset(st);
		log_info("template.load", "template", names[i], "detail", "its file is gone; the "
		    "template is kept and is changed through the API from now on", NULL);
	}
	free(names);
}

/*
 * Reads every *.json of dir as a template named after its file and puts
 * it. With is_strict (at start) one bad file fails the whole load, and
 * nothing is put: every file is validated first. Else a bad file is
 * skipped and the others still load. A missing directory is no templates.
 */
int
templates_load_dir(struct store *s, const char *dir, int is_strict, char *errbuf, size_t errlen)
{
	DIR *d = opendir(dir);
	int rc;

	if (d == NULL)
		return errno == ENOENT ? 0 : (snprintf(errbuf, errlen, "%s: %s", dir, strerror(errno)), -1);
	rc = is_strict ? load_pass(s, d, dir, 0, 1, errbuf, errlen) : 0;
	if (rc == 0)
		rc = load_pass(s, d, dir, 1, is_strict, errbuf, errlen);
	closedir(d);
	if (rc == 0 || !is_strict)
		release_orphans(s, dir);
	return rc;
}

/* Sets desired (POST /templates/{name}/scale): within [min, max], else 400 naming count. */
int
template_set_desired(struct store *s, const char *name, int64_t count, const char *actor,
    const char *reason, int64_t *was, struct op_err *err)
{
	sqlite3_stmt *st;
	struct tmpl t;
	json_t *spec;

	if (store_begin(s) != 0) {
		store_fail(s, err);
		return -1;
	}
	st = store_stmt(s, "SELECT spec, desired FROM templates WHERE name = ?");
	if (st == NULL) {
		store_fail(s, err);
		store_rollback(s);
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		store_rollback(s);
		op_err_set(err, 404, "not_found", "name", "no template named %s", name);
		return -1;
	}
	spec = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	*was = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (spec == NULL || template_parse(spec, &t) != 0) {
		json_decref(spec);
		store_rollback(s);
		op_err_set(err, 500, "internal", "", "template %s cannot be read", name);
		return -1;
	}
	json_decref(spec);
	template_clear(&t);
	if (count < t.min || count > t.max) {
		store_rollback(s);
		op_err_set(err, 400, "invalid_argument", "count",
		    "count must be from the template's min %lld to its max %lld", (long long)t.min,
		    (long long)t.max);
		return -1;
	}
	st = store_stmt(s, "UPDATE templates SET desired = ?, updated_at = ? WHERE name = ?");
	if (st == NULL) {
		store_fail(s, err);
		store_rollback(s);
		return -1;
	}
	sqlite3_bind_int64(st, 1, count);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE || (*was != count &&
	    events_append(s, "scaling.action", "template", name, 0, actor,
	    json_pack("{s:s, s:s, s:I, s:I, s:s}", "action", "scale", "template", name,
	    "from", (json_int_t)*was, "to", (json_int_t)count, "reason", reason)) != 0) ||
	    store_commit(s) != 0) {
		store_rollback(s);
		store_fail(s, err);
		return -1;
	}
	if (*was != count)
		metrics_scaling_action("scale", name);
	scaler_kick();
	return 0;
}
