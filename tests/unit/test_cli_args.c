/*
 * The CLI's option parser, the checks on flag values and on JSON files,
 * and where settings come from (flag > environment > config file > default).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static const struct opt_spec globals[] = {
	{ "server", 0, "URL", "", 0 },
	{ "token", 0, "TOKEN", "", 0 },
	{ "token-file", 0, "FILE", "", 0 },
	{ "config", 0, "FILE", "", 0 },
	{ "output", 'o', "FORMAT", "", 0 },
	{ "help", 'h', NULL, "", 0 },
	{ "version", 0, NULL, "", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec cmd[] = {
	{ "file", 'f', "FILE", "", 0 },
	{ "all", 0, NULL, "", 0 },
	{ "version", 0, "V", "", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static int
parse(struct args *a, enum args_mode mode, char *err, size_t errlen, ...)
{
	const struct opt_spec *tables[] = { cmd, globals, NULL };
	char *argv[32];
	int argc = 0, used;
	va_list ap;

	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	args_init(a);
	if (args_parse(a, tables, argc, argv, mode, &used, err, errlen) != 0)
		return -1;
	return used;
}

static void
test_long_short_and_attached_values(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--server", "http://x",
	    "-o", "json", "--file=a.json", "-fb.json", "--all", "pos1", "-ojson", "-", NULL), 10);
	assert_string_equal(args_get(&a, "server"), "http://x");
	assert_string_equal(args_get(&a, "output"), "json");
	/* The last one wins. */
	assert_string_equal(args_get(&a, "file"), "b.json");
	assert_string_equal(args_get(&a, "all"), "");
	assert_true(args_has(&a, "all"));
	assert_false(args_has(&a, "token"));
	assert_null(args_get(&a, "token"));
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "pos1");
	assert_string_equal(a.pos[1], "-");
}

static void
test_values_may_start_with_a_dash(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "-f", "-", "--token", "-x",
	    NULL), 4);
	assert_string_equal(args_get(&a, "file"), "-");
	assert_string_equal(args_get(&a, "token"), "-x");
	assert_int_equal(a.npos, 0);
}

static void
test_double_dash_ends_options(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--all", "--", "--file",
	    "-o", NULL), 4);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "--file");
	assert_false(args_has(&a, "file"));
}

static void
test_stop_at_the_first_positional(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, ARGS_STOP_AT_POSITIONAL, err, sizeof(err), "-o", "json",
	    "instance", "list", "--all", NULL), 2);
	assert_int_equal(a.npos, 0);
	assert_false(args_has(&a, "all"));
}

static void
test_command_options_shadow_global_ones(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	/* cmd comes first in the tables: its --version takes a value. */
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--version", "3", NULL), 2);
	assert_string_equal(args_get(&a, "version"), "3");
}

static void
test_errors_name_the_option(void **state)
{
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--bogus", NULL), -1);
	assert_string_equal(err, "unknown option --bogus");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--bogus=1", NULL), -1);
	assert_string_equal(err, "unknown option --bogus");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "-z", NULL), -1);
	assert_string_equal(err, "unknown option -z");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--file", NULL), -1);
	assert_string_equal(err, "--file needs a value (FILE)");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "-o", NULL), -1);
	assert_string_equal(err, "--output needs a value (FORMAT)");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--all=yes", NULL), -1);
	assert_string_equal(err, "--all takes no value");
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "-hx", NULL), -1);
	assert_string_equal(err, "-h takes no value");
	/* A prefix is not a match. */
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "--serv", "x", NULL), -1);
}

