/*
 * Alert rules: conditions over the site's state, checked every few seconds
 * on the loop. A rule that becomes true fires: an alert.fired event and, if
 * it names one, a run of its runbook, its parameters filled from what the
 * condition found ({{worker}}, {{count}}, ...). While it stays true it fires
 * again at most once per cooldown; when it stops being true, alert.resolved.
 * When it fired last is stored, so a restart does not fire it again early.
 *
 * The rules are one JSON file, {"rules": [...], "receivers": [...]},
 * reloaded with SIGHUP; a file that does not validate is refused whole (the
 * rules before it stay). The receivers are sent each firing and resolved
 * rule (alert_send.c, off the loop).
 * Each check is one query: O(workers) or O(instances in one state).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert_send.h"
#include "backup.h"

#define ALERT_MAX_RULES 64

enum cond_type { C_WORKER_LOST, C_INSTANCES_STUCK, C_PENDING_UNPLACED, C_FREE_BELOW,
	C_DB_FULL, C_BACKUP_STALE };

static const char *const cond_names[] = { "worker_lost", "instances_stuck", "pending_unplaced",
	"free_capacity_below", "db_full", "backup_stale", NULL };

/* What each condition's facts are called, for the runbook's parameters. */
static const char *const cond_vars[][5] = {
	[C_WORKER_LOST] = { "worker", "workers", "count", NULL },
	[C_INSTANCES_STUCK] = { "state", "count", "instance", "older_than", NULL },
	[C_PENDING_UNPLACED] = { "count", "instance", "older_than", NULL },
	[C_FREE_BELOW] = { "resource", "free", "threshold", NULL },
	[C_DB_FULL] = { "reason", NULL },
	[C_BACKUP_STALE] = { "last", "age", NULL },
};

struct rule {
	char name[64];
	char description[256];
	enum cond_type type;
	char tmpl[64];		/* worker_lost: only this template's workers ("": any) */
	char state[24];		/* instances_stuck */
	int64_t for_ms;		/* instances_stuck, pending_unplaced; backup_stale (0: the schedule's) */
	char resource[16];	/* free_capacity_below: cpu, memory_mb or slots */
	int64_t threshold;
	char runbook[NAME_MAX_LEN + 1];	/* "": none */
	json_t *params;
	int is_dry;
	int64_t cooldown_ms;
	/* state */
	int is_firing;
	int64_t since, last_fired;
	char message[300];
	json_t *facts;
};

static struct rule *rules;
static size_t nrules;

static void
rules_free(struct rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(r[i].params);
		json_decref(r[i].facts);
	}
	free(r);
}

void
alerts_free(void)
{
	rules_free(rules, nrules);
	rules = NULL;
	nrules = 0;
	alert_send_stop();
}

static int
is_var(void *arg, const char *name, size_t len)
{
	const struct rule *r = arg;

	for (int i = 0; cond_vars[r->type][i] != NULL; i++)
		if (strlen(cond_vars[r->type][i]) == len &&
		    strncmp(cond_vars[r->type][i], name, len) == 0)
			return 1;
	return 0;
}

