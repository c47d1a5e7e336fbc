#include "config.h"

/*
 * outpost-top: the terminal dashboard of an Outpost site. main resolves the
 * settings as outpost does (clientconf.c), loads the site over HTTP, then
 * waits in one poll() for the event stream, the terminal and the next due
 * timer, through evstream_service(): while nothing happens it sleeps.
 *
 * The terminal is given back clean on every way out: q, SIGINT, SIGTERM,
 * and a crash signal (its handler ends curses, then the signal kills as it
 * would have).
 *
 * Exit status: 0 done; 1 the server refused (the token, a list); 2 usage
 * error; 3 the server could not be reached.
 */
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <curses.h>

#include "log.h"
#include "tui.h"
#include "util.h"

#define REDRAW_GAP_MS 40	/* a burst of events draws at most 25 frames a second */
#define IDLE_WAIT_MS 600000

static volatile sig_atomic_t got_quit;
static volatile sig_atomic_t got_winch;
static volatile sig_atomic_t is_curses;
static struct evstream *signal_es;

/* The header's counts of the state every row of m keeps (not only those shown). O(n). */
static void
count_states(struct model *m, size_t *counts, size_t n)
{
	memset(counts, 0, n * sizeof(*counts));
	for (size_t i = 0; i < m->n; i++)
		if (m->rows[i].state >= 0 && (size_t)m->rows[i].state < n)
			counts[m->rows[i].state]++;
}

/* The workers' health, from its cells (the workers are few). O(n). */
static void
count_health(struct model *m, size_t *counts)
{
	memset(counts, 0, HEALTH_COUNT * sizeof(*counts));
	for (size_t i = 0; i < m->n; i++) {
		enum worker_health h;

		if (worker_health_parse(model_cell(&m->rows[i], WORKER_COL_HEALTH), &h) == 0 &&
		    (size_t)h < HEALTH_COUNT)
			counts[h]++;
	}
}

/* Brings vis up to date and finds the selected row again by its key. */
static void
refresh_views(struct app *a)
{
	if (a->vs[V_INSTANCES].m.is_dirty)
		count_states(&a->vs[V_INSTANCES].m, a->inst_counts, INST_STATE_COUNT);
	if (a->vs[V_WORKERS].m.is_dirty) {
		count_states(&a->vs[V_WORKERS].m, a->worker_counts, WORKER_STATE_COUNT);
		count_health(&a->vs[V_WORKERS].m, a->health_counts);
	}
	for (int v = 0; v < V_COUNT; v++) {
		struct view_state *s = &a->vs[v];
		long at;

		if (!s->m.is_dirty)
			continue;
		model_refresh(&s->m);
		if (s->sel_key[0] != '\0' && (at = model_visible_index(&s->m, s->sel_key)) >= 0)
			s->sel = at;
		app_fix_selection(a, (enum view_id)v);
	}
}

/* ---- signals ---- */

static void
on_quit_signal(int sig)
{
	(void)sig;
	got_quit = 1;
	evstream_wake(signal_es);
}

static void
on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
	evstream_wake(signal_es);
}

/* A crash: give the terminal back, then die of the same signal. */
static void
on_crash(int sig)
{
	if (is_curses)
		endwin();
	raise(sig);	/* SA_RESETHAND: the default action now */
}

static void
set_signals(void)
{
	static const int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_quit_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (size_t i = 0; i < sizeof(crash) / sizeof(crash[0]); i++)
		sigaction(crash[i], &sa, NULL);
}

/* ---- the stream ---- */

static void
on_event(void *arg, json_t *ev)
{
	site_on_event(arg, ev);
}

static void
on_caught_up(void *arg, int64_t seq)
{
	struct app *a = arg;

	a->is_caught_up = 1;
	a->needs_redraw = 1;
	(void)seq;
}

static void
on_state(void *arg, const struct evstream_status *st)
{
	struct app *a = arg;

	switch (st->state) {
	case EVSTREAM_CONNECTED:
		if (a->conn == CONN_AWAY)
			app_message(a, 0, "the server is back; replaying from seq %" PRId64,
			    st->resume_seq);
		a->conn = CONN_LIVE;
		a->conn_reason[0] = '\0';
		break;
	case EVSTREAM_DISCONNECTED:
		a->conn = CONN_AWAY;
		a->is_caught_up = 0;
		if (st->http_status >= 400)
			snprintf(a->conn_reason, sizeof(a->conn_reason), "HTTP %d", st->http_status);
		else
			snprintf(a->conn_reason, sizeof(a->conn_reason), "%s",
			    st->reason != NULL ? st->reason : "lost");
		break;
	default:
		break;
	}
	a->needs_redraw = 1;
}

