/*
 * Runbooks: the format of a runbook file, loading the directory of them,
 * and the checks of a run's parameters. One JSON file a runbook; the name is
 * the file's. A file that does not validate is logged with its field and
 * left out; the others load. The loaded set is replaced whole on SIGHUP; a
 * run holds a reference to the runbook it started with, so a reload never
 * changes a run under way.
 *
 * A parameter's value is data, never code: it reaches a program only as a
 * whole argument ("{{name}}" alone as an element of exec; a reference in a
 * longer string of exec, or in exec[0], is refused at load) and as
 * OUTPOST_PARAM_NAME in its environment. A value that a program could still
 * take for something else is refused (400) before a run starts: a string or
 * int starting with '-' (an option) unless its parameter says allow_dash,
 * control characters, more than RB_VALUE_MAX bytes.
 *
 * This file never runs anything: runs.c does, with the built-ins of
 * builtins.c.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define RB_MAX_PARAMS 32
#define RB_MAX_STEPS 64
#define RB_MAX_ARGV 64

static const char *const ptype_names[] = {
	[PT_STRING] = "string", [PT_INT] = "int", [PT_BOOL] = "bool",
	[PT_DURATION] = "duration", [PT_ENUM] = "enum", [PT_WORKER] = "worker",
	[PT_INSTANCE] = "instance", [PT_DEFINITION] = "definition", [PT_TEMPLATE] = "template",
};

static struct runbook **books;	/* sorted by name */
static size_t nbooks;
static json_t *load_errors;	/* [{file, field, message}] of the last load */

const char *
param_type_name(enum param_type t)
{
	return t <= PT_TEMPLATE ? ptype_names[t] : "?";
}

static int
ptype_parse(const char *s, enum param_type *out)
{
	for (size_t i = 0; i <= PT_TEMPLATE; i++) {
		if (strcmp(ptype_names[i], s) == 0) {
			*out = (enum param_type)i;
			return 0;
		}
	}
	return -1;
}

void
runbook_unref(struct runbook *rb)
{
	if (rb == NULL || --rb->refs > 0)
		return;
	for (size_t i = 0; i < rb->nparams; i++) {
		json_decref(rb->params[i].def);
		json_decref(rb->params[i].choices);
	}
	free(rb->params);
	free(rb->steps);
	json_decref(rb->spec);
	free(rb);
}

struct runbook *
runbook_ref(struct runbook *rb)
{
	rb->refs++;
	return rb;
}

/*
 * Could a program take the value for something other than data? A string
 * with a control character (a terminal's escape, a line of a log, a NUL
 * that would cut it), longer than RB_VALUE_MAX, or, for a string or an int,
 * starting with '-': as an argument, an option ("--version", "-rf"). 400,
 * naming the parameter. O(length).
 */
static int
value_is_data(const struct rb_param *p, json_t *v, const char *field, struct op_err *err)
{
	const unsigned char *s;
	size_t len;
	int has_dash;

	if (json_is_integer(v)) {
		has_dash = json_integer_value(v) < 0;
	} else if (json_is_string(v)) {
		s = (const unsigned char *)json_string_value(v);
		len = json_string_length(v);
		if (len > RB_VALUE_MAX) {
			op_err_set(err, 400, "invalid_argument", field, "%s is longer than %d bytes",
			    field, RB_VALUE_MAX);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			/* C0, DEL, and C1 (U+0080 to U+009F: 0xc2 0x80-0x9f in UTF-8) */
			if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && i + 1 < len &&
			    s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)) {
				op_err_set(err, 400, "invalid_argument", field, "%s holds a control "
				    "character (byte %zu): a value is text without them", field, i);
				return -1;
			}
		}
		has_dash = s[0] == '-';
	} else {
		return 0;
	}
	if (has_dash && !p->allows_dash && (p->type == PT_STRING || p->type == PT_INT)) {
		op_err_set(err, 400, "invalid_argument", field, "%s starts with '-', which a program "
		    "would take for an option; the runbook's parameter must say \"allow_dash\": "
		    "true to take such a value", field);
		return -1;
	}
	return 0;
}

