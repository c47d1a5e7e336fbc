/*
 * Is a state directory fit to start on? Two things: the lock a running
 * outpostd holds on STATE_DIR/outpostd.lock (one server a state directory),
 * and `outpostd --check`, which says, changing nothing, what a start would
 * find: the settings, the directory, the database (its size, schema version,
 * quick_check, its counts), whether a server runs on it, and the migrations
 * a start would run.
 *
 * The lock is a POSIX record lock (fcntl F_SETLK) on the whole file, so the
 * kernel drops it when the process ends, however it ends, and F_GETLK names
 * the holder's pid without taking it. The file holds the pid too, for people.
 *
 * --check opens the database SQLITE_OPEN_READONLY and never creates it.
 * With no server on it and no -wal left beside it, it opens it immutable
 * (no -wal or -shm is made, no byte of the directory changes); with a -wal
 * left by a server that was killed, it reads through that -wal (SQLite may
 * then make the -shm it reads it with).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "server.h"

static int lock_fd = -1;

static void
lock_path(const char *dir, char *out, size_t n)
{
	snprintf(out, n, "%s/outpostd.lock", dir);
}

/*
 * Takes the state directory's lock for this process's life. -1 after saying
 * why on stderr: another outpostd holds it (its pid), or the file cannot be
 * made.
 */
