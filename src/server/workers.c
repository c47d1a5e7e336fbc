/*
 * Workers: registration by an agent, heartbeats and health, reads and
 * listing. Every change of a worker's state (registration's included) is
 * worker_life.c's worker_transition(); this file never writes
 * workers.state. What a worker holds (allocated) is derived from its active
 * instances, never stored twice.
 */
#define _DEFAULT_SOURCE 1	/* explicit_bzero */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent_tokens.h"
#include "server.h"

/*
 * What a worker holds is the sum over its instances in states that hold a
 * worker (from the state table; "?S" below is replaced by that list once).
 */
static const char worker_select_tmpl[] =
	"SELECT w.id, w.name, w.template, w.state, w.health, w.cpu, w.memory_mb, "
	"w.slots, w.labels, w.last_heartbeat, w.created_at, w.updated_at, w.drain_deadline, "
	"(SELECT coalesce(sum(i.cpu), 0) FROM instances i WHERE i.worker_id = w.id AND i.state IN (?S)), "
	"(SELECT coalesce(sum(i.memory_mb), 0) FROM instances i WHERE i.worker_id = w.id AND i.state IN (?S)), "
	"(SELECT count(*) FROM instances i WHERE i.worker_id = w.id AND i.state IN (?S)), "
	"w.isolation FROM workers w ";

/* The statement text for `where`, built once per call site and kept (store_stmt keys on it). */
static const char *
worker_sql(char *buf, size_t n, const char *where)
{
	const char *states = inst_holding_sql(), *mark;

	if (buf[0] != '\0')
		return buf;
	/* Copy the template, putting the state list where each ?S stands. */
	{
		const char *p = worker_select_tmpl;
		size_t used = 0;

		while ((mark = strstr(p, "?S")) != NULL) {
			used += (size_t)snprintf(buf + used, n - used, "%.*s%s", (int)(mark - p), p, states);
			p = mark + 2;
		}
		snprintf(buf + used, n - used, "%s%s", p, where);
	}
	return buf;
}

static json_t *
time_or_null(sqlite3_stmt *st, int col)
{
	char buf[40];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string(time_format_ms(sqlite3_column_int64(st, col), buf, sizeof(buf), 0));
}

static json_t *
worker_from_row(sqlite3_stmt *st)
{
	json_t *j = json_object(), *labels;

	labels = json_loads((const char *)sqlite3_column_text(st, 8), 0, NULL);
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", json_string((const char *)sqlite3_column_text(st, 1)));
	json_object_set_new(j, "template", sqlite3_column_type(st, 2) == SQLITE_NULL ? json_null() :
	    json_string((const char *)sqlite3_column_text(st, 2)));
	json_object_set_new(j, "state", json_string((const char *)sqlite3_column_text(st, 3)));
	json_object_set_new(j, "health", json_string((const char *)sqlite3_column_text(st, 4)));
	json_object_set_new(j, "isolation", json_string((const char *)sqlite3_column_text(st, 16)));
	json_object_set_new(j, "capacity", json_pack("{s:I, s:I, s:I}",
	    "cpu", (json_int_t)sqlite3_column_int64(st, 5),
	    "memory_mb", (json_int_t)sqlite3_column_int64(st, 6),
	    "slots", (json_int_t)sqlite3_column_int64(st, 7)));
	json_object_set_new(j, "allocated", json_pack("{s:I, s:I, s:I}",
	    "cpu", (json_int_t)sqlite3_column_int64(st, 13),
	    "memory_mb", (json_int_t)sqlite3_column_int64(st, 14),
	    "slots", (json_int_t)sqlite3_column_int64(st, 15)));
	json_object_set_new(j, "labels", labels ? labels : json_object());
	json_object_set_new(j, "last_heartbeat", time_or_null(st, 9));
	json_object_set_new(j, "instance_count", json_integer(sqlite3_column_int64(st, 15)));
	json_object_set_new(j, "drain_deadline", time_or_null(st, 12));
	json_object_set_new(j, "created_at", time_or_null(st, 10));
	json_object_set_new(j, "updated_at", time_or_null(st, 11));
	agent_version_json(j);	/* what its agent said last */
	return j;
}

