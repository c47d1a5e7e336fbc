/*
 * The store: one SQLite file in WAL mode, opened once, its statements
 * prepared once and kept. This file owns the connection, the migrations and
 * transactions; the queries of each resource live in its domain file
 * (definitions.c, instances.c, workers.c, events.c, auth.c), which run them
 * through store_stmt(). The api_*.c files and the HTTP layer never see SQL.
 *
 * Durability: a change is on disk before the client is answered; a kill -9
 * after an answer loses nothing. synchronous=FULL, but for outpostd's own
 * store on its loop, which syncs once a turn for all that turn's commits and
 * holds answers till then (group commit: store_sync.c).
 *
 * Room: a write refused for lack of space (SQLITE_FULL, or an I/O error whose
 * errno is ENOSPC; the disk, or db_max_size_mb as PRAGMA max_page_count) is
 * rolled back whole and starts a "full" episode: logged once, shown by
 * /readyz and the metrics, and ended once there is room again
 * (ROOM_MIN_BYTES, under the cap and on the filesystem), which
 * store_room_check() asks every second and after each commit meanwhile: a
 * small write may fit where the one that failed did not.
 *
 * The turn's transaction: see store_begin_shared.
 */
#include <sys/statvfs.h>

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

struct stmt_entry {
	uint64_t hash;		/* of the SQL text; sqlite3_sql() holds the text itself */
	sqlite3_stmt *st;
	struct stmt_entry *next;
};

struct store {
	sqlite3 *db;
	struct stmt_entry *stmts;
	int in_txn;		/* a change is open: a transaction, or a savepoint */
	int in_shared;		/* ... a savepoint in the turn's (store_begin_shared) */
	int turn_open;		/* the turn's transaction is open */
	int turn_commits;	/* changes committed in it, not yet in the WAL */
	int64_t turn_rows0;	/* sqlite3_total_changes64 when it began */
	int stmt_used;		/* store_stmt ran since store_idle last looked */
	uint64_t data_version;
	uint64_t heartbeat_version;	/* bumped by heartbeats alone: see store_commit_heartbeat */
	uint64_t usage_version;		/* bumped by heartbeats that moved an instance's usage */
	int rolled_back_code;		/* the error that led to the last rollback */
	int rolled_back_errno;		/* and the system's errno under it */
	int fail_code, fail_errno;	/* what store_fail saw in the open transaction */
	char rolled_back_msg[200];
	/* room: see the top of the file */
	int64_t max_pages_default;	/* max_page_count as SQLite opened it: no cap */
	int64_t max_size_mb;		/* db_max_size_mb; 0: no cap */
	int64_t full_since;		/* a write failed for lack of space (ms); 0: none since */
	int64_t full_ended;		/* when the last such episode ended (ms) */
	char full_reason[160];
	uint64_t failures_full, failures_busy;
};

/* Below this much room (under the cap and on the filesystem), a full episode goes on. */
#define ROOM_MIN_BYTES (1024 * 1024)
/*
 * Changes share the turn's transaction only with this much room: its COMMIT
 * must not be the write that finds the disk full (see store_begin_shared).
 * It is the WAL's own bound (store_ckpt.c: 16,000 pages of 4 KiB).
 */
#define TURN_ROOM_MIN_BYTES (64LL * 1024 * 1024)
/*
 * ... and take at most about this many rows (an instance's row, transition and
 * event, with their index entries, are under 2 KB): past it, the next change
 * commits the turn's so far and begins anew, looking at the room again.
 */
#define TURN_ROWS_MAX 20000

/*
 * The migrations, numbered from 1. Each runs in one transaction with the
 * user_version bump; a migration, once released, is never edited.
 */
