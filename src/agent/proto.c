/*
 * What the agent says to outpostd: every call of the agent protocol
 * (docs/api.md, "The agent protocol"), each one synchronous over the kept
 * libcurl handle, each answering with what the caller should do next: go on,
 * drop what it sent (refused), look again (conflict: the server's state moved
 * on), register again (gone), try later (the server is away or busy), or
 * give up (the token is refused).
 *
 * A server that is away is said once, when it goes and when it is back, not
 * at every call in between.
 *
 * The lease: the registration's and each heartbeat's answer say the
 * server's worker_lost_after (lost_after_ms); the send time of the last
 * such call answered, on the monotonic clock, sets when the agent fences
 * its instances (main.c). Until then no call is let run past that moment,
 * so a server that takes connections and says nothing cannot hold the
 * loop beyond it.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

/*
 * is_instance: a call about one instance (a report, a log), where a 403 says
 * the instance is no longer on this worker (it was placed elsewhere while
 * this agent was away): a conflict, not the end of the agent.
 */
static enum call
call(struct proto *pr, const char *method, const char *path, const char *body, json_t **answer,
    const char *what, int is_instance)
{
	struct httpc_resp r;
	const char *code = "", *msg = "", *field = "";
	enum call out;

	if (answer != NULL)
		*answer = NULL;
	pr->sent_ms = proto_clock_ms();
	{
		int64_t limit = pr->total_ms > 0 ? pr->total_ms : 10000;

		/* Not past the fence's moment: the loop must be there to fence (50 ms at least). */
		if (pr->fence_ms > 0 && !pr->is_fenced && pr->fence_ms - pr->sent_ms < limit)
			limit = pr->fence_ms - pr->sent_ms > 50 ? pr->fence_ms - pr->sent_ms : 50;
		httpc_set_timeouts(pr->http, limit < 2000 ? (long)limit : 2000, (long)limit);
	}
	httpc_resp_init(&r);
	if (httpc_request(pr->http, method, path, body, &r) != 0) {
		if (!pr->is_away)
			log_warn("agent.server_away", "what", what, "error", r.error, NULL);
		pr->is_away = 1;
		httpc_resp_free(&r);
		return CALL_RETRY;
	}
	if (pr->is_away) {
		log_info("agent.server_back", "what", what, NULL);
		pr->is_away = 0;
	}
	pr->last_status = r.status;
	if (r.status >= 400 && httpc_resp_error(&r, &code, &msg, &field) != 0)
		msg = r.body;
	if (r.status >= 400) {
		snprintf(pr->last_field, sizeof(pr->last_field), "%s", field);
		snprintf(pr->last_code, sizeof(pr->last_code), "%s", code);
	}
	if (r.status >= 400)
		snprintf(pr->last_refusal, sizeof(pr->last_refusal), "%.500s%s%.40s%s", msg,
		    field[0] ? " (field: " : "", field, field[0] ? ")" : "");
	if (r.status == 200 || r.status == 201) {
		out = CALL_OK;
		if (answer != NULL && r.json != NULL)
			*answer = json_incref(r.json);
	} else if (r.status == 404) {
		/* field "name": the server does not know this worker; else the thing asked about. */
		out = strcmp(field, "name") == 0 ? CALL_GONE : CALL_REFUSED;
		if (out == CALL_REFUSED)
			log_info("agent.not_found", "what", what, "message", msg, NULL);
	} else if (r.status == 409) {
		out = CALL_CONFLICT;
		log_info("agent.conflict", "what", what, "message", msg, NULL);
	} else if (r.status == 403 && is_instance) {
		out = CALL_CONFLICT;
		log_info("agent.not_its_instance", "what", what, "message", msg, NULL);
	} else if (r.status == 429 || r.status >= 500) {
		log_warn("agent.server_busy", "what", what, LOG_INT("status", r.status), NULL);
		out = CALL_RETRY;
	} else {
		if ((r.status != 400 || pr->tolerated == NULL || strcmp(field, pr->tolerated) != 0) &&
		    strcmp(code, "unsupported_protocol") != 0)
			log_error("agent.refused", "what", what, LOG_INT("status", r.status),
			    "code", code, "message", msg, "field", field, NULL);
		out = r.status == 401 || r.status == 403 ? CALL_FATAL : CALL_REFUSED;
		if (out == CALL_FATAL)
			fprintf(stderr, "outpost-agent: the server refused %s: %s%s%s%s\n", what, msg,
			    field[0] ? " (field: " : "", field, field[0] ? ")" : "");
	}
	httpc_resp_free(&r);
	return out;
}

