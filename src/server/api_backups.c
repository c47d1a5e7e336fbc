/*
 * /api/v1/backups (admin): the backups in backup_dir with their manifests
 * and what the last ones did; starting one now (202: it runs in slices on
 * the loop, as the schedule's do; 409 while one runs); checking one again.
 * A name is a file of backup_dir's own, checked strictly (no '/', no "..",
 * no leading '.', ends in .db), so the routes reach nothing else. Files
 * change without the store knowing: nothing here is cached.
 *
 * The check of a file again (verify) runs on the request: integrity_check
 * and a SHA-256 of the file, about a second for 200 MB, while the loop waits.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "backup.h"

static int
list(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	char dir[PATH_BUF_MAX];
	json_t *items, *out;

	backup_dir_of(&rq->app->cfg, dir, sizeof(dir));
	if ((items = backup_list_dir(dir)) == NULL) {
		op_err_set(&err, 500, "internal", "", "cannot read backup_dir %s: %s", dir,
		    strerror(errno));
		return resp_error(rs, &err);
	}
	out = backup_status(rq->app);
	json_object_set_new(out, "items", items);
	return resp_json(rs, 200, out);
}

static int
create(struct req *rq, struct resp *rs)
{
	static const char *const none[] = { NULL };
	struct op_err err = { 0 };
	char name[256], at[40];
	int64_t seq = events_last_seq(rq->app->store);
	json_t *in = NULL;

	if (rq->body_len > 0) {
		if ((in = req_json_body(rq, &err)) == NULL)
			return resp_error(rs, &err);
		if (jsonv_known(in, "", none, &err) != 0) {
			json_decref(in);
			return resp_error(rs, &err);
		}
		json_decref(in);
	}
	if (backup_start_now(rq->app, rq->actor, name, sizeof(name), &err) != 0)
		return resp_error(rs, &err);
	snprintf(rs->location, sizeof(rs->location), "/api/v1/backups");
	return resp_json(rs, 202, json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", name,
	    "status", "running", "started_at", time_format_ms(now_ms(), at, sizeof(at), 1),
	    "seq", (json_int_t)seq, "follow", "GET /api/v1/backups (running, then last_success or "
	    "last_failure of this name), or the events backup.succeeded and backup.failed after "
	    "seq"));
}

static int
verify(struct req *rq, struct resp *rs)
{
	struct op_err err = { 0 };
	const char *name = rq->params[0];
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX];
	struct stat sb;
	json_t *report = NULL;

	if (!backup_name_is_valid(name)) {
		op_err_set(&err, 400, "invalid_argument", "name", "name must be a backup's file name "
		    "in backup_dir: letters, digits, '.', '_', '-', ending in .db, no leading '.' "
		    "and no \"..\"");
		return resp_error(rs, &err);
	}
	backup_dir_of(&rq->app->cfg, dir, sizeof(dir));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		op_err_set(&err, 404, "not_found", "name", "no backup named %s in backup_dir", name);
		return resp_error(rs, &err);
	}
	backup_verify_file(path, NULL, &report);
	if (report == NULL) {
		op_err_set(&err, 500, "internal", "", "out of memory");
		return resp_error(rs, &err);
	}
	json_object_set_new(report, "name", json_string(name));
	log_info("backup.verified", "name", name,
	    LOG_BOOL("verified", json_is_true(json_object_get(report, "verified"))), NULL);
	return resp_json(rs, 200, report);
}

const struct route api_backups_routes[] = {
	{ "GET", "/api/v1/backups", ROLE_ADMIN, list, NULL, 0 },
	{ "POST", "/api/v1/backups", ROLE_ADMIN, create, NULL, ROUTE_SMALL_BODY },
	{ "POST", "/api/v1/backups/{name}/verify", ROLE_ADMIN, verify, NULL, ROUTE_SMALL_BODY },
	{ NULL, NULL, ROLE_NONE, NULL, NULL, 0 },
};
