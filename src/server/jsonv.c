/*
 * Validation of request bodies. Every failure names the field by its dotted
 * path ("resources.cpu", "hooks.run[2]") so a client can show it beside the
 * input it came from, and says what would be valid.
 */
#include <stdarg.h>
#include <string.h>

#include "server.h"

void
op_err_set(struct op_err *e, int http, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	e->http = http;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static const char *
path_of(char *buf, size_t n, const char *prefix, const char *key)
{
	if (prefix == NULL || *prefix == '\0')
		snprintf(buf, n, "%s", key);
	else
		snprintf(buf, n, "%s.%s", prefix, key);
	return buf;
}

static const char *
type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

int
jsonv_known(json_t *obj, const char *prefix, const char *const *allowed, struct op_err *err)
{
	const char *key;
	json_t *v;
	char path[128];

	json_object_foreach(obj, key, v) {
		int is_known = 0;

		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				is_known = 1;
		if (!is_known) {
			op_err_set(err, 400, "unknown_field", path_of(path, sizeof(path), prefix, key),
			    "unknown field %s", path);
			return -1;
		}
	}
	return 0;
}

/* Finds key; returns 1 if present (and not null), 0 if absent, -1 after an error. */
static int
member(json_t *obj, const char *prefix, const char *key, int is_required, json_t **out,
    struct op_err *err)
{
	char path[128];

	*out = json_object_get(obj, key);
	if (*out == NULL || json_is_null(*out)) {
		*out = NULL;
		if (is_required) {
			op_err_set(err, 400, "invalid_argument", path_of(path, sizeof(path), prefix, key),
			    "%s is required", path);
			return -1;
		}
		return 0;
	}
	return 1;
}

static int
wrong_type(json_t *v, const char *prefix, const char *key, const char *want, struct op_err *err)
{
	char path[128];

	op_err_set(err, 400, "invalid_argument", path_of(path, sizeof(path), prefix, key),
	    "%s must be %s, not %s", path, want, type_name(v));
	return -1;
}

int
jsonv_string(json_t *obj, const char *prefix, const char *key, int is_required,
    size_t minlen, size_t maxlen, const char **out, struct op_err *err)
{
	char path[128];
	json_t *v;
	int rc = member(obj, prefix, key, is_required, &v, err);
	size_t len;

	if (rc <= 0)
		return rc;
	if (!json_is_string(v))
		return wrong_type(v, prefix, key, "a string", err);
	len = json_string_length(v);
	if (memchr(json_string_value(v), '\0', len) != NULL) {
		op_err_set(err, 400, "invalid_argument", path_of(path, sizeof(path), prefix, key),
		    "%s must not contain NUL characters", path);
		return -1;
	}
	if (len < minlen || len > maxlen) {
		path_of(path, sizeof(path), prefix, key);
		if (len == 0)
			op_err_set(err, 400, "invalid_argument", path, "%s must not be empty", path);
		else
			op_err_set(err, 400, "invalid_argument", path,
			    "%s must be %zu to %zu bytes long, not %zu", path, minlen, maxlen, len);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
jsonv_int(json_t *obj, const char *prefix, const char *key, int is_required, int64_t min,
    int64_t max, int64_t *out, struct op_err *err)
{
	char path[128];
	json_t *v;
	int rc = member(obj, prefix, key, is_required, &v, err);

	if (rc <= 0)
		return rc;
	if (!json_is_integer(v))
		return wrong_type(v, prefix, key, "an integer", err);
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		op_err_set(err, 400, "invalid_argument", path_of(path, sizeof(path), prefix, key),
		    "%s must be from %lld to %lld", path, (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int
jsonv_bool(json_t *obj, const char *prefix, const char *key, int *out, struct op_err *err)
{
	json_t *v;
	int rc = member(obj, prefix, key, 0, &v, err);

	if (rc <= 0)
		return rc;
	if (!json_is_boolean(v))
		return wrong_type(v, prefix, key, "true or false", err);
	*out = json_is_true(v);
	return 0;
}

int
jsonv_time(json_t *obj, const char *prefix, const char *key, int is_required, int64_t *out,
    struct op_err *err)
{
	char path[128];
	const char *s;

	if (jsonv_string(obj, prefix, key, is_required, 1, 64, &s, err) != 0)
		return -1;
	if (json_object_get(obj, key) == NULL || json_is_null(json_object_get(obj, key)))
		return 0;
	if (time_parse_rfc3339(s, out) != 0) {
		op_err_set(err, 400, "invalid_argument", path_of(path, sizeof(path), prefix, key),
		    "%s must be an RFC 3339 time such as 2026-11-23T10:00:00Z", path);
		return -1;
	}
	return 0;
}

int
jsonv_duration(json_t *obj, const char *prefix, const char *key, int is_required, int64_t min,
    int64_t max, int64_t *out, struct op_err *err)
{
	char path[128], a[32], b[32];
	const char *s;

	if (jsonv_string(obj, prefix, key, is_required, 1, 32, &s, err) != 0)
		return -1;
	if (json_object_get(obj, key) == NULL || json_is_null(json_object_get(obj, key)))
		return 0;
	path_of(path, sizeof(path), prefix, key);
	if (duration_parse(s, out) != 0) {
		op_err_set(err, 400, "invalid_argument", path,
		    "%s must be a duration such as \"90s\", \"10m\" or \"2h\"", path);
		return -1;
	}
	if (*out < min || *out > max) {
		op_err_set(err, 400, "invalid_argument", path, "%s must be from %s to %s", path,
		    duration_format(min, a, sizeof(a)), duration_format(max, b, sizeof(b)));
		return -1;
	}
	return 0;
}

json_t *
jsonv_object(json_t *obj, const char *prefix, const char *key, int is_required,
    struct op_err *err)
{
	json_t *v;

	if (member(obj, prefix, key, is_required, &v, err) <= 0)
		return NULL;
	if (!json_is_object(v)) {
		wrong_type(v, prefix, key, "an object", err);
		return NULL;
	}
	return v;
}

json_t *
jsonv_array(json_t *obj, const char *prefix, const char *key, int is_required,
    struct op_err *err)
{
	json_t *v;

	if (member(obj, prefix, key, is_required, &v, err) <= 0)
		return NULL;
	if (!json_is_array(v)) {
		wrong_type(v, prefix, key, "an array", err);
		return NULL;
	}
	return v;
}

/*
 * A label's value reaches an agent's --labels (k=v,... with no escape) and a
 * systemd environment file (a line each): a control character or a ','
 * would add a line or a label. 1 when v holds one.
 */
static int
label_value_bad(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ',')
			return 1;
	return 0;
}

int
jsonv_labels(json_t *obj, const char *prefix, const char *key, json_t **out, struct op_err *err)
{
	char path[128], sub[192];
	const char *k;
	json_t *v, *labels;

	*out = NULL;
	err->code = NULL;
	labels = jsonv_object(obj, prefix, key, 0, err);
	if (labels == NULL)
		return err->code != NULL ? -1 : 0;
	path_of(path, sizeof(path), prefix, key);
	if (json_object_size(labels) > 64) {
		op_err_set(err, 400, "invalid_argument", path, "%s may hold at most 64 labels", path);
		return -1;
	}
	json_object_foreach(labels, k, v) {
		snprintf(sub, sizeof(sub), "%s.%s", path, k);
		if (!name_is_valid(k, NAME_MAX_LEN)) {
			op_err_set(err, 400, "invalid_argument", sub,
			    "label names are 1 to %d of a-z, 0-9, '.', '_', '-', starting with a letter "
			    "or digit", NAME_MAX_LEN);
			return -1;
		}
		if (!json_is_string(v)) {
			op_err_set(err, 400, "invalid_argument", sub, "%s must be a string, not %s",
			    sub, type_name(v));
			return -1;
		}
		if (json_string_length(v) > 255) {
			op_err_set(err, 400, "invalid_argument", sub, "%s must be at most 255 bytes", sub);
			return -1;
		}
		if (label_value_bad(v) != 0) {
			op_err_set(err, 400, "invalid_argument", sub, "%s must hold no control character "
			    "(newline, tab, ...) and no ',': labels travel as k=v,... and in "
			    "environment files", sub);
			return -1;
		}
	}
	*out = labels;
	return 0;
}

int
jsonv_capacity(json_t *obj, const char *key, int64_t *cpu, int64_t *memory_mb, int64_t *slots,
    struct op_err *err)
{
	static const char *const fields[] = { "cpu", "memory_mb", "slots", NULL };
	json_t *cap = jsonv_object(obj, "", key, 1, err);

	if (cap == NULL || jsonv_known(cap, key, fields, err) != 0 ||
	    jsonv_int(cap, key, "cpu", 1, 1, CAPACITY_CPU_MAX, cpu, err) != 0 ||
	    jsonv_int(cap, key, "memory_mb", 1, 1, CAPACITY_MEMORY_MB_MAX, memory_mb, err) != 0 ||
	    jsonv_int(cap, key, "slots", 1, 1, CAPACITY_SLOTS_MAX, slots, err) != 0)
		return -1;
	return 0;
}
