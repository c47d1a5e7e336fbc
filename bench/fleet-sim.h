/*
 * fleet-sim's parts (bench/fleet-sim.c): the kept HTTP/1.1 connections
 * (fleet-http.c), the simulated agents and their event streams
 * (fleet-sim.c), the operator's phases and the figures (fleet-phases.c),
 * all on one libwebsockets loop and one thread.
 */
#ifndef FLEET_SIM_H
#define FLEET_SIM_H

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#define HTTP_PROTO	"fleet-http"
#define WS_PROTO	"outpost.events.v1"
#define MAX_AGENTS	5000
#define MAX_IDS		200000
#define JOIN_AT_ONCE	32
#define RX_MAX		(4 << 20)
#define STOPPERS	8

struct client;

struct req {
	struct req *next;
	unsigned char *buf;	/* LWS_PRE headroom, then the request */
	size_t len;
	int64_t id;		/* the instance of a report, or 0 */
	int tries;
	double sent_ms;
	void (*done)(struct client *, struct req *, int status, json_t *body);
};

/* A kept HTTP/1.1 connection with its own token; one request in flight. */
struct client {
	struct lws *wsi;
	int is_connecting;
	int is_sent;
	struct req *head, *tail;
	char *rx;
	size_t rxlen, rxcap;
	char auth[256];
	struct agent *ag;	/* NULL: the operator */
};

struct inst {
	int64_t id;
	int64_t attempt;
	char reported[16];	/* the last step reported: its echo rings no bell */
	int is_reporting;
	int is_seen;		/* in the latest work */
};

struct agent {
	int idx;
	char name[32];
	struct client http;
	struct lws *ws;
	int is_ws_up;
	int need_subscribe;
	int is_caught_up;
	int64_t since;
	int is_working, want_work_again, is_beating;
	struct inst *inst;
	size_t ninst, capinst;
	char *wsrx;
	size_t wsrxlen;
	lws_sorted_usec_list_t sul_beat, sul_ws;
};

struct sample {
	double placed;		/* its transition to scheduled, stamped by outpostd (ms) */
	double answered;	/* the create's answer here */
	double known;		/* its agent's work listed it */
	double running;		/* its report of running answered */
	int is_stopped;
};

enum phase { PH_JOIN, PH_SETTLE, PH_IDLE, PH_SINGLES, PH_BATCH, PH_STOP, PH_RTT, PH_DONE };

struct fleet {
	/* settings */
	char host[64];
	int port;
	int nagents, singles, batch, rtts;
	int64_t heartbeat_ms, gap_ms, idle_ms, settle_ms, timeout_ms;
	long server_pid;
	char join_auth[256];
	char definition[64];
	char prefix[16];	/* of the agents' names: PREFIX0001 ... */
	/* state */
	struct lws_context *ctx;
	struct agent *agents;
	struct client op;
	struct client stoppers[STOPPERS];	/* the operator's stops, several at once */
	int started, ready, is_failed, is_done;
	enum phase phase;
	double phase_at, t0;
	lws_sorted_usec_list_t sul_tick;
	struct sample *s;
	int64_t first_single, last_single, first_batch, last_batch, max_id;
	int creates_sent, stops_sent, rtt_sent;
	double *rtt;
	/* counters */
	long heartbeats, heartbeat_errors, reports, report_conflicts, report_errors, works;
	long events, echoes, reconnects, ws_reconnects, http_errors;
	/* the idle window */
	long srv_ticks0, srv_ticks1;
	double self_cpu0, self_cpu1, idle_t0, idle_t1;
	long beats0, beats1;
	/* the assignment phases */
	long srv_ticks_a0, srv_ticks_a1;
	double self_cpu_a0, self_cpu_a1, assign_t0, assign_t1;
	int64_t lost_after_ms;
	/* outpostd's own counts at the idle window's edges: syncs, seconds in them, commits */
	double syncs[2], sync_s[2], commits[2];
	const char *raw_body;	/* the answer in hand, as text, while its callback runs */
};

extern struct fleet g;

/* fleet-http.c */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(json_t *body);
double now_ms(void);
double rfc3339_ms(const char *s);
long proc_ticks(long pid);
double self_cpu_ms(void);
struct sample *sample_of(int64_t id);
/* Queues a call; takes ownership of body (NULL: none). */
void client_call(struct client *c, const char *method, const char *path, json_t *body,
    int64_t id, void (*done)(struct client *, struct req *, int, json_t *));
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len);

/* fleet-sim.c */
void join_next(void);
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len);

/* fleet-phases.c */
void enter(enum phase p, double now);
void tick(lws_sorted_usec_list_t *sul);
void print_results(void);

#endif
