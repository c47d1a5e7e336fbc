/*
 * Hook users (hookuser.h): which user each instance's hooks run as, and the
 * drop to it. Like systemd's DynamicUser=, the agent owns a range of uids
 * (hook_uids) that no account uses; each instance it runs is given one of
 * them (its gid the same number), recorded in its record so a restarted
 * agent keeps it, and its work directory is that user's alone (0700). Hooks
 * then cannot read the agent's files (its token, the records, other
 * instances' directories) nor signal any process but their own instance's.
 * Or one configured user (hook_user) runs every instance's hooks: kept from
 * the agent, not from each other.
 *
 * The agent switches users only when it can: it has CAP_SETUID, CAP_SETGID,
 * CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_KILL (root has them), and
 * every directory above its work directory lets other users through. Else
 * hooks run as the agent's user, as before, and hookuser_available() says
 * why.
 *
 * Linked by the agent and by outpost-shim: the C library alone, no logging.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounds.h"
#include "hookuser.h"

/* What the agent decided at start (hookuser_setup); the shim uses none of it. */
static struct {
	int is_setup;
	int is_on;		/* hooks run as another user */
	int is_range;		/* ... one of the range's, an instance each */
	uid_t first, last, next;
	uid_t fixed_uid;
	gid_t fixed_gid;
	char why[512];
} hu;

/* The capabilities switching users takes (linux/capability.h's numbers). */
static const struct {
	int bit;
	const char *name;
} needed_caps[] = {
	{ 0, "CAP_CHOWN" }, { 1, "CAP_DAC_OVERRIDE" }, { 3, "CAP_FOWNER" }, { 5, "CAP_KILL" },
	{ 6, "CAP_SETGID" }, { 7, "CAP_SETUID" },
};

static int
parse_uid(const char *s, const char **end, uid_t *out)
{
	unsigned long long v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && v <= HOOK_UID_MAX)
		v = v * 10 + (unsigned)(*p++ - '0');
	if (p == s || v < HOOK_UID_MIN || v > HOOK_UID_MAX)
		return -1;
	*end = p;
	*out = (uid_t)v;
	return 0;
}

int
hookuser_parse_uids(struct hookuser_opts *o, const char *v, char *err, size_t len)
{
	const char *p;
	uid_t first, last;

	if (strcmp(v, "none") == 0) {
		o->is_none = 1;
		return 0;
	}
	if (parse_uid(v, &p, &first) != 0 || *p != '-' || parse_uid(p + 1, &p, &last) != 0 ||
	    *p != '\0' || last < first) {
		snprintf(err, len, "hook_uids is FIRST-LAST, uids from %d to %u with FIRST <= LAST "
		    "(default %d-%d), or none", HOOK_UID_MIN, HOOK_UID_MAX, HOOK_UID_FIRST,
		    HOOK_UID_LAST);
		return -1;
	}
	o->is_none = 0;
	o->first = first;
	o->last = last;
	return 0;
}

/* The capabilities switching needs that the agent does not have, as names; 0: has them all. */
static int
missing_caps(char *out, size_t len)
{
	char line[256];
	unsigned long long eff = 0;
	int has = 0, n = 0;
	FILE *f = fopen("/proc/self/status", "r");

	out[0] = '\0';
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "CapEff: %llx", &eff) == 1) {
				has = 1;
				break;
			}
		fclose(f);
	}
	if (!has) {
		snprintf(out, len, "its capabilities (/proc/self/status)");
		return 1;
	}
	for (size_t k = 0; k < sizeof(needed_caps) / sizeof(needed_caps[0]); k++) {
		size_t used = strlen(out);

		if (eff & (1ULL << needed_caps[k].bit))
			continue;
		snprintf(out + used, len - used, "%s%s", n++ ? ", " : "", needed_caps[k].name);
	}
	return n;
}

/*
 * The first directory above work_dir (made absolute) that other users cannot
 * pass through, into bad; 0: none. A directory not there yet is made by the
 * agent, with hookuser_dir_mode().
 */