static int
parse_rule(json_t *in, const char *prefix, struct rule *r, struct op_err *err)
{
	static const char *const fields[] = { "name", "description", "condition", "runbook",
		"params", "cooldown", "dry_run", NULL };
	static const char *const cfields[] = { "type", "template", "state", "for", "resource",
		"threshold", NULL };
	const char *name, *desc = "", *type, *rb = NULL, *s = NULL;
	char cp[48], f[64];
	json_t *c;
	enum inst_state st;
	int k;

	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", prefix, "%s must be an object", prefix);
		return -1;
	}
	r->cooldown_ms = 15 * 60 * 1000;
	if (jsonv_known(in, prefix, fields, err) != 0 ||
	    jsonv_string(in, prefix, "name", 1, 1, sizeof(r->name) - 1, &name, err) != 0 ||
	    jsonv_string(in, prefix, "description", 0, 0, sizeof(r->description) - 1, &desc,
	    err) != 0 ||
	    jsonv_string(in, prefix, "runbook", 0, 1, NAME_MAX_LEN, &rb, err) != 0 ||
	    jsonv_duration(in, prefix, "cooldown", 0, 1000, 30LL * 86400000, &r->cooldown_ms,
	    err) != 0 ||
	    jsonv_bool(in, prefix, "dry_run", &r->is_dry, err) != 0 ||
	    (c = jsonv_object(in, prefix, "condition", 1, err)) == NULL)
		return -1;
	snprintf(f, sizeof(f), "%s.name", prefix);
	if (!name_is_valid(name, sizeof(r->name) - 1)) {
		op_err_set(err, 400, "invalid_argument", f, "%s must be a lower-case name", f);
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->description, sizeof(r->description), "%s", desc);
	snprintf(cp, sizeof(cp), "%s.condition", prefix);
	if (jsonv_known(c, cp, cfields, err) != 0 ||
	    jsonv_string(c, cp, "type", 1, 1, 32, &type, err) != 0)
		return -1;
	for (k = 0; cond_names[k] != NULL && strcmp(cond_names[k], type) != 0; k++)
		;
	if (cond_names[k] == NULL) {
		snprintf(f, sizeof(f), "%s.type", cp);
		op_err_set(err, 400, "invalid_argument", f, "%s must be worker_lost, instances_stuck, "
		    "pending_unplaced, free_capacity_below, db_full or backup_stale", f);
		return -1;
	}
	r->type = (enum cond_type)k;
	switch (r->type) {
	case C_WORKER_LOST:
		if (jsonv_string(c, cp, "template", 0, 1, sizeof(r->tmpl) - 1, &s, err) != 0)
			return -1;
		snprintf(r->tmpl, sizeof(r->tmpl), "%s", s ? s : "");
		break;
	case C_INSTANCES_STUCK:
		if (jsonv_string(c, cp, "state", 1, 1, sizeof(r->state) - 1, &s, err) != 0)
			return -1;
		if (inst_state_parse(s, &st) != 0 || st == INST_TERMINATED) {
			snprintf(f, sizeof(f), "%s.state", cp);
			op_err_set(err, 400, "invalid_argument", f, "%s must be an instance state other "
			    "than terminated", f);
			return -1;
		}
		snprintf(r->state, sizeof(r->state), "%s", s);
		__attribute__((fallthrough));	/* both take "for" */
	case C_PENDING_UNPLACED:
		if (jsonv_duration(c, cp, "for", 1, 1000, 30LL * 86400000, &r->for_ms, err) != 0)
			return -1;
		break;
	case C_FREE_BELOW:
		if (jsonv_string(c, cp, "resource", 1, 1, sizeof(r->resource) - 1, &s, err) != 0 ||
		    jsonv_int(c, cp, "threshold", 1, 1, INT32_MAX, &r->threshold, err) != 0)
			return -1;
		if (strcmp(s, "cpu") != 0 && strcmp(s, "memory_mb") != 0 && strcmp(s, "slots") != 0) {
			snprintf(f, sizeof(f), "%s.resource", cp);
			op_err_set(err, 400, "invalid_argument", f, "%s must be cpu, memory_mb or slots",
			    f);
			return -1;
		}
		snprintf(r->resource, sizeof(r->resource), "%s", s);
		break;
	case C_DB_FULL:		/* no field: the store says */
		break;
	case C_BACKUP_STALE:	/* "for": how old; by default what the schedule allows */
		if (jsonv_duration(c, cp, "for", 0, 1000, 3650LL * 86400000, &r->for_ms, err) != 0)
			return -1;
		break;
	}
	r->params = json_object_get(in, "params");
	if (r->params != NULL && !json_is_object(r->params)) {
		snprintf(f, sizeof(f), "%s.params", prefix);
		op_err_set(err, 400, "invalid_argument", f, "%s must be an object", f);
		r->params = NULL;
		return -1;
	}
	if (r->params != NULL && rb == NULL) {
		snprintf(f, sizeof(f), "%s.params", prefix);
		op_err_set(err, 400, "invalid_argument", f, "%s: params are for a runbook; the rule "
		    "names none", f);
		r->params = NULL;
		return -1;
	}
	json_incref(r->params);
	snprintf(f, sizeof(f), "%s.params", prefix);
	if (r->params != NULL && subst_refs_check(r->params, f, is_var, r, err) != 0)
		return -1;
	if (rb != NULL) {
		if (runbook_find(rb) == NULL) {
			snprintf(f, sizeof(f), "%s.runbook", prefix);
			op_err_set(err, 400, "invalid_argument", f, "%s: no runbook named %s is loaded",
			    f, rb);
			return -1;
		}
		snprintf(r->runbook, sizeof(r->runbook), "%s", rb);
	}
	return 0;
}

