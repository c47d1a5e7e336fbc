/*
 * Alert notifications: a firing or resolved rule sent to the receivers the
 * rules' file names, a webhook (JSON, signed with HMAC-SHA256) or
 * Prometheus Alertmanager (POST /api/v2/alerts, re-sent while firing).
 *
 * The loop makes each notification's body and queues it; one thread sends
 * with libcurl, retrying with a doubling backoff up to the receiver's
 * attempts. The loop never waits on the network: a full queue drops (and
 * counts), and what the thread gave up on comes back through a bounded list
 * that the loop turns into alert.delivery_failed events at its next alert
 * tick. A receiver is not trusted: http and https only, no redirect
 * followed, its answer read up to 64 KiB, every attempt under a timeout.
 * The secret is kept here only; it is never logged nor shown.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alert_send.h"

#define SECRET_MAX 4096
#define SECRET_MIN 16
#define ANSWER_MAX (64 * 1024)
#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define OUTCOMES_MAX 64
#define COUNTED_MAX 64

enum recv_type { R_WEBHOOK, R_ALERTMANAGER };
enum result { RES_SENT, RES_FAILED, RES_DROPPED };
static const char *const result_names[] = { "sent", "failed", "dropped" };

struct receiver {
	char name[64];
	enum recv_type type;
	char url[512];		/* where to POST (Alertmanager's with /api/v2/alerts) */
	char *secret;		/* the webhook's, from secret_file */
	int64_t timeout_ms, backoff_ms, resend_ms;
	int attempts;
	int64_t sent[64];	/* Alertmanager: when each rule was last sent (loop only) */
};

struct alert_receivers {
	struct receiver r[ALERT_RECEIVERS_MAX];
	size_t n;
};

/* A notification for one receiver; what it needs is copied in. */
struct job {
	char receiver[64];
	enum recv_type type;
	char rule[64];
	int is_resolved;
	char *url, *secret, *body;
	char delivery[40];
	int64_t timeout_ms, backoff_ms;
	int attempts, tried;
	int64_t next_at;
	int is_busy;		/* the thread is sending it */
};

struct outcome {
	char receiver[64], rule[64], error[200];
	int is_resolved, is_sent, tried;
	long http;
};

static struct alert_receivers *receivers;	/* the loop's */
static unsigned long long dropped_unsaid;	/* the loop's: dropped since the last tick's line */

/* Shared with the thread, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_t thread;
static int has_thread, is_stopping;
static struct job *queue[ALERT_SEND_QUEUE];
static size_t nqueue;
static struct outcome outcomes[OUTCOMES_MAX];
static size_t noutcomes;
static struct {
	char name[64];
	unsigned long long n[3];
} counted[COUNTED_MAX];
static size_t ncounted;

/* ---- the receivers' settings ---- */

void
alert_receivers_free(struct alert_receivers *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (r->r[i].secret != NULL) {
			memset(r->r[i].secret, 0, strlen(r->r[i].secret));
			free(r->r[i].secret);
		}
	}
	free(r);
}

size_t
alert_receivers_count(const struct alert_receivers *r)
{
	return r != NULL ? r->n : 0;
}

