/*
 * outpostd: the control plane's server. main() reads the settings, opens the
 * store, starts one libwebsockets event loop and runs it until SIGTERM, when
 * it stops taking requests, finishes the ones in flight, and exits 0.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "confread.h"
#include "backup.h"

struct app *the_app;

static volatile sig_atomic_t got_term, got_hup;
static struct lws_context *sig_ctx;

static struct config_flags flags;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outpostd [options]\n"
	    "       outpostd token create --role ROLE --name NAME [--state-dir DIR] [--config FILE]\n"
	    "\n"
	    "The Outpost server: the REST API and event stream of one site.\n"
	    "\n"
	    "  --listen HOST:PORT      address to serve (default 127.0.0.1:8080; port 0 picks one)\n"
	    "  --state-dir DIR         database and admin token (default ./var, or $STATE_DIRECTORY)\n"
	    "  --config FILE           config file (default " SYSCONFDIR "/outpost/outpostd.conf if present)\n"
	    "  --log-format FORMAT     json, text or auto (text on a terminal; default auto)\n"
	    "  --log-level LEVEL       debug, info, warn or error (default info)\n"
	    "  --template-dir DIR      worker templates, one NAME.json each (default\n"
	    "                          " SYSCONFDIR "/outpost/templates)\n"
	    "  --agent-program FILE    the outpost-agent the local provisioner starts\n"
	    "  --public-url URL        how hosts a command provisioner makes reach this server\n"
	    "  --runbook-dir DIR       runbooks, one NAME.json each (default\n"
	    "                          " SYSCONFDIR "/outpost/runbooks)\n"
	    "  --alerts-file FILE      alert rules (default " SYSCONFDIR "/outpost/alerts.json,\n"
	    "                          if present)\n"
	    "  --web-dir DIR           the web app's files, served at / (default\n"
	    "                          " WEBDIR ")\n"
	    "  --api-program-provisioners true|false\n"
	    "                          may PUT /api/v1/templates name programs to run\n"
	    "                          here (default false: only template files may)\n"
	    "  --backup-interval D, --backup-at HH:MM, --backup-dir DIR, --backup-keep N,\n"
	    "  --backup-max-age D      scheduled backups (default: none)\n"
	    "  --check                 say what a start would find (settings, the database,\n"
	    "                          a running server, migrations to run), changing nothing\n"
	    "  --version               print the version and exit\n"
	    "  --help                  print this and exit\n"
	    "\n"
	    "Every setting is also a config file key and an OUTPOST_* variable (listen,\n"
	    "OUTPOST_LISTEN); flags win over variables, variables over the file.\n"
	    "outpostd restore FILE and outpostd restore-drill [FILE]: see --help of each.\n"
	    "Signals: SIGTERM finishes requests in flight and exits 0; SIGHUP reloads the config,\n"
	    "the templates, the runbooks and the alert rules.\n"
	    "See outpostd(8).\n");
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
	if (sig_ctx != NULL)
		lws_cancel_service(sig_ctx);
}

static int
load_config(struct server_config *c, char *err, size_t errlen)
{
	return server_config_load(&flags, c, err, errlen);
}

static void
lws_log_emit(int level, const char *line)
{
	log_external(level & LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", line);
}

static void
notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

#ifdef HAVE_SYSTEMD
/* The watchdog and the STATUS= line, from a timer on the loop itself. */
static lws_sorted_usec_list_t watchdog_sul;
static lws_usec_t watchdog_period;

static void
watchdog_tick(lws_sorted_usec_list_t *sul)
{
	char status[160];
	json_t *c = instance_counts(the_app->store);

	snprintf(status, sizeof(status), "WATCHDOG=1\nSTATUS=serving: %lld running, %lld pending, "
	    "%d requests in flight", (long long)json_integer_value(json_object_get(c, "running")),
	    (long long)json_integer_value(json_object_get(c, "pending")), the_app->in_flight);
	json_decref(c);
	notify(status);
	lws_sul_schedule(the_app->lws, 0, sul, watchdog_tick, watchdog_period);
}
#endif

/* After every commit with events: wake the websocket clients, and the scheduler. */
static void
on_commit(void *ctx)
{
	events_ws_wake(ctx);
	timers_kick();
}

/* While draining, the loop must come round often enough to see the deadline. */
static lws_sorted_usec_list_t drain_sul;

static void
drain_tick(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(the_app->lws, 0, sul, drain_tick, 50 * LWS_US_PER_MS);
}

