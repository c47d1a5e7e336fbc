/*
 * outpost instance create|list|get|stop|terminate|retry|extend, and what
 * explains an instance: transitions (its history), logs (its hooks' output,
 * followed live with --follow) and placement (where it runs, or why it does
 * not yet). Flags are checked here before anything is sent (times, counts,
 * states, hooks), so a typo is a usage error naming the flag; what only the
 * server can judge (is there such a definition, may this instance stop now)
 * comes back from it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const struct column instance_columns[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "DEFINITION", "definition", CELL_PLAIN, TABLE_LEFT, 0, fmt_defref },
	{ "OWNER", "owner", CELL_PLAIN, TABLE_LEFT, 24, NULL },
	{ "STATE", "state", CELL_INST_STATE, TABLE_LEFT, 0, NULL },
	{ "WORKER", "worker", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "USAGE", "usage", CELL_PLAIN, TABLE_LEFT, 0, fmt_inst_usage },
	{ "START", "timeslot_start", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "END", "timeslot_end", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "REASON", "state_reason", CELL_PLAIN, TABLE_LEFT, 48, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
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
instance_list(struct cli *c, const struct args *a)
{
	static const char *const passed[] = { "state", "definition", "owner", "worker", NULL };
	char err[512];

	if (args_has(a, "state") && arg_list("--state", args_get(a, "state"), CHOICES_INST_STATE,
	    err, sizeof(err)) < 0)
		return cli_fail(CLI_USAGE, "%s", err);
	return cli_list_query(c, "/api/v1/instances", passed, instance_columns, a);
}

static int
instance_get(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	json_t *shown;
	char path[64];
	int64_t id;
	int rc;

	if ((rc = cli_id_arg("instance ID", a->pos[0], &id)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/instances/%lld", (long long)id);
	if (c->out == OUT_JSON)
		return cli_show(c, path);
	if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
		return rc;
	/* Usage in words: "0.98 cores", "100 MB / 2048 MB (peak 120 MB)". */
	if ((shown = fmt_inst_fields(r.json)) != NULL) {
		json_decref(r.json);
		r.json = shown;
	}
	return cli_print_answer(c, &r);
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

