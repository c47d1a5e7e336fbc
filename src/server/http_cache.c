/*
 * The response cache: most reads are the same page asked for again between
 * changes. CACHE_SLOTS slots, indexed by a hash of the path and query, each
 * hold a rendered body and the data version it was made at (and, for an
 * answer that shows workers' heartbeats or instances' usage, that version). A GET or
 * HEAD of a route that marked its answer is_cacheable is kept; the next one
 * with the same path and query at the same versions is answered from the
 * slot without touching SQLite or jansson. The first lookup after any
 * commit finds the data version moved and empties every slot, so
 * correctness needs no knowledge of which change affects which page.
 *
 * The ETag is the same versions behind a per-start boot id, so
 * If-None-Match costs one string comparison.
 *
 * It rests on one rule: only this process writes the database. It must
 * never decide who may see a page: http.c authorizes before it looks here.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define CACHE_SLOTS 64
#define CACHE_MAX_BODY (1024 * 1024)	/* 64 slots then hold 64 MiB at most */

struct cache_entry {
	char *key;
	char *body;
	size_t len;
	const char *ctype;
	uint64_t version;
	int shows;		/* SHOWS_*: which second version its ETag carries */
	uint64_t second;	/* that version when it was kept */
};

static struct cache_entry cache[CACHE_SLOTS];
static uint64_t cache_version;

void
http_cache_clear(void)
{
	for (int i = 0; i < CACHE_SLOTS; i++) {
		free(cache[i].key);
		free(cache[i].body);
		memset(&cache[i], 0, sizeof(cache[i]));
	}
}

static unsigned
hash_str(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static struct cache_entry *
cache_slot(const char *key)
{
	uint64_t v = store_data_version(the_app->store);

	/* Any committed change makes every cached page stale at once. */
	if (v != cache_version) {
		assert(v > cache_version);	/* the data version only grows */
		http_cache_clear();
		cache_version = v;
	}
	return &cache[hash_str(key) % CACHE_SLOTS];
}

enum { SHOWS_DATA, SHOWS_HEARTBEATS, SHOWS_USAGE };

static int
shows_of(const struct resp *rs)
{
	return rs->shows_heartbeats ? SHOWS_HEARTBEATS : rs->shows_usage ? SHOWS_USAGE : SHOWS_DATA;
}

/* The version an answer follows besides the data's: heartbeats (workers), usage (instances). */
static uint64_t
second_version(int shows)
{
	if (shows == SHOWS_HEARTBEATS)
		return store_heartbeat_version(the_app->store);
	if (shows == SHOWS_USAGE)
		return store_usage_version(the_app->store);
	return 0;
}

/* The ETag: the data version, and the second version for answers that follow one. */
static void
etag_of(char *buf, size_t n, uint64_t version, int shows)
{
	if (shows != SHOWS_DATA)
		snprintf(buf, n, "\"%s-%llu.%llu\"", the_app->boot_id, (unsigned long long)version,
		    (unsigned long long)second_version(shows));
	else
		snprintf(buf, n, "\"%s-%llu\"", the_app->boot_id, (unsigned long long)version);
}

/* The key: the path and the query's pairs, each after a \x01 (which no pair holds). */
static int
cache_key(const struct req *rq, char *key, size_t len)
{
	int n = snprintf(key, len, "%s", rq->path);

	for (int i = 0; i < rq->nargs && n < (int)len; i++)
		n += snprintf(key + n, len - (size_t)n, "\x01%s", rq->args[i]);
	return n < (int)len ? 0 : -1;
}

int
http_cache_get(const struct req *rq, struct http_cache_ref *ref, struct resp *rs,
    const char **body, size_t *len)
{
	struct cache_entry *ce;

	ref->slot = NULL;
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
		return 0;
	if (cache_key(rq, ref->key, sizeof(ref->key)) != 0)
		return 0;	/* too long to keep: answered afresh each time */
	ce = cache_slot(ref->key);
	ref->slot = ce;
	if (ce->key == NULL || strcmp(ce->key, ref->key) != 0 || ce->version != cache_version ||
	    ce->second != second_version(ce->shows))
		return 0;
	rs->status = 200;
	rs->content_type = ce->ctype;
	etag_of(rs->etag, sizeof(rs->etag), cache_version, ce->shows);
	*body = ce->body;
	*len = ce->len;
	return 1;
}

int
http_cache_put(struct http_cache_ref *ref, struct resp *rs)
{
	struct cache_entry *ce = ref->slot;
	uint64_t v = store_data_version(the_app->store);
	char *copy;

	if (!rs->is_cacheable || rs->status != 200)
		return 0;
	etag_of(rs->etag, sizeof(rs->etag), v, shows_of(rs));
	/* Kept only when the route changed nothing since the lookup, and up to 1 MiB. */
	if (ce == NULL || v != cache_version || rs->body.len > CACHE_MAX_BODY)
		return 1;
	copy = malloc(rs->body.len + 1);
	if (copy == NULL)
		return 1;
	memcpy(copy, rs->body.p, rs->body.len);
	free(ce->key);
	free(ce->body);
	ce->key = strdup(ref->key);
	ce->body = copy;
	ce->len = rs->body.len;
	ce->ctype = rs->content_type;
	ce->version = cache_version;
	ce->shows = shows_of(rs);
	ce->second = second_version(ce->shows);
	return 1;
}

int
http_cache_not_modified(const struct req *rq, const struct resp *rs)
{
	return rq->if_none_match != NULL && strcmp(rq->if_none_match, rs->etag) == 0;
}
