/*
 * What the agent knows of each instance, on disk: instances/ID/record.json,
 * written whole (a temporary file, then rename) at each change and before
 * each call to the server, and read back by an agent started again on the
 * same work directory. work_recover() takes back what an earlier agent
 * left: the shims still running (adopted: polled, not reaped), the
 * statuses they wrote while no agent watched, and the reports it had not
 * sent.
 *
 * A record is the agent's alone and read back as the agent wrote it; one
 * that cannot be read back is removed with its directory, never guessed
 * at. Nothing here runs a step or speaks to the server.
 *
 * A record that cannot be written (a full disk) leaves the last one whole
 * and no partial file; the instance stays dirty, so it is written again at
 * its next change or call, and the agent says so once until one is written.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "work.h"

static int is_unwritable;	/* the last record write failed: said once, until one works */

static json_t *
proc_json(const struct proc *p)
{
	return json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:b, s:b, s:i}", "hook",
	    hook_name(p->hook), "shim", (int)p->shim, "pgid", (int)p->pgid,
	    "shim_start", (json_int_t)p->shim_start, "hook_start", (json_int_t)p->hook_start,
	    "started", (json_int_t)p->started_ms, "termed", p->is_termed, "killed", p->is_killed,
	    "why", (int)p->why);
}

void
records_write(struct inst *i)
{
	char path[PATH_BUF_MAX], tmp[PATH_BUF_MAX];
	json_t *r, *ran = json_array(), *sent = json_object(), *base = json_object();
	int rc, fd;

	for (int h = 0; h < HOOK_COUNT; h++) {
		if (i->ran[h])
			json_array_append_new(ran, json_string(hook_name((enum hook)h)));
		if (i->log_sent[h] > 0)
			json_object_set_new(sent, hook_name((enum hook)h), json_integer(i->log_sent[h]));
		if (i->log_base[h] > 0)
			json_object_set_new(base, hook_name((enum hook)h), json_integer(i->log_base[h]));
	}
	r = json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:O, s:O, s:O, s:o, s:o, "
	    "s:o, s:b, s:b, s:I}", "id", (json_int_t)i->id, "attempt", (json_int_t)i->attempt,
	    "local", inst_state_name(i->local), "owner", i->owner, "definition", i->definition,
	    "definition_version", (json_int_t)i->definition_version,
	    "slot_start", (json_int_t)i->slot_start, "slot_end", (json_int_t)i->slot_end,
	    "pool", i->is_pool, "hooks", i->hooks, "timeouts", i->timeouts, "queue", i->queue,
	    "ran", ran, "log_sent", sent, "log_base", base, "instantiated", i->is_instantiated,
	    "cleaning", i->is_cleaning, "instantiate_ms", (json_int_t)i->instantiate_ms);
	if (r == NULL)
		return;
	if (i->has_proc)
		json_object_set_new(r, "proc", proc_json(&i->proc));
	if (i->has_user)
		json_object_set_new(r, "user", json_pack("{s:I, s:I}", "uid",
		    (json_int_t)i->hook_uid, "gid", (json_int_t)i->hook_gid));
	json_object_set(r, "resources", i->resources);
	if (inst_path(i, "record.json", "", path, sizeof(path)) != 0 ||
	    inst_path(i, "record.json", ".tmp", tmp, sizeof(tmp)) != 0) {
		json_decref(r);
		return;
	}
	/* The agent's alone (0600): hooks' users pass through the instance's directory. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd >= 0 ? json_dumpfd(r, fd, JSON_COMPACT) : -1;
	json_decref(r);
	if (fd >= 0 && close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) == 0) {
		i->is_dirty = 0;
		if (is_unwritable)
			log_info("agent.records_written", "detail", "records are written again", NULL);
		is_unwritable = 0;
		return;
	}
	rc = errno;
	unlink(tmp);
	if (!is_unwritable) {
		char id[24];

		snprintf(id, sizeof(id), "%lld", (long long)i->id);
		log_error("agent.record_unwritten", "instance", id, "error", strerror(rc), "detail",
		    "the instance is kept in memory and its record written again at its next "
		    "change; an agent restarted before then takes back the last record written",
		    NULL);
	}
	is_unwritable = 1;
}

/* A record's field: "" and 0 when it is missing. */
static const char *
field_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

