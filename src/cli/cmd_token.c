/*
 * outpost token create|list|revoke: API tokens (admin only on the server).
 * A new token is shown once: create prints it alone on stdout, so
 * `T=$(outpost token create ...)` works, and says on stderr that it will not
 * be shown again.
 *
 * A token of role agent is a join token: --uses, --names and --template
 * limit what it may register; each worker it registers gets a token of its
 * own, which list shows in WORKER.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column token_columns[] = {
	{ "ID", "id", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "ROLE", "role", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CREATED", "created_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "EXPIRES", "expires_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "REVOKED", "revoked_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CREATED_BY", "created_by", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "WORKER", "worker", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "USES_LEFT", "uses_left", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "NAMES", "names", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "TEMPLATE", "template", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

#define JOIN_USES_MAX 1000000

/* --uses, --names, --template: a join token's limits, checked here and named by their flag. */
static int
join_limits(const struct args *a, enum role rv, json_t *body)
{
	const char *uses = args_get(a, "uses"), *pat = args_get(a, "names");
	const char *tmpl = args_get(a, "template");
	int64_t n;

	if (rv != ROLE_AGENT && (uses != NULL || pat != NULL || tmpl != NULL))
		return cli_fail(CLI_USAGE, "--%s limits a join token: it goes with --role agent",
		    uses != NULL ? "uses" : pat != NULL ? "names" : "template");
	if (uses != NULL) {
		if (parse_int64(uses, 1, JOIN_USES_MAX, &n) != 0)
			return cli_fail(CLI_USAGE, "--uses must be a whole number from 1 to %d, "
			    "not '%s'", JOIN_USES_MAX, uses);
		json_object_set_new(body, "uses", json_integer(n));
	}
	if (pat != NULL) {
		if (pat[0] == '\0' || strlen(pat) > NAME_MAX_LEN || strspn(pat,
		    "abcdefghijklmnopqrstuvwxyz0123456789._-*?[]!") != strlen(pat))
			return cli_fail(CLI_USAGE, "--names must be a pattern of worker names (a-z, "
			    "0-9, '.', '_', '-' and the wildcards * ? [...]), at most %d characters, "
			    "not '%s'", NAME_MAX_LEN, pat);
		json_object_set_new(body, "names", json_string(pat));
	}
	if (tmpl != NULL) {
		if (!name_is_valid(tmpl, NAME_MAX_LEN))
			return cli_fail(CLI_USAGE, "--template must be a template's name (1 to %d "
			    "of a-z, 0-9, '.', '_', '-'), not '%s'", NAME_MAX_LEN, tmpl);
		json_object_set_new(body, "template", json_string(tmpl));
	}
	return CLI_OK;
}

static int
token_create(struct cli *c, const struct args *a)
{
	const char *name = args_get(a, "name"), *role = args_get(a, "role");
	const char *expires = args_get(a, "expires-in"), *token;
	struct httpc_resp r;
	char err[512], names[64];
	enum role rv;
	int64_t ms;
	json_t *body;
	int rc;

	if (name == NULL || name[0] == '\0')
		return cli_fail(CLI_USAGE, "token create needs --name");
	if (role == NULL)
		return cli_fail(CLI_USAGE, "token create needs --role (%s)",
		    role_names_from(ROLE_AGENT, names, sizeof(names)));
	if (role_parse(role, &rv) != 0)
		return cli_fail(CLI_USAGE, "--role must be %s, not '%s'",
		    role_names_from(ROLE_AGENT, names, sizeof(names)), role);
	if (expires != NULL && arg_duration("--expires-in", expires, &ms, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	body = json_pack("{s:s,s:s}", "name", name, "role", role);
	if (body == NULL)
		return cli_fail(CLI_USAGE, "--name must be UTF-8 text");
	if (expires != NULL)
		json_object_set_new(body, "expires_in", json_string(expires));
	if ((rc = join_limits(a, rv, body)) != CLI_OK) {
		json_decref(body);
		return rc;
	}
	rc = cli_call_json(c, "POST", "/api/v1/tokens", body, &r);
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	token = json_string_value(json_object_get(r.json, "token"));
	if (token == NULL) {
		httpc_resp_free(&r);
		return cli_fail(CLI_REFUSED, "the server's answer holds no token");
	}
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		fprintf(c->out_file, "%s\n", token);
	rc = cli_finish(c);
	fprintf(stderr, "outpost: token '%s' (%s) created; it is not shown again: store it now\n",
	    name, role);
	httpc_resp_free(&r);
	return rc;
}

static int
token_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cli_list(c, "/api/v1/tokens", token_columns, 0);
}

static int
token_revoke(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	char path[64];
	int64_t id;
	int rc;

	if ((rc = cli_id_arg("token ID", a->pos[0], &id)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/tokens/%lld", (long long)id);
	if ((rc = cli_call(c, "DELETE", path, NULL, &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON) {
		if (r.json != NULL)
			cli_print_json(c, r.json);
	} else {
		fprintf(c->out_file, "token %lld revoked\n", (long long)id);
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

static const struct opt_spec create_opts[] = {
	{ "name", 0, "NAME", "what the token is for", 0 },
	{ "role", 0, "ROLE", "the token's role", CHOICES_ROLE },
	{ "expires-in", 0, "DURATION", "lifetime, e.g. 30d or 12h (default: never)", 0 },
	{ "uses", 0, "N", "role agent: the workers it may register (default: any number)", 0 },
	{ "names", 0, "PATTERN", "role agent: the names they may have, a glob such as 'gpu-*'", 0 },
	{ "template", 0, "NAME", "role agent: the template they must be of", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_token_entries[] = {
	{
		.name = "create",
		.usage = "--name NAME --role ROLE [--expires-in DURATION] [--uses N] "
		    "[--names PATTERN] [--template NAME]",
		.help = "create an API token (role agent: a join token); it is printed once",
		.opts = create_opts,
		.exec = token_create,
	},
	{
		.name = "list",
		.usage = "",
		.help = "list tokens (never their secrets)",
		.exec = token_list,
	},
	{
		.name = "revoke",
		.usage = "ID",
		.help = "revoke a token at once",
		.min_pos = 1,
		.max_pos = 1,
		.exec = token_revoke,
	},
	{ .name = NULL }
};
