/*
 * A run being driven, shared by runs.c (the run: starting it, its steps in
 * order, built-ins, cancel, restarts) and run_exec.c (exec steps, their
 * program and output pipe, and every step's output), and by no other file
 * of the server (which has server.h).
 */
#ifndef OUTPOST_RUNS_H
#define OUTPOST_RUNS_H

#include "server.h"

#define RUN_OUTPUT_MAX (64 * 1024)	/* bytes of output kept per step */
#define RUN_FLUSH_MS 100		/* output is stored and streamed this often */
#define RUN_KILL_GRACE_MS 2000		/* from SIGTERM to SIGKILL for a run's program */

/* What a run knows of its step under way. */
struct step_now {
	int is_started;
	int64_t started_at;
	/* an exec step's program */
	pid_t pid;		/* its pid, and its group's; 0: none this step */
	int has_exited;
	int status;
	int64_t exited_at;
	int64_t deadline;
	int is_timed_out;	/* its deadline passed: it was sent SIGTERM */
	/* a built-in's arguments, substituted */
	json_t *bargs;
	/* the output it has stored, and whether the rest was dropped */
	size_t bytes;
	int is_truncated;
};

struct run {
	lws_sorted_usec_list_t sul;	/* drives the run */
	struct app *app;
	int64_t id;
	struct runbook *rb;
	json_t *params;
	int is_dry;
	char actor[160];	/* who started it */
	char step_actor[48];	/* "run:ID": the actor of what its steps change */
	size_t step;
	int64_t started_at;
	int64_t token_id;
	char token[64];
	struct step_now cur;	/* the step under way; zeroed as the next begins */
	/* the running program of an exec step */
	struct child *child;	/* NULL once it was reaped (or abandoned) */
	struct lws *pipe;
	int fd;
	/* a built-in's */
	struct bctx bc;
	struct sbuf bout;
	/* output not yet stored; flushed: how much of it the open transaction writes */
	struct sbuf pending;
	size_t flushed;
	/* an end the database had no room for: written again each second (run_end) */
	int is_ending;
	const char *end_step_status;
	enum run_status end_status;
	char end_error[400];
	struct span span;	/* the run's (a child of its starter's request, if any) */
	struct span step_span;	/* the step under way's, while cur.is_started */
	struct run *next;
};

/* runs.c */
/* Drives the run again in ms. */
void run_schedule(struct run *r, int64_t ms);
/* Ends the current step; the run goes on with the next one, or ends failed. */
void run_step_end(struct run *r, int is_ok, const char *why);

/* run_exec.c: a step's output (every step's), bounded, stored and streamed. */
void run_output_take(struct run *r, const void *data, size_t n);
/*
 * Stores the pending output and writes its runbook.output event, in the
 * caller's transaction; the caller calls run_output_written() once that
 * commits, so output a failed transaction did not keep is written again.
 */
int run_output_flush(struct run *r, int is_final);
void run_output_written(struct run *r);
/* The same in a transaction of its own. */
int run_output_flush_now(struct run *r);
/* run_exec.c: an exec step's program. */
int run_exec_start(struct run *r, char *why, size_t wn);
/* A dry run's exec step: says what would run, starts nothing, ends the step. */
void run_exec_dry(struct run *r);
/* Every RUN_FLUSH_MS, and when it exits or its pipe ends: reads, stores, times out, ends. */
void run_exec_drive(struct run *r);
/* The program is no longer waited for (its run ended): SIGTERM now, SIGKILL later. */
void run_exec_abandon(struct run *r);
/* Closes the output pipe (the loop's or ours). */
void run_exec_close(struct run *r);

#endif
