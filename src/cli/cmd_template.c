/*
 * outpost template list|get|apply|scale: the kinds of workers the server
 * makes and removes by itself, each with its capacity, bounds (min, max),
 * desired count and provisioner. apply sends a JSON file as it is (after
 * checking it is a JSON object with a name) to the name it holds: a PUT,
 * which creates the template or replaces it. scale moves the desired count;
 * what the workers do about it is the server's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct column template_columns[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "PROVISIONER", "provisioner.type", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "WORKERS", "workers.live", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "DESIRED", "desired", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "MIN", "min", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "MAX", "max", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "CAPACITY", "capacity", CELL_PLAIN, TABLE_LEFT, 0, fmt_capacity },
	{ "AUTOSCALE", "autoscale", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

int
template_name_of(json_t *spec, const char *from, const char **name, char *err, size_t errlen)
{
	json_t *v = json_object_get(spec, "name");

	if (v == NULL) {
		snprintf(err, errlen, "%s: field 'name' is missing; a template is applied under "
		    "its name", from);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(err, errlen, "%s: field 'name' must be a non-empty string", from);
		return -1;
	}
	*name = json_string_value(v);
	return 0;
}

/* "/api/v1/templates/NAME" plus suffix; NULL for an empty name. */
static char *
template_path(const char *name, const char *suffix)
{
	return cli_path("/api/v1/templates/", name, suffix);
}

static int
template_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cli_list(c, "/api/v1/templates", template_columns, 0);
}

static int
template_get(struct cli *c, const struct args *a)
{
	char *path = template_path(a->pos[0], "");
	int rc;

	if (path == NULL)
		return cli_fail(CLI_USAGE, "template get needs a template NAME");
	rc = cli_show(c, path);
	free(path);
	return rc;
}

static int
template_apply(struct cli *c, const struct args *a)
{
	const char *file = args_get(a, "file"), *name;
	struct httpc_resp r;
	char err[1024], *path;
	json_t *body;
	int rc;

	if (file == NULL || *file == '\0')
		return cli_fail(CLI_USAGE, "template apply needs -f FILE (a JSON file, - for "
		    "stdin)");
	if ((rc = cli_read_object(file, "a template", &body)) != CLI_OK)
		return rc;
	if (template_name_of(body, strcmp(file, "-") == 0 ? "stdin" : file, &name, err,
	    sizeof(err)) != 0) {
		rc = cli_fail(CLI_USAGE, "%s", err);
		goto done;
	}
	if ((path = template_path(name, "")) == NULL) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	rc = cli_call_json(c, "PUT", path, body, &r);
	free(path);
	if (rc != CLI_OK)
		goto done;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else
		cli_say(c, "template %s %s", name, r.status == 201 ? "created" : "updated");
	httpc_resp_free(&r);
	rc = cli_finish(c);
done:
	json_decref(body);
	return rc;
}

/*
 * The count and the deadline are checked before anything is sent. In a
 * table, the template is read first for the count it had: the line then
 * says what changed. Between the two requests the autoscaler may move it;
 * "was" is what it was a moment before.
 */
static int
template_scale(struct cli *c, const struct args *a)
{
	const char *name = a->pos[0], *deadline = args_get(a, "deadline");
	struct httpc_resp r;
	char err[512], *path = NULL;
	json_t *body = NULL, *v;
	int64_t count, was = -1, desired;
	int rc;

	if (name[0] == '\0')
		return cli_fail(CLI_USAGE, "template scale needs a template NAME");
	if (arg_int("count", a->pos[1], 0, INT64_MAX, &count, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (deadline != NULL &&
	    arg_deadline("--deadline", deadline, ARG_DEADLINE_MAX_MS, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	body = json_pack("{s:I}", "count", (json_int_t)count);
	if (body == NULL || (deadline != NULL &&
	    json_object_set_new(body, "deadline", json_string(deadline)) != 0)) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	if (c->out == OUT_TABLE) {
		if ((path = template_path(name, "")) == NULL) {
			rc = cli_fail(CLI_USAGE, "out of memory");
			goto done;
		}
		if ((rc = cli_call_json(c, "GET", path, NULL, &r)) != CLI_OK)
			goto done;
		if (json_is_integer(v = json_object_get(r.json, "desired")))
			was = json_integer_value(v);
		httpc_resp_free(&r);
		free(path);
		path = NULL;
	}
	if ((path = template_path(name, "/scale")) == NULL) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	if ((rc = cli_call_json(c, "POST", path, body, &r)) != CLI_OK)
		goto done;
	desired = json_is_integer(v = json_object_get(r.json, "desired")) ?
	    json_integer_value(v) : count;
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	else if (was < 0)
		cli_say(c, "template %s: desired %lld", name, (long long)desired);
	else if (was == desired)
		cli_say(c, "template %s: desired %lld (unchanged)", name, (long long)desired);
	else
		cli_say(c, "template %s: desired %lld (was %lld)", name, (long long)desired,
		    (long long)was);
	httpc_resp_free(&r);
	rc = cli_finish(c);
done:
	free(path);
	json_decref(body);
	return rc;
}

static const struct opt_spec apply_opts[] = {
	{ "file", 'f', "FILE", "the template as a JSON file; - reads stdin", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec scale_opts[] = {
	{ "deadline", 0, "WHEN", "workers removed drain until WHEN: RFC 3339, or 30m from now", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_template_entries[] = {
	{
		.name = "list",
		.usage = "",
		.help = "list templates with their live workers, bounds and capacity",
		.min_pos = 0,
		.max_pos = 0,
		.exec = template_list,
	},
	{
		.name = "get",
		.usage = "NAME",
		.help = "show one template, with its workers by state",
		.min_pos = 1,
		.max_pos = 1,
		.exec = template_get,
	},
	{
		.name = "apply",
		.usage = "-f FILE",
		.help = "create or replace the template a JSON file names",
		.opts = apply_opts,
		.min_pos = 0,
		.max_pos = 0,
		.exec = template_apply,
	},
	{
		.name = "scale",
		.usage = "NAME N [--deadline WHEN]",
		.help = "set a template's desired count of workers",
		.opts = scale_opts,
		.min_pos = 2,
		.max_pos = 2,
		.exec = template_scale,
	},
	{ .name = NULL }
};