/*
 * A value of a parameter's type, from JSON or from its text (the command
 * line sends text): *out is the value as runs see it. Existence of workers
 * and the like is checked by the caller, who has the store.
 */
static int
value_check(const struct rb_param *p, json_t *v, const char *field, json_t **out,
    struct op_err *err)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	int64_t n, ms;

	*out = NULL;
	if (value_is_data(p, v, field, err) != 0)
		return -1;
	switch (p->type) {
	case PT_STRING:
	case PT_DEFINITION:
	case PT_TEMPLATE:
	case PT_WORKER:
		if (p->type == PT_WORKER && json_is_integer(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (s == NULL || (p->type != PT_STRING && *s == '\0'))
			break;
		*out = json_incref(v);
		return 0;
	case PT_INT:
	case PT_INSTANCE:
		if (json_is_integer(v)) {
			n = json_integer_value(v);
		} else if (s == NULL || parse_int64(s, INT64_MIN, INT64_MAX, &n) != 0) {
			break;
		}
		if (p->type == PT_INSTANCE && n <= 0)
			break;
		*out = json_integer(n);
		return 0;
	case PT_BOOL:
		if (json_is_boolean(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 ||
		    strcmp(s, "1") == 0)) {
			*out = json_true();
			return 0;
		}
		if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 ||
		    strcmp(s, "0") == 0)) {
			*out = json_false();
			return 0;
		}
		break;
	case PT_DURATION:
		if (s == NULL || duration_parse(s, &ms) != 0)
			break;
		*out = json_incref(v);
		return 0;
	case PT_ENUM: {
		size_t i;
		json_t *c;

		if (s == NULL)
			break;
		json_array_foreach(p->choices, i, c) {
			if (strcmp(json_string_value(c), s) == 0) {
				*out = json_incref(v);
				return 0;
			}
		}
		{
			char *list = json_dumps(p->choices, JSON_COMPACT);

			op_err_set(err, 422, "invalid_argument", field, "%s must be one of %s", field,
			    list ? list : "its choices");
			free(list);
		}
		return -1;
	}
	}
	op_err_set(err, 422, "invalid_argument", field, "%s must be %s", field,
	    p->type == PT_INT ? "an integer" : p->type == PT_INSTANCE ? "an instance id" :
	    p->type == PT_BOOL ? "true or false" : p->type == PT_DURATION ?
	    "a duration such as \"90s\" or \"10m\"" : p->type == PT_WORKER ?
	    "a worker's name or id" : p->type == PT_STRING ? "a string (up to 4096 bytes)" :
	    "a name");
	return -1;
}