static void
state_load(struct store *s, struct rule *r)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT firing_since, last_fired FROM alert_state "
	    "WHERE rule = ?");

	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r->since = sqlite3_column_int64(st, 0);
		r->is_firing = sqlite3_column_type(st, 0) != SQLITE_NULL;
		r->last_fired = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
}

int
alerts_load(struct store *s, const char *path, char *errbuf, size_t errlen)
{
	struct op_err err = { 0 };
	json_error_t je;
	json_t *in, *list;
	struct rule *nr = NULL;
	struct alert_receivers *rcv = NULL;
	size_t n = 0, i;
	json_t *v;

	in = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (in == NULL) {
		if (errno == ENOENT && je.line == -1) {
			rules_free(rules, nrules);	/* no file: no rules, no receivers */
			rules = NULL;
			nrules = 0;
			alert_receivers_use(NULL);
			return 0;
		}
		snprintf(errbuf, errlen, "%s: line %d: %s", path, je.line, je.text);
		return -1;
	}
	list = json_object_get(in, "rules");
	if (!json_is_object(in) || json_object_size(in) !=
	    1 + (json_object_get(in, "receivers") != NULL) || !json_is_array(list) ||
	    json_array_size(list) > ALERT_MAX_RULES) {
		snprintf(errbuf, errlen, "%s: rules: the file is {\"rules\": [...], \"receivers\": "
		    "[...]}, up to %d rules (receivers may be left out)", path, ALERT_MAX_RULES);
		json_decref(in);
		return -1;
	}
	if (alert_receivers_parse(json_object_get(in, "receivers"), &rcv, &err) != 0)
		goto bad;
	nr = calloc(json_array_size(list) + 1, sizeof(*nr));
	if (nr == NULL) {
		alert_receivers_free(rcv);
		json_decref(in);
		return -1;
	}
	json_array_foreach(list, i, v) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "rules[%zu]", i);
		n = i + 1;
		if (parse_rule(v, prefix, &nr[i], &err) != 0)
			goto bad;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(nr[k].name, nr[i].name) == 0) {
				snprintf(err.field, sizeof(err.field), "%s.name", prefix);
				snprintf(err.message, sizeof(err.message), "a second rule named %s",
				    nr[i].name);
				goto bad;
			}
		}
		state_load(s, &nr[i]);
	}
	json_decref(in);
	rules_free(rules, nrules);
	rules = nr;
	nrules = n;
	log_info("alerts.loaded", "file", path, LOG_INT("rules", n),
	    LOG_INT("receivers", alert_receivers_count(rcv)), NULL);
	alert_receivers_use(rcv);
	return 0;
bad:
	if (strncmp(err.message, err.field, strlen(err.field)) == 0)
		snprintf(errbuf, errlen, "%s: %s", path, err.message);
	else
		snprintf(errbuf, errlen, "%s: %s: %s", path, err.field, err.message);
	json_decref(in);
	rules_free(nr, n);
	alert_receivers_free(rcv);
	return -1;
}

/* ---- the conditions ---- */

static int64_t
since_cutoff(const struct rule *r, int64_t now)
{
	return now - r->for_ms;
}