static void
on_stream_error(void *arg, const char *code, const char *message, const char *field)
{
	(void)code;
	(void)field;
	app_message(arg, 1, "the event stream: %s", message);
}

static void
on_input(void *arg)
{
	(void)arg;	/* the loop reads every key after each wait */
}

/* ---- flags ---- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: outpost-top [--server URL] [--token TOKEN | --token-file FILE] "
	    "[--config FILE]\n"
	    "                   [--ca-file FILE] [--no-color] [--ascii] [--events N]\n\n"
	    "The terminal dashboard of an Outpost site: its instances, workers, definitions,\n"
	    "templates, runbooks, runs and events, live, with their actions.\n\n"
	    "  --server URL       the server (env OUTPOST_SERVER; default %s)\n"
	    "  --token TOKEN      bearer token (env OUTPOST_TOKEN)\n"
	    "  --token-file FILE  read the token from FILE's first line (env OUTPOST_TOKEN_FILE)\n"
	    "  --config FILE      the client config file (env OUTPOST_CONFIG)\n"
	    "  --ca-file FILE     the CAs (PEM) of an https:// server (env OUTPOST_CA_FILE)\n"
	    "  --no-color         no colour (also NO_COLOR set to anything)\n"
	    "  --ascii            ASCII glyphs only (the default in a non-UTF-8 locale)\n"
	    "  --events N         events the Events view keeps, 10..100000 (default 1000)\n"
	    "  -h, --help         this help      --version  the version\n\n"
	    "Settings come from a flag, else OUTPOST_* variables, else the config file, as\n"
	    "for outpost(1). Press ? inside for the keys; see outpost-top(1).\n",
	    CLIENTCONF_DEFAULT_SERVER);
}

struct flags {
	struct settings_flags set;
	int no_color;
	int ascii;
	const char *events;
};

/* Returns -1 to exit 0 (help, version), 0 to go on, 2 for a usage error. */
static int
parse_flags(int argc, char **argv, struct flags *f)
{
	static const char *const with_value[] = { "server", "token", "token-file", "config",
		"ca-file", "events", NULL };

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value = NULL;
		char n[32];
		int k;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			return -1;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("outpost-top %s\n", PACKAGE_VERSION);
			return -1;
		}
		if (strcmp(arg, "--no-color") == 0) {
			f->no_color = 1;
			continue;
		}
		if (strcmp(arg, "--ascii") == 0) {
			f->ascii = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "outpost-top: unexpected argument '%s'; try --help\n", arg);
			return 2;
		}
		name = arg + 2;
		eq = strchr(name, '=');
		snprintf(n, sizeof(n), "%.*s", eq != NULL ? (int)(eq - name) : (int)strlen(name),
		    name);
		for (k = 0; with_value[k] != NULL && strcmp(with_value[k], n) != 0; k++)
			;
		if (with_value[k] == NULL) {
			fprintf(stderr, "outpost-top: unknown option --%s; try --help\n", n);
			return 2;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		if (value == NULL) {
			fprintf(stderr, "outpost-top: --%s needs a value\n", n);
			return 2;
		}
		if (strcmp(n, "server") == 0)
			f->set.server = value;
		else if (strcmp(n, "token") == 0)
			f->set.token = value;
		else if (strcmp(n, "token-file") == 0)
			f->set.token_file = value;
		else if (strcmp(n, "config") == 0)
			f->set.config = value;
		else if (strcmp(n, "ca-file") == 0)
			f->set.ca_file = value;
		else
			f->events = value;
	}
	return 0;
}

/* ---- the loop ---- */

/* Reads every key there is; returns how many. */
static int
read_keys(struct app *a)
{
	int ch, n = 0;

	if (got_winch) {
		struct winsize ws;

		got_winch = 0;
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
			resizeterm(ws.ws_row, ws.ws_col);	/* queues KEY_RESIZE */
		a->needs_redraw = 1;
	}
	while ((ch = getch()) != ERR) {
		/* Keys act on the rows as they are drawn now: bring them up to date. */
		refresh_views(a);
		input_key(a, ch);
		n++;
		if (a->is_quitting)
			break;
	}
	return n;
}