static void
reload(struct app *a)
{
	struct server_config c;
	char err[512];

	if (load_config(&c, err, sizeof(err)) != 0) {
		log_error("config.reload", "error", err, "outcome", "kept the running config", NULL);
		return;
	}
	if (strcmp(c.listen_host, a->cfg.listen_host) != 0 || c.listen_port != a->cfg.listen_port ||
	    strcmp(c.tls_host, a->cfg.tls_host) != 0 || c.tls_port != a->cfg.tls_port ||
	    strcmp(c.state_dir, a->cfg.state_dir) != 0)
		log_warn("config.reload", "detail", "listen, tls_listen and state_dir change only "
		    "on restart", NULL);
	/* New handshakes get the files' certificate; open connections keep theirs. */
	if (c.tls_port == a->cfg.tls_port) {
		if (tls_reload(&c, err, sizeof(err)) != 0)
			log_error("tls.reload", "error", err, "outcome", "kept the running certificate",
			    NULL);
		snprintf(a->cfg.tls_cert, sizeof(a->cfg.tls_cert), "%s", c.tls_cert);
		snprintf(a->cfg.tls_key, sizeof(a->cfg.tls_key), "%s", c.tls_key);
	}
	a->cfg.trusted_proxies = c.trusted_proxies;
	a->cfg.log_format = c.log_format;
	a->cfg.log_level = c.log_level;
	a->cfg.ws_max_lag = c.ws_max_lag;
	a->cfg.shutdown_grace_ms = c.shutdown_grace_ms;
	a->cfg.worker_offline_after_ms = c.worker_offline_after_ms;
	a->cfg.worker_lost_after_ms = c.worker_lost_after_ms;
	a->cfg.rate_limit = c.rate_limit;
	a->cfg.rate_burst = c.rate_burst ? c.rate_burst : c.rate_limit * 2;
	a->cfg.sched_policy = c.sched_policy;
	a->cfg.lead_time_ms = c.lead_time_ms;
	a->cfg.scheduler_interval_ms = c.scheduler_interval_ms;
	a->cfg.instance_retention_ms = c.instance_retention_ms;
	a->cfg.hook_timeout_ms = c.hook_timeout_ms;
	snprintf(a->cfg.agent_program, sizeof(a->cfg.agent_program), "%s", c.agent_program);
	snprintf(a->cfg.template_dir, sizeof(a->cfg.template_dir), "%s", c.template_dir);
	snprintf(a->cfg.public_url, sizeof(a->cfg.public_url), "%s", c.public_url);
	snprintf(a->cfg.web_dir, sizeof(a->cfg.web_dir), "%s", c.web_dir);
	snprintf(a->cfg.bootstrap_css, sizeof(a->cfg.bootstrap_css), "%s", c.bootstrap_css);
	a->cfg.session_ttl_ms = c.session_ttl_ms;	/* for sessions made from now on */
	a->cfg.api_program_provisioners = c.api_program_provisioners;
	a->cfg.max_connections = c.max_connections;	/* for connections accepted from now on */
	a->cfg.max_connections_per_address = c.max_connections_per_address;
	a->cfg.body_timeout_ms = c.body_timeout_ms;
	a->cfg.db_max_size_mb = c.db_max_size_mb;
	a->cfg.backup_interval_ms = c.backup_interval_ms;	/* backup_dir changes on restart */
	a->cfg.backup_at = c.backup_at;
	a->cfg.backup_keep = c.backup_keep;
	a->cfg.backup_max_age_ms = c.backup_max_age_ms;
	store_set_max_size(a->store, a->cfg.db_max_size_mb);
	if (templates_load_dir(a->store, a->cfg.template_dir, 0, err, sizeof(err)) != 0)
		log_error("config.reload", "error", err, "outcome", "the other templates loaded", NULL);
	snprintf(a->cfg.runbook_dir, sizeof(a->cfg.runbook_dir), "%s", c.runbook_dir);
	snprintf(a->cfg.alerts_file, sizeof(a->cfg.alerts_file), "%s", c.alerts_file);
	runbooks_load_dir(a->cfg.runbook_dir);	/* a bad file is logged; the others load */
	if (alerts_load(a->store, a->cfg.alerts_file, err, sizeof(err)) != 0)
		log_error("config.reload", "error", err, "outcome", "kept the alert rules", NULL);
	timers_kick();
	log_setup(c.log_format, c.log_level);
	log_info("config.reloaded", "config", c.config_path, NULL);
}

static lws_sorted_usec_list_t sync_sul;