static int
parse_param(json_t *in, size_t i, struct rb_param *p, struct op_err *err)
{
	static const char *const fields[] = { "name", "type", "required", "default", "choices",
		"help", "allow_dash", NULL };
	char prefix[32], fb[64];
	const char *name, *type, *help = "";
	json_t *def;

	snprintf(prefix, sizeof(prefix), "params[%zu]", i);
	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", prefix, "%s must be an object", prefix);
		return -1;
	}
	if (jsonv_known(in, prefix, fields, err) != 0 ||
	    jsonv_string(in, prefix, "name", 1, 1, sizeof(p->name) - 1, &name, err) != 0 ||
	    jsonv_string(in, prefix, "type", 1, 1, 32, &type, err) != 0 ||
	    jsonv_bool(in, prefix, "required", &p->required, err) != 0 ||
	    jsonv_bool(in, prefix, "allow_dash", &p->allows_dash, err) != 0 ||
	    jsonv_string(in, prefix, "help", 0, 0, sizeof(p->help) - 1, &help, err) != 0)
		return -1;
	if (!name_is_valid(name, sizeof(p->name) - 1) || strchr(name, '.') != NULL) {
		op_err_set(err, 400, "invalid_argument", "", "%s.name must be a lower-case name of "
		    "letters, digits, _ and -", prefix);
		snprintf(err->field, sizeof(err->field), "%s.name", prefix);
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->help, sizeof(p->help), "%s", help);
	if (ptype_parse(type, &p->type) != 0) {
		snprintf(fb, sizeof(fb), "%s.type", prefix);
		op_err_set(err, 400, "invalid_argument", fb, "%s must be one of string, int, "
		    "bool, duration, enum, worker, instance, definition, template", fb);
		return -1;
	}
	if (p->allows_dash && p->type != PT_STRING && p->type != PT_INT) {
		snprintf(fb, sizeof(fb), "%s.allow_dash", prefix);
		op_err_set(err, 400, "invalid_argument", fb, "%s: only a string or an int "
		    "parameter takes allow_dash", fb);
		return -1;
	}
	p->choices = json_object_get(in, "choices");
	if (p->type == PT_ENUM) {
		size_t k;
		json_t *c;

		if (!json_is_array(p->choices) || json_array_size(p->choices) == 0) {
			snprintf(fb, sizeof(fb), "%s.choices", prefix);
			op_err_set(err, 400, "invalid_argument", fb,
			    "%s must be a list of the strings an enum may be", fb);
			p->choices = NULL;
			return -1;
		}
		json_array_foreach(p->choices, k, c) {
			if (!json_is_string(c)) {
				snprintf(fb, sizeof(fb), "%s.choices[%zu]", prefix, k);
				op_err_set(err, 400, "invalid_argument", fb,
				    "%s must be a string", fb);
				p->choices = NULL;
				return -1;
			}
		}
	} else if (p->choices != NULL) {
		snprintf(fb, sizeof(fb), "%s.choices", prefix);
		op_err_set(err, 400, "invalid_argument", fb, "only an enum has choices");
		p->choices = NULL;
		return -1;
	}
	json_incref(p->choices);
	def = json_object_get(in, "default");
	if (def != NULL && !json_is_null(def)) {
		char field[64];

		snprintf(field, sizeof(field), "%s.default", prefix);
		if (value_check(p, def, field, &p->def, err) != 0)
			return -1;
	}
	return 0;
}

void
param_env_name(const char *name, char *out, size_t n)
{
	size_t k = strlen("OUTPOST_PARAM_");

	assert(n > k + strlen(name));
	memcpy(out, "OUTPOST_PARAM_", k);
	for (; *name != '\0'; name++)
		out[k++] = *name == '-' ? '_' : *name >= 'a' && *name <= 'z' ?
		    (char)(*name - 'a' + 'A') : *name;
	out[k] = '\0';
}

static const struct rb_param *
param_find(const struct runbook *rb, const char *name, size_t len)
{
	for (size_t i = 0; i < rb->nparams; i++)
		if (strlen(rb->params[i].name) == len && strncmp(rb->params[i].name, name, len) == 0)
			return &rb->params[i];
	return NULL;
}

/*
 * Member i of an object or an array, and its field's name (FIELD.KEY or
 * FIELD[I]) in f; NULL past the last. For an object, *it is its iterator
 * (json_object_iter(v) to begin), moved on at each call.
 */
static json_t *
member_at(json_t *v, void **it, size_t i, const char *field, char *f, size_t fn)
{
	json_t *m;

	if (json_is_array(v)) {
		if (i >= json_array_size(v))
			return NULL;
		snprintf(f, fn, "%s[%zu]", field, i);
		return json_array_get(v, i);
	}
	if (*it == NULL)
		return NULL;
	snprintf(f, fn, "%s.%s", field, json_object_iter_key(*it));
	m = json_object_iter_value(*it);
	*it = json_object_iter_next(v, *it);
	return m;
}

/*
 * Every "{{name}}" in the strings of v names a parameter (or, for an alert's
 * runbook, a fact of the alert). known(name) says whether it does.
 */
static int
refs_check(json_t *v, const char *field, int (*known)(void *, const char *, size_t), void *arg,
    struct op_err *err)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v), *p, *q;

		for (p = s; (p = strstr(p, "{{")) != NULL; p = q + 2) {
			q = strstr(p + 2, "}}");
			if (q == NULL) {
				op_err_set(err, 400, "invalid_argument", field,
				    "%s: \"{{\" without its \"}}\"", field);
				return -1;
			}
			if (!known(arg, p + 2, (size_t)(q - p - 2))) {
				op_err_set(err, 400, "invalid_argument", field,
				    "%s: {{%.*s}} names no parameter", field, (int)(q - p - 2), p + 2);
				return -1;
			}
		}
	} else if (json_is_object(v) || json_is_array(v)) {
		void *it = json_object_iter(v);	/* NULL for an array */
		char f[64];
		json_t *m;

		for (size_t i = 0; (m = member_at(v, &it, i, field, f, sizeof(f))) != NULL; i++)
			if (refs_check(m, f, known, arg, err) != 0)
				return -1;
	}
	return 0;
}