json_t *
worker_get(struct store *s, int64_t id, struct op_err *err)
{
	static char sql[2048];

	return store_get_json(s, worker_sql(sql, sizeof(sql), "WHERE w.id = ?"), id,
	    worker_from_row, "worker", err);
}

/* Workers are named by id or by name in every route. */
int
worker_resolve(struct store *s, const char *id_or_name, int64_t *id, struct op_err *err)
{
	sqlite3_stmt *st;
	int64_t v;

	int is_id = parse_int64(id_or_name, 1, INT64_MAX, &v) == 0;

	st = store_stmt(s, is_id ? "SELECT id FROM workers WHERE id = ?" :
	    "SELECT id FROM workers WHERE name = ?");
	if (st == NULL)
		return store_fail(s, err);
	if (is_id)
		sqlite3_bind_int64(st, 1, v);
	else
		sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		op_err_set(err, 404, "not_found", "id", "no worker with id or name %s", id_or_name);
		return -1;
	}
	*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

static int health_event(struct store *s, int64_t id, const char *from, const char *to,
    const char *reason, const char *actor);

/*
 * A join token's registration, in its transaction, before anything is
 * written: its limits allow the name and template (the template the worker
 * will have: the body's, and the stored one's), the worker has no live token
 * of its own (a join token never takes over a worker), and one use is spent.
 * 0, or -1 with a 403 or 409 (or 500) in err.
 */
static int
join_check(struct store *s, const struct auth_token *tok, int64_t id, const char *name,
    const char *tmpl, const char *row_tmpl, struct op_err *err)
{
	int64_t held;
	int rc;

	if (http_join_allows(tok, name, tmpl ? tmpl : (row_tmpl[0] ? row_tmpl : NULL), err) != 0 ||
	    (tmpl != NULL && row_tmpl[0] != '\0' &&
	    http_join_allows(tok, name, row_tmpl, err) != 0))
		return -1;
	if (id != 0 && (rc = auth_worker_has_token(s, id, &held)) != 0) {
		if (rc < 0)
			return store_fail(s, err);
		op_err_set(err, 409, "conflict", "name", "worker %s already has its own token "
		    "(token %lld): a join token cannot register it again; its agent uses that "
		    "token, or an admin revokes it first", name, (long long)held);
		return -1;
	}
	if (auth_spend_join(s, tok->id) != 0) {
		op_err_set(err, 403, "forbidden", "", "join token %s has no registration left",
		    tok->name);
		return -1;
	}
	return 0;
}

/*
 * An agent registers (or registers again after a restart): the worker is
 * created ready and online, or its capacity and labels are updated and it is
 * online again. A terminated worker's name is not reused. With a join token
 * the worker's own token is made in the same transaction (cred).
 */
