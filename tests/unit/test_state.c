/*
 * The state machine: every pair of states is checked against the table of
 * DESIGN §1, written out again here by hand so the test does not merely
 * restate the code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "state.h"

#define ANY (ACTOR_SCHEDULER | ACTOR_AGENT | ACTOR_OPERATOR | ACTOR_SYSTEM)

/* Every instance transition any actor may make. */
static const char *const allowed[] = {
	"pending>scheduled", "scheduled>instantiating", "instantiating>running",
	"instantiating>warm", "warm>running", "warm>stopping", "running>collecting",
	"collecting>grading", "collecting>stopping", "grading>stopping", "stopping>stopped",
	"stopped>terminated", "failed>pending",
	/* active → failed */
	"pending>failed", "scheduled>failed", "instantiating>failed", "warm>failed",
	"running>failed", "collecting>failed", "grading>failed", "stopping>failed",
	/* a lost worker: placed, its run not over → pending */
	"scheduled>pending", "instantiating>pending", "warm>pending", "running>pending",
	/* anything but terminated → terminated */
	"pending>terminated", "scheduled>terminated", "instantiating>terminated",
	"warm>terminated", "running>terminated", "collecting>terminated", "grading>terminated",
	"stopping>terminated", "failed>terminated",
	NULL,
};

static int
is_allowed(enum inst_state from, enum inst_state to)
{
	char key[64];

	snprintf(key, sizeof(key), "%s>%s", inst_state_name(from), inst_state_name(to));
	for (int i = 0; allowed[i] != NULL; i++)
		if (strcmp(allowed[i], key) == 0)
			return 1;
	return 0;
}

static void
test_every_instance_pair_matches_the_table(void **state)
{
	int n = 0;

	(void)state;
	for (int f = 0; f < INST_STATE_COUNT; f++) {
		for (int t = 0; t < INST_STATE_COUNT; t++) {
			char why[200] = "";
			int rc = inst_transition_check((enum inst_state)f, (enum inst_state)t, ANY, why,
			    sizeof(why));

			if (is_allowed((enum inst_state)f, (enum inst_state)t)) {
				if (rc != 0)
					fail_msg("%s -> %s refused: %s", inst_state_name((enum inst_state)f),
					    inst_state_name((enum inst_state)t), why);
				n++;
			} else {
				if (rc == 0)
					fail_msg("%s -> %s allowed", inst_state_name((enum inst_state)f),
					    inst_state_name((enum inst_state)t));
				assert_true(strlen(why) > 0);
			}
		}
	}
	for (int i = 0; allowed[i] != NULL; i++)
		n--;
	assert_int_equal(n, 0);
}

