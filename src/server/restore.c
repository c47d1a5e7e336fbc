/*
 * outpostd restore FILE and outpostd restore-drill [FILE]: the two
 * subcommands that work on backups with the server's own settings.
 *
 * restore, with the server stopped (it holds STATE_DIR/outpostd.lock while
 * it runs: check.c): checks FILE as backups are checked, copies it into the state
 * directory (synced, mode 0600, owned by the state directory's owner when
 * run as root, so that a DynamicUser service can open it), keeps the
 * current database (and its -wal and -shm) aside under
 * outpost.db.before-restore-STAMP, and renames the copy into place.
 *
 * restore-drill: a throwaway outpostd (this same binary) on a copy of a
 * backup in a directory of its own, on an ephemeral loopback port, with the
 * drill setting (no scaler, clock, alert rules, backups or run recovery: a
 * copy must not start or end anything of the site's), no settings of the
 * site's (an empty config file, no OUTPOST_* variables) and none of its
 * templates, runbooks or rules. It waits for /readyz, compares what
 * /metrics counts with the backup's manifest, stops it and removes the
 * directory. What it must never do: touch the live state directory.
 *
 * Exit codes: 0 done (or the drill passed); 1 failed (the drill's verdict,
 * a file that could not be written); 2 usage or settings; 3 a server runs
 * on the state directory; 4 FILE is not a good backup.
 */
#define _GNU_SOURCE	/* nftw */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "confread.h"

extern char **environ;

enum { RX_OK, RX_FAILED, RX_USAGE, RX_RUNNING, RX_BAD_FILE };

/* Copies src to a new file dst (O_EXCL), synced, mode 0600. 0, or -1 with why. */
static int
copy_file(const char *src, int out, char *why, size_t len)
{
	char buf[65536];
	ssize_t n;
	int in = open(src, O_RDONLY | O_CLOEXEC);

	if (in < 0) {
		snprintf(why, len, "cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0) {
				snprintf(why, len, "cannot write the copy: %s", strerror(errno));
				close(in);
				return -1;
			}
			off += w;
		}
	}
	close(in);
	if (n < 0 || fsync(out) != 0) {
		snprintf(why, len, "cannot copy %s: %s", src, strerror(errno));
		return -1;
	}
	return 0;
}

static void
print_problems(const char *file, const struct sbuf *p)
{
	fprintf(stderr, "outpostd: %s is not a good backup:\n", file);
	for (const char *l = p->p; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');
		int n = nl ? (int)(nl - l) : (int)strlen(l);

		fprintf(stderr, "  %.*s\n", n, l);
		l += n + (nl != NULL);
	}
}

static void
stamp_now(char *out, size_t len)
{
	time_format_ms(now_ms(), out, len, 1);
	for (char *q = out; *q; q++)
		if (*q == ':' || *q == '-')
			memmove(q, q + 1, strlen(q));
}