static const char *const migrations[] = {
	/* 1: definitions, instances, transitions, workers, events, tokens */
	"CREATE TABLE definitions ("
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  body TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (name, version)"
	") STRICT;"
	"CREATE TABLE workers ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  template TEXT,"
	"  state TEXT NOT NULL,"
	"  health TEXT NOT NULL,"
	"  cpu INTEGER NOT NULL,"
	"  memory_mb INTEGER NOT NULL,"
	"  slots INTEGER NOT NULL,"
	"  labels TEXT NOT NULL DEFAULT '{}',"
	"  last_heartbeat INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE instances ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  definition TEXT NOT NULL,"
	"  definition_version INTEGER NOT NULL,"
	"  owner TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  state_reason TEXT,"
	"  worker_id INTEGER REFERENCES workers(id),"
	"  cpu INTEGER NOT NULL,"
	"  memory_mb INTEGER NOT NULL,"
	"  timeslot_start INTEGER NOT NULL,"
	"  timeslot_end INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  grade TEXT,"
	"  exit TEXT,"
	"  FOREIGN KEY (definition, definition_version) REFERENCES definitions(name, version)"
	") STRICT;"
	"CREATE INDEX instances_state ON instances(state, id);"
	"CREATE TABLE transitions ("
	"  id INTEGER PRIMARY KEY,"
	"  instance_id INTEGER NOT NULL REFERENCES instances(id),"
	"  from_state TEXT,"
	"  to_state TEXT NOT NULL,"
	"  reason TEXT,"
	"  actor TEXT,"
	"  at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX transitions_instance ON transitions(instance_id, id);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  ref ANY,"
	"  actor TEXT,"
	"  data TEXT NOT NULL"
	") STRICT;"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER,"
	"  revoked_at INTEGER"
	") STRICT;",

	/* 2: the filters of GET /instances and /workers use indexes; drain deadlines */
	"CREATE INDEX instances_owner ON instances(owner, id);"
	"CREATE INDEX instances_definition ON instances(definition, id);"
	"CREATE INDEX instances_worker ON instances(worker_id, id);"
	"ALTER TABLE workers ADD COLUMN drain_deadline INTEGER;"
	"ALTER TABLE tokens ADD COLUMN created_by TEXT;",

	/*
	 * 3: running instances. Events name the worker they concern (an agent's
	 * stream is filtered by it); instances count their placements (attempt)
	 * and say whether they belong to a warm pool; hook output is kept per
	 * instance, attempt and hook; the scheduler and the slot timer find due
	 * instances by time, through partial indexes of the states they look at.
	 */
	"ALTER TABLE events ADD COLUMN worker_id INTEGER;"
	"CREATE INDEX events_worker ON events(worker_id, seq) WHERE worker_id IS NOT NULL;"
	"ALTER TABLE instances ADD COLUMN pool INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
	/* Partial: a placement leaves these, it does not rewrite them (see bench/RESULTS.md). */
	"CREATE INDEX instances_due ON instances(timeslot_start) WHERE state = 'pending';"
	"CREATE INDEX instances_missed ON instances(timeslot_end) WHERE state = 'pending' AND pool = 0;"
	"CREATE INDEX instances_ending ON instances(timeslot_end) WHERE state = 'running';"
	"CREATE INDEX instances_pool ON instances(definition, state) WHERE pool = 1;"
	/* A version's pool depth, read every second, is a column: bodies can be a MiB. */
	"ALTER TABLE definitions ADD COLUMN warm_depth INTEGER NOT NULL DEFAULT 0;"
	"UPDATE definitions SET warm_depth = coalesce(json_extract(body, '$.warm_pool.depth'), 0);"
	"CREATE TABLE instance_logs ("
	"  id INTEGER PRIMARY KEY,"
	"  instance_id INTEGER NOT NULL REFERENCES instances(id),"
	"  attempt INTEGER NOT NULL,"
	"  hook TEXT NOT NULL,"
	"  offset INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  text TEXT NOT NULL,"
	"  UNIQUE (instance_id, attempt, hook, offset)"
	") STRICT;",

	/*
	 * 4: the bytes of an instance's log, kept as chunks arrive, so that the
	 * bound is checked without summing the whole log at every chunk.
	 */
	"ALTER TABLE instances ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;"
	"UPDATE instances SET log_bytes = (SELECT sum(length(CAST(l.text AS BLOB))) "
	"  FROM instance_logs l WHERE l.instance_id = instances.id) "
	"WHERE id IN (SELECT instance_id FROM instance_logs);",

	/*
	 * 5: templates and the workers made from them. desired is the count the
	 * scaler keeps; a retiring worker is drained, then stopped and
	 * terminated; provider_ref is what its provisioner knows it by (the
	 * local agent's "PID START"); token_id its own join token, revoked once
	 * it is gone.
	 */
	"CREATE TABLE templates ("
	"  name TEXT PRIMARY KEY,"
	"  spec TEXT NOT NULL,"
	"  desired INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"ALTER TABLE workers ADD COLUMN retiring INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE workers ADD COLUMN provider_ref TEXT;"
	"ALTER TABLE workers ADD COLUMN token_id INTEGER;"
	"CREATE INDEX workers_template ON workers(template, state);",

	/*
	 * 6: runbook runs, their steps and output, and the alert rules' state.
	 * A run keeps the runbook as it was (spec), the token its programs got
	 * (revoked when it ends) and its running program ("PID START"), so a
	 * restart can end what the last process left running.
	 */
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  runbook TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  dry_run INTEGER NOT NULL,"
	"  params TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  error TEXT,"
	"  token_id INTEGER,"
	"  child_ref TEXT"
	") STRICT;"
	"CREATE INDEX runs_runbook ON runs(runbook, id);"
	"CREATE INDEX runs_status ON runs(status, id);"
	"CREATE TABLE run_steps ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  idx INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  output TEXT NOT NULL DEFAULT '',"
	"  started_at INTEGER,"
	"  ended_at INTEGER,"
	"  exit INTEGER,"
	"  PRIMARY KEY (run_id, idx)"
	") STRICT;"
	"CREATE TABLE alert_state ("
	"  rule TEXT PRIMARY KEY,"
	"  firing_since INTEGER,"
	"  last_fired INTEGER"
	") STRICT;",

	/* the browser's sessions: a cookie's SHA-256, the token it stands for */
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  token_id INTEGER NOT NULL REFERENCES tokens(id),"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  ended_at INTEGER"
	") STRICT;",

	/*
	 * 8: one identity per worker. A token of role agent is either a join
	 * token (worker_id NULL: it only registers a worker, within its limits:
	 * uses_left registrations, NULL for any number; names, a glob; template)
	 * or a worker's own token (worker_id: it acts for that worker alone).
	 * The tokens the scaler made for its workers are bound to them; every
	 * other agent token stays a join token without limits.
	 */
	"ALTER TABLE tokens ADD COLUMN worker_id INTEGER REFERENCES workers(id);"
	"ALTER TABLE tokens ADD COLUMN uses_left INTEGER;"
	"ALTER TABLE tokens ADD COLUMN names TEXT;"
	"ALTER TABLE tokens ADD COLUMN template TEXT;"
	"UPDATE tokens SET worker_id = (SELECT max(w.id) FROM workers w WHERE w.token_id = tokens.id) "
	"WHERE role = 'agent' AND id IN (SELECT token_id FROM workers WHERE token_id IS NOT NULL);"
	"CREATE INDEX tokens_worker ON tokens(worker_id) WHERE worker_id IS NOT NULL;",

	/*
	 * 9: containment. A worker's isolation, as its agent registers it
	 * ("none", "cgroup-v1", "cgroup-v2"); an instance's latest usage sample
	 * from its worker's heartbeats (NULL until one comes) and its peak memory.
	 */
	"ALTER TABLE workers ADD COLUMN isolation TEXT NOT NULL DEFAULT 'none';"
	"ALTER TABLE instances ADD COLUMN cpu_millicores INTEGER;"
	"ALTER TABLE instances ADD COLUMN cpu_usec INTEGER;"
	"ALTER TABLE instances ADD COLUMN memory_bytes INTEGER;"
	"ALTER TABLE instances ADD COLUMN memory_peak_bytes INTEGER;"
	"ALTER TABLE instances ADD COLUMN sampled_at INTEGER;",

	/*
	 * 10: traces. The traceparent of the span that wrote an event, and of
	 * the span an instance's agent continues (its creation's, then its
	 * placement's): NULL when none.
	 */
	"ALTER TABLE events ADD COLUMN trace TEXT;"
	"ALTER TABLE instances ADD COLUMN trace TEXT;",
};

