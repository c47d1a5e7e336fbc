/*
 * A runbook run's body: the input is what POST /api/v1/runbooks/NAME/runs
 * takes ({"params": {...}, "dry_run", "confirm"}); its params are checked
 * against each of the runbooks Outpost ships (types, bounds, names that
 * must exist in the seeded store), and the steps of each that accepts them
 * are filled in with them ({{name}} references), as a run does before its
 * first step. No run is started: a run's steps act on the site.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz.h"

#ifndef FUZZ_RUNBOOK_DIR
#error "build with -DFUZZ_RUNBOOK_DIR='\"the source tree's runbooks\"'"
#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *names;
	struct app *a = fuzz_server();
	json_t *body, *v;
	size_t i;

	if (names == NULL) {
		json_t *list;

		if (runbooks_load_dir(FUZZ_RUNBOOK_DIR) != 0)
			abort();
		list = runbooks_list();
		names = json_array();
		json_array_foreach(json_object_get(list, "items"), i, v)
			json_array_append(names, json_object_get(v, "name"));
		json_decref(list);
		if (json_array_size(names) == 0)
			abort();
	}
	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		return 0;
	}
	json_array_foreach(names, i, v) {
		struct runbook *rb = runbook_find(json_string_value(v));
		struct op_err e = { 0 };
		json_t *params = NULL, *steps;
		struct sbuf b;

		if (rb == NULL)
			abort();
		if (runbook_params(rb, a->store, json_object_get(body, "params"), &params, &e) != 0)
			continue;
		steps = subst(json_object_get(rb->spec, "steps"), params);
		sbuf_init(&b);
		subst_text(steps, &b);
		sbuf_free(&b);
		json_decref(steps);
		json_decref(params);
	}
	json_decref(body);
	return 0;
}
