/*
 * Placement: binpack and spread give what they promise, labels, state,
 * health and capacity are respected, earlier instances go first, and the
 * explanation reads the way DESIGN §1 writes it. A randomised pass checks
 * the invariants against a brute-force reading of the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static const char *const zone_a[] = { "zone=a" };
static const char *const zone_b[] = { "zone=b" };
static const char *const zone_a_gpu[] = { "gpu=yes", "zone=a" };

static struct sched_worker
worker(int64_t id, int64_t cpu, int64_t mem, int64_t slots)
{
	struct sched_worker w = { .id = id, .name = "w", .state = WORKER_READY,
		.health = HEALTH_ONLINE, .free_cpu = cpu, .free_memory_mb = mem, .free_slots = slots };

	return w;
}

static struct sched_instance
inst(int64_t id, int64_t cpu, int64_t mem)
{
	struct sched_instance i = { .id = id, .cpu = cpu, .memory_mb = mem };

	return i;
}

static void
test_binpack_fills_the_fullest_worker_first(void **state)
{
	struct sched_worker w[3] = { worker(1, 8, 8192, 8), worker(2, 2, 8192, 8),
		worker(3, 8, 8192, 8) };
	struct sched_instance in[5];
	struct sched_stats st;

	(void)state;
	for (int i = 0; i < 5; i++)
		in[i] = inst(i + 1, 2, 512);
	assert_int_equal(sched_place(w, 3, in, 5, SCHED_BINPACK, &st), 0);
	/* worker 2 is fullest (2 free): it takes one; then worker 1 (by id) takes four. */
	assert_int_equal(in[0].worker, 1);
	for (int i = 1; i < 5; i++)
		assert_int_equal(in[i].worker, 0);
	assert_int_equal(st.placed, 5);
	assert_int_equal(w[2].free_cpu, 8);
}

static void
test_spread_takes_the_emptiest_worker(void **state)
{
	struct sched_worker w[3] = { worker(1, 8, 8192, 8), worker(2, 8, 8192, 8),
		worker(3, 4, 8192, 8) };
	struct sched_instance in[6];
	struct sched_stats st;
	int per[3] = { 0 };

	(void)state;
	for (int i = 0; i < 6; i++)
		in[i] = inst(i + 1, 2, 512);
	assert_int_equal(sched_place(w, 3, in, 6, SCHED_SPREAD, &st), 0);
	for (int i = 0; i < 6; i++)
		per[in[i].worker]++;
	/*
	 * 8,8,4 free: the big ones take one each twice (6,6,4 then 4,4,4), and the
	 * last two go to two of three equals: the free cpu ends 2,2,4 in some order,
	 * never one worker full while another is empty.
	 */
	assert_int_equal(per[0] + per[1] + per[2], 6);
	{
		int64_t f[3] = { w[0].free_cpu, w[1].free_cpu, w[2].free_cpu }, t;

		for (int a = 0; a < 3; a++)
			for (int b = a + 1; b < 3; b++)
				if (f[b] < f[a]) {
					t = f[a];
					f[a] = f[b];
					f[b] = t;
				}
		assert_int_equal(f[0], 2);
		assert_int_equal(f[1], 2);
		assert_int_equal(f[2], 4);
	}
	assert_true(per[0] >= 2 && per[1] >= 2);
}

static void
test_labels_state_and_health_are_respected(void **state)
{
	struct sched_worker w[5] = { worker(1, 8, 8192, 8), worker(2, 8, 8192, 8),
		worker(3, 8, 8192, 8), worker(4, 8, 8192, 8), worker(5, 8, 8192, 8) };
	struct sched_instance in[4] = { inst(1, 1, 1), inst(2, 1, 1), inst(3, 1, 1), inst(4, 1, 1) };
	static const char *const w1l[] = { "zone=b" };
	static const char *const w2l[] = { "gpu=yes", "zone=a" };
	struct sched_stats st;

	(void)state;
	w[0].labels = w1l;
	w[0].nlabels = 1;
	w[1].labels = w2l;
	w[1].nlabels = 2;
	w[2].labels = w2l;
	w[2].nlabels = 2;
	w[2].state = WORKER_CORDONED;
	w[3].labels = w2l;
	w[3].nlabels = 2;
	w[3].health = HEALTH_OFFLINE;
	/* w[4] has no labels */
	in[0].labels = zone_a;
	in[0].nlabels = 1;
	in[1].labels = zone_b;
	in[1].nlabels = 1;
	in[2].labels = zone_a_gpu;
	in[2].nlabels = 2;
	assert_int_equal(sched_place(w, 5, in, 4, SCHED_BINPACK, &st), 0);
	assert_int_equal(in[0].worker, 1);
	assert_int_equal(in[1].worker, 0);
	assert_int_equal(in[2].worker, 1);
	assert_true(in[3].worker == 0 || in[3].worker == 1 || in[3].worker == 4);
	assert_int_equal(st.classes, 4);
	assert_int_equal(w[2].free_cpu, 8);
	assert_int_equal(w[3].free_cpu, 8);
}

