/*
 * The instances' cgroups (cgroup.h says the layout): finding the hierarchy
 * the agent may use, making each instance's cgroup with its limits, ending
 * it whole, telling a hook killed at a limit, sampling usage.
 *
 * v2 is used where the agent's own cgroup has memory, cpu and pids (under
 * systemd, a unit with Delegate=yes): the agent moves itself into the leaf
 * OWN/agent (a cgroup with controllers enabled below it holds no process),
 * enables the three in OWN and in its parent, and instances are its
 * children. Else v1, where memory, cpu and pids are mounted (cpuacct and
 * freezer too where they are): the parent is made under the agent's own
 * cgroup in each hierarchy, and an instance has a directory in each.
 *
 * An instance's end kills every process in its cgroup, double-forked and
 * setsid'd ones too (they never leave it): cgroup.kill on v2 where the
 * kernel has it; else frozen, each process SIGKILLed, thawed; without a
 * freezer (v1), SIGKILL to each until none is left. The freeze is what
 * makes it whole: a frozen process cannot fork or exit, so the list read
 * is the list killed. Everything here runs on the agent's loop; the most an
 * end holds it is a second, waiting for the killed to go.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "hookuser.h"
#include "work.h"

enum cg_mode { CG_NONE, CG_V1, CG_V2 };

/* v1's controllers, each at its own mount; the first three are required. v2 uses [0] alone. */
enum ctl { CT_MEMORY, CT_CPU, CT_PIDS, CT_CPUACCT, CT_FREEZER, CT_COUNT };
#define CT_REQUIRED 3
static const char *const ctl_names[CT_COUNT] = { "memory", "cpu", "pids", "cpuacct", "freezer" };

/* The CPU quota's period: 100 ms, the kernel's default. */
#define CPU_PERIOD_US 100000
/* The most an end waits for the killed to go. */
#define END_WAIT_MS 1000
/* The heartbeat's usage array holds at most this many (the server's bound). */
#define USAGE_MAX 10000

static enum cg_mode mode;
static const char *isolation = "none";
/* The agent's parent in each controller's hierarchy ("": not mounted); v2: [0]. */
static char parents[CT_COUNT][PATH_BUF_MAX];
static int has_kill;	/* v2's cgroup.kill (Linux 5.14) */

/* ---- small files ---- */

static int
file_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int saved;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int
file_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

/* The number a file holds ("max" reads as UINT64_MAX); -1 when there is none. */
static int
file_u64(const char *path, uint64_t *v)
{
	char buf[64];

	if (file_read(path, buf, sizeof(buf)) != 0)
		return -1;
	if (strncmp(buf, "max", 3) == 0) {
		*v = UINT64_MAX;
		return 0;
	}
	*v = strtoull(buf, NULL, 10);
	return 0;
}

/* The value of "KEY N" among a file's lines (memory.events, cpu.stat, pids.events). */
static int
file_key(const char *path, const char *key, uint64_t *v)
{
	char buf[4096], *p;
	size_t kl = strlen(key);

	if (file_read(path, buf, sizeof(buf)) != 0)
		return -1;
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			*v = strtoull(p + kl + 1, NULL, 10);
			return 0;
		}
	}
	return -1;
}

/* Is word one of the words of list (separated by any of seps)? */
static int
has_word(const char *list, const char *word, const char *seps)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p != '\0'; p += strcspn(p, seps), p += strspn(p, seps))
		if (strncmp(p, word, wl) == 0 && (p[wl] == '\0' || strchr(seps, p[wl]) != NULL))
			return 1;
	return 0;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- finding the hierarchy ---- */

/*
 * The directory of the agent's own cgroup in the hierarchy of controller
 * ctl (v1), or in cgroup2's (ctl NULL): the mount's point, and the path
 * /proc/self/cgroup says, less the mount's root. -1 when it is not mounted
 * or the agent's cgroup is not under the mount.
 */
