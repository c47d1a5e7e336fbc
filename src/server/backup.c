/*
 * Backups: the one "copy, then verify" of the store, for the schedule, the
 * API, the db.backup built-in and the backup made before migrations.
 *
 * A copy is SQLite's online backup into PATH.part-XXXXXX (a file of ours
 * alone, made with O_EXCL), BACKUP_PAGES pages a slice, so the loop keeps
 * turning. Writes made through the store's connection meanwhile are copied
 * too (SQLite updates the copy), so the slice that finishes the copy is the
 * moment it stands for: in that same call, with no loop turn between, the
 * source's figures are taken (schema version, each table's rows, the last
 * event's sequence). The copy is then checked on a connection and a thread
 * of its own, read-only (integrity_check, its figures, its SHA-256), and
 * only when its figures are the source's is its manifest linked to
 * PATH.json and the copy to PATH. link() never replaces a file, so a name
 * made while the backup ran fails it, and a file under a backup's name is
 * always a whole, checked backup. A server killed mid-way leaves part files
 * only, removed at the next start (backup_remove_parts()).
 *
 * The schedule (backup_interval or backup_at), the rotation of what it made
 * (its own names only, outpost-STAMP.db with milliseconds, never the newest
 * good one), the last results for /metrics, the API and the alert rule, and
 * the events backup.succeeded and backup.failed live here too.
 */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup.h"

#define PROBLEMS_MAX 20	/* integrity_check's lines kept */

/* What a copy must agree with its source on, at the moment it stands for. */
struct figures {
	int schema;		/* PRAGMA user_version */
	int64_t last_seq;	/* the last event's sequence number (0: none) */
	json_t *counts;		/* {"table": rows} of every table but SQLite's own */
};

/* The check of a file, in a thread of its own: it touches only this. */
struct check {
	char path[PATH_BUF_MAX];
	struct figures fig;
	char sha256[65];
	int64_t size;
	struct sbuf problems;	/* a line a problem */
	int done;		/* atomic: the thread is finished with the above */
};

enum job_phase { JOB_COPY, JOB_CHECK, JOB_DONE };

struct backup_job {
	struct store *s;
	enum job_phase phase;
	sqlite3 *dst;
	sqlite3_backup *b;
	char path[PATH_BUF_MAX];
	char part[PATH_BUF_MAX];	/* PATH.part-XXXXXX */
	int64_t started_ms, copied_ms;
	int64_t pages_done, pages_total, db_bytes;
	struct figures src;
	pthread_t thread;
	int has_thread;
	struct check chk;
	json_t *manifest;
};

static void
figures_free(struct figures *f)
{
	json_decref(f->counts);
	f->counts = NULL;
}

/*
 * The figures of db: O(rows) for the counts (SQLite counts a table by its
 * smallest b-tree). 0, or -1 with why.
 */
static int
figures_read(sqlite3 *db, struct figures *f, char *why, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	memset(f, 0, sizeof(*f));
	f->schema = (int)store_query_int(db, "PRAGMA user_version");
	if ((f->counts = json_object()) == NULL)
		return snprintf(why, len, "out of memory"), -1;
	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
	    "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, len, "cannot read its tables: %s", sqlite3_errmsg(db));
		figures_free(f);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", t);
		int64_t n = sql != NULL ? store_query_int(db, sql) : -1;

		sqlite3_free(sql);
		if (n < 0) {
			snprintf(why, len, "cannot count the rows of %s: %s", t, sqlite3_errmsg(db));
			break;
		}
		json_object_set_new(f->counts, t, json_integer(n));
		if (strcmp(t, "events") == 0)
			f->last_seq = store_query_int(db, "SELECT coalesce(max(seq), 0) FROM events");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_ROW)
			snprintf(why, len, "cannot read its tables: %s", sqlite3_errmsg(db));
		figures_free(f);
		return -1;
	}
	if (f->schema < 0 || f->last_seq < 0) {
		snprintf(why, len, "cannot read its schema version or last event: %s",
		    sqlite3_errmsg(db));
		figures_free(f);
		return -1;
	}
	return 0;
}

