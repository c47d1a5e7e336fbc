/*
 * The backups outpostd makes by itself: the schedule (backup_interval, or
 * backup_at, a local time of day), one backup at a time driven in slices on
 * the loop by a timer of its own (backup.c's job, every BACKUP_STEP_MS),
 * the rotation of what it made, and what the last ones did: events
 * (backup.succeeded, backup.failed), log lines, /metrics, the API's status.
 *
 * The rotation removes only names this file makes, outpost-STAMP.db with a
 * milliseconds stamp (20261206T033000.000Z) and a manifest, in backup_dir:
 * never a runbook's db.backup, a backup made before migrations, or anything
 * else there, and never the newest of its own.
 *
 * The last good backup is read from backup_dir at start, so a restart does
 * not reset what /metrics and the backup_stale alert rule see.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"

#define BACKUP_STEP_MS 5	/* between a backup's slices */
#define OWN_PREFIX "outpost-"
#define NAME_BUF_BK 256

static struct {
	struct app *app;
	struct backup_job *job;
	char name[NAME_BUF_BK];
	char trigger[16];	/* schedule or api */
	char actor[160];
	int64_t started_ms;
	lws_sorted_usec_list_t sul;
	int is_loaded;
	int64_t next_due;	/* the schedule's next backup (ms); 0: none */
	int64_t cfg_interval;	/* the settings next_due was reckoned from */
	int cfg_at;
	int64_t last_ok_ms, last_fail_ms, last_size, last_duration_ms;
	char last_ok_name[NAME_BUF_BK], last_fail_name[NAME_BUF_BK];
	char last_fail_reason[400];
	unsigned long long n_ok, n_fail;
} bk = { .cfg_at = -1 };

void
backup_dir_of(const struct server_config *c, char *out, size_t len)
{
	if (c->backup_dir[0] != '\0')
		snprintf(out, len, "%s", c->backup_dir);
	else
		snprintf(out, len, "%s/backups", c->state_dir);
}

/* outpost-20261206T033000.123Z.db: a name the schedule (or the API) made. */
static int
is_own_name(const char *n)
{
	static const char shape[] = "########T######.###Z.db";	/* #: a digit */
	size_t pl = sizeof(OWN_PREFIX) - 1;

	if (strncmp(n, OWN_PREFIX, pl) != 0 || strlen(n + pl) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i] != '\0'; i++) {
		char c = n[pl + i], want = shape[i];

		if (want == '#' ? c < '0' || c > '9' : c != want)
			return 0;
	}
	return 1;
}

/* The last good backup on disk, read once: what a restart must not forget. */
static void
load_last(struct app *a)
{
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX];
	json_t *m;
	int64_t at;

	if (bk.is_loaded)
		return;
	bk.is_loaded = 1;
	bk.app = a;
	backup_dir_of(&a->cfg, dir, sizeof(dir));
	if (backup_newest(dir, path, sizeof(path)) != 0 || (m = backup_manifest_read(path)) == NULL)
		return;
	if (time_parse_rfc3339(json_string_value(json_object_get(m, "created_at")), &at) == 0) {
		bk.last_ok_ms = at;
		bk.last_size = json_integer_value(json_object_get(m, "size_bytes"));
		bk.last_duration_ms = json_integer_value(json_object_get(m, "duration_ms"));
		snprintf(bk.last_ok_name, sizeof(bk.last_ok_name), "%s", strrchr(path, '/') + 1);
	}
	json_decref(m);
}

/* The daily minute's next time after `after` (local time), and the one before it. */
static int64_t
daily_next(int minute, int64_t after, int64_t *prev)
{
	time_t t = (time_t)(after / 1000), at;
	struct tm tm, base;

	localtime_r(&t, &base);
	for (int day = -1; day <= 1; day++) {
		tm = base;
		tm.tm_mday += day;
		tm.tm_hour = minute / 60;
		tm.tm_min = minute % 60;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		at = mktime(&tm);
		if ((int64_t)at * 1000 > after)
			return (int64_t)at * 1000;
		*prev = (int64_t)at * 1000;
	}
	return after + 86400000LL;
}

/* When the next scheduled backup is due, after one that began at `from`. */
static int64_t
due_after(const struct server_config *c, int64_t from)
{
	int64_t prev = 0;

	if (c->backup_interval_ms > 0)
		return from + c->backup_interval_ms;
	if (c->backup_at >= 0)
		return daily_next(c->backup_at, from, &prev);
	return 0;
}