int
worker_register(struct store *s, json_t *in, const struct auth_token *tok,
    const char *actor, json_t **out, char *cred, size_t credlen, struct op_err *err)
{
	static const char *const fields[] = { "name", "template", "capacity", "labels",
		"isolation", NULL };
	static const char *const cap_fields[] = { "cpu", "memory_mb", "slots", NULL };
	const char *name, *tmpl = NULL, *isolation = "none";
	json_t *cap, *labels = NULL, *w = NULL;
	int64_t cpu, mem, slots, id = 0, now = now_ms();
	char *labels_text = NULL, was[16] = "online", row_tmpl[NAME_BUF] = "";
	enum worker_state from = WORKER_READY;
	const char *why = NULL;
	sqlite3_stmt *st;
	int is_new, is_made_ready = 0, is_retiring = 0;
	int is_join = tok != NULL && tok->role == ROLE_AGENT && tok->worker_id == 0;
	int64_t cred_id = 0;

	*out = NULL;
	assert(cred != NULL && credlen > 0);
	cred[0] = '\0';
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0)
		return -1;
	if (!name_is_valid(name, NAME_MAX_LEN) || strspn(name, "0123456789") == strlen(name)) {
		op_err_set(err, 400, "invalid_argument", "name",
		    "name must be 1 to %d of a-z, 0-9, '.', '_', '-', starting with a letter or "
		    "digit, and not all digits (those name worker ids)", NAME_MAX_LEN);
		return -1;
	}
	if (jsonv_string(in, "", "template", 0, 1, NAME_MAX_LEN, &tmpl, err) != 0)
		return -1;
	cap = jsonv_object(in, "", "capacity", 1, err);
	if (cap == NULL || jsonv_known(cap, "capacity", cap_fields, err) != 0 ||
	    jsonv_int(cap, "capacity", "cpu", 1, 1, 4096, &cpu, err) != 0 ||
	    jsonv_int(cap, "capacity", "memory_mb", 1, 1, 64LL * 1024 * 1024, &mem, err) != 0 ||
	    jsonv_int(cap, "capacity", "slots", 1, 1, 10000, &slots, err) != 0 ||
	    jsonv_labels(in, "", "labels", &labels, err) != 0 ||
	    jsonv_string(in, "", "isolation", 0, 1, 16, &isolation, err) != 0)
		return -1;
	if (strcmp(isolation, "none") != 0 && strcmp(isolation, "cgroup-v1") != 0 &&
	    strcmp(isolation, "cgroup-v2") != 0) {
		op_err_set(err, 400, "invalid_argument", "isolation",
		    "isolation must be \"none\", \"cgroup-v1\" or \"cgroup-v2\"");
		return -1;
	}
	labels_text = labels ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if (store_begin(s) != 0)
		goto db;
	st = store_stmt(s, "SELECT id, state, health, retiring, template FROM workers "
	    "WHERE name = ?");
	if (st == NULL)
		goto db_rb;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		snprintf(was, sizeof(was), "%s", (const char *)sqlite3_column_text(st, 2));
		if (worker_state_parse((const char *)sqlite3_column_text(st, 1), &from) != 0)
			from = WORKER_TERMINATED;
		is_retiring = sqlite3_column_int(st, 3);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			snprintf(row_tmpl, sizeof(row_tmpl), "%s",
			    (const char *)sqlite3_column_text(st, 4));
		if (from == WORKER_TERMINATED) {
			sqlite3_reset(st);
			store_rollback(s);
			free(labels_text);
			op_err_set(err, 409, "invalid_transition", "name",
			    "worker %s was terminated; register under a new name", name);
			return -1;
		}
	}
	sqlite3_reset(st);
	is_new = id == 0;
	if (labels_text == NULL)
		goto db_rb;
	if (is_join && join_check(s, tok, id, name, tmpl, row_tmpl, err) != 0) {
		store_rollback(s);
		free(labels_text);
		return -1;
	}
	if (is_new) {
		struct worker_new n = {
			.name = name, .tmpl = tmpl, .state = WORKER_READY, .health = HEALTH_ONLINE,
			.cpu = cpu, .memory_mb = mem, .slots = slots, .labels = labels_text,
			.last_heartbeat = now, .now = now,
		};

		if (worker_insert(s, &n, &id) != 0)
			goto db_rb;
	} else {
		st = store_stmt(s, "UPDATE workers SET template = coalesce(?2, template), "
		    "health = 'online', cpu = ?3, memory_mb = ?4, slots = ?5, labels = ?6, "
		    "last_heartbeat = ?7, updated_at = ?7 WHERE name = ?1");
		if (st == NULL)
			goto db_rb;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (tmpl)
			sqlite3_bind_text(st, 2, tmpl, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, cpu);
		sqlite3_bind_int64(st, 4, mem);
		sqlite3_bind_int64(st, 5, slots);
		sqlite3_bind_text(st, 6, labels_text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			goto db_rb;
		}
		sqlite3_reset(st);
		/* Made ready by registering: a provisioned worker, a stopped one started again. */
		is_made_ready = from == WORKER_PROVISIONING ||
		    (from == WORKER_STOPPED && !is_retiring);
		why = from == WORKER_PROVISIONING ? "its agent registered" :
		    "its agent registered again";
		if (is_made_ready &&
		    worker_transition_write(s, id, WORKER_READY, 0, &from, err) != 0)
			goto db_rb;
	}
	if (store_exec(s, NULL, "UPDATE workers SET isolation = ? WHERE id = ?", "ti", isolation,
	    id) != 0)
		goto db_rb;
	if (is_join && auth_insert_worker(s, id, name, actor, cred, credlen, &cred_id, err) != 0)
		goto db_rb;
	w = worker_get(s, id, err);
	if (w == NULL || events_append(s, "worker.registered", "worker", NULL, id, actor,
	    json_pack("{s:b, s:O}", "is_new", is_new, "worker", w)) != 0)
		goto db_rb;
	if (is_made_ready &&
	    worker_transition_event(s, id, from, WORKER_READY, why, actor, err) != 0)
		goto db_rb;
	/* Back online by registering (a restarted agent): said as a heartbeat would say it. */
	if (!is_new && strcmp(was, "online") != 0 && health_event(s, id, was, "online", why,
	    actor) != 0)
		goto db_rb;
	if (store_commit(s) != 0)
		goto db;
	if (is_join) {
		auth_commit_worker(cred_id, id, name, cred);
		auth_spent_join(tok->id);
		log_info("worker.joined", "worker", name, "join_token", tok->name, NULL);
	}
	free(labels_text);
	*out = w;
	return is_new ? 1 : 0;