/* http:// or https://, a host after it, nothing a header or a shell would split on. */
static int
url_is_ok(const char *u)
{
	const char *host = strncmp(u, "http://", 7) == 0 ? u + 7 :
	    strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;

	if (host == NULL || *host == '\0' || *host == '/')
		return 0;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* The secret: the file's bytes, a trailing newline or spaces taken off. */
static int
secret_read(const char *path, const char *field, char **out, struct op_err *err)
{
	char buf[SECRET_MAX + 2];
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		op_err_set(err, 400, "invalid_argument", field, "%s: %s: %s", field, path,
		    strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (n < SECRET_MIN || n > SECRET_MAX || strlen(buf) != n) {
		op_err_set(err, 400, "invalid_argument", field, "%s: %s must hold %d to %d "
		    "bytes of secret (no NUL)", field, path, SECRET_MIN, SECRET_MAX);
		return -1;
	}
	*out = strdup(buf);
	memset(buf, 0, sizeof(buf));
	if (*out == NULL) {
		op_err_set(err, 500, "internal", field, "out of memory");
		return -1;
	}
	return 0;
}

static int
receiver_parse(json_t *in, const char *prefix, struct receiver *r, struct op_err *err)
{
	static const char *const fields[] = { "name", "type", "url", "secret_file", "timeout",
		"attempts", "backoff", "resend", NULL };
	const char *name, *type, *url, *sf = NULL;
	char f[64];
	int64_t attempts = 5;

	if (!json_is_object(in)) {
		op_err_set(err, 400, "invalid_argument", prefix, "%s must be an object", prefix);
		return -1;
	}
	r->timeout_ms = 5000;
	r->backoff_ms = 1000;
	r->resend_ms = 60000;
	if (jsonv_known(in, prefix, fields, err) != 0 ||
	    jsonv_string(in, prefix, "name", 1, 1, sizeof(r->name) - 1, &name, err) != 0 ||
	    jsonv_string(in, prefix, "type", 1, 1, 32, &type, err) != 0 ||
	    jsonv_string(in, prefix, "url", 1, 1, sizeof(r->url) - 32, &url, err) != 0 ||
	    jsonv_string(in, prefix, "secret_file", 0, 1, PATH_SETTING_MAX - 1, &sf, err) != 0 ||
	    jsonv_duration(in, prefix, "timeout", 0, 100, 60000, &r->timeout_ms, err) != 0 ||
	    jsonv_int(in, prefix, "attempts", 0, 1, 20, &attempts, err) != 0 ||
	    jsonv_duration(in, prefix, "backoff", 0, 100, 3600000, &r->backoff_ms, err) != 0 ||
	    jsonv_duration(in, prefix, "resend", 0, 1000, 3600000, &r->resend_ms, err) != 0)
		return -1;
	r->attempts = (int)attempts;
	snprintf(f, sizeof(f), "%s.name", prefix);
	if (!name_is_valid(name, sizeof(r->name) - 1)) {
		op_err_set(err, 400, "invalid_argument", f, "%s must be a lower-case name", f);
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(f, sizeof(f), "%s.type", prefix);
	if (strcmp(type, "webhook") == 0)
		r->type = R_WEBHOOK;
	else if (strcmp(type, "alertmanager") == 0)
		r->type = R_ALERTMANAGER;
	else {
		op_err_set(err, 400, "invalid_argument", f, "%s must be webhook or alertmanager",
		    f);
		return -1;
	}
	snprintf(f, sizeof(f), "%s.url", prefix);
	if (!url_is_ok(url)) {
		op_err_set(err, 400, "invalid_argument", f, "%s must be an http:// or https:// URL "
		    "without spaces", f);
		return -1;
	}
	if (r->type == R_ALERTMANAGER)
		snprintf(r->url, sizeof(r->url), "%.*s/api/v2/alerts",
		    (int)(strlen(url) - (url[strlen(url) - 1] == '/')), url);
	else
		snprintf(r->url, sizeof(r->url), "%s", url);
	snprintf(f, sizeof(f), "%s.secret_file", prefix);
	if (r->type == R_WEBHOOK && sf == NULL) {
		op_err_set(err, 400, "invalid_argument", f, "%s is required: a webhook's "
		    "notifications are signed", f);
		return -1;
	}
	if (r->type == R_ALERTMANAGER && sf != NULL) {
		op_err_set(err, 400, "invalid_argument", f, "%s is for webhooks: Alertmanager's "
		    "API takes no signature", f);
		return -1;
	}
	if (sf != NULL && secret_read(sf, f, &r->secret, err) != 0)
		return -1;
	snprintf(f, sizeof(f), "%s.resend", prefix);
	if (r->type == R_WEBHOOK && json_object_get(in, "resend") != NULL) {
		op_err_set(err, 400, "invalid_argument", f, "%s is for alertmanager receivers", f);
		return -1;
	}
	return 0;
}

int
alert_receivers_parse(json_t *list, struct alert_receivers **out, struct op_err *err)
{
	struct alert_receivers *rs;
	size_t i;
	json_t *v;

	*out = NULL;
	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > ALERT_RECEIVERS_MAX) {
		op_err_set(err, 400, "invalid_argument", "receivers", "receivers must be an array "
		    "of up to %d receivers", ALERT_RECEIVERS_MAX);
		return -1;
	}
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		op_err_set(err, 500, "internal", "receivers", "out of memory");
		return -1;
	}
	json_array_foreach(list, i, v) {
		char prefix[48];

		snprintf(prefix, sizeof(prefix), "receivers[%zu]", i);
		rs->n = i + 1;
		if (receiver_parse(v, prefix, &rs->r[i], err) != 0)
			goto bad;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(rs->r[k].name, rs->r[i].name) == 0) {
				snprintf(prefix, sizeof(prefix), "receivers[%zu].name", i);
				op_err_set(err, 400, "invalid_argument", prefix, "a second "
				    "receiver named %s", rs->r[i].name);
				goto bad;
			}
		}
	}
	*out = rs;
	return 0;
