/*
 * outpost events: the site's event log, one line per event. Without
 * --follow it reads a page with GET /api/v1/events; with --follow it first
 * asks the same question over HTTP (so a bad token, a bad --type or an
 * unreachable server gets the usual message and exit code), then follows
 * the websocket stream through evstream, which reconnects by itself and
 * never shows an event twice. SIGINT and SIGTERM end it with exit 0. The
 * SUMMARY column is the server's line for the event, the web app's and the
 * dashboard's words too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "evstream.h"
#include "evsummary.h"

#define LINE_FMT "%8s  %-24s  %-18s  %-10s  %6s  "

/* What the follow loop shares with its callbacks. */
struct follow {
	struct cli *c;
	struct evstream *es;
	int64_t limit;		/* stop after this many events; 0: never */
	int64_t printed;
	int rc;			/* the exit code when the stream ends early */
	int is_lost;		/* the connection dropped and has not come back yet */
	int is_stderr_tty;
};

static void
sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void
print_header(struct cli *c)
{
	fprintf(c->out_file, LINE_FMT "%s\n", "SEQ", "TS", "TYPE", "KIND", "ID", "SUMMARY");
}

/* One event as a line; in table mode the new state of a transition is coloured. */
static int
print_event(struct cli *c, json_t *ev)
{
	char seq[32], ts[64], type[64], kind[32], id[64], summary[EVSUMMARY_MAX];
	json_t *data = json_object_get(ev, "data");
	const char *from, *to, *k, *said = json_string_value(json_object_get(ev, "summary"));
	int color = -1, is_bold = 0;

	if (c->out == OUT_JSON) {
		char *s = json_dumps(ev, JSON_COMPACT);

		if (s == NULL)
			return -1;
		fprintf(c->out_file, "%s\n", s);
		free(s);
		return 0;
	}
	fmt_value(json_object_get(ev, "seq"), seq, sizeof(seq));
	fmt_value(json_object_get(ev, "ts"), ts, sizeof(ts));
	fmt_value(json_object_get(ev, "type"), type, sizeof(type));
	fmt_value(json_object_get(ev, "kind"), kind, sizeof(kind));
	fmt_value(json_object_get(ev, "id"), id, sizeof(id));
	/* The server's line; an event without one (an older server) shows its type. */
	snprintf(summary, sizeof(summary), "%s", said != NULL ? said : type);
	sanitize(seq);
	sanitize(ts);
	sanitize(type);
	sanitize(kind);
	sanitize(id);
	sanitize(summary);
	fprintf(c->out_file, LINE_FMT, seq, ts, type, kind, id);
	from = json_string_value(json_object_get(data, "from"));
	to = json_string_value(json_object_get(data, "to"));
	k = json_string_value(json_object_get(ev, "kind"));
	if (c->use_color && from != NULL && to != NULL && k != NULL) {
		enum cell_color which = strcmp(k, "instance") == 0 ? CELL_INST_STATE :
		    strcmp(type, "worker.health") == 0 ? CELL_HEALTH :
		    strcmp(k, "worker") == 0 ? CELL_WORKER_STATE : CELL_PLAIN;

		color = fmt_cell_color(which, to, &is_bold);
	}
	/* A transition's summary starts "FROM -> TO": TO is coloured where it stands. */
	if (color >= 0 && strncmp(summary, from, strlen(from)) == 0 &&
	    strncmp(summary + strlen(from), " -> ", 4) == 0 &&
	    strncmp(summary + strlen(from) + 4, to, strlen(to)) == 0) {
		size_t head = strlen(from) + 4, tolen = strlen(to);

		fprintf(c->out_file, "%.*s\033[%s3%dm%.*s\033[0m%s\n", (int)head, summary,
		    is_bold ? "1;" : "", color, (int)tolen, summary + head, summary + head + tolen);
	} else {
		fprintf(c->out_file, "%s\n", summary);
	}
	return 0;
}

static void
follow_on_event(void *arg, json_t *ev)
{
	struct follow *f = arg;

	print_event(f->c, ev);
	if (fflush(f->c->out_file) != 0) {
		/* The reader is gone (a closed pipe): end quietly, or say why. */
		if (errno != EPIPE)
			f->rc = cli_fail(CLI_REFUSED, "cannot write the output: %s",
			    strerror(errno));
		evstream_stop(f->es);
		return;
	}
	if (f->limit > 0 && ++f->printed >= f->limit)
		evstream_stop(f->es);
}

static void
follow_on_caught_up(void *arg, int64_t seq)
{
	struct follow *f = arg;

	if (f->is_stderr_tty && f->c->out == OUT_TABLE)
		fprintf(stderr, "outpost: caught up at seq %lld; following\n", (long long)seq);
}

/* The server refused our subscription; it would wait forever, so end here. */
static void
follow_on_error(void *arg, const char *code, const char *message, const char *field)
{
	struct follow *f = arg;

	(void)code;
	if (field[0] != '\0')
		f->rc = cli_fail(CLI_REFUSED, "%s (field: %s)", message, field);
	else
		f->rc = cli_fail(CLI_REFUSED, "%s", message);
	evstream_stop(f->es);
}

