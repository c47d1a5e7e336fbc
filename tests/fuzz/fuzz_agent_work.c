/*
 * What the agent takes from the server: the input is an answer of
 * GET /api/v1/agent/work (or of sync: the same shape), applied to the
 * agent's list of instances as outpost-agent applies it (its records
 * written to a work directory of this process's), twice, as two answers in
 * a row; then read as a pushed event is read (is it the echo of a report?).
 * No hook is started: that is the next step of the agent's loop, not
 * parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "work.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agent_config cfg;
	struct work *w;
	json_t *answer;
	char path[PATH_BUF_MAX + 16];

	if (cfg.work_dir[0] == '\0') {
		log_setup(LOG_FORMAT_TEXT, (enum log_level)(LOG_ERROR + 1));
		snprintf(cfg.name, sizeof(cfg.name), "fz-1");
		snprintf(cfg.server, sizeof(cfg.server), "http://127.0.0.1:1");
		snprintf(cfg.work_dir, sizeof(cfg.work_dir), "%s", fuzz_tmpdir());
		cfg.heartbeat_ms = 1000;
		cfg.kill_grace_ms = 1000;
	}
	answer = json_loadb((const char *)data, size, 0, NULL);
	if (answer == NULL)
		return 0;
	w = work_new(&cfg, NULL);
	if (w == NULL)
		abort();
	work_apply(w, answer);
	work_apply(w, answer);
	work_is_echo(w, answer);
	work_free(w);
	json_decref(answer);
	snprintf(path, sizeof(path), "%s/instances", cfg.work_dir);
	work_rm_tree(path);
	return 0;
}