bad:
	alert_receivers_free(rs);
	return -1;
}

/* ---- counting, under mu ---- */

static void
count_locked(const char *receiver, enum result res)
{
	size_t i;

	for (i = 0; i < ncounted && strcmp(counted[i].name, receiver) != 0; i++)
		;
	if (i == ncounted) {
		if (ncounted == COUNTED_MAX)
			return;	/* 64 names seen: renamed ones past that go uncounted */
		snprintf(counted[ncounted++].name, sizeof(counted[0].name), "%s", receiver);
	}
	counted[i].n[res]++;
}

void
alert_send_metrics(struct sbuf *o)
{
	sbuf_puts(o, "# HELP outpost_alert_notifications_total Alert notifications by receiver: "
	    "sent, failed (given up after its attempts) or dropped (the queue was full).\n"
	    "# TYPE outpost_alert_notifications_total counter\n");
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < ncounted; i++)
		for (int k = 0; k < 3; k++)
			sbuf_printf(o, "outpost_alert_notifications_total{receiver=\"%s\","
			    "result=\"%s\"} %llu\n", counted[i].name, result_names[k],
			    counted[i].n[k]);
	pthread_mutex_unlock(&mu);
}

/* ---- the thread ---- */

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->secret != NULL) {
		memset(j->secret, 0, strlen(j->secret));
		free(j->secret);
	}
	free(j->url);
	free(j->body);
	free(j);
}

struct answer {
	size_t len;
	char head[160];
};

static size_t
answer_write(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;

	if (a->len + len > ANSWER_MAX)
		return 0;	/* more than we read: the transfer fails */
	if (a->len < sizeof(a->head) - 1) {
		size_t k = sizeof(a->head) - 1 - a->len;

		memcpy(a->head + a->len, p, len < k ? len : k);
	}
	a->len += len;
	return len;
}

static int
abort_if_stopping(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)arg, (void)dt, (void)dn, (void)ut, (void)un;
	return __atomic_load_n(&is_stopping, __ATOMIC_RELAXED);
}

/* HMAC-SHA256 over "TIMESTAMP.BODY", as hex. */
static void
sign(const char *secret, const char *ts, const char *body, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t tl = strlen(ts), bl = strlen(body);
	unsigned char *msg = malloc(tl + 1 + bl);

	hex[0] = '\0';
	if (msg == NULL)
		return;
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, bl);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + bl, md, &mdlen) !=
	    NULL)
		for (unsigned int i = 0; i < mdlen && i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(msg);
}

/*
 * One attempt. Returns 0 when the receiver took it (2xx), 1 when another
 * attempt may do better, -1 when none will (a 4xx other than 408 and 429).
 */
