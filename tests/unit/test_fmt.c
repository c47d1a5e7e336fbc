/*
 * JSON as cells for people (fmt.c), as outpost and outpost-top both write
 * them: values, dotted paths, the special cells (defref, usage, capacity,
 * yes/no), and the colour of a state's cell from state.h's tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fmt.h"

static json_t *
j(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	return v;
}

static void
value_is(const char *json, const char *want)
{
	json_t *v = j(json);
	char buf[256];

	fmt_value(v, buf, sizeof(buf));
	assert_string_equal(buf, want);
	json_decref(v);
}

static void
test_values_as_cells(void **state)
{
	json_t *s = json_string("0123456789abcdefghij");
	char buf[16];

	(void)state;
	value_is("\"text\"", "text");
	value_is("42", "42");
	value_is("1.5", "1.5");
	value_is("true", "true");
	value_is("false", "false");
	value_is("null", "-");
	value_is("{\"cpu\":2,\"memory_mb\":2048}", "cpu=2,memory_mb=2048");
	value_is("[1,2,3]", "1,2,3");
	value_is("{}", "");
	value_is("[]", "");
	value_is("{\"run\":[\"sh\",\"-c\"]}", "{\"run\":[\"sh\",\"-c\"]}");
	value_is("[1,[2]]", "[1,[2]]");
	value_is("{\"a\":1,\"b\":{}}", "{\"a\":1,\"b\":{}}");
	fmt_value(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	/* Bounded by the buffer. */
	fmt_value(s, buf, 8);
	assert_string_equal(buf, "0123456");
	json_decref(s);
}

static void
test_paths(void **state)
{
	json_t *o = j("{\"a\":{\"b\":{\"c\":7}},\"x\":1}");

	(void)state;
	assert_int_equal(json_integer_value(fmt_path(o, "a.b.c")), 7);
	assert_int_equal(json_integer_value(fmt_path(o, "x")), 1);
	assert_null(fmt_path(o, "a.z"));
	assert_null(fmt_path(o, "x.y"));
	assert_null(fmt_path(NULL, "x"));
	json_decref(o);
}

