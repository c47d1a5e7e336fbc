/*
 * The periodic work of outpostd, as libwebsockets timers on the one loop:
 *
 *   health     once a second: workers whose heartbeats stopped go offline, then lost;
 *              what another process committed (events_adopt, auth_catch_up);
 *   scheduler  a pass soon after any committed change (a kick), when the next
 *              pending instance becomes due, and every scheduler_interval anyway;
 *   lifecycle  every 250 ms: slots that end, missed slots, drain deadlines;
 *              every second: warm pools and retention;
 *   scaler     every second (and 100 ms after a kick, scaler.c): templates'
 *              workers, provisioners, the autoscaler;
 *   alerts     every two seconds: the alert rules;
 *   backups    once a second: a scheduled backup that is due (backup_sched.c);
 *   lag        every LAG_PERIOD_MS: how late it fires is how long the loop was
 *              held (outpost_loop_lag_seconds), since nothing else delays it.
 *
 * While the database has no room (store.c's full episode), the timers that
 * write (health, scheduler, lifecycle, scaler) skip their work rather than
 * fail at each turn; health's second asks store_room_check() instead, which
 * only reads, and the work goes on once there is room. Alert rules still run
 * (one watches for this). Workers' silence is then counted from the episode's
 * end, as from a start: their heartbeats could not be written.
 *
 * Kicks are coalesced: a pass runs no sooner than twice the last pass's
 * length after it (20 ms at least), so a burst of changes costs a few passes
 * and the scheduler never takes more than a third of the loop, however busy
 * the site is. A pass's own commit does not kick another.
 *
 * A restore drill's server (the drill setting) runs none of the health
 * checks, the scaler (scaler_tick() refuses its kicks too), the clock, the
 * alert rules or the backups: the copy it serves must not act on the world
 * (provisioners, runbooks) nor change what the drill counts.
 *
 * This file speaks lws timers and nothing else; the work is the domain's.
 * It also hands the loop to children.c (the SIGCHLD wake-up and its timer of
 * signals due) and takes it back, since both end with the timers.
 */
#include "backup.h"

#define LIFECYCLE_US (250 * LWS_US_PER_MS)
#define PASS_MIN_GAP_MS 20
#define LAG_PERIOD_US (50 * LWS_US_PER_MS)

static struct app *app;
static lws_sorted_usec_list_t health_sul, sched_sul, life_sul, scale_sul, alert_sul, lag_sul;
static lws_sorted_usec_list_t backup_sul;
static lws_usec_t lag_due;	/* when the lag timer should fire (monotonic, lws's clock) */
static int64_t sched_at;	/* when the queued pass runs; 0: none queued */
static int64_t sched_gap_ms = PASS_MIN_GAP_MS;
static int64_t sched_last_end;
static int in_pass;
static int has_given_way;	/* the queued pass was put off for answers to go */
static unsigned life_ticks;

static void sched_run(lws_sorted_usec_list_t *sul);

/* Queues a pass at `at` (ms), unless one is queued sooner; never closer than the gap. */
static void
queue_pass(int64_t at)
{
	int64_t now = now_ms();

	if (at < sched_last_end + sched_gap_ms)
		at = sched_last_end + sched_gap_ms;
	if (at < now)
		at = now;
	if (sched_at != 0 && sched_at <= at)
		return;
	sched_at = at;
	lws_sul_schedule(app->lws, 0, &sched_sul, sched_run, (at - now) * LWS_US_PER_MS + 1);
}

void
timers_kick(void)
{
	if (app == NULL || in_pass)
		return;
	queue_pass(now_ms());
}

static void
sched_run(lws_sorted_usec_list_t *sul)
{
	struct sched_pass_result r;
	int64_t now = now_ms(), next;
	int rc;

	(void)sul;
	sched_at = 0;
	if (store_full_since(app->store, NULL) != 0) {
		queue_pass(now + app->cfg.scheduler_interval_ms);
		return;
	}
	/*
	 * Answers a sync let go at this turn's start are written after its
	 * timers (lws runs those first): a pass of several ms would hold them
	 * all. It gives way to them once, for a millisecond.
	 */
	if (!has_given_way && http_has_released()) {
		has_given_way = 1;
		queue_pass(now + 1);
		return;
	}
	has_given_way = 0;
	in_pass = 1;
	rc = sched_pass(app->store, now, app->cfg.sched_policy, app->cfg.lead_time_ms, &r);
	in_pass = 0;
	sched_last_end = now_ms();
	sched_gap_ms = (int64_t)(r.seconds * 2000.0);
	if (sched_gap_ms < PASS_MIN_GAP_MS)
		sched_gap_ms = PASS_MIN_GAP_MS;
	if (rc != 0) {
		log_error("sched.pass", "error", "the pass failed; the next one tries again", NULL);
	} else {
		metrics_sched_pass(r.placed, r.unplaced, r.seconds);
		if (r.placed > 0)
			log_info("sched.pass", LOG_INT("placed", r.placed),
			    LOG_INT("unplaced", r.unplaced),
			    LOG_REAL("ms", (double)(long long)(r.seconds * 1e6) / 1000.0), NULL);
	}
	next = now + app->cfg.scheduler_interval_ms;
	if (r.next_due_at > 0 && r.next_due_at < next)
		next = r.next_due_at;
	queue_pass(next);
}