static int
restore(const struct server_config *c, const char *file)
{
	const char *sd = c->state_dir;
	char db[PATH_BUF_MAX], tmp[PATH_BUF_MAX], from[PATH_BUF_MAX + 8], to[PATH_BUF_MAX + 64];
	char stamp[40], why[PATH_MSG_BUF], aside[sizeof(to)] = "";
	static const char *const sfx[] = { "", "-wal", "-shm" };
	struct sbuf problems;
	struct stat st;
	json_t *rep = NULL;
	int fd, has_current;

	if (mkdir_p(sd, 0700) != 0) {
		fprintf(stderr, "outpostd: cannot make the state directory %s: %s\n", sd,
		    strerror(errno));
		return RX_FAILED;
	}
	/* The lock a running server holds (check.c): refused while it is held. */
	if (state_lock_holder(sd) > 0 || state_lock_take(sd) != 0) {
		long holder = state_lock_holder(sd);

		if (holder <= 0)
			return RX_FAILED;	/* said by state_lock_take() */
		fprintf(stderr, "outpostd: outpostd (pid %ld) is running on %s (it holds "
		    "outpostd.lock): stop it first (systemctl stop outpostd); nothing was changed\n",
		    holder, sd);
		return RX_RUNNING;
	}
	sbuf_init(&problems);
	if (backup_verify_file(file, &problems, &rep) != 0) {
		print_problems(file, &problems);
		fprintf(stderr, "outpostd: nothing was changed\n");
		sbuf_free(&problems);
		json_decref(rep);
		return RX_BAD_FILE;
	}
	sbuf_free(&problems);
	if (stat(sd, &st) != 0 ||
	    (size_t)snprintf(db, sizeof(db), "%s/outpost.db", sd) >= sizeof(db) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/outpost.db.restore-XXXXXX", sd) >= sizeof(tmp)) {
		fprintf(stderr, "outpostd: the state directory %s: %s\n", sd, strerror(errno));
		json_decref(rep);
		return RX_FAILED;
	}
	/* The copy first, beside the database: until the rename, nothing has changed. */
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "outpostd: cannot make %s: %s\n", tmp, strerror(errno));
		json_decref(rep);
		return RX_FAILED;
	}
	if (copy_file(file, fd, why, sizeof(why)) != 0 || fchmod(fd, 0600) != 0 ||
	    (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0)) {
		fprintf(stderr, "outpostd: %s\n", why[0] ? why : strerror(errno));
		close(fd);
		unlink(tmp);
		json_decref(rep);
		return RX_FAILED;
	}
	close(fd);
	stamp_now(stamp, sizeof(stamp));
	has_current = access(db, F_OK) == 0;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(from, sizeof(from), "%s%s", db, sfx[i]);
		snprintf(to, sizeof(to), "%s.before-restore-%s%s", db, stamp, sfx[i]);
		if (access(from, F_OK) != 0)
			continue;
		if (access(to, F_OK) == 0)
			errno = EEXIST;
		if (errno == EEXIST || rename(from, to) != 0) {
			fprintf(stderr, "outpostd: cannot move %s aside to %s: %s\n", from, to,
			    strerror(errno));
			unlink(tmp);
			json_decref(rep);
			return RX_FAILED;
		}
		if (i == 0)
			snprintf(aside, sizeof(aside), "%s", to);
	}
	if (rename(tmp, db) != 0) {
		fprintf(stderr, "outpostd: cannot put the backup in place as %s: %s (the database "
		    "before is %s)\n", db, strerror(errno), aside[0] ? aside : "(none)");
		json_decref(rep);
		return RX_FAILED;
	}
	if ((fd = open(sd, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	printf("restored %s into %s\n", file, db);
	printf("  schema version %lld, last event %lld, SHA-256 %s; owner %u:%u, mode 0600\n",
	    (long long)json_integer_value(json_object_get(rep, "schema_version")),
	    (long long)json_integer_value(json_object_get(rep, "event_seq")),
	    json_string_value(json_object_get(rep, "sha256")),
	    geteuid() == 0 ? (unsigned)st.st_uid : (unsigned)geteuid(),
	    geteuid() == 0 ? (unsigned)st.st_gid : (unsigned)getegid());
	if (has_current)
		printf("  the database before it is kept as %s (with its -wal and -shm, if any)\n",
		    aside);
	printf("next:\n"
	    "  1. start the server: systemctl start outpostd (it migrates an older schema, "
	    "backing it up first)\n"
	    "  2. outpost runbook run check-database; outpost worker list; outpost instance list\n"
	    "  3. workers and instances made after the backup are unknown to it: see "
	    "docs/operations/restore.md\n");
	json_decref(rep);
	return RX_OK;
}

/* ---- the drill ---- */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* GET path on 127.0.0.1:port: the status (0: no answer) and the body (to free). */
static int
http_get(int port, const char *path, char **body)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 10 };
	struct sbuf b;
	char req[256], buf[8192], *p;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;

	*body = NULL;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return 0;
	}
	sbuf_init(&b);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sbuf_append(&b, buf, (size_t)n);
	close(fd);
	if (b.p != NULL && sscanf(b.p, "HTTP/1.%*d %d", &status) == 1 &&
	    (p = strstr(b.p, "\r\n\r\n")) != NULL)
		*body = strdup(p + 4);
	sbuf_free(&b);
	return status;
}