static int
is_param(void *arg, const char *name, size_t len)
{
	return param_find(arg, name, len) != NULL;
}

int
subst_refs_check(json_t *v, const char *field, int (*known)(void *, const char *, size_t),
    void *arg, struct op_err *err)
{
	return refs_check(v, field, known, arg, err);
}

/*
 * An argument of exec is the runbook's own text, or exactly one "{{name}}",
 * which becomes one whole argument: a reference inside a longer string would
 * make a value part of a shell script or of an option ("--x={{a}}"), and one
 * in exec[0] would let a value choose the program. Both are refused here, at
 * load; a program reads its values from its argv or OUTPOST_PARAM_NAME.
 */
static int
exec_arg_check(const char *s, const char *prefix, size_t k, struct op_err *err)
{
	const char *ref = strstr(s, "{{"), *end;
	char f[64], name[48], env[RB_ENV_NAME_MAX];

	if (ref == NULL)
		return 0;
	snprintf(f, sizeof(f), "%s.exec[%zu]", prefix, k);
	if (k == 0) {
		op_err_set(err, 400, "invalid_argument", f, "%s is the program: a parameter "
		    "cannot name it", f);
		return -1;
	}
	if (subst_whole_ref(s, name, sizeof(name)))
		return 0;
	/* Named in the message; refs_check says, after, whether it is a parameter. */
	end = strstr(ref + 2, "}}");
	snprintf(name, sizeof(name), "%.*s", end ? (int)(end - ref - 2) : 0, ref + 2);
	param_env_name(name, env, sizeof(env));
	op_err_set(err, 400, "invalid_argument", f, "%s puts {{%s}} inside a longer string, "
	    "where its value would become code or an option: give it as an argument of its "
	    "own (\"{{%s}}\" alone), or read \"$%s\" in the program", f, name, name, env);
	return -1;
}

static int
parse_step(struct runbook *rb, json_t *in, size_t i, struct rb_step *st, struct op_err *err)
{
	static const char *const fields[] = { "name", "action", "args", "exec", "timeout", NULL };
	char prefix[32], f[64];
	const char *name = NULL, *action = NULL;
	json_t *args, *argv;

	snprintf(prefix, sizeof(prefix), "steps[%zu]", i);
	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", prefix, "%s must be an object", prefix);
		return -1;
	}
	if (jsonv_known(in, prefix, fields, err) != 0 ||
	    jsonv_string(in, prefix, "name", 0, 1, sizeof(st->name) - 1, &name, err) != 0 ||
	    jsonv_string(in, prefix, "action", 0, 1, 48, &action, err) != 0)
		return -1;
	args = json_object_get(in, "args");
	argv = json_object_get(in, "exec");
	if ((action == NULL) == (argv == NULL)) {
		op_err_set(err, 400, "invalid_argument", prefix,
		    "%s needs either an action or an exec, not %s", prefix,
		    action ? "both" : "neither");
		return -1;
	}
	st->timeout_ms = 60 * 1000;
	if (action != NULL) {
		if ((st->builtin = builtin_find(action)) == NULL) {
			snprintf(f, sizeof(f), "%s.action", prefix);
			op_err_set(err, 400, "invalid_argument", f, "%s: no built-in action %s "
			    "(see the list in docs/runbooks.md)", f, action);
			return -1;
		}
		if (json_object_get(in, "timeout") != NULL) {
			snprintf(f, sizeof(f), "%s.timeout", prefix);
			op_err_set(err, 400, "invalid_argument", f, "only an exec step has a timeout");
			return -1;
		}
		if (args != NULL && !json_is_object(args)) {
			snprintf(f, sizeof(f), "%s.args", prefix);
			op_err_set(err, 400, "invalid_argument", f, "%s must be an object", f);
			return -1;
		}
		snprintf(f, sizeof(f), "%s.args", prefix);
		if (builtin_args_check(st->builtin, args, f, err) != 0)
			return -1;
		st->args = args;
		snprintf(st->name, sizeof(st->name), "%s", name ? name : action);
	} else {
		size_t k;
		json_t *a;

		snprintf(f, sizeof(f), "%s.exec", prefix);
		if (args != NULL) {
			op_err_set(err, 400, "invalid_argument", f, "an exec step takes no args: "
			    "its program gets the parameters in its environment and argv");
			snprintf(err->field, sizeof(err->field), "%s.args", prefix);
			return -1;
		}
		if (!json_is_array(argv) || json_array_size(argv) == 0 ||
		    json_array_size(argv) > RB_MAX_ARGV) {
			op_err_set(err, 400, "invalid_argument", f, "%s must be a list of 1 to %d "
			    "strings: the program and its arguments", f, RB_MAX_ARGV);
			return -1;
		}
		json_array_foreach(argv, k, a) {
			if (!json_is_string(a) || (k == 0 && json_string_length(a) == 0)) {
				snprintf(f, sizeof(f), "%s.exec[%zu]", prefix, k);
				op_err_set(err, 400, "invalid_argument", f, "%s must be a%s string", f,
				    k == 0 ? " non-empty" : "");
				return -1;
			}
			if (exec_arg_check(json_string_value(a), prefix, k, err) != 0)
				return -1;
		}
		if (jsonv_duration(in, prefix, "timeout", 0, 100, 24LL * 3600 * 1000,
		    &st->timeout_ms, err) != 0)
			return -1;
		st->argv = argv;
		snprintf(st->name, sizeof(st->name), "%s", name ? name :
		    json_string_value(json_array_get(argv, 0)));
	}
	snprintf(f, sizeof(f), "%s", prefix);
	return refs_check(in, f, is_param, rb, err);
}

