/*
 * Warm pools: per definition whose latest version has warm_pool.depth,
 * instances made ahead (owner "warm-pool", pool 1) that are placed and
 * instantiated like any other and wait warm until instances_create()
 * claims one. pools_keep() runs on the lifecycle's clock (every second):
 * it trims what is stale or too many, makes what is missing, and pauses a
 * pool whose hooks fail.
 *
 * What it keeps in memory is each pool's backoff, lost at a restart (a
 * failing pool is tried again at once, then backs off as before). It must
 * never claim an instance (instances.c does, in the request's own
 * transaction), and every change it makes is one transaction per pool.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define POOL_PAUSE_MIN 5000	/* ms a pool whose hooks failed waits at first */
#define POOL_PAUSE_MAX 600000	/* ... doubling up to this */
#define POOL_SLOT_DEFAULT 86400000	/* a member's slot, for a definition with no max_duration */

/*
 * Per definition, its pool's backoff: pool instances whose hooks fail (an
 * instantiate hook that cannot work) pause the pool, 5 s doubling to 10 min,
 * so a broken definition never makes instances in a loop.
 */
struct pool_state {
	char name[NAME_BUF];
	unsigned failures;
	int64_t checked_at;	/* failures are counted from here */
	int64_t paused_until;
};

static struct pool_state *pools;
static size_t npools, cap_pools;

static struct pool_state *
pool_state(const char *name, int64_t now)
{
	for (size_t i = 0; i < npools; i++)
		if (strcmp(pools[i].name, name) == 0)
			return &pools[i];
	if (array_grow(&pools, &cap_pools, npools, sizeof(*pools)) != 0)
		return NULL;
	memset(&pools[npools], 0, sizeof(pools[npools]));
	snprintf(pools[npools].name, sizeof(pools[npools].name), "%s", name);
	pools[npools].checked_at = now;
	return &pools[npools++];
}
void
pools_free(void)
{
	free(pools);
	pools = NULL;
	npools = cap_pools = 0;
}

struct pool_def {
	char name[NAME_BUF];
	int64_t version;
	int64_t depth;
	int64_t cpu;
	int64_t memory_mb;
	int64_t max_duration;
};

struct pool_member {
	int64_t id;
	int64_t version;
	enum inst_state state;
	int is_reachable;	/* a claim can have it, now or once warm */
};

/*
 * The pool's instances failed since `since` by a fault of the definition: a
 * hook that failed, timed out or graded nothing (the agent's codes, before
 * the colon of the reason). A lost worker, a restarted agent or a drain says
 * nothing of the definition, and does not pause its pool.
 */
static int
pool_failures(struct store *s, const char *name, int64_t since)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM instances WHERE pool = 1 AND "
	    "definition = ? AND state = 'failed' AND updated_at > ? AND "
	    "substr(state_reason, 1, instr(state_reason, ':') - 1) IN "
	    "('hook_failed', 'hook_timeout', 'grade_invalid')");
	int n = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

/*
 * The pool's members, oldest first, into *out (caller frees). *current
 * counts those of the pool's version that a claim can reach; *has_warm says
 * whether one of its version is warm. O(members).
 */
static int
pool_members(struct store *s, const struct pool_def *d, struct pool_member **out, size_t *n,
    int64_t *current, int *has_warm)
{
	static char sql[STATES_SQL_BUF];
	sqlite3_stmt *st = lifecycle_stmt_states(s, sql, sizeof(sql), "SELECT i.id, "
	    "i.definition_version, i.state, i.worker_id IS NULL OR "
	    "coalesce(w.state = 'ready' AND w.health = 'online', 0) "
	    "FROM instances i LEFT JOIN workers w ON w.id = i.worker_id "
	    "WHERE i.pool = 1 AND i.definition = ? AND i.state IN (", inst_set_pool(),
	    ") ORDER BY i.id");
	struct pool_member *m = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	*current = 0;
	*has_warm = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (array_grow(&m, &cap, *n, sizeof(*m)) != 0)
			break;
		m[*n].id = sqlite3_column_int64(st, 0);
		m[*n].version = sqlite3_column_int64(st, 1);
		if (inst_state_parse((const char *)sqlite3_column_text(st, 2), &m[*n].state) != 0)
			continue;
		m[*n].is_reachable = sqlite3_column_int(st, 3);
		if (m[*n].version == d->version && m[*n].is_reachable)
			(*current)++;
		if (m[*n].version == d->version && m[*n].state == INST_WARM)
			*has_warm = 1;
		(*n)++;
	}
	sqlite3_reset(st);
	*out = m;
	return 0;
}