static int
own_dir(const char *ctl, char *out, size_t n)
{
	char line[4096], mnt[PATH_BUF_MAX] = "", root[PATH_BUF_MAX] = "", cg[PATH_BUF_MAX] = "";
	const char *rel;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (f == NULL)
		return -1;
	while (mnt[0] == '\0' && fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *tok, *fields[6] = { 0 }, *sep = strstr(line, " - ");
		char *fstype, *opts;
		int k = 0;

		if (sep == NULL)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " \n", &save);
		strtok_r(NULL, " \n", &save);	/* the source */
		opts = strtok_r(NULL, " \n", &save);
		if (fstype == NULL || opts == NULL)
			continue;
		if (ctl == NULL ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0 ||
		    !has_word(opts, ctl, ","))
			continue;
		save = NULL;
		for (tok = strtok_r(line, " ", &save); tok != NULL && k < 6;
		    tok = strtok_r(NULL, " ", &save))
			fields[k++] = tok;
		if (k < 5 || snprintf(root, sizeof(root), "%s", fields[3]) >= (int)sizeof(root) ||
		    snprintf(mnt, sizeof(mnt), "%s", fields[4]) >= (int)sizeof(mnt))
			mnt[0] = '\0';
	}
	fclose(f);
	if (mnt[0] == '\0' || (f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (cg[0] == '\0' && fgets(line, sizeof(line), f) != NULL) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 == NULL)
			continue;
		*c2 = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (ctl == NULL ? strcmp(line, "0:") == 0 && c1[1] == '\0' : has_word(c1 + 1, ctl, ","))
			snprintf(cg, sizeof(cg), "%s", c2[1] != '\0' ? c2 + 1 : "/");
	}
	fclose(f);
	if (cg[0] == '\0')
		return -1;
	/* The path is the hierarchy's; the mount shows it from its root on. */
	rel = cg;
	if (strcmp(root, "/") != 0) {
		size_t rl = strlen(root);

		if (strncmp(cg, root, rl) != 0 || (cg[rl] != '\0' && cg[rl] != '/'))
			return -1;
		rel = cg + rl;
	}
	if (strcmp(rel, "/") == 0)
		rel = "";
	return path_fmt(out, n, "%s%s", mnt, rel);
}

/* "outpost-agent-WORKER.HASH", the hash (FNV-1a) of the work directory's path. */
static void
parent_name(const struct agent_config *c, char *buf, size_t n)
{
	uint32_t h = 2166136261u;

	for (const char *p = c->work_dir; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(buf, n, "outpost-agent-%s.%08x", c->name, (unsigned)h);
}

/*
 * What a given cgroup_root holds itself (the holder unit's process: systemd
 * puts a unit's process in its cgroup) goes to ROOT/hold, since a cgroup with
 * controllers enabled for its children may hold no process. Up to 64 at a time.
 */
static int
hold_procs(const char *root)
{
	char path[PATH_BUF_MAX], to[PATH_BUF_MAX], buf[1024];
	char *save = NULL, *tok;

	if (path_fmt(path, sizeof(path), "%s/hold", root) != 0 ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST) ||
	    path_fmt(to, sizeof(to), "%s/hold/cgroup.procs", root) != 0 ||
	    path_fmt(path, sizeof(path), "%s/cgroup.procs", root) != 0 ||
	    file_read(path, buf, sizeof(buf)) != 0)
		return -1;
	for (tok = strtok_r(buf, "\n", &save); tok != NULL; tok = strtok_r(NULL, "\n", &save))
		if (file_write(to, tok) != 0 && errno != ESRCH)
			return -1;
	return 0;
}

/* Are memory, cpu and pids in DIR's cgroup.controllers? -1 with why when not. */
static int
has_controllers(const char *dir, const char *what, char *why, size_t n)
{
	const char *want[] = { "memory", "cpu", "pids" };
	char path[PATH_BUF_MAX], buf[512];

	if (path_fmt(path, sizeof(path), "%s/cgroup.controllers", dir) != 0 ||
	    file_read(path, buf, sizeof(buf)) != 0) {
		snprintf(why, n, "cgroup v2: %s%.1000s is not a cgroup: %s", what, dir,
		    strerror(errno));
		return -1;
	}
	for (size_t k = 0; k < 3; k++) {
		if (!has_word(buf, want[k], " \n")) {
			snprintf(why, n, "cgroup v2: the %s controller is not delegated to %s%.1000s "
			    "(cgroup.controllers: %.100s)", want[k], what, dir, buf);
			return -1;
		}
	}
	return 0;
}

