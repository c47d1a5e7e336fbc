/*
 * The files outpostd loads from its directories: the input is one file's
 * bytes, loaded as the server loads it at start and on SIGHUP. Built once
 * per kind (the build defines one of FUZZ_FILE_RUNBOOK, FUZZ_FILE_TEMPLATE,
 * FUZZ_FILE_ALERTS): a runbook (runbook_dir/NAME.json), a template
 * (template_dir/NAME.json, strictly, as at start, into the seeded store),
 * the alert rules (alerts_file, against the runbooks Outpost ships). What
 * loaded is then listed as the API lists it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"
#include "fuzz.h"

#if defined(FUZZ_FILE_ALERTS) && !defined(FUZZ_RUNBOOK_DIR)
#error "build with -DFUZZ_RUNBOOK_DIR='\"the source tree's runbooks\"'"
#endif

/* A directory of the tmpdir's, made once. */
static const char *
subdir(const char *name)
{
	static char dir[PATH_BUF_MAX];

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/%s", fuzz_tmpdir(), name);
		if (mkdir_p(dir, 0700) != 0)
			abort();
	}
	return dir;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct app *a = fuzz_server();
	char err[512];
	json_t *list = NULL;

#if defined(FUZZ_FILE_RUNBOOK)
	const char *dir = subdir("runbooks");

	(void)a;
	(void)err;
	if (fuzz_write_file(dir, "fz.json", data, size) != 0)
		abort();
	runbooks_load_dir(dir);
	list = runbooks_list();
#elif defined(FUZZ_FILE_TEMPLATE)
	const char *dir = subdir("templates");

	if (fuzz_write_file(dir, "fz.json", data, size) != 0)
		abort();
	templates_load_dir(a->store, dir, 1, err, sizeof(err));
	store_idle(a->store);
	list = templates_list(a->store);
#elif defined(FUZZ_FILE_ALERTS)
	static int is_loaded;
	const char *dir = subdir("alerts");
	char path[PATH_BUF_MAX + 16];

	if (!is_loaded && runbooks_load_dir(FUZZ_RUNBOOK_DIR) != 0)
		abort();
	is_loaded = 1;
	if (fuzz_write_file(dir, "alerts.json", data, size) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/alerts.json", dir);
	alerts_load(a->store, path, err, sizeof(err));
	store_idle(a->store);
	list = alerts_list();
#else
#error "build with one of -DFUZZ_FILE_RUNBOOK, -DFUZZ_FILE_TEMPLATE, -DFUZZ_FILE_ALERTS"
#endif
	json_decref(list);
	return 0;
}
