/*
 * outpost, the command line: the types every cmd_<noun>.c shares. A noun
 * (instance) has a table of subcommands (create, list, ...); main.c holds
 * the table of nouns. Adding a command is a row in a table; adding a noun
 * is a file and a row.
 *
 * Exit codes: 0 done; 1 the server refused; 2 usage error; 3 the server
 * could not be reached.
 */
#ifndef OUTPOST_CLI_H
#define OUTPOST_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "clientconf.h"
#include "fmt.h"
#include "httpc.h"
#include "state.h"
#include "table.h"

enum cli_exit {
	CLI_OK = 0,
	CLI_REFUSED = 1,
	CLI_USAGE = 2,
	CLI_UNREACHABLE = 3
};

#define CLI_DEFAULT_SERVER CLIENTCONF_DEFAULT_SERVER
#define CLI_MAX_INPUT ((size_t)1024 * 1024)	/* the server's request body bound */

enum cli_output { OUT_TABLE, OUT_JSON };

struct cli {
	struct settings set;
	enum cli_output out;
	int use_color;
	struct httpc *http;	/* made on first use */
	FILE *out_file;		/* stdout; tests may swap it */
	const char *verb;	/* the command's verb: what an action's POST is named */
};

struct cmd_entry {
	const char *name;	/* the verb; NULL ends a table */
	const char *usage;	/* what follows "outpost NOUN VERB" */
	const char *help;	/* one line */
	const struct opt_spec *opts;	/* this command's options, NULL-name ended */
	int is_paged;		/* it also takes cli_page_opts: --limit, --after, --all */
	int min_pos;
	int max_pos;
	int (*exec)(struct cli *c, const struct args *a);
};

struct cmd_noun {
	const char *name;
	const char *help;
	const struct cmd_entry *cmds;
	int is_verbless;	/* "outpost events": the noun runs cmds[0] */
};

/* The options of a list that pages: --limit N, --after CURSOR, --all. */
extern const struct opt_spec cli_page_opts[];

extern const struct cmd_entry cmd_definition_entries[];
extern const struct cmd_entry cmd_instance_entries[];
extern const struct cmd_entry cmd_worker_entries[];
extern const struct cmd_entry cmd_events_entries[];
extern const struct cmd_entry cmd_token_entries[];
extern const struct cmd_entry cmd_template_entries[];
extern const struct cmd_entry cmd_runbook_entries[];
extern const struct cmd_entry cmd_run_entries[];
extern const struct cmd_entry cmd_alert_entries[];
extern const struct cmd_entry cmd_backup_entries[];

/* ---- cli.c ---- */

/*
 * Resolves server and token (clientconf.h) from the flags in a (--server,
 * --token, --token-file, --config). Returns 0, or -1 with err (a usage error).
 */
int settings_resolve(struct settings *s, const struct args *a, char *err, size_t errlen);

/* Prints "outpost: MESSAGE" to stderr and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Sends a request (body borrowed, may be NULL). On success (2xx) returns 0
 * with *resp to free; otherwise prints why and returns the exit code
 * (CLI_REFUSED or CLI_UNREACHABLE), resp already freed.
 */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body,
    struct httpc_resp *resp);
/* Like cli_call, but a 2xx answer must be a JSON object or array. */
int cli_call_json(struct cli *c, const char *method, const char *path, json_t *body,
    struct httpc_resp *resp);

/* Pretty JSON (two-space indent) and a newline on the output. */
int cli_print_json(struct cli *c, json_t *j);
/* Flushes the output; a failure (a closed pipe) is reported. */
int cli_finish(struct cli *c);