/* The sum of a metric's series (every label set). */
static int64_t
metric_sum(const char *text, const char *name)
{
	size_t n = strlen(name);
	int64_t sum = 0;	/* a metric with no series (no workers) counts none */

	for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n') ? strchr(l, '\n') +
	    1 : NULL) {
		const char *v;

		if (strncmp(l, name, n) != 0 || (l[n] != ' ' && l[n] != '{'))
			continue;
		if ((v = strchr(l, ' ')) == NULL)
			continue;
		sum += (int64_t)strtod(v + 1, NULL);
	}
	return sum;
}

/* The port of a throwaway server's outpostd.listening line, or 0. */
static int
log_port(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[4096];
	const char *p;
	int port = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "\"outpostd.listening\"") != NULL &&
		    (p = strstr(line, "\"url\":\"http://127.0.0.1:")) != NULL)
			port = atoi(p + sizeof("\"url\":\"http://127.0.0.1:") - 1);
	if (f != NULL)
		fclose(f);
	return port;
}

/* The last lines of a throwaway server's log, to stderr. */
static void
log_tail(const char *log)
{
	char buf[2048];
	ssize_t n = 0;
	int fd = open(log, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);

		lseek(fd, end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0, SEEK_SET);
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	fprintf(stderr, "%.*s", n > 0 ? (int)n : 0, buf);
}

/* Starts the throwaway server on dir (under PATH_SETTING_MAX); its pid, or -1. */
static pid_t
drill_spawn(const char *dir)
{
	char conf[PATH_BUF_MAX], log[PATH_BUF_MAX], alerts[PATH_BUF_MAX], tdir[PATH_BUF_MAX];
	char rdir[PATH_BUF_MAX];
	pid_t pid;
	FILE *f;

	if (strlen(dir) >= PATH_SETTING_MAX)
		return -1;
	snprintf(conf, sizeof(conf), "%s/empty.conf", dir);
	snprintf(log, sizeof(log), "%s/outpostd.log", dir);
	snprintf(alerts, sizeof(alerts), "%s/alerts.json", dir);
	snprintf(tdir, sizeof(tdir), "%s/templates", dir);
	snprintf(rdir, sizeof(rdir), "%s/runbooks", dir);
	if ((f = fopen(conf, "w")) == NULL || fclose(f) != 0 || (f = fopen(alerts, "w")) == NULL ||
	    fputs("{\"rules\": []}\n", f) < 0 || fclose(f) != 0 || mkdir(tdir, 0700) != 0 ||
	    mkdir(rdir, 0700) != 0)
		return -1;
	if ((pid = fork()) != 0)
		return pid;
	{
		char *args[] = { "outpostd", "--config", conf, "--listen", "127.0.0.1:0",
			"--state-dir", (char *)dir, "--log-format", "json", "--template-dir", tdir,
			"--runbook-dir", rdir, "--alerts-file", alerts, "--drill", "true", NULL };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		/* None of the site's settings, nor systemd's: a server of its own. */
		for (char **e = environ; *e != NULL;) {
			if (strncmp(*e, "OUTPOST_", 8) == 0 || strncmp(*e, "STATE_DIRECTORY=", 16) == 0 ||
			    strncmp(*e, "NOTIFY_SOCKET=", 14) == 0 || strncmp(*e, "WATCHDOG_", 9) == 0 ||
			    strncmp(*e, "LISTEN_", 7) == 0) {
				char name[128];

				snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
				unsetenv(name);
				continue;	/* the array moved down */
			}
			e++;
		}
		execv("/proc/self/exe", args);
		_exit(127);
	}
}

static int
drill_stop(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 128 + SIGKILL;
}

