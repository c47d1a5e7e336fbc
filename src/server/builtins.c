/*
 * The built-in actions of runbooks. Each takes its arguments (already
 * substituted from the run's parameters), does its one thing through the
 * same domain calls the API uses (so the same checks, events and audit
 * trail), or in a dry run says what it would do and changes nothing.
 *
 * A built-in returns 0 when done, -1 when it failed (its output says why)
 * or 1 to be called again: the long ones (db.backup, the prunes) work in
 * slices so the loop is never held for long.
 *
 * Arguments are data handed to C code: none reaches a shell, SQL takes them
 * bound, and the one that names a file (db.backup's path) keeps what a
 * parameter wrote in it inside the directory the runbook names.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"

struct barg {
	const char *name;
	enum param_type type;
	int is_required;
};

struct builtin {
	const char *name;
	const struct barg *args;
	int (*run)(struct bctx *c);
};


/* What a built-in says: a line of its output. */
void
bc_say(struct bctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(c->out, fmt, ap);
	va_end(ap);
	sbuf_putc(c->out, '\n');
}

static const char *
arg_str(struct bctx *c, const char *name)
{
	json_t *v = json_object_get(c->args, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A worker argument (name or id): its id and row. */
static json_t *
arg_worker(struct bctx *c, int64_t *id)
{
	json_t *v = json_object_get(c->args, "worker"), *w;
	struct op_err err = { 0 };
	char buf[32];
	const char *key = buf;

	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	else
		key = json_string_value(v);
	if (worker_resolve(c->app->store, key, id, &err) != 0 ||
	    (w = worker_get(c->app->store, *id, &err)) == NULL) {
		bc_say(c, "no worker %s", key ? key : "(none given)");
		return NULL;
	}
	return w;
}

static int
worker_action(struct bctx *c, enum worker_action a)
{
	struct op_err err = { 0 };
	json_t *w, *body = NULL, *out = NULL;
	enum worker_state from, to;
	const char *act = worker_action_name(a);
	char why[256], name[128];
	int64_t id;
	int rc;

	if ((w = arg_worker(c, &id)) == NULL)
		return -1;
	/* A copy: the worker's JSON goes before the step is done with its name. */
	snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(w, "name")));
	/* A step that finds its work done succeeds: a runbook can be run again. */
	if (worker_state_parse(json_string_value(json_object_get(w, "state")), &from) == 0 &&
	    from == worker_action_goal(a)) {
		bc_say(c, "worker %s is %s already: nothing to do", name, worker_state_name(from));
		json_decref(w);
		return 0;
	}
	if (worker_state_parse(json_string_value(json_object_get(w, "state")), &from) != 0 ||
	    worker_action_target(a, from, &to, why, sizeof(why)) != 0) {
		bc_say(c, "cannot %s worker %s: %s", act, name, why);
		json_decref(w);
		return -1;
	}
	if (c->is_dry) {
		long long n = (long long)json_integer_value(json_object_get(w, "instance_count"));
		int is_forced = (a == WORKER_ACT_STOP || a == WORKER_ACT_TERMINATE) &&
		    json_is_true(json_object_get(c->args, "force"));

		bc_say(c, "would %s worker %s%s (%s, %lld instance%s): %s -> %s", act, name,
		    is_forced ? " with force" : "", json_string_value(json_object_get(w, "health")),
		    n, n == 1 ? "" : "s", worker_state_name(from), worker_state_name(to));
		json_decref(w);
		return 0;
	}
	json_decref(w);
	if (a == WORKER_ACT_DRAIN && arg_str(c, "deadline") != NULL)
		body = json_pack("{s:s}", "deadline", arg_str(c, "deadline"));
	else if ((a == WORKER_ACT_STOP || a == WORKER_ACT_TERMINATE) &&
	    json_is_true(json_object_get(c->args, "force")))
		body = json_pack("{s:b}", "force", 1);
	rc = worker_act(c->app, id, a, body, c->actor, &out, &err);
	json_decref(body);
	if (rc != 0) {
		bc_say(c, "cannot %s worker %s: %s", act, name, err.message);
		return -1;
	}
	bc_say(c, "worker %s: %s -> %s", name, worker_state_name(from),
	    json_string_value(json_object_get(out, "state")));
	json_decref(out);
	return 0;
}