static void
run(struct app *a)
{
	int64_t last_draw = 0;
	int has_keys = 0;

	while (!a->is_quitting && !got_quit) {
		int64_t now = now_ms(), next, wait;

		next = site_run_due(a, now);
		if (a->needs_redraw) {
			/* A key is answered at once; events wait for the frame gap. */
			if (has_keys || now - last_draw >= REDRAW_GAP_MS) {
				/* Filter and sort only for a frame: O(n log n) once, not per event. */
				refresh_views(a);
				draw_all(a);
				last_draw = now;
			} else if (next == 0 || last_draw + REDRAW_GAP_MS < next) {
				next = last_draw + REDRAW_GAP_MS;
			}
		}
		wait = next > 0 ? next - now : IDLE_WAIT_MS;
		if (wait < 1)
			wait = 1;
		evstream_service(a->es, (int)wait);
		has_keys = read_keys(a) > 0;
	}
}

int
main(int argc, char **argv)
{
	struct flags f;
	struct app *a;
	char err[2048];
	const char *nc = getenv("NO_COLOR");
	int64_t events_max = 1000;
	int rc = 0, in_fd;

	memset(&f, 0, sizeof(f));
	switch (parse_flags(argc, argv, &f)) {
	case -1:
		return 0;
	case 0:
		break;
	default:
		return 2;
	}
	if (f.events != NULL && parse_int64(f.events, 10, 100000, &events_max) != 0) {
		fprintf(stderr, "outpost-top: --events must be a whole number 10..100000, not "
		    "'%s'\n", f.events);
		return 2;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return 1;
	if (settings_resolve_flags(&a->set, &f.set, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-top: %s\n", err);
		free(a);
		return 2;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "outpost-top: needs a terminal; for scripts use outpost(1)\n");
		free(a);
		return 2;
	}
	setlocale(LC_ALL, "");
	/* evstream logs at debug level only; nothing may write over the screen. */
	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	a->use_color = !f.no_color && (nc == NULL || nc[0] == '\0');
	a->use_utf8 = !f.ascii && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	a->events_max = (size_t)events_max;
	a->conn = CONN_CONNECTING;
	if (views_init(a) != 0 || (a->http = httpc_new(a->set.server,
	    a->set.token[0] ? a->set.token : NULL)) == NULL ||
	    httpc_set_ca_file(a->http, a->set.ca_file) != 0) {
		fprintf(stderr, "outpost-top: out of memory\n");
		rc = 1;
		goto out;
	}
	httpc_set_user_agent(a->http, "outpost-top/" PACKAGE_VERSION);
	httpc_set_timeouts(a->http, 2000, 15000);
	if (site_probe_role(a, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-top: %s\n", err);
		rc = strstr(err, "refused") != NULL ? 1 : 3;
		goto out;
	}
	if (site_load(a, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpost-top: loading the site: %s\n", err);
		rc = 1;
		goto out;
	}
	{
		struct evstream_opts o = {
			.url = a->set.server,
			.token = a->set.token[0] ? a->set.token : NULL,
			.since = a->last_seq,
			.ca_file = a->set.ca_file,
			.on_event = on_event,
			.on_caught_up = on_caught_up,
			.on_state = on_state,
			.on_error = on_stream_error,
			.arg = a,
		};

		a->es = evstream_new(&o, err, sizeof(err));
	}
	if (a->es == NULL) {
		fprintf(stderr, "outpost-top: %s\n", err);
		rc = 1;
		goto out;
	}
	/* The stream closes the descriptor it watches: give it a copy of stdin. */
	if ((in_fd = dup(STDIN_FILENO)) < 0 || evstream_watch_fd(a->es, in_fd, on_input, a) != 0) {
		fprintf(stderr, "outpost-top: cannot watch the terminal: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	signal_es = a->es;
	set_signals();
	set_escdelay(25);
	initscr();
	is_curses = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	draw_init(a);
	a->needs_redraw = 1;
	run(a);
	endwin();
	is_curses = 0;
out:
	signal_es = NULL;
	evstream_free(a->es);
	httpc_free(a->http);
	pager_close(a);
	form_close(a);
	json_decref(a->alerts);
	json_decref(a->backup);
	views_free(a);
	free(a);
	return rc;
}
