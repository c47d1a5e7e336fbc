/*
 * The event-stream client's handler of the server's messages (evstream.c),
 * which the agent, `outpost events --follow` and outpost-top all run: the
 * input is one whole websocket message. Events must come in order, once
 * (seq only grows); an event handed over is read as the clients read it
 * (its type and its data's one-line summary).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evstream.h"
#include "evsummary.h"
#include "log.h"
#include "fuzz.h"

static int64_t last_seq;

static void
on_event(void *arg, json_t *ev)
{
	int64_t seq = json_integer_value(json_object_get(ev, "seq"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	char *data = json_dumps(json_object_get(ev, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
	char line[EVSUMMARY_MAX];

	(void)arg;
	if (seq <= last_seq)
		abort();	/* delivered twice, or out of order */
	last_seq = seq;
	evsummary_write(type ? type : "", data ? data : "", data ? strlen(data) : 0, line,
	    sizeof(line));
	free(data);
}

static void
on_caught_up(void *arg, int64_t seq)
{
	(void)arg;
	(void)seq;
}

static void
on_error(void *arg, const char *code, const char *message, const char *field)
{
	(void)arg;
	if (code == NULL || message == NULL || field == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evstream *es;

	if (es == NULL) {
		struct evstream_opts o = {
			.url = "http://127.0.0.1:1", .on_event = on_event,
			.on_caught_up = on_caught_up, .on_error = on_error,
		};
		char err[256];

		log_setup(LOG_FORMAT_TEXT, (enum log_level)(LOG_ERROR + 1));
		es = evstream_new(&o, err, sizeof(err));
		if (es == NULL) {
			fprintf(stderr, "evstream_new: %s\n", err);
			abort();
		}
	}
	evstream_feed(es, (const char *)data, size);
	if (evstream_last_seq(es) != last_seq && last_seq != 0)
		abort();
	return 0;
}