static int b_cordon(struct bctx *c) { return worker_action(c, WORKER_ACT_CORDON); }
static int b_uncordon(struct bctx *c) { return worker_action(c, WORKER_ACT_UNCORDON); }
static int b_drain(struct bctx *c) { return worker_action(c, WORKER_ACT_DRAIN); }
static int b_wstop(struct bctx *c) { return worker_action(c, WORKER_ACT_STOP); }
static int b_wterminate(struct bctx *c) { return worker_action(c, WORKER_ACT_TERMINATE); }

static int
b_scale(struct bctx *c)
{
	struct op_err err = { 0 };
	const char *name = arg_str(c, "template");
	int64_t count = json_integer_value(json_object_get(c->args, "count"));
	json_t *t = template_get(c->app->store, name, &err), *body, *out = NULL;
	int64_t min, max, was;

	if (t == NULL) {
		bc_say(c, "no template %s", name);
		return -1;
	}
	min = json_integer_value(json_object_get(t, "min"));
	max = json_integer_value(json_object_get(t, "max"));
	was = json_integer_value(json_object_get(t, "desired"));
	json_decref(t);
	if (count < min || count > max) {
		bc_say(c, "cannot scale template %s to %lld: its min is %lld and its max %lld", name,
		    (long long)count, (long long)min, (long long)max);
		return -1;
	}
	if (c->is_dry) {
		bc_say(c, "would scale template %s from %lld to %lld workers", name, (long long)was,
		    (long long)count);
		return 0;
	}
	body = json_pack("{s:I}", "count", (json_int_t)count);
	if (arg_str(c, "deadline") != NULL)
		json_object_set_new(body, "deadline", json_string(arg_str(c, "deadline")));
	if (scaler_scale(c->app, name, body, c->actor, &out, &err) != 0) {
		json_decref(body);
		bc_say(c, "cannot scale template %s: %s", name, err.message);
		return -1;
	}
	json_decref(body);
	json_decref(out);
	bc_say(c, "template %s: desired %lld -> %lld workers", name, (long long)was, (long long)count);
	return 0;
}

/* One instance action, by id; quiet leaves the saying to the caller. */
static int
inst_action(struct bctx *c, int64_t id, enum inst_action a, const char *extra)
{
	struct op_err err = { 0 };
	json_t *in = instance_get(c->app->store, id, &err), *out = NULL;
	enum inst_state from, to;
	char why[256];
	const char *act = inst_action_name(a);

	if (in == NULL) {
		bc_say(c, "no instance %lld", (long long)id);
		return -1;
	}
	if (inst_state_parse(json_string_value(json_object_get(in, "state")), &from) != 0 ||
	    inst_action_target(a, from, &to, why, sizeof(why)) != 0) {
		bc_say(c, "cannot %s instance %lld: %s", act, (long long)id, why);
		json_decref(in);
		return -1;
	}
	json_decref(in);
	if (c->is_dry) {
		bc_say(c, "would %s instance %lld%s: %s -> %s", act, (long long)id, extra,
		    inst_state_name(from), inst_state_name(to));
		return 0;
	}
	if (instance_act(c->app->store, id, a, NULL, c->actor, &out, &err) != 0) {
		bc_say(c, "cannot %s instance %lld: %s", act, (long long)id, err.message);
		return -1;
	}
	bc_say(c, "instance %lld%s: %s -> %s", (long long)id, extra, inst_state_name(from),
	    json_string_value(json_object_get(out, "state")));
	json_decref(out);
	return 0;
}

static int64_t
arg_id(struct bctx *c)
{
	return json_integer_value(json_object_get(c->args, "instance"));
}

static int b_istop(struct bctx *c) { return inst_action(c, arg_id(c), INST_ACT_STOP, ""); }
static int b_iterminate(struct bctx *c) { return inst_action(c, arg_id(c), INST_ACT_TERMINATE, ""); }
static int b_iretry(struct bctx *c) { return inst_action(c, arg_id(c), INST_ACT_RETRY, ""); }

int64_t
bc_duration(struct bctx *c, const char *name)
{
	int64_t ms = 0;

	duration_parse(arg_str(c, name), &ms);
	return ms;
}

/*
 * Instances in a state since before now - older_than (by their last
 * transition), terminated or, when failed, retried. O(instances in that
 * state), through the state index and each one's last transition.
 */