int64_t
proto_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
proto_fence_after(int64_t lease_ms, int64_t heartbeat_ms)
{
	int64_t margin = heartbeat_ms > 1000 ? heartbeat_ms : 1000;

	assert(lease_ms > 0);
	if (margin > lease_ms / 4)
		margin = lease_ms / 4;
	return lease_ms - margin;
}

/* This boot's id, so that a lease kept before the host restarted is not taken. */
static int
boot_id(char *buf, size_t n)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fgets(buf, (int)n, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		rc = buf[0] != '\0' ? 0 : -1;
	}
	fclose(f);
	return rc;
}

/*
 * "BOOT_ID ACKED LEASE FENCE_AT" (the monotonic clock is the host's, from
 * its boot; FENCE_AT the moment the agent fences, which the hooks' shims
 * fence on too, without the agent: shim_main.c), written whole (a temporary file, then rename) at each answered heartbeat;
 * not synced: a host that crashes restarts its clock and its boot id.
 */
static int is_unsaved;	/* the last lease_save() failed (said once) */

static void
lease_save(const struct proto *pr)
{
	char tmp[PATH_BUF_MAX], id[64];
	FILE *f;
	int rc, err;

	if (pr->lease_path[0] == '\0')
		return;
	if (boot_id(id, sizeof(id)) != 0 || path_fmt(tmp, sizeof(tmp), "%s.tmp", pr->lease_path) != 0)
		goto fail;
	f = fopen(tmp, "we");
	if (f == NULL)
		goto fail;
	rc = fprintf(f, "%s %lld %lld %lld\n", id, (long long)pr->acked_ms, (long long)pr->lease_ms,
	    (long long)pr->fence_ms);
	if (fclose(f) == 0 && rc >= 0 && rename(tmp, pr->lease_path) == 0) {
		is_unsaved = 0;
		return;
	}
	err = errno;
	unlink(tmp);
	errno = err;
fail:
	err = errno;
	/*
	 * An old lease left in place (a full disk) would have the shims fence
	 * a live agent's hooks at its end: none is better.
	 */
	unlink(pr->lease_path);
	if (!is_unsaved)
		log_warn("agent.lease_unsaved", "path", pr->lease_path, "error", strerror(err),
		    "detail", "the lease could not be saved, so none is kept: the hooks' shims, "
		    "and an agent started again, cannot fence until it is", NULL);
	is_unsaved = 1;
}

void
proto_lease_load(struct proto *pr)
{
	char id[64], saved[64];
	long long acked, lease, fence_at = 0;
	FILE *f;
	int n;

	if (pr->lease_path[0] == '\0' || boot_id(id, sizeof(id)) != 0 ||
	    (f = fopen(pr->lease_path, "re")) == NULL)
		return;
	/* Three fields from an agent before the shims fenced; four since. */
	n = fscanf(f, "%63s %lld %lld %lld", saved, &acked, &lease, &fence_at);
	fclose(f);
	if ((n != 3 && n != 4) || strcmp(saved, id) != 0 || lease < 1 || acked < 0 ||
	    acked > proto_clock_ms())
		return;
	pr->acked_ms = acked;
	pr->lease_ms = lease;
	pr->fence_ms = acked + proto_fence_after(lease, pr->heartbeat_ms);
	/* The shims fence at the saved moment: never after them (this heartbeat may differ). */
	if (n == 4 && fence_at > 0 && fence_at < pr->fence_ms)
		pr->fence_ms = fence_at;
	log_info("agent.lease", "detail", "the lease of the agent before this one holds until "
	    "a heartbeat is answered", NULL);
}

/*
 * The answer to a call that moved the worker's last_heartbeat (a heartbeat,
 * a registration): the lease runs again from when it was sent.
 */
static void
lease_take(struct proto *pr, json_t *answer)
{
	json_t *v = json_object_get(answer, "lost_after_ms");

	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		if (pr->lease_ms != 0 || pr->acked_ms == 0)
			log_warn("agent.no_lease", "detail", "the server does not say its "
			    "worker_lost_after (it is older than this agent): this agent cannot fence "
			    "its instances when it is cut off", NULL);
		pr->lease_ms = 0;
		pr->fence_ms = 0;
		pr->acked_ms = pr->sent_ms;
		pr->is_fenced = 0;
		if (pr->lease_path[0] != '\0')
			unlink(pr->lease_path);	/* no lease: none for an agent after us either */
		return;
	}
	if (pr->lease_ms != json_integer_value(v)) {
		log_info("agent.lease", LOG_INT("lost_after_ms", json_integer_value(v)), NULL);
		if (proto_fence_after(json_integer_value(v), pr->heartbeat_ms) < 2 * pr->heartbeat_ms)
			log_warn("agent.lease", "detail", "the server's worker_lost_after is short for "
			    "this agent's heartbeat: two heartbeats late and its instances are fenced",
			    NULL);
	}
	pr->lease_ms = json_integer_value(v);
	pr->acked_ms = pr->sent_ms;
	pr->fence_ms = pr->acked_ms + proto_fence_after(pr->lease_ms, pr->heartbeat_ms);
	pr->is_fenced = 0;
	lease_save(pr);
}

