/*
 * A JSON body validator: the input is the body of FUZZ_METHOD FUZZ_TARGET,
 * given to that route's function as http.c gives it (the definitions', the
 * instances', a template's, the tokens', the agent's register, heartbeat,
 * sync, report and log). Built once per route (the build sets the two
 * names). The store carries what earlier inputs made, as a long-running
 * server's does.
 */
#include <string.h>

#include "fuzz.h"

#if !defined(FUZZ_METHOD) || !defined(FUZZ_TARGET)
#error "build with -DFUZZ_METHOD='\"POST\"' -DFUZZ_TARGET='\"/api/v1/...\"'"
#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(FUZZ_METHOD, FUZZ_TARGET, strlen(FUZZ_TARGET), (const char *)data, size, 0);
	return 0;
}
