/*
 * Bearer tokens. A token is "opt_" and 43 base64url characters (256 random
 * bits); only its SHA-256 is stored. The live tokens are kept in memory so
 * a request costs one hash and a scan of a few dozen entries, no query; the
 * table is the durable copy and is changed first, in the same transaction
 * as the token's event.
 *
 * A token of role agent is one of two kinds: a join token, which only
 * registers workers (within its limits: uses, a glob of names, a template),
 * or a worker's own token, bound to its worker (tokens.worker_id) and made
 * when the worker registers with a join token or is provisioned by the
 * scaler. What each may do is http_auth.c's to say.
 */
#define _DEFAULT_SOURCE 1	/* explicit_bzero */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent_tokens.h"
#include "server.h"

struct token_entry {
	struct cred c;		/* first: the table's */
	struct auth_token t;
	double bucket;		/* requests it may still make now; < 0: not started */
	int64_t bucket_at;	/* when bucket was last filled, ms */
};

static struct cred_table tokens = { .size = sizeof(struct token_entry) };
/* The store the table was loaded from, and its store_outside_version() then: a token
 * made by another process (outpostd token create) is found by loading again. */
static struct store *loaded_from;
static int64_t loaded_version = -1;

static int
remember(const struct auth_token *t, const unsigned char hash[CRED_HASH_LEN])
{
	struct token_entry *e = cred_add(&tokens, t->id, t->expires_at, hash);

	if (e == NULL)
		return -1;
	e->t = *t;
	e->bucket = -1;
	return 0;
}

/* The live token of this id, or NULL. */
static struct token_entry *
live(int64_t id)
{
	struct token_entry *e = cred_get(&tokens, id);

	return e != NULL && cred_is_live(&e->c, now_ms()) ? e : NULL;
}

void
auth_free(void)
{
	cred_clear(&tokens);
	loaded_from = NULL;
}

/* The columns of an agent's token from auth_load's row, from column col on. */
static void
agent_columns(sqlite3_stmt *st, int col, struct auth_token *t)
{
	const char *v;

	t->worker_id = sqlite3_column_int64(st, col);
	if ((v = (const char *)sqlite3_column_text(st, col + 1)) != NULL)
		snprintf(t->worker, sizeof(t->worker), "%s", v);
	t->uses_left = sqlite3_column_type(st, col + 2) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, col + 2);
	if ((v = (const char *)sqlite3_column_text(st, col + 3)) != NULL)
		snprintf(t->names, sizeof(t->names), "%s", v);
	if ((v = (const char *)sqlite3_column_text(st, col + 4)) != NULL)
		snprintf(t->tmpl, sizeof(t->tmpl), "%s", v);
}

int
auth_load(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT t.id, t.name, t.role, t.hash, t.expires_at, "
	    "coalesce(t.worker_id, 0), w.name, t.uses_left, t.names, t.template "
	    "FROM tokens t LEFT JOIN workers w ON w.id = t.worker_id WHERE t.revoked_at IS NULL");

	auth_free();
	cred_hash_init();
	if (st == NULL)
		return -1;
	loaded_from = s;
	loaded_version = store_outside_version(s);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct auth_token t = { 0 };

		t.id = sqlite3_column_int64(st, 0);
		snprintf(t.name, sizeof(t.name), "%s", (const char *)sqlite3_column_text(st, 1));
		if (role_parse((const char *)sqlite3_column_text(st, 2), &t.role) != 0 ||
		    sqlite3_column_bytes(st, 3) != CRED_HASH_LEN)
			continue;
		t.expires_at = sqlite3_column_int64(st, 4);
		agent_columns(st, 5, &t);
		if (remember(&t, sqlite3_column_blob(st, 3)) != 0) {
			sqlite3_reset(st);
			return -1;
		}
	}
	sqlite3_reset(st);
	return 0;
}

/*
 * Another process committed since the tokens were loaded (outpostd token
 * create, from a shell on the host): they are loaded again. 1 if they were.
 * O(1) when none did (store_outside_version); called once a second
 * (timers.c) and by auth_check for a token it does not know.
 */
