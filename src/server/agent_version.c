/*
 * The agent protocol's version. An agent's registration and heartbeats say
 * which protocol it speaks ("protocol", an integer) and which release it is
 * ("agent_version"); this server serves AGENT_PROTOCOL_MIN to
 * AGENT_PROTOCOL_MAX (server.h). An agent without "protocol" is the oldest
 * served: agents of the release before it sent none. One outside the range
 * is refused, 400 unsupported_protocol (field protocol), before anything
 * changes, and the refusal is kept beside what the other agents said.
 *
 * What each worker's agent said last is kept here, in memory, by worker name
 * (a bounded table: AGENTS_MAX names, the least recently heard one gives
 * way): it is shown on the worker (agent_version, agent_protocol,
 * agent_refused) and is said again by the next heartbeat after a restart.
 * The api_*.c routes call agent_version_take; workers.c shows it.
 */
#include "config.h"

#include <string.h>

#include "server.h"

#define AGENTS_MAX 4096
#define VERSION_MAX 64	/* bytes of an agent_version */

struct agent_said {
	char name[NAME_BUF];
	char version[VERSION_MAX + 1];	/* "": it did not say */
	int64_t protocol;		/* 0: none heard */
	char refused[200];		/* why its last call was refused; "": it was not */
	int64_t at;			/* when it was last heard (ms) */
};

static struct agent_said agents[AGENTS_MAX];
static size_t nagents;

/* name's entry, made if need be (the least recently heard one gives way); never NULL. */
static struct agent_said *
entry(const char *name)
{
	size_t i, oldest = 0;

	for (i = 0; i < nagents; i++) {
		if (strcmp(agents[i].name, name) == 0)
			return &agents[i];
		if (agents[i].at < agents[oldest].at)
			oldest = i;
	}
	i = nagents < AGENTS_MAX ? nagents++ : oldest;
	memset(&agents[i], 0, sizeof(agents[i]));
	snprintf(agents[i].name, sizeof(agents[i].name), "%s", name);
	return &agents[i];
}

static const struct agent_said *
find(const char *name)
{
	for (size_t i = 0; i < nagents; i++)
		if (strcmp(agents[i].name, name) == 0)
			return &agents[i];
	return NULL;
}

