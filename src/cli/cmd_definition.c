/*
 * outpost definition create|list|get: the recipes instances are made from.
 * create sends a JSON file as it is (after checking it is JSON, so a typo
 * is reported with its line and column before anything is sent); every
 * create of an existing name makes its next version on the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column definition_columns[] = {
	{ "NAME", "name", COLOR_NONE, TABLE_LEFT, 0, NULL },
	{ "VERSION", "version", COLOR_NONE, TABLE_RIGHT, 0, NULL },
	{ "CPU", "resources.cpu", COLOR_NONE, TABLE_RIGHT, 0, NULL },
	{ "MEMORY_MB", "resources.memory_mb", COLOR_NONE, TABLE_RIGHT, 0, NULL },
	{ "WARM", "warm_pool.depth", COLOR_NONE, TABLE_RIGHT, 0, NULL },
	{ "MAX_DURATION", "max_duration", COLOR_NONE, TABLE_LEFT, 0, NULL },
	{ "DESCRIPTION", "description", COLOR_NONE, TABLE_LEFT, 50, NULL },
	{ NULL, NULL, COLOR_NONE, TABLE_LEFT, 0, NULL }
};

/* Reads all of f up to CLI_MAX_INPUT bytes. */
static int
read_bounded(FILE *f, const char *name, struct sbuf *b)
{
	char chunk[8192];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->len + n > CLI_MAX_INPUT)
			return cli_fail(CLI_USAGE, "%s: larger than the server's limit of %zu "
			    "bytes", name, CLI_MAX_INPUT);
		if (sbuf_append(b, chunk, n) != 0)
			return cli_fail(CLI_USAGE, "%s: out of memory", name);
	}
	if (ferror(f))
		return cli_fail(CLI_USAGE, "%s: cannot read: %s", name, strerror(errno));
	return CLI_OK;
}

static int
definition_create(struct cli *c, const struct args *a)
{
	const char *path = args_get(a, "file");
	const char *name = path != NULL && strcmp(path, "-") == 0 ? "stdin" : path;
	struct httpc_resp r;
	json_error_t jerr;
	json_t *body = NULL;
	struct sbuf text;
	FILE *f;
	int rc;

	if (path == NULL || *path == '\0')
		return cli_fail(CLI_USAGE, "definition create needs -f FILE (a JSON file, - for "
		    "stdin)");
	sbuf_init(&text);
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL)
		return cli_fail(CLI_USAGE, "-f %s: cannot open: %s", path, strerror(errno));
	rc = read_bounded(f, name, &text);
	if (f != stdin)
		fclose(f);
	if (rc != CLI_OK)
		goto done;
	body = json_loadb(text.p != NULL ? text.p : "", text.len, 0, &jerr);
	if (body == NULL) {
		rc = cli_fail(CLI_USAGE, "%s:%d:%d: not valid JSON: %s", name, jerr.line,
		    jerr.column, jerr.text);
		goto done;
	}
	if (!json_is_object(body)) {
		rc = cli_fail(CLI_USAGE, "%s: a definition is a JSON object", name);
		goto done;
	}
	rc = cli_call_json(c, "POST", "/api/v1/definitions", body, &r);
	if (rc != CLI_OK)
		goto done;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		view_object(c, r.json);
	httpc_resp_free(&r);
	rc = cli_finish(c);
done:
	if (body != NULL)
		json_decref(body);
	sbuf_free(&text);
	return rc;
}

static int
definition_list(struct cli *c, const struct args *a)
{
	struct sbuf path;
	char err[256];
	int64_t limit;
	int rc;

	sbuf_init(&path);
	sbuf_puts(&path, "/api/v1/definitions");
	if (args_has(a, "limit") &&
	    arg_int("--limit", args_get(a, "limit"), 1, 500, &limit, err, sizeof(err)) != 0) {
		sbuf_free(&path);
		return cli_fail(CLI_USAGE, "%s", err);
	}
	if (args_has(a, "after") && args_has(a, "all")) {
		sbuf_free(&path);
		return cli_fail(CLI_USAGE, "--after and --all cannot be used together");
	}
	httpc_query_add(&path, "limit", args_get(a, "limit"));
	httpc_query_add(&path, "after", args_get(a, "after"));
	rc = cli_list(c, path.p, definition_columns, args_has(a, "all"));
	sbuf_free(&path);
	return rc;
}

static int
definition_get(struct cli *c, const struct args *a)
{
	const char *ver = args_get(a, "version");
	struct httpc_resp r;
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
	rc = cli_call_json(c, "GET", path.p, NULL, &r);
	sbuf_free(&path);
	if (rc != CLI_OK)
		return rc;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		view_object(c, r.json);
	httpc_resp_free(&r);
	return cli_finish(c);
}

static const struct opt_spec create_opts[] = {
	{ "file", 'f', "FILE", "the definition as a JSON file; - reads stdin" },
	{ NULL, 0, NULL, NULL }
};

static const struct opt_spec list_opts[] = {
	{ "limit", 0, "N", "items per page, 1..500 (server default 50)" },
	{ "after", 0, "CURSOR", "start after this page cursor" },
	{ "all", 0, NULL, "follow the pages to the end" },
	{ NULL, 0, NULL, NULL }
};

static const struct opt_spec get_opts[] = {
	{ "version", 0, "V", "that version instead of the latest" },
	{ NULL, 0, NULL, NULL }
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
		.opts = list_opts,
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
