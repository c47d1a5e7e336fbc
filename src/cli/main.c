#include "config.h"

/*
 * outpost: the command line of an Outpost site. main parses the global
 * options, finds the noun and its subcommand in the tables below, parses
 * the rest against that command's options, resolves where to talk to and
 * runs it. Global options may come before or after the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct cmd_noun nouns[] = {
	{ "definition", "versioned recipes for instances", cmd_definition_entries, 0 },
	{ "instance", "sessions with a time slot, run on workers", cmd_instance_entries, 0 },
	{ "worker", "the hosts that run instances", cmd_worker_entries, 0 },
	{ "template", "kinds of workers, made and removed by the server", cmd_template_entries,
	    0 },
	{ "runbook", "operator procedures, run with parameters, dry runs and live output",
	    cmd_runbook_entries, 0 },
	{ "run", "runs of runbooks: their steps and output", cmd_run_entries, 0 },
	{ "alert", "alert rules over the site's state, and which fire now", cmd_alert_entries, 0 },
	{ "events", "the event log, live with --follow", cmd_events_entries, 1 },
	{ "token", "API tokens", cmd_token_entries, 0 },
	{ "backup", "the server's backups: list, make one now, check one", cmd_backup_entries, 0 },
	{ NULL, NULL, NULL, 0 }
};

const struct opt_spec cli_page_opts[] = {
	{ "limit", 0, "N", "items per page, 1..500 (server default 50)", 0 },
	{ "after", 0, "CURSOR", "start after this page cursor", 0 },
	{ "all", 0, NULL, "follow the pages to the end", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct opt_spec global_opts[] = {
	{ "server", 0, "URL", "the server (env OUTPOST_SERVER; default " CLI_DEFAULT_SERVER ")",
	    0 },
	{ "token", 0, "TOKEN", "bearer token (env OUTPOST_TOKEN)", 0 },
	{ "token-file", 0, "FILE",
	    "read the token from FILE's first line (env OUTPOST_TOKEN_FILE)", 0 },
	{ "config", 0, "FILE", "the CLI's config file (env OUTPOST_CONFIG)", 0 },
	{ "ca-file", 0, "FILE", "CAs (PEM) of an https:// server (env OUTPOST_CA_FILE)", 0 },
	{ "output", 'o', "FORMAT", "table (default) or json", 0 },
	{ "help", 'h', NULL, "show help and exit", 0 },
	{ "version", 0, NULL, "show the version and exit", 0 },
	{ NULL, 0, NULL, NULL, 0 }
};

static void
print_opts(FILE *f, const struct opt_spec *opts)
{
	char left[64];

	for (const struct opt_spec *o = opts; o != NULL && o->name != NULL; o++) {
		if (o->short_name != 0)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
			    o->metavar ? " " : "", o->metavar ? o->metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->metavar ? " " : "",
			    o->metavar ? o->metavar : "");
		if (o->choices != CHOICES_ANY) {
			char names[256];

			fprintf(f, "  %-28s %s: %s\n", left, o->help,
			    opt_choices_text(o->choices, names, sizeof(names)));
		} else {
			fprintf(f, "  %-28s %s\n", left, o->help);
		}
	}
}

static void
usage_line(FILE *f, const struct cmd_noun *n, const struct cmd_entry *e)
{
	const char *sp = e->usage[0] != '\0' ? " " : "";

	if (n->is_verbless)
		fprintf(f, "outpost %s%s%s", n->name, sp, e->usage);
	else
		fprintf(f, "outpost %s %s%s%s", n->name, e->name, sp, e->usage);
}

static void
help_global(FILE *f)
{
	fprintf(f, "usage: outpost [OPTIONS] COMMAND [ARGS]\n\n"
	    "The command line of an Outpost site.\n\nCommands:\n");
	for (const struct cmd_noun *n = nouns; n->name != NULL; n++) {
		for (const struct cmd_entry *e = n->cmds; e->name != NULL; e++) {
			char left[64];

			if (n->is_verbless)
				snprintf(left, sizeof(left), "%s", n->name);
			else
				snprintf(left, sizeof(left), "%s %s", n->name, e->name);
			fprintf(f, "  %-22s %s\n", left, e->help);
		}
	}
	fprintf(f, "\nOptions (before or after the command):\n");
	print_opts(f, global_opts);
	fprintf(f, "\nSettings come from a flag, else OUTPOST_* variables, else the config file\n"
	    "($XDG_CONFIG_HOME/outpost/outpost.conf: server, token, token_file).\n"
	    "Exit status: 0 done, 1 the server refused, 2 usage error, 3 server unreachable.\n"
	    "Run 'outpost COMMAND --help' for a command's options; see outpost(1).\n");
}

static void
help_noun(FILE *f, const struct cmd_noun *n)
{
	fprintf(f, "outpost %s: %s\n\nusage:\n", n->name, n->help);
	for (const struct cmd_entry *e = n->cmds; e->name != NULL; e++) {
		fprintf(f, "  ");
		usage_line(f, n, e);
		fprintf(f, "\n      %s\n", e->help);
	}
}

static void
help_cmd(FILE *f, const struct cmd_noun *n, const struct cmd_entry *e)
{
	fprintf(f, "usage: ");
	usage_line(f, n, e);
	fprintf(f, "\n\n%s.\n", e->help);
	if ((e->opts != NULL && e->opts[0].name != NULL) || e->is_paged) {
		fprintf(f, "\nOptions:\n");
		print_opts(f, e->opts);
		if (e->is_paged)
			print_opts(f, cli_page_opts);
	}
	fprintf(f, "\nGlobal options:\n");
	print_opts(f, global_opts);
}

static const struct cmd_noun *
find_noun(const char *name)
{
	for (const struct cmd_noun *n = nouns; n->name != NULL; n++)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static const struct cmd_entry *
find_cmd(const struct cmd_noun *n, const char *name)
{
	for (const struct cmd_entry *e = n->cmds; e->name != NULL; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
noun_names(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const struct cmd_noun *n = nouns; n->name != NULL && off < len; n++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", n->name);
}

static int
is_help_word(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

/* `outpost help [NOUN [VERB]]` */
static int
run_help(int argc, char **argv)
{
	const struct cmd_noun *n;
	const struct cmd_entry *e;

	if (argc < 1) {
		help_global(stdout);
		return CLI_OK;
	}
	if ((n = find_noun(argv[0])) == NULL)
		return cli_fail(CLI_USAGE, "no command '%s'; try 'outpost --help'", argv[0]);
	if (argc < 2 || n->is_verbless) {
		if (n->is_verbless)
			help_cmd(stdout, n, &n->cmds[0]);
		else
			help_noun(stdout, n);
		return CLI_OK;
	}
	if ((e = find_cmd(n, argv[1])) == NULL)
		return cli_fail(CLI_USAGE, "no command '%s %s'; try 'outpost %s --help'", n->name,
		    argv[1], n->name);
	help_cmd(stdout, n, e);
	return CLI_OK;
}