int64_t
backup_allowed_age_ms(const struct server_config *c)
{
	int64_t period = c->backup_interval_ms > 0 ? c->backup_interval_ms :
	    c->backup_at >= 0 ? 86400000LL : 0;

	if (period == 0)
		return 0;
	/* A period, and a tenth of one (a minute at least) for the backup itself. */
	return period + (period / 10 > 60000 ? period / 10 : 60000);
}

int64_t
backup_last_success_ms(void)
{
	if (!bk.is_loaded && the_app != NULL)
		load_last(the_app);
	return bk.last_ok_ms;
}

static void
result_event(const char *type, json_t *data)
{
	struct store *s = bk.app->store;

	if (store_begin(s) != 0) {
		json_decref(data);
		return;
	}
	if (events_append(s, type, "backup", bk.name, 0, bk.actor, data) != 0 ||
	    store_commit(s) != 0) {
		store_rollback(s);
		log_warn("backup.event", "type", type, "error", "the event could not be written",
		    NULL);
	}
}

/* Removes the schedule's old backups beyond backup_keep and backup_max_age. */
static void
rotate(struct app *a, int64_t now)
{
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX], mpath[PATH_BUF_MAX + 8];
	json_t *l, *it;
	size_t i, own = 0, rank = 0;

	if (a->cfg.backup_keep == 0 && a->cfg.backup_max_age_ms == 0)
		return;
	backup_dir_of(&a->cfg, dir, sizeof(dir));
	if ((l = backup_list_dir(dir)) == NULL)
		return;
	json_array_foreach(l, i, it)
		own += is_own_name(json_string_value(json_object_get(it, "name"))) &&
		    json_is_true(json_object_get(it, "verified"));
	/* Newest first: names sort by their stamps. */
	for (i = json_array_size(l); i-- > 0;) {
		const char *name;
		int64_t at = 0;
		int is_old;

		it = json_array_get(l, i);
		name = json_string_value(json_object_get(it, "name"));
		if (!is_own_name(name) || !json_is_true(json_object_get(it, "verified")))
			continue;
		if (rank++ == 0)
			continue;	/* the newest good one stays, whatever the limits */
		time_parse_rfc3339(json_string_value(json_object_get(json_object_get(it, "manifest"),
		    "created_at")), &at);
		is_old = a->cfg.backup_max_age_ms > 0 && at > 0 && at < now - a->cfg.backup_max_age_ms;
		if (!is_old && (a->cfg.backup_keep == 0 || rank <= (size_t)a->cfg.backup_keep))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
		    (size_t)snprintf(mpath, sizeof(mpath), "%s.json", path) >= sizeof(mpath))
			continue;
		if (unlink(path) != 0 && errno != ENOENT) {
			log_warn("backup.removed", "name", name, "error", strerror(errno), NULL);
			continue;
		}
		unlink(mpath);
		log_info("backup.removed", "name", name, "reason", is_old ? "older than "
		    "backup_max_age" : "more than backup_keep", NULL);
	}
	assert(rank == own);
	json_decref(l);
}

static void
job_end(int rc, const char *why)
{
	struct app *a = bk.app;
	int64_t now = now_ms();

	if (rc == 0) {
		json_t *m = backup_job_manifest(bk.job);

		bk.n_ok++;
		bk.last_ok_ms = now;
		bk.last_size = json_integer_value(json_object_get(m, "size_bytes"));
		bk.last_duration_ms = now - bk.started_ms;
		snprintf(bk.last_ok_name, sizeof(bk.last_ok_name), "%s", bk.name);
		log_info("backup.succeeded", "name", bk.name, "trigger", bk.trigger,
		    LOG_INT("ms", bk.last_duration_ms),
		    "sha256", json_string_value(json_object_get(m, "sha256")), NULL);
		result_event("backup.succeeded", json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:I}",
		    "name", bk.name, "trigger", bk.trigger,
		    "size_bytes", json_object_get(m, "size_bytes"),
		    "event_seq", json_object_get(m, "event_seq"),
		    "schema_version", json_object_get(m, "schema_version"),
		    "sha256", json_object_get(m, "sha256"),
		    "duration_ms", (json_int_t)bk.last_duration_ms));
	} else {
		bk.n_fail++;
		bk.last_fail_ms = now;
		snprintf(bk.last_fail_name, sizeof(bk.last_fail_name), "%s", bk.name);
		snprintf(bk.last_fail_reason, sizeof(bk.last_fail_reason), "%s", why);
		log_error("backup.failed", "name", bk.name, "trigger", bk.trigger, "reason", why,
		    NULL);
		result_event("backup.failed", json_pack("{s:s, s:s, s:s}", "name", bk.name,
		    "trigger", bk.trigger, "reason", why));
	}
	backup_job_free(bk.job);
	bk.job = NULL;
	if (rc == 0)
		rotate(a, now);
}