int
state_lock_take(const char *dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_BUF_MAX], pid[24];
	int fd;

	lock_path(dir, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "outpostd: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		long holder = state_lock_holder(dir);

		if (holder > 0)
			fprintf(stderr, "outpostd: another outpostd (pid %ld) is running on the state "
			    "directory %s; stop it first, or give this one another --state-dir\n",
			    holder, dir);
		else
			fprintf(stderr, "outpostd: cannot lock %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid))
		log_warn("state_dir.lock", "path", path, "error", strerror(errno), NULL);
	lock_fd = fd;	/* kept open: closing any descriptor of the file would drop the lock */
	return 0;
}

/* The pid of the process that holds dir's lock; 0 if none; -1 if it cannot be told. */
long
state_lock_holder(const char *dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_BUF_MAX];
	int fd;

	lock_path(dir, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fcntl(fd, F_GETLK, &fl) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
}

/* Takes "--check" out of argv; 1 if it was there. */
int
check_flag_take(int *argc, char **argv)
{
	int found = 0, j = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--check") == 0)
			found = 1;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return found;
}

/* Bytes for people: 512 B, 3.2 KiB, 14.0 MiB, 2.1 GiB. */
static const char *
size_text(int64_t n, char *out, size_t len)
{
	if (n < 1024)
		snprintf(out, len, "%lld B", (long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, len, "%.1f KiB", (double)n / 1024);
	else if (n < 1024LL * 1024 * 1024)
		snprintf(out, len, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(out, len, "%.1f GiB", (double)n / (1024.0 * 1024 * 1024));
	return out;
}

/* file:PATH?immutable=1 with the URI's special characters escaped. */
static void
immutable_uri(const char *path, char *out, size_t n)
{
	size_t o = 0;

	o += (size_t)snprintf(out, n, "file:");
	for (const char *p = path; *p != '\0' && o + 4 < n; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			o += (size_t)snprintf(out + o, n - o, "%%%02X", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	snprintf(out + o, n - o, "?immutable=1");
}

/* PRAGMA quick_check: 0 and "ok", or -1 and its first complaints. */
static int
quick_check(sqlite3 *db, char *out, size_t n)
{
	sqlite3_stmt *st;
	size_t o = 0;
	int rows = 0, is_ok = 0;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, NULL) != SQLITE_OK) {
		snprintf(out, n, "%s", sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		if (rows++ == 0 && t != NULL && strcmp(t, "ok") == 0)
			is_ok = 1;
		if (o < n)
			o += (size_t)snprintf(out + o, n - o, "%s%s", o ? "; " : "", t ? t : "");
	}
	if (rows == 0)
		snprintf(out, n, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return is_ok && rows == 1 ? 0 : -1;
}

/* What the tables hold, for people comparing before and after an upgrade. */
static void
print_counts(sqlite3 *db)
{
	static const char *const q[][2] = {
		{ "definitions", "SELECT count(*) FROM definitions" },
		{ "instances", "SELECT count(*) FROM instances" },
		{ "workers", "SELECT count(*) FROM workers" },
		{ "tokens", "SELECT count(*) FROM tokens WHERE revoked_at IS NULL" },
		{ "events", "SELECT count(*) FROM events" },
		{ "last event", "SELECT coalesce(max(seq), 0) FROM events" },
	};

	printf("rows:");
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		printf("%s %s %lld", i ? "," : "", q[i][0], (long long)store_query_int(db, q[i][1]));
	printf("\n");
}

/* The database part of --check: 0, or 1 when a start would fail on it. */
static int
check_database(const char *path, long holder)
{
	char wal[PATH_BUF_MAX + 8], uri[3 * PATH_BUF_MAX + 32], a[32], b[32], why[512];
	struct stat sb, wb;
	int has_wal, v, latest = store_latest_version(), rc = 0;
	sqlite3 *db = NULL;

	if (stat(path, &sb) != 0) {
		if (errno != ENOENT) {
			printf("database: %s: %s\n", path, strerror(errno));
			return 1;
		}
		printf("database: %s: absent; a start makes it, at schema version %d\n", path,
		    latest);
		return 0;
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	has_wal = stat(wal, &wb) == 0;
	printf("database: %s, %s%s%s%s\n", path, size_text(sb.st_size, a, sizeof(a)),
	    has_wal ? " (and a -wal of " : "", has_wal ? size_text(wb.st_size, b, sizeof(b)) : "",
	    has_wal ? ")" : "");
	if (holder == 0 && has_wal)
		printf("wal: a -wal is left from a server that did not stop cleanly; the next "
		    "start takes its changes in\n");
	/* Nothing writes it and no -wal holds changes: read the file as it is, touching nothing. */
	if (holder == 0 && !has_wal) {
		immutable_uri(path, uri, sizeof(uri));
		rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	} else {
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	}
	if (rc != SQLITE_OK) {
		printf("schema: cannot open the database: %s\n", db ? sqlite3_errmsg(db) :
		    "out of memory");
		sqlite3_close(db);
		return 1;
	}
	sqlite3_busy_timeout(db, 2000);
	if ((v = (int)store_query_int(db, "PRAGMA user_version")) < 0) {
		printf("schema: cannot read it: %s (is this an SQLite database?)\n",
		    sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	rc = 0;
	if (quick_check(db, why, sizeof(why)) == 0) {
		printf("integrity: ok (quick_check)\n");
	} else {
		printf("integrity: FAILED (quick_check): %s\n", why);
		rc = 1;
	}
	if (v > latest) {
		printf("schema: version %d, newer than this outpostd (%s) knows (%d): it was made "
		    "by a later outpostd; run that one, or restore the backup taken before the "
		    "upgrade\n", v, PACKAGE_VERSION, latest);
		rc = 1;
	} else if (v == latest) {
		printf("schema: version %d, this outpostd's; no migration to run\n", v);
	} else {
		printf("schema: version %d; this outpostd (%s) writes %d\n", v, PACKAGE_VERSION,
		    latest);
		printf("migrations: %d would run at the next start, each in its own transaction:\n",
		    latest - v);
		for (int m = v + 1; m <= latest; m++)
			printf("  %d: %s\n", m, store_migration_about(m));
	}
	if (v >= 1 && v <= latest)
		print_counts(db);
	sqlite3_close(db);
	return rc;
}

/*
 * outpostd --check, after the settings loaded (a bad one exits 2 before
 * this). Exit status: 0 a start would find what it needs; 1 the state
 * directory or the database would stop it; 3 another outpostd is running on
 * this state directory (the rest is checked all the same).
 */
int
check_run(const struct server_config *c)
{
	char path[PATH_BUF_MAX], a[32];
	struct stat sb;
	struct statvfs vfs;
	long holder;
	int rc;

	printf("outpostd: %s, schema version %d\n", PACKAGE_VERSION, store_latest_version());
	printf("config: %s: %s\n", c->config_path, access(c->config_path, R_OK) == 0 ? "ok" :
	    "absent (defaults, variables and flags only)");
	if (stat(c->state_dir, &sb) != 0) {
		if (errno != ENOENT) {
			printf("state_dir: %s: %s\n", c->state_dir, strerror(errno));
			return 1;
		}
		printf("state_dir: %s: absent; a start makes it (0700)\n", c->state_dir);
		printf("database: absent; a start makes it, at schema version %d\n",
		    store_latest_version());
		return 0;
	}
	if (!S_ISDIR(sb.st_mode)) {
		printf("state_dir: %s: not a directory\n", c->state_dir);
		return 1;
	}
	printf("state_dir: %s, mode %04o, owner uid %ld%s\n", c->state_dir,
	    (unsigned)(sb.st_mode & 07777), (long)sb.st_uid,
	    access(c->state_dir, R_OK | W_OK | X_OK) == 0 ? "" : "; NOT writable by this user");
	if (statvfs(c->state_dir, &vfs) == 0)
		printf("free: %s on its filesystem\n",
		    size_text((int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize, a, sizeof(a)));
	holder = state_lock_holder(c->state_dir);
	if (holder > 0)
		printf("server: outpostd pid %ld is running on this state directory\n", holder);
	else if (holder == 0)
		printf("server: none running on this state directory\n");
	else
		printf("server: cannot tell (cannot read %s/outpostd.lock)\n", c->state_dir);
	snprintf(path, sizeof(path), "%s/outpost.db", c->state_dir);
	rc = check_database(path, holder);
	if (rc == 0 && access(c->state_dir, R_OK | W_OK | X_OK) != 0)
		rc = 1;
	if (rc == 0 && holder > 0)
		rc = 3;
	printf("result: %s\n", rc == 0 ? "ok: a start would find what it needs" : rc == 3 ?
	    "a server is already running on this state directory" :
	    "a start would fail: see above");
	return rc;
}