/* Compares the drill server's /metrics with the backup's figures; says each. */
static int
drill_compare(int port, json_t *rep, char *why, size_t len)
{
	json_t *counts = json_object_get(rep, "counts");
	int64_t want_i = json_integer_value(json_object_get(counts, "instances"));
	int64_t want_w = json_integer_value(json_object_get(counts, "workers"));
	int64_t want_seq = json_integer_value(json_object_get(rep, "event_seq"));
	int64_t got_i, got_w, got_seq;
	char *body = NULL;
	int status = http_get(port, "/metrics", &body), ok;

	if (status != 200 || body == NULL) {
		snprintf(why, len, "GET /metrics answered %d", status);
		free(body);
		return -1;
	}
	got_i = metric_sum(body, "outpost_instances");
	got_w = metric_sum(body, "outpost_workers");
	got_seq = metric_sum(body, "outpost_events_total");
	free(body);
	printf("  instances %lld (the backup: %lld), workers %lld (%lld), last event %lld (%lld)\n",
	    (long long)got_i, (long long)want_i, (long long)got_w, (long long)want_w,
	    (long long)got_seq, (long long)want_seq);
	ok = got_i == want_i && got_w == want_w && got_seq >= want_seq;
	if (!ok)
		snprintf(why, len, "the server on the copy counts %lld instances, %lld workers and "
		    "last event %lld; the backup holds %lld, %lld and %lld", (long long)got_i,
		    (long long)got_w, (long long)got_seq, (long long)want_i, (long long)want_w,
		    (long long)want_seq);
	return ok ? 0 : -1;
}