int
auth_catch_up(void)
{
	if (loaded_from == NULL || store_outside_version(loaded_from) == loaded_version)
		return 0;
	if (auth_load(loaded_from) != 0) {
		log_error("auth.load", "error", "cannot read the tokens again", NULL);
		return 0;
	}
	log_info("auth.reloaded", "detail", "another process changed the database", NULL);
	return 1;
}

/* O(tokens): a scan of the live tokens, a few dozen on a real site. */
int
auth_check(const char *token, struct auth_token *out)
{
	unsigned char h[CRED_HASH_LEN];
	struct token_entry *e;

	if (token == NULL || strncmp(token, "opt_", 4) != 0 || strlen(token) != 47)
		return -1;
	cred_hash(token, h);
	e = cred_find(&tokens, h);
	/* Unknown here: made from a shell since? Then it works at once. */
	if (e == NULL && auth_catch_up())
		e = cred_find(&tokens, h);
	if (e == NULL || !cred_is_live(&e->c, now_ms()))
		return -1;
	*out = e->t;
	return 0;
}

/*
 * A token bucket per token: it holds up to burst requests and refills at
 * rate a second. O(tokens) to find the entry, like auth_check.
 */
int
auth_rate_check(int64_t token_id, double rate, double burst)
{
	int64_t now = now_ms();
	struct token_entry *e = cred_get(&tokens, token_id);

	if (e == NULL)
		return 0;
	if (e->bucket < 0) {
		e->bucket = burst;
		e->bucket_at = now;
	}
	e->bucket += rate * (double)(now - e->bucket_at) / 1000.0;
	if (e->bucket > burst)
		e->bucket = burst;
	e->bucket_at = now;
	if (e->bucket >= 1.0) {
		e->bucket -= 1.0;
		return 0;
	}
	return (int)((1.0 - e->bucket) / rate) + 1;
}

/* The live token with this id, as auth_check gives it; -1 if revoked, expired or unknown. */
int
auth_get(int64_t id, struct auth_token *out)
{
	struct token_entry *e = live(id);

	if (e == NULL)
		return -1;
	*out = e->t;
	return 0;
}

/* Is token id known, unrevoked and unexpired? O(tokens). */
int
auth_is_live(int64_t id)
{
	return live(id) != NULL;
}

/* The columns token_json() shows, in this order, from a query on tokens t and workers w. */
#define TOKEN_COLUMNS "t.id, t.name, t.role, t.created_at, t.expires_at, t.revoked_at, " \
	"t.created_by, w.name, t.uses_left, t.names, t.template"
#define TOKEN_FROM " FROM tokens t LEFT JOIN workers w ON w.id = t.worker_id "

static json_t *
token_json(sqlite3_stmt *st, int64_t revoked_at)
{
	char a[40], b[40], c[40];
	int64_t expires_at = sqlite3_column_int64(st, 4);
	json_t *j;

	if (revoked_at == 0)
		revoked_at = sqlite3_column_int64(st, 5);
	j = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "name", (const char *)sqlite3_column_text(st, 1),
	    "role", (const char *)sqlite3_column_text(st, 2),
	    "created_at", time_format_ms(sqlite3_column_int64(st, 3), a, sizeof(a), 0),
	    "expires_at", expires_at ? time_format_ms(expires_at, b, sizeof(b), 0) : NULL,
	    "revoked_at", revoked_at ? time_format_ms(revoked_at, c, sizeof(c), 0) : NULL,
	    "created_by", (const char *)sqlite3_column_text(st, 6));
	if (j == NULL || strcmp((const char *)sqlite3_column_text(st, 2),
	    role_name(ROLE_AGENT)) != 0)
		return j;
	/* An agent's token: its worker, or (a join token) its limits. */
	if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
		json_object_set_new(j, "worker",
		    json_string((const char *)sqlite3_column_text(st, 7)));
		return j;
	}
	json_object_set_new(j, "worker", json_null());
	json_object_set_new(j, "uses_left", sqlite3_column_type(st, 8) == SQLITE_NULL ?
	    json_null() : json_integer(sqlite3_column_int64(st, 8)));
	json_object_set_new(j, "names", sqlite3_column_type(st, 9) == SQLITE_NULL ?
	    json_null() : json_string((const char *)sqlite3_column_text(st, 9)));
	json_object_set_new(j, "template", sqlite3_column_type(st, 10) == SQLITE_NULL ?
	    json_null() : json_string((const char *)sqlite3_column_text(st, 10)));
	return j;
}