/* The SHA-256 of the file at path, in hex: 0 with its size, or -1. */
static int
file_sha256(const char *path, char hex[65], int64_t *size)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	*size = 0;
	if (fd < 0 || ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		*size += r;
	}
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, &n) == 1) {
		for (unsigned int i = 0; i < n && i < 32; i++)
			snprintf(hex + i * 2, 3, "%02x", md[i]);
		rc = 0;
	}
out:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Checks a file: integrity, figures, SHA-256. Problems go to c->problems. */
static void
check_file(struct check *c)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	char why[300];
	int nlines = 0, rc;

	if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sbuf_printf(&c->problems, "cannot open it: %s\n", db ? sqlite3_errmsg(db) :
		    "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		sbuf_printf(&c->problems, "integrity_check cannot run: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		if (line != NULL && strcmp(line, "ok") != 0 && nlines++ < PROBLEMS_MAX)
			sbuf_printf(&c->problems, "integrity_check: %s\n", line);
	}
	if (rc != SQLITE_DONE)
		sbuf_printf(&c->problems, "integrity_check: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (c->problems.len == 0 && figures_read(db, &c->fig, why, sizeof(why)) != 0)
		sbuf_printf(&c->problems, "%s\n", why);
out:
	sqlite3_close(db);
	if (file_sha256(c->path, c->sha256, &c->size) != 0)
		sbuf_printf(&c->problems, "cannot read it: %s\n", strerror(errno));
}