/*
 * What each migration does, in one line, for outpostd --check (check.c): the
 * first line of its comment above. A new migration adds its line here.
 */
static const char *const migration_about[] = {
	"definitions, instances, transitions, workers, events, tokens",
	"the filters of GET /instances and /workers use indexes; drain deadlines",
	"running instances: events name their worker, attempts, warm pools, hook output",
	"the bytes of an instance's log, kept as chunks arrive",
	"templates and the workers made from them",
	"runbook runs, their steps and output, and the alert rules' state",
	"the browser's sessions: a cookie's SHA-256, the token it stands for",
	"one identity per worker: join tokens and workers' own tokens",
	"containment: a worker's isolation, an instance's usage and peak memory",
	"traces: the traceparent of an event's writer and of an instance's last step",
};

_Static_assert(sizeof(migration_about) / sizeof(migration_about[0]) ==
    sizeof(migrations) / sizeof(migrations[0]), "one line of migration_about[] a migration");

int
store_latest_version(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

/* Migration v's line (1 to store_latest_version()). */
const char *
store_migration_about(int v)
{
	assert(v >= 1 && v <= store_latest_version());
	return migration_about[v - 1];
}

/*
 * PRAGMA data_version: it moves when another connection commits (outpostd
 * token create, from a shell on the host), never for this connection's own
 * commits; -1 if it cannot be read. A read of the WAL index, no query.
 */
int64_t
store_outside_version(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "PRAGMA data_version");
	int64_t v = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Another connection changed the data (events_adopt): no cached answer outlives it. */
void
store_touch(struct store *s)
{
	s->data_version++;
}

/* One integer a query of any connection answers (another file's, read-only); -1 if it fails. */
int64_t
store_query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

void
store_touch_heartbeats(struct store *s)
{
	s->heartbeat_version++;
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

static int
exec_sql(struct store *s, const char *sql, struct op_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		if (err != NULL)
			op_err_set(err, 500, "internal", "", "database: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
store_schema_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
store_migrate(struct store *s, int target, struct op_err *err)
{
	int v = store_schema_version(s);

	if (v < 0) {
		op_err_set(err, 500, "internal", "", "cannot read the schema version");
		return -1;
	}
	if (v > store_latest_version()) {
		op_err_set(err, 500, "internal", "",
		    "the database has schema version %d, newer than this outpostd knows (%d)",
		    v, store_latest_version());
		return -1;
	}
	for (; v < target && v < store_latest_version(); v++) {
		char bump[64];

		if (exec_sql(s, "BEGIN IMMEDIATE", err) != 0)
			return -1;
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(s, migrations[v], err) != 0 || exec_sql(s, bump, err) != 0) {
			exec_sql(s, "ROLLBACK", NULL);
			snprintf(err->message + strlen(err->message),
			    sizeof(err->message) - strlen(err->message), " (migration %d)", v + 1);
			return -1;
		}
		if (exec_sql(s, "COMMIT", err) != 0)
			return -1;
		log_info("store.migrated", LOG_INT("version", v + 1), NULL);
	}
	return 0;
}

/* One integer a pragma answers (page_count, max_page_count, ...); -1 if none. */
static int64_t
pragma_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct store *
store_open(const char *path, struct op_err *err)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		op_err_set(err, 500, "internal", "", "cannot open %s: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	/*
	 * Only this process writes, and WAL readers never wait; another writer
	 * (a backup, a sqlite3 shell) is waited for briefly, then the request is
	 * told 503 to retry, rather than the loop stalling for seconds.
	 */
	sqlite3_busy_timeout(s->db, 100);
	if (exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;", err) != 0)
		goto fail;
	s->max_pages_default = pragma_int(s, "PRAGMA max_page_count");
	return s;
fail:
	sqlite3_close(s->db);
	free(s);
	return NULL;
}

void
store_close(struct store *s)
{
	struct stmt_entry *e, *next;

	if (s == NULL)
		return;
	store_group_stop(s);
	counts_forget(s);
	for (e = s->stmts; e != NULL; e = next) {
		next = e->next;
		sqlite3_finalize(e->st);
		free(e);
	}
	sqlite3_close(s->db);
	free(s);
}

/* FNV-1a over the SQL text: the cache's key. */
static uint64_t
sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/*
 * Statements are cached by their text, not by the address of the caller's
 * string: SQL formatted into a buffer (a column's name, a list of states) is
 * a different statement at the same address from one call to the next. O(n)
 * in the number of distinct statements (a few dozen), comparing hashes.
 * The statement comes back reset with its bindings cleared.
 */
static sqlite3_stmt *stmt_get(struct store *s, const char *sql);

/*
 * A write outside any change (an UPDATE of one row, committed by itself)
 * while the turn's transaction is open would join it: committed with it, or
 * lost with it. The turn's is committed first, so the write commits alone, as
 * it always did.
 */
sqlite3_stmt *
store_stmt(struct store *s, const char *sql)
{
	sqlite3_stmt *st = stmt_get(s, sql);

	if (st != NULL && s->turn_open && !s->in_txn && !sqlite3_stmt_readonly(st))
		store_settle(s);
	return st;
}

static sqlite3_stmt *
stmt_get(struct store *s, const char *sql)
{
	struct stmt_entry *e;
	uint64_t h = sql_hash(sql);

	for (e = s->stmts; e != NULL; e = e->next)
		if (e->hash == h && strcmp(sqlite3_sql(e->st), sql) == 0)
			break;
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return NULL;
		if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &e->st,
		    NULL) != SQLITE_OK) {
			log_error("store.prepare", "sql", sql, "error", sqlite3_errmsg(s->db), NULL);
			free(e);
			return NULL;
		}
		e->hash = h;
		e->next = s->stmts;
		s->stmts = e;
	}
	sqlite3_reset(e->st);
	sqlite3_clear_bindings(e->st);
	s->stmt_used = 1;
	return e->st;
}

/* ---- room ---- */

/* A write refused for lack of space: SQLITE_FULL, or an I/O error of ENOSPC (the -shm file). */
static int
is_no_room(int code, int sys_errno)
{
	return (code & 0xff) == SQLITE_FULL ||
	    ((code & 0xff) == SQLITE_IOERR && sys_errno == ENOSPC);
}

/*
 * The bytes a write may still take: the lesser of the room under the cap
 * (pages up to max_page_count) and the room on the filesystem holding the
 * file, each with the file's free pages (a prune leaves them, and writes
 * take them first). why says which binds. Four pragmas and a statvfs: O(1).
 */
static int64_t
room_left(struct store *s, char *why, size_t whylen)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	int64_t psize = pragma_int(s, "PRAGMA page_size");
	int64_t freed = pragma_int(s, "PRAGMA freelist_count") * psize;
	int64_t cap = INT64_MAX, disk = INT64_MAX;
	struct statvfs v;

	if (s->max_size_mb > 0 && psize > 0)
		cap = (pragma_int(s, "PRAGMA max_page_count") - pragma_int(s, "PRAGMA page_count")) *
		    psize + freed;
	if (path != NULL && *path != '\0' && statvfs(path, &v) == 0)
		disk = (int64_t)v.f_bavail * (int64_t)v.f_frsize + freed;
	if (cap < disk)
		snprintf(why, whylen, "it reached db_max_size_mb, %lld MB", (long long)s->max_size_mb);
	else if (disk != INT64_MAX)
		snprintf(why, whylen, "the filesystem holding it has %lld KB free",
		    (long long)(disk / 1024));
	else
		snprintf(why, whylen, "the database or its disk is full");
	return cap < disk ? cap : disk;
}