/* Parameter i must not have the variable of one before it (a-b and a_b: OUTPOST_PARAM_A_B). */
static int
env_name_taken(const struct runbook *rb, size_t i, char *fb, size_t fn, struct op_err *err)
{
	char mine[RB_ENV_NAME_MAX], other[RB_ENV_NAME_MAX];

	param_env_name(rb->params[i].name, mine, sizeof(mine));
	for (size_t k = 0; k < i; k++) {
		param_env_name(rb->params[k].name, other, sizeof(other));
		if (strcmp(mine, other) == 0) {
			snprintf(fb, fn, "params[%zu].name", i);
			op_err_set(err, 400, "invalid_argument", fb, "%s: %s and %s would both be "
			    "%s in a program's environment", fb, rb->params[k].name,
			    rb->params[i].name, mine);
			return -1;
		}
	}
	return 0;
}

/* Parses and checks a runbook; name is its file's. */
static struct runbook *
runbook_parse(json_t *in, const char *name, const char *path, struct op_err *err)
{
	static const char *const fields[] = { "name", "description", "role", "confirm", "params",
		"steps", NULL };
	struct runbook *rb = calloc(1, sizeof(*rb));
	const char *nm, *desc = "", *role = "operator";
	json_t *params, *steps, *v;
	char fb[64];
	size_t i;

	if (rb == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return NULL;
	}
	rb->refs = 1;
	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", "", "a runbook is a JSON object");
		goto fail;
	}
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &nm, err) != 0 ||
	    jsonv_string(in, "", "description", 0, 0, 2000, &desc, err) != 0 ||
	    jsonv_string(in, "", "role", 0, 1, 16, &role, err) != 0 ||
	    jsonv_bool(in, "", "confirm", &rb->confirm, err) != 0)
		goto fail;
	if (strcmp(nm, name) != 0) {
		op_err_set(err, 400, "invalid_argument", "name", "name is %s but the file is %s.json: "
		    "a runbook is named by its file", nm, name);
		goto fail;
	}
	if (!name_is_valid(name, NAME_MAX_LEN)) {
		op_err_set(err, 400, "invalid_argument", "name", "name must be lower-case letters, "
		    "digits, '.', '_' and '-', starting with a letter or digit");
		goto fail;
	}
	if (role_parse(role, &rb->role) != 0 || rb->role < ROLE_OPERATOR) {
		op_err_set(err, 400, "invalid_argument", "role", "role must be operator or admin");
		goto fail;
	}
	snprintf(rb->name, sizeof(rb->name), "%.*s", NAME_MAX_LEN, name);
	snprintf(rb->file, sizeof(rb->file), "%s", path);
	{
		const char *slash = strrchr(path, '/');

		snprintf(rb->dir, sizeof(rb->dir), "%.*s", slash ? (int)(slash - path) : 1,
		    slash ? path : ".");
	}
	params = json_object_get(in, "params");
	if (params != NULL && (!json_is_array(params) || json_array_size(params) > RB_MAX_PARAMS)) {
		op_err_set(err, 400, "invalid_argument", "params", "params must be a list of up to %d "
		    "parameters", RB_MAX_PARAMS);
		goto fail;
	}
	if (params != NULL && json_array_size(params) > 0) {
		rb->params = calloc(json_array_size(params), sizeof(*rb->params));
		if (rb->params == NULL)
			goto oom;
		json_array_foreach(params, i, v) {
			if (parse_param(v, i, &rb->params[i], err) != 0) {
				rb->nparams = i + 1;
				goto fail;
			}
			rb->nparams = i + 1;
			if (param_find(rb, rb->params[i].name, strlen(rb->params[i].name)) !=
			    &rb->params[i]) {
				snprintf(fb, sizeof(fb), "params[%zu].name", i);
				op_err_set(err, 400, "invalid_argument", fb,
				    "%s: a second parameter named %s", fb, rb->params[i].name);
				goto fail;
			}
			if (env_name_taken(rb, i, fb, sizeof(fb), err) != 0)
				goto fail;
		}
	}
	steps = json_object_get(in, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0 ||
	    json_array_size(steps) > RB_MAX_STEPS) {
		op_err_set(err, 400, "invalid_argument", "steps", "steps must be a list of 1 to %d "
		    "steps", RB_MAX_STEPS);
		goto fail;
	}
	rb->steps = calloc(json_array_size(steps), sizeof(*rb->steps));
	if (rb->steps == NULL)
		goto oom;
	json_array_foreach(steps, i, v) {
		if (parse_step(rb, v, i, &rb->steps[i], err) != 0)
			goto fail;
		rb->nsteps = i + 1;
	}
	rb->spec = json_incref(in);	/* args and argv point into it */
	return rb;
