/*
 * Credentials in memory, found by the SHA-256 of their secret: the live API
 * tokens (auth.c) and the browser sessions (sessions.c). A request costs one
 * hash and a scan of a few dozen entries, no query. Each table is a copy:
 * the store holds the durable rows and is changed first, in the transaction
 * of the change's event; this file never touches the store.
 *
 * A table holds entries of its owner's size, each starting with a struct
 * cred; the rest of an entry is the owner's (zeroed when added). Pointers
 * into a table last until its next add or forget.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server.h"

/*
 * SHA-256, fetched from OpenSSL once: EVP_sha256() looks the algorithm up
 * again at every digest (OpenSSL 3), and the first use of libcrypto loads its
 * configuration (about 10 ms): cred_hash_init() pays both at start, not the
 * first request. On the loop's thread only.
 */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256;

void
cred_hash_init(void)
{
	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}
#else
static const EVP_MD *sha256;

void
cred_hash_init(void)
{
	sha256 = EVP_sha256();
}
#endif

void
cred_hash(const char *secret, unsigned char out[CRED_HASH_LEN])
{
	unsigned int n = CRED_HASH_LEN;

	cred_hash_init();
	EVP_Digest(secret, strlen(secret), out, &n, sha256 != NULL ? sha256 : EVP_sha256(), NULL);
}

static struct cred *
at(const struct cred_table *t, size_t i)
{
	return (struct cred *)(t->v + i * t->size);
}

void *
cred_add(struct cred_table *t, int64_t id, int64_t expires_at,
    const unsigned char hash[CRED_HASH_LEN])
{
	struct cred *c;

	assert(t->size >= sizeof(struct cred));
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		unsigned char *v = realloc(t->v, ncap * t->size);

		if (v == NULL)
			return NULL;
		t->v = v;
		t->cap = ncap;
	}
	c = at(t, t->n++);
	memset(c, 0, t->size);
	c->id = id;
	c->expires_at = expires_at;
	memcpy(c->hash, hash, CRED_HASH_LEN);
	return c;
}

int
cred_is_live(const struct cred *c, int64_t now)
{
	return c->expires_at == 0 || c->expires_at > now;
}

void *
cred_find(const struct cred_table *t, const unsigned char hash[CRED_HASH_LEN])
{
	/* In constant time for each entry: how many bytes matched tells a caller nothing. */
	for (size_t i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(at(t, i)->hash, hash, CRED_HASH_LEN) == 0)
			return at(t, i);
	return NULL;
}

void *
cred_get(const struct cred_table *t, int64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (at(t, i)->id == id)
			return at(t, i);
	return NULL;
}

/* The last entry takes the place of the one that goes: order is not kept. */
static void
drop(struct cred_table *t, size_t i)
{
	if (i != --t->n)
		memcpy(at(t, i), at(t, t->n), t->size);
}

void
cred_forget(struct cred_table *t, int64_t id)
{
	for (size_t i = 0; i < t->n; i++) {
		if (at(t, i)->id == id) {
			drop(t, i);
			return;
		}
	}
}

void
cred_prune(struct cred_table *t, int64_t now)
{
	for (size_t i = 0; i < t->n;) {
		if (!cred_is_live(at(t, i), now))
			drop(t, i);
		else
			i++;
	}
}

void
cred_clear(struct cred_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
