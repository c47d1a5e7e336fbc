/*
 * A real store for a unit test: a SQLite file, migrated to the latest
 * schema, in a temporary directory of its own that unit_store_remove()
 * deletes whole.
 */
#ifndef OUTPOST_UNIT_STORE_H
#define OUTPOST_UNIT_STORE_H

#include <stddef.h>

struct store;

/* The store of a new temporary directory, whose path goes to dir; NULL on failure. */
struct store *unit_store_open(char *dir, size_t dirlen);
/* Closes the store and removes the directory with every file in it. */
void unit_store_remove(struct store *s, const char *dir);

#endif