/* The record of token id as token_json() shows it (in or out of a transaction), or NULL. */
static json_t *
token_record(struct store *s, int64_t id, int64_t revoked_at)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " TOKEN_COLUMNS TOKEN_FROM "WHERE t.id = ?");
	json_t *j = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		j = token_json(st, revoked_at);
	sqlite3_reset(st);
	return j;
}

static int
new_token(char *out, size_t n)
{
	unsigned char raw[32];

	if (n < 48 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	memcpy(out, "opt_", 4);
	base64url_encode(raw, sizeof(raw), out + 4, n - 4);
	return 0;
}

/* What a new token is: its kind and limits beside its name and role. */
struct token_new {
	const char *name;
	enum role role;
	int64_t expires_at;	/* 0: never */
	int64_t worker_id;	/* role agent: its worker; 0: a join token (or another role) */
	const char *worker;	/* worker_id's name */
	const struct join_limits *lim;	/* a join token's limits, or NULL */
};

/*
 * In the caller's transaction: the token whose secret hashes to h, and its
 * token.created event; *t is what auth_check will give once it is
 * remembered (after the commit).
 */
static int
token_insert(struct store *s, const unsigned char h[CRED_HASH_LEN], const struct token_new *n,
    const char *actor, struct auth_token *t)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO tokens (name, role, hash, created_at, "
	    "expires_at, created_by, worker_id, uses_left, names, template) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	const struct join_limits *lim = n->lim;

	memset(t, 0, sizeof(*t));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role_name(n->role), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, h, CRED_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms());
	if (n->expires_at)
		sqlite3_bind_int64(st, 5, n->expires_at);
	if (actor)
		sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
	if (n->worker_id)
		sqlite3_bind_int64(st, 7, n->worker_id);
	if (lim != NULL && lim->uses > 0)
		sqlite3_bind_int64(st, 8, lim->uses);
	if (lim != NULL && lim->names != NULL)
		sqlite3_bind_text(st, 9, lim->names, -1, SQLITE_STATIC);
	if (lim != NULL && lim->tmpl != NULL)
		sqlite3_bind_text(st, 10, lim->tmpl, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	t->id = sqlite3_last_insert_rowid(store_db(s));
	snprintf(t->name, sizeof(t->name), "%s", n->name);
	t->role = n->role;
	t->expires_at = n->expires_at;
	t->worker_id = n->worker_id;
	if (n->worker != NULL)
		snprintf(t->worker, sizeof(t->worker), "%s", n->worker);
	t->uses_left = lim != NULL && lim->uses > 0 ? lim->uses : -1;
	if (lim != NULL && lim->names != NULL)
		snprintf(t->names, sizeof(t->names), "%s", lim->names);
	if (lim != NULL && lim->tmpl != NULL)
		snprintf(t->tmpl, sizeof(t->tmpl), "%s", lim->tmpl);
	return events_append(s, "token.created", "token", NULL, t->id, actor,
	    json_pack("{s:I, s:s, s:s, s:s?}", "id", (json_int_t)t->id, "name", n->name, "role",
	    role_name(n->role), "worker", n->worker));
}

static void
remember_or_say(const struct auth_token *t, const unsigned char h[CRED_HASH_LEN])
{
	if (remember(t, h) != 0)
		log_error("auth.token", "name", t->name, "error", "out of memory: not live until a "
		    "restart", NULL);
}

/*
 * Stores the token whose secret is given, with its token.created event, in
 * one transaction, and keeps it live; *rec is its record.
 */
static int
token_store(struct store *s, const char *secret, const struct token_new *n, const char *actor,
    json_t **rec, struct op_err *err)
{
	struct auth_token t;
	unsigned char h[CRED_HASH_LEN];

	*rec = NULL;
	err->code = NULL;
	cred_hash(secret, h);
	if (store_begin(s) != 0)
		return store_fail(s, err);
	if (token_insert(s, h, n, actor, &t) != 0 ||
	    (*rec = token_record(s, t.id, 0)) == NULL)
		goto fail;
	if (store_commit(s) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return store_fail(s, err);
	}
	remember_or_say(&t, h);
	return 0;
fail:
	json_decref(*rec);
	*rec = NULL;
	return store_abort(s, err);
}

int
auth_create(struct store *s, const char *name, enum role role, int64_t expires_at,
    const char *actor, char *token_out, size_t toklen, json_t **rec, struct op_err *err)
{
	*rec = NULL;
	if (new_token(token_out, toklen) != 0) {
		op_err_set(err, 500, "internal", "", "cannot make random bytes");
		return -1;
	}
	{
		struct token_new n = { .name = name, .role = role, .expires_at = expires_at };

		return token_store(s, token_out, &n, actor, rec, err);
	}
}

int
auth_create_join(struct store *s, const char *name, int64_t expires_at,
    const struct join_limits *lim, const char *actor, char *token_out, size_t toklen,
    json_t **rec, struct op_err *err)
{
	struct token_new n = { .name = name, .role = ROLE_AGENT, .expires_at = expires_at,
		.lim = lim };

	*rec = NULL;
	if (new_token(token_out, toklen) != 0) {
		op_err_set(err, 500, "internal", "", "cannot make random bytes");
		return -1;
	}
	return token_store(s, token_out, &n, actor, rec, err);
}

int
auth_insert_worker(struct store *s, int64_t worker_id, const char *worker_name,
    const char *actor, char *token_out, size_t toklen, int64_t *id, struct op_err *err)
{
	char name[TOKEN_NAME_MAX];
	struct token_new n = { .name = name, .role = ROLE_AGENT, .worker_id = worker_id,
		.worker = worker_name };
	unsigned char h[CRED_HASH_LEN];
	struct auth_token t;

	assert(worker_id > 0 && worker_name != NULL);
	*id = 0;
	if (new_token(token_out, toklen) != 0) {
		op_err_set(err, 500, "internal", "", "cannot make random bytes");
		return -1;
	}
	snprintf(name, sizeof(name), "worker:%s", worker_name);
	cred_hash(token_out, h);
	if (token_insert(s, h, &n, actor, &t) != 0 ||
	    store_exec(s, NULL, "UPDATE workers SET token_id = ?1 WHERE id = ?2", "ii", t.id,
	    worker_id) != 0) {
		explicit_bzero(token_out, toklen);
		store_fail(s, err);
		return -1;
	}
	*id = t.id;
	return 0;
}

void
auth_commit_worker(int64_t id, int64_t worker_id, const char *worker_name, const char *token)
{
	struct auth_token t = { .id = id, .role = ROLE_AGENT, .worker_id = worker_id,
		.uses_left = -1 };
	unsigned char h[CRED_HASH_LEN];

	snprintf(t.name, sizeof(t.name), "worker:%s", worker_name);
	snprintf(t.worker, sizeof(t.worker), "%s", worker_name);
	cred_hash(token, h);
	remember_or_say(&t, h);
}

int
auth_spend_join(struct store *s, int64_t id)
{
	int64_t left = -1;

	if (store_exec(s, &left, "SELECT coalesce(uses_left, -1) FROM tokens WHERE id = ?1", "i",
	    id) != 0)
		return -1;
	if (left < 0)
		return 0;	/* no limit */
	if (left == 0)
		return -1;
	return store_exec(s, NULL, "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1",
	    "i", id);
}

void
auth_spent_join(int64_t id)
{
	struct token_entry *e = cred_get(&tokens, id);

	if (e != NULL && e->t.uses_left > 0)
		e->t.uses_left--;
}

int
auth_worker_has_token(struct store *s, int64_t worker_id, int64_t *id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id FROM tokens WHERE worker_id = ?1 AND "
	    "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) LIMIT 1");
	int rc = 0;

	*id = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, now_ms());
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = 1;
	}
	sqlite3_reset(st);
	return rc;
}