/* The check of a new copy, then its sync (seconds for a big file: never on the loop). */
static void *
check_thread(void *arg)
{
	struct check *c = arg;
	int fd = -1;

	check_file(c);
	if (c->problems.len == 0 && ((fd = open(c->path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0))
		sbuf_printf(&c->problems, "cannot sync it: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Where the manifest of the backup at path is: PATH.json. */
static int
manifest_path(const char *path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s.json", path);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The directory of path fsynced, so that a link made in it is on disk. */
static void
dir_sync(const char *path)
{
	char dir[PATH_BUF_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

struct backup_job *
backup_job_start(struct store *s, const char *path, char *why, size_t len)
{
	struct backup_job *j = calloc(1, sizeof(*j));
	char parent[PATH_BUF_MAX];
	struct stat sb;
	int fd;

	if (j == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	j->s = s;
	j->started_ms = now_ms();
	sbuf_init(&j->chk.problems);
	if ((size_t)snprintf(j->path, sizeof(j->path), "%s", path) >= sizeof(j->path) ||
	    (size_t)snprintf(j->part, sizeof(j->part), "%s.part-XXXXXX", path) >= sizeof(j->part) ||
	    (size_t)snprintf(j->chk.path, sizeof(j->chk.path), "%s", j->part) >=
	    sizeof(j->chk.path) || strlen(path) + sizeof(".json.part-XXXXXX") > sizeof(j->path)) {
		snprintf(why, len, "the backup's path is longer than %zu bytes",
		    sizeof(j->path) - sizeof(".json.part-XXXXXX"));
		goto fail;
	}
	if (stat(path, &sb) == 0) {
		snprintf(why, len, "%s exists: a backup never replaces a file; name another path",
		    path);
		goto fail;
	}
	/* Its directory is made as needed, only readable by us: it holds the site. */
	snprintf(parent, sizeof(parent), "%s", path);
	if (strrchr(parent, '/') != NULL)
		*strrchr(parent, '/') = '\0';
	if (parent[0] != '\0' && strchr(path, '/') != NULL && mkdir_p(parent, 0700) != 0) {
		snprintf(why, len, "cannot make %s: %s", parent, strerror(errno));
		goto fail;
	}
	if ((fd = mkstemp(j->part)) < 0) {
		snprintf(why, len, "cannot make %s: %s", j->part, strerror(errno));
		goto fail;
	}
	close(fd);	/* an empty file: SQLite takes it for an empty database */
	snprintf(j->chk.path, sizeof(j->chk.path), "%s", j->part);
	/*
	 * The part file is trusted only once it is checked and synced (job_link):
	 * no journal and no sync at each slice's commit, which cost two fsyncs a
	 * slice, tens of milliseconds of the loop each on a busy disk.
	 */
	store_settle(s);	/* a backup reads what is committed: no turn's transaction open */
	if (sqlite3_open_v2(j->part, &j->dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(j->dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    (j->b = sqlite3_backup_init(j->dst, "main", store_db(s), "main")) == NULL) {
		snprintf(why, len, "cannot write %s: %s", j->part, j->dst ? sqlite3_errmsg(j->dst) :
		    "cannot open");
		backup_job_free(j);
		return NULL;
	}
	return j;
fail:
	sbuf_free(&j->chk.problems);
	free(j);
	return NULL;
}

void
backup_job_free(struct backup_job *j)
{
	if (j == NULL)
		return;
	if (j->has_thread)
		pthread_join(j->thread, NULL);
	if (j->b != NULL)
		sqlite3_backup_finish(j->b);
	if (j->dst != NULL)
		sqlite3_close(j->dst);
	if (j->phase != JOB_DONE && j->part[0] != '\0') {
		char journal[PATH_BUF_MAX + 16];

		unlink(j->part);
		snprintf(journal, sizeof(journal), "%s-journal", j->part);
		unlink(journal);
	}
	figures_free(&j->src);
	figures_free(&j->chk.fig);
	sbuf_free(&j->chk.problems);
	json_decref(j->manifest);
	free(j);
}

void
backup_job_progress(struct backup_job *j, int64_t *done, int64_t *total)
{
	*done = j->pages_done;
	*total = j->pages_total;
}

json_t *
backup_job_manifest(struct backup_job *j)
{
	return j->manifest;
}

/*
 * The slice that ends the copy: the source's figures in the same call (no
 * write can come between), the copy closed as a rollback-journal database
 * (a read-only open then makes no -wal or -shm beside it), and its check
 * started in a thread.
 */
static int
copy_finish(struct backup_job *j, char *why, size_t len)
{
	int64_t psize = store_query_int(store_db(j->s), "PRAGMA page_size");
	int rc;

	j->pages_total = j->pages_done = sqlite3_backup_pagecount(j->b);
	j->db_bytes = j->pages_total * (psize > 0 ? psize : 0);
	if (figures_read(store_db(j->s), &j->src, why, len) != 0)
		return -1;
	j->copied_ms = now_ms();
	sqlite3_backup_finish(j->b);
	j->b = NULL;
	if (sqlite3_exec(j->dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, len, "cannot finish %s: %s", j->part, sqlite3_errmsg(j->dst));
		return -1;
	}
	rc = sqlite3_close(j->dst);
	j->dst = NULL;
	if (rc != SQLITE_OK) {
		snprintf(why, len, "cannot finish %s: %s", j->part, sqlite3_errstr(rc));
		return -1;
	}
	if (thread_start(&j->thread, check_thread, &j->chk) != 0) {
		snprintf(why, len, "cannot start the check: %s", strerror(errno));
		return -1;
	}
	j->has_thread = 1;
	j->phase = JOB_CHECK;
	return 1;
}

/* Does the check agree with the source? Says the first difference. */
static int
figures_agree(const struct figures *src, const struct check *c, char *why, size_t len)
{
	const char *k;
	json_t *v;

	if (c->problems.len > 0) {
		snprintf(why, len, "the copy failed its check: %.*s", (int)(c->problems.len - 1),
		    c->problems.p);
		return 0;
	}
	if (c->fig.schema != src->schema) {
		snprintf(why, len, "the copy has schema version %d, the database %d", c->fig.schema,
		    src->schema);
		return 0;
	}
	if (c->fig.last_seq != src->last_seq) {
		snprintf(why, len, "the copy's last event is %lld, the database's %lld",
		    (long long)c->fig.last_seq, (long long)src->last_seq);
		return 0;
	}
	json_object_foreach(src->counts, k, v) {
		json_t *o = json_object_get(c->fig.counts, k);

		if (!json_equal(o, v)) {
			snprintf(why, len, "the copy's table %s has %lld rows, the database's %lld", k,
			    (long long)json_integer_value(o), (long long)json_integer_value(v));
			return 0;
		}
	}
	if (json_object_size(c->fig.counts) != json_object_size(src->counts)) {
		snprintf(why, len, "the copy has %zu tables, the database %zu",
		    json_object_size(c->fig.counts), json_object_size(src->counts));
		return 0;
	}
	return 1;
}

static json_t *
manifest_make(struct backup_job *j)
{
	char at[40], copied[40], verified[40];
	const char *name = strrchr(j->path, '/') ? strrchr(j->path, '/') + 1 : j->path;

	time_format_ms(j->started_ms, at, sizeof(at), 1);
	time_format_ms(j->copied_ms, copied, sizeof(copied), 1);
	time_format_ms(now_ms(), verified, sizeof(verified), 1);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:I, s:I, s:s, s:s, s:O}",
	    "name", name, "started_at", at, "created_at", copied, "verified_at", verified,
	    "duration_ms", (json_int_t)(now_ms() - j->started_ms),
	    "event_seq", (json_int_t)j->src.last_seq, "schema_version", j->src.schema,
	    "size_bytes", (json_int_t)j->chk.size, "database_size_bytes", (json_int_t)j->db_bytes,
	    "sha256", j->chk.sha256, "outpostd_version", PACKAGE_VERSION,
	    "counts", j->src.counts);
}

/* Writes the manifest to a part file of its own, synced: its path in part. */
static int
manifest_write(const char *path, json_t *m, char *part, size_t plen, char *why, size_t len)
{
	char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n = text ? strlen(text) : 0;
	int fd, ok;

	if (text == NULL || (size_t)snprintf(part, plen, "%s.part-XXXXXX", path) >= plen ||
	    (fd = mkstemp(part)) < 0) {
		snprintf(why, len, "cannot write the manifest %s: %s", path,
		    text ? strerror(errno) : "out of memory");
		free(text);
		part[0] = '\0';
		return -1;
	}
	ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	close(fd);
	free(text);
	if (!ok) {
		snprintf(why, len, "cannot write the manifest %s: %s", path, strerror(errno));
		unlink(part);
		return -1;
	}
	return 0;
}

/* The check agreed: the manifest to PATH.json, then the copy to PATH. Never replaces. */
static int
job_link(struct backup_job *j, char *why, size_t len)
{
	char mpath[PATH_BUF_MAX], mpart[PATH_BUF_MAX];

	if (manifest_path(j->path, mpath, sizeof(mpath)) != 0) {
		snprintf(why, len, "the manifest's path is too long");
		return -1;
	}
	if ((j->manifest = manifest_make(j)) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	/* The copy was synced by its check's thread, before its name says it is whole. */
	if (manifest_write(mpath, j->manifest, mpart, sizeof(mpart), why, len) != 0)
		return -1;
	if (link(mpart, mpath) != 0) {
		snprintf(why, len, errno == EEXIST ? "%s exists: a backup never replaces a file" :
		    "cannot write %s: %s", mpath, strerror(errno));
		unlink(mpart);
		return -1;
	}
	unlink(mpart);
	if (link(j->part, j->path) != 0) {
		if (errno == EEXIST)
			snprintf(why, len, "%s exists (made while the backup ran): a backup never "
			    "replaces a file; name another path", j->path);
		else
			snprintf(why, len, "cannot finish %s: %s", j->path, strerror(errno));
		unlink(mpath);
		return -1;
	}
	unlink(j->part);	/* the backup is under its name now */
	j->phase = JOB_DONE;
	dir_sync(j->path);
	return 0;
}

int
backup_job_step(struct backup_job *j, char *why, size_t len)
{
	int rc;

	assert(j->phase != JOB_DONE);
	if (j->phase == JOB_COPY) {
		/* A step beside an open write transaction would wait (BUSY) for ever under load. */
		store_settle(j->s);
		rc = sqlite3_backup_step(j->b, BACKUP_PAGES);
		j->pages_total = sqlite3_backup_pagecount(j->b);
		j->pages_done = j->pages_total - sqlite3_backup_remaining(j->b);
		if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			return 1;
		if (rc != SQLITE_DONE) {
			snprintf(why, len, "the backup failed: %s", sqlite3_errstr(rc));
			return -1;
		}
		return copy_finish(j, why, len);
	}
	if (__atomic_load_n(&j->chk.done, __ATOMIC_ACQUIRE) == 0)
		return 1;
	pthread_join(j->thread, NULL);
	j->has_thread = 0;
	if (!figures_agree(&j->src, &j->chk, why, len))
		return -1;
	return job_link(j, why, len);
}

/* ---- a backup's file ---- */

int
backup_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && n <= 200 && name[0] != '.' && strstr(name, "..") == NULL &&
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n &&
	    strcmp(name + n - 3, ".db") == 0 && strstr(name, ".part-") == NULL;
}

json_t *
backup_manifest_read(const char *path)
{
	char mpath[PATH_BUF_MAX];
	json_t *m;

	if (manifest_path(path, mpath, sizeof(mpath)) != 0)
		return NULL;
	m = json_load_file(mpath, 0, NULL);
	if (m != NULL && !json_is_object(m)) {
		json_decref(m);
		return NULL;
	}
	return m;
}

int
backup_verify_file(const char *path, struct sbuf *problems, json_t **report)
{
	struct check c;
	json_t *m = backup_manifest_read(path);
	const char *k;
	json_t *v;
	int ok;

	memset(&c, 0, sizeof(c));
	sbuf_init(&c.problems);
	snprintf(c.path, sizeof(c.path), "%s", path);
	check_file(&c);
	if (c.problems.len == 0 && c.fig.schema > store_latest_version())
		sbuf_printf(&c.problems, "its schema version %d is newer than this outpostd's (%d)\n",
		    c.fig.schema, store_latest_version());
	if (c.problems.len == 0 && m != NULL) {
		const char *sha = json_string_value(json_object_get(m, "sha256"));
		json_t *counts = json_object_get(m, "counts");

		if (sha == NULL || strcmp(sha, c.sha256) != 0)
			sbuf_printf(&c.problems, "its SHA-256 %s is not its manifest's %s\n", c.sha256,
			    sha ? sha : "(none)");
		if (json_integer_value(json_object_get(m, "schema_version")) != c.fig.schema)
			sbuf_printf(&c.problems, "its schema version %d is not its manifest's %lld\n",
			    c.fig.schema, (long long)json_integer_value(json_object_get(m,
			    "schema_version")));
		if (json_integer_value(json_object_get(m, "event_seq")) != c.fig.last_seq)
			sbuf_printf(&c.problems, "its last event %lld is not its manifest's %lld\n",
			    (long long)c.fig.last_seq, (long long)json_integer_value(json_object_get(m,
			    "event_seq")));
		json_object_foreach(counts, k, v) {
			json_t *o = json_object_get(c.fig.counts, k);

			if (!json_equal(o, v))
				sbuf_printf(&c.problems, "its table %s has %lld rows, its manifest %lld\n",
				    k, (long long)json_integer_value(o), (long long)json_integer_value(v));
		}
	}
	ok = c.problems.len == 0;
	if (problems != NULL)
		sbuf_append(problems, c.problems.p ? c.problems.p : "", c.problems.len);
	if (report != NULL) {
		json_t *pr = json_array();
		char *line = c.problems.p, *nl;

		for (; line != NULL && *line != '\0'; line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			json_array_append_new(pr, json_stringn(line, (size_t)(nl - line)));
		}
		*report = json_pack("{s:b, s:o, s:s, s:I, s:i, s:I, s:O*, s:o}", "verified", ok,
		    "problems", pr, "sha256", c.sha256, "size_bytes", (json_int_t)c.size,
		    "schema_version", c.fig.schema, "event_seq", (json_int_t)c.fig.last_seq,
		    "counts", c.fig.counts, "manifest", m ? json_incref(m) : json_null());
	}
	json_decref(m);
	figures_free(&c.fig);
	sbuf_free(&c.problems);
	return ok ? 0 : -1;
}

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
	    json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

json_t *
backup_list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	json_t **items = NULL, *out;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return errno == ENOENT ? json_array() : NULL;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_BUF_MAX];
		struct stat sb;
		json_t *m;

		if (!backup_name_is_valid(e->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
		    lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
		    array_grow(&items, &cap, n, sizeof(*items)) != 0)
			continue;
		m = backup_manifest_read(path);
		items[n++] = json_pack("{s:s, s:I, s:b, s:o}", "name", e->d_name,
		    "size_bytes", (json_int_t)sb.st_size, "verified", m != NULL,
		    "manifest", m ? m : json_null());
	}
	closedir(d);
	if (n > 0)
		qsort(items, n, sizeof(*items), item_cmp);
	out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, items[i]);
	free(items);
	return out;
}

int
backup_newest(const char *dir, char *out, size_t len)
{
	json_t *l = backup_list_dir(dir), *it;
	const char *best = NULL, *best_at = "";
	size_t i;
	int rc = -1;

	json_array_foreach(l, i, it) {
		const char *at = json_string_value(json_object_get(json_object_get(it, "manifest"),
		    "created_at"));

		if (at != NULL && strcmp(at, best_at) > 0) {
			best_at = at;
			best = json_string_value(json_object_get(it, "name"));
		}
	}
	if (best != NULL && (size_t)snprintf(out, len, "%s/%s", dir, best) < len)
		rc = 0;
	json_decref(l);
	return rc;
}

/*
 * Whether NAME is a backup's part file, NAME.part-XXXXXX, or the journal
 * SQLite kept beside it (-journal): six characters after ".part-", as
 * mkstemp makes.
 */
static int
is_part(const char *name)
{
	const char *p = strstr(name, ".part-");
	size_t n;

	if (p == NULL || p == name)
		return 0;
	n = strlen(p + sizeof(".part-") - 1);
	return n == 6 || (n == 6 + sizeof("-journal") - 1 &&
	    strcmp(p + sizeof(".part-") - 1 + 6, "-journal") == 0);
}

/*
 * The part files of the backups a dead server left in dir (only backups
 * write those names there, and none runs before the start is done): never
 * linked to a name, so never taken for backups; they are removed so that
 * they do not fill the disk.
 */
void
backup_remove_parts(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!is_part(e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_warn("backup.part_removed", "file", e->d_name, "dir", dir, "detail",
			    "a backup the server was killed in: never whole", NULL);
		else
			log_warn("backup.part_removed", "file", e->d_name, "error",
			    strerror(errno), NULL);
	}
	closedir(d);
}

/* ---- the backup before migrations ---- */

/* STAMP: the UTC time as 20261206T200000.123Z, a file name's part. */
static void
stamp_of(int64_t ms, char *out, size_t len)
{
	time_format_ms(ms, out, len, 1);
	for (char *q = out; *q; q++)
		if (*q == ':' || *q == '-')
			memmove(q, q + 1, strlen(q));
}

/* A whole backup to path, on this thread (at start: nothing else runs yet). */
static int
backup_sync(struct store *s, const char *path, char *why, size_t len)
{
	struct backup_job *j = backup_job_start(s, path, why, len);
	int rc;

	if (j == NULL)
		return -1;
	while ((rc = backup_job_step(j, why, len)) == 1)
		if (j->phase == JOB_CHECK)
			usleep(2000);
	backup_job_free(j);
	return rc;
}

int
backup_migrate(struct store *s, const struct server_config *c, struct op_err *err)
{
	int from = store_schema_version(s), to = store_latest_version(), left;
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX], stamp[40], why[600];
	int64_t tables = store_query_int(store_db(s), "SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'table'");

	if (from < 0 || from >= to || tables <= 0)
		return store_migrate(s, to, err);	/* new, current, or newer (refused there) */
	backup_dir_of(c, dir, sizeof(dir));
	stamp_of(now_ms(), stamp, sizeof(stamp));
	if ((size_t)snprintf(path, sizeof(path), "%s/outpost-pre-v%d-%s.db", dir, from, stamp) >=
	    sizeof(path)) {
		op_err_set(err, 500, "internal", "", "backup_dir is too long for a backup's path");
		return -1;
	}
	backup_remove_parts(dir);
	log_info("store.backup_before_migrate", "path", path, LOG_INT("from", from), NULL);
	if (backup_sync(s, path, why, sizeof(why)) != 0) {
		log_error("store.backup_before_migrate", "error", why, "outcome", "no migration ran",
		    NULL);
		op_err_set(err, 500, "internal", "", "cannot back up the database before migrating "
		    "it from schema version %d to %d, so none ran (it is still at version %d): %s",
		    from, to, from, why);
		return -1;
	}
	if (store_migrate(s, to, err) == 0)
		return 0;
	left = store_schema_version(s);
	log_error("store.migrate", "error", err->message, "backup", path, NULL);
	snprintf(why, sizeof(why), "%s", err->message);
	op_err_set(err, 500, "internal", "", "%s; the database is left at schema version %d; the "
	    "backup made before is %s", why, left, strrchr(path, '/') + 1);
	return -1;
}