oom:
	op_err_set(err, 500, "internal", "", "out of memory");
fail:
	runbook_unref(rb);
	return NULL;
}

static int
book_cmp(const void *a, const void *b)
{
	return strcmp((*(struct runbook *const *)a)->name, (*(struct runbook *const *)b)->name);
}

static void
books_clear(void)
{
	for (size_t i = 0; i < nbooks; i++)
		runbook_unref(books[i]);
	free(books);
	books = NULL;
	nbooks = 0;
}

void
runbooks_free(void)
{
	books_clear();
	json_decref(load_errors);
	load_errors = NULL;
}

int
runbooks_load_dir(const char *dir)
{
	struct runbook **nb = NULL;
	size_t n = 0, cap = 0;
	json_t *errs = json_array();
	DIR *d = opendir(dir);
	char path[PATH_BUF_MAX], name[NAME_BUF + 8];

	if (d == NULL && errno != ENOENT) {
		json_array_append_new(errs, json_pack("{s:s, s:s, s:s}", "file", dir, "field", "",
		    "message", strerror(errno)));
		log_error("runbook.load", "dir", dir, "error", strerror(errno), NULL);
	}
	while (d != NULL && dir_next_json(d, dir, path, sizeof(path), name, sizeof(name))) {
		struct op_err err = { 0 };
		json_error_t je;
		json_t *in;
		struct runbook *rb = NULL;

		in = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (in == NULL)
			snprintf(err.message, sizeof(err.message), "line %d: %s", je.line, je.text);
		else
			rb = runbook_parse(in, name, path, &err);
		json_decref(in);
		if (rb != NULL && array_grow(&nb, &cap, n, sizeof(*nb)) == 0) {
			nb[n++] = rb;
			continue;
		}
		runbook_unref(rb);
		log_error("runbook.load", "file", path, "field", err.field, "error", err.message, NULL);
		json_array_append_new(errs, json_pack("{s:s, s:s, s:s}", "file",
		    strrchr(path, '/') + 1, "field", err.field, "message", err.message));
	}
	if (d != NULL)
		closedir(d);
	if (n > 1)
		qsort(nb, n, sizeof(*nb), book_cmp);
	books_clear();
	books = nb;
	nbooks = n;
	json_decref(load_errors);
	load_errors = errs;
	log_info("runbook.loaded", "dir", dir, LOG_INT("runbooks", n),
	    LOG_INT("bad", json_array_size(errs)), NULL);
	return json_array_size(errs) ? -1 : 0;
}