int
auth_revoke(struct store *s, int64_t id, const char *actor, json_t **rec, struct op_err *err)
{
	sqlite3_stmt *st;
	char role[16];
	int64_t now = now_ms();

	*rec = NULL;
	err->code = NULL;
	if (store_begin(s) != 0)
		return store_fail(s, err);
	st = store_stmt(s, "SELECT name, role, created_at, expires_at, revoked_at, created_by "
	    "FROM tokens WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		store_rollback(s);
		op_err_set(err, 404, "not_found", "id", "no token with id %lld", (long long)id);
		return -1;
	}
	snprintf(role, sizeof(role), "%s", (const char *)sqlite3_column_text(st, 1));
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		sqlite3_reset(st);
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "id", "token %lld is already revoked",
		    (long long)id);
		return -1;
	}
	sqlite3_reset(st);
	if (strcmp(role, role_name(ROLE_ADMIN)) == 0) {
		int64_t admins;

		if (store_exec(s, &admins, "SELECT count(*) FROM tokens WHERE role = 'admin' AND "
		    "id != ?2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)",
		    "ii", now, id) != 0)
			goto fail;
		/* Bootstrap only runs on an empty table: the last live admin is the only way in. */
		if (admins == 0 && auth_is_live(id)) {
			store_rollback(s);
			op_err_set(err, 409, "invalid_transition", "id", "token %lld is the last admin "
			    "token; create another admin token before revoking it", (long long)id);
			return -1;
		}
	}
	*rec = token_record(s, id, now);
	st = store_stmt(s, "UPDATE tokens SET revoked_at = ? WHERE id = ?");
	if (st == NULL || *rec == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	if (events_append(s, "token.revoked", "token", NULL, id, actor,
	    json_pack("{s:I, s:O}", "id", (json_int_t)id, "name", json_object_get(*rec, "name"))) != 0)
		goto fail;
	if (store_commit(s) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return store_fail(s, err);
	}
	cred_forget(&tokens, id);
	return 0;
fail:
	json_decref(*rec);
	*rec = NULL;
	return store_abort(s, err);
}

