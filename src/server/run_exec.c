/*
 * The exec steps of runs, and the output of every step. An exec step's
 * program is a child of children.c (a process group of its own, a clean
 * environment, every parameter of the run as OUTPOST_PARAM_NAME, the run's
 * token, its argv the runbook's with each "{{name}}" argument replaced whole:
 * a value is one argument, never part of one and never the program)
 * whose stdout and stderr are one pipe; the read end is adopted by
 * libwebsockets as a raw file descriptor (protocol outpost.run-output), so
 * the loop wakes when it writes, and children.c says when it has exited.
 * Past its timeout, a cancel or our exit, children.c ends its group: SIGTERM,
 * then SIGKILL RUN_KILL_GRACE_MS later.
 *
 * A step's output (a program's, or what a built-in says) is kept up to
 * RUN_OUTPUT_MAX; the rest is read and dropped with one notice, so the
 * program never blocks on a full pipe. Every RUN_FLUSH_MS what came is
 * stored in the step's row and written as one runbook.output event, in one
 * transaction, as JSON text (bytes that are not UTF-8 become U+FFFD).
 *
 * A dry run never starts the program: the step says what would run.
 *
 * Never: wait for the program or its pipe (reads are non-blocking), send it
 * a signal itself (children.c does), or put a value inside another string.
 */
#define _GNU_SOURCE 1
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runs.h"

#define RUN_PIPE_LINGER_MS 1000		/* after it exits, for what it left in the pipe */
#define RUNS_PROTOCOL "outpost.run-output"

/* ---- every step's output ---- */