/* Is the rule's condition true now? facts get what it found. */
static int
check(struct app *a, struct rule *r, int64_t now, json_t **facts)
{
	struct store *s = a->store;
	sqlite3_stmt *st;
	char sql[700], d[32];
	int64_t count = 0, first = 0;
	int is_true = 0;

	*facts = NULL;
	switch (r->type) {
	case C_WORKER_LOST: {
		struct sbuf names;
		const char *firstname = NULL;
		json_t *fn = NULL;
		char set[128];

		/* Lost, and still meant to be working: stopped and gone ones are not news. */
		snprintf(sql, sizeof(sql), "SELECT name FROM workers WHERE health = 'lost' AND "
		    "state IN (%s) AND (?1 = '' OR template = ?1) ORDER BY id",
		    state_set_sql(KIND_WORKER, worker_set_heartbeating(), set, sizeof(set)));
		st = store_stmt(s, sql);
		if (st == NULL)
			return 0;
		sbuf_init(&names);
		sqlite3_bind_text(st, 1, r->tmpl, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *nm = (const char *)sqlite3_column_text(st, 0);

			if (count++ == 0)
				fn = json_string(nm);
			if (count <= 20)
				sbuf_printf(&names, "%s%s", count > 1 ? "," : "", nm);
		}
		sqlite3_reset(st);
		firstname = json_string_value(fn);
		if (count > 0) {
			*facts = json_pack("{s:s, s:s, s:I}", "worker", firstname, "workers",
			    names.p ? names.p : "", "count", (json_int_t)count);
			snprintf(r->message, sizeof(r->message), "%lld worker%s lost: %s",
			    (long long)count, count == 1 ? "" : "s", names.p ? names.p : "");
			is_true = 1;
		}
		json_decref(fn);
		sbuf_free(&names);
		return is_true;
	}
	case C_INSTANCES_STUCK:
	case C_PENDING_UNPLACED:
		if (r->type == C_INSTANCES_STUCK)
			snprintf(sql, sizeof(sql), "SELECT count(*), min(i.id) FROM instances i WHERE "
			    "i.state = ?1 AND (SELECT max(t.at) FROM transitions t WHERE "
			    "t.instance_id = i.id) <= ?2");
		else
			snprintf(sql, sizeof(sql), "SELECT count(*), min(i.id) FROM instances i WHERE "
			    "i.state = 'pending' AND i.pool = 0 AND i.timeslot_start <= ?3 AND "
			    "(SELECT max(t.at) FROM transitions t WHERE t.instance_id = i.id) <= ?2 "
			    "AND ?1 = ?1");
		st = store_stmt(s, sql);
		if (st == NULL)
			return 0;
		sqlite3_bind_text(st, 1, r->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, since_cutoff(r, now));
		sqlite3_bind_int64(st, 3, now + a->cfg.lead_time_ms);
		if (sqlite3_step(st) == SQLITE_ROW) {
			count = sqlite3_column_int64(st, 0);
			first = sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
		if (count == 0)
			return 0;
		duration_format(r->for_ms, d, sizeof(d));
		*facts = json_pack("{s:s, s:I, s:I, s:s}", "state", r->type == C_INSTANCES_STUCK ?
		    r->state : "pending", "count", (json_int_t)count, "instance", (json_int_t)first,
		    "older_than", d);
		if (r->type == C_INSTANCES_STUCK)
			snprintf(r->message, sizeof(r->message), "%lld instance%s %s for more than %s "
			    "(the first: %lld)", (long long)count, count == 1 ? "" : "s", r->state, d,
			    (long long)first);
		else
			snprintf(r->message, sizeof(r->message), "%lld due instance%s pending unplaced "
			    "for more than %s (the first: %lld)", (long long)count, count == 1 ? "" : "s",
			    d, (long long)first);
		return 1;
	case C_FREE_BELOW: {
		const char *col = r->resource;
		int64_t free_now = 0;

		if (strcmp(col, "slots") == 0)
			snprintf(sql, sizeof(sql), "SELECT coalesce(sum(w.slots - (SELECT count(*) FROM "
			    "instances i WHERE i.worker_id = w.id AND i.state IN (%s))), 0) FROM workers w "
			    "WHERE w.state = 'ready' AND w.health = 'online'", inst_holding_sql());
		else
			snprintf(sql, sizeof(sql), "SELECT coalesce(sum(w.%s - (SELECT coalesce(sum(i.%s), "
			    "0) FROM instances i WHERE i.worker_id = w.id AND i.state IN (%s))), 0) FROM "
			    "workers w WHERE w.state = 'ready' AND w.health = 'online'", col, col,
			    inst_holding_sql());
		st = store_stmt(s, sql);
		if (st == NULL)
			return 0;
		if (sqlite3_step(st) == SQLITE_ROW)
			free_now = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (free_now >= r->threshold)
			return 0;
		*facts = json_pack("{s:s, s:I, s:I}", "resource", col, "free", (json_int_t)free_now,
		    "threshold", (json_int_t)r->threshold);
		snprintf(r->message, sizeof(r->message), "free %s on ready workers is %lld, under %lld",
		    col, (long long)free_now, (long long)r->threshold);
		return 1;
	}
	case C_DB_FULL: {
		/*
		 * No query: the store's episode. Its alert.fired event and any run it
		 * starts need room to be written; the alerts list and
		 * outpost_alerts_firing show it either way.
		 */
		const char *why;

		if (store_full_since(s, &why) == 0)
			return 0;
		*facts = json_pack("{s:s}", "reason", why);
		snprintf(r->message, sizeof(r->message), "the database's disk is full (%s): writes "
		    "fail", why);
		return 1;
	}
	case C_BACKUP_STALE: {
		/*
		 * No query: the last good backup (backup_sched.c, read from backup_dir
		 * at start); none yet counts from the server's start.
		 */
		int64_t allowed = r->for_ms > 0 ? r->for_ms : backup_allowed_age_ms(&a->cfg);
		int64_t last = backup_last_success_ms(), from = last > 0 ? last : a->started_at;
		char at[40];

		if (allowed == 0 || now - from <= allowed)
			return 0;
		duration_format(now - from, d, sizeof(d));
		if (last > 0)
			time_format_ms(last, at, sizeof(at), 0);
		else
			snprintf(at, sizeof(at), "never");
		*facts = json_pack("{s:s, s:s}", "last", at, "age", d);
		if (last > 0)
			snprintf(r->message, sizeof(r->message), "the last good backup is %s old (%s), "
			    "older than the schedule allows", d, at);
		else
			snprintf(r->message, sizeof(r->message), "no good backup in backup_dir, %s "
			    "after the server started", d);
		return 1;
	}
	}
	return 0;
}

static void
state_save(struct store *s, const struct rule *r)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO alert_state (rule, firing_since, last_fired) "
	    "VALUES (?1, ?2, ?3) ON CONFLICT (rule) DO UPDATE SET firing_since = ?2, "
	    "last_fired = ?3");

	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	if (r->is_firing)
		sqlite3_bind_int64(st, 2, r->since);
	if (r->last_fired)
		sqlite3_bind_int64(st, 3, r->last_fired);
	sqlite3_step(st);
	sqlite3_reset(st);
}