/* A put-off sync is due: nothing to do here but let the loop come round to it. */
static void
sync_due(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

/* The sync thread's call when a sync ends (store_sync.c): from any thread. */
static struct lws_context *wake_ctx;

static void
wake_loop(void)
{
	if (wake_ctx != NULL)
		lws_cancel_service(wake_ctx);
}

/*
 * Group commit, at each turn of the loop (store_sync.c): the syncs that ended
 * (in the sync thread, which woke the loop) let the answers they hold go out
 * and the streams send on; what was committed and not yet asked of the
 * thread is asked now (heartbeats alone may wait for more: store_sync.c).
 * A sync that failed (logged) ends the process at once, without the usual
 * shutdown: its steps write (a run marked, the WAL checkpointed at close),
 * and a second sync could say yes to pages the kernel has already dropped.
 */
static void
sync_turn(struct app *a)
{
	int64_t due;
	int rc = store_sync(a->store);

	if (rc < 0)
		_exit(1);
	if (rc == 1) {
		http_release_held();
		/*
		 * The streams wake only if the sync made events visible (events_ws_wake
		 * looks): a turn of heartbeats alone (1,000 agents: 200 a second) would
		 * otherwise wake every websocket for nothing, O(clients) a turn.
		 */
		events_ws_wake(a->lws);
	}
	/* Heartbeats alone wait for company (store_sync.c): wake the loop for them. */
	if ((due = store_sync_due_ms()) >= 0)
		lws_sul_schedule(a->lws, 0, &sync_sul, sync_due, due * LWS_US_PER_MS + 1);
}

/*
 * Did the listening socket bind where it was asked? libwebsockets resolves
 * the address through the interface list, and when it cannot read that list
 * (a sandbox without netlink) it binds every interface and says so only in
 * its own log. A server asked for 127.0.0.1 must never listen on 0.0.0.0, so
 * the listening sockets are found among our descriptors and checked.
 * Returns 0, or -1 after saying what is wrong.
 */
static int
is_any_host(const char *host)
{
	return host != NULL && (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0);
}

/* host is listen's; tls_host tls_listen's, or NULL. */
static int
check_bound(const char *host, const char *tls_host)
{
	int is_any_wanted = is_any_host(host) || is_any_host(tls_host);
	int found = 0;

	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int acc = 0;
		socklen_t alen = sizeof(acc);
		char addr[INET6_ADDRSTRLEN] = "";
		int is_any;

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) != 0 || !acc)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
			continue;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			is_any = in->sin_addr.s_addr == htonl(INADDR_ANY);
			inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			is_any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
			inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		} else {
			continue;
		}
		found++;
		if (is_any && !is_any_wanted) {
			fprintf(stderr, "outpostd: asked to listen on %s%s%s but bound every interface "
			    "(%s); libwebsockets could not read the interface list (under systemd, "
			    "allow AF_NETLINK); refusing to serve\n", host, tls_host ? " and " : "",
			    tls_host ? tls_host : "", addr);
			return -1;
		}
	}
	if (found == 0) {
		fprintf(stderr, "outpostd: no listening socket was made for %s\n", host);
		return -1;
	}
	return 0;
}

/*
 * The state directory holds the database and the admin token: 0700, even
 * when it was made before us (by hand, a package, an older outpostd) with
 * another mode. Says when it changed it; -1 after saying why it cannot.
 */