/* Output is JSON text: bytes that are not UTF-8 become U+FFFD; an unfinished sequence waits. */
static size_t
utf8_clean(const unsigned char *in, size_t n, int is_final, struct sbuf *out)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = in[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		    (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;

		if (c == 0 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r')) {
			sbuf_putc(out, ' ');
			i++;
			continue;
		}
		if (len == 0 || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4)) {
			sbuf_puts(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (i + len > n) {
			if (!is_final)
				return i;	/* the rest of it comes with the next read */
			sbuf_puts(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		for (k = 1; k < len && (in[i + k] & 0xc0) == 0x80; k++)
			;
		if (k < len || (len == 3 && c == 0xe0 && in[i + 1] < 0xa0) ||
		    (len == 3 && c == 0xed && in[i + 1] >= 0xa0) ||
		    (len == 4 && c == 0xf0 && in[i + 1] < 0x90) ||
		    (len == 4 && c == 0xf4 && in[i + 1] >= 0x90)) {
			sbuf_puts(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		sbuf_append(out, in + i, len);
		i += len;
	}
	return i;
}

/* Takes what came from a step, up to its bound; the rest is dropped with one notice. */
void
run_output_take(struct run *r, const void *data, size_t n)
{
	static const char cut[] = "\n[output cut at 64 KiB: the rest was dropped]\n";
	size_t room;

	if (r->cur.is_truncated)
		return;
	room = RUN_OUTPUT_MAX - r->cur.bytes - r->pending.len;
	if (n > room) {
		sbuf_append(&r->pending, data, room);
		sbuf_append(&r->pending, cut, sizeof(cut) - 1);
		r->cur.is_truncated = 1;
		return;
	}
	sbuf_append(&r->pending, data, n);
}

int
run_output_flush(struct run *r, int is_final)
{
	struct store *s = r->app->store;
	struct sbuf clean;
	sqlite3_stmt *st;
	size_t used;
	int rc = 0;

	r->flushed = 0;
	if (r->pending.len == 0)
		return 0;
	assert(r->cur.bytes + r->pending.len <= RUN_OUTPUT_MAX + 64);
	sbuf_init(&clean);
	used = utf8_clean((const unsigned char *)r->pending.p, r->pending.len, is_final, &clean);
	if (clean.len > 0) {
		st = store_stmt(s, "UPDATE run_steps SET output = output || ? "
		    "WHERE run_id = ? AND idx = ?");
		if (st == NULL) {
			sbuf_free(&clean);
			return -1;
		}
		sqlite3_bind_text(st, 1, clean.p, (int)clean.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->id);
		sqlite3_bind_int64(st, 3, (int64_t)r->step);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
		if (rc == 0)
			rc = events_append(s, "runbook.output", "run", NULL, r->id, r->step_actor,
			    json_pack("{s:I, s:s%}", "step", (json_int_t)r->step, "text", clean.p,
			    clean.len));
	}
	if (rc == 0)
		r->flushed = used;
	sbuf_free(&clean);
	return rc;
}

/* The flushed output is committed: it leaves pending (which stays bounded by run_output_take). */
void
run_output_written(struct run *r)
{
	assert(r->flushed <= r->pending.len);
	if (r->flushed == 0)
		return;	/* nothing was (pending may have no buffer yet) */
	r->cur.bytes += r->flushed;
	memmove(r->pending.p, r->pending.p + r->flushed, r->pending.len - r->flushed);
	r->pending.len -= r->flushed;
	r->flushed = 0;
}

int
run_output_flush_now(struct run *r)
{
	struct store *s = r->app->store;

	if (r->pending.len == 0)
		return 0;
	if (store_begin(s) != 0)
		return -1;
	if (run_output_flush(r, 0) != 0) {
		store_rollback(s);
		return -1;
	}
	if (store_commit(s) != 0)
		return -1;
	run_output_written(r);
	return 0;
}

/* ---- exec steps ---- */

static void
env_add(char ***env, size_t *n, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
env_add(char ***env, size_t *n, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (array_grow(env, cap, *n + 1, sizeof(**env)) != 0)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s != NULL)
		(*env)[(*n)++] = s;
	(*env)[*n] = NULL;
}

/* children.c reaped the program: the step ends once its pipe is drained too. */
static void
exec_exited(void *owner, const struct child_exit *e)
{
	struct run *r = owner;

	assert(r->cur.pid == e->pid);
	r->child = NULL;
	r->cur.has_exited = 1;
	r->cur.status = e->status;
	run_schedule(r, 0);
}

/*
 * The program's argv, NULL-ended (the caller frees it; NULL when out of
 * memory). An argument is the runbook's text as it is, or exactly one
 * "{{name}}" (runbooks.c refuses any other reference at load), replaced by
 * the value's text whole: "" for a parameter not given.
 */
static char **
exec_argv(struct run *r, const struct rb_step *st)
{
	size_t n = json_array_size(st->argv), i;
	char **argv = calloc(n + 1, sizeof(*argv));
	char name[64];

	for (i = 0; argv != NULL && i < n; i++) {
		const char *s = json_string_value(json_array_get(st->argv, i));

		if (i > 0 && subst_whole_ref(s, name, sizeof(name))) {
			struct sbuf b;

			sbuf_init(&b);
			subst_text(json_object_get(r->params, name), &b);
			argv[i] = b.p ? sbuf_steal(&b) : strdup("");
		} else {
			assert(strstr(s, "{{") == NULL);
			argv[i] = strdup(s);
		}
		if (argv[i] == NULL)
			goto oom;
	}
	/* A relative program with a slash is the runbook's own, beside its file. */
	if (argv != NULL && argv[0][0] != '/' && strchr(argv[0], '/') != NULL) {
		char *prog = NULL;

		if (asprintf(&prog, "%s/%s", r->rb->dir, argv[0]) < 0)
			goto oom;
		free(argv[0]);
		argv[0] = prog;
	}
	return argv;
oom:
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
	return NULL;
}

/* Its environment: every parameter as OUTPOST_PARAM_NAME, where and who it runs for. */
static char **
exec_env(struct run *r, size_t *nenv)
{
	char **env = NULL;
	size_t capenv = 0;
	const char *key;
	json_t *v;

	*nenv = 0;
	json_object_foreach(r->params, key, v) {
		struct sbuf b;
		char name[RB_ENV_NAME_MAX];

		param_env_name(key, name, sizeof(name));
		sbuf_init(&b);
		subst_text(v, &b);
		env_add(&env, nenv, &capenv, "%s=%s", name, b.p ? b.p : "");
		sbuf_free(&b);
	}
	env_add(&env, nenv, &capenv, "OUTPOST_SERVER=%s", r->app->url);
	env_add(&env, nenv, &capenv, "OUTPOST_RUN_ID=%lld", (long long)r->id);
	env_add(&env, nenv, &capenv, "OUTPOST_RUNBOOK=%s", r->rb->name);
	/* Always 0: a dry run starts no program (kept for the programs that read it). */
	env_add(&env, nenv, &capenv, "OUTPOST_DRY_RUN=0");
	if (r->token[0])
		env_add(&env, nenv, &capenv, "OUTPOST_TOKEN=%s", r->token);
	/* The step's span: what the program asks of the API, with it, joins the run's trace. */
	if (r->step_span.ctx.is_valid) {
		char tp[TRACEPARENT_BUF];

		env_add(&env, nenv, &capenv, "TRACEPARENT=%s",
		    traceparent_format(&r->step_span.ctx, tp, sizeof(tp)));
	}
	return env;
}

/*
 * A dry run's exec step: what would run, its argv as JSON (each argument's
 * bounds plain to see) and the names of the variables it would get; no
 * process, no pipe, no token. The step succeeds.
 */
void
run_exec_dry(struct run *r)
{
	char **argv = exec_argv(r, &r->rb->steps[r->step]);
	json_t *a = json_array();
	struct sbuf b;
	const char *key;
	json_t *v;
	char *text;

	if (argv == NULL || a == NULL) {
		json_decref(a);
		run_output_take(r, "out of memory\n", 14);
		run_step_end(r, 0, "could not say what it would run");
		return;
	}
	for (size_t i = 0; argv[i] != NULL; i++) {
		json_array_append_new(a, json_string(argv[i]));
		free(argv[i]);
	}
	free(argv);
	text = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(a);
	sbuf_init(&b);
	sbuf_printf(&b, "would run %s\nwith ", text ? text : "[]");
	free(text);
	json_object_foreach(r->params, key, v) {
		char name[RB_ENV_NAME_MAX];

		param_env_name(key, name, sizeof(name));
		sbuf_printf(&b, "%s, ", name);
	}
	sbuf_puts(&b, "OUTPOST_SERVER, OUTPOST_TOKEN, OUTPOST_RUN_ID, OUTPOST_RUNBOOK and "
	    "OUTPOST_DRY_RUN in its environment\n(a dry run starts no program)\n");
	run_output_take(r, b.p, b.len);
	sbuf_free(&b);
	run_step_end(r, 1, NULL);
}

/* What a restart must find: the program's "PID START", in the run's row. */
static void
exec_record(struct run *r)
{
	struct store *s = r->app->store;
	sqlite3_stmt *q;
	char ref[PROC_REF_BUF];

	snprintf(ref, sizeof(ref), "%d %llu", (int)r->cur.pid, child_start(r->child));
	if (store_begin(s) != 0)
		return;
	q = store_stmt(s, "UPDATE runs SET child_ref = ? WHERE id = ?");
	if (q == NULL) {
		store_rollback(s);
		return;
	}
	sqlite3_bind_text(q, 1, ref, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, r->id);
	sqlite3_step(q);
	sqlite3_reset(q);
	store_commit_silent(s);
}

int
run_exec_start(struct run *r, char *why, size_t wn)
{
	const struct rb_step *st = &r->rb->steps[r->step];
	struct app *app = r->app;
	char **argv = exec_argv(r, st), **env = NULL;
	size_t nenv = 0, i;
	lws_sock_file_fd_type u;
	int fds[2] = { -1, -1 }, rc = -1;
	struct child_spec sp = {
		.out_fd = -1, .cwd = app->cfg.state_dir, .signals_group = 1,
		.grace_ms = RUN_KILL_GRACE_MS, .on_exit = exec_exited, .owner = r,
	};

	if (argv == NULL || argv[0] == NULL) {
		snprintf(why, wn, "out of memory");
		goto out;
	}
	env = exec_env(r, &nenv);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, wn, "cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	sp.argv = argv;
	sp.env = (const char *const *)env;
	sp.out_fd = fds[1];
	r->child = children_spawn(&sp);
	close(fds[1]);
	if (r->child == NULL) {
		close(fds[0]);
		snprintf(why, wn, "cannot start %s: %s", argv[0], strerror(errno));
		goto out;
	}
	r->cur.pid = child_pid(r->child);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	r->fd = fds[0];
	memset(&u, 0, sizeof(u));
	u.filefd = (lws_filefd_type)fds[0];
	r->pipe = lws_adopt_descriptor_vhost(lws_get_vhost_by_name(app->lws, "outpost"),
	    LWS_ADOPT_RAW_FILE_DESC, u, RUNS_PROTOCOL, NULL);
	if (r->pipe != NULL)
		lws_set_opaque_user_data(r->pipe, r);
	r->cur.deadline = now_ms() + st->timeout_ms;
	exec_record(r);
	log_info("run.exec", "run", r->step_actor, "program", argv[0], NULL);
	rc = 0;
out:
	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
	for (i = 0; i < nenv; i++)
		free(env[i]);
	free(env);
	return rc;
}

/* Reads what the program wrote; 0 at its end (EOF), 1 for more to come. */
static int
pipe_read(struct run *r)
{
	char buf[8192];

	for (;;) {
		ssize_t n = read(r->fd, buf, sizeof(buf));

		if (n > 0) {
			run_output_take(r, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 1;
		return 0;
	}
}

int
runs_pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	struct run *r = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (r == NULL)
			return -1;
		if (pipe_read(r) == 0)
			return -1;	/* EOF: lws closes it */
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (r != NULL) {
			r->pipe = NULL;
			r->fd = -1;	/* lws closed it */
			run_schedule(r, 0);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

void
run_exec_close(struct run *r)
{
	if (r->pipe != NULL) {
		lws_set_opaque_user_data(r->pipe, NULL);
		lws_set_timeout(r->pipe, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
		r->pipe = NULL;
	} else if (r->fd >= 0) {
		close(r->fd);
	}
	r->fd = -1;
}

void
run_exec_abandon(struct run *r)
{
	if (r->child == NULL)
		return;
	child_abandon(r->child);
	r->child = NULL;
}

void
run_exec_drive(struct run *r)
{
	int64_t now = now_ms();
	char words[80];

	if (r->cur.has_exited && r->cur.exited_at == 0)
		r->cur.exited_at = now;
	if (r->pipe == NULL && r->fd >= 0 && pipe_read(r) == 0) {
		close(r->fd);	/* never adopted: read here */
		r->fd = -1;
	}
	if (!r->cur.has_exited && !r->cur.is_timed_out && now >= r->cur.deadline) {
		char d[32];

		assert(r->child != NULL);
		child_stop(r->child, 0);	/* SIGTERM to its group, SIGKILL a grace later */
		r->cur.is_timed_out = 1;
		snprintf(words, sizeof(words), "\n[timed out after %s: SIGTERM sent]\n",
		    duration_format(r->rb->steps[r->step].timeout_ms, d, sizeof(d)));
		run_output_take(r, words, strlen(words));
	}
	run_output_flush_now(r);
	/* Done when it exited and its pipe is drained, or lingered past the grace. */
	if (r->cur.has_exited && (r->fd < 0 || now - r->cur.exited_at >= RUN_PIPE_LINGER_MS)) {
		int is_ok = WIFEXITED(r->cur.status) && WEXITSTATUS(r->cur.status) == 0 &&
		    !r->cur.is_timed_out;

		child_group_sweep(r->cur.pid);	/* anything it left running in its group */
		run_exec_close(r);
		proc_status_words(r->cur.status, words, sizeof(words));
		if (r->cur.is_timed_out)
			snprintf(words + strlen(words), sizeof(words) - strlen(words),
			    " after its timeout");
		run_step_end(r, is_ok, words);
		return;
	}
	run_schedule(r, RUN_FLUSH_MS);
}