/* stop, terminate, retry: the verb is the action. */
static int
instance_action(struct cli *c, const struct args *a)
{
	return instance_act(c, a->pos[0], c->verb, NULL);
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

/* GETs /api/v1/instances/ID plus suffix, checking ID first. */
static int
instance_get_json(struct cli *c, const char *idarg, const char *suffix, struct httpc_resp *r)
{
	char path[96];
	int64_t id;
	int rc;

	httpc_resp_init(r);
	if ((rc = cli_id_arg("instance ID", idarg, &id)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/instances/%lld%s", (long long)id, suffix);
	return cli_call_json(c, "GET", path, NULL, r);
}

static const struct column transition_columns[] = {
	{ "AT", "at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "FROM", "from", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "TO", "to", CELL_INST_STATE, TABLE_LEFT, 0, NULL },
	{ "ACTOR", "actor", CELL_PLAIN, TABLE_LEFT, 24, NULL },
	{ "REASON", "reason", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
instance_transitions(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	json_t *items;
	int rc;

	if ((rc = instance_get_json(c, a->pos[0], "/transitions", &r)) != CLI_OK)
		return rc;
	items = json_object_get(r.json, "items");
	if (c->out == OUT_JSON) {
		cli_print_json(c, r.json);
	} else if (json_is_array(items)) {
		view_table(c, items, transition_columns);
	} else {
		httpc_resp_free(&r);
		return cli_fail(CLI_REFUSED, "the server's answer about transitions has no items");
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

static const struct column placement_columns[] = {
	{ "WORKER", "worker", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "STATE", "state", CELL_WORKER_STATE, TABLE_LEFT, 0, NULL },
	{ "HEALTH", "health", CELL_HEALTH, TABLE_LEFT, 0, NULL },
	{ "FITS", "fits", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ "REASON", "reason", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
instance_placement(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	json_t *summary, *workers;
	int rc;

	if ((rc = instance_get_json(c, a->pos[0], "/placement", &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON) {
		cli_print_json(c, r.json);
		httpc_resp_free(&r);
		return cli_finish(c);
	}
	/* The summary is the server's sentence, names and labels included: one clean line. */
	summary = json_object_get(r.json, "summary");
	if (json_is_string(summary)) {
		view_write_text(c->out_file, json_string_value(summary),
		    json_string_length(summary), TEXT_ONE_LINE);
		fputc('\n', c->out_file);
	}
	workers = json_object_get(r.json, "workers");
	if (json_is_array(workers) && json_array_size(workers) > 0)
		view_table(c, workers, placement_columns);
	httpc_resp_free(&r);
	return cli_finish(c);
}

/*
 * Reading an instance's log page by page. The cursor is opaque and the last
 * page answers next: null, so there is no cursor for "after what I saw".
 * We keep the last cursor the server gave (none: the start) and how many
 * items after it were printed; the next read asks from that cursor again
 * and skips those. That is right because chunks are only ever appended, in
 * the order of their cursor (the server sorts by arrival): what came after
 * the cursor once still comes first after it. A page that fills up gives a
 * new cursor, and counting goes on from there.
 */
struct log_reader {
	const char *base;	/* the log path with its hook and attempt */
	char *cursor;		/* the last next the server gave; NULL: from the start */
	size_t seen;		/* items after cursor already handled */
	struct view_log at;
	json_t *all;		/* -o json without --follow: every item, printed at the end */
	int is_follow;
	int is_terminal;
};

/*
 * One chunk as the output wants it. Write errors are left to the caller's
 * check of the stream (cli_finish), as for tables; only memory fails here.
 */
static int
log_emit(struct cli *c, struct log_reader *lr, json_t *item)
{
	char *line;

	if (c->out == OUT_TABLE) {
		view_log_chunk(c, &lr->at, item, lr->is_terminal);
		return CLI_OK;
	}
	if (!lr->is_follow) {
		if (json_array_append(lr->all, item) != 0)
			return cli_fail(CLI_USAGE, "out of memory");
		return CLI_OK;
	}
	/* Followed: one chunk a line as it comes, as events --follow -o json does. */
	if ((line = json_dumps(item, JSON_COMPACT)) == NULL)
		return cli_fail(CLI_USAGE, "out of memory");
	fprintf(c->out_file, "%s\n", line);
	free(line);
	return CLI_OK;
}

/* Reads every page after what was handled and prints the new chunks; *fresh counts them. */
static int
log_read(struct cli *c, struct log_reader *lr, size_t *fresh)
{
	*fresh = 0;
	for (;;) {
		struct httpc_resp r;
		struct sbuf path;
		json_t *items;
		const char *next;
		size_t n;
		int rc;

		sbuf_init(&path);
		if (sbuf_puts(&path, lr->base) != 0 ||
		    httpc_query_add(&path, "after", lr->cursor) != 0) {
			sbuf_free(&path);
			return cli_fail(CLI_USAGE, "out of memory");
		}
		rc = cli_call_json(c, "GET", path.p, NULL, &r);
		sbuf_free(&path);
		if (rc != CLI_OK)
			return rc;
		items = json_object_get(r.json, "items");
		if (!json_is_array(items)) {
			httpc_resp_free(&r);
			return cli_fail(CLI_REFUSED, "the server's answer about the log has no "
			    "items");
		}
		n = json_array_size(items);
		for (size_t i = lr->seen; i < n; i++) {
			if ((rc = log_emit(c, lr, json_array_get(items, i))) != CLI_OK) {
				httpc_resp_free(&r);
				return rc;
			}
			(*fresh)++;
		}
		next = json_string_value(json_object_get(r.json, "next"));
		if (next == NULL || next[0] == '\0') {
			if (n > lr->seen)
				lr->seen = n;
			httpc_resp_free(&r);
			return CLI_OK;
		}
		/* A server that repeats its cursor would keep us here forever. */
		if (lr->cursor != NULL && strcmp(lr->cursor, next) == 0) {
			rc = cli_fail(CLI_REFUSED, "the server repeated the page cursor '%s'",
			    next);
			httpc_resp_free(&r);
			return rc;
		}
		free(lr->cursor);
		lr->cursor = strdup(next);
		/* The new cursor follows this page's last item; what we saw past it stays seen. */
		lr->seen = lr->seen > n ? lr->seen - n : 0;
		httpc_resp_free(&r);
		if (lr->cursor == NULL)
			return cli_fail(CLI_USAGE, "out of memory");
	}
}

/* Whether the instance is in a final state: one that never changes by itself. */
static int
instance_is_over(struct cli *c, const char *idarg, int *is_over)
{
	struct httpc_resp r;
	enum inst_state st;
	int rc;

	*is_over = 0;
	if ((rc = instance_get_json(c, idarg, "", &r)) != CLI_OK)
		return rc;
	/* state.h says which states hold on (active); a state it does not know is not over. */
	if (inst_state_parse(json_string_value(json_object_get(r.json, "state")), &st) == 0)
		*is_over = !inst_state_is_active(st);
	httpc_resp_free(&r);
	return CLI_OK;
}

/*
 * --follow: print what is new every second until the instance is over and
 * one more read after that found nothing (the agent may send the last
 * output just after its last report). The state is read before the log,
 * so what was written before the state became final is in that read.
 *
 * SIGINT and SIGTERM are blocked and waited for in the pause between reads
 * (sigtimedwait): no handler, no flag to race with, and a signal that comes
 * during a request ends the loop as soon as the request is done.
 */
static int
log_follow(struct cli *c, const char *idarg, struct log_reader *lr)
{
	const struct timespec pause = { 1, 0 }, none = { 0, 0 };
	sigset_t stop, prev;
	int rc, is_over;
	size_t fresh;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &prev);
	for (;;) {
		if ((rc = instance_is_over(c, idarg, &is_over)) != CLI_OK ||
		    (rc = log_read(c, lr, &fresh)) != CLI_OK)
			break;
		if (fflush(c->out_file) != 0 || ferror(c->out_file))
			break;	/* cli_finish below says why, or nothing for a closed pipe */
		if (is_over && fresh == 0)
			break;
		if (sigtimedwait(&stop, NULL, &pause) > 0)
			break;
	}
	/* A signal still pending would strike once unblocked: take it here. */
	while (sigtimedwait(&stop, NULL, &none) > 0)
		;
	sigprocmask(SIG_SETMASK, &prev, NULL);
	if (rc != CLI_OK)
		return rc;
	return cli_finish(c);
}

static int
instance_logs(struct cli *c, const struct args *a)
{
	const char *hook = args_get(a, "hook"), *attempt = args_get(a, "attempt");
	struct log_reader lr = { .is_follow = args_has(a, "follow") };
	char err[512], path[64], names[64];
	struct sbuf base;
	size_t fresh;
	int64_t id, n;
	int rc;

	if ((rc = cli_id_arg("instance ID", a->pos[0], &id)) != CLI_OK)
		return rc;
	if (hook != NULL && !opt_choices_allow(CHOICES_HOOK, hook))
		return cli_fail(CLI_USAGE, "--hook must be %s, not '%s'",
		    opt_choices_text(CHOICES_HOOK, names, sizeof(names)), hook);
	if (attempt != NULL &&
	    arg_int("--attempt", attempt, 1, INT32_MAX, &n, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	snprintf(path, sizeof(path), "/api/v1/instances/%lld/log", (long long)id);
	sbuf_init(&base);
	if (sbuf_puts(&base, path) != 0 || httpc_query_add(&base, "hook", hook) != 0 ||
	    httpc_query_add(&base, "attempt", attempt) != 0 ||
	    (lr.all = json_array()) == NULL) {
		sbuf_free(&base);
		return cli_fail(CLI_USAGE, "out of memory");
	}
	lr.base = base.p;
	lr.is_terminal = isatty(fileno(c->out_file));
	if (lr.is_follow) {
		rc = log_follow(c, a->pos[0], &lr);
	} else if ((rc = log_read(c, &lr, &fresh)) == CLI_OK) {
		if (c->out == OUT_JSON) {
			json_t *answer = json_pack("{s:O,s:n}", "items", lr.all, "next");

			cli_print_json(c, answer);
			json_decref(answer);
		}
		rc = cli_finish(c);
	}
	json_decref(lr.all);
	free(lr.cursor);
	sbuf_free(&base);
	return rc;
}

static const struct opt_spec create_opts[] = {
	{ "definition", 0, "NAME[@V]", "the definition, optionally pinned to a version", 0 },
	{ "owner", 0, "OWNER", "who the instance is for", 0 },
	{ "start", 0, "TIME", "slot start, RFC 3339 (2026-11-23T10:00:00Z) or now", 0 },
	{ "end", 0, "TIME", "slot end, RFC 3339", 0 },
	{ "duration", 0, "DURATION", "slot length instead of --end: 90m, 2h, 1h30m", 0 },
	{ "count", 0, "N", "create N instances at once, 1..1000", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec list_opts[] = {
	{ "state", 0, "S[,S...]", "only these states", CHOICES_INST_STATE },
	{ "definition", 0, "NAME", "only instances of this definition", 0 },
	{ "owner", 0, "OWNER", "only instances of this owner", 0 },
	{ "worker", 0, "ID", "only instances placed on this worker", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec extend_opts[] = {
	{ "end", 0, "TIME", "the new slot end, RFC 3339", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec logs_opts[] = {
	{ "hook", 0, "HOOK", "only this hook", CHOICES_HOOK },
	{ "attempt", 0, "N", "only the Nth placement of the instance (from 1)", 0 },
	{ "follow", 0, NULL, "print new output every second until the instance ends", 0 },
	{ NULL, 0, NULL, NULL, 0 }
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
		.is_paged = 1,
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
		.exec = instance_action,
	},
	{
		.name = "terminate",
		.usage = "ID",
		.help = "end an instance at once, skipping collection",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_action,
	},
	{
		.name = "retry",
		.usage = "ID",
		.help = "send a failed instance back to pending",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_action,
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
	{
		.name = "transitions",
		.usage = "ID",
		.help = "show an instance's history: every change of state and why",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_transitions,
	},
	{
		.name = "logs",
		.usage = "ID [--hook HOOK] [--attempt N] [--follow]",
		.help = "print the output of an instance's hooks",
		.opts = logs_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_logs,
	},
	{
		.name = "placement",
		.usage = "ID",
		.help = "say where an instance runs, or why no worker takes it",
		.min_pos = 1,
		.max_pos = 1,
		.exec = instance_placement,
	},
	{ .name = NULL }
};
