/*
 * A websocket client's message to the event stream: the input is the text
 * of one message, as events_ws.c receives it whole ({"subscribe": {"since",
 * "types", "worker"}}). It is checked as the admin and as the seeded
 * worker's agent. What must hold: an accepted subscription has at most 16
 * types of 1 to 47 bytes and a since of 0 or more; an agent's names its own
 * worker and no other, whatever the message says; a refusal names its
 * field (subscribe...) and says why.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz.h"

static void
check(const uint8_t *data, size_t size, int is_agent)
{
	const struct auth_token *tok = fuzz_token(is_agent);
	struct ws_subscribe sub;
	struct op_err e = { 0 };

	if (ws_subscribe_parse((const char *)data, size, tok, &sub, &e) != 0) {
		if (e.code == NULL || e.message[0] == '\0' ||
		    (e.field[0] != '\0' && strncmp(e.field, "subscribe", 9) != 0))
			abort();
		return;
	}
	if (sub.ntypes < 0 || sub.ntypes > WS_SUB_MAX_TYPES || sub.since < 0 || sub.worker_id < 0)
		abort();
	for (int i = 0; i < sub.ntypes; i++)
		if (sub.types[i] == NULL || strlen(sub.types[i]) == 0 || strlen(sub.types[i]) > 47)
			abort();
	/* The property that matters: an agent sees its own worker's events only. */
	if (is_agent && sub.worker_id != tok->worker_id)
		abort();
	ws_subscribe_free(&sub);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_server();
	check(data, size, 0);
	check(data, size, 1);
	return 0;
}