db_rb:
	store_rollback(s);
db:
	explicit_bzero(cred, credlen);
	cred[0] = '\0';
	free(labels_text);
	json_decref(w);
	store_fail(s, err);
	return -1;
}

json_t *
workers_list(struct store *s, const struct worker_filter *f, int64_t after, int64_t limit,
    int64_t *last_id, int *has_more)
{
	static char sql[2048];
	sqlite3_stmt *st = store_stmt(s, worker_sql(sql, sizeof(sql),
	    "WHERE w.id > ?1 AND (?3 IS NULL OR w.template = ?3) ORDER BY w.id"));
	json_t *items = json_array();
	int n = 0;

	*has_more = 0;
	*last_id = after;
	if (st == NULL) {
		json_decref(items);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, after);
	if (f->template_name)
		sqlite3_bind_text(st, 3, f->template_name, -1, SQLITE_STATIC);
	/* Workers number in the hundreds: state and health are filtered here. */
	while (sqlite3_step(st) == SQLITE_ROW) {
		enum worker_state ws;
		enum worker_health wh;

		if (worker_state_parse((const char *)sqlite3_column_text(st, 3), &ws) != 0 ||
		    worker_health_parse((const char *)sqlite3_column_text(st, 4), &wh) != 0)
			continue;
		if ((f->state_mask && !(f->state_mask & (1u << ws))) ||
		    (f->health_mask && !(f->health_mask & (1u << wh))))
			continue;
		if (n == limit) {
			*has_more = 1;
			break;
		}
		*last_id = sqlite3_column_int64(st, 0);
		json_array_append_new(items, worker_from_row(st));
		n++;
	}
	sqlite3_reset(st);
	return items;
}