static int
b_recover(struct bctx *c)
{
	const char *state = arg_str(c, "state"), *action = arg_str(c, "action");
	int64_t older = bc_duration(c, "older_than"), limit = 100, cutoff = now_ms() - older;
	enum inst_action a = INST_ACT_TERMINATE;
	enum inst_state st_enum;
	sqlite3_stmt *st;
	int64_t *ids = NULL, *since = NULL;
	size_t n = 0, cap = 0, capb = 0, ok = 0;
	char d[32];

	if (json_is_integer(json_object_get(c->args, "limit")))
		limit = json_integer_value(json_object_get(c->args, "limit"));
	if (inst_state_parse(state, &st_enum) != 0) {
		bc_say(c, "no instance state %s", state ? state : "(none given)");
		return -1;
	}
	if (action != NULL && strcmp(action, "retry") == 0)
		a = INST_ACT_RETRY;
	else if (action != NULL && strcmp(action, "terminate") != 0) {
		bc_say(c, "action must be terminate or retry, not %s", action);
		return -1;
	}
	st = store_stmt(c->app->store, "SELECT i.id, (SELECT max(t.at) FROM transitions t "
	    "WHERE t.instance_id = i.id) AS since FROM instances i WHERE i.state = ? "
	    "AND since <= ? ORDER BY i.id LIMIT ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, cutoff);
	sqlite3_bind_int64(st, 3, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&ids, &cap, n, sizeof(*ids)) != 0 ||
		    array_grow(&since, &capb, n, sizeof(*since)) != 0)
			break;
		ids[n] = sqlite3_column_int64(st, 0);
		since[n++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	bc_say(c, "%zu instance%s %s for more than %s", n, n == 1 ? "" : "s", state,
	    duration_format(older, d, sizeof(d)));
	for (size_t i = 0; i < n; i++) {
		char t[40], extra[80];

		snprintf(extra, sizeof(extra), " (%s since %s)", state,
		    time_format_ms(since[i], t, sizeof(t), 0));
		if (inst_action(c, ids[i], a, extra) == 0)
			ok++;
	}
	free(ids);
	free(since);
	if (n > 0)
		bc_say(c, "%s %zu of %zu", c->is_dry ? "would recover" : "recovered", ok, n);
	return ok == n ? 0 : -1;
}

struct backup_state {
	struct backup_job *job;
	char path[PATH_BUF_MAX];
};

static void
backup_end(struct bctx *c, struct backup_state *bs)
{
	backup_job_free(bs->job);
	free(bs);
	c->state = NULL;
}

static int64_t
db_pages(struct store *s, int64_t *page_size)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT page_count, page_size FROM pragma_page_count, "
	    "pragma_page_size");
	int64_t n = 0;

	*page_size = 4096;
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		*page_size = sqlite3_column_int64(st, 1);
	}
	if (st != NULL)
		sqlite3_reset(st);
	return n;
}

/*
 * A path a parameter wrote (in whole or in part) is a name inside the
 * directory the runbook's own text chose, never a way out of it: relative
 * (so in STATE_DIR/backups) unless the runbook's text starts with '/' before
 * its reference, and with no ".." among its parts. Else an operator's value
 * could put the database (the whole site, its tokens' hashes) anywhere
 * outpostd may write: under web_dir to be served, or as a file whose mere
 * presence breaks something (a directory of sudoers or cron files).
 */
static int
backup_path_is_contained(struct bctx *c, const char *p)
{
	json_t *w = json_object_get(c->written, "path");
	const char *written = json_is_string(w) ? json_string_value(w) : "";

	if (strstr(written, "{{") == NULL)
		return 1;	/* the runbook's own text */
	if (p[0] == '/' && written[0] != '/') {
		bc_say(c, "the backup's path %s comes from a parameter: it must be relative "
		    "(a file in STATE_DIR/backups)", p);
		return 0;
	}
	for (const char *q = p; *q != '\0'; q += strcspn(q, "/")) {
		q += strspn(q, "/");
		if (strncmp(q, "..", 2) == 0 && (q[2] == '/' || q[2] == '\0')) {
			bc_say(c, "the backup's path %s comes from a parameter: it must not climb out "
			    "of its directory with ..", p);
			return 0;
		}
	}
	return 1;
}

/*
 * A backup (backup.c's job: SQLite's online backup, then its check) into a
 * file: path, or backups/outpost-TIME.db in the state directory; a relative
 * path is taken in that directory. The job writes PATH.part-XXXXXX and links
 * it to PATH, beside its manifest PATH.json, only once it is whole and
 * checked; it never replaces a file.
 */
