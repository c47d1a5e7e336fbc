/*
 * outpostd's one header of types: the application, requests and responses,
 * errors, the route table, and the entry points of each module. Modules talk
 * through these. SQL is written in the domain files (definitions.c,
 * instances.c, workers.c, ...) and run only through store.c's store_stmt();
 * the api_*.c files and the HTTP layer never see it. libwebsockets is the
 * HTTP layer's and the event stream's; other modules use only its timers
 * (lws_sul) and, for runs' output pipes, its adoption of a descriptor.
 */
#ifndef OUTPOST_SERVER_H
#define OUTPOST_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <sqlite3.h>

#include <libwebsockets.h>

#include "bounds.h"
#include "log.h"
#include "otlp.h"
#include "state.h"
#include "util.h"

#define MAX_BODY (1024 * 1024)	/* request bodies above this get 413 */

/* An error an operator reads: code, HTTP status, the field it is about. */
struct op_err {
	int http;
	const char *code;
	char field[64];
	char message[256];
};

void op_err_set(struct op_err *e, int http, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

enum sched_policy { SCHED_BINPACK, SCHED_SPREAD };

#include "edge.h"	/* TLS, client addresses, the front door */

/* ---- configuration (config_server.c) ---- */
struct server_config {
	char listen_host[128];
	int listen_port;
	char state_dir[PATH_SETTING_MAX];
	char config_path[PATH_SETTING_MAX];
	enum log_format log_format;
	enum log_level log_level;
	int64_t ws_ping_interval_ms;
	int64_t ws_max_lag;		/* events a live client may lag before resync */
	int64_t shutdown_grace_ms;	/* how long SIGTERM waits for requests in flight */
	int64_t worker_offline_after_ms;	/* no heartbeat this long: offline */
	int64_t worker_lost_after_ms;		/* no heartbeat this long: lost */
	int64_t rate_limit;		/* requests per second per token; 0 = none */
	int64_t rate_burst;		/* requests a token may make at once */
	enum sched_policy sched_policy;	/* binpack or spread */
	int64_t lead_time_ms;		/* an instance is placed this long before its slot */
	int64_t scheduler_interval_ms;	/* a pass at least this often, changes or not */
	int64_t instance_retention_ms;	/* stopped instances are terminated after this */
	int64_t hook_timeout_ms;	/* for hooks but run that name no timeout */
	char template_dir[PATH_SETTING_MAX];	/* templates, one JSON file each */
	char agent_program[PATH_SETTING_MAX];	/* the local provisioner's outpost-agent; "": found */
	char public_url[512];	/* how hosts made by a command program reach us; "": app.url */
	char runbook_dir[PATH_SETTING_MAX];	/* runbooks, one JSON file each */
	char alerts_file[PATH_SETTING_MAX];	/* the alert rules, one JSON file */
	char web_dir[PATH_SETTING_MAX];	/* the web app's files, served at / */
	char bootstrap_css[PATH_SETTING_MAX];	/* served as /vendor/bootstrap.min.css; "": none */
	int64_t session_ttl_ms;	/* how long a browser's session lasts */
	char tls_host[128];	/* the TLS listener (tls.c); tls_port < 0: none */
	int tls_port;
	char tls_cert[PATH_SETTING_MAX];	/* PEM: the certificate, then its chain */
	char tls_key[PATH_SETTING_MAX];	/* PEM: its private key */
	struct addr_list trusted_proxies;	/* whose X-Forwarded-For and -Proto count */
	int api_program_provisioners;	/* the API may name a provisioner's programs */
	int64_t max_connections;	/* open at once, websockets too; more get 503 */
	int64_t max_connections_per_address;	/* open at once from one client address */
	int64_t body_timeout_ms;	/* a request's body must be whole this long after its headers */
	int64_t db_max_size_mb;		/* the database's cap (PRAGMA max_page_count); 0: none */
	/* backups (backup.c) */
	char backup_dir[PATH_SETTING_MAX];	/* "": STATE_DIR/backups */
	int64_t backup_interval_ms;	/* a backup this often; 0: none (or backup_at) */
	int backup_at;			/* the daily one's minute after local midnight; -1: none */
	int64_t backup_keep;		/* the schedule's backups kept; 0: no count limit */
	int64_t backup_max_age_ms;	/* the schedule's older ones removed; 0: no age limit */
	int drill;	/* a restore drill's server: no scaler, clock, alerts, backups, run recovery */
	char otlp_endpoint[OTLP_ENDPOINT_BUF];	/* spans go to ENDPOINT/v1/traces; "": none */
};

void server_config_defaults(struct server_config *c);
/* The settings in the order file < environment < flags; argv handled by main. */
int server_config_set(void *ctx, const char *key, const char *value, char *err, size_t errlen);
extern const char *const server_config_keys[];
int listen_parse(const char *s, char *host, size_t hostlen, int *port);
int server_config_check(const struct server_config *c, char *err, size_t errlen);
struct config_flags;
int server_config_load(const struct config_flags *flags, struct server_config *c, char *err,
    size_t errlen);

/* ---- the state directory's lock and outpostd --check (check.c); token create (tokencmd.c) */
int state_lock_take(const char *dir);
long state_lock_holder(const char *dir);
int check_flag_take(int *argc, char **argv);
int check_run(const struct server_config *c);
int token_cmd(int argc, char **argv);

/* ---- the agent protocol's versions (agent_version.c) ---- */
struct store;
#define AGENT_PROTOCOL_MIN 1	/* agents of the release before: no "protocol" said */
#define AGENT_PROTOCOL_MAX AGENT_PROTOCOL
int agent_version_take(struct store *s, json_t *in, int may_keep, struct op_err *err);
void agent_version_json(json_t *worker);
void agent_version_hold(const json_t *in);	/* a join token's registration: */
void agent_version_undo(struct store *s);	/* ... kept only if it succeeds */

/* ---- the store (store.c and store_*.c) ---- */
struct store;

struct store *store_open(const char *path, struct op_err *err);
void store_close(struct store *s);
sqlite3 *store_db(struct store *s);
int store_schema_version(struct store *s);
int store_latest_version(void);
const char *store_migration_about(int v);	/* migration v in one line (check.c) */
/* Moves when another connection commits (outpostd token create); see events_adopt. */
int64_t store_outside_version(struct store *s);
void store_touch(struct store *s);	/* the data version moves: cached answers go */
/* One integer a query of db answers; -1 if it fails (backup.c, check.c: other files). */
int64_t store_query_int(sqlite3 *db, const char *sql);
/* The heartbeat version moves: cached answers that show workers go (agent_version.c). */
void store_touch_heartbeats(struct store *s);
/* Runs the numbered migrations up to target (store_latest_version() for all). */
int store_migrate(struct store *s, int target, struct op_err *err);
/* Group commit (store_sync.c): one sync of the WAL for many commits, answers held till then. */
int store_group_start(struct store *s, struct op_err *err);
void store_group_stop(struct store *s);
void store_group_committed(struct store *s, int is_heartbeat);
int store_is_grouped(struct store *s);
/* A turn of heartbeats alone waits this long for company before its sync. */
#define SYNC_HEARTBEAT_MS 50
void store_answer_held(int may_wait);
int64_t store_sync_due_ms(void);
uint64_t store_commit_mark(void);
int store_is_synced(uint64_t mark);
int64_t store_visible_seq(struct store *s);
void store_sync_adopted(struct store *s, int64_t seq);
int store_sync(struct store *s);
void store_group_in_log(struct store *s);
/* The syncs in a thread of their own, which wakes the loop (store_sync.c). */
int store_sync_thread_start(void (*wake_loop)(void));
int store_sync_thread_stop(void);
uint64_t store_syncs(void);
/* store_ckpt.c: the loop's store's checkpoints, in a thread of their own */
void store_ckpt_start(struct store *s);
void store_ckpt_stop(struct store *s);
void store_ckpt_metrics(struct sbuf *o);
int store_ckpt_io_failed(void);
int store_journal_is_wal(sqlite3 *db);
int store_begin(struct store *s);
/* A change that may share the turn's transaction (instance creates): see store.c. */
int store_begin_shared(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* Commits the turn's transaction, if open: before the sync, and before work needing none. */
void store_settle(struct store *s);
int store_in_txn(struct store *s);
/* A counter bumped by every committed change: the version of the data. */
uint64_t store_data_version(struct store *s);
/* Commits a change to heartbeats alone, and its version (answers showing heartbeats use both). */
int store_commit_heartbeat(struct store *s);
uint64_t store_heartbeat_version(struct store *s);
int store_commit_usage(struct store *s);
uint64_t store_usage_version(struct store *s);
/* Commits a change no cached answer shows (instances' logs): no version moves. */
int store_commit_silent(struct store *s);
/* A prepared statement kept for the life of the store, made on first use. */
sqlite3_stmt *store_stmt(struct store *s, const char *sql);
int store_check(struct store *s);
/*
 * Room (store.c): a write refused for lack of space starts a "full" episode
 * (since: ms, reason: what binds); the next commit, or store_room_check()
 * finding room, ends it. db_max_size_mb is store_set_max_size().
 */
int store_room_check(struct store *s);
int64_t store_full_since(struct store *s, const char **reason);
int64_t store_full_ended(struct store *s);
void store_set_max_size(struct store *s, int64_t mb);
void store_metrics(struct store *s, struct sbuf *o);
/* Says in err what the database said (busy: 503, no room: 507, else 500). Returns -1. */
int store_fail(struct store *s, struct op_err *err);
/* Rolls back the open transaction; err keeps its reason, or gets the database's. Returns -1. */
int store_abort(struct store *s, struct op_err *err);
/*
 * One page of a keyset listing: steps st (bound by the caller to ask for
 * limit + 1 rows), appending each of the first limit rows to items as
 * from_row makes it, and tells each row taken to mark (its key is the
 * page's last so far). Returns 1 when there is more after the page, else
 * 0. Resets st. O(limit).
 */
int store_page(sqlite3_stmt *st, int64_t limit, json_t *items,
    json_t *(*from_row)(sqlite3_stmt *st), void (*mark)(sqlite3_stmt *st, void *arg),
    void *arg);
/* store_page's mark for a listing keyed by its first column, an id: *(int64_t *)arg. */
void store_mark_id(sqlite3_stmt *st, void *arg);
/*
 * Runs sql, its parameters bound in order from the arguments as types says:
 * 'i' an int64_t, 't' a string (NULL binds NULL); with out, a query of one
 * integer, whose first row's first column goes to *out (0 when no row).
 * 0, or -1 with the database's error left for store_fail(). The statement
 * is kept.
 */
int store_exec(struct store *s, int64_t *out, const char *sql, const char *types, ...);
/*
 * Steps sql (whose one parameter is id) to the row of id: the statement on
 * that row, for the caller to read and then reset; or NULL with err (404
 * "no WHAT with id N", or the database's).
 */
sqlite3_stmt *store_row(struct store *s, const char *sql, int64_t id, const char *what,
    struct op_err *err);
/*
 * The row of id that sql reads ("... WHERE i.id = ?") as from_row makes it
 * JSON; NULL with err (404 "no WHAT with id N", or the database's).
 */
json_t *store_get_json(struct store *s, const char *sql, int64_t id,
    json_t *(*from_row)(sqlite3_stmt *st), const char *what, struct op_err *err);
/*
 * The state of row id as sql reads it ("SELECT state FROM workers WHERE id = ?"):
 * its index in kind's table, or -1 with err (404 "no WHAT with id N", or the
 * database's error, or 500 for a name the table does not know).
 */
int store_state_of(struct store *s, const char *sql, enum state_kind kind, int64_t id,
    const char *what, struct op_err *err);
/* Resets statements left mid-step; returns how many there were (0 is right). */
int store_idle(struct store *s);

/* ---- events (events.c) ---- */
struct event_row {
	int64_t seq;
	int64_t ts;
	char type[48];
	char kind[24];
	int64_t worker_id;	/* the worker it concerns, or 0 */
	char *json;	/* the whole event as sent to clients */
};

/* What a reader asks for: type patterns (none: all) and, optionally, one worker's events. */
struct event_filter {
	const char *const *types;
	int ntypes;
	int64_t worker_id;	/* 0: any; -1: none (an unknown worker) */
};

/*
 * Appends an event in the caller's open transaction. ref_str or ref_int names
 * the resource (one of them). Takes ownership of data.
 */
int events_append(struct store *s, const char *type, const char *kind,
    const char *ref_str, int64_t ref_int, const char *actor, json_t *data);
/* The same with data already encoded as a JSON object's text (copied). */
int events_append_text(struct store *s, const char *type, const char *kind,
    const char *ref_str, int64_t ref_int, const char *actor, const char *data_text);
/*
 * An event that concerns a worker other than through its kind (an instance on
 * it): worker_id is what an agent's stream, and ?worker=, are filtered by.
 * A "worker" event concerns its own worker without this.
 */
int events_append_worker(struct store *s, const char *type, const char *kind, int64_t ref_int,
    int64_t worker_id, const char *actor, json_t *data);
int events_append_worker_text(struct store *s, const char *type, const char *kind,
    int64_t ref_int, int64_t worker_id, const char *actor, const char *data_text);
/* After commit: make the new events visible to clients and wake them. */
void events_committed(struct store *s);
void events_rolled_back(struct store *s);
int64_t events_last_seq(struct store *s);
/* What the in-memory ring holds now: events and their rendered bytes (for /metrics). */
void events_ring_stats(int64_t *count, size_t *bytes);
int events_adopt(struct store *s);	/* another process's events (events.c) */
size_t events_pending(void);
void events_forget(int64_t upto);
/* Reads up to max events after `since` matching the filter; returns count or -1. */
int events_read(struct store *s, int64_t since, const struct event_filter *f,
    int max, size_t max_bytes, struct event_row *out, int64_t *scanned_to);
void event_row_free(struct event_row *r);
int events_type_matches(const char *type, const char *const *patterns, int n);
void events_set_notify(void (*fn)(void *), void *arg);

#include "creds.h"	/* credentials in memory, by the hash of their secret */

/* ---- auth (auth.c) ---- */
struct auth_token {
	int64_t id;
	char name[128];
	enum role role;
	int64_t expires_at;	/* 0 = never */
	int64_t session_id;	/* the browser session it came through, or 0 (a bearer token) */
	/* Role agent: a worker's own token (the one worker it acts for), or 0: a join token. */
	int64_t worker_id;
	char worker[NAME_BUF];	/* the name of worker_id's worker */
	int64_t uses_left;	/* a join token's registrations left; -1: no limit */
	char names[NAME_BUF];	/* a join token's glob of worker names; "": any */
	char tmpl[NAME_BUF];	/* a join token's template; "": any */
};
int auth_load(struct store *s);
void auth_free(void);
/* Looks up a bearer token; 0 and *out filled, or -1. */
int auth_check(const char *token, struct auth_token *out);
int auth_catch_up(void);	/* tokens made by another process: see auth.c */
int auth_is_live(int64_t id);
/* The live token of this id: 0 and *out filled, or -1. O(tokens). */
int auth_get(int64_t id, struct auth_token *out);
int auth_create(struct store *s, const char *name, enum role role, int64_t expires_at,
    const char *actor, char *token_out, size_t toklen, json_t **rec, struct op_err *err);
/* Agents' tokens (join tokens, workers' own): agent_tokens.h. */
int auth_revoke(struct store *s, int64_t id, const char *actor, json_t **rec, struct op_err *err);
json_t *auth_list(struct store *s);
/* On first start: makes an admin token and writes it to path (mode 0600). */
int auth_bootstrap(struct store *s, const char *path);

/* Per-token rate limit: 0 to go on, else the seconds to wait (token bucket). */
int auth_rate_check(int64_t token_id, double rate, double burst);

struct req;
struct resp;

/* ---- browser sessions (sessions.c) ---- */
#define SESSION_COOKIE "outpost_session"
int sessions_load(struct store *s);
void sessions_free(void);
/* Looks up a session id from a cookie; 0 and *out (its token, session_id set), or -1. */
int session_check(const char *sid, struct auth_token *out);
/* Is the session live: not ended, not expired, and its token live? */
int session_is_live(int64_t id);
/* Makes a session for tok; its id (43 characters) goes to sid. */
int session_create(struct store *s, const struct auth_token *tok, int64_t ttl_ms, char *sid,
    size_t sidlen, int64_t *expires_at, struct op_err *err);
int session_end(struct store *s, int64_t id, const char *actor, struct op_err *err);

/* The session cookie of a websocket upgrade, from this server's own pages (http.c). */
enum ws_cookie { WS_COOKIE_NONE, WS_COOKIE_OK, WS_COOKIE_FOREIGN, WS_COOKIE_BAD };
enum ws_cookie ws_cookie_auth(struct lws *wsi, struct auth_token *tok);

/* ---- the web app's files (static.c) ---- */
extern const char static_csp[];
int static_path_is_safe(const char *path);
/* Fills rs with the file for a GET or HEAD of rq->path (or a 404). */
int static_serve(const struct req *rq, struct resp *rs);

/* ---- metrics (metrics.c) ---- */
void metrics_http_observe(const char *method, const char *route, int code, double seconds);
/* One scheduler pass: how many it placed and left, and how long it took. */
void metrics_sched_pass(size_t placed, size_t unplaced, double seconds);
/* The histograms of durations, each observed in seconds. */
enum metric_hist {
	HIST_SCHED_PASS,	/* one scheduler pass (metrics_sched_pass observes it) */
	HIST_INSTANTIATION,	/* from instantiating to running or warm */
	HIST_ASSIGNMENT,	/* from a placement to its agent's first report */
	HIST_LOOP_LAG,		/* how late the loop's lag timer fired (timers.c) */
	HIST_RUN_DURATION,	/* a runbook's run, from start to end */
	HIST_DB_COMMIT,		/* one COMMIT of the store (store.c) */
	HIST_DB_SYNC,		/* one sync of its WAL, for the commits before it (store_sync.c) */
	HIST_COUNT
};
void metrics_observe(enum metric_hist which, double seconds);
/* Claims committed (never counted before the commit: a rollback claimed nothing). */
void metrics_warm_claimed(size_t n);
void metrics_ws_clients(int delta);
void metrics_scaling_action(const char *action, const char *tmpl);
int metrics_render(struct store *s, struct sbuf *out);
void metrics_free(void);

/* ---- HTTP requests and the route table (http.c, api_*.c) ---- */
#define MAX_PARAMS 4
#define HTTP_PATH_BUF 512	/* a request's path and its NUL; a longer one gets 414 */
#define HTTP_QUERY_BUF 2048	/* its query's decoded pairs, each with its NUL */
#define REQUEST_ID_MAX 64	/* an X-Request-Id kept from the caller: [A-Za-z0-9._:-] */

struct req {
	const char *method;
	const char *path;
	const char *route;		/* the matched pattern, for metrics */
	const char *const *args;	/* URL-decoded "name=value" query pairs */
	int nargs;
	const char *params[MAX_PARAMS];	/* path captures in order */
	int nparams;
	const char *body;
	size_t body_len;
	struct auth_token tok;
	const char *actor;		/* "token:NAME" for the audit trail */
	const char *request_id;
	const char *if_none_match;
	int is_tls;			/* came over TLS: a cookie it sets is Secure */
	struct app *app;
};

struct resp {
	int status;
	struct sbuf body;
	const char *content_type;
	char etag[64];
	char location[256];
	int is_cacheable;	/* GET answer valid until the data changes */
	int shows_heartbeats;	/* ... or, with this, until a heartbeat arrives */
	int shows_usage;	/* ... or, with this, until a heartbeat moves usage */
	int is_routine;		/* a call made every few seconds (heartbeats): logged at debug */
	int may_wait;		/* a heartbeat's: its sync may wait for others' (store_sync.c) */
	int retry_after;
	const char *cache_control;	/* NULL: no-cache with an ETag, else no-store */
	const char *csp;		/* a Content-Security-Policy, for the web app's files */
	char set_cookie[256];		/* a Set-Cookie value, or "" */
};

typedef int (*route_fn)(struct req *rq, struct resp *rs);

struct route {
	const char *method;
	const char *pattern;	/* "/api/v1/instances/{id}/stop" */
	enum role role;		/* ROLE_NONE: no token needed */
	route_fn fn;
	const char *const *query;	/* the query parameters it takes; NULL: none */
	unsigned flags;		/* ROUTE_*, or 0 */
};

/*
 * A change made without a token that a browser makes (signing in): it needs
 * X-Outpost-CSRF and no foreign Origin, as a change made with the cookie does.
 */
#define ROUTE_SIGN_IN 0x1u
/* The one route a join token may call (POST /api/v1/agent/register). */
#define ROUTE_JOIN 0x2u
/* A route whose body is small (signing in): over SMALL_BODY gets 413. */
#define ROUTE_SMALL_BODY 0x4u
#define SMALL_BODY (4 * 1024)

/* Route tables, one per api_*.c, ending with a NULL method. */
extern const struct route api_definitions_routes[];
extern const struct route api_instances_routes[];
extern const struct route api_workers_routes[];
extern const struct route api_events_routes[];
extern const struct route api_tokens_routes[];
extern const struct route api_health_routes[];
extern const struct route api_agent_routes[];
extern const struct route api_templates_routes[];
extern const struct route api_runbooks_routes[];
extern const struct route api_session_routes[];
extern const struct route api_site_routes[];
extern const struct route api_backups_routes[];
/* All of them, in the order they are searched (http.c), ending with NULL. */
extern const struct route *const http_route_tables[];
/*
 * The route of rq's method and path (HEAD as GET), its captures in
 * rq->params (copied into pbuf), or NULL, with allow the methods the path
 * takes ("" if none). http.c's; the fuzz harness of the router calls it too.
 */
const struct route *route_find(struct req *rq, char *pbuf, size_t plen, char *allow,
    size_t allowlen);

/* ---- who may make a request (http_auth.c) ---- */
/* What a request carries that says who sent it; http.c reads it from the headers. */
struct http_creds {
	const char *method;	/* GET and HEAD change nothing: the cookie needs no header */
	const char *bearer;	/* the Authorization header's bearer token, or NULL */
	const char *sid;	/* the session cookie's value, or NULL */
	int has_csrf;		/* an X-Outpost-CSRF header came */
	int is_cross_origin;	/* an Origin header came that is not this server's */
};
/*
 * May the caller make this request of route r? 0 and the caller's *tok
 * (zeroed for a ROLE_NONE route), or -1 and the refusal to answer in *err:
 * 401, 403, or 429 with *retry_after seconds. Spends the token's rate bucket.
 */
int http_authorize(const struct route *r, const struct http_creds *c,
    const struct server_config *cfg, struct auth_token *tok, int *retry_after,
    struct op_err *err);
/* The token of an Authorization header's value "Bearer TOKEN", or NULL. */
const char *http_bearer(const char *authorization);
/* May agent token tok act for worker name? Its own worker only: 0, or -1 (403, field). */
int http_agent_acts_for(const struct auth_token *tok, const char *name, const char *field,
    struct op_err *err);
/* May join token tok register worker name of template tmpl (or NULL)? 0, or -1 (403). */
int http_join_allows(const struct auth_token *tok, const char *name, const char *tmpl,
    struct op_err *err);

/* ---- the response cache (http_cache.c) ---- */
/* A path and query as a key: the path's bytes, and each pair's after a separator. */
#define HTTP_CACHE_KEY_BUF (HTTP_PATH_BUF + HTTP_QUERY_BUF)
struct cache_entry;
/* A GET's place in the cache, from http_cache_get() to http_cache_put(). */
struct http_cache_ref {
	char key[HTTP_CACHE_KEY_BUF];
	struct cache_entry *slot;	/* NULL: not kept (not a GET, or a key too long) */
};
/*
 * 1 when a GET or HEAD can be answered from the cache: rs has its status,
 * type and ETag, *body and *len the kept body (valid until the next call).
 */
int http_cache_get(const struct req *rq, struct http_cache_ref *ref, struct resp *rs,
    const char **body, size_t *len);
/* After the route: 1 when its answer has an ETag (a cacheable 200), kept if nothing moved. */
int http_cache_put(struct http_cache_ref *ref, struct resp *rs);
/* Does the request's If-None-Match name the answer's ETag (a 304)? */
int http_cache_not_modified(const struct req *rq, const struct resp *rs);

/* ---- a request's trace (http_trace.c): its traceparent, its server span ---- */
void http_trace_begin(struct lws *wsi, struct span *sp);
void http_trace_end(struct span *sp, const struct req *rq, int status, const char *rid);
/* outpost_trace_spans_total{result}: the exporter's counts, for /metrics. */
void trace_metrics(struct sbuf *o);

/* Response helpers (http.c). */
int resp_json(struct resp *rs, int status, json_t *j);	/* takes ownership of j */
int resp_error(struct resp *rs, const struct op_err *e);
int resp_text(struct resp *rs, int status, const char *ctype, const char *text);
/* Query helpers: the value of name, or NULL; copies into buf. */
const char *req_query(const struct req *rq, const char *name, char *buf, size_t len);
/* Rejects query names outside the allowed list (NULL-terminated). */
int req_query_check(const struct req *rq, const char *const *allowed, struct op_err *err);
/* Parses the body as a JSON object; errors name what is wrong. */
json_t *req_json_body(const struct req *rq, struct op_err *err);
/* A query's comma list of states of kind k into a mask; errors name the field and the states. */
int req_mask_parse(enum state_kind k, const char *list, const char *field, unsigned *mask,
    struct op_err *err);
/* Path capture i as a positive id; errors name it ("id") and say it is a `what` id. */
int req_param_id(const struct req *rq, int i, const char *what, int64_t *id,
    struct op_err *err);

/* ---- JSON validation (jsonv.c) ---- */
/* Fails with unknown_field on a key outside allowed (NULL-terminated). prefix names nesting. */
int jsonv_known(json_t *obj, const char *prefix, const char *const *allowed, struct op_err *err);
/* Fetch a typed member. Missing & required → error; missing & optional → 0 with *out unset. */
int jsonv_string(json_t *obj, const char *prefix, const char *key, int is_required,
    size_t minlen, size_t maxlen, const char **out, struct op_err *err);
int jsonv_int(json_t *obj, const char *prefix, const char *key, int is_required,
    int64_t min, int64_t max, int64_t *out, struct op_err *err);
int jsonv_bool(json_t *obj, const char *prefix, const char *key, int *out, struct op_err *err);
int jsonv_time(json_t *obj, const char *prefix, const char *key, int is_required,
    int64_t *out, struct op_err *err);
int jsonv_duration(json_t *obj, const char *prefix, const char *key, int is_required,
    int64_t min, int64_t max, int64_t *out, struct op_err *err);
json_t *jsonv_object(json_t *obj, const char *prefix, const char *key, int is_required,
    struct op_err *err);
json_t *jsonv_array(json_t *obj, const char *prefix, const char *key, int is_required,
    struct op_err *err);
/* A worker's capacity, the required object key {cpu, memory_mb, slots}, within bounds.h's. */
int jsonv_capacity(json_t *obj, const char *key, int64_t *cpu, int64_t *memory_mb,
    int64_t *slots, struct op_err *err);
/* Labels: an object of strings; keys are names, values up to 255 bytes. */
int jsonv_labels(json_t *obj, const char *prefix, const char *key, json_t **out,
    struct op_err *err);

/* ---- keyset cursors (cursor.c) ---- */
/* An opaque cursor over ascending integer ids, bound to one listing. */
void cursor_encode(const char *listing, int64_t last_id, char *out, size_t outlen);
int cursor_decode(const char *listing, const char *cursor, int64_t *last_id);
/* The same over a string key (a name): keys hold no ':' at their end. */
void cursor_encode_key(const char *listing, const char *key, char *out, size_t outlen);
int cursor_decode_key(const char *listing, const char *cursor, char *key, size_t keylen);
/* Validates limit and after from the query; errors name the parameter. */
int page_params(const struct req *rq, const char *listing, int64_t *limit, int64_t *after,
    struct op_err *err);

/* ---- the domain ---- */
/* scheduler.c: placement, pure (no store, no clock), so it is tested and measured alone. */

/*
 * Containment as a label: workers whose isolation is not "none" carry it,
 * and definitions with "containment": "required" ask for it, so the label
 * classes place them; explanations name it in words, never as a label.
 */
#define SCHED_CONTAINED "\001contained"

struct sched_worker {
	int64_t id;
	const char *name;
	enum worker_state state;
	enum worker_health health;
	int64_t free_cpu;		/* capacity less what it holds; placement lowers them */
	int64_t free_memory_mb;
	int64_t free_slots;
	const char *const *labels;	/* "key=value" */
	int nlabels;
};

struct sched_instance {
	int64_t id;
	int64_t cpu;
	int64_t memory_mb;
	const char *const *labels;	/* "key=value" the worker must carry */
	int nlabels;
	int worker;			/* out: index into the workers, or -1 */
};

struct sched_stats {
	size_t placed;
	size_t unplaced;
	size_t classes;		/* distinct label requirements seen */
};

int sched_policy_parse(const char *s, enum sched_policy *out);
const char *sched_policy_name(enum sched_policy p);
/* Places what fits, in the instances' order; O((n + m·k) log m) for k label classes. */
int sched_place(struct sched_worker *w, size_t nw, struct sched_instance *in, size_t ni,
    enum sched_policy policy, struct sched_stats *stats);
/* Why each worker cannot take the instance, summed up for an operator. O(m). */
int sched_explain(const struct sched_worker *w, size_t nw, const struct sched_instance *in,
    struct sbuf *out);
/* Is w a worker the instance may be placed on at all (state, health, labels)? */
int sched_worker_may_take(const struct sched_worker *w, const struct sched_instance *in);
/* One worker's answer for the instance, in a few words ("lacks cpu: needs 4, 2 free"). */
void sched_worker_reason(const struct sched_worker *w, const struct sched_instance *in,
    char *buf, size_t n);

/* placement.c: the scheduler's pass over the store, and one instance's explanation. */
struct sched_pass_result {
	size_t due;		/* pending instances whose slot is near (0: not read, no room) */
	size_t workers;		/* workers that take new instances */
	size_t placed;
	size_t unplaced;
	int64_t next_due_at;	/* when the next pending instance becomes due; 0: none */
	double seconds;		/* the whole pass, reads and writes included */
	double read_s, place_s, write_s, commit_s;	/* where the time went */
};
/* Places what is due and fits, in one transaction. O((n + m·k) log m) plus the I/O. */
int sched_pass(struct store *s, int64_t now, enum sched_policy policy, int64_t lead_time,
    struct sched_pass_result *res);
json_t *instance_placement(struct store *s, int64_t id, int64_t now, int64_t lead_time,
    struct op_err *err);

/* The autoscaler's question to the scheduler (placement.c, sched_demand). */
struct demand_tmpl {
	const char *name;
	int64_t cpu, memory_mb, slots;
	const char *labels_text;	/* the template's labels object as JSON text */
	int coming;			/* its workers being provisioned */
	int room;			/* how many more it may have (max less live) */
	const char *const *labels;	/* internal: the labels as "k=v" */
	int nlabels;
	int add;			/* out: new workers that would take what is left */
	int64_t need_cpu, need_memory_mb;	/* out: what those instances ask for */
	size_t need_n;			/* out: how many instances */
};
struct demand_result {
	size_t due;		/* pending instances due now */
	size_t unplaced_now;	/* ... that fit no worker there is or is coming */
	size_t unfit;		/* ... that no template could take either */
	int64_t free_cpu, free_memory_mb;	/* free on the workers that take instances */
};
int sched_demand(struct store *s, int64_t now, int64_t lead_time, struct demand_tmpl *t, size_t nt,
    struct demand_result *res);

/* lifecycle.c: the clock (slots, retention, drains, pools), lost and removed workers. */
/* A reason the server writes for a transition: a sentence naming a worker or definition. */
#define REASON_BUF 256
int lifecycle_tick(struct store *s, int64_t now, const struct server_config *cfg, int is_full);
/* In the caller's transaction: what a lost worker held is placed again or failed. */
int lifecycle_worker_lost(struct store *s, int64_t worker_id, const char *name);
/* The same for a worker an operator stopped or terminated with force ("stopped", "terminated"). */
int lifecycle_worker_gone(struct store *s, int64_t worker_id, const char *name, const char *how);
/* In the caller's transaction: one instance its agent fenced goes as for a lost worker. */
int lifecycle_instance_fenced(struct store *s, int64_t id, enum inst_state state,
    const char *name, const char *reason, const char *actor, struct op_err *err);
void lifecycle_free(void);
/* An instance that holds a worker, and its state. */
struct held_inst {
	int64_t id;
	enum inst_state state;
};
/* The instances on a worker in states that hold it, by id. Caller frees. O(held). */
struct held_inst *lifecycle_held_by(struct store *s, int64_t worker_id, size_t *n);
/*
 * A kept statement whose SQL is head, a set of instance states as an SQL
 * list, and tail; written into sql (the caller's static buffer, of
 * STATES_SQL_BUF bytes) once.
 */
#define STATES_SQL_BUF 1024
sqlite3_stmt *lifecycle_stmt_states(struct store *s, char *sql, size_t n, const char *head,
    unsigned states, const char *tail);

/* pools.c: warm pools, kept by the lifecycle's clock. */
/* Trims what is stale or too many, makes what is missing, pauses failing pools. */
int pools_keep(struct store *s, int64_t now);
void pools_free(void);
/* Warm instances per definition that has a pool: {"name": count}. */
json_t *pools_warm_counts(struct store *s);

/* agent_proto.c: the agent's side of the protocol (its routes are api_agent.c's). */
/* The worker an agent names, by name; 404 (field name) unknown, 409 terminated. */
int agent_worker(struct store *s, const char *name, int64_t *id, struct op_err *err);
/* The agent's work as JSON text: {"worker", "instances": [...], "last_seq"}. */
int agent_work(struct store *s, const char *name, int64_t hook_timeout, struct sbuf *out,
    struct op_err *err);
/* An agent's (re)start: {name, alive: [ids]}; settles what it lost; answers as agent_work. */
int agent_sync(struct store *s, json_t *in, const char *actor, int64_t hook_timeout,
    struct sbuf *out, struct op_err *err);
/* An agent's report {name, from, to, reason?, exit?, grade?}; *out is the instance after it. */
int instance_report(struct store *s, int64_t id, json_t *in, const char *actor, json_t **out,
    struct op_err *err);

/* logs.c: hooks' output, per instance. */
int instance_log_append(struct store *s, int64_t id, json_t *in, int64_t *stored,
    struct op_err *err);
int instance_log_read(struct store *s, int64_t id, const char *hook, int64_t attempt,
    int64_t after, int64_t limit, struct sbuf *out, struct op_err *err);

/* definitions.c */
int definition_validate(json_t *in, json_t **normal, struct op_err *err);
int definition_create(struct store *s, json_t *in, const char *actor, json_t **out,
    struct op_err *err);
json_t *definition_get(struct store *s, const char *name, int64_t version, struct op_err *err);
/* Latest versions by name after `after` ("" for the first page). */
json_t *definitions_list(struct store *s, const char *after, int64_t limit, char *last,
    size_t lastlen, int *has_more);

/* instances.c */
/* The columns an instance is read with, in the order inst_row_from_stmt takes them. */
#define INST_COLUMNS "i.id, i.definition, i.definition_version, i.owner, i.state, " \
	"i.state_reason, i.worker_id, w.name, i.timeslot_start, i.timeslot_end, i.created_at, " \
	"i.updated_at, i.grade, i.exit, i.cpu, i.memory_mb, i.attempt, i.pool, " \
	"i.sampled_at, i.cpu_millicores, i.cpu_usec, i.memory_bytes, i.memory_peak_bytes"
#define INST_FROM " FROM instances i LEFT JOIN workers w ON w.id = i.worker_id "
#define INST_NCOLUMNS 23

/* A row of the instances table as the writer needs it; strings may be NULL. */
struct inst_row {
	int64_t id;
	const char *definition;
	int64_t definition_version;
	const char *owner;
	const char *state;
	const char *state_reason;
	const char *worker;
	int64_t worker_id;		/* 0: none */
	int64_t timeslot_start;
	int64_t timeslot_end;
	int64_t created_at;
	int64_t updated_at;
	const char *grade;		/* JSON text, stored by us */
	const char *exit;		/* JSON text, stored by us */
	int64_t cpu;
	int64_t memory_mb;
	int64_t attempt;		/* placements so far */
	int is_pool;			/* made by a warm pool, not yet claimed */
	int64_t pids;			/* written in resources when > 0 (the agent's work) */
	int64_t sampled_at;		/* the latest usage sample; 0: none, "usage" is null */
	int64_t cpu_millicores, cpu_usec, memory_bytes, memory_peak_bytes;
};

/* The row at a statement's current step (strings point into the statement). */
void inst_row_from_stmt(sqlite3_stmt *st, struct inst_row *r);
/*
 * The one definition of an instance's JSON, written straight from its row:
 * list pages, creations and the scheduler's events are built this way, since
 * a tree per instance costs several times the query (see bench/RESULTS.md).
 */
int instance_write(struct sbuf *b, const struct inst_row *r);
struct instance_filter {
	unsigned state_mask;	/* bit per enum inst_state; 0 = any */
	const char *definition;
	const char *owner;
	int64_t worker_id;	/* 0 = any */
};
/* Writes the answer as JSON text to out; *first_id is the first instance made. */
int instances_create(struct store *s, json_t *in, const char *actor, struct sbuf *out,
    int64_t *first_id, struct op_err *err);
json_t *instance_get(struct store *s, int64_t id, struct op_err *err);
/* 1 when the instance exists; else 0, with a 404 in err. */
int instance_exists(struct store *s, int64_t id, struct op_err *err);
/* A time as the API writes it (with milliseconds when it has them). */
json_t *json_time(int64_t ms);
/* Appends the page's items, comma-separated, to out; returns how many or -1. */
int instances_list(struct store *s, const struct instance_filter *f, int64_t after,
    int64_t limit, struct sbuf *out, int64_t *last_id, int *has_more);
int instance_act(struct store *s, int64_t id, enum inst_action a, json_t *body,
    const char *actor, json_t **out, struct op_err *err);
json_t *instance_transitions(struct store *s, int64_t id, struct op_err *err);
/* Moves an instance to `to` for `actor`, checked against the state machine, in the caller's txn. */
int instance_transition(struct store *s, int64_t id, enum inst_state to, int actor_kind,
    const char *reason, const char *actor, struct op_err *err);
int instance_add_transition(struct store *s, int64_t id, const char *from, const char *to,
    const char *reason, const char *actor, int64_t at);
/* Inserts a pending instance (r->is_pool for a warm pool's) with its row and event. */
int instances_insert(struct store *s, struct inst_row *r, const char *actor, struct sbuf *one);
/* The states that hold a worker, as an SQL list: "'scheduled','instantiating',...". */
const char *inst_holding_sql(void);
json_t *instance_counts(struct store *s);
/* metrics_counts.c: instances by state in memory, moved in the transaction that moves them */
void counts_move(struct store *s, int from, int to, int64_t n);
void counts_committed(struct store *s);
void counts_rolled_back(struct store *s);
void counts_forget(struct store *s);
int counts_get(struct store *s, int64_t *out);

/* workers.c */
struct worker_filter {
	unsigned state_mask;
	unsigned health_mask;
	const char *template_name;
};
/* A registration; a join token (tok) gets the worker's own token in cred, else "". */
int worker_register(struct store *s, json_t *in, const struct auth_token *tok,
    const char *actor, json_t **out, char *cred, size_t credlen, struct op_err *err);
int worker_resolve(struct store *s, const char *id_or_name, int64_t *id, struct op_err *err);
json_t *worker_get(struct store *s, int64_t id, struct op_err *err);
/* NULL when the store cannot answer. */
json_t *workers_list(struct store *s, const struct worker_filter *f, int64_t after,
    int64_t limit, int64_t *last_id, int *has_more);
json_t *worker_counts(struct store *s);
/* An agent's heartbeat: the worker is online again if it was not. */
int worker_heartbeat(struct store *s, json_t *in, const char *actor, json_t **out,
    struct op_err *err);
/* Marks workers offline, then lost, as their heartbeats stop. O(workers not lost). */
int workers_check_health(struct store *s, int64_t now, int64_t since, int64_t offline_after,
    int64_t lost_after);

/*
 * worker_life.c: a worker's life, the one writer of workers.state. Every
 * change goes through worker_transition() (checked, written, told as a
 * worker.state event), in the caller's transaction.
 */
struct worker_new {
	const char *name;
	const char *tmpl;		/* NULL: none */
	enum worker_state state;	/* ready (an agent registered) or provisioning */
	enum worker_health health;
	int64_t cpu, memory_mb, slots;
	const char *labels;		/* JSON text */
	int64_t last_heartbeat;		/* 0: none yet */
	int64_t now;
};
/* A new worker's row in its first state; no event (the caller tells of it). */
int worker_insert(struct store *s, const struct worker_new *n, int64_t *id);
/* Moves a worker to `to` with its worker.state event; 404, or 409 when the machine refuses. */
int worker_transition(struct store *s, int64_t id, enum worker_state to, int64_t drain_deadline,
    const char *reason, const char *actor, struct op_err *err);
/* A worker's state now: 0, or -1 with err (404 for no such worker). */
int worker_state_of(struct store *s, int64_t id, enum worker_state *state, struct op_err *err);
/* The two halves of it, for a caller whose own event comes between (registration). */
int worker_transition_write(struct store *s, int64_t id, enum worker_state to,
    int64_t drain_deadline, enum worker_state *from, struct op_err *err);
int worker_transition_event(struct store *s, int64_t id, enum worker_state from,
    enum worker_state to, const char *reason, const char *actor, struct op_err *err);
/* A worker gone for good: terminated in a transaction of its own (nothing if it is already). */
int worker_finish(struct store *s, int64_t id, const char *reason, const char *actor);
/*
 * A body's "deadline" (absent or null: none): an RFC 3339 time, or a duration
 * from now up to 30d ("30m"). A drain's, and a scale's for the drains it asks for.
 */
int worker_drain_deadline(json_t *body, int64_t now, int64_t *deadline, struct op_err *err);
/* An operator's action: cordon, uncordon, drain, stop, terminate (the last two take force). */
int worker_act(struct app *a, int64_t id, enum worker_action act, json_t *body,
    const char *actor, json_t **out, struct op_err *err);

/* templates.c: kinds of workers and their provisioners. */
enum prov_type { PROV_LOCAL, PROV_SYSTEMD, PROV_COMMAND, PROV_STATIC, PROV_COUNT };
struct tmpl {
	char name[TEMPLATE_NAME_MAX + 1];
	int64_t cpu, memory_mb, slots;
	int64_t min, max;
	int64_t cooldown_ms, idle_timeout_ms, provision_timeout_ms, retry_backoff_ms;
	int autoscale;
	enum prov_type prov;
	json_t *labels;		/* object of strings */
	json_t *prov_spec;	/* the provisioner object, type included */
};
const char *prov_type_name(enum prov_type t);
int template_validate(json_t *in, const char *name, json_t **normal, struct op_err *err);
int template_parse(json_t *spec, struct tmpl *t);
void template_clear(struct tmpl *t);
void template_capacity_arg(const struct tmpl *t, char *buf, size_t n);
void template_labels_arg(const struct tmpl *t, struct sbuf *b);
json_t *template_get(struct store *s, const char *name, struct op_err *err);
json_t *templates_list(struct store *s);
/*
 * 1 created, 0 replaced, -1 error; source "api" or "config". Through the
 * API, a provisioner names a program, path or unit only with may_name_programs.
 */
int template_put(struct store *s, const char *name, json_t *in, const char *source,
    int may_name_programs, const char *actor, json_t **out, struct op_err *err);
int templates_load_dir(struct store *s, const char *dir, int is_strict, char *err, size_t errlen);
int template_set_desired(struct store *s, const char *name, int64_t count, const char *actor,
    const char *reason, int64_t *was, struct op_err *err);

/*
 * scaler.c (and its pieces, scaler.h): the reconciler of desired counts,
 * the provisioners, the autoscaler.
 */
/* Once a second and soon after a kick: provisions, retires, supervises, autoscales. */
void scaler_tick(struct app *a, int64_t now);
void scaler_kick(void);
/* A scale request: desired count, and a drain deadline for the workers it removes. */
int scaler_scale(struct app *a, const char *name, json_t *body, const char *actor, json_t **out,
    struct op_err *err);
/* At exit: SIGTERM to the local agents this server started (their hooks live on under shims). */
void scaler_shutdown(void);
void scaler_free(void);

/* ---- child processes (procs.c: fork and exec; children.c: watching, reaping, ending) ---- */
/*
 * argv with out_fd as stdout and stderr, in cwd (NULL: ours), in a group (or
 * session) of its own, at niceness when that is above ours (0: ours).
 */
pid_t proc_spawn(char *const *argv, const char *const *extra_env, int out_fd, const char *cwd,
    int is_session, int niceness);
/* A process's start time (clock ticks since boot), or 0 when it is not running. */
unsigned long long proc_start(pid_t pid);
unsigned long long proc_child_start(pid_t pid);
/* "PID START": a pid and its start time in clock ticks since boot (two decimal numbers). */
#define PROC_REF_BUF 48
/* The process a "PID START" reference names, if it still runs; else 0. */
pid_t proc_ref_alive(const char *ref);
void proc_status_words(int status, char *buf, size_t n);

struct child;
/* How a child ended, as its owner is told (once, on the loop, after it was reaped). */
struct child_exit {
	pid_t pid;
	int status;		/* as waitpid() gives it */
	int was_stopped;	/* it was sent SIGTERM: its timeout, or its owner asked */
	int is_timed_out;	/* ... because its timeout passed */
};
typedef void (*child_exit_fn)(void *owner, const struct child_exit *e);
struct child_spec {
	char *const *argv;
	const char *const *env;	/* added to a clean copy of ours */
	int out_fd;		/* its stdout and stderr; -1: appended to log */
	const char *log;
	const char *cwd;	/* NULL: ours */
	int is_session;		/* a session of its own (a local agent); else a group */
	int niceness;		/* its nice, when above ours (0: ours) */
	int signals_group;	/* SIGTERM and SIGKILL go to its whole group */
	int64_t timeout_ms;	/* 0: none; past it, it is stopped */
	int64_t grace_ms;	/* from SIGTERM to SIGKILL; < 0: no SIGKILL */
	child_exit_fn on_exit;	/* may be NULL */
	void *owner;
};
/* Starts and watches a program; NULL with errno. The child is valid until on_exit returns. */
struct child *children_spawn(const struct child_spec *sp);
pid_t child_pid(const struct child *c);
/* Its start time from /proc, read once at spawn: with the pid, a "PID START" reference. */
unsigned long long child_start(const struct child *c);
/* Has it been sent SIGTERM (its timeout passed, or it was stopped)? */
int child_was_stopped(const struct child *c);
/* Ends it: SIGTERM after delay_ms (0: now), SIGKILL a grace after that; at most once. */
void child_stop(struct child *c, int64_t delay_ms);
/* Its owner no longer listens (on_exit is not called); it is still reaped and ended. */
void child_forget(struct child *c);
/* child_forget, ended now, and once reaped SIGKILL to what it left in its group. */
void child_abandon(struct child *c);
/* SIGKILL to what a reaped child of a group of its own left running in it. */
void child_group_sweep(pid_t pgid);
/* Ends the process a "PID START" reference names, if it still runs (ours or not). */
void children_stop_ref(const char *ref, int signals_group, int64_t delay_ms, int64_t grace_ms);
/* Installs the SIGCHLD handler that wakes the loop; the loop calls children_service(). */
void children_start(struct lws_context *ctx);
/* The loop is ending: its timer goes, SIGCHLD wakes nothing; what runs is left alone. */
void children_stop(void);
/* After each turn of the loop: reaps what ended and tells the owners. Cheap when nothing did. */
void children_service(void);
void children_free(void);

#include "runbooks.h"	/* runbooks, their runs, alert rules */

/* ---- the loop's timers (timers.c) ---- */
/* Starts the periodic work on the loop: health, scheduler, lifecycle, watchdog. */
void timers_start(struct app *a);
/* Something changed that may let the scheduler place more: a pass soon. */
void timers_kick(void);
void timers_stop(void);

/* ---- the application (app.c) ---- */
/* The HTTP and websocket protocols of the vhost (http.c) and its pieces. */
extern const struct lws_protocols server_protocols[];
void http_release_held(void);	/* answers held for a sync: they may go (store_sync.c) */
int http_has_released(void);	/* ... and one of them is not written yet */
int events_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
void events_ws_wake(void *ctx);
void events_ws_free(void);	/* the shared rendering of the last event sent */
/* The slowest subscribed client's lag in events, and the resyncs sent (for /metrics). */
void events_ws_stats(struct store *s, int64_t *max_lag, unsigned long long *resyncs);
/* A client's {"subscribe": {...}} message, checked (events_ws.c). */
#define WS_SUB_MAX_TYPES 16
struct ws_subscribe {
	int64_t since;
	char *types[WS_SUB_MAX_TYPES];
	int ntypes;
	int64_t worker_id;		/* 0: every worker's events */
};
int ws_subscribe_parse(const char *p, size_t len, const struct auth_token *tok,
    struct ws_subscribe *sub, struct op_err *err);
void ws_subscribe_free(struct ws_subscribe *sub);
void events_shutdown(void);
void http_cache_clear(void);

struct app {
	struct server_config cfg;
	struct store *store;
	struct lws_context *lws;
	int is_ready;
	int is_draining;
	int64_t started_at;
	char boot_id[16];
	int in_flight;
	char url[300];		/* where this server's own agents reach it */
};

extern struct app *the_app;

#endif