json_t *
worker_counts(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT state, health, count(*) FROM workers "
	    "GROUP BY state, health");
	json_t *c = json_object(), *states = json_object(), *health = json_object();

	for (int i = 0; i < WORKER_STATE_COUNT; i++)
		json_object_set_new(states, worker_state_name((enum worker_state)i), json_integer(0));
	for (int i = 0; i < HEALTH_COUNT; i++)
		json_object_set_new(health, worker_health_name((enum worker_health)i), json_integer(0));
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *ws = (const char *)sqlite3_column_text(st, 0);
		const char *wh = (const char *)sqlite3_column_text(st, 1);
		int64_t n = sqlite3_column_int64(st, 2);

		json_object_set_new(states, ws, json_integer(
		    json_integer_value(json_object_get(states, ws)) + n));
		if (strcmp(ws, "terminated") != 0)
			json_object_set_new(health, wh, json_integer(
			    json_integer_value(json_object_get(health, wh)) + n));
	}
	if (st != NULL)
		sqlite3_reset(st);
	json_object_set_new(c, "state", states);
	json_object_set_new(c, "health", health);
	return c;
}

static int
health_event(struct store *s, int64_t id, const char *from, const char *to, const char *reason,
    const char *actor)
{
	struct op_err err;
	json_t *w = worker_get(s, id, &err);

	if (w == NULL)
		return -1;
	return events_append(s, "worker.health", "worker", NULL, id, actor,
	    json_pack("{s:s, s:s, s:s, s:o}", "from", from, "to", to, "reason", reason, "worker", w));
}

/* One instance's sample in a heartbeat's "usage". */
struct usage {
	int64_t id, cpu_usec, cpu_millicores, memory_bytes, memory_peak_bytes;
};

/*
 * A heartbeat's "usage", checked whole before the store is touched: an
 * array of at most USAGE_MAX objects, each with every field, integers from
 * 0 to 2^53 (exact in a browser's numbers). *n samples in *out (NULL when
 * the body has none), or -1 with the field named in err.
 */
static int
usage_parse(json_t *in, struct usage **out, size_t *n, struct op_err *err)
{
	static const char *const fields[] = { "id", "cpu_usec", "cpu_millicores", "memory_bytes",
		"memory_peak_bytes", NULL };
	const int64_t max = 1LL << 53;
	json_t *arr, *v;
	size_t i;

	*out = NULL;
	*n = 0;
	err->code = NULL;
	arr = jsonv_array(in, "", "usage", 0, err);
	if (arr == NULL)
		return err->code != NULL ? -1 : 0;
	if (json_array_size(arr) > USAGE_MAX) {
		op_err_set(err, 400, "invalid_argument", "usage",
		    "usage holds at most %d instances' samples", USAGE_MAX);
		return -1;
	}
	if (json_array_size(arr) == 0)
		return 0;
	*out = calloc(json_array_size(arr), sizeof(**out));
	if (*out == NULL) {
		op_err_set(err, 500, "internal", "", "out of memory");
		return -1;
	}
	json_array_foreach(arr, i, v) {
		struct usage *u = &(*out)[i];
		char f[32];

		snprintf(f, sizeof(f), "usage[%zu]", i);
		if (!json_is_object(v)) {
			op_err_set(err, 400, "invalid_argument", f, "%s must be an object", f);
			goto fail;
		}
		if (jsonv_known(v, f, fields, err) != 0 ||
		    jsonv_int(v, f, "id", 1, 1, INT64_MAX, &u->id, err) != 0 ||
		    jsonv_int(v, f, "cpu_usec", 1, 0, max, &u->cpu_usec, err) != 0 ||
		    jsonv_int(v, f, "cpu_millicores", 1, 0, max, &u->cpu_millicores, err) != 0 ||
		    jsonv_int(v, f, "memory_bytes", 1, 0, max, &u->memory_bytes, err) != 0 ||
		    jsonv_int(v, f, "memory_peak_bytes", 1, 0, max, &u->memory_peak_bytes, err) != 0)
			goto fail;
	}
	*n = i;
	return 0;
fail:
	free(*out);
	*out = NULL;
	return -1;
}

