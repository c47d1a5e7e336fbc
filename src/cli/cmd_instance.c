/*
 * outpost instance create|list|get|stop|terminate|retry|extend. Flags are
 * checked here before anything is sent (times, counts, states), so a typo
 * is a usage error naming the flag; what only the server can judge (is
 * there such a definition, may this instance stop now) comes back from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column instance_columns[] = {
	{ "ID", "id", COLOR_NONE, TABLE_RIGHT, 0, NULL },
	{ "DEFINITION", "definition", COLOR_NONE, TABLE_LEFT, 0, view_fmt_defref },
	{ "OWNER", "owner", COLOR_NONE, TABLE_LEFT, 24, NULL },
	{ "STATE", "state", COLOR_INST_STATE, TABLE_LEFT, 0, NULL },
	{ "WORKER", "worker", COLOR_NONE, TABLE_LEFT, 0, NULL },
	{ "START", "timeslot_start", COLOR_NONE, TABLE_LEFT, 0, NULL },
	{ "END", "timeslot_end", COLOR_NONE, TABLE_LEFT, 0, NULL },
	{ "REASON", "state_reason", COLOR_NONE, TABLE_LEFT, 48, NULL },
	{ NULL, NULL, COLOR_NONE, TABLE_LEFT, 0, NULL }
};

static void
format_time(int64_t ms, char *buf, size_t n)
{
	time_format_ms(ms, buf, n, ms % 1000 != 0);
}

/* Prints an answer that is one instance or {items: [...]}, as rows. */
static int
print_instances(struct cli *c, json_t *answer)
{
	json_t *items = json_object_get(answer, "items");

	if (c->out == OUT_JSON)
		return cli_print_json(c, answer);
	if (json_is_array(items))
		return view_table(c, items, instance_columns);
	if (json_object_get(answer, "id") != NULL) {
		json_t *one = json_pack("[O]", answer);
		int rc = view_table(c, one, instance_columns);

		json_decref(one);
		return rc;
	}
	return 0;
}