/* Failures since the last look pause the pool, POOL_PAUSE_MIN doubling to POOL_PAUSE_MAX. */
static void
pool_backoff(struct store *s, struct pool_state *ps, const char *name, int64_t now)
{
	int fails = pool_failures(s, name, ps->checked_at);
	int64_t pause = POOL_PAUSE_MIN;
	char p[32];

	ps->checked_at = now;
	if (fails <= 0)
		return;
	ps->failures += (unsigned)fails;
	for (unsigned i = 1; i < ps->failures && pause < POOL_PAUSE_MAX; i++)
		pause *= 2;
	if (pause > POOL_PAUSE_MAX)
		pause = POOL_PAUSE_MAX;
	assert(pause >= POOL_PAUSE_MIN);
	ps->paused_until = now + pause;
	log_warn("pool.backoff", "definition", name, LOG_INT("failures", ps->failures), "paused_for",
	    duration_format(pause, p, sizeof(p)), NULL);
}

/* Opens the pool's one transaction the first time it has something to change. */
static int
pool_begin(struct store *s, int *is_open)
{
	if (*is_open)
		return 0;
	if (store_begin(s) != 0)
		return -1;
	*is_open = 1;
	return 0;
}

/*
 * Members of an older version go, and reachable ones beyond the depth,
 * oldest first: a pending one is terminated, a warm one stopped; one on its
 * way to warm is trimmed once it gets there.
 */
static int
pool_trim(struct store *s, const struct pool_def *d, const struct pool_member *m, size_t n,
    int64_t current, int *is_open)
{
	char reason[REASON_BUF];
	int64_t trimmed = 0;

	for (size_t i = 0; i < n; i++) {
		int is_stale = m[i].version != d->version;
		enum inst_state to;
		struct op_err err = { 0 };

		/* Out of reach: not counted, so never one of the extras either. */
		if (!is_stale && (!m[i].is_reachable || current - trimmed <= d->depth))
			continue;
		if (m[i].state == INST_PENDING)
			to = INST_TERMINATED;
		else if (m[i].state == INST_WARM)
			to = INST_STOPPING;
		else
			continue;	/* on its way to warm: trimmed once it gets there */
		if (pool_begin(s, is_open) != 0)
			return -1;
		if (is_stale)
			snprintf(reason, sizeof(reason), "the warm pool of %s moved to version %lld",
			    d->name, (long long)d->version);
		else
			snprintf(reason, sizeof(reason), "the warm pool of %s holds more than its depth "
			    "of %lld", d->name, (long long)d->depth);
		if (instance_transition(s, m[i].id, to, ACTOR_SYSTEM, reason, "outpostd", &err) != 0)
			return -1;
		if (!is_stale)
			trimmed++;
	}
	assert(trimmed <= current);
	return 0;
}

/* Makes want new pending members, each with its slot beginning now. */
static int
pool_fill(struct store *s, const struct pool_def *d, int64_t want, int64_t now, int *is_open)
{
	int64_t slot = d->max_duration > 0 ? d->max_duration : POOL_SLOT_DEFAULT;
	struct sbuf one;
	int rc = 0;

	if (pool_begin(s, is_open) != 0)
		return -1;
	sbuf_init(&one);
	for (int64_t k = 0; k < want && rc == 0; k++) {
		struct inst_row r = { .definition = d->name, .definition_version = d->version,
			.owner = "warm-pool", .timeslot_start = now, .timeslot_end = now + slot,
			.created_at = now, .updated_at = now, .cpu = d->cpu,
			.memory_mb = d->memory_mb, .is_pool = 1 };

		rc = instances_insert(s, &r, "outpostd", &one);
	}
	sbuf_free(&one);
	return rc;
}