/* The rule's receivers told: news (it fired or resolved now), or a re-send. */
static void
notify(const struct app *a, const struct rule *r, int is_resolved, int is_news, int64_t now)
{
	struct alert_note n = {
		.rule = r->name, .description = r->description, .condition = cond_names[r->type],
		.message = r->message, .runbook = r->runbook[0] ? r->runbook : NULL,
		.facts = r->facts, .since = r->since, .is_resolved = is_resolved,
		.is_news = is_news, .index = (size_t)(r - rules),
	};

	alert_notify(a, &n, now);
}

static void
fire(struct app *a, struct rule *r, json_t *facts, int64_t now)
{
	struct store *s = a->store;
	struct runbook *rb = r->runbook[0] ? runbook_find(r->runbook) : NULL;
	struct op_err err = { 0 };
	json_t *params = NULL, *checked = NULL;
	int64_t run_id = 0;
	char actor[80], why[700] = "";

	snprintf(actor, sizeof(actor), "alert:%s", r->name);
	if (r->runbook[0] && rb == NULL)
		snprintf(why, sizeof(why), "runbook %s is not loaded", r->runbook);
	if (rb != NULL) {
		params = r->params != NULL ? subst(r->params, facts) : json_object();
		if (runbook_params(rb, s, params, &checked, &err) != 0 ||
		    run_start(a, rb, checked, r->is_dry, actor, &run_id, NULL, &err) != 0)
			snprintf(why, sizeof(why), "runbook %s did not start: %s%s%s", r->runbook,
			    err.field, err.field[0] ? ": " : "", err.message);
	}
	r->last_fired = now;
	if (store_begin(s) == 0) {
		json_t *data = json_pack("{s:s, s:s, s:s?, s:O}", "rule", r->name, "message",
		    r->message, "runbook", r->runbook[0] ? r->runbook : NULL, "facts", facts);

		json_object_set_new(data, "run", run_id ? json_integer(run_id) : json_null());
		if (why[0])
			json_object_set_new(data, "error", json_string(why));
		state_save(s, r);
		if (events_append(s, "alert.fired", "alert", r->name, 0, actor, data) != 0 ||
		    store_commit(s) != 0)
			store_rollback(s);
	}
	log_warn("alert.fired", "rule", r->name, "message", r->message, "error", why, NULL);
	notify(a, r, 0, 1, now);
	json_decref(params);
	json_decref(checked);
}

