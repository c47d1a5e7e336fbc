/* The logger's lines: typed values, what stays a string, the journal's <N> prefix. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"
#include "util.h"

static char path[64];
static int saved_stderr = -1;

/* stderr into a fresh temporary file, until lines() reads it back. */
static void
capture(void)
{
	int fd;

	snprintf(path, sizeof(path), "%s", "/tmp/test_log.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (saved_stderr < 0)
		saved_stderr = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* What was written, stderr put back. The caller frees it. */
static char *
lines(void)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	dup2(saved_stderr, STDERR_FILENO);
	return buf;
}

static void
test_typed_values(void **state)
{
	char *out;
	json_t *o;
	json_error_t je;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	capture();
	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_info("t.typed", LOG_INT("status", 201), LOG_REAL("ms", 5.863), LOG_BOOL("dry_run", 1),
	    LOG_BOOL("silent", 0), LOG_INT("big", -9007199254740993LL), LOG_REAL("nan", NAN),
	    "worker", "42", "empty", NULL, LOG_KEY_NUM "forged", "12abc", NULL);
	out = lines();
	o = json_loads(out, 0, &je);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "msg")), "t.typed");
	assert_true(json_is_integer(json_object_get(o, "status")));
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 201);
	assert_true(json_is_real(json_object_get(o, "ms")));
	assert_true(fabs(json_real_value(json_object_get(o, "ms")) - 5.863) < 1e-9);
	assert_true(json_is_true(json_object_get(o, "dry_run")));
	assert_true(json_is_false(json_object_get(o, "silent")));
	assert_int_equal(json_integer_value(json_object_get(o, "big")), -9007199254740993LL);
	assert_true(json_is_null(json_object_get(o, "nan")));
	/* A name that looks like a number is the string it was given. */
	assert_string_equal(json_string_value(json_object_get(o, "worker")), "42");
	assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
	/* A marked key whose value is no number goes as a string: never broken JSON. */
	assert_string_equal(json_string_value(json_object_get(o, "forged")), "12abc");
	assert_null(strchr(out, '\001'));
	json_decref(o);
	free(out);
}

static void
test_text_format_has_no_marks(void **state)
{
	char *out;

	(void)state;
	capture();
	log_setup(LOG_FORMAT_TEXT, LOG_DEBUG);
	log_info("t.text", LOG_INT("count", 3), LOG_BOOL("ok", 1), NULL);
	out = lines();
	assert_non_null(strstr(out, " t.text count=3 ok=true\n"));
	assert_null(strchr(out, '\001'));
	assert_null(strchr(out, '\002'));
	free(out);
}

/* JOURNAL_STREAM naming stderr: each line starts with its syslog priority. */
static void
test_journal_prefix(void **state)
{
	struct stat st;
	char js[64], *out;

	(void)state;
	capture();
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_debug("t.d", NULL);
	log_info("t.i", NULL);
	log_warn("t.w", NULL);
	log_error("t.e", NULL);
	out = lines();
	assert_non_null(strstr(out, "<7>{"));
	assert_non_null(strstr(out, "\n<6>{"));
	assert_non_null(strstr(out, "\n<4>{"));
	assert_non_null(strstr(out, "\n<3>{"));
	assert_int_equal(strncmp(out, "<7>{", 4), 0);
	free(out);

	/* Another stream's (a parent's stderr, since redirected): no prefix. */
	capture();
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_warn("t.w", NULL);
	out = lines();
	assert_int_equal(out[0], '{');
	free(out);
	setenv("JOURNAL_STREAM", "garbage", 1);
	capture();
	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_warn("t.w", NULL);
	out = lines();
	assert_int_equal(out[0], '{');
	free(out);
	unsetenv("JOURNAL_STREAM");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed_values),
		cmocka_unit_test(test_text_format_has_no_marks),
		cmocka_unit_test(test_journal_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