struct runbook *
runbook_find(const char *name)
{
	size_t lo = 0, hi = nbooks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(books[mid]->name, name);

		if (c == 0)
			return books[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

json_t *
runbook_json(const struct runbook *rb)
{
	json_t *params = json_array(), *steps = json_array();
	const char *slash = strrchr(rb->file, '/');

	for (size_t i = 0; i < rb->nparams; i++) {
		const struct rb_param *p = &rb->params[i];
		json_t *o = json_pack("{s:s, s:s, s:b, s:O?, s:s}", "name", p->name, "type",
		    param_type_name(p->type), "required", p->required, "default", p->def,
		    "help", p->help);

		if (o != NULL && p->choices != NULL)
			json_object_set(o, "choices", p->choices);
		if (o != NULL && p->allows_dash)
			json_object_set_new(o, "allow_dash", json_true());
		json_array_append_new(params, o);
	}
	for (size_t i = 0; i < rb->nsteps; i++) {
		const struct rb_step *s = &rb->steps[i];
		char d[32];

		if (s->builtin != NULL)
			json_array_append_new(steps, json_pack("{s:s, s:s, s:o}", "name", s->name,
			    "action", builtin_name(s->builtin), "args",
			    s->args ? json_incref(s->args) : json_object()));
		else
			json_array_append_new(steps, json_pack("{s:s, s:O, s:s}", "name", s->name,
			    "exec", s->argv, "timeout", duration_format(s->timeout_ms, d, sizeof(d))));
	}
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:s}", "name", rb->name, "description",
	    json_string_value(json_object_get(rb->spec, "description")) ?
	    json_string_value(json_object_get(rb->spec, "description")) : "",
	    "role", role_name(rb->role), "confirm", rb->confirm, "params", params, "steps", steps,
	    "file", slash ? slash + 1 : rb->file);
}

json_t *
runbooks_list(void)
{
	json_t *items = json_array();

	for (size_t i = 0; i < nbooks; i++)
		json_array_append_new(items, runbook_json(books[i]));
	return json_pack("{s:o, s:o}", "items", items, "errors",
	    load_errors ? json_incref(load_errors) : json_array());
}

/* Does the named resource exist (and, for a worker, what is its name)? */
static int
exists(struct store *s, const struct rb_param *p, json_t **v, const char *field,
    struct op_err *err)
{
	struct op_err e2 = { 0 };
	json_t *got = NULL;

	switch (p->type) {
	case PT_WORKER: {
		char buf[32];
		const char *key = json_is_string(*v) ? json_string_value(*v) : buf;
		int64_t id;

		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(*v));
		if (worker_resolve(s, key, &id, &e2) != 0)
			break;
		got = worker_get(s, id, &e2);
		if (got == NULL)
			break;
		json_decref(*v);
		*v = json_incref(json_object_get(got, "name"));
		json_decref(got);
		return 0;
	}
	case PT_INSTANCE:
		if (instance_exists(s, json_integer_value(*v), &e2))
			return 0;
		break;
	case PT_DEFINITION:
		got = definition_get(s, json_string_value(*v), 0, &e2);
		break;
	case PT_TEMPLATE:
		got = template_get(s, json_string_value(*v), &e2);
		break;
	default:
		return 0;
	}
	if (got != NULL) {
		json_decref(got);
		return 0;
	}
	if (e2.http == 404 || e2.http == 0)
		op_err_set(err, 422, "invalid_argument", field, "%s: no %s %s", field,
		    param_type_name(p->type), json_is_string(*v) ? json_string_value(*v) : "with that id");
	else
		*err = e2;
	return -1;
}

