/*
 * The scheduler's pass: N pending instances onto M workers (default 10,000
 * onto 1,000), binpack and spread, timed with a monotonic clock, medians of
 * R runs. Beside it, in the same run, the reference: a plain first fit that
 * scans every worker for every instance (O(n·m)), the shape DESIGN §1 says
 * the scheduler must avoid. Built and run by run-sched.sh.
 *
 *   sched-bench [instances] [workers] [runs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

struct app *the_app;

static const char *const zones[] = { "zone=a", "zone=b", "zone=c" };

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
make_site(struct sched_worker *w, size_t nw, struct sched_instance *in, size_t ni, unsigned seed)
{
	for (size_t k = 0; k < nw; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		w[k].id = (int64_t)k + 1;
		w[k].name = "w";
		w[k].state = k % 50 == 0 ? WORKER_CORDONED : WORKER_READY;
		w[k].health = HEALTH_ONLINE;
		w[k].free_cpu = 16 - (int64_t)(rand_r(&seed) % 8);	/* some already busy */
		w[k].free_memory_mb = 65536 - (int64_t)(rand_r(&seed) % 16384);
		w[k].free_slots = 32;
		w[k].labels = &zones[k % 3];
		w[k].nlabels = 1;
	}
	for (size_t i = 0; i < ni; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		in[i].id = (int64_t)i + 1;
		in[i].cpu = 1 + rand_r(&seed) % 2;
		in[i].memory_mb = 512 * (1 + rand_r(&seed) % 4);
		if (rand_r(&seed) % 10 < 3) {
			in[i].labels = &zones[rand_r(&seed) % 3];
			in[i].nlabels = 1;
		}
	}
}

/* The reference: for each instance, scan every worker for the first that fits. */
static size_t
naive_first_fit(struct sched_worker *w, size_t nw, struct sched_instance *in, size_t ni)
{
	size_t placed = 0;

	for (size_t i = 0; i < ni; i++) {
		in[i].worker = -1;
		for (size_t k = 0; k < nw; k++) {
			if (!sched_worker_may_take(&w[k], &in[i]) || w[k].free_cpu < in[i].cpu ||
			    w[k].free_memory_mb < in[i].memory_mb || w[k].free_slots < 1)
				continue;
			w[k].free_cpu -= in[i].cpu;
			w[k].free_memory_mb -= in[i].memory_mb;
			w[k].free_slots--;
			in[i].worker = (int)k;
			placed++;
			break;
		}
	}
	return placed;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t ni = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t nw = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	int runs = argc > 3 ? atoi(argv[3]) : 7;
	struct sched_worker *w = calloc(nw, sizeof(*w));
	struct sched_instance *in = calloc(ni, sizeof(*in));
	double *t[3];
	size_t placed[3] = { 0 };
	static const char *const names[3] = { "binpack", "spread", "reference: naive first fit" };

	if (w == NULL || in == NULL || runs < 1)
		return 1;
	log_setup(LOG_FORMAT_TEXT, LOG_WARN);
	for (int p = 0; p < 3; p++)
		t[p] = calloc((size_t)runs, sizeof(double));
	/* Interleaved: binpack, spread, reference, binpack, ... on the same site each time. */
	for (int r = 0; r < runs; r++) {
		for (int p = 0; p < 3; p++) {
			struct sched_stats st;
			double t0;

			make_site(w, nw, in, ni, 42);
			t0 = now_s();
			if (p < 2) {
				if (sched_place(w, nw, in, ni, p == 0 ? SCHED_BINPACK : SCHED_SPREAD, &st) != 0)
					return 1;
				placed[p] = st.placed;
			} else {
				placed[p] = naive_first_fit(w, nw, in, ni);
			}
			t[p][r] = now_s() - t0;
		}
	}
	printf("| pass (%zu instances onto %zu workers) | median ms | min ms | placed |\n", ni, nw);
	printf("|---|---|---|---|\n");
	for (int p = 0; p < 3; p++) {
		qsort(t[p], (size_t)runs, sizeof(double), cmp_double);
		printf("| %s | %.2f | %.2f | %zu |\n", names[p], t[p][runs / 2] * 1000,
		    t[p][0] * 1000, placed[p]);
	}
	printf("\nbinpack takes %.2f× the reference's time, spread %.2f×.\n",
	    t[0][runs / 2] / t[2][runs / 2], t[1][runs / 2] / t[2][runs / 2]);

	/*
	 * The hard case: nothing fits, and the most free cpu, memory and slots sit on
	 * different workers, so no subtree can be skipped on its maxima alone.
	 */
	{
		double hard[2] = { 0, 0 };

		for (int p = 0; p < 2; p++) {
			double best = 1e9;

			for (int r = 0; r < runs; r++) {
				struct sched_stats st;
				double t0;

				make_site(w, nw, in, ni, 42);
				for (size_t k = 0; k < nw; k++) {
					w[k].free_cpu = k % 3 == 0 ? 64 : 1;
					w[k].free_memory_mb = k % 3 == 1 ? 65536 : 256;
					w[k].free_slots = k % 3 == 2 ? 32 : 1;
					w[k].nlabels = 0;
				}
				for (size_t i = 0; i < ni; i++) {
					in[i].cpu = 2;
					in[i].memory_mb = 1024;
					in[i].nlabels = 0;
				}
				t0 = now_s();
				if (sched_place(w, nw, in, ni, p == 0 ? SCHED_BINPACK : SCHED_SPREAD, &st) != 0)
					return 1;
				if (now_s() - t0 < best)
					best = now_s() - t0;
				if (st.placed != 0)
					return 1;
			}
			hard[p] = best;
		}
		printf("Nothing fits (cpu, memory and slots maxima on different workers): binpack %.2f ms, "
		    "spread %.2f ms (best of %d).\n", hard[0] * 1000, hard[1] * 1000, runs);
	}
	for (int p = 0; p < 3; p++)
		free(t[p]);
	free(w);
	free(in);
	return 0;
}