/* A write failed: count it, and start a full episode (logged once) if for lack of room. */
static void
write_failed(struct store *s, int code, int sys_errno)
{
	if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
		s->failures_busy++;
	if (!is_no_room(code, sys_errno))
		return;
	s->failures_full++;
	if (s->full_since != 0)
		return;
	s->full_since = now_ms();
	room_left(s, s->full_reason, sizeof(s->full_reason));
	log_error("store.full", "reason", s->full_reason, "detail", "writes are refused (507) "
	    "and background work waits until there is room", NULL);
}

/*
 * While a full episode lasts: is there room again (ROOM_MIN_BYTES)? Ends the
 * episode if so. Reads only; called every second by timers.c and after each
 * commit during the episode. Returns 1 when writes may go on.
 */
int
store_room_check(struct store *s)
{
	char why[160];

	if (s->full_since == 0)
		return 1;
	if (s->in_txn || room_left(s, why, sizeof(why)) < ROOM_MIN_BYTES)
		return 0;
	log_info("store.room", "detail", "there is room again: writes go on",
	    LOG_INT("full_for_ms", now_ms() - s->full_since), NULL);
	s->full_since = 0;
	s->full_ended = now_ms();
	return 1;
}

int64_t
store_full_since(struct store *s, const char **reason)
{
	if (reason != NULL)
		*reason = s->full_reason;
	return s->full_since;
}

