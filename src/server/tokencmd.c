/*
 * outpostd token create: a token made from a shell on the server's host,
 * for the day the last admin token is lost. It writes the state directory's
 * database directly, whether a server runs on it or not: SQLite in WAL mode
 * takes a second writer (it waits its turn, up to BUSY_MS), and a running
 * server sees the token at its next request that presents it (auth_catch_up)
 * and takes its token.created event into its stream (events_adopt). The
 * token is made by auth_create, as POST /api/v1/tokens makes one, and its
 * event and created_by name "local:UID", the uid that ran the command (root
 * becomes the database's owner to write it: open_store).
 *
 * It changes no schema: a database an older outpostd made is migrated by
 * starting this outpostd first, so a migration is never run from a shell.
 */
#define _DEFAULT_SOURCE 1	/* explicit_bzero */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confread.h"
#include "server.h"

#define BUSY_MS 10000	/* how long to wait for the server's transaction in flight */

static void
token_usage(FILE *f)
{
	fprintf(f,
	    "usage: outpostd token create --role ROLE --name NAME [--state-dir DIR] [--config FILE]\n"
	    "\n"
	    "Makes an API token in the state directory's database, from a shell on the server's\n"
	    "host, whether outpostd runs or not; prints its secret once, on stdout. ROLE is\n"
	    "viewer, operator or admin. For a lost admin token: see docs/operations.\n");
}

/* 0, or -1 after saying on stderr what is wrong with name. */
static int
name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TOKEN_NAME_MAX) {
		fprintf(stderr, "outpostd token create: --name must be 1 to %d bytes\n",
		    TOKEN_NAME_MAX);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "outpostd token create: --name may not hold control "
			    "characters\n");
			return -1;
		}
	}
	return 0;
}

/*
 * Opens the existing database at the schema this outpostd writes; NULL after
 * saying why. Run by root on a database the service's user owns (a
 * DynamicUser unit's too), it becomes that user first, so the -wal and -shm
 * SQLite may make are the service's, never root's.
 */
static struct store *
open_store(const char *dir)
{
	char path[PATH_BUF_MAX];
	struct op_err err = { 0 };
	struct stat sb;
	struct store *s;
	int v;

	snprintf(path, sizeof(path), "%s/outpost.db", dir);
	if (stat(path, &sb) != 0) {
		fprintf(stderr, "outpostd token create: no database at %s (%s); is --state-dir "
		    "right? A first start of outpostd makes it, with an admin token\n", path,
		    strerror(errno));
		return NULL;
	}
	umask(077);
	if (geteuid() == 0 && sb.st_uid != 0 &&
	    (setgroups(0, NULL) != 0 || setgid(sb.st_gid) != 0 || setuid(sb.st_uid) != 0)) {
		fprintf(stderr, "outpostd token create: cannot become uid %ld, the owner of %s: %s\n",
		    (long)sb.st_uid, path, strerror(errno));
		return NULL;
	}
	if ((s = store_open(path, &err)) == NULL) {
		fprintf(stderr, "outpostd token create: %s\n", err.message);
		return NULL;
	}
	sqlite3_busy_timeout(store_db(s), BUSY_MS);
	v = store_schema_version(s);
	if (v != store_latest_version()) {
		fprintf(stderr, "outpostd token create: %s has schema version %d and this outpostd "
		    "writes %d: %s\n", path, v, store_latest_version(), v < store_latest_version() ?
		    "start this outpostd once to migrate it (outpostd --check says what would run)" :
		    "use the outpostd that made it");
		store_close(s);
		return NULL;
	}
	return s;
}

/*
 * argv[0] is "token". Exit status: 0 made and printed; 1 the database would
 * not take it; 2 a bad flag, role, name or setting, naming it.
 */
int
token_cmd(int argc, char **argv)
{
	const char *role_s = NULL, *name = NULL;
	char *rest[CONFIG_MAX_FLAGS * 2 + 2], err[512], actor[32], token[TOKEN_BUF], roles[64];
	struct config_flags flags;
	struct server_config c;
	struct op_err oerr = { 0 };
	struct store *s;
	json_t *rec = NULL;
	enum role role;
	int nrest = 0, rc;

	if (argc < 2 || strcmp(argv[1], "create") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			token_usage(stdout);
			return 0;
		}
		fprintf(stderr, "outpostd token: %s%s; the one verb is create\n", argc < 2 ?
		    "a verb is needed" : "unknown verb ", argc < 2 ? "" : argv[1]);
		token_usage(stderr);
		return 2;
	}
	rest[nrest++] = argv[0];
	for (int i = 2; i < argc; i++) {
		const char **to = strcmp(argv[i], "--role") == 0 ? &role_s :
		    strcmp(argv[i], "--name") == 0 ? &name : NULL;

		if (strcmp(argv[i], "--help") == 0) {
			token_usage(stdout);
			return 0;
		}
		if (to != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "outpostd token create: %s needs a value\n", argv[i]);
				return 2;
			}
			*to = argv[++i];
			continue;
		}
		if (nrest >= (int)(sizeof(rest) / sizeof(rest[0])) - 1) {
			fprintf(stderr, "outpostd token create: too many flags\n");
			return 2;
		}
		rest[nrest++] = argv[i];
	}
	rest[nrest] = NULL;
	if (role_s == NULL || name == NULL) {
		fprintf(stderr, "outpostd token create: %s is required\n", role_s == NULL ?
		    "--role" : "--name");
		return 2;
	}
	if (role_parse(role_s, &role) != 0 || role == ROLE_AGENT) {
		fprintf(stderr, "outpostd token create: --role must be %s (agents' tokens are made "
		    "with outpost token create)\n", role_names_from(ROLE_VIEWER, roles,
		    sizeof(roles)));
		return 2;
	}
	if (name_check(name) != 0)
		return 2;
	if (config_parse_flags(nrest, rest, "outpostd token create", server_config_keys,
	    &flags) != CONFIG_FLAGS_OK)
		return 2;
	if (server_config_load(&flags, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "outpostd token create: %s\n", err);
		return 2;
	}
	log_setup(LOG_FORMAT_TEXT, LOG_WARN);
	snprintf(actor, sizeof(actor), "local:%ld", (long)getuid());	/* who ran it */
	if ((s = open_store(c.state_dir)) == NULL)
		return 1;
	rc = auth_create(s, name, role, 0, actor, token, sizeof(token), &rec, &oerr);
	if (rc != 0) {
		fprintf(stderr, "outpostd token create: %s\n", oerr.message[0] ? oerr.message :
		    "the database refused the token");
		store_close(s);
		auth_free();
		events_shutdown();
		return 1;
	}
	printf("%s\n", token);
	fflush(stdout);
	fprintf(stderr, "outpostd: token %lld (%s, %s) made by %s; its secret is shown once, "
	    "above\n", (long long)json_integer_value(json_object_get(rec, "id")), name,
	    role_name(role), actor);
	explicit_bzero(token, sizeof(token));
	json_decref(rec);
	auth_free();
	events_shutdown();
	store_close(s);
	return 0;
}
