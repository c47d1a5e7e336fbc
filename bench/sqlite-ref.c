/*
 * The raw SQLite reference for instance creation (see bench/README.md).
 *
 *   sqlite-ref DB TXNS ROWS_PER_TXN [row|full]
 *
 * Opens (creates) DB the way outpostd opens its store (WAL, synchronous=FULL,
 * foreign keys on), then commits TXNS transactions of ROWS_PER_TXN inserts
 * each, with statements prepared once. "row" (the default) inserts one row
 * shaped like an outpostd instance row per instance; "full" also inserts what
 * outpostd writes beside it in the same transaction (a transitions row and an
 * events row carrying the instance as JSON). Prints one line:
 *
 *   txns=N rows=N seconds=S txn_per_s=R rows_per_s=R sqlite=VERSION
 *
 * Built by bench/run-create.sh with: cc -O2 -o sqlite-ref sqlite-ref.c -lsqlite3
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sqlite3 *db;

static void
check(int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "sqlite-ref: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

static void
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sqlite-ref: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static sqlite3_stmt *
prepare(const char *sql)
{
	sqlite3_stmt *st;

	check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL), sql);
	return st;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	/* The tables as outpostd's migrations make them (bench/README.md says which). */
	static const char schema[] =
	    "CREATE TABLE IF NOT EXISTS definitions (name TEXT NOT NULL, version INTEGER NOT NULL,"
	    " body TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (name, version)) STRICT;"
	    "CREATE TABLE IF NOT EXISTS workers (id INTEGER PRIMARY KEY AUTOINCREMENT) STRICT;"
	    "CREATE TABLE IF NOT EXISTS instances (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " definition TEXT NOT NULL, definition_version INTEGER NOT NULL, owner TEXT NOT NULL,"
	    " state TEXT NOT NULL, state_reason TEXT, worker_id INTEGER REFERENCES workers(id),"
	    " cpu INTEGER NOT NULL, memory_mb INTEGER NOT NULL, timeslot_start INTEGER NOT NULL,"
	    " timeslot_end INTEGER NOT NULL, created_at INTEGER NOT NULL,"
	    " updated_at INTEGER NOT NULL, grade TEXT, exit TEXT,"
	    " FOREIGN KEY (definition, definition_version) REFERENCES definitions(name, version))"
	    " STRICT;"
	    "CREATE INDEX IF NOT EXISTS instances_state ON instances(state, id);"
	    "CREATE INDEX IF NOT EXISTS instances_owner ON instances(owner, id);"
	    "CREATE INDEX IF NOT EXISTS instances_definition ON instances(definition, id);"
	    "CREATE INDEX IF NOT EXISTS instances_worker ON instances(worker_id, id);"
	    "CREATE TABLE IF NOT EXISTS transitions (id INTEGER PRIMARY KEY,"
	    " instance_id INTEGER NOT NULL REFERENCES instances(id), from_state TEXT,"
	    " to_state TEXT NOT NULL, reason TEXT, actor TEXT, at INTEGER NOT NULL) STRICT;"
	    "CREATE INDEX IF NOT EXISTS transitions_instance ON transitions(instance_id, id);"
	    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " ts INTEGER NOT NULL, type TEXT NOT NULL, kind TEXT NOT NULL, ref ANY, actor TEXT,"
	    " data TEXT NOT NULL) STRICT;"
	    "INSERT OR IGNORE INTO definitions VALUES ('bench', 1, '{}', 0);";
	sqlite3_stmt *ins, *tr = NULL, *ev = NULL;
	struct timespec t0, t1;
	long txns, per, rows = 0;
	int full;
	double secs;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "row") != 0 &&
	    strcmp(argv[4], "full") != 0)) {
		fprintf(stderr, "usage: sqlite-ref DB TXNS ROWS_PER_TXN [row|full]\n");
		return 2;
	}
	txns = atol(argv[2]);
	per = atol(argv[3]);
	full = argc == 5 && strcmp(argv[4], "full") == 0;
	if (txns < 1 || per < 1) {
		fprintf(stderr, "sqlite-ref: TXNS and ROWS_PER_TXN must be at least 1\n");
		return 2;
	}
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite-ref: cannot open %s\n", argv[1]);
		return 1;
	}
	exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	    "PRAGMA temp_store=MEMORY;");
	exec(schema);
	ins = prepare("INSERT INTO instances (definition, definition_version, owner, state, cpu,"
	    " memory_mb, timeslot_start, timeslot_end, created_at, updated_at)"
	    " VALUES ('bench', 1, 'o', 'pending', 1, 512, ?, ?, ?, ?)");
	if (full) {
		tr = prepare("INSERT INTO transitions (instance_id, from_state, to_state, reason,"
		    " actor, at) VALUES (?, NULL, 'pending', 'created', 'admin', ?)");
		ev = prepare("INSERT INTO events (ts, type, kind, ref, actor, data)"
		    " VALUES (?, 'instance.created', 'instance', ?, 'admin', ?)");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long t = 0; t < txns; t++) {
		exec("BEGIN IMMEDIATE");
		for (long i = 0; i < per; i++) {
			long long now = now_ms(), id;

			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, 1795428000000LL);
			sqlite3_bind_int64(ins, 2, 1795431600000LL);
			sqlite3_bind_int64(ins, 3, now);
			sqlite3_bind_int64(ins, 4, now);
			check(sqlite3_step(ins), "insert instance");
			id = sqlite3_last_insert_rowid(db);
			if (full) {
				char data[512];

				snprintf(data, sizeof(data), "{\"instance\":{\"id\":%lld,\"definition\":"
				    "\"bench\",\"definition_version\":1,\"owner\":\"o\",\"state\":"
				    "\"pending\",\"state_reason\":null,\"worker\":null,\"worker_id\":null,"
				    "\"timeslot_start\":\"2026-11-23T10:00:00Z\",\"timeslot_end\":"
				    "\"2026-11-23T11:00:00Z\",\"created_at\":\"2026-11-23T12:25:14.944Z\","
				    "\"updated_at\":\"2026-11-23T12:25:14.944Z\",\"grade\":null,"
				    "\"exit\":null,\"resources\":{\"cpu\":1,\"memory_mb\":512}}}", id);
				sqlite3_reset(tr);
				sqlite3_bind_int64(tr, 1, id);
				sqlite3_bind_int64(tr, 2, now);
				check(sqlite3_step(tr), "insert transition");
				sqlite3_reset(ev);
				sqlite3_bind_int64(ev, 1, now);
				sqlite3_bind_int64(ev, 2, id);
				sqlite3_bind_text(ev, 3, data, -1, SQLITE_TRANSIENT);
				check(sqlite3_step(ev), "insert event");
			}
			rows++;
		}
		exec("COMMIT");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("txns=%ld rows=%ld seconds=%.3f txn_per_s=%.1f rows_per_s=%.1f sqlite=%s\n",
	    txns, rows, secs, (double)txns / secs, (double)rows / secs, sqlite3_libversion());
	sqlite3_finalize(ins);
	sqlite3_finalize(tr);
	sqlite3_finalize(ev);
	sqlite3_close(db);
	return 0;
}