int64_t
store_full_ended(struct store *s)
{
	return s->full_ended;
}

/*
 * db_max_size_mb: PRAGMA max_page_count, a setting of the connection (set at
 * each start and reload). 0 puts back SQLite's own bound. A cap under the
 * file's present size holds it where it is (SQLite never truncates for it).
 */
void
store_set_max_size(struct store *s, int64_t mb)
{
	int64_t psize, want, got;
	char sql[64];

	store_settle(s);
	psize = pragma_int(s, "PRAGMA page_size");
	if (psize <= 0)
		return;
	want = mb > 0 ? mb * 1024 * 1024 / psize : s->max_pages_default;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)want);
	got = pragma_int(s, sql);
	s->max_size_mb = mb;
	if (mb > 0 && got > want)
		log_warn("store.max_size", LOG_INT("db_max_size_mb", mb),
		    LOG_INT("database_mb", got * psize / (1024 * 1024)), "detail",
		    "the database is already larger than its cap: it will not grow", NULL);
}

void
store_metrics(struct store *s, struct sbuf *o)
{
	int64_t psize = pragma_int(s, "PRAGMA page_size");

	sbuf_printf(o, "# HELP outpost_db_full Whether writes fail for lack of space (1) since the "
	    "last one that went through, or not (0).\n# TYPE outpost_db_full gauge\n"
	    "outpost_db_full %d\n", s->full_since != 0);
	sbuf_printf(o, "# HELP outpost_db_write_failures_total Writes the database refused, by "
	    "cause: no room (disk or db_max_size_mb), or another process holding it.\n"
	    "# TYPE outpost_db_write_failures_total counter\n"
	    "outpost_db_write_failures_total{cause=\"full\"} %llu\n"
	    "outpost_db_write_failures_total{cause=\"busy\"} %llu\n",
	    (unsigned long long)s->failures_full, (unsigned long long)s->failures_busy);
	sbuf_printf(o, "# HELP outpost_db_size_bytes The database file's pages, free ones too.\n"
	    "# TYPE outpost_db_size_bytes gauge\noutpost_db_size_bytes %lld\n",
	    (long long)(pragma_int(s, "PRAGMA page_count") * psize));
	sbuf_printf(o, "# HELP outpost_db_max_size_bytes db_max_size_mb in bytes; 0: no cap.\n"
	    "# TYPE outpost_db_max_size_bytes gauge\noutpost_db_max_size_bytes %lld\n",
	    (long long)(s->max_size_mb * 1024 * 1024));
	store_ckpt_metrics(o);
}