static void
test_special_cells(void **state)
{
	json_t *inst = j("{\"definition\":\"lab\",\"definition_version\":3}");
	json_t *old = j("{\"definition\":\"lab\"}");
	json_t *w = j("{\"capacity\":{\"cpu\":8},\"allocated\":{\"cpu\":2}}");
	char buf[64];

	(void)state;
	fmt_defref(inst, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "lab@3");
	/* Without a version, the name as any other cell; without a name, "-". */
	fmt_defref(old, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "lab");
	fmt_defref(w, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	fmt_usage(w, "cpu", buf, sizeof(buf));
	assert_string_equal(buf, "2/8");
	fmt_usage(w, "slots", buf, sizeof(buf));
	assert_string_equal(buf, "-/-");
	json_decref(inst);
	json_decref(old);
	json_decref(w);
}

static void
test_template_cells(void **state)
{
	static const struct {
		fmt_cell_fn fn;
		const char *key;
		const char *want;
	} cases[] = {
		{ fmt_capacity, "capacity", "cpu=4 mem=4096 slots=4" },
		{ fmt_capacity, "part", "cpu=2 mem=- slots=-" },
		{ fmt_capacity, "missing", "-" },
		{ fmt_yes_no, "autoscale", "yes" },
		{ fmt_yes_no, "off", "no" },
		{ fmt_yes_no, "odd", "x" },
		{ fmt_yes_no, "missing", "-" },
	};
	json_t *t = j("{\"capacity\":{\"cpu\":4,\"memory_mb\":4096,\"slots\":4},"
	    "\"autoscale\":true,\"off\":false,\"odd\":\"x\",\"part\":{\"cpu\":2}}");
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cases[i].fn(t, cases[i].key, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	json_decref(t);
}

/* An instance's usage in words: cores used, memory against the limit, "-" unsampled. */
static void
test_instance_usage(void **state)
{
	json_t *i = j("{\"id\":7,\"resources\":{\"cpu\":1,\"memory_mb\":2048},\"usage\":"
	    "{\"cpu_millicores\":980,\"cpu_usec\":5,\"memory_bytes\":104857600,"
	    "\"memory_peak_bytes\":125829120,\"sampled_at\":\"2026-12-06T10:00:00Z\"},"
	    "\"pool\":false}");
	json_t *none = j("{\"id\":8,\"resources\":{\"cpu\":1,\"memory_mb\":512},\"usage\":null}");
	json_t *f;
	char buf[64];
	const char *k;
	json_t *v;
	size_t n = 0;
	static const char *const keys[] = { "id", "resources", "usage.cpu", "usage.memory",
		"usage.sampled_at", "pool" };

	(void)state;
	fmt_inst_cpu(i, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "0.98 cores");
	fmt_inst_memory(i, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "100 MB / 2048 MB (peak 120 MB)");
	fmt_inst_usage(i, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "0.98 cores 100/2048 MB");
	fmt_inst_cpu(none, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	fmt_inst_memory(none, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	fmt_inst_usage(none, "usage", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	/* The fields view: usage's rows in its place, in words. */
	f = fmt_inst_fields(i);
	assert_non_null(f);
	json_object_foreach(f, k, v) {
		assert_true(n < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(k, keys[n]);
		n++;
	}
	assert_int_equal(n, sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(json_string_value(json_object_get(f, "usage.memory")),
	    "100 MB / 2048 MB (peak 120 MB)");
	json_decref(f);
	f = fmt_inst_fields(none);
	assert_true(json_is_null(json_object_get(f, "usage")));
	json_decref(f);
	json_decref(i);
	json_decref(none);
}

/* A cell is its formatter's text, or with none the value at its dotted key. */
static void
test_cells_by_key_or_formatter(void **state)
{
	json_t *o = j("{\"resources\":{\"cpu\":2},\"confirm\":true}");
	char buf[64];

	(void)state;
	fmt_cell(o, "resources.cpu", NULL, buf, sizeof(buf));
	assert_string_equal(buf, "2");
	fmt_cell(o, "resources.memory_mb", NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	fmt_cell(o, "confirm", NULL, buf, sizeof(buf));
	assert_string_equal(buf, "true");
	fmt_cell(o, "confirm", fmt_yes_no, buf, sizeof(buf));
	assert_string_equal(buf, "yes");
	json_decref(o);
}

static void
test_state_colors_come_from_state_h(void **state)
{
	int bold = -1;

	(void)state;
	assert_int_equal(fmt_cell_color(CELL_INST_STATE, "running", &bold),
	    inst_state_info(INST_RUNNING)->ansi);
	assert_int_equal(bold, inst_state_info(INST_RUNNING)->is_bold);
	assert_int_equal(fmt_cell_color(CELL_WORKER_STATE, "stopped", &bold),
	    worker_state_info(WORKER_STOPPED)->ansi);
	assert_int_equal(fmt_cell_color(CELL_HEALTH, "lost", &bold),
	    worker_health_info(HEALTH_LOST)->ansi);
	assert_int_equal(fmt_cell_color(CELL_RUN, "failed", &bold),
	    run_status_info(RUN_FAILED)->ansi);
	/* A name of another table is no state of this one. */
	assert_int_equal(fmt_cell_color(CELL_WORKER_STATE, "running", &bold), -1);
	assert_int_equal(fmt_cell_color(CELL_INST_STATE, "sleeping", &bold), -1);
	assert_int_equal(fmt_cell_color(CELL_PLAIN, "running", &bold), -1);
	assert_int_equal(fmt_cell_color(CELL_BAR, "2/8", &bold), -1);
	assert_int_equal(fmt_cell_color(CELL_INST_STATE, NULL, &bold), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_as_cells),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_special_cells),
		cmocka_unit_test(test_template_cells),
		cmocka_unit_test(test_instance_usage),
		cmocka_unit_test(test_cells_by_key_or_formatter),
		cmocka_unit_test(test_state_colors_come_from_state_h),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