static int
closed_parent(const char *work_dir, char *bad, size_t len, unsigned *mode)
{
	char path[PATH_BUF_MAX], cwd[PATH_BUF_MAX];
	struct stat sb;

	if (work_dir[0] == '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s", work_dir) >= sizeof(path))
			return 0;
	} else if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", cwd, work_dir) >= sizeof(path)) {
		return 0;
	}
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (stat(path, &sb) != 0) {
			*p = '/';
			return 0;	/* the agent makes the rest */
		}
		if (!(sb.st_mode & S_IXOTH)) {
			snprintf(bad, len, "%s", path);
			*mode = (unsigned)(sb.st_mode & 07777);
			return 1;
		}
		*p = '/';
	}
	return 0;
}

int
hookuser_setup(const struct hookuser_opts *o, const char *work_dir, char *err, size_t len)
{
	char missing[160], bad[PATH_BUF_MAX];
	unsigned mode = 0;

	memset(&hu, 0, sizeof(hu));
	hu.is_setup = 1;
	if (o->user[0] != '\0') {
		struct passwd *pw = getpwnam(o->user);

		if (pw == NULL || pw->pw_uid == 0 || pw->pw_gid == 0) {
			snprintf(err, len, "hook_user %s: %s", o->user, pw == NULL ?
			    "no such user" : "hooks never run as root (uid or gid 0)");
			return -1;
		}
		hu.fixed_uid = pw->pw_uid;
		hu.fixed_gid = pw->pw_gid;
	} else if (o->is_none) {
		snprintf(hu.why, sizeof(hu.why), "hook_uids is none: hooks run as the agent's user");
		return 0;
	}
	if (missing_caps(missing, sizeof(missing)) != 0) {
		snprintf(hu.why, sizeof(hu.why), "the agent cannot switch users (it lacks %s; it "
		    "runs as uid %d): hooks run as the agent's user", missing, (int)geteuid());
		return 0;
	}
	if (closed_parent(work_dir, bad, sizeof(bad), &mode)) {
		snprintf(hu.why, sizeof(hu.why), "%.300s (mode %04o) above the work directory does not "
		    "let other users through, so hooks' users could not reach their work "
		    "directories: hooks run as the agent's user (make it 0711, or use another "
		    "work_dir)", bad, mode);
		return 0;
	}
	hu.is_on = 1;
	if (o->user[0] != '\0') {
		snprintf(hu.why, sizeof(hu.why), "hook_user %s runs every instance's hooks: "
		    "they are kept from the agent, not from each other", o->user);
		return 0;
	}
	hu.is_range = 1;
	hu.first = o->first;
	hu.last = o->last;
	hu.next = o->first;
	return 0;
}

int
hookuser_available(char *why, size_t len)
{
	char missing[160];

	if (!hu.is_setup) {
		if (missing_caps(missing, sizeof(missing)) == 0)
			return 1;
		snprintf(why, len, "the agent cannot switch users (it lacks %s)", missing);
		return 0;
	}
	if (hu.is_range)
		return 1;
	snprintf(why, len, "%s", hu.why);
	return 0;
}

int
hookuser_is_on(void)
{
	return hu.is_on;
}

unsigned
hookuser_dir_mode(void)
{
	return hu.is_on ? 0711 : 0750;
}

/* ---- the agent's side: picking a user, its directory, its end ---- */

static int
cmp_uid(const void *a, const void *b)
{
	uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;

	return x < y ? -1 : x > y;
}

/* The uids of the range that processes run as (real, effective, saved or fs), sorted. */
static uid_t *
uids_running(size_t *n)
{
	char path[64], line[256];
	uid_t *v = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		unsigned long ids[4];
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/status", de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "Uid: %lu %lu %lu %lu", &ids[0], &ids[1], &ids[2],
			    &ids[3]) != 4)
				continue;
			for (int k = 0; k < 4; k++) {
				if (ids[k] < hu.first || ids[k] > hu.last)
					continue;
				if (*n == cap) {
					uid_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

					if (nv == NULL)
						break;
					v = nv;
				}
				if (*n < cap)
					v[(*n)++] = (uid_t)ids[k];
			}
			break;
		}
		fclose(f);
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_uid);
	return v;
}