/*
 * The samples, in the heartbeat's transaction: one indexed UPDATE each, of
 * an instance this worker holds (another's id changes nothing). The peak is
 * the largest of the stored one, the reported peak and the reported current.
 */
static int
usage_write(struct store *s, int64_t worker_id, const struct usage *u, size_t n, int64_t now,
    int *moved)
{
	static char sql[STATES_SQL_BUF + 512];
	sqlite3_stmt *st;

	if (sql[0] == '\0')
		snprintf(sql, sizeof(sql), "UPDATE instances SET cpu_usec = ?1, cpu_millicores = ?2, "
		    "memory_bytes = ?3, memory_peak_bytes = max(coalesce(memory_peak_bytes, 0), ?4, ?3), "
		    "sampled_at = ?5 WHERE id = ?6 AND worker_id = ?7 AND state IN (%s)",
		    inst_holding_sql());
	for (size_t i = 0; i < n; i++) {
		if ((st = store_stmt(s, sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, u[i].cpu_usec);
		sqlite3_bind_int64(st, 2, u[i].cpu_millicores);
		sqlite3_bind_int64(st, 3, u[i].memory_bytes);
		sqlite3_bind_int64(st, 4, u[i].memory_peak_bytes);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, u[i].id);
		sqlite3_bind_int64(st, 7, worker_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			return -1;
		}
		*moved += sqlite3_changes(store_db(s));
		sqlite3_reset(st);
	}
	return 0;
}

/*
 * An agent says it is alive, with its instances' usage. A heartbeat that
 * changes nothing but the time commits as a heartbeat (store_commit_heartbeat:
 * only answers that show heartbeats follow it); one that also moved an
 * instance's usage, as a usage commit (store_commit_usage: instance answers
 * follow that too); one that brings a worker back online is a change with
 * its worker.health event.
 * One transaction whatever the number of samples.
 */
int
worker_heartbeat(struct store *s, json_t *in, const char *actor, json_t **out,
    struct op_err *err)
{
	static const char *const fields[] = { "name", "usage", NULL };
	sqlite3_stmt *st;
	const char *name;
	char health[16];
	int64_t id, now = now_ms();
	int is_back, moved = 0;
	json_t *w;
	struct usage *usage = NULL;
	size_t nusage = 0;

	*out = NULL;
	if (jsonv_known(in, "", fields, err) != 0 ||
	    jsonv_string(in, "", "name", 1, 1, NAME_MAX_LEN, &name, err) != 0 ||
	    usage_parse(in, &usage, &nusage, err) != 0)
		return -1;
	if (store_begin(s) != 0) {
		free(usage);
		store_fail(s, err);
		return -1;
	}
	st = store_stmt(s, "SELECT id, state, health FROM workers WHERE name = ?");
	if (st == NULL)
		goto db;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		store_rollback(s);
		free(usage);
		op_err_set(err, 404, "not_found", "name", "no worker named %s; register it first", name);
		return -1;
	}
	id = sqlite3_column_int64(st, 0);
	if (strcmp((const char *)sqlite3_column_text(st, 1), "terminated") == 0) {
		sqlite3_reset(st);
		store_rollback(s);
		free(usage);
		op_err_set(err, 409, "invalid_transition", "name", "worker %s is terminated", name);
		return -1;
	}
	snprintf(health, sizeof(health), "%s", (const char *)sqlite3_column_text(st, 2));
	sqlite3_reset(st);
	is_back = strcmp(health, "online") != 0;
	if (store_exec(s, NULL, "UPDATE workers SET last_heartbeat = ?1, health = 'online', "
	    "updated_at = CASE WHEN health = 'online' THEN updated_at ELSE ?1 END WHERE id = ?2",
	    "ii", now, id) != 0 || usage_write(s, id, usage, nusage, now, &moved) != 0)
		goto db;
	if (is_back && health_event(s, id, health, "online", "heartbeats arrive again", actor) != 0)
		goto db;
	free(usage);
	usage = NULL;
	if ((is_back ? store_commit(s) : moved > 0 ? store_commit_usage(s) :
	    store_commit_heartbeat(s)) != 0) {
		store_fail(s, err);
		return -1;
	}
	if (is_back)
		log_info("worker.health", "worker", name, "from", health, "to", "online", NULL);
	w = worker_get(s, id, err);
	if (w == NULL)
		return -1;
	*out = json_pack("{s:o}", "worker", w);
	return 0;
db:
	free(usage);
	store_rollback(s);
	store_fail(s, err);
	return -1;
}

