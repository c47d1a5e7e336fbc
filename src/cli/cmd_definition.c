/*
 * outpost definition create|list|get: the recipes instances are made from.
 * create sends a JSON file as it is (after checking it is JSON, so a typo
 * is reported with its line and column before anything is sent); every
 * create of an existing name makes its next version on the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column definition_columns[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "VERSION", "version", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "CPU", "resources.cpu", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "MEMORY_MB", "resources.memory_mb", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "WARM", "warm_pool.depth", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "MAX_DURATION", "max_duration", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "DESCRIPTION", "description", CELL_PLAIN, TABLE_LEFT, 50, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

static int
definition_create(struct cli *c, const struct args *a)
{
	const char *path = args_get(a, "file");
	struct httpc_resp r;
	json_t *body;
	int rc;

	if (path == NULL || *path == '\0')
		return cli_fail(CLI_USAGE, "definition create needs -f FILE (a JSON file, - for "
		    "stdin)");
	if ((rc = cli_read_object(path, "a definition", &body)) != CLI_OK)
		return rc;
	rc = cli_call_json(c, "POST", "/api/v1/definitions", body, &r);
	json_decref(body);
	return rc != CLI_OK ? rc : cli_print_answer(c, &r);
}

static int
definition_list(struct cli *c, const struct args *a)
{
	return cli_list_query(c, "/api/v1/definitions", NULL, definition_columns, a);
}

static int
definition_get(struct cli *c, const struct args *a)
{
	const char *ver = args_get(a, "version");
	struct sbuf path;
	char err[256];
	int64_t v;
	int rc;

	sbuf_init(&path);
	sbuf_puts(&path, "/api/v1/definitions/");
	httpc_url_encode(&path, a->pos[0]);
	if (ver != NULL) {
		if (arg_int("--version", ver, 1, INT64_MAX, &v, err, sizeof(err)) != 0) {
			sbuf_free(&path);
			return cli_fail(CLI_USAGE, "%s", err);
		}
		sbuf_printf(&path, "/versions/%lld", (long long)v);
	}
	rc = cli_show(c, path.p);
	sbuf_free(&path);
	return rc;
}

static const struct opt_spec create_opts[] = {
	{ "file", 'f', "FILE", "the definition as a JSON file; - reads stdin", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec get_opts[] = {
	{ "version", 0, "V", "that version instead of the latest", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_definition_entries[] = {
	{
		.name = "create",
		.usage = "-f FILE",
		.help = "create a definition, or the next version of one, from JSON",
		.opts = create_opts,
		.min_pos = 0,
		.max_pos = 0,
		.exec = definition_create,
	},
	{
		.name = "list",
		.usage = "[--limit N] [--after CURSOR] [--all]",
		.help = "list the latest version of each definition",
		.is_paged = 1,
		.min_pos = 0,
		.max_pos = 0,
		.exec = definition_list,
	},
	{
		.name = "get",
		.usage = "NAME [--version V]",
		.help = "show a definition (its latest version, or --version V)",
		.opts = get_opts,
		.min_pos = 1,
		.max_pos = 1,
		.exec = definition_get,
	},
	{ .name = NULL }
};