static int
state_dir_tighten(const char *dir)
{
	struct stat sb;
	char was[8];

	if (stat(dir, &sb) != 0) {
		fprintf(stderr, "outpostd: the state directory %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "outpostd: the state directory %s is not a directory\n", dir);
		return -1;
	}
	if ((sb.st_mode & 07777) == 0700)
		return 0;
	snprintf(was, sizeof(was), "%04o", (unsigned)(sb.st_mode & 07777));
	if (chmod(dir, 0700) != 0) {
		fprintf(stderr, "outpostd: cannot make the state directory %s 0700 (it is %s): %s\n",
		    dir, was, strerror(errno));
		return -1;
	}
	log_warn("state_dir.tightened", "dir", dir, "from", was, "to", "0700", NULL);
	return 0;
}

static int
is_ipv4(const char *host)
{
	return strchr(host, ':') == NULL;
}

int
main(int argc, char **argv)
{
	static struct app app;
	static const lws_retry_bo_t retry = { .secs_since_valid_ping = 30,
		.secs_since_valid_hangup = 70 };
	lws_retry_bo_t ping = retry;
	struct lws_context_creation_info info;
	struct op_err oerr = { 0 };
	char err[512], path[PATH_BUF_MAX], url[300], tls_url[300] = "", port[16];
	struct sigaction sa;
	struct rlimit rl;
	int64_t deadline = 0;
	int rc = 1, is_check;

	log_set_program("outpostd");
	/*
	 * SQLite's count of its own memory takes a global mutex at every malloc
	 * and free (4% of a burst of creates' CPU); nothing here reads it.
	 * Before any other call into SQLite, or it is refused.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Subcommands on backups (restore.c), with the server's settings. */
	if (argc > 1 && (strcmp(argv[1], "restore") == 0 || strcmp(argv[1], "restore-drill") == 0))
		return restore_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return token_cmd(argc - 1, argv + 1);	/* tokencmd.c */
	is_check = check_flag_take(&argc, argv);	/* check.c */
	switch (config_parse_flags(argc, argv, "outpostd", server_config_keys, &flags)) {
	case CONFIG_FLAGS_HELP:
		usage(stdout);
		return 0;
	case CONFIG_FLAGS_VERSION:
		printf("outpostd %s\n", PACKAGE_VERSION);
		return 0;
	case CONFIG_FLAGS_BAD:
		return 2;
	case CONFIG_FLAGS_OK:
		break;
	}
	if (load_config(&app.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: %s\n", err);
		return 2;
	}
	/* A certificate that will not load is a setting's error, found before anything is made. */
	if (tls_check(&app.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: %s\n", err);
		return 2;
	}
	if (is_check)
		return check_run(&app.cfg);
	log_setup(app.cfg.log_format, app.cfg.log_level);
	if (app.cfg.rate_burst == 0)
		app.cfg.rate_burst = app.cfg.rate_limit * 2;
	the_app = &app;
	app.started_at = now_ms();
	snprintf(app.boot_id, sizeof(app.boot_id), "%08llx",
	    (unsigned long long)((app.started_at ^ ((int64_t)getpid() << 20)) & 0xffffffffLL));

	/* The database holds token hashes: nothing outpostd makes is for others to read. */
	umask(077);
	if (mkdir_p(app.cfg.state_dir, 0700) != 0) {
		fprintf(stderr, "outpostd: cannot make the state directory %s: %s\n",
		    app.cfg.state_dir, strerror(errno));
		return 1;
	}
	if (state_dir_tighten(app.cfg.state_dir) != 0 || state_lock_take(app.cfg.state_dir) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/outpost.db", app.cfg.state_dir);
	app.store = store_open(path, &oerr);
	if (app.store == NULL || backup_migrate(app.store, &app.cfg, &oerr) != 0) {
		fprintf(stderr, "outpostd: %s\n", oerr.message);
		goto out;
	}
	store_set_max_size(app.store, app.cfg.db_max_size_mb);
	if (auth_load(app.store) != 0 || sessions_load(app.store) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/admin.token", app.cfg.state_dir);
	if (auth_bootstrap(app.store, path) != 0)
		goto out;

	/* lws sizes its descriptor table from the limit: keep it large but finite. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	ping.secs_since_valid_ping = (uint16_t)(app.cfg.ws_ping_interval_ms / 1000);
	ping.secs_since_valid_hangup = (uint16_t)(ping.secs_since_valid_ping * 2 + 10);
	memset(&info, 0, sizeof(info));
	/* The context first, then a vhost per listener: plain, and TLS when asked. */
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = server_protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (app.cfg.tls_port >= 0)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.max_http_header_data = 8192;
	/* Bodies are read this much a call (4 KiB by default): a 1 MiB body, or a refused one
	 * drained, in 16 reads rather than 256. */
	info.pt_serv_buf_size = 64 * 1024;
	info.retry_and_idle_policy = &ping;
	app.lws = lws_create_context(&info);
	if (app.lws == NULL) {
		fprintf(stderr, "outpostd: cannot start libwebsockets\n");
		goto out;
	}
	info.port = app.cfg.listen_port;
	info.iface = app.cfg.listen_host[0] ? app.cfg.listen_host : NULL;
	if (info.iface != NULL && is_ipv4(info.iface))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.vhost_name = "outpost";
	if (lws_create_vhost(app.lws, &info) == NULL) {
		fprintf(stderr, "outpostd: cannot serve on %s:%d (is the address in use?)\n",
		    app.cfg.listen_host, app.cfg.listen_port);
		goto out;
	}
	if (tls_listen(app.lws, &info, &app.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: %s\n", err);
		goto out;
	}
	if (check_bound(app.cfg.listen_host, app.cfg.tls_port >= 0 ? app.cfg.tls_host : NULL) != 0)
		goto out;
	sig_ctx = app.lws;
	events_set_notify(on_commit, app.lws);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(port, sizeof(port), "%d",
	    lws_get_vhost_listen_port(lws_get_vhost_by_name(app.lws, "outpost")));
	snprintf(url, sizeof(url), "http://%s%s%s:%s", strchr(app.cfg.listen_host, ':') ? "[" : "",
	    app.cfg.listen_host[0] ? app.cfg.listen_host : "0.0.0.0",
	    strchr(app.cfg.listen_host, ':') ? "]" : "", port);
	/* The local provisioner's agents reach us on loopback when we serve every address. */
	if (app.cfg.listen_host[0] == '\0' || strcmp(app.cfg.listen_host, "0.0.0.0") == 0)
		snprintf(app.url, sizeof(app.url), "http://127.0.0.1:%s", port);
	else if (strcmp(app.cfg.listen_host, "::") == 0)
		snprintf(app.url, sizeof(app.url), "http://[::1]:%s", port);
	else
		snprintf(app.url, sizeof(app.url), "%s", url);
	if (templates_load_dir(app.store, app.cfg.template_dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: template %s\n", err);
		rc = 2;
		goto out;
	}
	runbooks_load_dir(app.cfg.runbook_dir);
	if (alerts_load(app.store, app.cfg.alerts_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: alert rules %s\n", err);
		rc = 2;
		goto out;
	}
	/* Spans from here on (otlp.c); off without an endpoint. */
	if (otlp_start(app.cfg.otlp_endpoint, "outpostd", url, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd: %s\n", err);
		rc = 2;
		goto out;
	}
	runs_recover(&app);
	timers_start(&app);
	app.is_ready = 1;
	if (app.cfg.tls_port >= 0)
		snprintf(tls_url, sizeof(tls_url), "https://%s%s%s:%d",
		    strchr(app.cfg.tls_host, ':') ? "[" : "",
		    app.cfg.tls_host[0] ? app.cfg.tls_host : "0.0.0.0",
		    strchr(app.cfg.tls_host, ':') ? "]" : "", tls_port(app.lws));
	log_info("outpostd.listening", "url", url, "state_dir", app.cfg.state_dir,
	    "version", PACKAGE_VERSION, tls_url[0] ? "tls_url" : NULL, tls_url, NULL);
	notify("READY=1\nSTATUS=serving");
#ifdef HAVE_SYSTEMD
	{
		uint64_t usec = 0;

		if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
			watchdog_period = (lws_usec_t)usec / 2;
			lws_sul_schedule(app.lws, 0, &watchdog_sul, watchdog_tick, watchdog_period);
		}
	}
#endif

	{
		struct op_err e = { 0 };

		if (store_group_start(app.store, &e) != 0) {
			fprintf(stderr, "outpostd: the database: %s\n", e.message);
			rc = 1;
			goto out;
		}
		wake_ctx = app.lws;
		(void)store_sync_thread_start(wake_loop);	/* or the loop syncs: logged */
	}
	rc = 0;
	for (;;) {
		/* What the last turn committed goes to disk before anything it made is said. */
		sync_turn(&app);
		if (lws_service(app.lws, 0) < 0) {
			log_error("outpostd.loop", "error", "the event loop failed", NULL);
			rc = 1;
			break;
		}
		store_idle(app.store);
		children_service();
		if (got_hup) {
			got_hup = 0;
			notify("RELOADING=1");
			reload(&app);
			notify("READY=1");
		}
		if (got_term && !app.is_draining) {
			app.is_draining = 1;
			deadline = now_ms() + app.cfg.shutdown_grace_ms;
			notify("STOPPING=1");
			log_info("outpostd.stopping", "detail", "finishing requests in flight", NULL);
			lws_sul_schedule(app.lws, 0, &drain_sul, drain_tick, 50 * LWS_US_PER_MS);
		}
		if (app.is_draining && (app.in_flight <= 0 || now_ms() >= deadline))
			break;
	}
	log_info("outpostd.stopped", NULL);
	runs_shutdown(&app);
	scaler_shutdown();
out:
	/* Its wake-up is the context's: the sync running ends, and the thread, before it goes. */
	if (store_sync_thread_stop() < 0)
		_exit(1);	/* that sync failed (logged): as in sync_turn */
	wake_ctx = NULL;
	sig_ctx = NULL;
	timers_stop();
	otlp_stop();
	events_set_notify(NULL, NULL);
	if (app.lws != NULL)
		lws_context_destroy(app.lws);
	lifecycle_free();
	runs_free();
	alerts_free();
	runbooks_free();
	scaler_free();
	children_free();
	http_cache_clear();
	door_free();
	events_ws_free();
	events_shutdown();
	auth_free();
	sessions_free();
	metrics_free();
	store_close(app.store);
	return rc;
}
