/*
 * outpost-top's application of the event stream (site_on_event): the input
 * is a few events, one JSON text a line, as evstream hands them over once
 * parsed. Each is applied to a dashboard with every view's list made and
 * the pager open on a run's output (run 1), offline (nothing is asked of a
 * server). Then every list is filtered, sorted and read through, as a
 * frame would. What must hold: no crash, no leak, no read out of bounds,
 * whatever the server sends; the pager's lines hold no control character
 * (they go to the terminal as they are).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tui.h"
#include "fuzz.h"

#define EVENTS_MAX 8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct app *a = calloc(1, sizeof(*a));
	const char *p = (const char *)data, *end = p + size;

	if (a == NULL)
		abort();
	a->events_max = EVENTS_MAX;
	a->conn = CONN_AWAY;
	if (views_init(a) != 0)
		abort();
	pager_open(a, "run 1");
	a->pager.run_id = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *ev = json_loadb(p, n, 0, NULL);

		if (json_is_object(ev))
			site_on_event(a, ev);
		json_decref(ev);
		p += n + 1;
	}
	for (int v = 0; v < V_COUNT; v++) {
		struct model *m = &a->vs[v].m;

		model_set_filter(m, "a");
		model_set_sort(m, 0, 1);
		model_refresh(m);
		for (size_t i = 0; model_visible(m, i) != NULL; i++)
			;
		model_set_filter(m, "");
		model_refresh(m);
	}
	for (size_t i = 0; i < a->pager.n; i++)
		for (const unsigned char *c = (unsigned char *)a->pager.lines[i]; *c; c++)
			if (*c < 0x20 || *c == 0x7f)
				abort();
	pager_close(a);
	views_free(a);
	json_decref(a->alerts);
	free(a);
	return 0;
}