/* One statement of the store's own (a savepoint's): its result code. */
static int
step_sql(struct store *s, const char *sql)
{
	sqlite3_stmt *st = stmt_get(s, sql);
	int rc;

	if (st == NULL)
		return SQLITE_ERROR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/*
 * The turn's transaction is gone, rolled back by SQLite itself (an I/O error,
 * no memory, no room), or its COMMIT failed: the changes committed in it this
 * turn are lost, though the process went on from them (their events are in
 * the ring, their answers made). None of it was said: their answers wait for
 * a sync after that COMMIT. The process stops at once, as on a failed sync
 * (main.c), and SQLite recovers at the next start what is on disk.
 */
static void
turn_lost(const char *error, const char *what)
{
	log_error("store.turn_lost", "error", error, "detail", what, "stopping", "answering none "
	    "of the turn's changes", NULL);
	_exit(1);
}

/*
 * SQLite rolls a whole transaction back on some errors (I/O, no memory, no
 * room), a read's among them: the turn's is then gone while it looks open.
 * Stops the process if changes were committed in it; 1 if it was gone.
 */
static int
turn_vanished(struct store *s, const char *error)
{
	if (!s->turn_open || !sqlite3_get_autocommit(s->db))
		return 0;
	s->turn_open = 0;
	if (s->turn_commits > 0)
		turn_lost(error, "the turn's transaction was rolled back");
	return 1;
}

/* Room for the turn's transaction: TURN_ROOM_MIN_BYTES on the filesystem and under the cap. */
static int
turn_has_room(struct store *s)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	struct statvfs v;
	char why[160];

	/* Under a cap, room_left weighs the cap and the filesystem; else a statvfs will do. */
	if (s->max_size_mb > 0)
		return room_left(s, why, sizeof(why)) >= TURN_ROOM_MIN_BYTES;
	return path != NULL && *path != '\0' && statvfs(path, &v) == 0 &&
	    (int64_t)v.f_bavail * (int64_t)v.f_frsize >= TURN_ROOM_MIN_BYTES;
}

