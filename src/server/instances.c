/*
 * Instances: creation, reads, listing, and every change of state, each
 * checked against the state machine in src/common and written with its
 * transition row and its event in one transaction.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"


/* "'scheduled','instantiating',...": the states that hold a worker, from the state table. */
const char *
inst_holding_sql(void)
{
	static char list[256];

	if (list[0] == '\0')
		state_set_sql(KIND_INSTANCE, inst_set_holding(), list, sizeof(list));
	return list;
}

static int
put_time(struct sbuf *b, const char *key, int64_t ms)
{
	char buf[40];

	return sbuf_printf(b, ",\"%s\":\"%s\"", key, time_format_ms(ms, buf, sizeof(buf),
	    ms % 1000 != 0));
}

void
inst_row_from_stmt(sqlite3_stmt *st, struct inst_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->definition = (const char *)sqlite3_column_text(st, 1);
	r->definition_version = sqlite3_column_int64(st, 2);
	r->owner = (const char *)sqlite3_column_text(st, 3);
	r->state = (const char *)sqlite3_column_text(st, 4);
	r->state_reason = (const char *)sqlite3_column_text(st, 5);
	r->worker_id = sqlite3_column_int64(st, 6);
	r->worker = (const char *)sqlite3_column_text(st, 7);
	r->timeslot_start = sqlite3_column_int64(st, 8);
	r->timeslot_end = sqlite3_column_int64(st, 9);
	r->created_at = sqlite3_column_int64(st, 10);
	r->updated_at = sqlite3_column_int64(st, 11);
	r->grade = (const char *)sqlite3_column_text(st, 12);
	r->exit = (const char *)sqlite3_column_text(st, 13);
	r->cpu = sqlite3_column_int64(st, 14);
	r->memory_mb = sqlite3_column_int64(st, 15);
	r->attempt = sqlite3_column_int64(st, 16);
	r->is_pool = sqlite3_column_int(st, 17);
	r->pids = 0;
	r->sampled_at = sqlite3_column_int64(st, 18);
	r->cpu_millicores = sqlite3_column_int64(st, 19);
	r->cpu_usec = sqlite3_column_int64(st, 20);
	r->memory_bytes = sqlite3_column_int64(st, 21);
	r->memory_peak_bytes = sqlite3_column_int64(st, 22);
}

static int
put_string_or_null(struct sbuf *b, const char *key, const char *v)
{
	if (sbuf_printf(b, ",\"%s\":", key) != 0)
		return -1;
	return v == NULL ? sbuf_puts(b, "null") : sbuf_json_string(b, v);
}

/*
 * The one definition of an instance's JSON, written straight from its row:
 * list pages and creations are built this way because a tree per instance
 * costs several times the query (see bench/RESULTS.md). Returns 0, or -1
 * when the buffer could not grow: then it holds a part of the object only.
 */