static void
job_run(lws_sorted_usec_list_t *sul)
{
	char why[600] = "";
	int rc;

	if (bk.job == NULL)
		return;
	rc = backup_job_step(bk.job, why, sizeof(why));
	if (rc == 1) {
		lws_sul_schedule(bk.app->lws, 0, sul, job_run, BACKUP_STEP_MS * LWS_US_PER_MS);
		return;
	}
	job_end(rc, why);
}

/* Starts a backup named after now in backup_dir; -1 with why. */
static int
start(struct app *a, const char *trigger, const char *actor, char *why, size_t len)
{
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX], stamp[40];

	assert(bk.job == NULL);
	bk.app = a;
	bk.started_ms = now_ms();
	time_format_ms(bk.started_ms, stamp, sizeof(stamp), 1);
	for (char *q = stamp; *q; q++)
		if (*q == ':' || *q == '-')
			memmove(q, q + 1, strlen(q));
	snprintf(bk.name, sizeof(bk.name), OWN_PREFIX "%s.db", stamp);
	assert(is_own_name(bk.name));
	snprintf(bk.trigger, sizeof(bk.trigger), "%s", trigger);
	snprintf(bk.actor, sizeof(bk.actor), "%s", actor);
	backup_dir_of(&a->cfg, dir, sizeof(dir));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, bk.name) >= sizeof(path)) {
		snprintf(why, len, "backup_dir is too long for a backup's path");
		job_end(-1, why);
		return -1;
	}
	if ((bk.job = backup_job_start(a->store, path, why, len)) == NULL) {
		job_end(-1, why);
		return -1;
	}
	log_info("backup.started", "name", bk.name, "trigger", trigger, "dir", dir, NULL);
	lws_sul_schedule(a->lws, 0, &bk.sul, job_run, BACKUP_STEP_MS * LWS_US_PER_MS);
	return 0;
}

void
backup_tick(struct app *a, int64_t now)
{
	char why[600];

	if (a->cfg.drill || a->is_draining)
		return;
	if (!bk.is_loaded) {
		char dir[PATH_BUF_MAX];

		load_last(a);
		/* Parts a dead server left: STATE_DIR/backups is runs_recover()'s. */
		backup_dir_of(&a->cfg, dir, sizeof(dir));
		if (a->cfg.backup_dir[0] != '\0')
			backup_remove_parts(dir);
	}
	if (a->cfg.backup_interval_ms != bk.cfg_interval || a->cfg.backup_at != bk.cfg_at) {
		int64_t prev = 0;

		bk.cfg_interval = a->cfg.backup_interval_ms;
		bk.cfg_at = a->cfg.backup_at;
		bk.next_due = 0;
		if (a->cfg.backup_interval_ms > 0) {
			bk.next_due = bk.last_ok_ms > 0 ? bk.last_ok_ms + a->cfg.backup_interval_ms : now;
		} else if (a->cfg.backup_at >= 0) {
			bk.next_due = daily_next(a->cfg.backup_at, now, &prev);
			if (prev > 0 && bk.last_ok_ms < prev)
				bk.next_due = now;	/* the last one was missed: now */
		}
	}
	if (bk.next_due == 0 || now < bk.next_due || bk.job != NULL)
		return;
	bk.next_due = due_after(&a->cfg, now);
	start(a, "schedule", "system", why, sizeof(why));
}

int
backup_start_now(struct app *a, const char *actor, char *name, size_t len, struct op_err *err)
{
	char why[600];

	if (!bk.is_loaded)
		load_last(a);
	if (bk.job != NULL) {
		op_err_set(err, 409, "backup_running", "", "a backup is running: %s (follow it with "
		    "GET /api/v1/backups)", bk.name);
		return -1;
	}
	if (start(a, "api", actor, why, sizeof(why)) != 0) {
		op_err_set(err, 500, "backup_failed", "", "%s", why);
		return -1;
	}
	snprintf(name, len, "%s", bk.name);
	return 0;
}

void
backup_stop(void)
{
	if (bk.job == NULL)
		return;
	lws_sul_cancel(&bk.sul);
	log_warn("backup.abandoned", "name", bk.name, "detail", "the server stopped during the "
	    "backup; its part file is removed", NULL);
	backup_job_free(bk.job);
	bk.job = NULL;
}

static json_t *
time_or_null(int64_t ms)
{
	char b[40];

	return ms > 0 ? json_string(time_format_ms(ms, b, sizeof(b), 1)) : json_null();
}