int
runbook_params(const struct runbook *rb, struct store *s, json_t *in, json_t **out,
    struct op_err *err)
{
	json_t *res = json_object();
	const char *key;
	json_t *v;

	*out = NULL;
	if (in != NULL && !json_is_object(in)) {
		op_err_set(err, 422, "invalid_argument", "params", "params must be an object");
		goto fail;
	}
	json_object_foreach(in, key, v) {
		if (param_find(rb, key, strlen(key)) == NULL) {
			char f[64];

			snprintf(f, sizeof(f), "params.%s", key);
			op_err_set(err, 422, "unknown_field", f, "%s takes no parameter %s", rb->name,
			    key);
			goto fail;
		}
	}
	for (size_t i = 0; i < rb->nparams; i++) {
		const struct rb_param *p = &rb->params[i];
		json_t *got = NULL;
		char f[64];

		snprintf(f, sizeof(f), "params.%s", p->name);
		v = json_object_get(in, p->name);
		if (v == NULL || json_is_null(v)) {
			if (p->def != NULL) {
				got = json_incref(p->def);
			} else if (p->required) {
				op_err_set(err, 422, "invalid_argument", f, "%s is required%s%s", f,
				    p->help[0] ? ": " : "", p->help);
				goto fail;
			} else {
				json_object_set_new(res, p->name, json_null());
				continue;
			}
		} else if (value_check(p, v, f, &got, err) != 0) {
			goto fail;
		}
		if (exists(s, p, &got, f, err) != 0) {
			json_decref(got);
			goto fail;
		}
		json_object_set_new(res, p->name, got);
	}
	*out = res;
	return 0;
fail:
	json_decref(res);
	return -1;
}

/* The text of a value in a string ("" for null). */
void
subst_text(json_t *v, struct sbuf *b)
{
	if (json_is_string(v))
		sbuf_puts(b, json_string_value(v));
	else if (json_is_integer(v))
		sbuf_printf(b, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		sbuf_puts(b, json_is_true(v) ? "true" : "false");
	else if (v != NULL && !json_is_null(v)) {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		sbuf_puts(b, t ? t : "");
		free(t);
	}
}

/* Is s exactly one reference, "{{name}}" and nothing else? Its name in out. */
int
subst_whole_ref(const char *s, char *out, size_t n)
{
	size_t len = strlen(s);

	if (len <= 4 || len - 4 >= n || strncmp(s, "{{", 2) != 0 ||
	    strstr(s + 2, "{{") != NULL || strstr(s + 2, "}}") != s + len - 2)
		return 0;
	snprintf(out, n, "%.*s", (int)(len - 4), s + 2);
	return 1;
}

/*
 * A copy of v with "{{name}}" replaced from vars: a string that is only a
 * reference takes the value itself (an int stays an int), elsewhere the
 * value's text is put in.
 */
json_t *
subst(json_t *v, json_t *vars)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v), *p, *q;
		struct sbuf b;
		json_t *out;
		char key[64];

		if (subst_whole_ref(s, key, sizeof(key))) {
			json_t *val = json_object_get(vars, key);

			return val ? json_incref(val) : json_null();
		}
		sbuf_init(&b);
		for (p = s; (q = strstr(p, "{{")) != NULL;) {
			const char *e = strstr(q + 2, "}}");

			if (e == NULL)
				break;
			sbuf_append(&b, p, (size_t)(q - p));
			snprintf(key, sizeof(key), "%.*s", (int)(e - q - 2), q + 2);
			subst_text(json_object_get(vars, key), &b);
			p = e + 2;
		}
		sbuf_puts(&b, p);
		out = json_stringn(b.p ? b.p : "", b.len);
		sbuf_free(&b);
		return out;
	}
	if (json_is_object(v)) {
		json_t *o = json_object(), *m;
		const char *k;

		json_object_foreach(v, k, m)
			json_object_set_new(o, k, subst(m, vars));
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array(), *m;
		size_t i;

		json_array_foreach(v, i, m)
			json_array_append_new(a, subst(m, vars));
		return a;
	}
	return v ? json_incref(v) : json_null();
}
