/*
 * olddb PATH VERSION: a database as an earlier outpostd left it, made with
 * this tree's own migrations 1..VERSION only (store_migrate's target), for
 * the tests of what a start does to an older schema. Exit 0, or 1 saying why.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"

/* The store's commits are observed in the metrics, which link the rest of the server. */
struct app *the_app;

int
main(int argc, char **argv)
{
	struct op_err err = { 0 };
	struct store *s;
	int64_t v;

	if (argc != 3 || parse_int64(argv[2], 1, store_latest_version(), &v) != 0) {
		fprintf(stderr, "usage: olddb PATH VERSION (1 to %d)\n", store_latest_version());
		return 1;
	}
	if ((s = store_open(argv[1], &err)) == NULL || store_migrate(s, (int)v, &err) != 0) {
		fprintf(stderr, "olddb: %s\n", err.message);
		store_close(s);
		return 1;
	}
	if (store_schema_version(s) != v) {
		fprintf(stderr, "olddb: the database is at version %d, not %lld\n",
		    store_schema_version(s), (long long)v);
		store_close(s);
		return 1;
	}
	store_close(s);
	return 0;
}