json_t *
backup_status(struct app *a)
{
	char dir[PATH_BUF_MAX], d[32], at[16];
	json_t *running = json_null(), *ok = json_null(), *bad = json_null(), *sched;

	if (!bk.is_loaded)
		load_last(a);
	backup_dir_of(&a->cfg, dir, sizeof(dir));
	if (bk.job != NULL) {
		int64_t done, total;

		backup_job_progress(bk.job, &done, &total);
		running = json_pack("{s:s, s:o, s:s, s:I, s:I}", "name", bk.name, "started_at",
		    time_or_null(bk.started_ms), "trigger", bk.trigger, "pages_done",
		    (json_int_t)done, "pages_total", (json_int_t)total);
	}
	if (bk.last_ok_ms > 0)
		ok = json_pack("{s:s, s:o, s:I, s:I}", "name", bk.last_ok_name, "at",
		    time_or_null(bk.last_ok_ms), "size_bytes", (json_int_t)bk.last_size,
		    "duration_ms", (json_int_t)bk.last_duration_ms);
	if (bk.last_fail_ms > 0)
		bad = json_pack("{s:s, s:o, s:s}", "name", bk.last_fail_name, "at",
		    time_or_null(bk.last_fail_ms), "reason", bk.last_fail_reason);
	if (a->cfg.backup_at >= 0)
		snprintf(at, sizeof(at), "%02d:%02d", (a->cfg.backup_at / 60) % 24,
		    a->cfg.backup_at % 60);
	sched = json_pack("{s:o, s:o, s:I, s:o, s:o}",
	    "interval", a->cfg.backup_interval_ms > 0 ? json_string(duration_format(
	    a->cfg.backup_interval_ms, d, sizeof(d))) : json_null(),
	    "at", a->cfg.backup_at >= 0 ? json_string(at) : json_null(),
	    "keep", (json_int_t)a->cfg.backup_keep,
	    "max_age", a->cfg.backup_max_age_ms > 0 ? json_string(duration_format(
	    a->cfg.backup_max_age_ms, d, sizeof(d))) : json_null(),
	    "next_at", a->cfg.drill ? json_null() : time_or_null(bk.next_due));
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "backup_dir", dir, "schedule", sched,
	    "running", running, "last_success", ok, "last_failure", bad);
}

void
backup_metrics(struct sbuf *o)
{
	if (!bk.is_loaded && the_app != NULL)
		load_last(the_app);
	sbuf_printf(o, "# HELP outpost_backup_last_success_timestamp_seconds When the last verified "
	    "backup was made (0: none).\n# TYPE outpost_backup_last_success_timestamp_seconds gauge\n"
	    "outpost_backup_last_success_timestamp_seconds %.3f\n", (double)bk.last_ok_ms / 1000.0);
	sbuf_printf(o, "# HELP outpost_backup_last_failure_timestamp_seconds When the last backup "
	    "failed (0: none since the start).\n"
	    "# TYPE outpost_backup_last_failure_timestamp_seconds gauge\n"
	    "outpost_backup_last_failure_timestamp_seconds %.3f\n",
	    (double)bk.last_fail_ms / 1000.0);
	sbuf_printf(o, "# HELP outpost_backup_last_size_bytes The last verified backup's size.\n"
	    "# TYPE outpost_backup_last_size_bytes gauge\noutpost_backup_last_size_bytes %lld\n",
	    (long long)bk.last_size);
	sbuf_printf(o, "# HELP outpost_backup_last_duration_seconds How long the last verified "
	    "backup took, copy and check.\n# TYPE outpost_backup_last_duration_seconds gauge\n"
	    "outpost_backup_last_duration_seconds %.3f\n", (double)bk.last_duration_ms / 1000.0);
	sbuf_printf(o, "# HELP outpost_backups_total Backups made since the start, by result.\n"
	    "# TYPE outpost_backups_total counter\n"
	    "outpost_backups_total{result=\"succeeded\"} %llu\n"
	    "outpost_backups_total{result=\"failed\"} %llu\n", bk.n_ok, bk.n_fail);
	sbuf_printf(o, "# HELP outpost_backup_max_age_seconds How old the last good backup may be "
	    "before it is stale, from the schedule (0: no schedule).\n"
	    "# TYPE outpost_backup_max_age_seconds gauge\noutpost_backup_max_age_seconds %.3f\n",
	    the_app != NULL ? (double)backup_allowed_age_ms(&the_app->cfg) / 1000.0 : 0.0);
}
