/*
 * JSON values as cells for people, shared by the CLI's tables and the
 * dashboard's lists, so that both write a value, a defref or a usage the
 * same way. Colours come from state.h's tables, the one list of states.
 *
 * What it must never do: print, draw, or know which program shows the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "util.h"

/* The longest key of a dotted path's step. */
#define PATH_KEY_MAX 128
/* One scalar of an object or array written as k=v,k=v or a,b. */
#define SCALAR_BUF 512
/* One number of a usage or a capacity ("2048", "-"). */
#define NUMBER_BUF 64

json_t *
fmt_path(json_t *obj, const char *path)
{
	char key[PATH_KEY_MAX];
	const char *p = path;

	while (obj != NULL && *p) {
		size_t n = strcspn(p, ".");

		if (!json_is_object(obj) || n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return obj;
}

int
fmt_is_scalar(json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static void
scalar(json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%g", json_real_value(v));
	else if (json_is_true(v))
		snprintf(buf, n, "true");
	else if (json_is_false(v))
		snprintf(buf, n, "false");
	else
		snprintf(buf, n, "-");
}

/*
 * An object of scalars as k=v,k=v or an array of scalars as a,b into b, in
 * their order; -1, with b emptied, when v holds anything else.
 */
static int
scalars_join(json_t *v, struct sbuf *b)
{
	int is_object = json_is_object(v);
	void *it = is_object ? json_object_iter(v) : NULL;
	char one[SCALAR_BUF];

	for (size_t i = 0;; i++) {
		json_t *x = is_object ? json_object_iter_value(it) : json_array_get(v, i);

		if (x == NULL)
			return 0;
		if (!fmt_is_scalar(x)) {
			sbuf_reset(b);
			return -1;
		}
		scalar(x, one, sizeof(one));
		if (is_object) {
			sbuf_printf(b, "%s%s=%s", i > 0 ? "," : "", json_object_iter_key(it), one);
			it = json_object_iter_next(v, it);
		} else {
			sbuf_printf(b, "%s%s", i > 0 ? "," : "", one);
		}
	}
}

void
fmt_value(json_t *v, char *buf, size_t n)
{
	struct sbuf b;

	if (v == NULL || fmt_is_scalar(v)) {
		scalar(v, buf, n);
		return;
	}
	sbuf_init(&b);
	if (scalars_join(v, &b) != 0) {
		char *s = json_dumps(v, JSON_COMPACT);

		if (s != NULL)
			sbuf_puts(&b, s);
		free(s);
	}
	snprintf(buf, n, "%s", b.p != NULL ? b.p : "");
	sbuf_free(&b);
}

void
fmt_cell(json_t *item, const char *key, fmt_cell_fn format, char *buf, size_t n)
{
	if (format != NULL)
		format(item, key, buf, n);
	else
		fmt_value(fmt_path(item, key), buf, n);
}

void
fmt_defref(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *name = json_object_get(item, "definition");
	json_t *ver = json_object_get(item, "definition_version");

	(void)key;
	if (json_is_string(name) && json_is_integer(ver))
		snprintf(buf, n, "%s@%lld", json_string_value(name),
		    (long long)json_integer_value(ver));
	else
		fmt_value(name, buf, n);
}

void
fmt_usage(json_t *item, const char *key, char *buf, size_t n)
{
	char used[NUMBER_BUF], cap[NUMBER_BUF];

	fmt_value(fmt_path(json_object_get(item, "allocated"), key), used, sizeof(used));
	fmt_value(fmt_path(json_object_get(item, "capacity"), key), cap, sizeof(cap));
	snprintf(buf, n, "%s/%s", used, cap);
}

void
fmt_yes_no(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *v = fmt_path(item, key);

	if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "yes" : "no");
	else
		fmt_value(v, buf, n);
}

void
fmt_capacity(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *cap = fmt_path(item, key);
	char cpu[NUMBER_BUF], mem[NUMBER_BUF], slots[NUMBER_BUF];

	if (!json_is_object(cap)) {
		fmt_value(cap, buf, n);
		return;
	}
	fmt_value(json_object_get(cap, "cpu"), cpu, sizeof(cpu));
	fmt_value(json_object_get(cap, "memory_mb"), mem, sizeof(mem));
	fmt_value(json_object_get(cap, "slots"), slots, sizeof(slots));
	snprintf(buf, n, "cpu=%s mem=%s slots=%s", cpu, mem, slots);
}

/* Bytes as whole MB (MiB, as memory_mb counts them), rounded. */
static long long
mb_of(json_t *v)
{
	return (long long)((json_integer_value(v) + 512 * 1024) / (1024 * 1024));
}

void
fmt_inst_cpu(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *u = json_object_get(item, "usage");

	(void)key;
	if (!json_is_object(u)) {
		snprintf(buf, n, "-");
		return;
	}
	snprintf(buf, n, "%.2f cores",
	    (double)json_integer_value(json_object_get(u, "cpu_millicores")) / 1000.0);
}

void
fmt_inst_memory(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *u = json_object_get(item, "usage");

	(void)key;
	if (!json_is_object(u)) {
		snprintf(buf, n, "-");
		return;
	}
	snprintf(buf, n, "%lld MB / %lld MB (peak %lld MB)",
	    mb_of(json_object_get(u, "memory_bytes")),
	    (long long)json_integer_value(fmt_path(item, "resources.memory_mb")),
	    mb_of(json_object_get(u, "memory_peak_bytes")));
}

void
fmt_inst_usage(json_t *item, const char *key, char *buf, size_t n)
{
	json_t *u = json_object_get(item, "usage");
	char cpu[32];

	if (!json_is_object(u)) {
		snprintf(buf, n, "-");
		return;
	}
	fmt_inst_cpu(item, key, cpu, sizeof(cpu));
	snprintf(buf, n, "%s %lld/%lld MB", cpu, mb_of(json_object_get(u, "memory_bytes")),
	    (long long)json_integer_value(fmt_path(item, "resources.memory_mb")));
}

json_t *
fmt_inst_fields(json_t *inst)
{
	json_t *out = json_object(), *v;
	const char *k;
	char buf[128];

	if (out == NULL)
		return NULL;
	json_object_foreach(inst, k, v) {
		if (strcmp(k, "usage") != 0 || !json_is_object(v)) {
			json_object_set(out, k, v);
			continue;
		}
		fmt_inst_cpu(inst, k, buf, sizeof(buf));
		json_object_set_new(out, "usage.cpu", json_string(buf));
		fmt_inst_memory(inst, k, buf, sizeof(buf));
		json_object_set_new(out, "usage.memory", json_string(buf));
		json_object_set(out, "usage.sampled_at", json_object_get(v, "sampled_at"));
	}
	return out;
}

int
fmt_cell_color(enum cell_color c, const char *text, int *is_bold)
{
	/* The state table of each colouring; KIND_COUNT: none. */
	static const enum state_kind kind_of[] = {
		[CELL_PLAIN] = KIND_COUNT,
		[CELL_INST_STATE] = KIND_INSTANCE,
		[CELL_WORKER_STATE] = KIND_WORKER,
		[CELL_HEALTH] = KIND_HEALTH,
		[CELL_RUN] = KIND_RUN,
		[CELL_BAR] = KIND_COUNT,
	};
	const struct state_info *table;
	int count, i;

	if (text == NULL || (size_t)c >= sizeof(kind_of) / sizeof(kind_of[0]) ||
	    kind_of[c] == KIND_COUNT || (i = state_index(kind_of[c], text)) < 0)
		return -1;
	table = state_table(kind_of[c], &count);
	if (table == NULL || i >= count)
		return -1;
	*is_bold = table[i].is_bold;
	return (int)table[i].ansi;
}