static int
b_backup(struct bctx *c)
{
	struct backup_state *bs = c->state;
	struct store *s = c->app->store;
	int64_t psize, pages;
	char why[PATH_MSG_BUF];
	int rc;

	if (bs != NULL && c->is_cancelled) {
		backup_end(c, bs);
		return -1;
	}
	if (bs == NULL) {
		const char *p = arg_str(c, "path");
		char dir[PATH_BUF_MAX], stamp[40];
		struct stat sb;
		int n;

		if (p != NULL && !backup_path_is_contained(c, p))
			return -1;
		if ((bs = c->state = calloc(1, sizeof(*bs))) == NULL)
			return -1;
		snprintf(dir, sizeof(dir), "%s/backups", c->app->cfg.state_dir);
		if (p == NULL || *p == '\0') {
			time_format_ms(now_ms(), stamp, sizeof(stamp), 0);
			for (char *q = stamp; *q; q++)
				if (*q == ':' || *q == '-')
					memmove(q, q + 1, strlen(q));
			n = snprintf(bs->path, sizeof(bs->path), "%s/outpost-%s.db", dir, stamp);
		} else if (p[0] == '/') {
			n = snprintf(bs->path, sizeof(bs->path), "%s", p);
		} else {
			n = snprintf(bs->path, sizeof(bs->path), "%s/%s", dir, p);
		}
		/* A path too long is refused, never cut into another file's name. */
		if (n < 0 || (size_t)n >= sizeof(bs->path) - sizeof(".json.part-XXXXXX")) {
			bc_say(c, "the backup's path is longer than %zu bytes",
			    sizeof(bs->path) - sizeof(".json.part-XXXXXX") - 1);
			backup_end(c, bs);
			return -1;
		}
		pages = db_pages(s, &psize);
		if (stat(bs->path, &sb) == 0) {
			bc_say(c, "%s exists: a backup never replaces a file; name another path",
			    bs->path);
			backup_end(c, bs);
			return -1;
		}
		if (c->is_dry) {
			bc_say(c, "would back up the database (%lld pages, %lld KiB) to %s, then check "
			    "the copy", (long long)pages, (long long)(pages * psize / 1024), bs->path);
			backup_end(c, bs);
			return 0;
		}
		if ((bs->job = backup_job_start(s, bs->path, why, sizeof(why))) == NULL) {
			bc_say(c, "%s", why);
			backup_end(c, bs);
			return -1;
		}
	}
	rc = backup_job_step(bs->job, why, sizeof(why));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		bc_say(c, "%s", why);
		backup_end(c, bs);
		return -1;
	}
	{
		json_t *m = backup_job_manifest(bs->job);

		bc_say(c, "backed up the database (%lld KiB, schema version %lld, last event %lld) to %s",
		    (long long)(json_integer_value(json_object_get(m, "size_bytes")) / 1024),
		    (long long)json_integer_value(json_object_get(m, "schema_version")),
		    (long long)json_integer_value(json_object_get(m, "event_seq")), bs->path);
		bc_say(c, "checked the copy: integrity_check ok, every table's rows and the last event "
		    "as in the database; SHA-256 %s, in %s.json",
		    json_string_value(json_object_get(m, "sha256")), bs->path);
	}
	backup_end(c, bs);
	return 0;
}

/*
 * PRAGMA integrity_check (quick_check with quick) reads every page: on a big
 * database, seconds. It runs in a thread of its own on a connection of its
 * own, read-only (WAL lets it read while the loop writes: it checks the
 * database as it was when it began), and the step looks every few
 * milliseconds whether it is done. The thread touches nothing but its own
 * connection and this state; done is set last.
 */
struct check_state {
	pthread_t thread;
	sqlite3 *db;
	int is_quick;
	char path[PATH_BUF_MAX];
	struct sbuf lines;	/* the problems, a line each (the first 50) */
	int64_t problems;
	char error[300];	/* the check could not run */
	int done;		/* atomic: the thread is finished with the above */
};