int
instance_write(struct sbuf *b, const struct inst_row *r)
{
	int rc = 0;

	rc |= sbuf_printf(b, "{\"id\":%lld,\"definition\":", (long long)r->id);
	rc |= sbuf_json_string(b, r->definition);
	rc |= sbuf_printf(b, ",\"definition_version\":%lld,\"owner\":",
	    (long long)r->definition_version);
	rc |= sbuf_json_string(b, r->owner);
	rc |= sbuf_puts(b, ",\"state\":");
	rc |= sbuf_json_string(b, r->state);
	rc |= put_string_or_null(b, "state_reason", r->state_reason);
	rc |= put_string_or_null(b, "worker", r->worker);
	if (r->worker_id == 0)
		rc |= sbuf_puts(b, ",\"worker_id\":null");
	else
		rc |= sbuf_printf(b, ",\"worker_id\":%lld", (long long)r->worker_id);
	rc |= put_time(b, "timeslot_start", r->timeslot_start);
	rc |= put_time(b, "timeslot_end", r->timeslot_end);
	rc |= put_time(b, "created_at", r->created_at);
	rc |= put_time(b, "updated_at", r->updated_at);
	rc |= sbuf_printf(b, ",\"grade\":%s,\"exit\":%s", r->grade ? r->grade : "null",
	    r->exit ? r->exit : "null");
	rc |= sbuf_printf(b, ",\"resources\":{\"cpu\":%lld,\"memory_mb\":%lld", (long long)r->cpu,
	    (long long)r->memory_mb);
	if (r->pids > 0)
		rc |= sbuf_printf(b, ",\"pids\":%lld", (long long)r->pids);
	rc |= sbuf_printf(b, "},\"attempt\":%lld,\"pool\":%s,\"usage\":", (long long)r->attempt,
	    r->is_pool ? "true" : "false");
	if (r->sampled_at == 0) {
		rc |= sbuf_puts(b, "null}");
		return rc != 0 ? -1 : 0;
	}
	rc |= sbuf_printf(b, "{\"cpu_millicores\":%lld,\"cpu_usec\":%lld,\"memory_bytes\":%lld,"
	    "\"memory_peak_bytes\":%lld", (long long)r->cpu_millicores, (long long)r->cpu_usec,
	    (long long)r->memory_bytes, (long long)r->memory_peak_bytes);
	rc |= put_time(b, "sampled_at", r->sampled_at);
	rc |= sbuf_puts(b, "}}");
	return rc != 0 ? -1 : 0;
}

static json_t *
instance_from_row(sqlite3_stmt *st)
{
	struct inst_row r;
	struct sbuf b;
	json_t *j;

	inst_row_from_stmt(st, &r);
	sbuf_init(&b);
	instance_write(&b, &r);
	j = b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	sbuf_free(&b);
	return j;
}

json_t *
json_time(int64_t ms)
{
	char buf[40];

	return json_string(time_format_ms(ms, buf, sizeof(buf), ms % 1000 != 0));
}

int
instance_exists(struct store *s, int64_t id, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM instances WHERE id = ?");
	int rc;

	if (st == NULL) {
		store_fail(s, err);
		return 0;
	}
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!rc)
		op_err_set(err, 404, "not_found", "id", "no instance with id %lld", (long long)id);
	return rc;
}

json_t *
instance_get(struct store *s, int64_t id, struct op_err *err)
{
	return store_get_json(s, "SELECT " INST_COLUMNS INST_FROM "WHERE i.id = ?", id,
	    instance_from_row, "instance", err);
}

/* "name" or "name@version" → the definition row's name, version, resources and limits. */
struct def_ref {
	char name[80];
	int64_t version;
	int64_t cpu;
	int64_t memory_mb;
	int64_t max_duration;
	int64_t warm_depth;
};

static int
resolve_definition(struct store *s, const char *spec, struct def_ref *d, struct op_err *err)
{
	const char *at = strchr(spec, '@');
	sqlite3_stmt *st;
	const char *md;
	int64_t v = 0;

	memset(d, 0, sizeof(*d));
	if (at != NULL) {
		if ((size_t)(at - spec) >= sizeof(d->name) ||
		    parse_int64(at + 1, 1, INT64_MAX, &v) != 0) {
			op_err_set(err, 400, "invalid_argument", "definition",
			    "definition must be \"name\" or \"name@version\" with a positive version");
			return -1;
		}
		memcpy(d->name, spec, (size_t)(at - spec));
	} else {
		snprintf(d->name, sizeof(d->name), "%s", spec);
	}
	/* Only the fields an instance copies are read: no parse of the whole body. */
	if (v > 0) {
		st = store_stmt(s, "SELECT version, json_extract(body, '$.resources.cpu'), "
		    "json_extract(body, '$.resources.memory_mb'), json_extract(body, '$.max_duration'), "
		    "warm_depth FROM definitions WHERE name = ? AND version = ?");
	} else {
		st = store_stmt(s, "SELECT version, json_extract(body, '$.resources.cpu'), "
		    "json_extract(body, '$.resources.memory_mb'), json_extract(body, '$.max_duration'), "
		    "warm_depth FROM definitions WHERE name = ? ORDER BY version DESC LIMIT 1");
	}
	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	if (v > 0)
		sqlite3_bind_int64(st, 2, v);
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (v > 0)
			op_err_set(err, 422, "not_found", "definition", "definition %s has no version %lld",
			    d->name, (long long)v);
		else
			op_err_set(err, 422, "not_found", "definition", "no definition named %s", d->name);
		return -1;
	}
	d->version = sqlite3_column_int64(st, 0);
	d->cpu = sqlite3_column_int64(st, 1);
	d->memory_mb = sqlite3_column_int64(st, 2);
	md = (const char *)sqlite3_column_text(st, 3);
	if (md != NULL)
		duration_parse(md, &d->max_duration);
	d->warm_depth = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	return 0;
}