/*
 * From the loop's timer. A worker whose last heartbeat is older than
 * offline_after goes offline, older than lost_after lost, each with its
 * event; what a lost worker held goes back to pending or fails, as its
 * definition says (lifecycle_worker_lost). One query a second over the
 * workers table, O(workers); it writes only when something changes.
 */
int
workers_check_health(struct store *s, int64_t now, int64_t since, int64_t offline_after,
    int64_t lost_after)
{
	struct change { int64_t id; char from[16]; const char *to; int64_t silent_ms; char name[64]; };
	struct change *c = NULL;
	size_t n = 0, cap = 0;
	static char sql[512];
	sqlite3_stmt *st;
	int rc = 0;

	/* Silence is counted from the later of the last heartbeat and `since` (the server's
	 * start): agents get their full grace to reach a server that was down. */
	if (sql[0] == '\0') {
		char set[128];

		snprintf(sql, sizeof(sql), "SELECT id, health, "
		    "max(coalesce(last_heartbeat, created_at), ?2), name FROM workers "
		    "WHERE state IN (%s) AND health != 'lost' AND "
		    "max(coalesce(last_heartbeat, created_at), ?2) <= ?1",
		    state_set_sql(KIND_WORKER, worker_set_heartbeating(), set, sizeof(set)));
	}
	st = store_stmt(s, sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now - offline_after);
	sqlite3_bind_int64(st, 2, since);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t silent = now - sqlite3_column_int64(st, 2);
		const char *to = silent >= lost_after ? "lost" : "offline";

		if (strcmp((const char *)sqlite3_column_text(st, 1), to) == 0)
			continue;
		if (array_grow(&c, &cap, n, sizeof(*c)) != 0)
			break;
		c[n].id = sqlite3_column_int64(st, 0);
		snprintf(c[n].from, sizeof(c[n].from), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(c[n].name, sizeof(c[n].name), "%s", (const char *)sqlite3_column_text(st, 3));
		c[n].to = to;
		c[n].silent_ms = silent;
		n++;
	}
	sqlite3_reset(st);
	if (n == 0 || store_begin(s) != 0) {
		free(c);
		return n == 0 ? 0 : -1;
	}
	for (size_t i = 0; i < n; i++) {
		char reason[96], d[32];

		st = store_stmt(s, "UPDATE workers SET health = ?, updated_at = ? WHERE id = ?");
		if (st == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_text(st, 1, c[i].to, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, c[i].id);
		snprintf(reason, sizeof(reason), "no heartbeat for %s",
		    duration_format(c[i].silent_ms / 1000 * 1000, d, sizeof(d)));
		if (sqlite3_step(st) != SQLITE_DONE ||
		    health_event(s, c[i].id, c[i].from, c[i].to, reason, "outpostd") != 0) {
			rc = -1;
			break;
		}
		/* What a lost worker held is placed again or failed, in the same transaction. */
		if (strcmp(c[i].to, "lost") == 0 && lifecycle_worker_lost(s, c[i].id, c[i].name) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && store_commit(s) == 0) {
		for (size_t i = 0; i < n; i++)
			log_warn("worker.health", "worker", c[i].name, "from", c[i].from, "to", c[i].to,
			    NULL);
	} else {
		store_rollback(s);
		rc = -1;
	}
	free(c);
	return rc;
}
