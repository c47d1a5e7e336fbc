/*
 * The scheduler's whole pass on a real store: N pending instances and M
 * workers in an SQLite file (WAL, synchronous=FULL, as outpostd runs it);
 * sched_pass() reads the due instances and the workers' free capacity,
 * places them, and writes each placement with its transition row and its
 * event in one transaction. Timed with a monotonic clock, medians of R runs,
 * each on a fresh copy of the same site.
 *
 * The reference, in the same run and on the same copies: raw SQLite doing the
 * writes alone, with prepared statements and nothing else (the same number of
 * instance updates, transition rows and event rows of the same size, one
 * transaction): the floor under any pass that keeps what it decides.
 *
 *   pass-bench DIR [instances] [workers] [runs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

struct app *the_app;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "pass-bench: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * The site: M workers of 16 cpu and 64 GiB (a third in each of three zones,
 * one in 50 cordoned), two definitions (one asking for zone=a), N pending
 * instances due now, 1 or 2 cpu each.
 */
static int
make_site(const char *path, size_t ni, size_t nw)
{
	struct op_err err = { 0 };
	struct store *s = store_open(path, &err);
	struct sbuf one;
	int64_t now = now_ms();
	json_t *def, *out = NULL;
	sqlite3_stmt *st;

	if (s == NULL || store_migrate(s, store_latest_version(), &err) != 0) {
		fprintf(stderr, "pass-bench: %s\n", err.message);
		return -1;
	}
	if (store_begin(s) != 0)
		return -1;
	st = store_stmt(s, "INSERT INTO workers (name, state, health, cpu, memory_mb, slots, labels, "
	    "last_heartbeat, created_at, updated_at) VALUES (?, ?, 'online', 16, 65536, 32, ?, ?, ?, ?)");
	for (size_t k = 0; k < nw; k++) {
		char name[32], labels[32];

		snprintf(name, sizeof(name), "w%zu", k);
		snprintf(labels, sizeof(labels), "{\"zone\":\"%c\"}", (char)('a' + k % 3));
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, k % 50 == 0 ? "cordoned" : "ready", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, labels, -1, SQLITE_TRANSIENT);
		for (int c = 4; c <= 6; c++)
			sqlite3_bind_int64(st, c, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	store_commit(s);
	def = json_loads("{\"name\":\"lab\",\"resources\":{\"cpu\":1,\"memory_mb\":1024},"
	    "\"hooks\":{\"run\":[\"true\"]}}", 0, NULL);
	if (definition_create(s, def, "bench", &out, &err) != 0)
		return -1;
	json_decref(def);
	json_decref(out);
	def = json_loads("{\"name\":\"zoned\",\"resources\":{\"cpu\":2,\"memory_mb\":2048},"
	    "\"labels\":{\"zone\":\"a\"},\"hooks\":{\"run\":[\"true\"]}}", 0, NULL);
	if (definition_create(s, def, "bench", &out, &err) != 0)
		return -1;
	json_decref(def);
	json_decref(out);
	sbuf_init(&one);
	if (store_begin(s) != 0)
		return -1;
	for (size_t i = 0; i < ni; i++) {
		int is_zoned = i % 10 < 3;
		struct inst_row r = { .definition = is_zoned ? "zoned" : "lab", .definition_version = 1,
			.owner = "student", .timeslot_start = now, .timeslot_end = now + 3600000,
			.created_at = now, .updated_at = now, .cpu = is_zoned ? 2 : 1,
			.memory_mb = is_zoned ? 2048 : 1024 };

		if (instances_insert(s, &r, "bench", &one) != 0)
			return -1;
	}
	sbuf_free(&one);
	if (store_commit(s) != 0)
		return -1;
	exec(store_db(s), "PRAGMA wal_checkpoint(TRUNCATE)");
	events_shutdown();
	store_close(s);
	return 0;
}

static int
copy_db(const char *from, const char *to)
{
	sqlite3 *a = NULL, *b = NULL;
	sqlite3_backup *bk;
	char side[1200];
	int rc = -1;

	/* A WAL left by the last run would be replayed into the copy: it goes first. */
	remove(to);
	snprintf(side, sizeof(side), "%s-wal", to);
	remove(side);
	snprintf(side, sizeof(side), "%s-shm", to);
	remove(side);
	if (sqlite3_open(from, &a) == SQLITE_OK && sqlite3_open(to, &b) == SQLITE_OK &&
	    (bk = sqlite3_backup_init(b, "main", a, "main")) != NULL) {
		sqlite3_backup_step(bk, -1);
		rc = sqlite3_backup_finish(bk) == SQLITE_OK ? 0 : -1;
	}
	sqlite3_close(a);
	sqlite3_close(b);
	return rc;
}

#ifndef REF_EVENT_BYTES
#define REF_EVENT_BYTES 700	/* a placement's event, as the pass writes it (~650 bytes) */
#endif

/* The same rows a pass of `placed` placements writes, and nothing else. */
static int
raw_writes(const char *path, size_t placed, double *secs)
{
	sqlite3 *db;
	sqlite3_stmt *up, *tr, *ev;
	char data[REF_EVENT_BYTES];
	int64_t now = now_ms();
	double t0;

	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
	    "PRAGMA cache_size=-65536") != 0)
		return -1;
	if (sqlite3_prepare_v2(db, "UPDATE instances SET state = 'scheduled', worker_id = ?, "
	    "attempt = attempt + 1, state_reason = ?, updated_at = ? WHERE id = ?", -1, &up,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO transitions (instance_id, from_state, to_state, "
	    "reason, actor, at) VALUES (?, 'pending', 'scheduled', ?, 'outpostd', ?)", -1, &tr,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO events (ts, type, kind, ref, actor, data, worker_id) "
	    "VALUES (?, 'instance.state', 'instance', ?, 'outpostd', ?, ?)", -1, &ev, NULL) != SQLITE_OK)
		return -1;
	t0 = now_s();
	exec(db, "BEGIN IMMEDIATE");
	for (size_t i = 1; i <= placed; i++) {
		/* As binpack fills them: one worker after the other, ten apiece. */
		int64_t w = (int64_t)(i / 10) + 2;
		static const char reason[] = "binpack: w1 is the fullest worker that fits (cpu 1, "
		    "memory 1024 MB)";

		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, w);
		sqlite3_bind_text(up, 2, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 3, now);
		sqlite3_bind_int64(up, 4, (int64_t)i);
		sqlite3_reset(tr);
		sqlite3_bind_int64(tr, 1, (int64_t)i);
		sqlite3_bind_text(tr, 2, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(tr, 3, now);
		sqlite3_reset(ev);
		sqlite3_bind_int64(ev, 1, now);
		sqlite3_bind_int64(ev, 2, (int64_t)i);
		sqlite3_bind_text(ev, 3, data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ev, 4, w);
		if (sqlite3_step(up) != SQLITE_DONE || sqlite3_step(tr) != SQLITE_DONE ||
		    sqlite3_step(ev) != SQLITE_DONE)
			return -1;
	}
	exec(db, "COMMIT");
	*secs = now_s() - t0;
	sqlite3_finalize(up);
	sqlite3_finalize(tr);
	sqlite3_finalize(ev);
	sqlite3_close(db);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	size_t ni = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	size_t nw = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
	int runs = argc > 4 ? atoi(argv[4]) : 7;
	char site[1100], run[1100];
	double *t[3], phase[4][64];
	size_t placed = 0, due = 0;
	static const char *const names[3] = { "binpack pass", "spread pass",
		"reference: raw SQLite, the same writes" };

	if (runs < 1)
		return 2;
	log_setup(LOG_FORMAT_TEXT, LOG_WARN);
	snprintf(site, sizeof(site), "%s/site.db", dir);
	snprintf(run, sizeof(run), "%s/run.db", dir);
	if (make_site(site, ni, nw) != 0)
		return 1;
	for (int p = 0; p < 3; p++)
		t[p] = calloc((size_t)runs, sizeof(double));
	/* Interleaved: binpack, spread, reference, binpack, ... each on a fresh copy. */
	for (int r = 0; r < runs; r++) {
		for (int p = 0; p < 3; p++) {
			struct sched_pass_result res;
			struct op_err err = { 0 };
			struct store *s;

			if (copy_db(site, run) != 0)
				return 1;
			if (p == 2) {
				if (raw_writes(run, placed, &t[p][r]) != 0)
					return 1;
				continue;
			}
			s = store_open(run, &err);
			if (s == NULL || sched_pass(s, now_ms(), p == 0 ? SCHED_BINPACK : SCHED_SPREAD,
			    0, &res) != 0) {
				fprintf(stderr, "pass-bench: the pass failed\n");
				return 1;
			}
			t[p][r] = res.seconds;
			if (p == 0) {
				placed = res.placed;
				due = res.due;
				if (r < 64) {
					phase[0][r] = res.read_s;
					phase[1][r] = res.place_s;
					phase[2][r] = res.write_s;
					phase[3][r] = res.commit_s;
				}
			}
			events_shutdown();
			store_close(s);
		}
	}
	printf("| whole pass, store included (%zu pending onto %zu workers) | median ms | min ms | "
	    "ratio to the reference |\n|---|---|---|---|\n", ni, nw);
	for (int p = 0; p < 3; p++)
		qsort(t[p], (size_t)runs, sizeof(double), cmp_double);
	for (int p = 0; p < 3; p++)
		printf("| %s | %.1f | %.1f | %.2f |\n", names[p], t[p][runs / 2] * 1000, t[p][0] * 1000,
		    t[p][runs / 2] / t[2][runs / 2]);
	printf("\n%zu due, %zu placed by binpack (each placement: an update, a transition row, an "
	    "event).\n", due, placed);
	{
		int n = runs < 64 ? runs : 64;

		for (int k = 0; k < 4; k++)
			qsort(phase[k], (size_t)n, sizeof(double), cmp_double);
		printf("Where the binpack pass's time goes (medians): reading %.1f ms, placing %.1f ms, "
		    "writing %.1f ms, committing %.1f ms.\n", phase[0][n / 2] * 1000,
		    phase[1][n / 2] * 1000, phase[2][n / 2] * 1000, phase[3][n / 2] * 1000);
	}
	for (int p = 0; p < 3; p++)
		free(t[p]);
	if (getenv("PASS_BENCH_KEEP") == NULL) {
		remove(site);
		remove(run);
	}
	return 0;
}
