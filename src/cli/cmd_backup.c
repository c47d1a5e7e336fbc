/*
 * outpost backup list|create|verify: the server's backups (admin only on
 * the server). create starts one and waits for its result, reading
 * GET /api/v1/backups until the backup is no longer running: exit 0 when it
 * succeeded (verified, under its name), 1 when it failed. verify checks a
 * backup of backup_dir again: exit 0 when good, 1 with its problems.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct column backup_columns[] = {
	{ "NAME", "name", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "CREATED", "manifest.created_at", CELL_PLAIN, TABLE_LEFT, 0, NULL },
	{ "SIZE", "size_bytes", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "SCHEMA", "manifest.schema_version", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "LAST_EVENT", "manifest.event_seq", CELL_PLAIN, TABLE_RIGHT, 0, NULL },
	{ "VERIFIED", "verified", CELL_PLAIN, TABLE_LEFT, 0, fmt_yes_no },
	{ "SHA256", "manifest.sha256", CELL_PLAIN, TABLE_LEFT, 16, NULL },
	{ NULL, NULL, CELL_PLAIN, TABLE_LEFT, 0, NULL }
};

#define WAIT_TRIES 6000		/* create waits this many tenths of a second at most */

static void
say_last(struct cli *c, json_t *st)
{
	json_t *ok = json_object_get(st, "last_success"), *bad = json_object_get(st, "last_failure");

	if (json_is_object(ok))
		cli_say(c, "last good backup: %s at %s", json_string_value(json_object_get(ok,
		    "name")), json_string_value(json_object_get(ok, "at")));
	else
		cli_say(c, "last good backup: none");
	if (json_is_object(bad))
		cli_say(c, "last failure: %s at %s: %s", json_string_value(json_object_get(bad,
		    "name")), json_string_value(json_object_get(bad, "at")),
		    json_string_value(json_object_get(bad, "reason")));
}

static int
backup_list(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	int rc;

	(void)a;
	if ((rc = cli_call_json(c, "GET", "/api/v1/backups", NULL, &r)) != CLI_OK)
		return rc;
	if (c->out == OUT_JSON) {
		cli_print_json(c, r.json);
	} else {
		view_table(c, json_object_get(r.json, "items"), backup_columns);
		say_last(c, r.json);
	}
	httpc_resp_free(&r);
	return cli_finish(c);
}

/* Is the backup named name still running, by the status st? */
static int
is_running(json_t *st, const char *name)
{
	const char *n = json_string_value(json_object_get(json_object_get(st, "running"),
	    "name"));

	return n != NULL && strcmp(n, name) == 0;
}

static int
backup_create(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	char name[256];
	json_t *ok, *bad;
	int rc;

	if ((rc = cli_call_json(c, "POST", "/api/v1/backups", NULL, &r)) != CLI_OK)
		return rc;
	snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(r.json, "name")) ?
	    json_string_value(json_object_get(r.json, "name")) : "");
	httpc_resp_free(&r);
	if (args_has(a, "no-wait")) {
		cli_say(c, "%s", name);
		return cli_finish(c);
	}
	fprintf(stderr, "outpost: backup %s started\n", name);
	for (int i = 0; i < WAIT_TRIES; i++) {
		if ((rc = cli_call_json(c, "GET", "/api/v1/backups", NULL, &r)) != CLI_OK)
			return rc;
		if (!is_running(r.json, name))
			break;
		httpc_resp_free(&r);
		r.json = NULL;
		usleep(100000);
	}
	if (r.json == NULL || is_running(r.json, name)) {
		httpc_resp_free(&r);
		return cli_fail(CLI_REFUSED, "backup %s still runs after %d s: see outpost backup "
		    "list", name, WAIT_TRIES / 10);
	}
	ok = json_object_get(r.json, "last_success");
	bad = json_object_get(r.json, "last_failure");
	if (c->out == OUT_JSON)
		cli_print_json(c, r.json);
	if (json_is_object(ok) && strcmp(json_string_value(json_object_get(ok, "name")), name) ==
	    0) {
		if (c->out != OUT_JSON)
			cli_say(c, "backed up and verified: %s (%lld bytes, %lld ms)", name,
			    (long long)json_integer_value(json_object_get(ok, "size_bytes")),
			    (long long)json_integer_value(json_object_get(ok, "duration_ms")));
		rc = cli_finish(c);
	} else {
		rc = cli_fail(CLI_REFUSED, "backup %s failed: %s", name, json_is_object(bad) &&
		    strcmp(json_string_value(json_object_get(bad, "name")), name) == 0 ?
		    json_string_value(json_object_get(bad, "reason")) : "(no result)");
	}
	httpc_resp_free(&r);
	return rc;
}

static int
backup_verify(struct cli *c, const struct args *a)
{
	struct httpc_resp r;
	json_t *p;
	char *path;
	size_t i;
	int rc, ok;

	if ((path = cli_path("/api/v1/backups/", a->pos[0], "/verify")) == NULL)
		return cli_fail(CLI_USAGE, "which backup? outpost backup verify NAME");
	rc = cli_call_json(c, "POST", path, NULL, &r);
	free(path);
	if (rc != CLI_OK)
		return rc;
	ok = json_is_true(json_object_get(r.json, "verified"));
	if (c->out == OUT_JSON) {
		cli_print_json(c, r.json);
	} else if (ok) {
		cli_say(c, "%s: good (integrity_check ok, schema version %lld, last event %lld%s)",
		    a->pos[0], (long long)json_integer_value(json_object_get(r.json,
		    "schema_version")), (long long)json_integer_value(json_object_get(r.json,
		    "event_seq")), json_is_null(json_object_get(r.json, "manifest")) ?
		    "; no manifest beside it" : "; SHA-256 and counts as its manifest says");
	}
	rc = cli_finish(c);
	if (!ok) {
		fprintf(stderr, "outpost: %s is not a good backup:\n", a->pos[0]);
		json_array_foreach(json_object_get(r.json, "problems"), i, p)
			fprintf(stderr, "  %s\n", json_string_value(p));
		rc = CLI_REFUSED;
	}
	httpc_resp_free(&r);
	return rc;
}

static const struct opt_spec create_opts[] = {
	{ "no-wait", 0, NULL, "print the backup's name and return; do not wait for its result", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_backup_entries[] = {
	{
		.name = "list",
		.usage = "",
		.help = "list the backups in backup_dir, their manifests, the last results",
		.exec = backup_list,
	},
	{
		.name = "create",
		.usage = "[--no-wait]",
		.help = "back up the database now and wait for it to be verified",
		.opts = create_opts,
		.exec = backup_create,
	},
	{
		.name = "verify",
		.usage = "NAME",
		.help = "check a backup of backup_dir again; exit 1 if it is not good",
		.min_pos = 1,
		.max_pos = 1,
		.exec = backup_verify,
	},
	{ .name = NULL }
};
