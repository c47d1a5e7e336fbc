/*
 * outpost __complete WORD... CUR: what the shell may put at CUR, the word
 * being completed, after the words before it (the command line without
 * "outpost"). It answers from the tables the parser itself uses: the nouns,
 * their verbs, each command's options and, for an option whose value is a
 * state, a hook or a role, the names of src/common/state.c. One candidate a
 * line, unfiltered: the shell's side (packaging/bash-completion/outpost)
 * keeps those that begin with CUR. ":file" alone says CUR is a file name.
 * It never calls the server, and it is not in the help: it is for the shell.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The option tables of a command (or only the global ones): NULL-ended. */
static void
tables_of(const struct cmd_entry *cmd, const struct opt_spec *globals,
    const struct opt_spec *tables[4])
{
	int k = 0;

	if (cmd != NULL && cmd->opts != NULL)
		tables[k++] = cmd->opts;
	if (cmd != NULL && cmd->is_paged)
		tables[k++] = cli_page_opts;
	tables[k++] = globals;
	tables[k] = NULL;
}

/*
 * The option a word names ("--state", "--state=x", "-o", "-ojson"); *has_value
 * says whether the word carries its value already.
 */
static const struct opt_spec *
find_opt(const struct opt_spec *const *tables, const char *w, int *has_value)
{
	size_t len;

	*has_value = 0;
	for (size_t t = 0; tables[t] != NULL; t++) {
		for (const struct opt_spec *o = tables[t]; o->name != NULL; o++) {
			if (w[1] == '-') {
				len = strlen(o->name);
				if (strncmp(w + 2, o->name, len) != 0 ||
				    (w[2 + len] != '\0' && w[2 + len] != '='))
					continue;
				*has_value = w[2 + len] == '=';
				return o;
			}
			if (o->short_name != 0 && w[1] == o->short_name) {
				*has_value = w[2] != '\0';
				return o;
			}
		}
	}
	return NULL;
}

/* The names an option's value may be, each after prefix (what CUR holds up to its last comma). */
static void
print_choices(const struct opt_spec *o, const char *cur)
{
	char names[1024], *tok, *save = NULL;
	const char *comma = strrchr(cur, ',');
	int plen = comma != NULL ? (int)(comma - cur + 1) : 0;

	if (o->choices == CHOICES_ANY) {
		if (strcmp(o->name, "output") == 0)
			printf("table\njson\n");
		else if (o->metavar != NULL && strcmp(o->metavar, "FILE") == 0)
			printf(":file\n");
		return;
	}
	/* "a, b, c" or "a, b or c": the words but "or". */
	opt_choices_text(o->choices, names, sizeof(names));
	for (tok = strtok_r(names, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save))
		if (strcmp(tok, "or") != 0)
			printf("%.*s%s\n", plen, cur, tok);
}

static void
print_opts(const struct opt_spec *const *tables)
{
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct opt_spec *o = tables[t]; o->name != NULL; o++)
			printf("--%s\n", o->name);
}

int
cli_complete(const struct cmd_noun *nouns, const struct opt_spec *globals, int argc,
    char **argv)
{
	const struct opt_spec *tables[4], *pending = NULL, *o;
	const struct cmd_noun *noun = NULL;
	const struct cmd_entry *cmd = NULL;
	const char *cur = argc > 0 ? argv[argc - 1] : "";
	int is_help = 0, is_dashdash = 0, has_value;

	tables_of(NULL, globals, tables);
	for (int i = 0; i < argc - 1; i++) {
		const char *w = argv[i];

		if (pending != NULL) {
			pending = NULL;
			continue;
		}
		if (!is_dashdash && strcmp(w, "--") == 0) {
			is_dashdash = 1;
			continue;
		}
		if (!is_dashdash && w[0] == '-' && w[1] != '\0') {
			o = find_opt(tables, w, &has_value);
			if (o != NULL && o->metavar != NULL && !has_value)
				pending = o;
			continue;
		}
		/* A positional: the noun (or help), then its verb, then the command's own. */
		if (noun == NULL && !is_help && strcmp(w, "help") == 0) {
			is_help = 1;
		} else if (noun == NULL) {
			for (noun = nouns; noun->name != NULL && strcmp(noun->name, w) != 0; noun++)
				;
			if (noun->name == NULL)
				return CLI_OK;	/* no such command: nothing to offer */
			if (noun->is_verbless && !is_help)
				cmd = &noun->cmds[0];
		} else if (cmd == NULL && !noun->is_verbless) {
			for (cmd = noun->cmds; cmd->name != NULL && strcmp(cmd->name, w) != 0; cmd++)
				;
			if (cmd->name == NULL)
				return CLI_OK;
		}
		/* (Past the verb, the command's own positionals: ids and names, not offered.) */
		if (!is_help)
			tables_of(cmd, globals, tables);
	}
	if (pending != NULL) {
		print_choices(pending, cur);
	} else if (!is_dashdash && cur[0] == '-') {
		print_opts(tables);
	} else if (noun == NULL) {
		if (!is_help)
			printf("help\n");
		for (const struct cmd_noun *n = nouns; n->name != NULL; n++)
			printf("%s\n", n->name);
	} else if (cmd == NULL && !noun->is_verbless) {
		for (const struct cmd_entry *e = noun->cmds; e->name != NULL; e++)
			printf("%s\n", e->name);
	}
	return fflush(stdout) == 0 ? CLI_OK : CLI_USAGE;
}