/* COMMIT, its time observed (outpost_db_commit_duration_seconds). */
static int
commit_timed(struct store *s)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (exec_sql(s, "COMMIT", NULL) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe(HIST_DB_COMMIT, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

int
store_begin(struct store *s)
{
	if (s->in_txn) {
		log_error("store.begin", "error", "transaction already open", NULL);
		return -1;
	}
	store_settle(s);
	s->fail_code = s->fail_errno = 0;
	if (exec_sql(s, "BEGIN IMMEDIATE", NULL) != 0) {
		write_failed(s, sqlite3_errcode(s->db), sqlite3_system_errno(s->db));
		return -1;
	}
	s->in_txn = 1;
	return 0;
}

/*
 * A change that may share the turn's transaction. On the loop's store
 * (group commit, store_sync.c), the changes of one turn are one SQLite
 * transaction: the first opens it (BEGIN IMMEDIATE), each is a savepoint in
 * it, committed by a RELEASE and rolled back alone by a ROLLBACK TO; the
 * turn's end commits them together (store_settle) before any sync. A
 * burst of 100 creates then writes each page of the tables and their
 * indexes into the WAL once a turn, not once a create (about 10 pages
 * each), and takes the file's locks once.
 *
 * Nothing is said any sooner: a change's answer is held for the sync that
 * covers it as before (http.c), and that sync comes after the COMMIT. What changes is
 * what a failure costs. A COMMIT that fails, or an error that makes SQLite
 * roll the whole transaction back, loses every change of the turn, and the
 * process has gone on from them: it stops (turn_lost), as on a failed sync.
 * So that a full disk is not such a failure, a turn shares only with
 * TURN_ROOM_MIN_BYTES of room and outside a full episode; else each change
 * is its own transaction, as store_begin makes it, and one refused for room
 * is answered 507 alone.
 *
 * Only changes whose work after the commit is the store's own (rows, events,
 * counts) share: instance creates. The others (store_begin) commit the
 * turn's first and run as their own transaction.
 */
int
store_begin_shared(struct store *s)
{
	if (s->in_txn) {
		log_error("store.begin", "error", "transaction already open", NULL);
		return -1;
	}
	(void)turn_vanished(s, sqlite3_errmsg(s->db));
	/* Past its rows, or the disk found full since it began: it is committed as it is. */
	if (s->turn_open && (s->full_since != 0 ||
	    sqlite3_total_changes64(s->db) - s->turn_rows0 > TURN_ROWS_MAX))
		store_settle(s);
	if (!s->turn_open) {
		if (!store_is_grouped(s) || s->full_since != 0 || !turn_has_room(s))
			return store_begin(s);
		s->fail_code = s->fail_errno = 0;
		if (exec_sql(s, "BEGIN IMMEDIATE", NULL) != 0) {
			write_failed(s, sqlite3_errcode(s->db), sqlite3_system_errno(s->db));
			return -1;
		}
		s->turn_open = 1;
		s->turn_commits = 0;
		s->turn_rows0 = sqlite3_total_changes64(s->db);
	}
	s->fail_code = s->fail_errno = 0;
	if (step_sql(s, "SAVEPOINT change") != SQLITE_DONE) {
		(void)turn_vanished(s, sqlite3_errmsg(s->db));
		write_failed(s, sqlite3_errcode(s->db), sqlite3_system_errno(s->db));
		return -1;
	}
	s->in_txn = 1;
	s->in_shared = 1;
	return 0;
}

/*
 * Commits the turn's transaction, if one is open: called at the turn's end
 * (store_sync) and by whatever needs the connection outside a transaction
 * (store_begin, the scheduler's pass, a backup's step). A failure loses the
 * turn's changes: the process stops. A change still open in it then is a
 * bug (each is committed or rolled back in the call that began it): it is
 * logged and rolled back, so that the sync after this never counts the
 * turn's changes on disk while they are not even in the WAL.
 */
void
store_settle(struct store *s)
{
	if (s == NULL || !s->turn_open)
		return;
	if (s->in_txn) {
		log_error("store.change_left_open", "detail", "a change was neither committed nor "
		    "rolled back by the end of its turn: rolled back", NULL);
		store_rollback(s);
		if (!s->turn_open)
			return;
	}
	if (turn_vanished(s, sqlite3_errmsg(s->db)))
		return;
	s->turn_open = 0;
	if (commit_timed(s) != 0) {
		if (s->turn_commits > 0)
			turn_lost(sqlite3_errmsg(s->db), "the turn's transaction could not be "
			    "committed");
		exec_sql(s, "ROLLBACK", NULL);
		return;
	}
	s->turn_commits = 0;
	store_group_in_log(s);
}

int
store_in_txn(struct store *s)
{
	return s->in_txn;
}

/*
 * COMMIT, then the committed events go to the ring and the websockets; the
 * counter the change moves (the data version, the heartbeat version, or
 * none) is bumped only once the change is on disk.
 */
static int
commit(struct store *s, uint64_t *version)
{
	assert(s->in_txn);
	if (s->in_shared) {
		/* Into the turn's transaction: committed with it at the turn's end. */
		if (step_sql(s, "RELEASE change") != SQLITE_DONE) {
			store_rollback(s);
			return -1;
		}
		s->in_shared = 0;
		s->turn_commits++;
	} else if (commit_timed(s) != 0) {
		store_rollback(s);
		return -1;
	}
	s->in_txn = 0;
	/* A heartbeat's commit may wait for its sync only if it wrote no event. */
	store_group_committed(s, version == &s->heartbeat_version && events_pending() == 0);
	/* A small write may fit where the one that failed did not: room ends the episode. */
	if (s->full_since != 0)
		store_room_check(s);
	if (version != NULL)
		(*version)++;
	counts_committed(s);
	events_committed(s);
	/* Its own transaction, not the turn's: in the log now, its sync may begin. */
	if (!s->turn_open)
		store_group_in_log(s);
	return 0;
}

int
store_commit(struct store *s)
{
	return commit(s, &s->data_version);
}

/*
 * A commit that only moved last_heartbeat: it bumps the heartbeat version,
 * not the data version, so a site's heartbeats do not empty the response
 * cache every few seconds; only answers that show heartbeats depend on it.
 */
int
store_commit_heartbeat(struct store *s)
{
	return commit(s, &s->heartbeat_version);
}

/* A heartbeat's commit that also moved instances' usage: answers showing usage follow it. */
int
store_commit_usage(struct store *s)
{
	if (commit(s, &s->heartbeat_version) != 0)
		return -1;
	s->usage_version++;
	return 0;
}

uint64_t
store_usage_version(struct store *s)
{
	return s->usage_version;
}

int
store_commit_silent(struct store *s)
{
	return commit(s, NULL);
}

uint64_t
store_heartbeat_version(struct store *s)
{
	return s->heartbeat_version;
}

void
store_rollback(struct store *s)
{
	/* ROLLBACK resets the connection's error: keep the one that caused it for store_fail. */
	s->rolled_back_code = sqlite3_errcode(s->db);
	s->rolled_back_errno = sqlite3_system_errno(s->db);
	snprintf(s->rolled_back_msg, sizeof(s->rolled_back_msg), "%s", sqlite3_errmsg(s->db));
	if (s->fail_code != 0) {
		s->rolled_back_code = s->fail_code;
		s->rolled_back_errno = s->fail_errno;
		snprintf(s->rolled_back_msg, sizeof(s->rolled_back_msg), "%s",
		    sqlite3_errstr(s->fail_code));
	}
	if (s->in_txn)
		write_failed(s, s->rolled_back_code, s->rolled_back_errno);
	s->fail_code = s->fail_errno = 0;
	if (s->in_shared) {
		/* This change alone; the turn's others stay, unless SQLite took them all. */
		s->in_shared = 0;
		if (!sqlite3_get_autocommit(s->db) &&
		    (step_sql(s, "ROLLBACK TO change") != SQLITE_DONE ||
		    step_sql(s, "RELEASE change") != SQLITE_DONE))
			exec_sql(s, "ROLLBACK", NULL);
		(void)turn_vanished(s, s->rolled_back_msg);
	} else if (!sqlite3_get_autocommit(s->db))
		exec_sql(s, "ROLLBACK", NULL);
	s->in_txn = 0;
	counts_rolled_back(s);
	events_rolled_back(s);
}

uint64_t
store_data_version(struct store *s)
{
	return s->data_version;
}

/* The error for a failed statement: 503 while another process holds the database, 507 when
 * it has no room, else 500. */
int
store_fail(struct store *s, struct op_err *err)
{
	int code = sqlite3_errcode(s->db), sys = sqlite3_system_errno(s->db);
	const char *msg = sqlite3_errmsg(s->db);

	if (code == SQLITE_OK) {
		code = s->rolled_back_code;
		sys = s->rolled_back_errno;
		msg = s->rolled_back_msg;
	}
	if (is_no_room(code, sys)) {
		char why[160];

		/* room_left's pragmas reset the connection's error: store_rollback needs it. */
		s->fail_code = code;
		s->fail_errno = sys;
		room_left(s, why, sizeof(why));
		op_err_set(err, 507, "storage_full", "", "the database's disk is full (%s): nothing "
		    "was changed; retry once space is freed", why);
	} else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		op_err_set(err, 503, "unavailable", "", "the database is busy (another process is "
		    "writing to it); retry");
	else
		op_err_set(err, 500, "internal", "", "database error: %s", msg);
	return -1;
}

int
store_page(sqlite3_stmt *st, int64_t limit, json_t *items,
    json_t *(*from_row)(sqlite3_stmt *st), void (*mark)(sqlite3_stmt *st, void *arg),
    void *arg)
{
	int64_t n = 0;
	int has_more = 0;

	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o;

		if (n++ == limit) {
			has_more = 1;
			break;
		}
		if ((o = from_row(st)) != NULL)
			json_array_append_new(items, o);
		mark(st, arg);
	}
	sqlite3_reset(st);
	return has_more;
}

void
store_mark_id(sqlite3_stmt *st, void *arg)
{
	*(int64_t *)arg = sqlite3_column_int64(st, 0);
}

/* The statement of sql with its parameters bound as types says; NULL if it cannot be made. */
static sqlite3_stmt *
bound(struct store *s, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st = store_stmt(s, sql);

	for (int k = 0; st != NULL && types[k] != '\0'; k++) {
		if (types[k] == 'i') {
			sqlite3_bind_int64(st, k + 1, va_arg(ap, int64_t));
		} else {
			const char *t = va_arg(ap, const char *);

			assert(types[k] == 't');
			if (t != NULL)
				sqlite3_bind_text(st, k + 1, t, -1, SQLITE_TRANSIENT);
		}
	}
	return st;
}

int
store_exec(struct store *s, int64_t *out, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, types);
	st = bound(s, sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (out != NULL)
		*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_DONE || (out != NULL && rc == SQLITE_ROW) ? 0 : -1;
}

sqlite3_stmt *
store_row(struct store *s, const char *sql, int64_t id, const char *what, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int rc;

	if (st == NULL) {
		store_fail(s, err);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		return st;
	if (rc == SQLITE_DONE)
		op_err_set(err, 404, "not_found", "id", "no %s with id %lld", what, (long long)id);
	else
		store_fail(s, err);
	sqlite3_reset(st);
	return NULL;
}

json_t *
store_get_json(struct store *s, const char *sql, int64_t id,
    json_t *(*from_row)(sqlite3_stmt *st), const char *what, struct op_err *err)
{
	sqlite3_stmt *st = store_row(s, sql, id, what, err);
	json_t *j;

	if (st == NULL)
		return NULL;
	j = from_row(st);
	sqlite3_reset(st);
	if (j == NULL)
		op_err_set(err, 500, "internal", "", "out of memory");
	return j;
}

int
store_state_of(struct store *s, const char *sql, enum state_kind kind, int64_t id,
    const char *what, struct op_err *err)
{
	sqlite3_stmt *st = store_row(s, sql, id, what, err);
	int i;

	if (st == NULL)
		return -1;
	i = state_index(kind, (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (i < 0)
		op_err_set(err, 500, "internal", "", "%s %lld has an unknown state", what,
		    (long long)id);
	return i;
}

int
store_abort(struct store *s, struct op_err *err)
{
	if (err->code == NULL)
		store_fail(s, err);
	store_rollback(s);
	return -1;
}

int
store_check(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1");
	int rc = (st != NULL && sqlite3_step(st) == SQLITE_ROW) ? 0 : -1;

	if (st != NULL)
		sqlite3_reset(st);
	return rc;
}

/*
 * Between requests no statement may be left mid-step: one that is holds a
 * read snapshot open, so the process stops seeing the file's present state
 * and the WAL can never be checkpointed. Called after every request; resets
 * and reports any such statement so the test suite finds the culprit. It
 * looks only when a statement was handed out since it last did: the loop
 * calls it every turn too (thousands a second in a burst of connections).
 */
int
store_idle(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (!s->stmt_used)
		return 0;
	s->stmt_used = 0;
	while ((st = sqlite3_next_stmt(s->db, st)) != NULL) {
		if (!sqlite3_stmt_busy(st))
			continue;
		log_warn("store.statement_left_busy", "sql", sqlite3_sql(st), NULL);
		sqlite3_reset(st);
		n++;
	}
	return n;
}