static void *
check_thread(void *arg)
{
	struct check_state *cs = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_open_v2(cs->path, &cs->db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(cs->db, 5000);
		rc = sqlite3_prepare_v2(cs->db, cs->is_quick ? "PRAGMA quick_check" :
		    "PRAGMA integrity_check", -1, &st, NULL);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		rc = SQLITE_OK;
		if (line != NULL && strcmp(line, "ok") == 0)
			continue;
		if (++cs->problems <= 50)
			sbuf_printf(&cs->lines, "%s\n", line ? line : "(null)");
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		snprintf(cs->error, sizeof(cs->error), "%s", cs->db ? sqlite3_errmsg(cs->db) :
		    sqlite3_errstr(rc));
	sqlite3_finalize(st);
	__atomic_store_n(&cs->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
check_end(struct bctx *c, struct check_state *cs)
{
	pthread_join(cs->thread, NULL);
	sqlite3_close(cs->db);
	sbuf_free(&cs->lines);
	free(cs);
	c->state = NULL;
}

static int
b_check(struct bctx *c)
{
	struct check_state *cs = c->state;
	struct store *s = c->app->store;
	const char *what;
	int64_t psize, pages;

	if (cs != NULL && c->is_cancelled) {
		/* Safe from another thread; the pragma stops at its next page. */
		if (__atomic_load_n(&cs->done, __ATOMIC_ACQUIRE) == 0 && cs->db != NULL)
			sqlite3_interrupt(cs->db);
		check_end(c, cs);
		return -1;
	}
	if (cs == NULL) {
		int is_quick = json_is_true(json_object_get(c->args, "quick"));
		const char *path = sqlite3_db_filename(store_db(s), "main");

		pages = db_pages(s, &psize);
		if (c->is_dry) {
			bc_say(c, "would run %s over the database's %lld pages (%lld KiB); it changes "
			    "nothing", is_quick ? "quick_check" : "integrity_check", (long long)pages,
			    (long long)(pages * psize / 1024));
			return 0;
		}
		if ((cs = calloc(1, sizeof(*cs))) == NULL)
			return -1;
		cs->is_quick = is_quick;
		snprintf(cs->path, sizeof(cs->path), "%s", path ? path : "");
		sbuf_init(&cs->lines);
		if (thread_start(&cs->thread, check_thread, cs) != 0) {
			bc_say(c, "cannot start the check: %s", strerror(errno));
			free(cs);
			return -1;
		}
		c->state = cs;
		return 1;
	}
	if (__atomic_load_n(&cs->done, __ATOMIC_ACQUIRE) == 0)
		return 1;
	what = cs->is_quick ? "quick_check" : "integrity_check";
	pages = db_pages(s, &psize);
	if (cs->error[0] != '\0') {
		bc_say(c, "%s could not run: %s", what, cs->error);
		check_end(c, cs);
		return -1;
	}
	if (cs->problems > 0) {
		sbuf_append(c->out, cs->lines.p, cs->lines.len);
		bc_say(c, "%s found %lld problem%s in %lld pages", what, (long long)cs->problems,
		    cs->problems == 1 ? "" : "s", (long long)pages);
		check_end(c, cs);
		return -1;
	}
	bc_say(c, "%s: ok (%lld pages, %lld KiB)", what, (long long)pages,
	    (long long)(pages * psize / 1024));
	check_end(c, cs);
	return 0;
}

static const struct barg a_worker[] = { { "worker", PT_WORKER, 1 }, { NULL, 0, 0 } };
static const struct barg a_drain[] = { { "worker", PT_WORKER, 1 }, { "deadline", PT_STRING, 0 },
	{ NULL, 0, 0 } };
static const struct barg a_wend[] = { { "worker", PT_WORKER, 1 }, { "force", PT_BOOL, 0 },
	{ NULL, 0, 0 } };
static const struct barg a_scale[] = { { "template", PT_TEMPLATE, 1 }, { "count", PT_INT, 1 },
	{ "deadline", PT_STRING, 0 }, { NULL, 0, 0 } };
static const struct barg a_inst[] = { { "instance", PT_INSTANCE, 1 }, { NULL, 0, 0 } };
static const struct barg a_recover[] = { { "state", PT_STRING, 1 },
	{ "older_than", PT_DURATION, 1 }, { "action", PT_STRING, 0 }, { "limit", PT_INT, 0 },
	{ NULL, 0, 0 } };
static const struct barg a_eprune[] = { { "older_than", PT_DURATION, 1 }, { "keep", PT_INT, 0 },
	{ NULL, 0, 0 } };
static const struct barg a_iprune[] = { { "older_than", PT_DURATION, 1 }, { NULL, 0, 0 } };
static const struct barg a_backup[] = { { "path", PT_STRING, 0 }, { NULL, 0, 0 } };
static const struct barg a_check[] = { { "quick", PT_BOOL, 0 }, { NULL, 0, 0 } };

static const struct builtin builtins[] = {
	{ "worker.cordon", a_worker, b_cordon },
	{ "worker.uncordon", a_worker, b_uncordon },
	{ "worker.drain", a_drain, b_drain },
	{ "worker.stop", a_wend, b_wstop },
	{ "worker.terminate", a_wend, b_wterminate },
	{ "template.scale", a_scale, b_scale },
	{ "instance.stop", a_inst, b_istop },
	{ "instance.terminate", a_inst, b_iterminate },
	{ "instance.retry", a_inst, b_iretry },
	{ "instances.recover_stuck", a_recover, b_recover },
	{ "events.prune", a_eprune, b_events_prune },
	{ "instances.prune", a_iprune, b_instances_prune },
	{ "db.backup", a_backup, b_backup },
	{ "db.check", a_check, b_check },
	{ NULL, NULL, NULL },
};

const struct builtin *
builtin_find(const char *name)
{
	for (const struct builtin *b = builtins; b->name != NULL; b++)
		if (strcmp(b->name, name) == 0)
			return b;
	return NULL;
}

const char *
builtin_name(const struct builtin *b)
{
	return b->name;
}

int
builtin_run(const struct builtin *b, struct bctx *c)
{
	return b->run(c);
}

/* Does v, a literal or what a reference gave, fit the argument? */
static int
arg_fits(const struct barg *a, json_t *v, const char *field, struct op_err *err)
{
	int64_t ms;
	int ok;

	switch (a->type) {
	case PT_WORKER:
		ok = (json_is_string(v) && json_string_length(v) > 0) ||
		    (json_is_integer(v) && json_integer_value(v) > 0);
		break;
	case PT_INT:
		ok = json_is_integer(v) && json_integer_value(v) >= 0;
		break;
	case PT_INSTANCE:
		ok = json_is_integer(v) && json_integer_value(v) > 0;
		break;
	case PT_BOOL:
		ok = json_is_boolean(v);
		break;
	case PT_DURATION:
		ok = json_is_string(v) && duration_parse(json_string_value(v), &ms) == 0;
		break;
	default:
		ok = json_is_string(v) && json_string_length(v) > 0;
		break;
	}
	if (ok)
		return 0;
	op_err_set(err, 400, "invalid_argument", field, "%s must be %s", field,
	    a->type == PT_WORKER ? "a worker's name or id" : a->type == PT_INT ?
	    "a whole number of 0 or more" : a->type == PT_INSTANCE ? "an instance id" :
	    a->type == PT_BOOL ? "true or false" : a->type == PT_DURATION ?
	    "a duration such as \"10m\"" : "a non-empty string");
	return -1;
}

static int
is_ref(json_t *v)
{
	return json_is_string(v) && strstr(json_string_value(v), "{{") != NULL;
}

/*
 * At load (is_run 0): the arguments are known, the required ones there, and
 * literals of the right type. At run (is_run 1), after substitution: every
 * value of the right type, a null meaning "not given".
 */
static int
args_check(const struct builtin *b, json_t *args, const char *prefix, int is_run,
    struct op_err *err)
{
	const char *key;
	json_t *v;
	char f[96];

	json_object_foreach(args, key, v) {
		const struct barg *a;

		for (a = b->args; a->name != NULL && strcmp(a->name, key) != 0; a++)
			;
		snprintf(f, sizeof(f), "%s.%s", prefix, key);
		if (a->name == NULL) {
			struct sbuf names;

			sbuf_init(&names);
			for (a = b->args; a->name != NULL; a++)
				sbuf_printf(&names, "%s%s", a != b->args ? ", " : "", a->name);
			op_err_set(err, 400, "unknown_field", f, "%s: %s takes %s", f, b->name,
			    names.p ? names.p : "no arguments");
			sbuf_free(&names);
			return -1;
		}
		/* Not given: null, or an empty string from a parameter left empty. */
		if ((json_is_null(v) || (is_run && json_is_string(v) && json_string_length(v) == 0)) &&
		    (is_run || !a->is_required))
			continue;
		if ((is_run || !is_ref(v)) && arg_fits(a, v, f, err) != 0)
			return -1;
	}
	for (const struct barg *a = b->args; a->name != NULL; a++) {
		v = json_object_get(args, a->name);
		if (a->is_required && (v == NULL || json_is_null(v))) {
			snprintf(f, sizeof(f), "%s.%s", prefix, a->name);
			op_err_set(err, 400, "invalid_argument", f, "%s is required%s", f,
			    is_run ? " (its parameter was not given)" : "");
			return -1;
		}
	}
	return 0;
}

int
builtin_args_check(const struct builtin *b, json_t *args, const char *prefix, struct op_err *err)
{
	return args_check(b, args, prefix, 0, err);
}

int
builtin_args_ready(const struct builtin *b, json_t *args, const char *prefix, struct op_err *err)
{
	return args_check(b, args, prefix, 1, err);
}
