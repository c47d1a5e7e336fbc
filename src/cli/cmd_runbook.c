/*
 * outpost runbook list|show|run, outpost run list|get|cancel and outpost
 * alert list (the rules that may start runbooks by themselves). A run is
 * started with its parameters as -p NAME=VALUE (the server checks and
 * converts them and names the one that is wrong); a runbook that asks for
 * confirmation is confirmed on the terminal, or with --yes. The output is
 * then followed live on the event stream from the run's own first event, so
 * nothing it printed is missed, and the command ends when the run does:
 * exit 0 when it succeeded, 1 when it failed, was cancelled or interrupted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evstream.h"

static const struct column runbook_columns[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "ROLE", "role", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CONFIRM", "confirm", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 60, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

/* "/api/v1/runbooks/NAME" plus suffix. */
static char *
runbook_path(const char *name, const char *suffix)
{
	return cli_path("/api/v1/runbooks/", name, suffix);
}

static int
runbook_list(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	json_t *errs, *e;
	size_t i;
	int rc;

	(void)a;
	if ((rc = cli_call_json(c, "GET", "/api/v1/runbooks", NULL, &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON) {
		cli_print_json(c, r.json);
	} else {
		view_table(c, json_object_get(r.json, "items"), runbook_columns);
		errs = json_object_get(r.json, "errors");
		json_array_foreach(errs, i, e)
			fprintf(stderr, "outpost: runbook file %s did not load: %s\n",
			    json_string_value(json_object_get(e, "file")),
			    json_string_value(json_object_get(e, "message")));
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* A runbook as a person reads it: what it is, its parameters, its steps. */
static int
runbook_show(struct cli *c, const struct args *a)
{
	char *path = runbook_path(a->pos[0], "");
	struct httpc_resp r;
	json_t *rb, *p, *st;
	size_t i;
	int rc;

	if (path == NULL)
		return cli_fail(CLI_USAGE, "runbook show needs a runbook NAME");
	rc = cli_call_json(c, "GET", path, NULL, &r);
	free(path);
	if (rc != CLI_OK)
		return rc;
	rb = r.json;
	if (c->out == OUT_JSON) {
		cli_print_json(c, rb);
		httpc_resp_free(&r);
		return cli_finish(c);
	}
	cli_say(c, "%s: %s", json_string_value(json_object_get(rb, "name")),
	    json_string_value(json_object_get(rb, "description")));
	cli_say(c, "role %s%s; file %s", json_string_value(json_object_get(rb, "role")),
	    json_is_true(json_object_get(rb, "confirm")) ? ", asks for confirmation" : "",
	    json_string_value(json_object_get(rb, "file")));
	if (json_array_size(json_object_get(rb, "params")) > 0)
		cli_say(c, "parameters:");
	json_array_foreach(json_object_get(rb, "params"), i, p) {
		char def[256] = "", choices[256] = "";
		json_t *d = json_object_get(p, "default");

		if (d != NULL && !json_is_null(d)) {
			char v[200];

			fmt_value(d, v, sizeof(v));
			snprintf(def, sizeof(def), " (default %s)", v);
		}
		if (json_object_get(p, "choices") != NULL) {
			char v[200];

			fmt_value(json_object_get(p, "choices"), v, sizeof(v));
			snprintf(choices, sizeof(choices), " one of %s", v);
		}
		cli_say(c, "  %s  %s%s%s%s%s%s", json_string_value(json_object_get(p, "name")),
		    json_string_value(json_object_get(p, "type")), choices,
		    json_is_true(json_object_get(p, "required")) ? ", required" : "", def,
		    json_string_length(json_object_get(p, "help")) ? ": " : "",
		    json_string_value(json_object_get(p, "help")));
	}
	cli_say(c, "steps:");
	json_array_foreach(json_object_get(rb, "steps"), i, st) {
		char what[1024];

		if (json_object_get(st, "exec") != NULL) {
			char argv[900];

			fmt_value(json_object_get(st, "exec"), argv, sizeof(argv));
			snprintf(what, sizeof(what), "exec %s (timeout %s)", argv,
			    json_string_value(json_object_get(st, "timeout")));
		} else {
			char args[900];

			fmt_value(json_object_get(st, "args"), args, sizeof(args));
			snprintf(what, sizeof(what), "%s %s",
			    json_string_value(json_object_get(st, "action")), args);
		}
		cli_say(c, "  %zu. %s: %s", i + 1, json_string_value(json_object_get(st, "name")), what);
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* ---- following a run ---- */

struct follow {
	struct cli *c;
	struct evstream *es;
	int64_t run;
	json_t *steps;		/* the run's steps, for their names (borrowed) */
	int64_t step;		/* the step whose output came last; -1: none yet */
	int is_mid_line;
	int is_ended;
	int rc;
	int is_lost;
	int is_tty;
};

static void
follow_event(void *arg, json_t *ev)
{
	struct follow *f = arg;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *data = json_object_get(ev, "data");

	if (json_integer_value(json_object_get(ev, "id")) != f->run || type == NULL)
		return;
	if (strcmp(type, "runbook.output") == 0 && f->c->out == OUT_TABLE) {
		int64_t step = json_integer_value(json_object_get(data, "step"));
		const char *text = json_string_value(json_object_get(data, "text"));
		size_t n = text ? strlen(text) : 0;

		if (step != f->step) {
			const char *sname = json_string_value(json_object_get(json_array_get(f->steps,
			    (size_t)step), "name"));

			if (f->is_mid_line)
				fputc('\n', f->c->out_file);
			fprintf(f->c->out_file, "==> step %lld: %s <==\n", (long long)step + 1,
			    sname ? sname : "?");
			f->step = step;
		}
		view_write_text(f->c->out_file, text ? text : "", n, f->is_tty ? TEXT_LINES :
		    TEXT_RAW);
		f->is_mid_line = n > 0 && text[n - 1] != '\n';
		fflush(f->c->out_file);
	} else if (strcmp(type, "runbook.run") == 0) {
		const char *st = json_string_value(json_object_get(data, "status"));

		if (st != NULL && strcmp(st, "running") != 0) {
			f->is_ended = 1;
			evstream_stop(f->es);
		}
	}
}

static void
follow_error(void *arg, const char *code, const char *message, const char *field)
{
	struct follow *f = arg;

	(void)code;
	(void)field;
	f->rc = cli_fail(CLI_REFUSED, "the event stream refused us: %s", message);
	evstream_stop(f->es);
}

static void
follow_state(void *arg, const struct evstream_status *st)
{
	struct follow *f = arg;

	if (st->state == EVSTREAM_DISCONNECTED) {
		if (!st->has_connected) {
			f->rc = cli_fail(st->http_status >= 400 ? CLI_REFUSED : CLI_UNREACHABLE,
			    "cannot follow the run's output: %s", st->reason ? st->reason : "refused");
			evstream_stop(f->es);
		} else if (!f->is_lost) {
			f->is_lost = 1;
			fprintf(stderr, "outpost: event stream lost (%s); reconnecting\n", st->reason);
		}
	} else if (st->state == EVSTREAM_CONNECTED) {
		f->is_lost = 0;
	}
}

/* Follows the run's events after seq until it ends, or a signal. */
static int
follow_run(struct cli *c, int64_t run, int64_t seq, json_t *steps)
{
	static const char *const types[] = { "runbook.*", NULL };
	struct follow f = { .c = c, .run = run, .steps = steps, .step = -1, .rc = CLI_OK };
	struct evstream_opts o = {
		.url = c->set.server,
		.token = c->set.token[0] != '\0' ? c->set.token : NULL,
		.since = seq > 0 ? seq - 1 : 0,
		.ca_file = c->set.ca_file,
		.types = types,
		.on_event = follow_event,
		.on_state = follow_state,
		.on_error = follow_error,
		.arg = &f,
	};
	char err[512];

	f.is_tty = isatty(fileno(c->out_file));
	if ((f.es = evstream_new(&o, err, sizeof(err))) == NULL)
		return cli_fail(CLI_USAGE, "%s", err);
	cli_run_stream(f.es);
	evstream_free(f.es);
	if (f.is_mid_line)
		fputc('\n', c->out_file);
	if (f.rc == CLI_OK && !f.is_ended) {
		fprintf(stderr, "outpost: stopped following; run %lld goes on (outpost run get %lld, "
		    "outpost run cancel %lld)\n", (long long)run, (long long)run, (long long)run);
		return CLI_REFUSED;
	}
	return f.rc;
}

/* Asks on the terminal; 1 for yes. */
static int
ask(const char *name, json_t *rb)
{
	char line[64];

	fprintf(stderr, "Runbook %s: %s\nIt asks for confirmation before it runs. Run it? [y/N] ",
	    name, json_string_value(json_object_get(rb, "description")));
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 || strcmp(line, "Y\n") == 0;
}

static int
runbook_run(struct cli *c, const struct args *a)
{
	const char *name = a->pos[0];
	int is_dry = args_has(a, "dry-run"), is_yes = args_has(a, "yes");
	int is_follow = !args_has(a, "no-follow");
	json_t *params = json_object(), *body = NULL;
	struct httpc_resp r;
	char *path = NULL;
	int64_t id, seq;
	int rc;

	if (name[0] == '\0')
		return cli_fail(CLI_USAGE, "runbook run needs a runbook NAME");
	for (size_t i = 0; i < a->nopts; i++) {
		const char *kv = a->opts[i].value, *eq;

		if (strcmp(a->opts[i].spec->name, "param") != 0)
			continue;
		eq = strchr(kv, '=');
		if (eq == NULL || eq == kv) {
			json_decref(params);
			return cli_fail(CLI_USAGE, "-p takes NAME=VALUE, not '%s'", kv);
		}
		{
			char key[128];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			json_object_set_new(params, key, json_string(eq + 1));
		}
	}
	if ((path = runbook_path(name, "")) == NULL) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	/* Read first: a runbook that asks for confirmation is asked about before anything runs. */
	if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
		goto done;
	if (json_is_true(json_object_get(r.json, "confirm")) && !is_dry && !is_yes) {
		if (!isatty(STDIN_FILENO)) {
			httpc_resp_free(&r);
			rc = cli_fail(CLI_USAGE, "runbook %s asks for confirmation: run it again with "
			    "--yes (or try it with --dry-run)", name);
			goto done;
		}
		if (!ask(name, r.json)) {
			httpc_resp_free(&r);
			rc = cli_fail(CLI_REFUSED, "not run");
			goto done;
		}
		is_yes = 1;
	}
	httpc_resp_free(&r);
	free(path);
	path = runbook_path(name, "/runs");
	body = json_pack("{s:O, s:b, s:b}", "params", params, "dry_run", is_dry, "confirm", is_yes);
	if (path == NULL || body == NULL) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	if ((rc = cli_call_json(c, "POST", path, body, &r)) != CLI_OK)
		goto done;
	id = json_integer_value(json_object_get(r.json, "id"));
	seq = json_integer_value(json_object_get(r.json, "seq"));
	if (c->out == OUT_TABLE)
		fprintf(stderr, "outpost: run %lld of %s started%s\n", (long long)id, name,
		    is_dry ? " (dry run)" : "");
	if (!is_follow) {
		if (c->out == OUT_JSON)
			cli_print_json(c, r.json);
		else
			cli_say(c, "%lld", (long long)id);
		httpc_resp_free(&r);
		rc = cli_finish(c);
		goto done;
	}
	rc = follow_run(c, id, seq, json_object_get(r.json, "steps"));
	httpc_resp_free(&r);
	if (rc != CLI_OK)
		goto done;
	free(path);
	{
		struct sbuf b;

		sbuf_init(&b);
		sbuf_printf(&b, "/api/v1/runs/%lld", (long long)id);
		path = sbuf_steal(&b);
	}
	if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
		goto done;
	{
		const char *st = json_string_value(json_object_get(r.json, "status"));
		const char *err = json_string_value(json_object_get(r.json, "error"));

		if (c->out == OUT_JSON)
			cli_print_json(c, r.json);
		else
			fprintf(stderr, "outpost: run %lld %s%s%s\n", (long long)id, st ? st : "?",
			    err ? ": " : "", err ? err : "");
		rc = st != NULL && strcmp(st, "succeeded") == 0 ? CLI_OK : CLI_REFUSED;
	}
	httpc_resp_free(&r);
	if (cli_finish(c) != CLI_OK)
		rc = CLI_REFUSED;
done:
	free(path);
	json_decref(params);
	json_decref(body);
	return rc;
}

/* ---- runs ---- */

static const struct column run_columns[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "RUNBOOK", "runbook", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "STATUS", "status", CELL_RUN, TABLE_LEFT, 0, NULL },
	{ "DRY_RUN", "dry_run", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ "ACTOR", "actor", CELL_PLAIN, TABLE_LEFT, 24, NULL },
	{ "CREATED", "created_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "ENDED", "ended_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "ERROR", "error", CELL_PLAIN, TABLE_LEFT, 50, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
run_list(struct cli *c, const struct args *a)
{
	static const char *const passed[] = { "runbook", "status", NULL };
	const char *status = args_get(a, "status");
	char err[256];
	int n;

	if (status != NULL &&
	    (n = arg_list("--status", status, CHOICES_RUN_STATUS, err, sizeof(err))) != 1)
		return n < 0 ? cli_fail(CLI_USAGE, "%s", err) :
		    cli_fail(CLI_USAGE, "--status takes one status, not '%s'", status);
	return cli_list_query(c, "/api/v1/runs", passed, run_columns, a);
}

static int
run_get(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	char path[64], v[512];
	int64_t id;
	json_t *st, *o;
	size_t i;
	int rc;

	if (cli_id_arg("run", a->pos[0], &id) != 0)
		return CLI_USAGE;
	snprintf(path, sizeof(path), "/api/v1/runs/%lld", (long long)id);
	if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
		return rc;
	o = r.json;
	if (c->out == OUT_JSON) {
		cli_print_json(c, o);
		httpc_resp_free(&r);
		return cli_finish(c);
	}
	fmt_value(json_object_get(o, "params"), v, sizeof(v));
	cli_say(c, "run %lld of %s: %s%s", (long long)id,
	    json_string_value(json_object_get(o, "runbook")),
	    json_string_value(json_object_get(o, "status")),
	    json_is_true(json_object_get(o, "dry_run")) ? " (dry run)" : "");
	cli_say(c, "by %s at %s, ended %s", json_string_value(json_object_get(o, "actor")),
	    json_string_value(json_object_get(o, "created_at")),
	    json_is_string(json_object_get(o, "ended_at")) ?
	    json_string_value(json_object_get(o, "ended_at")) : "-");
	cli_say(c, "params: %s", v);
	if (json_is_string(json_object_get(o, "error")))
		cli_say(c, "error: %s", json_string_value(json_object_get(o, "error")));
	json_array_foreach(json_object_get(o, "steps"), i, st) {
		const char *out = json_string_value(json_object_get(st, "output"));
		size_t n = out ? strlen(out) : 0;

		cli_say(c, "==> step %zu: %s (%s) %s <==", i + 1,
		    json_string_value(json_object_get(st, "name")),
		    json_string_value(json_object_get(st, "action")),
		    json_string_value(json_object_get(st, "status")));
		view_write_text(c->out_file, out ? out : "", n, TEXT_LINES);
		if (n > 0 && out[n - 1] != '\n')
			fputc('\n', c->out_file);
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

static int
run_cancel(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	char path[80];
	int64_t id;
	int rc;

	if (cli_id_arg("run", a->pos[0], &id) != 0)
		return CLI_USAGE;
	snprintf(path, sizeof(path), "/api/v1/runs/%lld/cancel", (long long)id);
	if ((rc = cli_call_json(c, "POST", path, NULL, &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		cli_say(c, "run %lld: %s", (long long)id,
		    json_string_value(json_object_get(r.json, "status")));
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* ---- alert rules ---- */

static const struct column alert_columns[] = {
	{ "RULE", "rule", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CONDITION", "condition", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "FIRING", "firing", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ "SINCE", "since", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "LAST_FIRED", "last_fired", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "RUNBOOK", "runbook", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "MESSAGE", "message", CELL_PLAIN, TABLE_LEFT, 60, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
alert_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cli_list(c, "/api/v1/alerts", alert_columns, 0);
}

static const struct opt_spec run_opts[] = {
	{ "param", 'p', "NAME=VALUE", "a parameter (again for each one)", 0 },
	{ "dry-run", 0, NULL, "say what it would do, change nothing", 0 },
	{ "yes", 'y', NULL, "confirm a runbook that asks for it without asking", 0 },
	{ "no-follow", 0, NULL, "print the run's id and return; do not follow its output", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec list_opts[] = {
	{ "runbook", 0, "NAME", "only runs of this runbook", 0 },
	{ "status", 0, "S", "only runs with this status", CHOICES_RUN_STATUS },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_runbook_entries[] = {
	{
		.name = "list",
		.usage = "",
		.help = "list the runbooks the server has loaded",
		.min_pos = 0,
		.max_pos = 0,
		.exec = runbook_list,
	},
	{
		.name = "show",
		.usage = "NAME",
		.help = "show a runbook: its parameters and steps",
		.min_pos = 1,
		.max_pos = 1,
		.exec = runbook_show,
	},
	{
		.name = "run",
		.usage = "NAME [-p NAME=VALUE]... [--dry-run] [--yes]",
		.help = "run a runbook and follow its output; exit 1 unless it succeeds",
		.opts = run_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = runbook_run,
	},
	{ .name = NULL }
};

const struct cmd_entry cmd_run_entries[] = {
	{
		.name = "list",
		.usage = "[--runbook NAME] [--status S]",
		.help = "list runs, newest first",
		.opts = list_opts,
		.is_paged = 1,
		.min_pos = 0,
		.max_pos = 0,
		.exec = run_list,
	},
	{
		.name = "get",
		.usage = "ID",
		.help = "show a run: who, when, its parameters, each step's status and output",
		.min_pos = 1,
		.max_pos = 1,
		.exec = run_get,
	},
	{
		.name = "cancel",
		.usage = "ID",
		.help = "cancel a run; its running program is ended",
		.min_pos = 1,
		.max_pos = 1,
		.exec = run_cancel,
	},
	{ .name = NULL }
};

const struct cmd_entry cmd_alert_entries[] = {
	{
		.name = "list",
		.usage = "",
		.help = "list the alert rules: which fire now, since when, and what they start",
		.min_pos = 0,
		.max_pos = 0,
		.exec = alert_list,
	},
	{ .name = NULL }
};