/* "BASE/NAME" plus suffix, NAME URL-encoded ("/api/v1/workers/", "local-1", "/drain"); NULL for "". */
char *cli_path(const char *base, const char *name, const char *suffix);
/* One line on the output, with control characters of server text as '?'. */
int cli_say(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct evstream;
/* Runs es until it stops; SIGINT and SIGTERM stop it. */
void cli_run_stream(struct evstream *es);

/* Checks a positional resource id (a positive integer). */
int cli_id_arg(const char *what, const char *s, int64_t *id);

/*
 * Parses len bytes of text read from name (a path, or "stdin") as one JSON
 * object; what names it in the error ("a template"). Returns 0 with *out
 * to decref, or -1 with err: "lab.json:2:9: not valid JSON: ...",
 * "lab.json: a template is a JSON object".
 */
int cli_parse_object(const char *name, const char *text, size_t len, const char *what,
    json_t **out, char *err, size_t errlen);
/*
 * Reads the JSON object of -f path ("-" reads stdin), up to CLI_MAX_INPUT
 * bytes, as cli_parse_object parses it. Returns CLI_OK with *out to decref,
 * or prints why and returns CLI_USAGE.
 */
int cli_read_object(const char *path, const char *what, json_t **out);

/* ---- complete.c ---- */

/*
 * outpost __complete WORD... CUR: prints what may come at CUR (the last word)
 * after the others, one a line, from nouns and globals and the commands'
 * tables; ":file" when CUR is a file name. Returns the exit code.
 */
int cli_complete(const struct cmd_noun *nouns, const struct opt_spec *globals, int argc,
    char **argv);

/* ---- cmd_template.c ---- */

/*
 * The name a template's JSON holds, for the path it is applied to; from
 * names the file in the error ("lab.json: field 'name' is missing; ...").
 * *name points into spec. Returns 0, or -1 with err.
 */
int template_name_of(json_t *spec, const char *from, const char **name, char *err,
    size_t errlen);

/* ---- view.c: JSON into tables (cells and columns from src/common's fmt.h) ---- */

/* Prints items (a JSON array of objects) as a table with cols (NULL-title ended). */
int view_table(struct cli *c, json_t *items, const struct column *cols);
/* Prints one object as FIELD VALUE lines, in the server's order. */
int view_object(struct cli *c, json_t *obj);

/* How server text goes to a terminal. */
enum view_text {
	TEXT_RAW,	/* as it is: for pipes and files */
	TEXT_LINES,	/* control characters as '?', but newlines and tabs */
	TEXT_ONE_LINE	/* every control character as '?' */
};

/* Writes n bytes of s (which may hold NULs) to f. Returns 0, or -1 on a write error. */
int view_write_text(FILE *f, const char *s, size_t n, enum view_text how);

/* Where a printout of an instance's log is: the hook and attempt printed last. */
struct view_log {
	char hook[64];
	int64_t attempt;
	int has_printed;	/* hook and attempt are those of a chunk printed */
	int is_mid_line;	/* the last text did not end with a newline */
};

/*
 * Prints one chunk of a log ({attempt, hook, text}): its text, after a line
 * "==> HOOK (attempt N) <==" when its hook or attempt is not the previous
 * chunk's, as tail(1) does between files. The text goes as it is, or as
 * TEXT_LINES when is_terminal. Returns 0, or -1 on a write error.
 */
int view_log_chunk(struct cli *c, struct view_log *at, json_t *chunk, int is_terminal);

/*
 * (cli.c) GETs path (which may carry a query); with follow_all, follows "next"
 * through every page. Prints the items (table mode) or the JSON answer
 * (json mode: one {items, next} for all pages when following). When more
 * pages remain, says so on stderr.
 */
int cli_list(struct cli *c, const char *path, const struct column *cols, int follow_all);
/*
 * (cli.c) A paged list: GET base with the query parameters passed names
 * (NULL-ended; each the value of the option of that name, when given) and
 * the paging options (cli_page_opts), which it checks first; prints the
 * items with cols.
 */
int cli_list_query(struct cli *c, const char *base, const char *const *passed,
    const struct column *cols, const struct args *a);
/* (cli.c) GETs path and prints the one object it answers (view_object or JSON). */
int cli_show(struct cli *c, const char *path);
/* (cli.c) Prints an answer's object as cli_show does, frees it; the command's exit code. */
int cli_print_answer(struct cli *c, struct httpc_resp *r);

#endif