static int
attempt(struct job *j, long *http, char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct answer ans = { 0 };
	char hdr[160], ts[24], hex[65];
	CURLcode cc;
	int rc = 1;

	*http = 0;
	if (c == NULL) {
		snprintf(why, whylen, "out of memory");
		return 1;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	if (j->type == R_WEBHOOK) {
		snprintf(ts, sizeof(ts), "%lld", (long long)(now_ms() / 1000));
		sign(j->secret, ts, j->body, hex);
		snprintf(hdr, sizeof(hdr), "X-Outpost-Timestamp: %s", ts);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "X-Outpost-Signature: sha256=%s", hex);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "X-Outpost-Delivery: %s", j->delivery);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, j->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)j->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "outpostd/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_if_stopping);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	if (cc == CURLE_WRITE_ERROR && *http >= 200 && *http < 300)
		rc = 0;	/* taken; the rest of its answer is not ours to read */
	else if (cc == CURLE_WRITE_ERROR)
		snprintf(why, whylen, "HTTP %ld, and an answer longer than %d bytes", *http,
		    ANSWER_MAX);
	else if (cc != CURLE_OK)
		snprintf(why, whylen, "%s", curl_easy_strerror(cc));
	else if (*http >= 200 && *http < 300)
		rc = 0;
	else {
		/* What it said, printable and short: it is a stranger's text. */
		for (char *p = ans.head; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = ' ';
		snprintf(why, whylen, "HTTP %ld%s%s%s", *http, *http >= 300 && *http < 400 ?
		    " (a redirect: not followed)" : "", ans.head[0] ? ": " : "", ans.head);
		if (*http >= 400 && *http < 500 && *http != 408 && *http != 429)
			rc = -1;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

static void
outcome_locked(const struct job *j, int is_sent, long http, const char *why)
{
	struct outcome *o;

	count_locked(j->receiver, is_sent ? RES_SENT : RES_FAILED);
	if (noutcomes == OUTCOMES_MAX)
		return;	/* the loop is behind: the metric has it */
	o = &outcomes[noutcomes++];
	snprintf(o->receiver, sizeof(o->receiver), "%s", j->receiver);
	snprintf(o->rule, sizeof(o->rule), "%s", j->rule);
	snprintf(o->error, sizeof(o->error), "%s", why);
	o->is_resolved = j->is_resolved;
	o->is_sent = is_sent;
	o->tried = j->tried;
	o->http = http;
}

static void *
sender(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!is_stopping) {
		struct job *j = NULL;
		size_t at = 0;
		int64_t now = now_ms();
		long http;
		char why[200] = "";
		int rc;

		for (size_t i = 0; i < nqueue; i++)
			if (!queue[i]->is_busy && (j == NULL || queue[i]->next_at < j->next_at)) {
				j = queue[i];
				at = i;
			}
		if (j == NULL) {
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		if (j->next_at > now) {
			struct timespec ts;
			int64_t due = j->next_at - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += due / 1000;
			ts.tv_nsec += (due % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cv, &mu, &ts);
			continue;
		}
		j->is_busy = 1;
		j->tried++;
		pthread_mutex_unlock(&mu);
		rc = attempt(j, &http, why, sizeof(why));
		pthread_mutex_lock(&mu);
		j->is_busy = 0;
		assert(queue[at] == j);	/* only this thread takes from the queue */
		if (rc == 1 && j->tried < j->attempts && !is_stopping) {
			int64_t d = j->backoff_ms;

			for (int k = 1; k < j->tried && d < BACKOFF_CAP_MS; k++)
				d *= 2;
			j->next_at = now_ms() + (d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS);
			continue;
		}
		if (rc != 0 && is_stopping)
			break;	/* cut short at exit: not the receiver's failure */
		outcome_locked(j, rc == 0, http, why);
		queue[at] = queue[--nqueue];
		job_free(j);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int
sender_start(void)
{
	pthread_condattr_t ca;

	if (has_thread)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);
	pthread_condattr_destroy(&ca);
	is_stopping = 0;
	if (thread_start(&thread, sender, NULL) != 0) {
		pthread_cond_destroy(&cv);
		curl_global_cleanup();
		return -1;
	}
	has_thread = 1;
	return 0;
}

void
alert_send_stop(void)
{
	if (has_thread) {
		pthread_mutex_lock(&mu);
		__atomic_store_n(&is_stopping, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(thread, NULL);
		pthread_cond_destroy(&cv);
		curl_global_cleanup();
		has_thread = 0;
	}
	for (size_t i = 0; i < nqueue; i++)
		job_free(queue[i]);
	nqueue = 0;
	alert_receivers_free(receivers);
	receivers = NULL;
}

void
alert_receivers_use(struct alert_receivers *r)
{
	alert_receivers_free(receivers);
	receivers = r;
	if (r != NULL && r->n > 0 && sender_start() != 0)
		log_error("alert.send", "error", "cannot start the notifications' thread: alerts "
		    "reach no receiver", NULL);
}

/* ---- on the loop ---- */

static json_t *
webhook_body(const struct app *a, const struct alert_note *n, const char *delivery,
    int64_t now, const char *host)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s?, s:O?, "
	    "s:{s:s, s:s, s:s}, s:{s:s, s:s}}",
	    "version", 1, "delivery", delivery, "rule", n->rule,
	    "status", n->is_resolved ? "resolved" : "firing", "since", json_time(n->since),
	    "at", json_time(now), "summary", n->message, "description", n->description,
	    "condition", n->condition, "runbook", n->runbook, "facts", n->facts,
	    "labels", "alertname", n->rule, "condition", n->condition, "server", host,
	    "server", "name", host, "url", a->cfg.public_url[0] ? a->cfg.public_url : a->url);

	return o;
}

/*
 * Alertmanager's v2 alert. While firing, endsAt is four re-sends away, so
 * an alert outpostd stops sending (it died, the rule went away) resolves by
 * itself, as Prometheus does; resolved, endsAt is now.
 */
static json_t *
am_body(const struct app *a, const struct receiver *r, const struct alert_note *n,
    int64_t now, const char *host)
{
	const char *url = a->cfg.public_url[0] ? a->cfg.public_url : a->url;
	json_t *alert = json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:o, s:o, s:s}",
	    "labels", "alertname", n->rule, "condition", n->condition, "service", "outpost",
	    "instance", host,
	    "annotations", "summary", n->message, "description", n->description,
	    "startsAt", json_time(n->since),
	    "endsAt", json_time(n->is_resolved ? now : now + 4 * r->resend_ms),
	    "generatorURL", url);

	if (alert != NULL && n->runbook != NULL)
		json_object_set_new(json_object_get(alert, "annotations"), "runbook",
		    json_string(n->runbook));
	return alert != NULL ? json_pack("[o]", alert) : NULL;
}