static int
check_slot(const struct def_ref *d, int64_t start, int64_t end, struct op_err *err)
{
	char a[32];

	if (end <= start) {
		op_err_set(err, 422, "invalid_argument", "timeslot_end",
		    "timeslot_end must be after timeslot_start");
		return -1;
	}
	if (d->max_duration > 0 && end - start > d->max_duration) {
		op_err_set(err, 422, "invalid_argument", "timeslot_end",
		    "the slot is longer than the definition's max_duration of %s",
		    duration_format(d->max_duration, a, sizeof(a)));
		return -1;
	}
	return 0;
}

static int
owner_is_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int
instance_add_transition(struct store *s, int64_t id, const char *from, const char *to,
    const char *reason, const char *actor, int64_t at)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO transitions "
	    "(instance_id, from_state, to_state, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (from)
		sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	if (actor)
		sqlite3_bind_text(st, 5, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, at);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/*
 * Inserts one instance in the caller's transaction, pending, with its
 * transition row and instance.created event; r->id is set and its JSON is
 * left in one (encoded once, spliced into the event and the caller's answer).
 */
int
instances_insert(struct store *s, struct inst_row *r, const char *actor, struct sbuf *one)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO instances (definition, "
	    "definition_version, owner, state, cpu, memory_mb, timeslot_start, timeslot_end, "
	    "created_at, updated_at, pool, trace) "
	    "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)");
	struct sbuf data;
	char trace[TRACEPARENT_BUF];
	int rc = -1;

	if (st == NULL)
		return -1;
	r->state = "pending";
	sqlite3_bind_text(st, 1, r->definition, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->definition_version);
	sqlite3_bind_text(st, 3, r->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->cpu);
	sqlite3_bind_int64(st, 5, r->memory_mb);
	sqlite3_bind_int64(st, 6, r->timeslot_start);
	sqlite3_bind_int64(st, 7, r->timeslot_end);
	sqlite3_bind_int64(st, 8, r->created_at);
	sqlite3_bind_int64(st, 9, r->updated_at);
	sqlite3_bind_int(st, 10, r->is_pool);
	/* The trace its placement and its agent's hooks continue: its creator's. */
	if (traceparent_format(trace_current(), trace, sizeof(trace))[0] != '\0')
		sqlite3_bind_text(st, 11, trace, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	counts_move(s, -1, INST_PENDING, 1);
	r->id = sqlite3_last_insert_rowid(store_db(s));
	if (instance_add_transition(s, r->id, NULL, "pending", r->is_pool ? "made for the warm pool" :
	    "created", actor, r->created_at) != 0)
		return -1;
	sbuf_reset(one);
	instance_write(one, r);
	sbuf_init(&data);
	sbuf_puts(&data, "{\"instance\":");
	sbuf_append(&data, one->p, one->len);
	if (sbuf_putc(&data, '}') == 0 &&
	    events_append_text(s, "instance.created", "instance", NULL, r->id, actor, data.p) == 0)
		rc = 0;
	sbuf_free(&data);
	return rc;
}

/*
 * A warm instance of the definition version, on a worker that takes new
 * work, becomes the caller's: its owner and slot, then running at once (its
 * instantiate hook ran ahead). Its id, and the history of its warm-up, stay
 * its own, so its hooks see one instance from instantiate to stop. In the
 * caller's transaction; 1 when one was claimed (JSON in one), 0 when none is
 * warm, -1 on error.
 */