/*
 * A server older than the agent refuses a field it does not know: the
 * agent says once that it goes without it. 0 when body had the field.
 */
static int
drop_field(char **body, const char *field)
{
	json_t *j = json_loads(*body, 0, NULL);
	char *text;

	if (j == NULL || json_object_del(j, field) != 0 ||
	    (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	free(*body);
	*body = text;
	log_warn("agent.old_server", "field", field, "detail", "the server does not know this "
	    "field (it is older than this agent): the agent goes on without it", NULL);
	return 0;
}

/*
 * The agent protocol this agent speaks (AGENT_PROTOCOL) and its release.
 * OUTPOST_AGENT_TEST_PROTOCOL, for tests of version skew, announces another
 * protocol, or none ("none": an agent of the release before, which said none).
 */
int
proto_announce(json_t *body)
{
	const char *test = getenv("OUTPOST_AGENT_TEST_PROTOCOL");
	json_int_t protocol = AGENT_PROTOCOL;

	if (test != NULL && strcmp(test, "none") == 0)
		return 0;
	if (test != NULL)
		protocol = strtoll(test, NULL, 10);
	return json_object_set_new(body, "protocol", json_integer(protocol)) != 0 ||
	    json_object_set_new(body, "agent_version", json_string(PACKAGE_VERSION)) != 0 ? -1 : 0;
}

/*
 * The server does not serve this agent's protocol: said once (until a call
 * goes through), and the caller backs off (main.c) rather than ask again at
 * once; an upgraded server serves it later.
 */
static enum call
protocol_refused(struct proto *pr, const char *what)
{
	if (!pr->is_protocol_refused)
		log_error("agent.protocol_refused", "what", what, "message", pr->last_refusal,
		    "detail", "the server does not serve this agent's protocol: it tries again, "
		    "less and less often (30 s, doubling to 10 min)", NULL);
	pr->is_protocol_refused = 1;
	return CALL_RETRY;
}

/* Fields a server older than the agent refuses, dropped in turn. */
static const char *const newer_fields[] = { "isolation", "protocol", "agent_version" };

enum call
proto_register(struct proto *pr, json_t **answer)
{
	enum call c;

	for (size_t i = 0;; i++) {
		/* Each call says what a server older than the agent may not know. */
		pr->tolerated = i < 3 ? newer_fields[i] : NULL;
		c = call(pr, "POST", "/api/v1/agent/register", pr->register_body, answer,
		    "the registration", 0);
		pr->tolerated = NULL;
		if (c != CALL_REFUSED || i >= 3)
			break;
		if (strcmp(pr->last_code, "unsupported_protocol") == 0)
			return protocol_refused(pr, "the registration");
		{
			size_t k;

			for (k = 0; k < 3 && strcmp(pr->last_field, newer_fields[k]) != 0; k++)
				;
			if (k == 3 || drop_field(&pr->register_body, newer_fields[k]) != 0)
				break;
		}
	}
	if (c == CALL_OK) {
		lease_take(pr, *answer);
		pr->is_protocol_refused = 0;
	}

	/*
	 * A registration the server refuses (a bad name, capacity; a name that
	 * has its own token already) will never be accepted.
	 */
	if (c == CALL_REFUSED || c == CALL_CONFLICT) {
		fprintf(stderr, "outpost-agent: the server refused the registration of %s: %s\n",
		    pr->name, pr->last_refusal);
		json_decref(*answer);
		*answer = NULL;
		return CALL_FATAL;
	}
	return c;
}

/*
 * *is_retired: the server says the worker is stopped or terminated (by an
 * operator or the scaler): its agent has nothing more to do.
 */
enum call
proto_heartbeat(struct proto *pr, json_t *usage, int *is_retired)
{
	json_t *answer = NULL, *j = NULL;
	char *body = NULL;
	enum call c;
	const char *st;

	/* The instances' usage, while the server takes it. */
	if (usage != NULL && json_array_size(usage) > 0 && !pr->is_usage_refused &&
	    (j = json_loads(pr->heartbeat_body, 0, NULL)) != NULL &&
	    json_object_set(j, "usage", usage) == 0)
		body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	pr->tolerated = "usage";
	c = call(pr, "POST", "/api/v1/agent/heartbeat", body ? body : pr->heartbeat_body, &answer,
	    "a heartbeat", 0);
	pr->tolerated = NULL;
	if (body != NULL && c == CALL_REFUSED && strcmp(pr->last_field, "usage") == 0) {
		pr->is_usage_refused = 1;
		log_warn("agent.old_server", "field", "usage", "detail", "the server does not know "
		    "this field (it is older than this agent): heartbeats go without it", NULL);
		c = call(pr, "POST", "/api/v1/agent/heartbeat", pr->heartbeat_body, &answer,
		    "a heartbeat", 0);
	}
	/* A server older than the agent: heartbeats go without what it does not know. */
	for (int k = 1; k < 3 && c == CALL_REFUSED && (strcmp(pr->last_field, "protocol") == 0 ||
	    strcmp(pr->last_field, "agent_version") == 0); k++) {
		if (drop_field(&pr->heartbeat_body, pr->last_field) != 0)
			break;
		free(body);
		body = NULL;
		c = call(pr, "POST", "/api/v1/agent/heartbeat", pr->heartbeat_body, &answer,
		    "a heartbeat", 0);
	}
	free(body);
	if (c == CALL_REFUSED && strcmp(pr->last_code, "unsupported_protocol") == 0)
		c = protocol_refused(pr, "a heartbeat");
	if (c == CALL_OK)
		lease_take(pr, answer);
	st = json_string_value(json_object_get(json_object_get(answer, "worker"), "state"));

	*is_retired = c == CALL_CONFLICT ||
	    (st != NULL && (strcmp(st, "stopped") == 0 || strcmp(st, "terminated") == 0));
	json_decref(answer);
	return c;
}

enum call
proto_sync(struct proto *pr, const int64_t *alive, size_t n, json_t **work)
{
	json_t *ids = json_array(), *body;
	enum call c;
	char *text;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_integer(alive[i]));
	body = json_pack("{s:s, s:o}", "name", pr->name, "alive", ids);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return CALL_RETRY;
	c = call(pr, "POST", "/api/v1/agent/sync", text, work, "the sync", 0);
	free(text);
	return c;
}

enum call
proto_work(struct proto *pr, json_t **work)
{
	struct sbuf path;
	enum call c;

	sbuf_init(&path);
	sbuf_puts(&path, "/api/v1/agent/work");
	httpc_query_add(&path, "name", pr->name);
	if (path.p == NULL)
		return CALL_RETRY;
	c = call(pr, "GET", path.p, NULL, work, "asking for work", 0);
	sbuf_free(&path);
	return c;
}

enum call
proto_report(struct proto *pr, int64_t id, json_t *report)
{
	char path[96], what[64];
	char *text = json_dumps(report, JSON_COMPACT);
	enum call c;

	if (text == NULL)
		return CALL_RETRY;
	snprintf(path, sizeof(path), "/api/v1/agent/instances/%lld/report", (long long)id);
	snprintf(what, sizeof(what), "a report on instance %lld", (long long)id);
	c = call(pr, "POST", path, text, NULL, what, 1);
	free(text);
	return c;
}

/*
 * The text must be a JSON string: bytes that are not UTF-8, and NULs, are
 * sent as U+FFFD.
 */
enum call
proto_log(struct proto *pr, int64_t id, int64_t attempt, enum hook h, int64_t offset,
    const char *text, size_t len)
{
	struct sbuf b;
	char path[96], what[64];
	enum call c;

	sbuf_init(&b);
	sbuf_puts(&b, "{\"name\":");
	sbuf_json_string(&b, pr->name);
	sbuf_printf(&b, ",\"attempt\":%lld,\"hook\":\"%s\",\"offset\":%lld,\"text\":",
	    (long long)attempt, hook_name(h), (long long)offset);
	{
		/* sbuf_json_string stops at a NUL: the text is passed on in pieces around them. */
		size_t at = 0;

		sbuf_putc(&b, '"');
		while (at < len) {
			size_t n = strnlen(text + at, len - at);
			char *piece = malloc(n + 1);
			struct sbuf q;

			if (piece == NULL)
				break;
			memcpy(piece, text + at, n);
			piece[n] = '\0';
			sbuf_init(&q);
			sbuf_json_string(&q, piece);
			if (q.p != NULL && q.len >= 2)
				sbuf_append(&b, q.p + 1, q.len - 2);	/* without its quotes */
			sbuf_free(&q);
			free(piece);
			at += n;
			if (at < len) {
				sbuf_puts(&b, "\\ufffd");
				at++;
			}
		}
		sbuf_putc(&b, '"');
	}
	if (sbuf_putc(&b, '}') != 0) {
		sbuf_free(&b);
		return CALL_RETRY;
	}
	snprintf(path, sizeof(path), "/api/v1/agent/instances/%lld/log", (long long)id);
	snprintf(what, sizeof(what), "the log of instance %lld", (long long)id);
	c = call(pr, "POST", path, b.p, NULL, what, 1);
	sbuf_free(&b);
	return c;
}