json_t *
auth_list(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " TOKEN_COLUMNS TOKEN_FROM "ORDER BY t.id");
	json_t *items = json_array();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(items, token_json(st, 0));
	if (st != NULL)
		sqlite3_reset(st);
	return json_pack("{s:o, s:n}", "items", items, "next");
}

/*
 * First start: no token exists, so make an admin token and write it where
 * only the owner can read it. The file is written (and synced) before the
 * token is committed: a crash in between leaves an empty table, and the next
 * start simply makes a new one.
 */
int
auth_bootstrap(struct store *s, const char *path)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM tokens");
	char token[64], tmp[PATH_BUF_MAX];
	int fd;

	if (st == NULL || sqlite3_step(st) != SQLITE_ROW)
		return -1;
	if (sqlite3_column_int64(st, 0) > 0) {
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("auth.bootstrap", "path", tmp, "error", strerror(errno), NULL);
		return -1;
	}
	fchmod(fd, 0600);
	/* The token is made here, then inserted with that exact value. */
	if (new_token(token, sizeof(token)) != 0)
		goto fail;
	{
		size_t len = strlen(token);

		token[len] = '\n';
		if (write(fd, token, len + 1) != (ssize_t)(len + 1) || fsync(fd) != 0)
			goto fail;
		token[len] = '\0';
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	{
		struct op_err err = { 0 };
		json_t *rec = NULL;

		struct token_new n = { .name = "admin", .role = ROLE_ADMIN };

		if (token_store(s, token, &n, "outpostd", &rec, &err) != 0)
			goto fail;
		json_decref(rec);
	}
	log_info("auth.bootstrap", "admin_token_file", path, NULL);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	log_error("auth.bootstrap", "path", path, "error", "cannot write the admin token", NULL);
	return -1;
}