/* A refusal says whose move it is; a claim (warm to running) is the scheduler's alone. */
static void
test_a_refusal_names_whose_move_it_is(void **state)
{
	char why[200];

	(void)state;
	assert_int_equal(inst_transition_check(INST_WARM, INST_RUNNING, ACTOR_AGENT, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "warm to running is the scheduler's move");
	assert_int_equal(inst_transition_check(INST_WARM, INST_STOPPING, ACTOR_AGENT, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "warm to stopping is an operator's or the server's move");
	assert_int_equal(inst_transition_check(INST_SCHEDULED, INST_INSTANTIATING, ACTOR_OPERATOR,
	    why, sizeof(why)), -1);
	assert_string_equal(why, "scheduled to instantiating is an agent's move");
}

static void
test_operator_cannot_schedule_or_run(void **state)
{
	char why[200];

	(void)state;
	assert_int_equal(inst_transition_check(INST_PENDING, INST_SCHEDULED, ACTOR_OPERATOR, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "pending to scheduled is the scheduler's move");
	assert_int_equal(inst_transition_check(INST_SCHEDULED, INST_INSTANTIATING, ACTOR_OPERATOR,
	    NULL, 0), -1);
	assert_int_equal(inst_transition_check(INST_RUNNING, INST_PENDING, ACTOR_OPERATOR, NULL, 0),
	    -1);
	assert_int_equal(inst_transition_check(INST_RUNNING, INST_PENDING, ACTOR_SYSTEM, NULL, 0), 0);
}

/* A lost worker's instance whose run is over fails; it is never run again from the start. */
static void
test_an_instance_past_its_run_does_not_go_back_to_pending(void **state)
{
	static const enum inst_state over[] = { INST_COLLECTING, INST_GRADING, INST_STOPPING };
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		assert_false(inst_state_may_restart(over[i]));
		assert_int_equal(inst_transition_check(over[i], INST_PENDING, ACTOR_SYSTEM, why,
		    sizeof(why)), -1);
		assert_int_equal(inst_transition_check(over[i], INST_FAILED, ACTOR_SYSTEM, NULL, 0), 0);
	}
	assert_string_equal(why, "an instance that is stopping has run; it is not run again from "
	    "the start");
	assert_true(inst_state_may_restart(INST_RUNNING));
	assert_true(inst_state_may_restart(INST_WARM));
	assert_false(inst_state_may_restart(INST_PENDING));
	assert_false(inst_state_may_restart(INST_STOPPED));
}

static void
test_terminated_is_final(void **state)
{
	char why[200];

	(void)state;
	for (int t = 0; t < INST_STATE_COUNT; t++)
		assert_int_equal(inst_transition_check(INST_TERMINATED, (enum inst_state)t, ANY, why,
		    sizeof(why)), -1);
	assert_non_null(strstr(why, "final"));
}

static void
test_stop_from_pending_is_refused_with_a_hint(void **state)
{
	enum inst_state to;
	char why[200];

	(void)state;
	assert_int_equal(inst_action_target(INST_ACT_STOP, INST_PENDING, &to, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "terminate"));
	assert_int_equal(inst_action_target(INST_ACT_STOP, INST_RUNNING, &to, NULL, 0), 0);
	assert_int_equal(to, INST_COLLECTING);
}

static void
test_actions_lead_where_the_design_says(void **state)
{
	enum inst_state to;

	(void)state;
	for (int f = 0; f < INST_STATE_COUNT; f++) {
		int rc = inst_action_target(INST_ACT_TERMINATE, (enum inst_state)f, &to, NULL, 0);

		assert_int_equal(rc, f == INST_TERMINATED ? -1 : 0);
		if (rc == 0)
			assert_int_equal(to, INST_TERMINATED);
		rc = inst_action_target(INST_ACT_RETRY, (enum inst_state)f, &to, NULL, 0);
		assert_int_equal(rc, f == INST_FAILED ? 0 : -1);
		rc = inst_action_target(INST_ACT_EXTEND, (enum inst_state)f, &to, NULL, 0);
		assert_int_equal(rc, f <= INST_RUNNING || f == INST_FAILED ? 0 : -1);
		/* every action's target is itself an allowed transition */
		for (int a = 0; a < INST_ACT_COUNT; a++)
			if (a != INST_ACT_EXTEND &&
			    inst_action_target((enum inst_action)a, (enum inst_state)f, &to, NULL, 0) == 0)
				assert_int_equal(inst_transition_check((enum inst_state)f, to,
				    ACTOR_OPERATOR, NULL, 0), 0);
	}
}

static void
test_names_parse_back(void **state)
{
	enum inst_state s;
	enum worker_state w;
	enum worker_health h;

	(void)state;
	for (int i = 0; i < INST_STATE_COUNT; i++) {
		assert_int_equal(inst_state_parse(inst_state_name((enum inst_state)i), &s), 0);
		assert_int_equal(s, i);
		assert_non_null(inst_state_info((enum inst_state)i)->color);
	}
	for (int i = 0; i < WORKER_STATE_COUNT; i++) {
		assert_int_equal(worker_state_parse(worker_state_name((enum worker_state)i), &w), 0);
		assert_int_equal(w, i);
	}
	for (int i = 0; i < HEALTH_COUNT; i++) {
		assert_int_equal(worker_health_parse(worker_health_name((enum worker_health)i), &h), 0);
		assert_int_equal(h, i);
	}
	assert_int_equal(inst_state_parse("Running", &s), -1);
	assert_int_equal(inst_state_parse("", &s), -1);
	assert_int_equal(inst_state_parse(NULL, &s), -1);
}

static void
test_worker_actions(void **state)
{
	static const struct { enum worker_action a; enum worker_state from; int ok; enum worker_state to; } c[] = {
		{ WORKER_ACT_CORDON, WORKER_READY, 1, WORKER_CORDONED },
		{ WORKER_ACT_CORDON, WORKER_CORDONED, 0, 0 },
		{ WORKER_ACT_UNCORDON, WORKER_CORDONED, 1, WORKER_READY },
		{ WORKER_ACT_UNCORDON, WORKER_READY, 0, 0 },
		{ WORKER_ACT_UNCORDON, WORKER_DRAINING, 1, WORKER_READY },
		{ WORKER_ACT_DRAIN, WORKER_READY, 1, WORKER_DRAINING },
		{ WORKER_ACT_DRAIN, WORKER_CORDONED, 1, WORKER_DRAINING },
		{ WORKER_ACT_DRAIN, WORKER_STOPPED, 0, 0 },
		{ WORKER_ACT_STOP, WORKER_DRAINING, 1, WORKER_STOPPED },
		{ WORKER_ACT_TERMINATE, WORKER_STOPPED, 1, WORKER_TERMINATED },
		{ WORKER_ACT_TERMINATE, WORKER_TERMINATED, 0, 0 },
		{ WORKER_ACT_CORDON, WORKER_TERMINATED, 0, 0 },
		{ WORKER_ACT_CORDON, WORKER_PROVISIONING, 0, 0 },
		{ WORKER_ACT_TERMINATE, WORKER_FAILED, 1, WORKER_TERMINATED },
		{ WORKER_ACT_STOP, WORKER_FAILED, 0, 0 },
	};
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enum worker_state to;
		int rc = worker_action_target(c[i].a, c[i].from, &to, why, sizeof(why));

		if (c[i].ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(to, c[i].to);
		} else {
			assert_int_equal(rc, -1);
			assert_true(strlen(why) > 0);
		}
	}
}

static void
test_a_worker_already_where_an_action_leads_is_refused(void **state)
{
	char why[200];

	(void)state;
	for (int a = 0; a < WORKER_ACT_COUNT; a++) {
		enum worker_state to, goal = worker_action_goal((enum worker_action)a);

		assert_true(goal < WORKER_STATE_COUNT);
		assert_int_equal(worker_action_target((enum worker_action)a, goal, &to, why,
		    sizeof(why)), -1);
		assert_non_null(strstr(why, "already"));
	}
}

static void
test_sets_are_written_for_sql_and_for_people(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(state_set_sql(KIND_WORKER, worker_set_heartbeating(), buf,
	    sizeof(buf)), "'ready','cordoned','draining'");
	assert_string_equal(state_set_sql(KIND_INSTANCE, inst_set_holding(), buf, sizeof(buf)),
	    "'scheduled','instantiating','warm','running','collecting','grading','stopping'");
	assert_string_equal(state_set_sql(KIND_INSTANCE, inst_set_pool(), buf, sizeof(buf)),
	    "'pending','scheduled','instantiating','warm'");
	assert_string_equal(state_set_names(KIND_HEALTH, state_all(KIND_HEALTH), buf,
	    sizeof(buf)), "online, offline, lost");
	assert_string_equal(state_set_names(KIND_RUN, 0, buf, sizeof(buf)), "");
	/* Cut to the buffer, never past it. */
	assert_string_equal(state_set_names(KIND_HEALTH, state_all(KIND_HEALTH), buf, 9),
	    "online, ");
	for (int i = 0; i < WORKER_STATE_COUNT; i++)
		assert_int_equal(!!(worker_set_live() & (1u << i)),
		    worker_state_is_live(worker_state_name((enum worker_state)i)));
}

static void
test_a_comma_list_of_states_is_a_mask(void **state)
{
	unsigned m;
	char why[300];

	(void)state;
	assert_int_equal(state_mask_parse(KIND_INSTANCE, "running,failed", "state", &m, why,
	    sizeof(why)), 0);
	assert_int_equal(m, 1u << INST_RUNNING | 1u << INST_FAILED);
	/* Empty pairs are skipped; a prefix is not a state. */
	assert_int_equal(state_mask_parse(KIND_WORKER, ",ready,,", "state", &m, why,
	    sizeof(why)), 0);
	assert_int_equal(m, 1u << WORKER_READY);
	assert_int_equal(state_mask_parse(KIND_WORKER, "read", "state", &m, why, sizeof(why)),
	    -1);
	assert_string_equal(why, "unknown state read (one of: provisioning, ready, cordoned, "
	    "draining, stopped, failed, terminated)");
	assert_int_equal(state_mask_parse(KIND_HEALTH, "online,asleep", "health", &m, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "unknown health asleep (one of: online, offline, lost)");
	assert_int_equal(state_mask_parse(KIND_RUN, ",", "status", &m, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "at least one"));
}

static void
test_roles_rank_and_name(void **state)
{
	enum role r;
	char buf[64];

	(void)state;
	assert_true(role_allows(ROLE_ADMIN, ROLE_OPERATOR));
	assert_true(role_allows(ROLE_OPERATOR, ROLE_VIEWER));
	assert_false(role_allows(ROLE_VIEWER, ROLE_OPERATOR));
	assert_false(role_allows(ROLE_ADMIN, ROLE_AGENT));
	assert_false(role_allows(ROLE_AGENT, ROLE_VIEWER));
	assert_true(role_allows(ROLE_AGENT, ROLE_AGENT));
	assert_true(role_allows(ROLE_NONE, ROLE_NONE));
	for (int i = ROLE_AGENT; i < ROLE_COUNT; i++) {
		assert_int_equal(role_parse(role_name((enum role)i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(role_parse("none", &r), -1);
	assert_int_equal(role_parse("Admin", &r), -1);
	assert_string_equal(role_names_from(ROLE_AGENT, buf, sizeof(buf)),
	    "agent, viewer, operator or admin");
	assert_string_equal(role_names_from(ROLE_VIEWER, buf, sizeof(buf)),
	    "viewer, operator or admin");
	assert_string_equal(role_names_from(ROLE_ADMIN, buf, sizeof(buf)), "admin");
}

static void
test_each_hook_runs_in_one_state(void **state)
{
	int seen[HOOK_COUNT] = { 0 };

	(void)state;
	for (int s = 0; s < INST_STATE_COUNT; s++) {
		enum hook h = inst_state_hook((enum inst_state)s);

		if (h != HOOK_COUNT)
			seen[h]++;
	}
	for (int h = 0; h < HOOK_COUNT; h++)
		assert_int_equal(seen[h], 1);
	assert_int_equal(inst_state_hook(INST_GRADING), HOOK_GRADE);
	assert_int_equal(inst_state_hook(INST_WARM), HOOK_COUNT);
}

static void
test_hooks_are_named_in_order(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(hook_names_text(buf, sizeof(buf)),
	    "instantiate, run, collect, grade or stop");
	assert_string_equal(hook_names_text(buf, 12), "instantiate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_instance_pair_matches_the_table),
		cmocka_unit_test(test_a_refusal_names_whose_move_it_is),
		cmocka_unit_test(test_operator_cannot_schedule_or_run),
		cmocka_unit_test(test_terminated_is_final),
		cmocka_unit_test(test_stop_from_pending_is_refused_with_a_hint),
		cmocka_unit_test(test_an_instance_past_its_run_does_not_go_back_to_pending),
		cmocka_unit_test(test_actions_lead_where_the_design_says),
		cmocka_unit_test(test_names_parse_back),
		cmocka_unit_test(test_worker_actions),
		cmocka_unit_test(test_a_worker_already_where_an_action_leads_is_refused),
		cmocka_unit_test(test_sets_are_written_for_sql_and_for_people),
		cmocka_unit_test(test_a_comma_list_of_states_is_a_mask),
		cmocka_unit_test(test_roles_rank_and_name),
		cmocka_unit_test(test_each_hook_runs_in_one_state),
		cmocka_unit_test(test_hooks_are_named_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
