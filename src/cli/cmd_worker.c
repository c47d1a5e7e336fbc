/*
 * outpost worker list|get|cordon|uncordon|drain|stop|terminate: the hosts
 * that run instances. A worker is named by its id or its name; the server
 * resolves either, so the CLI passes what it was given, encoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column worker_columns[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "TEMPLATE", "template", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "STATE", "state", CELL_WORKER_STATE, TABLE_LEFT, 0, NULL },
	{ "HEALTH", "health", CELL_HEALTH, TABLE_LEFT, 0, NULL },
	{ "ISOLATION", "isolation", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CPU", "cpu", CELL_PLAIN, TABLE_RIGHT, 0, fmt_usage },
	{ "MEMORY_MB", "memory_mb", CELL_PLAIN, TABLE_RIGHT, 0, fmt_usage },
	{ "SLOTS", "slots", CELL_PLAIN, TABLE_RIGHT, 0, fmt_usage },
	{ "INSTANCES", "instance_count", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "HEARTBEAT", "last_heartbeat", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "AGENT", "agent_version", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "REFUSED", "agent_refused", CELL_PLAIN, TABLE_LEFT, 44, NULL },
	{ "LABELS", "labels", CELL_PLAIN, TABLE_LEFT, 40, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
worker_list(struct cli *c, const struct args *a)
{
	static const char *const passed[] = { "state", "health", "template", NULL };
	char err[512];

	if (args_has(a, "state") && arg_list("--state", args_get(a, "state"),
	    CHOICES_WORKER_STATE, err, sizeof(err)) < 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (args_has(a, "health") && arg_list("--health", args_get(a, "health"), CHOICES_HEALTH,
	    err, sizeof(err)) < 0)
		return cli_fail(CLI_USAGE, "%s", err);
	return cli_list_query(c, "/api/v1/workers", passed, worker_columns, a);
}

/* "/api/v1/workers/ID_OR_NAME" plus suffix; NULL for an empty name. */
static char *
worker_path(const char *who, const char *suffix)
{
	return cli_path("/api/v1/workers/", who, suffix);
}

static int
worker_get(struct cli *c, const struct args *a)
{
	char *path = worker_path(a->pos[0], "");
	int rc;

	if (path == NULL)
		return cli_fail(CLI_USAGE, "worker get needs a worker ID or NAME");
	rc = cli_show(c, path);
	free(path);
	return rc;
}

/* POST .../ACTION with body (borrowed, may be NULL); prints the worker it answers with. */
static int
worker_act(struct cli *c, const char *who, const char *action, json_t *body)
{
	char suffix[32];
	char *path;
	struct httpc_resp r;
	int rc;

	snprintf(suffix, sizeof(suffix), "/%s", action);
	if ((path = worker_path(who, suffix)) == NULL)
		return cli_fail(CLI_USAGE, "worker %s needs a worker ID or NAME", action);
	rc = cli_call(c, "POST", path, body, &r);
	free(path);
	if (rc != CLI_OK)
		return rc;
	if (c->out == OUT_JSON && r.json != NULL) {
		cli_print_json(c, r.json);
	} else if (json_object_get(r.json, "id") != NULL) {
		json_t *one = json_pack("[O]", r.json);

		view_table(c, one, worker_columns);
		json_decref(one);
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* cordon, uncordon: the verb is the action. */
static int
worker_action(struct cli *c, const struct args *a)
{
	return worker_act(c, a->pos[0], c->verb, NULL);
}

/*
 * The deadline goes as it was given: the server reads a duration from its
 * own clock, which is the one that counts. It is checked here as the server
 * checks it (a time, or a duration up to 30d) so a typo sends nothing.
 */
static int
worker_drain(struct cli *c, const struct args *a)
{
	const char *deadline = args_get(a, "deadline");
	json_t *body = NULL;
	char err[512];
	int rc;

	if (deadline != NULL &&
	    arg_deadline("--deadline", deadline, ARG_DEADLINE_MAX_MS, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (deadline != NULL && (body = json_pack("{s:s}", "deadline", deadline)) == NULL)
		return cli_fail(CLI_USAGE, "out of memory");
	rc = worker_act(c, a->pos[0], "drain", body);
	json_decref(body);
	return rc;
}

/*
 * stop and terminate send {} or {"force": true}. Without --force the server
 * refuses (409) a worker that still holds instances, and says to drain it
 * first; its message is shown as it is.
 */
static int
worker_end(struct cli *c, const struct args *a)
{
	json_t *body = args_has(a, "force") ? json_pack("{s:b}", "force", 1) : json_object();
	int rc;

	if (body == NULL)
		return cli_fail(CLI_USAGE, "out of memory");
	rc = worker_act(c, a->pos[0], c->verb, body);
	json_decref(body);
	return rc;
}

static const struct opt_spec list_opts[] = {
	{ "state", 0, "S[,S...]", "only workers in these states", CHOICES_WORKER_STATE },
	{ "health", 0, "H[,H...]", "only workers of this health", CHOICES_HEALTH },
	{ "template", 0, "NAME", "only workers of this template", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec drain_opts[] = {
	{ "deadline", 0, "WHEN", "stop what still runs at WHEN: RFC 3339, or 30m from now", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec end_opts[] = {
	{ "force", 0, NULL, "even with instances on it: they end as if the worker were lost", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_worker_entries[] = {
	{
		.name = "list",
		.usage = "[--state S,...] [--health H,...] [--template T] [--limit N] "
		    "[--after CURSOR] [--all]",
		.help = "list workers with their capacity in use",
		.opts = list_opts,
		.is_paged = 1,
		.exec = worker_list,
	},
	{
		.name = "get",
		.usage = "ID|NAME",
		.help = "show one worker",
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_get,
	},
	{
		.name = "cordon",
		.usage = "ID|NAME",
		.help = "take no new instances on a worker; what runs there goes on",
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_action,
	},
	{
		.name = "uncordon",
		.usage = "ID|NAME",
		.help = "let a cordoned worker take instances again",
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_action,
	},
	{
		.name = "drain",
		.usage = "ID|NAME [--deadline WHEN]",
		.help = "take nothing new; let instances finish, until a deadline if given",
		.opts = drain_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_drain,
	},
	{
		.name = "stop",
		.usage = "ID|NAME [--force]",
		.help = "stop a worker (and its host, by its provisioner); drain it first",
		.opts = end_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_end,
	},
	{
		.name = "terminate",
		.usage = "ID|NAME [--force]",
		.help = "stop and remove a worker for good; drain it first",
		.opts = end_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = worker_end,
	},
	{ .name = NULL }
};