int
hookuser_pick(const uid_t *taken, size_t ntaken, uid_t *uid, gid_t *gid, char *err, size_t len)
{
	size_t nrun = 0;
	uid_t *running, u;
	unsigned long long count;

	if (!hu.is_range) {
		*uid = hu.fixed_uid;
		*gid = hu.fixed_gid;
		return 0;
	}
	running = uids_running(&nrun);
	count = (unsigned long long)hu.last - hu.first + 1;
	u = hu.next;
	for (unsigned long long k = 0; k < count; k++, u = u == hu.last ? hu.first : u + 1) {
		int is_taken = 0;

		for (size_t j = 0; j < ntaken && !is_taken; j++)
			is_taken = taken[j] == u;
		if (is_taken || (nrun > 0 && bsearch(&u, running, nrun, sizeof(u), cmp_uid)) ||
		    getpwuid(u) != NULL || getgrgid((gid_t)u) != NULL)
			continue;
		free(running);
		*uid = u;
		*gid = (gid_t)u;
		hu.next = u == hu.last ? hu.first : u + 1;	/* the latest freed, the last reused */
		return 0;
	}
	free(running);
	snprintf(err, len, "no free uid in hook_uids %u-%u (each running instance holds one; "
	    "those of accounts and of running processes are skipped)", (unsigned)hu.first,
	    (unsigned)hu.last);
	return -1;
}

static uid_t give_uid;
static gid_t give_gid;

static int
give_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return lchown(path, give_uid, give_gid) != 0 && errno != ENOENT ? -1 : 0;
}

int
hookuser_give_dir(const char *inst_dir, const char *work_dir, uid_t uid, gid_t gid)
{
	/* The mode first: once the directory is the user's, root needs CAP_FOWNER to change it. */
	if (chmod(inst_dir, 0711) != 0 || chmod(work_dir, 0700) != 0)
		return -1;
	give_uid = uid;
	give_gid = gid;
	return nftw(work_dir, give_entry, 16, FTW_PHYS) != 0 ? -1 : 0;
}

void
hookuser_kill_all(uid_t uid)
{
	pid_t pid;

	if (!hu.is_range || uid < hu.first || uid > hu.last)
		return;
	pid = fork();
	if (pid == 0) {
		/* Async-signal-safe calls alone: the agent may have had threads (curl's). */
		if (setgroups(0, NULL) == 0 && setgid((gid_t)uid) == 0 && setuid(uid) == 0 &&
		    getuid() == uid)
			kill(-1, SIGKILL);
		_exit(0);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

int
hookuser_owns(uid_t uid)
{
	return hu.is_range && uid >= hu.first && uid <= hu.last;
}

/* ---- the shim's side ---- */

void
hookuser_kill_uid(const char *arg)
{
	unsigned long u;
	char *end;
	pid_t pid;

	errno = 0;
	u = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != ':' || u == 0 || u > HOOK_UID_MAX)
		return;
	/* Twice: what was forking during the first kill(-1) is caught by the second. */
	for (int round = 0; round < 2; round++) {
		pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) == 0 && setgid((gid_t)u) == 0 &&
			    setuid((uid_t)u) == 0 && getuid() == (uid_t)u)
				kill(-1, SIGKILL);
			_exit(0);
		}
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
	}
}

int
hookuser_enter(const char *arg, const char *work_dir, char *err, size_t len)
{
	char *end;
	unsigned long u, g;

	errno = 0;
	u = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != ':' || u == 0 || u > HOOK_UID_MAX)
		goto bad;
	arg = end + 1;
	g = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || g == 0 || g > HOOK_UID_MAX)
		goto bad;
	if (setgroups(0, NULL) != 0 || setgid((gid_t)g) != 0 || setuid((uid_t)u) != 0) {
		snprintf(err, len, "cannot become uid %lu gid %lu: %s", u, g, strerror(errno));
		return -1;
	}
	/* No way back: not to root, not through a setuid program. */
	if (getuid() != u || geteuid() != u || getgid() != g || getegid() != g ||
	    setuid(0) == 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, len, "uid %lu gid %lu did not hold", u, g);
		return -1;
	}
	setenv("HOME", work_dir, 1);
	setenv("TMPDIR", work_dir, 1);
	return 0;
bad:
	snprintf(err, len, "the hook's user %s is not UID:GID", arg);
	return -1;
}