static int
claim_warm(struct store *s, const struct def_ref *d, const char *owner, int64_t start,
    int64_t end, const char *actor, struct sbuf *one, int64_t *id, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT i.id FROM instances i JOIN workers w "
	    "ON w.id = i.worker_id WHERE i.pool = 1 AND i.definition = ? AND i.state = 'warm' AND "
	    "i.definition_version = ? AND w.state = 'ready' AND w.health = 'online' "
	    "ORDER BY i.id LIMIT 1");
	char reason[200];
	json_t *j;
	char *text;

	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, d->version);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* Its hooks from now on continue the claimer's trace (if one is current). */
	st = store_stmt(s, "UPDATE instances SET owner = ?, timeslot_start = ?, timeslot_end = ?, "
	    "pool = 0, trace = coalesce(?5, trace) WHERE id = ?4");
	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, start);
	sqlite3_bind_int64(st, 3, end);
	sqlite3_bind_int64(st, 4, *id);
	if (traceparent_format(trace_current(), reason, sizeof(reason))[0] != '\0')
		sqlite3_bind_text(st, 5, reason, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		store_fail(s, err);
		return -1;
	}
	snprintf(reason, sizeof(reason), "claimed from the warm pool for %s", owner);
	if (instance_transition(s, *id, INST_RUNNING, ACTOR_SCHEDULER, reason, actor, err) != 0)
		return -1;
	j = instance_get(s, *id, err);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL) {
		store_fail(s, err);
		return -1;
	}
	sbuf_reset(one);
	sbuf_puts(one, text);
	free(text);
	return 1;
}

/*
 * Creates one instance, or count of them in one transaction, each with its
 * transition row and instance.created event. An instance whose slot has begun
 * claims a warm one of its definition when the pool holds one. The answer
 * (the instance, or {"items": [...]} when count was given) is written to out
 * as JSON text: each instance is encoded once.
 */
int
instances_create(struct store *s, json_t *in, const char *actor, struct sbuf *out,
    int64_t *first_id, struct op_err *err)
{
	static const char *const fields[] = { "definition", "owner", "timeslot_start",
		"timeslot_end", "count", NULL };
	const char *spec, *owner;
	int64_t start, end, count = 1, now = now_ms();
	struct def_ref d;
	struct sbuf one;
	int has_count = json_object_get(in, "count") != NULL &&
	    !json_is_null(json_object_get(in, "count"));
	int may_claim;
	size_t nclaimed = 0;

	*first_id = 0;
	err->code = NULL;
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "definition", 1, 1, 100, &spec, err) != 0 ||
	    jsonv_string(in, "", "owner", 1, 1, 128, &owner, err) != 0 ||
	    jsonv_time(in, "", "timeslot_start", 1, &start, err) != 0 ||
	    jsonv_time(in, "", "timeslot_end", 1, &end, err) != 0 ||
	    jsonv_int(in, "", "count", 0, 1, 1000, &count, err) != 0)
		return -1;
	if (!owner_is_valid(owner)) {
		op_err_set(err, 400, "invalid_argument", "owner",
		    "owner must not contain control characters");
		return -1;
	}
	if (resolve_definition(s, spec, &d, err) != 0 || check_slot(&d, start, end, err) != 0)
		return -1;
	/* An instance whose slot is over could only fail (slot_missed), or use up a warm one. */
	if (end <= now) {
		char t[40];

		op_err_set(err, 422, "invalid_argument", "timeslot_end", "timeslot_end %s has passed: "
		    "the slot is over before it can begin", time_format_ms(end, t, sizeof(t), 0));
		return -1;
	}
	if (store_begin_shared(s) != 0) {
		store_fail(s, err);
		return -1;
	}
	may_claim = d.warm_depth > 0 && start <= now;
	sbuf_init(&one);
	if (has_count)
		sbuf_puts(out, "{\"items\":[");
	for (int64_t i = 0; i < count; i++) {
		struct inst_row r = { .definition = d.name, .definition_version = d.version,
			.owner = owner, .timeslot_start = start, .timeslot_end = end,
			.created_at = now, .updated_at = now, .cpu = d.cpu, .memory_mb = d.memory_mb };
		int claimed = 0;

		if (may_claim) {
			claimed = claim_warm(s, &d, owner, start, end, actor, &one, &r.id, err);
			if (claimed < 0)
				goto rb;
			nclaimed += (size_t)claimed;
			may_claim = claimed;	/* the pool ran dry: the rest are made */
		}
		if (!claimed && instances_insert(s, &r, actor, &one) != 0)
			goto db_rb;
		if (i == 0)
			*first_id = r.id;
		if (i > 0)
			sbuf_putc(out, ',');
		sbuf_append(out, one.p, one.len);
	}
	if (has_count)
		sbuf_puts(out, "]}");
	if (sbuf_putc(out, '\n') != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	metrics_warm_claimed(nclaimed);
	sbuf_free(&one);
	return 0;
db_rb:
	store_fail(s, err);
rb:
	store_rollback(s);
	sbuf_free(&one);
	return -1;
db:
	store_fail(s, err);
	sbuf_free(&one);
	return -1;
}

