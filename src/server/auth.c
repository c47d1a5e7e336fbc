/*
 * Bearer tokens. A token is "opt_" and 43 base64url characters (256 random
 * bits); only its SHA-256 is stored. The live tokens are kept in memory so
 * a request costs one hash and a scan of a few dozen entries, no query; the
 * table is the durable copy and is changed first, in the same transaction
 * as the token's event.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "server.h"

struct token_entry {
	struct cred c;		/* first: the table's */
	struct auth_token t;
	double bucket;		/* requests it may still make now; < 0: not started */
	int64_t bucket_at;	/* when bucket was last filled, ms */
};

static struct cred_table tokens = { .size = sizeof(struct token_entry) };

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
}

int
auth_load(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id, name, role, hash, expires_at FROM tokens "
	    "WHERE revoked_at IS NULL");

	auth_free();
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct auth_token t = { 0 };

		t.id = sqlite3_column_int64(st, 0);
		snprintf(t.name, sizeof(t.name), "%s", (const char *)sqlite3_column_text(st, 1));
		if (role_parse((const char *)sqlite3_column_text(st, 2), &t.role) != 0 ||
		    sqlite3_column_bytes(st, 3) != CRED_HASH_LEN)
			continue;
		t.expires_at = sqlite3_column_int64(st, 4);
		if (remember(&t, sqlite3_column_blob(st, 3)) != 0) {
			sqlite3_reset(st);
			return -1;
		}
	}
	sqlite3_reset(st);
	return 0;
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

static json_t *
token_json(int64_t id, const char *name, const char *role, int64_t created_at,
    int64_t expires_at, int64_t revoked_at, const char *created_by)
{
	char a[40], b[40], c[40];

	return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?}", "id", (json_int_t)id,
	    "name", name, "role", role,
	    "created_at", time_format_ms(created_at, a, sizeof(a), 0),
	    "expires_at", expires_at ? time_format_ms(expires_at, b, sizeof(b), 0) : NULL,
	    "revoked_at", revoked_at ? time_format_ms(revoked_at, c, sizeof(c), 0) : NULL,
	    "created_by", created_by);
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

/*
 * Stores the token whose secret is given, with its token.created event, in
 * one transaction, and keeps it live; *rec is its record.
 */
static int
token_store(struct store *s, const char *secret, const char *name, enum role role,
    int64_t expires_at, const char *actor, json_t **rec, struct op_err *err)
{
	sqlite3_stmt *st;
	struct auth_token t = { 0 };
	unsigned char h[CRED_HASH_LEN];
	int64_t now = now_ms();

	*rec = NULL;
	err->code = NULL;
	cred_hash(secret, h);
	if (store_begin(s) != 0)
		return store_fail(s, err);
	st = store_stmt(s, "INSERT INTO tokens (name, role, hash, created_at, expires_at, created_by) "
	    "VALUES (?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, h, CRED_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (expires_at)
		sqlite3_bind_int64(st, 5, expires_at);
	if (actor)
		sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	t.id = sqlite3_last_insert_rowid(store_db(s));
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.role = role;
	t.expires_at = expires_at;
	*rec = token_json(t.id, name, role_name(role), now, expires_at, 0, actor);
	if (*rec == NULL || events_append(s, "token.created", "token", NULL, t.id, actor,
	    json_pack("{s:I, s:s, s:s}", "id", (json_int_t)t.id, "name", name, "role",
	    role_name(role))) != 0)
		goto fail;
	if (store_commit(s) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return store_fail(s, err);
	}
	if (remember(&t, h) != 0)
		log_error("auth.token", "name", name, "error", "out of memory: not live until a "
		    "restart", NULL);
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
	return token_store(s, token_out, name, role, expires_at, actor, rec, err);
}

int
auth_revoke(struct store *s, int64_t id, const char *actor, json_t **rec, struct op_err *err)
{
	sqlite3_stmt *st;
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
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		sqlite3_reset(st);
		store_rollback(s);
		op_err_set(err, 409, "invalid_transition", "id", "token %lld is already revoked",
		    (long long)id);
		return -1;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 1), role_name(ROLE_ADMIN)) == 0) {
		int64_t admins;

		sqlite3_reset(st);
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
		st = store_stmt(s, "SELECT name, role, created_at, expires_at, revoked_at, created_by "
		    "FROM tokens WHERE id = ?");
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) != SQLITE_ROW)
			goto fail;
	}
	*rec = token_json(id, (const char *)sqlite3_column_text(st, 0),
	    (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
	    sqlite3_column_int64(st, 3), now, (const char *)sqlite3_column_text(st, 5));
	sqlite3_reset(st);
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
	sqlite3_stmt *st = store_stmt(s, "SELECT id, name, role, created_at, expires_at, revoked_at, "
	    "created_by FROM tokens ORDER BY id");
	json_t *items = json_array();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(items, token_json(sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
		    sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
		    sqlite3_column_int64(st, 5), (const char *)sqlite3_column_text(st, 6)));
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

		if (token_store(s, token, "admin", ROLE_ADMIN, 0, "outpostd", &rec, &err) != 0)
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
