/*
 * Browser sessions. A browser signs in by giving a token once; the server
 * answers with a cookie holding a new random session id (256 bits,
 * base64url), never the token. Only the id's SHA-256 is stored, in the
 * sessions table (so sessions survive a restart) and in memory (so a
 * request costs a hash and a scan, no query, like auth.c's tokens).
 *
 * A session stands for its token: it has the token's name and role, and it
 * dies with it (revoked or expired) as well as at its own expiry or at
 * sign-out. Each sign-in and sign-out writes its event with its row.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "server.h"

struct session {
	struct cred c;		/* first: the table's; its id is the session's */
	int64_t token_id;
};

static struct cred_table sessions = { .size = sizeof(struct session) };

void
sessions_free(void)
{
	cred_clear(&sessions);
}

int
sessions_load(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT id, token_id, expires_at, hash FROM sessions "
	    "WHERE ended_at IS NULL AND expires_at > ?");
	sqlite3_stmt *old;

	sessions_free();
	if (st == NULL)
		return -1;
	/* Rows of sessions over for 30 days go: their events keep the record. */
	old = store_stmt(s, "DELETE FROM sessions WHERE expires_at < ?1 OR ended_at < ?1");
	if (old != NULL) {
		sqlite3_bind_int64(old, 1, now_ms() - 30 * 86400000LL);
		sqlite3_step(old);
		sqlite3_reset(old);
	}
	sqlite3_bind_int64(st, 1, now_ms());
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct session *se;

		if (sqlite3_column_bytes(st, 3) != CRED_HASH_LEN)
			continue;
		se = cred_add(&sessions, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2),
		    sqlite3_column_blob(st, 3));
		if (se == NULL) {
			sqlite3_reset(st);
			return -1;
		}
		se->token_id = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return 0;
}

/* O(sessions): one per signed-in browser, a few dozen on a real site. */
int
session_check(const char *sid, struct auth_token *out)
{
	unsigned char h[CRED_HASH_LEN];
	struct session *se;

	if (sid == NULL || strlen(sid) != 43)
		return -1;
	cred_hash(sid, h);
	se = cred_find(&sessions, h);
	if (se == NULL || !cred_is_live(&se->c, now_ms()))
		return -1;
	if (auth_get(se->token_id, out) != 0)
		return -1;	/* its token was revoked or has expired */
	out->session_id = se->c.id;
	out->expires_at = se->c.expires_at;	/* never past the token's: see session_create */
	return 0;
}

int
session_is_live(int64_t id)
{
	struct session *se = cred_get(&sessions, id);

	return se != NULL && cred_is_live(&se->c, now_ms()) && auth_is_live(se->token_id);
}

int
session_create(struct store *s, const struct auth_token *tok, int64_t ttl_ms, char *sid,
    size_t sidlen, int64_t *expires_at, struct op_err *err)
{
	unsigned char raw[32], h[CRED_HASH_LEN];
	struct session *se;
	sqlite3_stmt *st;
	int64_t now = now_ms(), id;
	char at[40];

	if (sidlen < 44 || RAND_bytes(raw, sizeof(raw)) != 1) {
		op_err_set(err, 500, "internal", "", "cannot make random bytes");
		return -1;
	}
	base64url_encode(raw, sizeof(raw), sid, sidlen);
	cred_hash(sid, h);
	/* A session lasts ttl_ms, and never past its token. */
	*expires_at = now + ttl_ms;
	if (tok->expires_at != 0 && tok->expires_at < *expires_at)
		*expires_at = tok->expires_at;
	err->code = NULL;
	if (store_begin(s) != 0)
		return store_fail(s, err);
	st = store_stmt(s, "INSERT INTO sessions (hash, token_id, created_at, expires_at) "
	    "VALUES (?, ?, ?, ?)");
	if (st == NULL)
		goto fail;
	sqlite3_bind_blob(st, 1, h, CRED_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tok->id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, *expires_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	id = sqlite3_last_insert_rowid(store_db(s));
	if (events_append(s, "session.created", "session", NULL, id, tok->name,
	    json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "token", tok->name,
	    "role", role_name(tok->role), "expires_at",
	    time_format_ms(*expires_at, at, sizeof(at), 0))) != 0)
		goto fail;
	if (store_commit(s) != 0)
		return store_fail(s, err);
	/* Expired sessions leave memory here, so it holds about the live ones. O(sessions). */
	cred_prune(&sessions, now);
	se = cred_add(&sessions, id, *expires_at, h);
	if (se == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return -1;
	}
	se->token_id = tok->id;
	return 0;
fail:
	return store_abort(s, err);
}

int
session_end(struct store *s, int64_t id, const char *actor, struct op_err *err)
{
	sqlite3_stmt *st;

	err->code = NULL;
	if (store_begin(s) != 0)
		return store_fail(s, err);
	st = store_stmt(s, "UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	if (sqlite3_changes(store_db(s)) == 0) {
		store_rollback(s);
		op_err_set(err, 401, "unauthenticated", "", "the session has already ended");
		return -1;
	}
	if (events_append(s, "session.ended", "session", NULL, id, actor,
	    json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "token", actor,
	    "reason", "signed out")) != 0)
		goto fail;
	if (store_commit(s) != 0)
		return store_fail(s, err);
	cred_forget(&sessions, id);
	return 0;
fail:
	return store_abort(s, err);
}
