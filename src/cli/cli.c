/*
 * What every command does the same way: report an error and pick the exit
 * code, talk to the server, print JSON, follow pages. Commands never call
 * exit(); they return the code and main returns it.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evstream.h"

int
settings_resolve(struct settings *s, const struct args *a, char *err, size_t errlen)
{
	struct settings_flags f = {
		.server = args_get(a, "server"),
		.token = args_get(a, "token"),
		.token_file = args_get(a, "token-file"),
		.config = args_get(a, "config"),
		.ca_file = args_get(a, "ca-file"),
	};

	return settings_resolve_flags(s, &f, err, errlen);
}

int
cli_fail(int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Server text may end up here: keep control characters off the terminal. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fflush(stdout);
	fprintf(stderr, "outpost: %s\n", msg);
	return code;
}

static struct httpc *
cli_http(struct cli *c)
{
	if (c->http == NULL) {
		c->http = httpc_new(c->set.server, c->set.token[0] != '\0' ? c->set.token : NULL);
		if (c->http != NULL)
			httpc_set_user_agent(c->http, "outpost-cli");
		if (c->http != NULL && httpc_set_ca_file(c->http, c->set.ca_file) != 0) {
			httpc_free(c->http);
			c->http = NULL;
		}
	}
	return c->http;
}

/* Prints why an answer is a refusal and returns CLI_REFUSED. */
static int
report_refusal(struct cli *c, const struct httpc_resp *r)
{
	const char *code, *message, *field;
	char snippet[200];

	if (httpc_resp_error(r, &code, &message, &field) == 0 && message[0] != '\0') {
		const char *hint = "";

		if (r->status == 401 && c->set.token[0] == '\0')
			hint = " (no token given: use --token, --token-file or OUTPOST_TOKEN)";
		if (field[0] != '\0')
			return cli_fail(CLI_REFUSED, "%s (field: %s)%s", message, field, hint);
		return cli_fail(CLI_REFUSED, "%s%s", message, hint);
	}
	snprintf(snippet, sizeof(snippet), "%s", r->body != NULL ? r->body : "");
	snippet[strcspn(snippet, "\r\n")] = '\0';
	if (snippet[0] != '\0')
		return cli_fail(CLI_REFUSED, "the server answered HTTP %d: %s", r->status, snippet);
	return cli_fail(CLI_REFUSED, "the server answered HTTP %d", r->status);
}

int
cli_call(struct cli *c, const char *method, const char *path, json_t *body,
    struct httpc_resp *resp)
{
	struct httpc *h = cli_http(c);
	char *text = NULL;
	int rc;

	httpc_resp_init(resp);
	if (h == NULL)
		return cli_fail(CLI_UNREACHABLE, "cannot set up an HTTP client for %s",
		    c->set.server);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return cli_fail(CLI_USAGE, "out of memory");
	rc = httpc_request(h, method, path, text, resp);
	free(text);
	if (rc != 0) {
		int code = resp->fail == HTTPC_FAIL_TOO_LARGE ? CLI_REFUSED : CLI_UNREACHABLE;

		rc = cli_fail(code, "cannot reach the server at %s: %s", c->set.server,
		    resp->error);
		httpc_resp_free(resp);
		return rc;
	}
	if (resp->status < 200 || resp->status > 299) {
		rc = report_refusal(c, resp);
		httpc_resp_free(resp);
		return rc;
	}
	return CLI_OK;
}

int
cli_call_json(struct cli *c, const char *method, const char *path, json_t *body,
    struct httpc_resp *resp)
{
	int rc = cli_call(c, method, path, body, resp);

	if (rc != CLI_OK)
		return rc;
	if (!json_is_object(resp->json) && !json_is_array(resp->json)) {
		httpc_resp_free(resp);
		return cli_fail(CLI_REFUSED, "the server's answer to %s %s is not JSON", method,
		    path);
	}
	return CLI_OK;
}