static void
test_capacity_is_never_exceeded_and_earlier_instances_go_first(void **state)
{
	struct sched_worker w[1] = { worker(1, 4, 1000, 2) };
	struct sched_instance in[4] = { inst(1, 3, 100), inst(2, 2, 100), inst(3, 1, 2000),
		inst(4, 1, 100) };
	struct sched_stats st;

	(void)state;
	assert_int_equal(sched_place(w, 1, in, 4, SCHED_BINPACK, &st), 0);
	assert_int_equal(in[0].worker, 0);	/* 3 of 4 cpu */
	assert_int_equal(in[1].worker, -1);	/* needs 2, 1 left */
	assert_int_equal(in[2].worker, -1);	/* memory */
	assert_int_equal(in[3].worker, 0);	/* the last slot */
	assert_int_equal(w[0].free_slots, 0);
	assert_int_equal(st.placed, 2);
	assert_int_equal(st.unplaced, 2);
}

static void
test_nothing_to_place_or_nowhere_to_place(void **state)
{
	struct sched_instance in[1] = { inst(1, 1, 1) };
	struct sched_stats st;

	(void)state;
	assert_int_equal(sched_place(NULL, 0, in, 1, SCHED_SPREAD, &st), 0);
	assert_int_equal(in[0].worker, -1);
	assert_int_equal(st.unplaced, 1);
	assert_int_equal(sched_place(NULL, 0, NULL, 0, SCHED_BINPACK, &st), 0);
}

static void
test_explanation_reads_at_a_glance(void **state)
{
	struct sched_worker w[3] = { worker(1, 2, 8192, 8), worker(2, 1, 8192, 8),
		worker(3, 8, 8192, 8) };
	struct sched_instance in = inst(1, 4, 512);
	struct sbuf b;

	(void)state;
	w[2].state = WORKER_CORDONED;
	sbuf_init(&b);
	assert_int_equal(sched_explain(w, 3, &in, &b), 0);
	assert_string_equal(b.p, "3 workers: 2 lack cpu (need 4, free 2,1), 1 cordoned");
	sbuf_reset(&b);
	in.labels = zone_a;
	in.nlabels = 1;
	in.cpu = 1;
	w[2].health = HEALTH_LOST;
	w[2].state = WORKER_READY;
	assert_int_equal(sched_explain(w, 3, &in, &b), 0);
	assert_string_equal(b.p, "3 workers: 2 lack label zone=a, 1 lost");
	sbuf_reset(&b);
	assert_int_equal(sched_explain(NULL, 0, &in, &b), 0);
	assert_string_equal(b.p, "no workers are registered");
	sbuf_free(&b);
}

/*
 * Random sites: every placement is allowed, no capacity goes negative, and
 * with binpack an unplaced instance fits no worker at the end (first fit
 * never skips a worker that had room: capacity only shrinks).
 */
static void
test_random_sites_keep_the_invariants(void **state)
{
	static const char *const labels[] = { "zone=a", "zone=b" };
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t nw = (size_t)(rand_r(&seed) % 20), ni = (size_t)(rand_r(&seed) % 60);
		struct sched_worker w[20], before[20];
		struct sched_instance in[60];
		enum sched_policy p = round % 2 ? SCHED_SPREAD : SCHED_BINPACK;
		struct sched_stats st;

		for (size_t k = 0; k < nw; k++) {
			w[k] = worker((int64_t)k + 1, rand_r(&seed) % 9, rand_r(&seed) % 4096,
			    rand_r(&seed) % 5);
			w[k].state = rand_r(&seed) % 5 == 0 ? WORKER_CORDONED : WORKER_READY;
			w[k].labels = &labels[rand_r(&seed) % 2];
			w[k].nlabels = rand_r(&seed) % 2;
			before[k] = w[k];
		}
		for (size_t i = 0; i < ni; i++) {
			in[i] = inst((int64_t)i + 1, 1 + rand_r(&seed) % 4, 1 + rand_r(&seed) % 1024);
			in[i].labels = &labels[rand_r(&seed) % 2];
			in[i].nlabels = rand_r(&seed) % 3 == 0;
		}
		assert_int_equal(sched_place(w, nw, in, ni, p, &st), 0);
		assert_int_equal(st.placed + st.unplaced, ni);
		for (size_t k = 0; k < nw; k++) {
			int64_t cpu = 0, mem = 0, slots = 0;

			for (size_t i = 0; i < ni; i++) {
				if (in[i].worker != (int)k)
					continue;
				assert_true(sched_worker_may_take(&before[k], &in[i]));
				cpu += in[i].cpu;
				mem += in[i].memory_mb;
				slots++;
			}
			assert_true(w[k].free_cpu >= 0 && w[k].free_memory_mb >= 0 && w[k].free_slots >= 0);
			assert_int_equal(before[k].free_cpu - cpu, w[k].free_cpu);
			assert_int_equal(before[k].free_memory_mb - mem, w[k].free_memory_mb);
			assert_int_equal(before[k].free_slots - slots, w[k].free_slots);
		}
		for (size_t i = 0; i < ni; i++) {
			if (in[i].worker >= 0)
				continue;
			for (size_t k = 0; k < nw; k++)
				assert_false(sched_worker_may_take(&w[k], &in[i]) &&
				    w[k].free_cpu >= in[i].cpu && w[k].free_memory_mb >= in[i].memory_mb &&
				    w[k].free_slots >= 1);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binpack_fills_the_fullest_worker_first),
		cmocka_unit_test(test_spread_takes_the_emptiest_worker),
		cmocka_unit_test(test_labels_state_and_health_are_respected),
		cmocka_unit_test(test_capacity_is_never_exceeded_and_earlier_instances_go_first),
		cmocka_unit_test(test_nothing_to_place_or_nowhere_to_place),
		cmocka_unit_test(test_explanation_reads_at_a_glance),
		cmocka_unit_test(test_random_sites_keep_the_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