static void
health_run(lws_sorted_usec_list_t *sul)
{
	int64_t since = app->started_at;

	/* What another process committed (outpostd token create): its event, its token. */
	events_adopt(app->store);
	auth_catch_up();
	if (store_room_check(app->store)) {
		if (store_full_ended(app->store) > since)
			since = store_full_ended(app->store);
		workers_check_health(app->store, now_ms(), since, app->cfg.worker_offline_after_ms,
		    app->cfg.worker_lost_after_ms);
	}
	lws_sul_schedule(app->lws, 0, sul, health_run, LWS_US_PER_SEC);
}

static void
life_run(lws_sorted_usec_list_t *sul)
{
	/* The cheap steps every tick; pools and retention every fourth (once a second). */
	if (store_full_since(app->store, NULL) == 0)
		lifecycle_tick(app->store, now_ms(), &app->cfg, life_ticks++ % 4 == 0);
	lws_sul_schedule(app->lws, 0, sul, life_run, LIFECYCLE_US);
}

static void
scale_run(lws_sorted_usec_list_t *sul)
{
	if (store_full_since(app->store, NULL) == 0)
		scaler_tick(app, now_ms());
	lws_sul_schedule(app->lws, 0, sul, scale_run, LWS_US_PER_SEC);
}

/* The alert rules, every ALERT_US: each rule is a query or two. */
#define ALERT_US (2 * LWS_US_PER_SEC)

static void
alert_run(lws_sorted_usec_list_t *sul)
{
	alerts_tick(app, now_ms());
	lws_sul_schedule(app->lws, 0, sul, alert_run, ALERT_US);
}

static void
backup_run(lws_sorted_usec_list_t *sul)
{
	backup_tick(app, now_ms());
	lws_sul_schedule(app->lws, 0, sul, backup_run, LWS_US_PER_SEC);
}

/*
 * The loop's own lag: a timer that does nothing is late only by what held
 * the loop (a callback that ran long, a slow commit) or by the host. O(1).
 */
static void
lag_run(lws_sorted_usec_list_t *sul)
{
	lws_usec_t now = lws_now_usecs();

	metrics_observe(HIST_LOOP_LAG, now > lag_due ? (double)(now - lag_due) / 1e6 : 0.0);
	lag_due = now + LAG_PERIOD_US;
	lws_sul_schedule(app->lws, 0, sul, lag_run, LAG_PERIOD_US);
}

void
timers_start(struct app *a)
{
	app = a;
	children_start(a->lws);
	lag_due = lws_now_usecs() + LAG_PERIOD_US;
	lws_sul_schedule(a->lws, 0, &lag_sul, lag_run, LAG_PERIOD_US);
	queue_pass(now_ms());
	if (a->cfg.drill)
		return;
	lws_sul_schedule(a->lws, 0, &health_sul, health_run, LWS_US_PER_SEC);
	lws_sul_schedule(a->lws, 0, &scale_sul, scale_run, 200 * LWS_US_PER_MS);
	lws_sul_schedule(a->lws, 0, &life_sul, life_run, LIFECYCLE_US);
	lws_sul_schedule(a->lws, 0, &alert_sul, alert_run, ALERT_US);
	lws_sul_schedule(a->lws, 0, &backup_sul, backup_run, 100 * LWS_US_PER_MS);
}

void
timers_stop(void)
{
	if (app == NULL)
		return;
	lws_sul_cancel(&health_sul);
	lws_sul_cancel(&sched_sul);
	lws_sul_cancel(&life_sul);
	lws_sul_cancel(&scale_sul);
	lws_sul_cancel(&alert_sul);
	lws_sul_cancel(&lag_sul);
	lws_sul_cancel(&backup_sul);
	backup_stop();		/* a backup in flight: its part file removed */
	children_stop();	/* before the context goes: no timer of its own is left in it */
	sched_at = 0;
	app = NULL;
}