static void
follow_on_state(void *arg, const struct evstream_status *st)
{
	struct follow *f = arg;

	switch (st->state) {
	case EVSTREAM_DISCONNECTED:
		if (!st->has_connected) {
			/* Never got in: report it like any other request would. */
			if (st->http_status >= 400)
				f->rc = cli_fail(CLI_REFUSED, "the server refused the event stream "
				    "(HTTP %d)", st->http_status);
			else
				f->rc = cli_fail(CLI_UNREACHABLE, "cannot open the event stream at "
				    "%s: %s", f->c->set.server, st->reason);
			evstream_stop(f->es);
		} else if (!f->is_lost) {
			f->is_lost = 1;
			fprintf(stderr, "outpost: event stream lost (%s); reconnecting from seq "
			    "%lld\n", st->reason, (long long)st->last_seq);
		}
		break;
	case EVSTREAM_CONNECTED:
		if (f->is_lost)
			fprintf(stderr, "outpost: event stream back\n");
		f->is_lost = 0;
		break;
	default:
		break;
	}
}

/* GET /api/v1/events with since, types and limit as the flags give them. */
static char *
events_path(const char *since, const char *types, const char *limit)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "/api/v1/events");
	httpc_query_add(&b, "since", since);
	httpc_query_add(&b, "types", types);
	httpc_query_add(&b, "limit", limit);
	return sbuf_steal(&b);
}

static int
events_follow(struct cli *c, int64_t since, const char *types, int64_t limit)
{
	struct follow f = { .c = c, .limit = limit, .rc = CLI_OK };
	struct evstream_opts o = {
		.url = c->set.server,
		.token = c->set.token[0] != '\0' ? c->set.token : NULL,
		.since = since,
		.ca_file = c->set.ca_file,
		.on_event = follow_on_event,
		.on_caught_up = follow_on_caught_up,
		.on_state = follow_on_state,
		.on_error = follow_on_error,
		.arg = &f,
	};
	char **type_list = NULL, err[512];

	f.is_stderr_tty = isatty(STDERR_FILENO);
	if (types != NULL) {
		if ((type_list = arg_split(types)) == NULL)
			return cli_fail(CLI_USAGE, "out of memory");
		o.types = (const char *const *)type_list;
	}
	f.es = evstream_new(&o, err, sizeof(err));
	free(type_list);	/* evstream keeps its own copy */
	if (f.es == NULL)
		return cli_fail(CLI_USAGE, "%s", err);
	if (c->out == OUT_TABLE)
		print_header(c);
	cli_run_stream(f.es);
	evstream_free(f.es);
	if (f.rc != CLI_OK)
		return f.rc;
	return cli_finish(c);
}

static int
events_run(struct cli *c, const struct args *a)
{
	const char *since_s = args_get(a, "since"), *types = args_get(a, "type");
	const char *limit_s = args_get(a, "limit");
	int64_t since = 0, limit = 0;
	struct httpc_resp r;
	char err[512], *path;
	json_t *items, *ev;
	size_t i;
	int rc;

	/* --since now: the server answers a since past its end with its newest number. */
	int is_now = since_s != NULL && strcmp(since_s, "now") == 0;

	if (since_s != NULL && !is_now &&
	    arg_int("--since", since_s, 0, INT64_MAX, &since, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s (or now)", err);
	if (types != NULL && arg_list("--type", types, CHOICES_ANY, err, sizeof(err)) < 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (limit_s != NULL &&
	    arg_int("--limit", limit_s, 1, INT64_MAX, &limit, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	/*
	 * With --follow this first request checks the server, the token and
	 * the types before the stream starts; its answer is not printed.
	 */
	path = events_path(is_now ? "9223372036854775807" : since_s, types,
	    args_has(a, "follow") || is_now ? "1" : limit_s);
	if (path == NULL)
		return cli_fail(CLI_USAGE, "out of memory");
	rc = cli_call_json(c, "GET", path, NULL, &r);
	free(path);
	if (rc != CLI_OK)
		return rc;
	if (is_now)
		since = json_integer_value(json_object_get(r.json, "last_seq"));
	if (args_has(a, "follow")) {
		httpc_resp_free(&r);
		return events_follow(c, since, types, limit);
	}
	items = json_object_get(r.json, "items");
	if (!json_is_array(items)) {
		httpc_resp_free(&r);
		return cli_fail(CLI_REFUSED, "the server's answer to GET /api/v1/events has no "
		    "items");
	}
	if (c->out == OUT_TABLE)
		print_header(c);
	json_array_foreach(items, i, ev)
		print_event(c, ev);
	httpc_resp_free(&r);
	return cli_finish(c);
}

static const struct opt_spec events_opts[] = {
	{ "since", 0, "SEQ|now", "only events after this sequence number (default 0: all; now: "
	    "only those to come)", 0 },
	{ "type", 0, "T[,T...]", "only these types; instance.* matches a family", 0 },
	{ "limit", 0, "N", "at most N events (with --follow: stop after N)", 0 },
	{ "follow", 0, NULL, "keep printing new events as they happen", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

const struct cmd_entry cmd_events_entries[] = {
	{
		.name = "events",
		.usage = "[--since SEQ|now] [--type T,...] [--limit N] [--follow]",
		.help = "print the event log; --follow streams it live",
		.opts = events_opts,
		.exec = events_run,
	},
	{ .name = NULL }
};