/*
 * The list statements, one per combination of filters, made on first use
 * and kept (the filters are fixed fragments; values are always bound).
 * States are matched with an IN of INST_STATE_COUNT slots; unused slots
 * repeat the first name. One state is matched with "=": instances_state
 * (state, id) then gives the page in id order, limit + 1 rows read; an IN
 * reads every instance in its states and sorts them (26 ms for 500 of 100k,
 * bench/run-filter.sh).
 */
enum { F_STATE = 1, F_DEF = 2, F_OWNER = 4, F_WORKER = 8, F_ONE = 16, F_ALL = 32 };

static const char *
list_sql(unsigned mask)
{
	static char sql[F_ALL][768];
	char *p;
	size_t n;

	if (sql[mask][0] != '\0')
		return sql[mask];
	p = sql[mask];
	n = sizeof(sql[mask]);
	snprintf(p, n, "SELECT " INST_COLUMNS INST_FROM "WHERE i.id > ?1");
	if (mask & F_ONE)
		strncat(p, " AND i.state = ?10", n - strlen(p) - 1);
	else if (mask & F_STATE)
		strncat(p, " AND i.state IN (?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)",
		    n - strlen(p) - 1);
	if (mask & F_DEF)
		strncat(p, " AND i.definition = ?3", n - strlen(p) - 1);
	if (mask & F_OWNER)
		strncat(p, " AND i.owner = ?4", n - strlen(p) - 1);
	if (mask & F_WORKER)
		strncat(p, " AND i.worker_id = ?5", n - strlen(p) - 1);
	strncat(p, " ORDER BY i.id LIMIT ?2", n - strlen(p) - 1);
	return p;
}

int
instances_list(struct store *s, const struct instance_filter *f, int64_t after, int64_t limit,
    struct sbuf *out, int64_t *last_id, int *has_more)
{
	unsigned mask = (f->state_mask ? F_STATE : 0) | (f->definition ? F_DEF : 0) |
	    (f->owner ? F_OWNER : 0) | (f->worker_id ? F_WORKER : 0) |
	    (f->state_mask != 0 && (f->state_mask & (f->state_mask - 1)) == 0 ? F_ONE : 0);
	sqlite3_stmt *st = store_stmt(s, list_sql(mask));
	struct inst_row row;
	int n = 0, slot = 10;