static int
instance_create(struct cli *c, const struct args *a)
{
	static const char *const required[] = { "definition", "owner", "start" };
	const char *end = args_get(a, "end"), *dur = args_get(a, "duration");
	char err[512], start_s[40], end_s[40];
	/* "now" in whole seconds: a slot that starts at .441 helps nobody. */
	int64_t now = now_ms() / 1000 * 1000, start, stop, len, count = 0;
	struct httpc_resp r;
	json_t *body;
	int rc;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (args_get(a, required[i]) == NULL || args_get(a, required[i])[0] == '\0')
			return cli_fail(CLI_USAGE, "instance create needs --%s", required[i]);
	if ((end == NULL) == (dur == NULL))
		return cli_fail(CLI_USAGE, "instance create needs either --end or --duration");
	if (arg_time("--start", args_get(a, "start"), now, &start, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (end != NULL) {
		if (arg_time("--end", end, now, &stop, err, sizeof(err)) != 0)
			return cli_fail(CLI_USAGE, "%s", err);
		if (stop <= start)
			return cli_fail(CLI_USAGE, "--end must be after --start");
	} else {
		if (arg_duration("--duration", dur, &len, err, sizeof(err)) != 0)
			return cli_fail(CLI_USAGE, "%s", err);
		stop = start + len;
	}
	if (args_has(a, "count") &&
	    arg_int("--count", args_get(a, "count"), 1, 1000, &count, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	format_time(start, start_s, sizeof(start_s));
	format_time(stop, end_s, sizeof(end_s));
	body = json_pack("{s:s,s:s,s:s,s:s}", "definition", args_get(a, "definition"),
	    "owner", args_get(a, "owner"), "timeslot_start", start_s, "timeslot_end", end_s);
	if (body == NULL)
		return cli_fail(CLI_USAGE, "--definition and --owner must be UTF-8 text");
	if (count > 0)
		json_object_set_new(body, "count", json_integer(count));
	rc = cli_call_json(c, "POST", "/api/v1/instances", body, &r);
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	print_instances(c, r.json);
	httpc_resp_free(&r);
	return cli_finish(c);
}

static int
is_inst_state(const char *s)
{
	enum inst_state st;

	return inst_state_parse(s, &st) == 0;
}

/* "pending, scheduled, ..." for error messages. */
static void
inst_state_names(char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < INST_STATE_COUNT && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i > 0 ? ", " : "",
		    inst_state_name((enum inst_state)i));
}

static int
instance_list(struct cli *c, const struct args *a)
{
	static const char *const passed[] = { "state", "definition", "owner", "worker", "limit",
		"after" };
	char err[512], names[256];
	struct sbuf path;
	int64_t n;
	int rc;

	inst_state_names(names, sizeof(names));
	if (args_has(a, "state") && arg_list("--state", args_get(a, "state"), is_inst_state,
	    names, err, sizeof(err)) < 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (args_has(a, "limit") &&
	    arg_int("--limit", args_get(a, "limit"), 1, 500, &n, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (args_has(a, "after") && args_has(a, "all"))
		return cli_fail(CLI_USAGE, "--after and --all cannot be used together");
	sbuf_init(&path);
	sbuf_puts(&path, "/api/v1/instances");
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		httpc_query_add(&path, passed[i], args_get(a, passed[i]));
	rc = cli_list(c, path.p, instance_columns, args_has(a, "all"));
	sbuf_free(&path);
	return rc;
}

static int
instance_get(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	char path[64];
	int64_t id;
	int rc;

	if ((rc = cli_id_arg("instance ID", a->pos[0], &id)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/instances/%lld", (long long)id);
	if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		view_object(c, r.json);
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* POST /api/v1/instances/ID/ACTION with body; prints the instance it answers with. */
static int
instance_act(struct cli *c, const char *idarg, const char *action, json_t *body)
{
	struct httpc_resp r;
	char path[96];
	int64_t id;
	int rc;

	if ((rc = cli_id_arg("instance ID", idarg, &id)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/instances/%lld/%s", (long long)id, action);
	if ((rc = cli_call(c, "POST", path, body, &r)) != CLI_OK)
		return rc;
	if (r.json != NULL)
		print_instances(c, r.json);
	httpc_resp_free(&r);
	return cli_finish(c);
}

static int
instance_stop(struct cli *c, const struct args *a)
{
	return instance_act(c, a->pos[0], "stop", NULL);
}

static int
instance_terminate(struct cli *c, const struct args *a)
{
	return instance_act(c, a->pos[0], "terminate", NULL);
}

static int
instance_retry(struct cli *c, const struct args *a)
{
	return instance_act(c, a->pos[0], "retry", NULL);
}

static int
instance_extend(struct cli *c, const struct args *a)
{
	const char *end = args_get(a, "end");
	char err[512], end_s[40];
	int64_t stop, id;
	json_t *body;
	int rc;

	if ((rc = cli_id_arg("instance ID", a->pos[0], &id)) != CLI_OK)
		return rc;
	if (end == NULL)
		return cli_fail(CLI_USAGE, "instance extend needs --end TIME");
	if (arg_time("--end", end, now_ms(), &stop, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	format_time(stop, end_s, sizeof(end_s));
	body = json_pack("{s:s}", "timeslot_end", end_s);
	rc = instance_act(c, a->pos[0], "extend", body);
	json_decref(body);
	return rc;
}

static const struct opt_spec create_opts[] = {
	{ "definition", 0, "NAME[@V]", "the definition, optionally pinned to a version" },
	{ "owner", 0, "OWNER", "who the instance is for" },
	{ "start", 0, "TIME", "slot start, RFC 3339 (2026-11-23T10:00:00Z) or now" },
	{ "end", 0, "TIME", "slot end, RFC 3339" },
	{ "duration", 0, "DURATION", "slot length instead of --end: 90m, 2h, 1h30m" },
	{ "count", 0, "N", "create N instances at once, 1..1000" },
	{ NULL, 0, NULL, NULL }
};

static const struct opt_spec list_opts[] = {
	{ "state", 0, "S[,S...]", "only these states" },
	{ "definition", 0, "NAME", "only instances of this definition" },
	{ "owner", 0, "OWNER", "only instances of this owner" },
	{ "worker", 0, "ID", "only instances placed on this worker" },
	{ "limit", 0, "N", "items per page, 1..500 (server default 50)" },
	{ "after", 0, "CURSOR", "start after this page cursor" },
	{ "all", 0, NULL, "follow the pages to the end" },
	{ NULL, 0, NULL, NULL }
};

static const struct opt_spec extend_opts[] = {
	{ "end", 0, "TIME", "the new slot end, RFC 3339" },
	{ NULL, 0, NULL, NULL }
};

const struct cmd_entry cmd_instance_entries[] = {
	{
		.name = "create",
		.usage = "--definition D --owner O --start TIME (--end TIME | --duration D) "
		    "[--count N]",
		.help = "create an instance (or --count of them) for a time slot",
		.opts = create_opts,
		.exec = instance_create,
	},
	{
		.name = "list",
		.usage = "[--state S,...] [--definition D] [--owner O] [--worker W] [--limit N] "
		    "[--after CURSOR] [--all]",
		.help = "list instances, filtered",
		.opts = list_opts,
		.exec = instance_list,
	},
	{
		.name = "get",
		.usage = "ID",
		.help = "show one instance",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_get,
	},
	{
		.name = "stop",
		.usage = "ID",
		.help = "stop a running instance: collect, grade, then stop",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_stop,
	},
	{
		.name = "terminate",
		.usage = "ID",
		.help = "end an instance at once, skipping collection",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_terminate,
	},
	{
		.name = "retry",
		.usage = "ID",
		.help = "send a failed instance back to pending",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_retry,
	},
	{
		.name = "extend",
		.usage = "ID --end TIME",
		.help = "move an instance's slot end",
		.opts = extend_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_extend,
	},
	{ .name = NULL }
};