static void
enqueue(const struct app *a, struct receiver *r, const struct alert_note *n, int64_t now)
{
	static unsigned long long seq;
	char host[256] = "outpostd";
	struct job *j;
	json_t *body;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "outpostd");
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	snprintf(j->delivery, sizeof(j->delivery), "%s-%llu", a->boot_id, ++seq);
	body = r->type == R_WEBHOOK ? webhook_body(a, n, j->delivery, now, host) :
	    am_body(a, r, n, now, host);
	snprintf(j->receiver, sizeof(j->receiver), "%s", r->name);
	snprintf(j->rule, sizeof(j->rule), "%s", n->rule);
	j->type = r->type;
	j->is_resolved = n->is_resolved;
	j->url = strdup(r->url);
	j->secret = r->secret != NULL ? strdup(r->secret) : NULL;
	j->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	j->timeout_ms = r->timeout_ms;
	j->backoff_ms = r->backoff_ms;
	j->attempts = r->attempts;
	j->next_at = now_ms();
	if (j->url == NULL || j->body == NULL || (r->secret != NULL && j->secret == NULL)) {
		job_free(j);
		return;
	}
	pthread_mutex_lock(&mu);
	if (nqueue == ALERT_SEND_QUEUE) {
		count_locked(r->name, RES_DROPPED);
		pthread_mutex_unlock(&mu);
		dropped_unsaid++;	/* one line a tick says how many: a full queue is no time for 500 */
		job_free(j);
		return;
	}
	queue[nqueue++] = j;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void
alert_notify(const struct app *a, const struct alert_note *n, int64_t now)
{
	if (receivers == NULL || !has_thread)
		return;
	for (size_t i = 0; i < receivers->n; i++) {
		struct receiver *r = &receivers->r[i];
		int64_t *sent = n->index < sizeof(r->sent) / sizeof(r->sent[0]) ?
		    &r->sent[n->index] : NULL;

		if (r->type == R_WEBHOOK && !n->is_news)
			continue;
		if (r->type == R_ALERTMANAGER && !n->is_news && !n->is_resolved &&
		    sent != NULL && now - *sent < r->resend_ms)
			continue;
		if (sent != NULL)
			*sent = n->is_resolved ? 0 : now;
		enqueue(a, r, n, now);
	}
}

void
alert_send_collect(struct app *a)
{
	struct outcome got[OUTCOMES_MAX];
	size_t n;

	pthread_mutex_lock(&mu);
	n = noutcomes;
	memcpy(got, outcomes, n * sizeof(got[0]));
	noutcomes = 0;
	pthread_mutex_unlock(&mu);
	if (dropped_unsaid > 0) {
		log_warn("alert.dropped", LOG_INT("count", dropped_unsaid), "detail",
		    "the notifications' queue is full: a receiver is slow or down", NULL);
		dropped_unsaid = 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct outcome *o = &got[i];
		const char *status = o->is_resolved ? "resolved" : "firing";

		if (o->is_sent) {
			log_info("alert.sent", "receiver", o->receiver, "rule", o->rule, "status",
			    status, LOG_INT("attempts", o->tried), NULL);
			continue;
		}
		log_warn("alert.delivery_failed", "receiver", o->receiver, "rule", o->rule,
		    "status", status, LOG_INT("attempts", o->tried), "error", o->error, NULL);
		if (store_begin(a->store) != 0)
			continue;
		if (events_append(a->store, "alert.delivery_failed", "alert", o->rule, 0, "system",
		    json_pack("{s:s, s:s, s:s, s:i, s:o?, s:s}", "rule", o->rule, "receiver",
		    o->receiver, "status", status, "attempts", o->tried, "http_status",
		    o->http > 0 ? json_integer(o->http) : NULL, "error", o->error)) != 0 ||
		    store_commit(a->store) != 0)
			store_rollback(a->store);
	}
}