static int
setup_v2(const char *name, const char *root, char *why, size_t n)
{
	char own[PATH_BUF_MAX], base[PATH_BUF_MAX], path[PATH_BUF_MAX], pid[24];
	int is_root;

	/*
	 * A cgroup_root given (the shipped unit's holder, under systemd before
	 * 254): the agent's own cgroup stays as systemd made it, with no
	 * controller enabled, so that systemd can start the agent there again
	 * while instances run under the root.
	 */
	if (root[0] != '\0') {
		if (path_fmt(base, sizeof(base), "%s", root) != 0) {
			snprintf(why, n, "cgroup v2: cgroup_root is too long");
			return -1;
		}
		if (has_controllers(base, "cgroup_root ", why, n) != 0)
			return -1;
		if (hold_procs(base) != 0) {
			snprintf(why, n, "cgroup v2: cannot move what cgroup_root %.1000s holds into its "
			    "leaf hold: %s", root, strerror(errno));
			return -1;
		}
		goto enable;
	}
	if (own_dir(NULL, own, sizeof(own)) != 0) {
		snprintf(why, n, "no cgroup2 mount holds the agent's cgroup");
		return -1;
	}
	memcpy(base, own, sizeof(base));
	/*
	 * Already in the leaf BASE/agent (systemd's DelegateSubgroup=agent, or an
	 * agent before this one moved it there): the parent goes beside it.
	 */
	{
		char *slash = strrchr(base, '/');

		if (slash != NULL && strcmp(slash, "/agent") == 0)
			*slash = '\0';
	}
	/* A slice is systemd's, never a unit's own: the agent makes nothing in one. */
	if (strlen(base) > 6 && strcmp(base + strlen(base) - 6, ".slice") == 0) {
		snprintf(why, n, "cgroup v2: the agent is in the slice %s, not a cgroup of its own "
		    "(see \"Under systemd\" in containment.md)", base);
		return -1;
	}
	if (has_controllers(base, "", why, n) != 0)
		return -1;
	/* The root cgroup may hold processes beside children with controllers; no other may. */
	is_root = path_fmt(path, sizeof(path), "%s/cgroup.type", base) == 0 &&
	    access(path, F_OK) != 0 && errno == ENOENT;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (!is_root && strcmp(base, own) == 0 &&
	    (path_fmt(path, sizeof(path), "%s/agent", base) != 0 ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST) ||
	    path_fmt(path, sizeof(path), "%s/agent/cgroup.procs", base) != 0 ||
	    file_write(path, pid) != 0)) {
		snprintf(why, n, "cgroup v2: cannot move the agent into %s: %s", path, strerror(errno));
		return -1;
	}
enable:
	if (path_fmt(path, sizeof(path), "%s/cgroup.subtree_control", base) != 0 ||
	    file_write(path, "+memory +cpu +pids") != 0 ||
	    path_fmt(parents[0], sizeof(parents[0]), "%s/%s", base, name) != 0 ||
	    (mkdir(parents[0], 0755) != 0 && errno != EEXIST) ||
	    path_fmt(path, sizeof(path), "%s/cgroup.subtree_control", parents[0]) != 0 ||
	    file_write(path, "+memory +cpu +pids") != 0) {
		snprintf(why, n, "cgroup v2: cannot enable memory, cpu and pids in %s: %s", path,
		    strerror(errno));
		parents[0][0] = '\0';
		return -1;
	}
	has_kill = path_fmt(path, sizeof(path), "%s/cgroup.kill", parents[0]) == 0 &&
	    access(path, F_OK) == 0;
	return 0;
}