/*
 * One definition's pool: trim what is stale or too many, make what is missing.
 * The depth counts the members a claim can reach: pending ones (the scheduler
 * places them only on workers that take new instances) and those on a worker
 * that is ready and online, as claim_warm() asks. One on a cordoned, draining
 * or offline worker does not count, so the pool is made up elsewhere; it is
 * left as it is (a draining worker's warm ones are stopped by drains()), and
 * when its worker takes instances again it counts again and the extras are
 * trimmed, oldest first. Its changes are one transaction, opened only when
 * there is one to make.
 */
static int
pool_keep(struct store *s, const struct pool_def *d, int64_t now)
{
	struct pool_state *ps = pool_state(d->name, now);
	struct pool_member *m;
	size_t n;
	int64_t current, made = 0;
	int is_open = 0, has_warm;

	if (ps == NULL || pool_members(s, d, &m, &n, &current, &has_warm) != 0)
		return -1;
	/* Failures pause the pool; a member that reached warm shows it works again. */
	pool_backoff(s, ps, d->name, now);
	if (has_warm)
		ps->failures = 0;
	if (pool_trim(s, d, m, n, current, &is_open) != 0)
		goto fail;
	if (d->depth > current && now >= ps->paused_until) {
		made = d->depth - current;
		if (pool_fill(s, d, made, now, &is_open) != 0)
			goto fail;
	}
	free(m);
	if (is_open && store_commit(s) != 0)
		return -1;
	if (made > 0)
		log_info("pool.filled", "definition", d->name, LOG_INT("made", made), NULL);
	return 0;
fail:
	if (is_open)
		store_rollback(s);
	free(m);
	return -1;
}

/*
 * Every definition whose latest version has a pool, or that still has pool
 * instances (its pool was removed or moved on): O(definitions).
 */
int
pools_keep(struct store *s, int64_t now)
{
	/* Bodies are parsed only for the few rows kept: result columns come after the WHERE. */
	static char sql[STATES_SQL_BUF];
	sqlite3_stmt *st = lifecycle_stmt_states(s, sql, sizeof(sql), "SELECT d.name, d.version, "
	    "d.warm_depth, json_extract(d.body, '$.resources.cpu'), "
	    "json_extract(d.body, '$.resources.memory_mb'), "
	    "json_extract(d.body, '$.max_duration') FROM definitions d "
	    "WHERE d.version = (SELECT max(version) FROM definitions WHERE name = d.name) AND "
	    "(d.warm_depth > 0 OR EXISTS (SELECT 1 FROM instances i "
	    "WHERE i.pool = 1 AND i.definition = d.name AND i.state IN (", inst_set_pool(), ")))");
	struct pool_def *d = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *md = (const char *)sqlite3_column_text(st, 5);

		if (array_grow(&d, &cap, n, sizeof(*d)) != 0)
			break;
		memset(&d[n], 0, sizeof(d[n]));
		snprintf(d[n].name, sizeof(d[n].name), "%s", (const char *)sqlite3_column_text(st, 0));
		d[n].version = sqlite3_column_int64(st, 1);
		d[n].depth = sqlite3_column_int64(st, 2);
		d[n].cpu = sqlite3_column_int64(st, 3);
		d[n].memory_mb = sqlite3_column_int64(st, 4);
		if (md != NULL)
			duration_parse(md, &d[n].max_duration);
		n++;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++)
		if (pool_keep(s, &d[i], now) != 0)
			rc = -1;
	free(d);
	return rc;
}

json_t *
pools_warm_counts(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT d.name, (SELECT count(*) FROM instances i WHERE "
	    "i.pool = 1 AND i.definition = d.name AND i.state = 'warm') FROM definitions d "
	    "WHERE d.version = (SELECT max(version) FROM definitions WHERE name = d.name) AND "
	    "(d.warm_depth > 0 OR EXISTS (SELECT 1 FROM instances i "
	    "WHERE i.pool = 1 AND i.definition = d.name AND i.state = 'warm')) ORDER BY d.name");
	json_t *o = json_object();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	if (st != NULL)
		sqlite3_reset(st);
	return o;
}