static int
drill(const struct server_config *c, const char *file)
{
	char bdir[PATH_BUF_MAX], path[PATH_BUF_MAX], dir[PATH_SETTING_MAX], db[PATH_BUF_MAX];
	char why[PATH_MSG_BUF] = "", *body = NULL;
	const char *tmpdir = getenv("TMPDIR");
	struct sbuf problems;
	json_t *rep = NULL;
	int64_t t0;
	pid_t pid = -1;
	int fd, port = 0, status = 0, rc = RX_FAILED;

	if (file == NULL) {
		backup_dir_of(c, bdir, sizeof(bdir));
		if (backup_newest(bdir, path, sizeof(path)) != 0) {
			fprintf(stderr, "outpostd: no verified backup (one with its manifest) in %s\n",
			    bdir);
			return RX_FAILED;
		}
		file = path;
	}
	printf("restore drill of %s\n", file);
	sbuf_init(&problems);
	if (backup_verify_file(file, &problems, &rep) != 0) {
		print_problems(file, &problems);
		printf("verdict: FAILED: the file is not a good backup\n");
		sbuf_free(&problems);
		json_decref(rep);
		return RX_FAILED;
	}
	sbuf_free(&problems);
	printf("  the file: integrity_check ok, schema version %lld, last event %lld%s\n",
	    (long long)json_integer_value(json_object_get(rep, "schema_version")),
	    (long long)json_integer_value(json_object_get(rep, "event_seq")),
	    json_is_null(json_object_get(rep, "manifest")) ? " (no manifest beside it)" :
	    "; SHA-256, counts and last event as its manifest says");
	if ((size_t)snprintf(dir, sizeof(dir), "%s/outpost-drill-XXXXXX", tmpdir && *tmpdir ?
	    tmpdir : "/tmp") >= sizeof(dir) || mkdtemp(dir) == NULL) {
		fprintf(stderr, "outpostd: cannot make a directory for the drill: %s\n",
		    strerror(errno));
		json_decref(rep);
		return RX_FAILED;
	}
	snprintf(db, sizeof(db), "%s/outpost.db", dir);
	if ((fd = open(db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    copy_file(file, fd, why, sizeof(why)) != 0) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "cannot copy the backup: %s", strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	t0 = now_ms();
	if ((pid = drill_spawn(dir)) < 0) {
		snprintf(why, sizeof(why), "cannot start a server: %s", strerror(errno));
		goto out;
	}
	while (port == 0) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			snprintf(why, sizeof(why), "the server on the copy exited (status %d) before "
			    "listening; its log is below", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			pid = -1;
			snprintf(db, sizeof(db), "%s/outpostd.log", dir);
			log_tail(db);
			goto out;
		}
		if (now_ms() - t0 > 120000) {
			snprintf(why, sizeof(why), "the server on the copy did not listen in 120 s");
			goto out;
		}
		usleep(50000);
		snprintf(db, sizeof(db), "%s/outpostd.log", dir);
		port = log_port(db);
	}
	while ((status = http_get(port, "/readyz", &body)) != 200) {
		free(body);
		body = NULL;
		if (now_ms() - t0 > 120000) {
			snprintf(why, sizeof(why), "/readyz answered %d, not 200, for 120 s", status);
			goto out;
		}
		usleep(100000);
	}
	free(body);
	printf("  a throwaway outpostd on 127.0.0.1:%d served /readyz %.1f s after its start\n",
	    port, (double)(now_ms() - t0) / 1000.0);
	if (drill_compare(port, rep, why, sizeof(why)) != 0)
		goto out;
	rc = RX_OK;
out:
	if (fd >= 0)
		close(fd);
	if (pid > 0 && (status = drill_stop(pid)) != 0 && rc == RX_OK) {
		snprintf(why, sizeof(why), "the server on the copy exited %d on SIGTERM", status);
		rc = RX_FAILED;
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc == RX_OK)
		printf("verdict: passed: the backup restores, and a server on it serves what it "
		    "holds\n");
	else
		printf("verdict: FAILED: %s\n", why);
	json_decref(rep);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outpostd restore [options] FILE\n"
	    "       outpostd restore-drill [options] [FILE]\n"
	    "\n"
	    "restore: with the server stopped, checks FILE (a backup), keeps the database aside\n"
	    "as outpost.db.before-restore-STAMP and puts FILE in its place.\n"
	    "restore-drill: starts a throwaway outpostd on a copy of FILE (default: the newest\n"
	    "verified backup in backup_dir), waits for /readyz, compares its counts with the\n"
	    "backup's, and removes it. Exit 0 when it passed.\n"
	    "\n"
	    "Options are outpostd's (--config FILE, --state-dir DIR, --backup-dir DIR, ...).\n"
	    "Exit codes: 0 done; 1 failed; 2 usage; 3 the server runs; 4 FILE is not a good backup.\n");
}

int
restore_main(int argc, char **argv)
{
	const char *cmd = argv[0], *file = NULL;
	char *flags[CONFIG_MAX_FLAGS * 2 + 4];
	struct config_flags f;
	struct server_config c;
	char err[600];
	int nf = 0, is_drill = strcmp(cmd, "restore-drill") == 0;

	flags[nf++] = (char *)cmd;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return RX_OK;
		}
		if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
			if (nf >= (int)(sizeof(flags) / sizeof(flags[0])) - 2)
				break;
			flags[nf++] = argv[i];
			if (strchr(a, '=') == NULL && i + 1 < argc)
				flags[nf++] = argv[++i];
			continue;
		}
		if (file != NULL) {
			fprintf(stderr, "outpostd %s: one FILE only (%s and %s)\n", cmd, file, a);
			return RX_USAGE;
		}
		file = a;
	}
	flags[nf] = NULL;
	if (file == NULL && !is_drill) {
		fprintf(stderr, "outpostd restore: which backup? outpostd restore FILE\n");
		return RX_USAGE;
	}
	if (config_parse_flags(nf, flags, "outpostd", server_config_keys, &f) != CONFIG_FLAGS_OK)
		return RX_USAGE;
	if (server_config_load(&f, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: %s\n", err);
		return RX_USAGE;
	}
	log_setup(LOG_FORMAT_TEXT, LOG_WARN);
	umask(077);
	return is_drill ? drill(&c, file) : restore(&c, file);
}