static void
test_too_many_arguments(void **state)
{
	const struct opt_spec *tables[] = { cmd, NULL };
	char *argv[ARGS_MAX + 1];
	struct args a;
	char err[256];

	(void)state;
	for (int i = 0; i <= ARGS_MAX; i++)
		argv[i] = "x";
	args_init(&a);
	assert_int_equal(args_parse(&a, tables, ARGS_MAX + 1, argv, ARGS_PERMUTE, NULL, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "too many arguments");
}

static void
test_arg_int(void **state)
{
	char err[256];
	int64_t v;

	(void)state;
	assert_int_equal(arg_int("--count", "1000", 1, 1000, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(arg_int("--count", "1001", 1, 1000, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "--count must be an integer 1..1000, not '1001'");
	assert_int_equal(arg_int("--count", "0x10", 1, 1000, &v, err, sizeof(err)), -1);
	assert_int_equal(arg_int("--count", " 5", 1, 1000, &v, err, sizeof(err)), -1);
	assert_int_equal(arg_int("--count", "", 1, 1000, &v, err, sizeof(err)), -1);
	assert_int_equal(arg_int("ID", "-3", 1, INT64_MAX, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "ID must be a positive integer, not '-3'");
	assert_int_equal(arg_int("--since", "-1", 0, INT64_MAX, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "--since must be an integer of at least 0, not '-1'");
	assert_int_equal(arg_int("ID", "99999999999999999999", 1, INT64_MAX, &v, err,
	    sizeof(err)), -1);
}

static void
test_arg_time_and_duration(void **state)
{
	char err[256];
	int64_t ms;

	(void)state;
	assert_int_equal(arg_time("--start", "now", 1234, &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 1234);
	assert_int_equal(arg_time("--start", "2026-11-23T10:00:00Z", 0, &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 1795428000000LL);
	assert_int_equal(arg_time("--start", "2026-11-23T11:00:00+01:00", 0, &ms, err,
	    sizeof(err)), 0);
	assert_int_equal(ms, 1795428000000LL);
	assert_int_equal(arg_time("--end", "tomorrow", 0, &ms, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--end must be an RFC 3339 time"));
	assert_non_null(strstr(err, "'tomorrow'"));
	assert_int_equal(arg_duration("--duration", "1h30m", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(arg_duration("--duration", "0s", &ms, err, sizeof(err)), -1);
	assert_int_equal(arg_duration("--duration", "5", &ms, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--duration must be a duration"));
}

static void
test_arg_deadline(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(arg_deadline("--deadline", "30m", ARG_DEADLINE_MAX_MS, err,
	    sizeof(err)), 0);
	assert_int_equal(arg_deadline("--deadline", "30d", ARG_DEADLINE_MAX_MS, err,
	    sizeof(err)), 0);
	assert_int_equal(arg_deadline("--deadline", "2026-11-23T11:00:00+01:00",
	    ARG_DEADLINE_MAX_MS, err, sizeof(err)), 0);
	assert_int_equal(arg_deadline("--deadline", "31d", ARG_DEADLINE_MAX_MS, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "--deadline must be an RFC 3339 time such as "
	    "2026-11-23T10:00:00Z or a duration from now up to 30d such as 30m, not '31d'");
	assert_int_equal(arg_deadline("--deadline", "tomorrow", ARG_DEADLINE_MAX_MS, err,
	    sizeof(err)), -1);
	assert_int_equal(arg_deadline("--deadline", "now", ARG_DEADLINE_MAX_MS, err,
	    sizeof(err)), -1);
	assert_int_equal(arg_deadline("--deadline", "", ARG_DEADLINE_MAX_MS, err, sizeof(err)),
	    -1);
	assert_int_equal(arg_deadline("--deadline", "2h", 3600000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "up to 1h such as"));
}

static void
test_negative_numbers_are_positionals(void **state)
{
	static const struct opt_spec digit[] = {
		{ "one", '1', NULL, "", 0 },
		{ NULL, 0, NULL, NULL, 0 }
	};
	const struct opt_spec *tables[] = { digit, globals, NULL };
	char *argv[] = { "lab", "-1", "-3", "-o", "json", "-10" };
	struct args a;
	char err[256];

	(void)state;
	/* So that the command names the argument: "count must be ..., not '-3'". */
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "lab", "-3", "-o", "json",
	    "-0", NULL), 5);
	assert_int_equal(a.npos, 3);
	assert_string_equal(a.pos[1], "-3");
	assert_string_equal(a.pos[2], "-0");
	assert_string_equal(args_get(&a, "output"), "json");
	/* A short option that is a digit stays an option. */
	args_init(&a);
	assert_int_equal(args_parse(&a, tables, 6, argv, ARGS_PERMUTE, NULL, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "-1 takes no value");
	args_init(&a);
	assert_int_equal(args_parse(&a, tables, 5, argv, ARGS_PERMUTE, NULL, err, sizeof(err)),
	    0);
	assert_true(args_has(&a, "one"));
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[1], "-3");
	/* Before the command, a number is where the options end. */
	assert_int_equal(parse(&a, ARGS_STOP_AT_POSITIONAL, err, sizeof(err), "-o", "json", "-1",
	    NULL), 2);
	/* Letters are options still. */
	assert_int_equal(parse(&a, ARGS_PERMUTE, err, sizeof(err), "-x3", NULL), -1);
	assert_string_equal(err, "unknown option -x");
}

/* ---- JSON files: the object checks before a create or an apply ---- */

static void
test_files_must_hold_one_object(void **state)
{
	static const char bad[] = "{\"name\": \"x\",\n \"hooks\": }";
	char err[256];
	json_t *o;

	(void)state;
	assert_int_equal(cli_parse_object("t.json", "{\"name\":\"lab\"}", 14, "a template", &o,
	    err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "lab");
	json_decref(o);
	assert_int_equal(cli_parse_object("t.json", bad, sizeof(bad) - 1, "a template", &o, err,
	    sizeof(err)), -1);
	assert_null(o);
	assert_non_null(strstr(err, "t.json:2:"));
	assert_non_null(strstr(err, ": not valid JSON: "));
	assert_int_equal(cli_parse_object("stdin", "[1]", 3, "a template", &o, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "stdin: a template is a JSON object");
	assert_int_equal(cli_parse_object("stdin", NULL, 0, "a definition", &o, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "stdin:"));
	/* One object: what follows it is a mistake too. */
	assert_int_equal(cli_parse_object("t.json", "{} {}", 5, "a template", &o, err,
	    sizeof(err)), -1);
}

static void
test_a_template_names_itself(void **state)
{
	json_t *ok = json_pack("{s:s, s:i}", "name", "lab", "min", 1);
	json_t *none = json_pack("{s:i}", "min", 1);
	json_t *empty = json_pack("{s:s}", "name", "");
	json_t *num = json_pack("{s:i}", "name", 3);
	json_t *nul = json_pack("{s:n}", "name");
	const char *name = NULL;
	char err[256];

	(void)state;
	assert_int_equal(template_name_of(ok, "lab.json", &name, err, sizeof(err)), 0);
	assert_string_equal(name, "lab");
	assert_int_equal(template_name_of(none, "lab.json", &name, err, sizeof(err)), -1);
	assert_string_equal(err, "lab.json: field 'name' is missing; a template is applied "
	    "under its name");
	assert_int_equal(template_name_of(empty, "stdin", &name, err, sizeof(err)), -1);
	assert_string_equal(err, "stdin: field 'name' must be a non-empty string");
	assert_int_equal(template_name_of(num, "stdin", &name, err, sizeof(err)), -1);
	assert_string_equal(err, "stdin: field 'name' must be a non-empty string");
	assert_int_equal(template_name_of(nul, "stdin", &name, err, sizeof(err)), -1);
	json_decref(ok);
	json_decref(none);
	json_decref(empty);
	json_decref(num);
	json_decref(nul);
}

static void
test_arg_list_and_split(void **state)
{
	char err[256];
	char **v;

	(void)state;
	assert_int_equal(arg_list("--health", "lost,online,lost", CHOICES_HEALTH, err,
	    sizeof(err)), 3);
	assert_int_equal(arg_list("--health", "lost,asleep", CHOICES_HEALTH, err, sizeof(err)), -1);
	assert_string_equal(err, "--health: unknown value 'asleep' (valid: online, offline, lost)");
	assert_int_equal(arg_list("--hook", "grade,walk", CHOICES_HOOK, err, sizeof(err)), -1);
	assert_string_equal(err, "--hook: unknown value 'walk' (valid: instantiate, run, collect, "
	    "grade or stop)");
	assert_int_equal(arg_list("--type", "x,,y", CHOICES_ANY, err, sizeof(err)), -1);
	assert_string_equal(err, "--type has an empty item in 'x,,y'");
	assert_int_equal(arg_list("--type", "", CHOICES_ANY, err, sizeof(err)), -1);
	v = arg_split("instance.*,worker.state");
	assert_string_equal(v[0], "instance.*");
	assert_string_equal(v[1], "worker.state");
	assert_null(v[2]);
	free(v);
	v = arg_split("one");
	assert_string_equal(v[0], "one");
	assert_null(v[1]);
	free(v);
}

/* ---- settings ---- */

static char tmpdir[64];

static void
write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
settings_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/outpost-test-cli-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	unsetenv("OUTPOST_SERVER");
	unsetenv("OUTPOST_TOKEN");
	unsetenv("OUTPOST_TOKEN_FILE");
	unsetenv("OUTPOST_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", tmpdir, 1);
	return 0;
}

static int
settings_teardown(void **state)
{
	char cmdline[128];

	(void)state;
	snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmpdir);
	return system(cmdline) == 0 ? 0 : -1;
}

static int
resolve(struct settings *s, char *err, size_t errlen, ...)
{
	const struct opt_spec *tables[] = { globals, NULL };
	char *argv[16];
	int argc = 0;
	struct args a;
	va_list ap;

	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	args_init(&a);
	assert_int_equal(args_parse(&a, tables, argc, argv, ARGS_PERMUTE, NULL, err, errlen), 0);
	return settings_resolve(s, &a, err, errlen);
}

static void
test_defaults_without_any_source(void **state)
{
	struct settings s;
	char err[2048];

	(void)state;
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), 0);
	assert_string_equal(s.server, "http://127.0.0.1:8080");
	assert_string_equal(s.token, "");
	assert_non_null(strstr(s.config_path, "/.config/outpost/outpost.conf"));
}

static void
test_flag_beats_env_beats_file(void **state)
{
	char conf[128], dir[128];
	struct settings s;
	char err[2048];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/outpost", tmpdir);
	mkdir(dir, 0700);
	write_file("outpost/outpost.conf", "# the CLI\nserver = http://file:1\ntoken = filetok\n");
	setenv("XDG_CONFIG_HOME", tmpdir, 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), 0);
	assert_string_equal(s.server, "http://file:1");
	assert_string_equal(s.token, "filetok");
	snprintf(conf, sizeof(conf), "%s/outpost/outpost.conf", tmpdir);
	assert_string_equal(s.config_path, conf);

	setenv("OUTPOST_SERVER", "http://env:2", 1);
	setenv("OUTPOST_TOKEN", "envtok", 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), 0);
	assert_string_equal(s.server, "http://env:2");
	assert_string_equal(s.token, "envtok");
	assert_string_equal(s.token_from, "OUTPOST_TOKEN");

	assert_int_equal(resolve(&s, err, sizeof(err), "--server", "https://flag:3",
	    "--token", "flagtok", NULL), 0);
	assert_string_equal(s.server, "https://flag:3");
	assert_string_equal(s.token, "flagtok");
	unsetenv("OUTPOST_SERVER");
	unsetenv("OUTPOST_TOKEN");
	unsetenv("XDG_CONFIG_HOME");
}

static void
test_token_files_are_trimmed_and_a_token_beats_a_file(void **state)
{
	char path[128];
	struct settings s;
	char err[2048];

	(void)state;
	write_file("tok", "  opt_secret \n second line\n");
	snprintf(path, sizeof(path), "%s/tok", tmpdir);
	assert_int_equal(resolve(&s, err, sizeof(err), "--token-file", path, NULL), 0);
	assert_string_equal(s.token, "opt_secret");
	setenv("OUTPOST_TOKEN_FILE", path, 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), 0);
	assert_string_equal(s.token, "opt_secret");
	/* At one level a token wins over a token file. */
	setenv("OUTPOST_TOKEN", "envtok", 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), 0);
	assert_string_equal(s.token, "envtok");
	/* A flag's file beats the environment's token. */
	assert_int_equal(resolve(&s, err, sizeof(err), "--token-file", path, NULL), 0);
	assert_string_equal(s.token, "opt_secret");
	unsetenv("OUTPOST_TOKEN");
	unsetenv("OUTPOST_TOKEN_FILE");
}

static void
test_setting_errors_say_where(void **state)
{
	char path[128];
	struct settings s;
	char err[2048];

	(void)state;
	assert_int_equal(resolve(&s, err, sizeof(err), "--token", "a", "--token-file", "b",
	    NULL), -1);
	assert_string_equal(err, "--token and --token-file cannot be used together");
	assert_int_equal(resolve(&s, err, sizeof(err), "--token-file", "/nonexistent/t", NULL),
	    -1);
	assert_non_null(strstr(err, "--token-file: /nonexistent/t: cannot open"));
	write_file("empty", "\n");
	snprintf(path, sizeof(path), "%s/empty", tmpdir);
	assert_int_equal(resolve(&s, err, sizeof(err), "--token-file", path, NULL), -1);
	assert_non_null(strstr(err, "no token on its first line"));
	assert_int_equal(resolve(&s, err, sizeof(err), "--server", "127.0.0.1:8080", NULL), -1);
	assert_non_null(strstr(err, "--server: the server URL must start with http://"));
	assert_int_equal(resolve(&s, err, sizeof(err), "--server", "http://h:99999", NULL), -1);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(resolve(&s, err, sizeof(err), "--token", "two words", NULL), -1);
	assert_non_null(strstr(err, "--token: the token holds a space"));
	/* An explicit config file must exist; its mistakes name the line. */
	assert_int_equal(resolve(&s, err, sizeof(err), "--config", "/nonexistent/c", NULL), -1);
	assert_non_null(strstr(err, "/nonexistent/c: cannot open"));
	write_file("bad.conf", "server = http://x\ncolour = blue\n");
	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	setenv("OUTPOST_CONFIG", path, 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "bad.conf:2: unknown setting 'colour'"));
	unsetenv("OUTPOST_CONFIG");
	setenv("OUTPOST_SERVER", "ftp://x", 1);
	assert_int_equal(resolve(&s, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "OUTPOST_SERVER: "));
	unsetenv("OUTPOST_SERVER");
}

static void
test_config_token_file(void **state)
{
	char text[256], path[128];
	struct settings s;
	char err[2048];

	(void)state;
	write_file("tok2", "opt_from_conf\n");
	snprintf(path, sizeof(path), "%s/tok2", tmpdir);
	snprintf(text, sizeof(text), "token_file = %s\n", path);
	write_file("c.conf", text);
	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	assert_int_equal(resolve(&s, err, sizeof(err), "--config", path, NULL), 0);
	assert_string_equal(s.token, "opt_from_conf");
	assert_non_null(strstr(s.token_from, "c.conf: token_file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_short_and_attached_values),
		cmocka_unit_test(test_values_may_start_with_a_dash),
		cmocka_unit_test(test_double_dash_ends_options),
		cmocka_unit_test(test_stop_at_the_first_positional),
		cmocka_unit_test(test_command_options_shadow_global_ones),
		cmocka_unit_test(test_errors_name_the_option),
		cmocka_unit_test(test_too_many_arguments),
		cmocka_unit_test(test_arg_int),
		cmocka_unit_test(test_arg_time_and_duration),
		cmocka_unit_test(test_arg_deadline),
		cmocka_unit_test(test_negative_numbers_are_positionals),
		cmocka_unit_test(test_files_must_hold_one_object),
		cmocka_unit_test(test_a_template_names_itself),
		cmocka_unit_test(test_arg_list_and_split),
		cmocka_unit_test_setup_teardown(test_defaults_without_any_source, settings_setup,
		    settings_teardown),
		cmocka_unit_test_setup_teardown(test_flag_beats_env_beats_file, settings_setup,
		    settings_teardown),
		cmocka_unit_test_setup_teardown(
		    test_token_files_are_trimmed_and_a_token_beats_a_file, settings_setup,
		    settings_teardown),
		cmocka_unit_test_setup_teardown(test_setting_errors_say_where, settings_setup,
		    settings_teardown),
		cmocka_unit_test_setup_teardown(test_config_token_file, settings_setup,
		    settings_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