static int
setup_v1(const char *name, char *why, size_t n)
{
	char own[PATH_BUF_MAX];

	for (int k = 0; k < CT_COUNT; k++) {
		parents[k][0] = '\0';
		if (own_dir(ctl_names[k], own, sizeof(own)) != 0) {
			if (k < CT_REQUIRED) {
				snprintf(why, n, "cgroup v1: no %s controller is mounted", ctl_names[k]);
				return -1;
			}
			continue;
		}
		if (path_fmt(parents[k], sizeof(parents[k]), "%s/%s", own, name) != 0 ||
		    (mkdir(parents[k], 0755) != 0 && errno != EEXIST)) {
			snprintf(why, n, "cgroup v1: cannot make %.1500s: %s", parents[k],
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * The parent's CPU weight, from the agent's own nice: the instances' hooks
 * inherit that nice, but in a cgroup of their own a nice weighs only against
 * the same instance's other processes, and the cgroup itself competes at the
 * default weight, as one process at nice 0 would. An agent started at nice N
 * (the local provisioner's "nice") thus gives its instances, together, the
 * weight of one process at nice N. Written at every start, so that a nice
 * taken back is taken back here too.
 */
static void
parent_weight(void)
{
	/* The kernel's weight of a process at nice 0 to 19 (sched_prio_to_weight). */
	static const int weight[20] = { 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
		110, 87, 70, 56, 45, 36, 29, 23, 18, 15 };
	char path[PATH_BUF_MAX], v[16];
	int n = getpriority(PRIO_PROCESS, 0);

	n = n < 0 ? 0 : n > 19 ? 19 : n;
	if (mode == CG_V2) {
		snprintf(v, sizeof(v), "%d", n);
		if (path_fmt(path, sizeof(path), "%s/cpu.weight.nice", parents[0]) != 0)
			return;
	} else {
		snprintf(v, sizeof(v), "%d", weight[n]);
		if (parents[CT_CPU][0] == '\0' ||
		    path_fmt(path, sizeof(path), "%s/cpu.shares", parents[CT_CPU]) != 0)
			return;
	}
	if (file_write(path, v) != 0 && n > 0)
		log_warn("agent.cgroup_weight", "file", path, "value", v, "error", strerror(errno),
		    NULL);
}

/* WORK_DIR/cgroups: the agent's parents, one a line, for operators (and tests' clean-ups). */
static void
write_parents(const struct agent_config *c)
{
	char path[PATH_BUF_MAX];
	FILE *f;

	if (path_fmt(path, sizeof(path), "%s/cgroups", c->work_dir) != 0)
		return;
	if (mode == CG_NONE || (f = fopen(path, "we")) == NULL) {
		unlink(path);
		return;
	}
	for (int k = 0; k < CT_COUNT; k++) {
		int is_dup = 0;

		for (int j = 0; j < k; j++)
			is_dup |= strcmp(parents[j], parents[k]) == 0;
		if (parents[k][0] != '\0' && !is_dup)
			fprintf(f, "%s\n", parents[k]);
	}
	fclose(f);
}

void
cg_setup(const struct agent_config *c)
{
	char name[NAME_BUF + 32], why2[PATH_MSG_BUF], why1[PATH_MSG_BUF];
	char why[2 * PATH_MSG_BUF + 128];

	mode = CG_NONE;
	isolation = "none";
	if (c->is_isolation_off) {
		log_warn("agent.isolation", "isolation", "none", "why", "turned off by the isolation "
		    "setting: instances run in the agent's cgroup, hooks as the agent's user", NULL);
		write_parents(c);
		return;
	}
	parent_name(c, name, sizeof(name));
	if (setup_v2(name, c->cgroup_root, why2, sizeof(why2)) == 0) {
		mode = CG_V2;
	} else if (setup_v1(name, why1, sizeof(why1)) == 0) {
		mode = CG_V1;
	} else {
		for (int k = 0; k < CT_COUNT; k++)
			parents[k][0] = '\0';
		snprintf(why, sizeof(why), "no usable cgroup: %s; %s; instances run in the agent's "
		    "cgroup with no limits", why2, why1);
		log_warn("agent.isolation", "isolation", "none", "why", why, NULL);
		write_parents(c);
		return;
	}
	write_parents(c);
	parent_weight();
	if (!hookuser_available(why1, sizeof(why1))) {
		snprintf(why, sizeof(why), "each instance has a cgroup (%s), but hooks cannot run as "
		    "users of their own: %s", mode == CG_V2 ? "v2" : "v1", why1);
		log_warn("agent.isolation", "isolation", "none", "cgroup", parents[0], "why", why,
		    NULL);
		return;
	}
	isolation = mode == CG_V2 ? "cgroup-v2" : "cgroup-v1";
	log_info("agent.isolation", "isolation", isolation, "cgroup", parents[0], NULL);
}

const char *
cg_isolation(void)
{
	return isolation;
}

/* ---- an instance's cgroup ---- */

/* The instance's directory in controller k's hierarchy; -1 when that one is not used. */
static int
inst_dir(int k, int64_t id, char *buf, size_t n)
{
	if (mode == CG_NONE || (mode == CG_V2 && k != CT_MEMORY) || parents[k][0] == '\0')
		return -1;
	/* Controllers mounted together (cpu,cpuacct) share one directory: it is used once. */
	for (int j = 0; j < k; j++)
		if (strcmp(parents[j], parents[k]) == 0)
			return -1;
	return path_fmt(buf, n, "%s/i%lld", parents[k], (long long)id);
}

/* A file of controller k's directory of the instance (the first directory on v2). */
static int
ctl_file(int k, int64_t id, const char *file, char *buf, size_t n)
{
	const char *p = mode == CG_V2 ? parents[0] : parents[k];

	if (mode == CG_NONE || p[0] == '\0')
		return -1;
	return path_fmt(buf, n, "%s/i%lld/%s", p, (long long)id, file);
}

static int
ctl_write(int k, int64_t id, const char *file, const char *text, char *err, size_t errlen)
{
	char path[PATH_BUF_MAX];

	if (ctl_file(k, id, file, path, sizeof(path)) != 0 || file_write(path, text) != 0) {
		snprintf(err, errlen, "cannot write %s to %s: %s", text, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
has_file(int k, int64_t id, const char *file)
{
	char path[PATH_BUF_MAX];

	return ctl_file(k, id, file, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

static int64_t
resource(const struct inst *i, const char *key, int64_t dflt, int64_t max)
{
	json_t *v = json_object_get(i->resources, key);
	int64_t n = json_is_integer(v) ? json_integer_value(v) : dflt;

	return n >= 1 && n <= max ? n : dflt;
}

static uint64_t
oom_kills(int64_t id)
{
	char path[PATH_BUF_MAX];
	uint64_t v = 0;

	if (mode == CG_V2) {
		if (ctl_file(CT_MEMORY, id, "memory.events", path, sizeof(path)) == 0)
			file_key(path, "oom_kill", &v);
		return v;
	}
	/* oom_kill came with Linux 4.13; before it, the times the limit was hit. */
	if (ctl_file(CT_MEMORY, id, "memory.oom_control", path, sizeof(path)) == 0 &&
	    file_key(path, "oom_kill", &v) == 0)
		return v;
	if (ctl_file(CT_MEMORY, id, "memory.failcnt", path, sizeof(path)) == 0)
		file_u64(path, &v);
	return v;
}

static uint64_t
pids_hits(int64_t id)
{
	char path[PATH_BUF_MAX];
	uint64_t v = 0;

	if (ctl_file(CT_PIDS, id, "pids.events", path, sizeof(path)) == 0)
		file_key(path, "max", &v);
	return v;
}

/* DIR/cgroup: the directories the hook's process joins, one a line (atomically). */
static int
write_list(const struct inst *i, char *err, size_t errlen)
{
	char path[PATH_BUF_MAX], tmp[PATH_BUF_MAX], dir[PATH_BUF_MAX];
	FILE *f;
	int rc = 0;

	if (inst_path(i, CG_LIST_FILE, "", path, sizeof(path)) != 0 ||
	    inst_path(i, CG_LIST_FILE, ".tmp", tmp, sizeof(tmp)) != 0 ||
	    (f = fopen(tmp, "we")) == NULL) {
		snprintf(err, errlen, "cannot write %s/%s: %s", i->dir, CG_LIST_FILE, strerror(errno));
		return -1;
	}
	for (int k = 0; k < CT_COUNT; k++)
		if (inst_dir(k, i->id, dir, sizeof(dir)) == 0 && fprintf(f, "%s\n", dir) < 0)
			rc = -1;
	if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
cg_prepare(struct inst *i, char *err, size_t errlen)
{
	char dir[PATH_BUF_MAX], v[64];
	int64_t cpu, mem, pids;

	if (mode == CG_NONE) {
		if (inst_path(i, CG_LIST_FILE, "", dir, sizeof(dir)) == 0)
			unlink(dir);
		return 0;
	}
	cpu = resource(i, "cpu", 1, CAPACITY_CPU_MAX);
	mem = resource(i, "memory_mb", 512, CAPACITY_MEMORY_MB_MAX);
	pids = resource(i, "pids", CG_PIDS_DEFAULT, 65536);
	for (int k = 0; k < CT_COUNT; k++) {
		if (inst_dir(k, i->id, dir, sizeof(dir)) != 0)
			continue;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot make the cgroup %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	snprintf(v, sizeof(v), "%lld", (long long)(mem << 20));
	if (mode == CG_V2) {
		if (ctl_write(CT_MEMORY, i->id, "memory.max", v, err, errlen) != 0 ||
		    (has_file(CT_MEMORY, i->id, "memory.swap.max") &&
		    ctl_write(CT_MEMORY, i->id, "memory.swap.max", "0", err, errlen) != 0))
			return -1;
		snprintf(v, sizeof(v), "%lld %d", (long long)cpu * CPU_PERIOD_US, CPU_PERIOD_US);
		if (ctl_write(CT_CPU, i->id, "cpu.max", v, err, errlen) != 0)
			return -1;
	} else {
		/* memsw is memory and swap together: the same bound is no swap at all. */
		if (ctl_write(CT_MEMORY, i->id, "memory.limit_in_bytes", v, err, errlen) != 0 ||
		    (has_file(CT_MEMORY, i->id, "memory.memsw.limit_in_bytes") &&
		    ctl_write(CT_MEMORY, i->id, "memory.memsw.limit_in_bytes", v, err, errlen) != 0))
			return -1;
		snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
		if (ctl_write(CT_CPU, i->id, "cpu.cfs_period_us", v, err, errlen) != 0)
			return -1;
		snprintf(v, sizeof(v), "%lld", (long long)cpu * CPU_PERIOD_US);
		if (ctl_write(CT_CPU, i->id, "cpu.cfs_quota_us", v, err, errlen) != 0)
			return -1;
	}
	snprintf(v, sizeof(v), "%lld", (long long)pids);
	if (ctl_write(CT_PIDS, i->id, "pids.max", v, err, errlen) != 0 ||
	    write_list(i, err, errlen) != 0)
		return -1;
	i->cg_oom_base = oom_kills(i->id);
	i->cg_pids_base = pids_hits(i->id);
	return 0;
}

/* SIGKILL (sig 0: none) to each process of a cgroup.procs; how many it lists (0: none, or no file). */
static size_t
procs_signal(const char *dir, int sig)
{
	char path[PATH_BUF_MAX], line[32];
	size_t n = 0;
	FILE *f;

	if (path_fmt(path, sizeof(path), "%s/cgroup.procs", dir) != 0 ||
	    (f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		long pid = strtol(line, NULL, 10);

		/* Never 1 or below: kill(-1) and kill(0) reach far more than an instance. */
		if (pid <= 1)
			continue;
		n++;
		if (sig != 0)
			kill((pid_t)pid, sig);
	}
	fclose(f);
	return n;
}

/* Freezes (1) or thaws (0) the instance's cgroup; 0 once it is as asked, -1: no freezer. */
static int
freeze(int64_t id, int on)
{
	char path[PATH_BUF_MAX], buf[64];
	const char *file = mode == CG_V2 ? "cgroup.freeze" : "freezer.state";
	const char *v = mode == CG_V2 ? (on ? "1" : "0") : (on ? "FROZEN" : "THAWED");

	if (ctl_file(CT_FREEZER, id, file, path, sizeof(path)) != 0 || file_write(path, v) != 0)
		return -1;
	if (!on)
		return 0;
	/* Freezing takes the processes one by one: it is done when the kernel says so. */
	for (int t = 0; t < 100; t++) {
		if (mode == CG_V2) {
			uint64_t frozen = 0;

			if (ctl_file(CT_MEMORY, id, "cgroup.events", path, sizeof(path)) == 0 &&
			    file_key(path, "frozen", &frozen) == 0 && frozen == 1)
				return 0;
		} else if (file_read(path, buf, sizeof(buf)) == 0 && strncmp(buf, "FROZEN", 6) == 0) {
			return 0;
		}
		nap_ms(1);
	}
	return 0;	/* not all frozen: the loop below kills what is left */
}

/* Kills every process of the instance's cgroup; 0 once none is left. */
static int
kill_all(int64_t id)
{
	char dir[PATH_BUF_MAX], path[PATH_BUF_MAX];
	int k = mode == CG_V2 ? CT_MEMORY : (parents[CT_FREEZER][0] ? CT_FREEZER : CT_PIDS);

	/* Every process joined every directory: one of them lists them all. */
	if (ctl_file(k, id, "", dir, sizeof(dir)) != 0 || access(dir, F_OK) != 0)
		return 0;
	if (procs_signal(dir, 0) == 0)
		return 0;
	if (mode == CG_V2 && has_kill && ctl_file(k, id, "cgroup.kill", path, sizeof(path)) == 0 &&
	    file_write(path, "1") == 0) {
		/* the kernel kills them all, forks under way included */
	} else if ((mode == CG_V2 || parents[CT_FREEZER][0] != '\0') && freeze(id, 1) == 0) {
		procs_signal(dir, SIGKILL);
		freeze(id, 0);	/* a frozen process dies only once thawed */
	}
	/* Without a freezer, and for any left: SIGKILL again until none is listed. */
	for (int t = 0; t < END_WAIT_MS / 5; t++) {
		if (procs_signal(dir, SIGKILL) == 0)
			return 0;
		nap_ms(5);
	}
	return -1;
}

/* Removes the instance's directories; -1 when one stays (a process in it did not go). */
static int
remove_dirs(int64_t id)
{
	char dir[PATH_BUF_MAX];
	int rc = 0;

	for (int k = 0; k < CT_COUNT; k++) {
		if (inst_dir(k, id, dir, sizeof(dir)) != 0)
			continue;
		/* A killed process may still be leaving it (EBUSY) for a moment. */
		for (int t = 0; rmdir(dir) != 0 && errno != ENOENT; t++) {
			if (errno != EBUSY || t >= 100) {
				char ids[ID_BUF];

				log_warn("agent.cgroup_left", "instance", id_str(id, ids, sizeof(ids)),
				    "cgroup", dir, "error", strerror(errno), NULL);
				rc = -1;
				break;
			}
			nap_ms(2);
		}
	}
	return rc;
}

void
cg_kill(struct inst *i)
{
	char id[ID_BUF];

	if (mode != CG_NONE && kill_all(i->id) != 0)
		log_warn("agent.cgroup_kill", "instance", id_str(i->id, id, sizeof(id)), "detail",
		    "processes of the instance's cgroup are still there after SIGKILL", NULL);
}

void
cg_remove(struct inst *i)
{
	if (mode == CG_NONE)
		return;
	cg_kill(i);
	remove_dirs(i->id);
}

int
cg_failure_reason(struct inst *i, char *buf, size_t n)
{
	if (mode == CG_NONE)
		return 0;
	if (oom_kills(i->id) > i->cg_oom_base) {
		snprintf(buf, n, "out of memory: limit %lld MB",
		    (long long)resource(i, "memory_mb", 512, CAPACITY_MEMORY_MB_MAX));
		return 1;
	}
	if (pids_hits(i->id) > i->cg_pids_base) {
		snprintf(buf, n, "pids limit reached: limit %lld",
		    (long long)resource(i, "pids", CG_PIDS_DEFAULT, 65536));
		return 1;
	}
	return 0;
}

/* ---- usage ---- */

json_t *
cg_usage(struct work *w)
{
	json_t *a;
	int64_t now = now_ms();
	size_t count = 0;

	if (mode == CG_NONE || (a = json_array()) == NULL)
		return NULL;
	for (struct inst *i = w->list; i != NULL && count < USAGE_MAX; i = i->next) {
		char path[PATH_BUF_MAX];
		uint64_t usec = 0, cur, peak = 0, milli = 0;

		if (ctl_file(CT_MEMORY, i->id, mode == CG_V2 ? "memory.current" :
		    "memory.usage_in_bytes", path, sizeof(path)) != 0 || file_u64(path, &cur) != 0)
			continue;	/* no cgroup (yet, or any more) */
		if (mode == CG_V2) {
			if (ctl_file(CT_MEMORY, i->id, "cpu.stat", path, sizeof(path)) == 0)
				file_key(path, "usage_usec", &usec);
			/* memory.peak came with Linux 5.19: before it, the largest seen here. */
			if (ctl_file(CT_MEMORY, i->id, "memory.peak", path, sizeof(path)) == 0)
				file_u64(path, &peak);
		} else {
			if (ctl_file(CT_CPUACCT, i->id, "cpuacct.usage", path, sizeof(path)) == 0 &&
			    file_u64(path, &usec) == 0)
				usec /= 1000;
			if (ctl_file(CT_MEMORY, i->id, "memory.max_usage_in_bytes", path,
			    sizeof(path)) == 0)
				file_u64(path, &peak);
		}
		if (cur > INT64_MAX || usec > INT64_MAX)
			continue;
		if (peak > INT64_MAX || peak < cur)
			peak = cur;
		if (peak < i->cg_peak)
			peak = i->cg_peak;
		i->cg_peak = peak;
		/* Microseconds of CPU a millisecond are thousandths of a core. */
		if (i->cg_at > 0 && now > i->cg_at && usec >= i->cg_usec)
			milli = (usec - i->cg_usec) / (uint64_t)(now - i->cg_at);
		i->cg_usec = usec;
		i->cg_at = now;
		json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:I, s:I}", "id",
		    (json_int_t)i->id, "cpu_usec", (json_int_t)usec, "cpu_millicores",
		    (json_int_t)milli, "memory_bytes", (json_int_t)cur, "memory_peak_bytes",
		    (json_int_t)peak));
		count++;
	}
	return a;
}

/* ---- what no instance has ---- */

void
cg_finish(void)
{
	/* Its parents go when nothing is left in them (else they stay for the next agent). */
	for (int k = 0; k < CT_COUNT; k++)
		if (parents[k][0] != '\0')
			rmdir(parents[k]);
}

void
cg_reap(struct work *w)
{
	for (int k = 0; k < CT_COUNT; k++) {
		char probe[PATH_BUF_MAX];
		struct dirent *de;
		DIR *d;

		/* inst_dir() tells a hierarchy used, once; the id does not matter here. */
		if (inst_dir(k, 1, probe, sizeof(probe)) != 0 || (d = opendir(parents[k])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			int64_t id;
			int is_held = 0;
			char ids[ID_BUF];

			if (de->d_name[0] != 'i' || parse_int64(de->d_name + 1, 1, INT64_MAX, &id) != 0)
				continue;
			for (struct inst *i = w->list; i != NULL && !is_held; i = i->next)
				is_held = i->id == id;
			if (is_held)
				continue;
			log_info("agent.cgroup_reaped", "instance", id_str(id, ids, sizeof(ids)), "detail",
			    "a cgroup of no instance the agent holds: its processes killed, it removed",
			    NULL);
			kill_all(id);
			remove_dirs(id);
		}
		closedir(d);
	}
}