int
cli_print_json(struct cli *c, json_t *j)
{
	if (json_dumpf(j, c->out_file, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0)
		return -1;
	return fputc('\n', c->out_file) == EOF ? -1 : 0;
}

int
cli_finish(struct cli *c)
{
	if (fflush(c->out_file) != 0 || ferror(c->out_file)) {
		if (errno == EPIPE)
			return CLI_OK;	/* the reader went away: nothing left to say */
		return cli_fail(CLI_REFUSED, "cannot write the output: %s", strerror(errno));
	}
	return CLI_OK;
}

char *
cli_path(const char *base, const char *name, const char *suffix)
{
	return httpc_path(base, name, suffix);
}

int
cli_say(struct cli *c, const char *fmt, ...)
{
	struct sbuf line;
	va_list ap;
	int rc;

	sbuf_init(&line);
	va_start(ap, fmt);
	rc = sbuf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (rc == 0 && (view_write_text(c->out_file, line.p, line.len, TEXT_ONE_LINE) != 0 ||
	    fputc('\n', c->out_file) == EOF))
		rc = -1;
	sbuf_free(&line);
	return rc;
}

static struct evstream *volatile stream_running;

static void
stream_signal(int sig)
{
	struct evstream *es = stream_running;

	(void)sig;
	if (es != NULL)
		evstream_stop(es);
}

void
cli_run_stream(struct evstream *es)
{
	struct sigaction sa, old_int, old_term;
	sigset_t block, prev;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stream_signal;
	sigemptyset(&sa.sa_mask);
	stream_running = es;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	evstream_run(es);
	/* No handler may see the stream once the caller frees it. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &prev);
	stream_running = NULL;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigprocmask(SIG_SETMASK, &prev, NULL);
}

int
cli_id_arg(const char *what, const char *s, int64_t *id)
{
	char err[256];

	if (arg_int(what, s, 1, INT64_MAX, id, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	return CLI_OK;
}

int
cli_parse_object(const char *name, const char *text, size_t len, const char *what, json_t **out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	*out = NULL;
	j = json_loadb(text != NULL ? text : "", len, 0, &jerr);
	if (j == NULL) {
		snprintf(err, errlen, "%s:%d:%d: not valid JSON: %s", name, jerr.line, jerr.column,
		    jerr.text);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "%s: %s is a JSON object", name, what);
		return -1;
	}
	*out = j;
	return 0;
}

/* Reads all of f up to CLI_MAX_INPUT bytes. */
static int
read_bounded(FILE *f, const char *name, struct sbuf *b)
{
	char chunk[8192];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->len + n > CLI_MAX_INPUT)
			return cli_fail(CLI_USAGE, "%s: larger than the server's limit of %zu "
			    "bytes", name, CLI_MAX_INPUT);
		if (sbuf_append(b, chunk, n) != 0)
			return cli_fail(CLI_USAGE, "%s: out of memory", name);
	}
	if (ferror(f))
		return cli_fail(CLI_USAGE, "%s: cannot read: %s", name, strerror(errno));
	return CLI_OK;
}

int
cli_read_object(const char *path, const char *what, json_t **out)
{
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	struct sbuf text;
	char err[1024];
	FILE *f;
	int rc;

	*out = NULL;
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL)
		return cli_fail(CLI_USAGE, "-f %s: cannot open: %s", path, strerror(errno));
	sbuf_init(&text);
	rc = read_bounded(f, name, &text);
	if (f != stdin)
		fclose(f);
	if (rc == CLI_OK && cli_parse_object(name, text.p, text.len, what, out, err,
	    sizeof(err)) != 0)
		rc = cli_fail(CLI_USAGE, "%s", err);
	sbuf_free(&text);
	return rc;
}

/* Appends "after=cursor" to base; the caller frees the result. */
static char *
page_path(const char *base, const char *cursor)
{
	struct sbuf b;

	sbuf_init(&b);
	if (sbuf_puts(&b, base) != 0 || httpc_query_add(&b, "after", cursor) != 0) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_steal(&b);
}

