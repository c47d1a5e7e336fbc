/*
 * The config file: the input is outpostd.conf's bytes, read by confread.c
 * with every setting's own check (config_server.c) and then the checks of
 * the settings together, as outpostd reads --config at start and on SIGHUP.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"
#include "confread.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_BUF_MAX];
	struct server_config c;
	char err[512];

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/outpostd.conf", fuzz_tmpdir());
	if (fuzz_write_file(fuzz_tmpdir(), "outpostd.conf", data, size) != 0)
		abort();
	server_config_defaults(&c);
	if (config_load_file(path, 0, server_config_set, &c, err, sizeof(err)) == 0)
		server_config_check(&c, err, sizeof(err));
	return 0;
}