/* 1 to VERSION_MAX bytes, none a control character (it is shown in terminals). */
static int
is_version_text(const char *v)
{
	size_t n = v != NULL ? strlen(v) : 0;

	if (n == 0 || n > VERSION_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * Takes "protocol" and "agent_version" out of a registration's or a
 * heartbeat's body (so the domain's checks see the fields they know) and
 * keeps them for the worker it names when may_keep (the token is that
 * worker's own, or a join token's registration that agent_version_undo
 * takes back if it fails: see agent_version_hold). 0; or -1
 * with err: 400
 * invalid_argument for a field of the wrong type, 400 unsupported_protocol
 * (field protocol) for a protocol this server does not serve.
 */
int
agent_version_take(struct store *s, json_t *in, int may_keep, struct op_err *err)
{
	json_t *p = json_object_get(in, "protocol"), *v = json_object_get(in, "agent_version");
	const char *name = json_string_value(json_object_get(in, "name"));
	const char *version = "";
	int64_t protocol = AGENT_PROTOCOL_MIN;	/* none said: the oldest served */
	struct agent_said *a;

	if (p != NULL) {
		if (!json_is_integer(p)) {
			op_err_set(err, 400, "invalid_argument", "protocol", "protocol must be an "
			    "integer, the agent protocol's version");
			return -1;
		}
		protocol = json_integer_value(p);
	}
	if (v != NULL) {
		version = json_string_value(v);
		if (!is_version_text(version)) {
			op_err_set(err, 400, "invalid_argument", "agent_version", "agent_version must "
			    "be 1 to %d printable bytes, the agent's release", VERSION_MAX);
			return -1;
		}
	}
	/* Names the domain would refuse are kept nowhere: it refuses them next. */
	if (!may_keep || (name != NULL && !name_is_valid(name, NAME_MAX_LEN)))
		name = NULL;
	if (protocol < AGENT_PROTOCOL_MIN || protocol > AGENT_PROTOCOL_MAX) {
		char was[sizeof(a->refused)];

		op_err_set(err, 400, "unsupported_protocol", "protocol", "agent protocol %lld is "
		    "not served: this outpostd (%s) serves agent protocols %d to %d; %s",
		    (long long)protocol, PACKAGE_VERSION, AGENT_PROTOCOL_MIN, AGENT_PROTOCOL_MAX,
		    protocol > AGENT_PROTOCOL_MAX ? "upgrade outpostd first, or run an agent of "
		    "its release" : "upgrade the agent");
		if (name == NULL) {
			log_warn("agent.refused", "agent_version", version[0] ? version :
			    "(none said)", "reason", err->message, NULL);
			return -1;
		}
		a = entry(name);
		snprintf(was, sizeof(was), "%s", a->refused);
		snprintf(a->refused, sizeof(a->refused), "agent protocol %lld not served (%d to %d)",
		    (long long)protocol, AGENT_PROTOCOL_MIN, AGENT_PROTOCOL_MAX);
		snprintf(a->version, sizeof(a->version), "%s", version);
		a->protocol = protocol;
		a->at = now_ms();
		/* Said once an episode, and shown: cached answers that show workers go. */
		if (strcmp(was, a->refused) != 0) {
			log_warn("agent.refused", "worker", name, "agent_version", version[0] ? version :
			    "(none said)", "reason", a->refused, NULL);
			store_touch_heartbeats(s);
		}
		return -1;
	}
	if (name != NULL) {
		a = entry(name);
		if (a->refused[0] != '\0' || a->protocol != protocol ||
		    strcmp(a->version, version) != 0)
			/* What the worker shows changed: answers that show workers follow heartbeats. */
			store_touch_heartbeats(s);
		a->refused[0] = '\0';
		snprintf(a->version, sizeof(a->version), "%s", version);
		a->protocol = protocol;
		a->at = now_ms();
	}
	/* Last: version is the body's string. */
	json_object_del(in, "protocol");
	json_object_del(in, "agent_version");
	return 0;
}

/*
 * A join token's registration: what its agent says is kept for the name it
 * registers (agent_version_take with may_keep), shown by the worker the
 * registration writes, but only if the registration succeeds, since only then
 * is the agent that worker's own (it gets the worker's credential). Hold
 * before the take; undo if the take or the registration fails. One hold at a
 * time: the loop serves one registration at a time.
 */
static struct {
	char name[NAME_BUF];	/* "": nothing held */
	int had;		/* the name had an entry */
	struct agent_said was;
} held;

void
agent_version_hold(const json_t *in)
{
	const char *name = json_string_value(json_object_get(in, "name"));
	const struct agent_said *a;

	held.name[0] = '\0';
	if (name == NULL || !name_is_valid(name, NAME_MAX_LEN))
		return;
	snprintf(held.name, sizeof(held.name), "%s", name);
	a = find(name);
	held.had = a != NULL;
	if (a != NULL)
		held.was = *a;
}

void
agent_version_undo(struct store *s)
{
	struct agent_said *a;

	if (held.name[0] == '\0')
		return;
	a = (struct agent_said *)find(held.name);
	if (held.had)
		*(a != NULL ? a : entry(held.name)) = held.was;
	else if (a != NULL)
		memset(a, 0, sizeof(*a));	/* an empty name: found by no one, first to go */
	held.name[0] = '\0';
	store_touch_heartbeats(s);
}

/* What worker w's agent said last: agent_version, agent_protocol, agent_refused (or nulls). */
void
agent_version_json(json_t *w)
{
	const char *name = json_string_value(json_object_get(w, "name"));
	const struct agent_said *a = name != NULL ? find(name) : NULL;

	json_object_set_new(w, "agent_version", a != NULL && a->version[0] ?
	    json_string(a->version) : json_null());
	json_object_set_new(w, "agent_protocol", a != NULL && a->protocol ?
	    json_integer(a->protocol) : json_null());
	json_object_set_new(w, "agent_refused", a != NULL && a->refused[0] ?
	    json_string(a->refused) : json_null());
}
