/*
 * Credentials in memory, by the hash of their secret (creds.c): the table
 * that API tokens (auth.c) and browser sessions (sessions.c) keep, so a
 * request costs a hash and a scan, no query. Included by server.h.
 */
#ifndef OUTPOST_CREDS_H
#define OUTPOST_CREDS_H

#include <stddef.h>
#include <stdint.h>

#define CRED_HASH_LEN 32	/* SHA-256 */
struct cred {
	int64_t id;
	int64_t expires_at;	/* 0: never */
	unsigned char hash[CRED_HASH_LEN];
};
/* Entries of `size` bytes, each starting with a struct cred. */
struct cred_table {
	unsigned char *v;
	size_t n, cap, size;
};
void cred_hash(const char *secret, unsigned char out[CRED_HASH_LEN]);
/* Fetches the digest once (auth_load calls it at start; cred_hash too, if not yet). */
void cred_hash_init(void);
/* Adds an entry (the rest of it zeroed); NULL when out of memory. */
void *cred_add(struct cred_table *t, int64_t id, int64_t expires_at,
    const unsigned char hash[CRED_HASH_LEN]);
int cred_is_live(const struct cred *c, int64_t now);
/* The entry of this hash, or of this id, live or not; NULL if none. O(entries). */
void *cred_find(const struct cred_table *t, const unsigned char hash[CRED_HASH_LEN]);
void *cred_get(const struct cred_table *t, int64_t id);
void cred_forget(struct cred_table *t, int64_t id);
/* Drops the entries past their expiry. */
void cred_prune(struct cred_table *t, int64_t now);
void cred_clear(struct cred_table *t);

#endif
