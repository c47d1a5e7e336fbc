/*
 * Browser sessions (sessions.c) on a real SQLite file, without a socket:
 * made, checked, ended, dead with their token, and kept across a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static char dir[64];
static char path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/outpost-unit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char p[160];
	const char *const ext[] = { "", "-wal", "-shm" };

	(void)state;
	events_shutdown();
	sessions_free();
	auth_free();
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/t.db%s", dir, ext[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static struct store *
fresh(void)
{
	struct op_err err = { 0 };
	struct store *s = store_open(path, &err);

	assert_non_null(s);
	assert_int_equal(store_migrate(s, store_latest_version(), &err), 0);
	assert_int_equal(auth_load(s), 0);
	assert_int_equal(sessions_load(s), 0);
	return s;
}

static void
make_token(struct store *s, const char *name, enum role role, int64_t expires_at,
    struct auth_token *out)
{
	struct op_err err = { 0 };
	char token[64];
	json_t *rec = NULL;

	assert_int_equal(auth_create(s, name, role, expires_at, "test", token, sizeof(token), &rec,
	    &err), 0);
	json_decref(rec);
	assert_int_equal(auth_check(token, out), 0);
}

static void
test_session_stands_for_its_token_until_it_ends(void **state)
{
	struct store *s = fresh();
	struct auth_token op, got;
	struct op_err err = { 0 };
	char sid[64], sid2[64];
	int64_t exp;

	(void)state;
	make_token(s, "ana", ROLE_OPERATOR, 0, &op);
	assert_int_equal(session_create(s, &op, 3600000, sid, sizeof(sid), &exp, &err), 0);
	assert_int_equal(strlen(sid), 43);
	assert_true(exp > now_ms() + 3500000 && exp <= now_ms() + 3600000);
	assert_int_equal(session_check(sid, &got), 0);
	assert_int_equal(got.id, op.id);
	assert_int_equal(got.role, ROLE_OPERATOR);
	assert_string_equal(got.name, "ana");
	assert_true(got.session_id > 0);
	assert_true(session_is_live(got.session_id));
	/* Two sign-ins are two sessions with two ids. */
	assert_int_equal(session_create(s, &op, 3600000, sid2, sizeof(sid2), &exp, &err), 0);
	assert_string_not_equal(sid, sid2);
	/* Neither the id cut short nor another id is a session. */
	sid2[42] = sid2[42] == 'A' ? 'B' : 'A';
	assert_int_not_equal(session_check(sid2, &got), 0);
	assert_int_not_equal(session_check("short", &got), 0);
	assert_int_not_equal(session_check(NULL, &got), 0);

	/* A restart: the sessions come back from the table. */
	sessions_free();
	assert_int_equal(sessions_load(s), 0);
	assert_int_equal(session_check(sid, &got), 0);

	/* Signing out ends it, once. */
	assert_int_equal(session_end(s, got.session_id, "ana", &err), 0);
	assert_int_not_equal(session_check(sid, &got), 0);
	assert_false(session_is_live(got.session_id));
	assert_int_equal(session_end(s, got.session_id, "ana", &err), -1);
	assert_int_equal(err.http, 401);
	sessions_free();
	assert_int_equal(sessions_load(s), 0);
	assert_int_not_equal(session_check(sid, &got), 0);
	store_close(s);
}

static void
test_session_dies_with_its_token_and_never_outlives_it(void **state)
{
	struct store *s = fresh();
	struct auth_token v, got;
	struct op_err err = { 0 };
	char sid[64];
	int64_t exp, soon = now_ms() + 60000;
	json_t *rec = NULL;

	(void)state;
	make_token(s, "kim", ROLE_VIEWER, soon, &v);
	assert_int_equal(session_create(s, &v, 3600000, sid, sizeof(sid), &exp, &err), 0);
	assert_int_equal(exp, soon);
	assert_int_equal(session_check(sid, &got), 0);
	assert_int_equal(got.expires_at, soon);
	assert_int_equal(auth_revoke(s, v.id, "test", &rec, &err), 0);
	json_decref(rec);
	assert_int_not_equal(session_check(sid, &got), 0);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_stands_for_its_token_until_it_ends,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_dies_with_its_token_and_never_outlives_it,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