static int64_t
field_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static struct inst *
record_read(struct work *w, const char *dir_name)
{
	char path[PATH_BUF_MAX];
	json_t *r, *p, *v;
	struct inst *i;
	enum inst_state st;
	size_t k;
	int64_t id;

	if (parse_int64(dir_name, 1, INT64_MAX, &id) != 0 || path_fmt(path, sizeof(path),
	    "%s/instances/%s/record.json", w->cfg->work_dir, dir_name) != 0)
		return NULL;
	r = json_load_file(path, 0, NULL);
	if (r == NULL || inst_state_parse(field_str(r, "local"), &st) != 0 ||
	    field_int(r, "id") != id) {
		json_decref(r);
		return NULL;
	}
	i = inst_new(w, id, field_int(r, "attempt"));
	if (i == NULL) {
		json_decref(r);
		return NULL;
	}
	i->local = st;
	i->server = st;
	snprintf(i->owner, sizeof(i->owner), "%s", field_str(r, "owner"));
	snprintf(i->definition, sizeof(i->definition), "%s", field_str(r, "definition"));
	i->definition_version = field_int(r, "definition_version");
	i->slot_start = field_int(r, "slot_start");
	i->slot_end = field_int(r, "slot_end");
	i->is_pool = json_is_true(json_object_get(r, "pool"));
	i->is_instantiated = json_is_true(json_object_get(r, "instantiated"));
	i->is_cleaning = json_is_true(json_object_get(r, "cleaning"));
	i->instantiate_ms = json_is_integer(json_object_get(r, "instantiate_ms")) ?
	    field_int(r, "instantiate_ms") : -1;
	if (json_is_object(json_object_get(r, "hooks"))) {
		json_decref(i->hooks);
		i->hooks = json_incref(json_object_get(r, "hooks"));
	}
	if (json_is_object(json_object_get(r, "timeouts"))) {
		json_decref(i->timeouts);
		i->timeouts = json_incref(json_object_get(r, "timeouts"));
	}
	if (json_is_object(json_object_get(r, "resources"))) {
		json_decref(i->resources);
		i->resources = json_incref(json_object_get(r, "resources"));
	}
	if (json_is_array(json_object_get(r, "queue"))) {
		json_decref(i->queue);
		i->queue = json_deep_copy(json_object_get(r, "queue"));
	}
	json_array_foreach(json_object_get(r, "ran"), k, v) {
		enum hook h;

		if (hook_parse(json_string_value(v), &h) == 0)
			i->ran[h] = 1;
	}
	/* Offsets into a log are never negative (hooks.c relies on it): one that is reads as 0. */
	for (int h = 0; h < HOOK_COUNT; h++) {
		i->log_sent[h] = field_int(json_object_get(r, "log_sent"), hook_name((enum hook)h));
		i->log_base[h] = field_int(json_object_get(r, "log_base"), hook_name((enum hook)h));
		if (i->log_sent[h] < 0)
			i->log_sent[h] = 0;
		if (i->log_base[h] < 0)
			i->log_base[h] = 0;
	}
	v = json_object_get(r, "user");
	if (json_is_object(v) && field_int(v, "uid") > 0 && field_int(v, "uid") <= HOOK_UID_MAX &&
	    field_int(v, "gid") > 0 && field_int(v, "gid") <= HOOK_UID_MAX) {
		i->has_user = 1;
		i->hook_uid = (uid_t)field_int(v, "uid");
		i->hook_gid = (gid_t)field_int(v, "gid");
	}
	p = json_object_get(r, "proc");
	if (json_is_object(p) && hook_parse(field_str(p, "hook"), &i->proc.hook) == 0) {
		i->proc.shim = (pid_t)field_int(p, "shim");
		i->proc.pgid = (pid_t)field_int(p, "pgid");
		i->proc.shim_start = (unsigned long long)field_int(p, "shim_start");
		i->proc.hook_start = (unsigned long long)field_int(p, "hook_start");
		i->proc.started_ms = field_int(p, "started");
		i->proc.is_termed = json_is_true(json_object_get(p, "termed"));
		i->proc.is_killed = json_is_true(json_object_get(p, "killed"));
		i->proc.why = (enum kill_why)field_int(p, "why");
		i->proc.is_adopted = 1;
		i->has_proc = 1;
	}
	json_decref(r);
	return i;
}

/*
 * What an agent before us left: each record is read back; a hook whose shim
 * still runs is taken over, one whose shim ended has its result read, one
 * whose shim vanished without a word was lost (and its instance with it).
 * alive: the instances still had, for the server's sync.
 */
int
work_recover(struct work *w, int64_t **alive, size_t *n)
{
	char path[PATH_BUF_MAX], id[ID_BUF];
	struct dirent *de;
	size_t cap = 0, kept = 0, lost = 0;
	DIR *d;

	*alive = NULL;
	*n = 0;
	if (path_fmt(path, sizeof(path), "%s/instances", w->cfg->work_dir) != 0)
		return -1;
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct inst *i;
		int is_alive = 1;

		if (de->d_name[0] == '.')
			continue;
		i = record_read(w, de->d_name);
		if (i == NULL) {
			char dir[PATH_BUF_MAX];

			/* A name too long for the buffer: a path cut short is never removed. */
			if (path_fmt(dir, sizeof(dir), "%s/%s", path, de->d_name) != 0) {
				log_warn("agent.unreadable_record", "dir", path, "name", de->d_name,
				    NULL);
				continue;
			}
			/* No record, or one we cannot read: nothing of it can be resumed. */
			log_warn("agent.unreadable_record", "dir", dir, NULL);
			work_rm_tree(dir);
			continue;
		}
		id_str(i->id, id, sizeof(id));
		if (i->has_proc && !shim_alive(&i->proc)) {
			struct hook_result r;

			if (shim_result(i->dir, i->proc.hook, &r) == 0) {
				hooks_ended(i);	/* it ended while we were away: act on it now */
			} else {
				/* The shim went without a word: nothing watches its hook; it goes. */
				proc_kill_orphan(&i->proc);
				i->has_proc = 0;
				is_alive = 0;
			}
		}
		/* Ended here; still alive for the server while the report of its end waits. */
		if ((i->local == INST_STOPPED || i->local == INST_FAILED ||
		    i->local == INST_TERMINATED) && json_array_size(i->queue) == 0)
			is_alive = 0;
		if (is_alive) {
			if (array_grow(alive, &cap, *n, sizeof(**alive)) != 0)
				break;
			(*alive)[(*n)++] = i->id;
			kept++;
			log_info("agent.recovered", "instance", id, "state", inst_state_name(i->local),
			    "hook", i->has_proc ? hook_name(i->proc.hook) : "none", NULL);
		} else if (i->local != INST_STOPPED && i->local != INST_FAILED) {
			/* The server is told by its absence from alive; here it is cleaned up. */
			i->is_gone = 1;
			lost++;
			log_warn("agent.lost", "instance", id, "state", inst_state_name(i->local), NULL);
		}
		inst_mark(i);
	}
	closedir(d);
	log_info("agent.recovery", LOG_INT("kept", kept), LOG_INT("lost", lost), NULL);
	return 0;
}