int
cli_print_answer(struct cli *c, struct httpc_resp *r)
{
	if (c->out == OUT_JSON)
		cli_print_json(c, r->json);
	else
		view_object(c, r->json);
	httpc_resp_free(r);
	return cli_finish(c);
}

int
cli_show(struct cli *c, const char *path)
{
	struct httpc_resp r;
	int rc = cli_call_json(c, "GET", path, NULL, &r);

	return rc != CLI_OK ? rc : cli_print_answer(c, &r);
}

int
cli_list_query(struct cli *c, const char *base, const char *const *passed,
    const struct column *cols, const struct args *a)
{
	struct sbuf path;
	char err[256];
	int64_t limit;
	int rc;

	if (args_has(a, "limit") &&
	    arg_int("--limit", args_get(a, "limit"), 1, 500, &limit, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	if (args_has(a, "after") && args_has(a, "all"))
		return cli_fail(CLI_USAGE, "--after and --all cannot be used together");
	sbuf_init(&path);
	sbuf_puts(&path, base);
	for (size_t i = 0; passed != NULL && passed[i] != NULL; i++)
		httpc_query_add(&path, passed[i], args_get(a, passed[i]));
	httpc_query_add(&path, "limit", args_get(a, "limit"));
	httpc_query_add(&path, "after", args_get(a, "after"));
	rc = path.p != NULL ? cli_list(c, path.p, cols, args_has(a, "all")) :
	    cli_fail(CLI_USAGE, "out of memory");
	sbuf_free(&path);
	return rc;
}

int
cli_list(struct cli *c, const char *path, const struct column *cols, int follow_all)
{
	struct httpc_resp r;
	json_t *all = json_array(), *last = NULL;
	char *cur = strdup(path), *prev_cursor = NULL;
	const char *cursor = NULL;
	int rc = CLI_OK;

	if (all == NULL || cur == NULL) {
		rc = cli_fail(CLI_USAGE, "out of memory");
		goto done;
	}
	for (;;) {
		json_t *items;
		char *next_path;

		rc = cli_call_json(c, "GET", cur, NULL, &r);
		if (rc != CLI_OK)
			goto done;
		items = json_object_get(r.json, "items");
		if (!json_is_array(items)) {
			httpc_resp_free(&r);
			rc = cli_fail(CLI_REFUSED, "the server's answer to GET %s has no items",
			    cur);
			goto done;
		}
		json_array_extend(all, items);
		if (last != NULL)
			json_decref(last);
		last = json_incref(r.json);
		cursor = json_string_value(json_object_get(r.json, "next"));
		httpc_resp_free(&r);
		if (!follow_all || cursor == NULL || cursor[0] == '\0')
			break;
		/* A server that repeats its cursor would keep us here forever. */
		if (prev_cursor != NULL && strcmp(prev_cursor, cursor) == 0) {
			rc = cli_fail(CLI_REFUSED, "the server repeated the page cursor '%s'",
			    cursor);
			goto done;
		}
		free(prev_cursor);
		prev_cursor = strdup(cursor);
		next_path = page_path(path, cursor);
		if (prev_cursor == NULL || next_path == NULL) {
			free(next_path);
			rc = cli_fail(CLI_USAGE, "out of memory");
			goto done;
		}
		free(cur);
		cur = next_path;
	}
	if (c->out == OUT_JSON) {
		if (follow_all) {
			json_t *merged = json_pack("{s:O,s:n}", "items", all, "next");

			cli_print_json(c, merged);
			json_decref(merged);
		} else {
			cli_print_json(c, last);
		}
	} else {
		view_table(c, all, cols);
		if (cursor != NULL && cursor[0] != '\0')
			fprintf(stderr, "outpost: more items follow: add --all, or --after %s\n",
			    cursor);
	}
	rc = cli_finish(c);
done:
	if (last != NULL)
		json_decref(last);
	json_decref(all);
	free(cur);
	free(prev_cursor);
	return rc;
}