	*has_more = 0;
	*last_id = after;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit + 1);
	/* An instance is about 400 bytes: the page grows once, not a dozen times. */
	sbuf_reserve(out, (size_t)limit * 400);
	if (f->state_mask) {
		const char *first = NULL;

		for (int i = 0; i < INST_STATE_COUNT; i++) {
			if (f->state_mask & (1u << i)) {
				if (first == NULL)
					first = inst_state_name((enum inst_state)i);
				sqlite3_bind_text(st, slot++, inst_state_name((enum inst_state)i), -1,
				    SQLITE_STATIC);
			}
		}
		while (!(mask & F_ONE) && slot <= 20)
			sqlite3_bind_text(st, slot++, first, -1, SQLITE_STATIC);
	}
	if (f->definition)
		sqlite3_bind_text(st, 3, f->definition, -1, SQLITE_STATIC);
	if (f->owner)
		sqlite3_bind_text(st, 4, f->owner, -1, SQLITE_STATIC);
	if (f->worker_id)
		sqlite3_bind_int64(st, 5, f->worker_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == limit) {
			*has_more = 1;
			break;
		}
		*last_id = sqlite3_column_int64(st, 0);
		if (n > 0)
			sbuf_putc(out, ',');
		inst_row_from_stmt(st, &row);
		instance_write(out, &row);
		n++;
	}
	sqlite3_reset(st);
	return n;
}

/*
 * Moves an instance to `to` in the caller's transaction: checked against the
 * state machine for actor_kind, with its transition row and its
 * instance.state event, which names the worker the instance was on (an
 * instance sent back to pending leaves it: that worker's agent must hear).
 */
int
instance_transition(struct store *s, int64_t id, enum inst_state to, int actor_kind,
    const char *reason, const char *actor, struct op_err *err)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT state, worker_id FROM instances WHERE id = ?");
	enum inst_state from;
	char why[200];
	int64_t now = now_ms(), worker_id;
	json_t *inst;
	int rc;

	if (st == NULL)
		goto db;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		op_err_set(err, 404, "not_found", "id", "no instance with id %lld", (long long)id);
		return -1;
	}
	rc = inst_state_parse((const char *)sqlite3_column_text(st, 0), &from);
	worker_id = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (rc != 0) {
		op_err_set(err, 500, "internal", "", "instance %lld has an unknown state", (long long)id);
		return -1;
	}
	if (inst_transition_check(from, to, actor_kind, why, sizeof(why)) != 0) {
		op_err_set(err, 409, "invalid_transition", "state", "%s", why);
		return -1;
	}
	/* Only placement puts an instance on a worker: every later state that holds one has it. */
	assert(!inst_state_holds_worker(to) || worker_id != 0);
	st = store_stmt(s, "UPDATE instances SET state = ?, state_reason = ?, updated_at = ?, "
	    "worker_id = CASE WHEN ? THEN NULL ELSE worker_id END WHERE id = ?");
	if (st == NULL)
		goto db;
	sqlite3_bind_text(st, 1, inst_state_name(to), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	/* Back to pending means no worker holds it any more. */
	sqlite3_bind_int(st, 4, to == INST_PENDING);
	sqlite3_bind_int64(st, 5, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db;
	counts_move(s, (int)from, (int)to, 1);
	if (instance_add_transition(s, id, inst_state_name(from), inst_state_name(to), reason, actor,
	    now) != 0)
		goto db;
	inst = instance_get(s, id, err);
	if (inst == NULL)
		goto db;
	if (events_append_worker(s, "instance.state", "instance", id, worker_id, actor,
	    json_pack("{s:s, s:s, s:s?, s:o}", "from", inst_state_name(from), "to",
	    inst_state_name(to), "reason", reason, "instance", inst)) != 0)
		goto db;
	return 0;
db:
	store_fail(s, err);
	return -1;
}

static int
extend(struct store *s, int64_t id, json_t *body, const char *actor, struct op_err *err)
{
	static const char *const fields[] = { "timeslot_end", NULL };
	sqlite3_stmt *st;
	struct def_ref d;
	int64_t end, start, old_end;
	char spec[100];
	json_t *inst;

	if (body == NULL) {
		op_err_set(err, 400, "invalid_argument", "timeslot_end", "timeslot_end is required");
		return -1;
	}
	if (jsonv_known(body, "", fields, err) != 0 ||
	    jsonv_time(body, "", "timeslot_end", 1, &end, err) != 0)
		return -1;
	st = store_row(s, "SELECT definition, definition_version, timeslot_start, timeslot_end "
	    "FROM instances WHERE id = ?", id, "instance", err);
	if (st == NULL)
		return -1;
	snprintf(spec, sizeof(spec), "%s@%lld", sqlite3_column_text(st, 0),
	    (long long)sqlite3_column_int64(st, 1));
	start = sqlite3_column_int64(st, 2);
	old_end = sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	if (end <= old_end) {
		op_err_set(err, 422, "invalid_argument", "timeslot_end",
		    "timeslot_end must be later than the current end of the slot");
		return -1;
	}
	if (resolve_definition(s, spec, &d, err) != 0 || check_slot(&d, start, end, err) != 0)
		return -1;
	st = store_stmt(s, "UPDATE instances SET timeslot_end = ?, updated_at = ? WHERE id = ?");
	if (st == NULL) {
		store_fail(s, err);
		return -1;
	}
	sqlite3_bind_int64(st, 1, end);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE || (inst = instance_get(s, id, err)) == NULL) {
		store_fail(s, err);
		return -1;
	}
	return events_append_worker(s, "instance.extended", "instance", id,
	    json_integer_value(json_object_get(inst, "worker_id")), actor,
	    json_pack("{s:O, s:o}", "timeslot_end", json_object_get(inst, "timeslot_end"),
	    "instance", inst));
}

