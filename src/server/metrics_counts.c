/*
 * Instances by state, kept in memory so that /metrics, the site's header
 * and the watchdog read an array instead of counting every row (with 100k
 * instances the GROUP BY took 10 ms or more a scrape: bench/run-metrics.sh).
 *
 * The counts are those of one store: read from it once, at the first call
 * made outside a transaction, then moved by every change of an instance's
 * state (instances_insert, instance_transition, the placement's write, the
 * prune) in the transaction that makes it. A transaction's moves are kept
 * apart and added to the counts when store.c commits it; a rollback drops
 * them (counts_rolled_back), so a failed write leaves the counts as the
 * disk has them. A move is recorded only after its statement succeeded.
 *
 * Invariants: no count is ever below zero; moves are only counted for the
 * store that was loaded (the unit tests open several). It must never write.
 */
#include <assert.h>
#include <string.h>

#include "server.h"

static struct store *counted;		/* the store the counts are of, or NULL */
static int64_t counts[INST_STATE_COUNT];	/* as committed */
static int64_t moved[INST_STATE_COUNT];	/* by the open transaction */

/* The counts as SQLite has them: O(instances), through the state index. */
static int
counts_query(struct store *s, int64_t *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT state, count(*) FROM instances GROUP BY state");
	enum inst_state is;

	memset(out, 0, sizeof(counts));
	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (inst_state_parse((const char *)sqlite3_column_text(st, 0), &is) == 0)
			out[is] = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

static int
is_in_txn(struct store *s)
{
	return store_in_txn(s);
}

/*
 * n instances moved from one state to another (from < 0: created; to < 0:
 * deleted), after the statement that moved them succeeded.
 */
void
counts_move(struct store *s, int from, int to, int64_t n)
{
	int64_t *d = is_in_txn(s) ? moved : counts;

	assert(from < INST_STATE_COUNT && to < INST_STATE_COUNT && n >= 0);
	if (s != counted || n == 0)
		return;
	if (from >= 0)
		d[from] -= n;
	if (to >= 0)
		d[to] += n;
}

void
counts_committed(struct store *s)
{
	if (s != counted)
		return;
	for (int i = 0; i < INST_STATE_COUNT; i++) {
		counts[i] += moved[i];
		assert(counts[i] >= 0);
		moved[i] = 0;
	}
}

void
counts_rolled_back(struct store *s)
{
	if (s == counted)
		memset(moved, 0, sizeof(moved));
}

/* The store goes away (store_close): a new one at the same address is counted afresh. */
void
counts_forget(struct store *s)
{
	if (s == counted)
		counted = NULL;
}

/*
 * out[state] for every state: from memory once loaded; else loaded now, or,
 * inside a transaction (whose changes SQLite would count before they are
 * committed), counted by SQL this once. 0, or -1 when the store fails.
 */
int
counts_get(struct store *s, int64_t *out)
{
	if (s == counted) {
		memcpy(out, counts, sizeof(counts));
		return 0;
	}
	if (is_in_txn(s))
		return counts_query(s, out);
	if (counts_query(s, counts) != 0)
		return -1;
	counted = s;
	memset(moved, 0, sizeof(moved));
	memcpy(out, counts, sizeof(counts));
	return 0;
}

/* {"pending": n, ...} for every state, 0 for those with none. */
json_t *
instance_counts(struct store *s)
{
	int64_t n[INST_STATE_COUNT];
	json_t *c = json_object();

	if (counts_get(s, n) != 0)
		memset(n, 0, sizeof(n));
	for (int i = 0; i < INST_STATE_COUNT; i++)
		json_object_set_new(c, inst_state_name((enum inst_state)i), json_integer(n[i]));
	return c;
}