int
main(int argc, char **argv)
{
	const struct opt_spec *globals[] = { global_opts, NULL };
	const struct opt_spec *tables[4];
	const struct cmd_noun *noun;
	const struct cmd_entry *cmd;
	const char *out;
	struct cli c;
	struct args a;
	char err[2048], names[128];
	int used, i, k, rc;

	memset(&c, 0, sizeof(c));
	c.out_file = stdout;
	/* The shell's completion asks (packaging/bash-completion/outpost); not in the help. */
	if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
		return cli_complete(nouns, global_opts, argc - 2, argv + 2);
	args_init(&a);
	if (args_parse(&a, globals, argc - 1, argv + 1, ARGS_STOP_AT_POSITIONAL, &used, err,
	    sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s; try 'outpost --help'", err);
	i = 1 + used;
	if (args_has(&a, "version")) {
		printf("outpost %s\n", PACKAGE_VERSION);
		return CLI_OK;
	}
	if (args_has(&a, "help")) {
		help_global(stdout);
		return CLI_OK;
	}
	if (i >= argc) {
		help_global(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0)
		return run_help(argc - i - 1, argv + i + 1);
	noun_names(names, sizeof(names));
	if ((noun = find_noun(argv[i])) == NULL)
		return cli_fail(CLI_USAGE, "no command '%s' (commands: %s)", argv[i], names);
	i++;
	if (noun->is_verbless) {
		cmd = &noun->cmds[0];
	} else {
		if (i >= argc || is_help_word(argv[i])) {
			help_noun(i >= argc ? stderr : stdout, noun);
			return i >= argc ? CLI_USAGE : CLI_OK;
		}
		if ((cmd = find_cmd(noun, argv[i])) == NULL)
			return cli_fail(CLI_USAGE, "no command '%s %s'; try 'outpost %s --help'",
			    noun->name, argv[i], noun->name);
		i++;
	}
	/* The command's own options first, so they may shadow a global name (--version). */
	k = 0;
	if (cmd->opts != NULL)
		tables[k++] = cmd->opts;
	if (cmd->is_paged)
		tables[k++] = cli_page_opts;
	tables[k++] = global_opts;
	tables[k] = NULL;
	if (args_parse(&a, tables, argc - i, argv + i, ARGS_PERMUTE, NULL, err, sizeof(err)) != 0) {
		rc = cli_fail(CLI_USAGE, "%s; see 'outpost %s%s%s --help'", err, noun->name,
		    noun->is_verbless ? "" : " ", noun->is_verbless ? "" : cmd->name);
		return rc;
	}
	if (args_has(&a, "help")) {
		help_cmd(stdout, noun, cmd);
		return CLI_OK;
	}
	if (a.npos < (size_t)cmd->min_pos || a.npos > (size_t)cmd->max_pos) {
		fprintf(stderr, "outpost: wrong number of arguments; usage: ");
		usage_line(stderr, noun, cmd);
		fputc('\n', stderr);
		return CLI_USAGE;
	}
	out = args_get(&a, "output");
	if (out == NULL || strcmp(out, "table") == 0)
		c.out = OUT_TABLE;
	else if (strcmp(out, "json") == 0)
		c.out = OUT_JSON;
	else
		return cli_fail(CLI_USAGE, "-o must be table or json, not '%s'", out);
	if (settings_resolve(&c.set, &a, err, sizeof(err)) != 0)
		return cli_fail(CLI_USAGE, "%s", err);
	c.use_color = c.out == OUT_TABLE && isatty(STDOUT_FILENO) &&
	    (getenv("NO_COLOR") == NULL || getenv("NO_COLOR")[0] == '\0');
	c.verb = cmd->name;
	rc = cmd->exec(&c, &a);
	httpc_free(c.http);
	return rc;
}
