/*
 * Hook users: each instance's hooks run as a user of their own, never as
 * the agent's (hookuser.c). The agent's side picks a uid for an instance
 * from the range it owns (hook_uids) or takes the one configured user
 * (hook_user), and gives the instance's work directory to it; the shim's
 * side (hookuser_enter) drops to that user in the hook's child, just before
 * the exec. Both programs link hookuser.c, which needs the C library alone.
 */
#ifndef OUTPOST_AGENT_HOOKUSER_H
#define OUTPOST_AGENT_HOOKUSER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The default range of hook uids: past 65535, below the subordinate ids
 * useradd hands out (100000 and up), and clear of every range systemd
 * allocates (its DynamicUser= range, 61184-65519, holds outpostd itself).
 */
#define HOOK_UID_FIRST 65536
#define HOOK_UID_LAST 99999
/* Hook uids, as given: 1000 to 2^31-2, the last not before the first. */
#define HOOK_UID_MIN 1000
#define HOOK_UID_MAX 2147483646u

/* "UID:GID" with its NUL, as the shim is given it. */
#define HOOKUSER_ARG_BUF 24

struct hookuser_opts {
	int is_none;		/* hook_uids = none: hooks run as the agent's user */
	uid_t first, last;	/* hook_uids */
	char user[64];		/* hook_user: one user for every instance ("": none) */
};

/* Parses a hook_uids value ("FIRST-LAST" or "none") into o; -1 with err. */
int hookuser_parse_uids(struct hookuser_opts *o, const char *v, char *err, size_t len);

/*
 * Decides, once at start, whether hooks run as users of their own, from the
 * settings, the agent's capabilities and the work directory's path (every
 * directory above it must let other users through). Returns -1 with err
 * only for a setting that cannot work (a hook_user that does not exist, or
 * is root); else 0, with switching on or off (hookuser_available() says why).
 */
int hookuser_setup(const struct hookuser_opts *o, const char *work_dir, char *err,
    size_t len);
/*
 * 1 when each instance's hooks run as a user of their own; else 0 with a
 * plain reason in why. Without hookuser_setup(), it answers from the
 * agent's capabilities alone.
 */
int hookuser_available(char *why, size_t len);
/* Are hooks run as another user than the agent's (a range, or hook_user)? */
int hookuser_is_on(void);
/* The mode of the directories on the way to an instance's work directory. */
unsigned hookuser_dir_mode(void);

/*
 * The user of a new instance: from the range, one no instance of taken[]
 * holds, /etc/passwd and /etc/group do not name, and no process runs as;
 * or hook_user's. -1 with err when none is free.
 */
int hookuser_pick(const uid_t *taken, size_t ntaken, uid_t *uid, gid_t *gid, char *err,
    size_t len);
/*
 * Gives the work directory (and what is in it) to uid:gid, mode 0700, and
 * makes its parent (the instance's directory) 0711; -1 with errno.
 */
int hookuser_give_dir(const char *inst_dir, const char *work_dir, uid_t uid, gid_t gid);
/*
 * Kills every process of a range uid that an instance held (a child of the
 * agent becomes that user and sends SIGKILL to all it may: kill(-1), which
 * a fork cannot outrun). Does nothing for hook_user's uid, which instances
 * share, or a uid outside the range.
 */
void hookuser_kill_all(uid_t uid);
/* 1 when uid is of the range (an instance's own, which hookuser_kill_all may kill). */
int hookuser_owns(uid_t uid);

/*
 * In the hook's child, in the shim, before the exec: "UID:GID" (from the
 * agent) becomes the process's only identity (no supplementary groups),
 * with no way back (no new privileges: setuid programs and file
 * capabilities give nothing), HOME and TMPDIR its work directory. -1 with
 * err.
 */
int hookuser_enter(const char *arg, const char *work_dir, char *err, size_t len);
/*
 * In the shim, at the fence: every process of UID ("UID:GID", an instance's
 * own uid: the agent passed --user-own) gets SIGKILL, the way
 * hookuser_kill_all does it. The shim must run as root.
 */
void hookuser_kill_uid(const char *arg);

#endif