int
instance_act(struct store *s, int64_t id, enum inst_action a, json_t *body, const char *actor,
    json_t **out, struct op_err *err)
{
	sqlite3_stmt *st;
	enum inst_state from, to;
	char why[200], reason[200];
	int i;

	*out = NULL;
	err->code = NULL;
	if (store_begin(s) != 0)
		return store_fail(s, err);
	i = store_state_of(s, "SELECT state FROM instances WHERE id = ?", KIND_INSTANCE, id,
	    "instance", err);
	if (i < 0)
		goto fail;
	from = (enum inst_state)i;
	if (inst_action_target(a, from, &to, why, sizeof(why)) != 0) {
		op_err_set(err, 409, "invalid_transition", "", "%s", why);
		goto fail;
	}
	if (a == INST_ACT_EXTEND) {
		if (extend(s, id, body, actor, err) != 0)
			goto fail;
	} else {
		snprintf(reason, sizeof(reason), "%s by %s", a == INST_ACT_STOP ? "stopped" :
		    a == INST_ACT_TERMINATE ? "terminated" : "retried", actor ? actor : "operator");
		/* Cleared first: the transition's event carries the instance as it is after. */
		if (a == INST_ACT_RETRY) {
			st = store_stmt(s, "UPDATE instances SET exit = NULL, grade = NULL WHERE id = ?");
			if (st == NULL)
				goto fail;
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) != SQLITE_DONE)
				goto fail;
		}
		if (instance_transition(s, id, to, ACTOR_OPERATOR, reason, actor, err) != 0)
			goto fail;
	}
	if (store_commit(s) != 0)
		return store_fail(s, err);
	*out = instance_get(s, id, err);
	return 0;
fail:
	return store_abort(s, err);
}

json_t *
instance_transitions(struct store *s, int64_t id, struct op_err *err)
{
	sqlite3_stmt *st;
	json_t *items;

	if (!instance_exists(s, id, err))
		return NULL;
	st = store_stmt(s, "SELECT from_state, to_state, reason, actor, at FROM transitions "
	    "WHERE instance_id = ? ORDER BY id");
	if (st == NULL) {
		store_fail(s, err);
		return NULL;
	}
	items = json_array();
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(items, json_pack("{s:s?, s:s, s:s?, s:s?, s:o}",
		    "from", (const char *)sqlite3_column_text(st, 0),
		    "to", (const char *)sqlite3_column_text(st, 1),
		    "reason", (const char *)sqlite3_column_text(st, 2),
		    "actor", (const char *)sqlite3_column_text(st, 3),
		    "at", json_time(sqlite3_column_int64(st, 4))));
	sqlite3_reset(st);
	return json_pack("{s:o}", "items", items);
}