void
alerts_tick(struct app *a, int64_t now)
{
	struct store *s = a->store;

	alert_send_collect(a);
	for (size_t i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		json_t *facts = NULL;
		int is_true = check(a, r, now, &facts);

		json_decref(r->facts);
		r->facts = facts;
		if (is_true) {
			if (!r->is_firing) {
				r->is_firing = 1;
				r->since = now;
			}
			if (r->last_fired == 0 || now - r->last_fired >= r->cooldown_ms)
				fire(a, r, facts, now);
			else
				notify(a, r, 0, 0, now);	/* Alertmanager's re-sends */
		} else if (r->is_firing) {
			r->is_firing = 0;
			/* Firing since before a restart, it has not said what it found. */
			if (r->message[0] == '\0')
				snprintf(r->message, sizeof(r->message), "%s no longer holds",
				    cond_names[r->type]);
			if (store_begin(s) == 0) {
				state_save(s, r);
				if (events_append(s, "alert.resolved", "alert", r->name, 0, "system",
				    json_pack("{s:s, s:s}", "rule", r->name, "message", r->message)) != 0 ||
				    store_commit(s) != 0)
					store_rollback(s);
			}
			log_info("alert.resolved", "rule", r->name, NULL);
			notify(a, r, 1, 1, now);
		}
	}
}

json_t *
alerts_list(void)
{
	json_t *items = json_array();

	for (size_t i = 0; i < nrules; i++) {
		const struct rule *r = &rules[i];
		char d[32];
		json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s, s:s}", "rule", r->name,
		    "description", r->description, "condition", cond_names[r->type],
		    "firing", r->is_firing, "runbook", r->runbook[0] ? r->runbook : NULL,
		    "message", r->is_firing ? r->message : "",
		    "cooldown", duration_format(r->cooldown_ms, d, sizeof(d)));

		json_object_set_new(o, "since", r->is_firing ? json_time(r->since) : json_null());
		json_object_set_new(o, "last_fired", r->last_fired ? json_time(r->last_fired) :
		    json_null());
		json_array_append_new(items, o);
	}
	return items;
}

void
alerts_metrics(struct sbuf *o)
{
	sbuf_puts(o, "# HELP outpost_alerts_firing Alert rules whose condition holds now (1) or "
	    "not (0).\n# TYPE outpost_alerts_firing gauge\n");
	for (size_t i = 0; i < nrules; i++)
		sbuf_printf(o, "outpost_alerts_firing{rule=\"%s\"} %d\n", rules[i].name,
		    rules[i].is_firing);
}
