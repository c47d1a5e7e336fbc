/*
 * Alert notifications (alert_send.c): what alerts.c hands the receivers of
 * the alert rules' file, a webhook or Prometheus Alertmanager. Included by
 * alerts.c and metrics.c only.
 */
#ifndef OUTPOST_ALERT_SEND_H
#define OUTPOST_ALERT_SEND_H

#include "server.h"

#define ALERT_RECEIVERS_MAX 8
#define ALERT_SEND_QUEUE 512	/* notifications waiting or being retried; more are dropped */

/* One notification of one rule: made on the loop, sent by the thread. */
struct alert_note {
	const char *rule, *description, *condition, *message, *runbook;
	json_t *facts;		/* may be NULL */
	int64_t since;		/* firing since (ms) */
	int is_resolved;
	int is_news;		/* it fired or resolved now: not a re-send */
	size_t index;		/* the rule's place in its file, for re-sends */
};

struct alert_receivers;

/*
 * The "receivers" array of the rules' file, checked whole (errors name the
 * field, receivers[1].url); secrets are read from their files now. NULL
 * list: none. On success *out is a list alert_receivers_use() takes.
 */
int alert_receivers_parse(json_t *list, struct alert_receivers **out, struct op_err *err);
void alert_receivers_free(struct alert_receivers *r);
size_t alert_receivers_count(const struct alert_receivers *r);
/* The receivers from now on (the old ones' queued notifications still go). */
void alert_receivers_use(struct alert_receivers *r);

/*
 * A rule fired, resolved, or is still firing (is_news 0: only Alertmanager's
 * re-sends). Never blocks: a full queue drops and counts.
 */
void alert_notify(const struct app *a, const struct alert_note *n, int64_t now);
/* On the loop: the notifications the thread gave up on become events. */
void alert_send_collect(struct app *a);
void alert_send_metrics(struct sbuf *o);
/* Ends the thread (an attempt under way is cut short) and frees what is queued. */
void alert_send_stop(void);

#endif
