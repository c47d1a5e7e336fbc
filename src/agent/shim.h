/*
 * What the agent and its shim (outpost-shim) share: the bounds of a hook's
 * output, how a process is told from a later one with the same pid, and
 * paths made with their truncation checked (proc.c).
 * The shim links nothing but the C library, src/common/state.c, proc.c and
 * hookuser.c, so that it starts at once: 50 hooks starting together cost
 * the agent's host little.
 */
#ifndef OUTPOST_SHIM_H
#define OUTPOST_SHIM_H

#include <stddef.h>
#include <sys/types.h>

#define HOOK_LOG_HEAD (48 * 1024)	/* the first bytes of a hook's output kept */
#define HOOK_LOG_TAIL (16 * 1024)	/* and the last */
#define GRADE_MAX (64 * 1024)		/* the grade hook's stdout */
/* A line of HOOK.pid ("SHIM_PID HOOK_PID SHIM_START") or HOOK.exit, with its NUL. */
#define SHIM_LINE_MAX 64

/* The instance's file of its cgroup's directories, one a line (cgroup.c writes it). */
#define CG_LIST_FILE "cgroup"

/*
 * Moves the calling process into each directory DIR/cgroup lists (the
 * shim's child, before it becomes the hook: what it forks stays there).
 * 0, also when there is no such file (the agent contains nothing); -1 with
 * errno, and what names the directory that refused it.
 */
int cg_join_self(const char *dir, char *what, size_t n);
/*
 * The fence, in the shim: SIGKILL to every process in each directory
 * DIR/cgroup lists (cgroup.kill where there is one), again until each is
 * empty or a second has passed. Nothing when there is no such file.
 */
void cg_kill_listed(const char *dir);

/* The start time of process pid, from /proc/PID/stat; 0 when it is gone. */
unsigned long long proc_start_time(pid_t pid);
/*
 * snprintf for a path: 0, or -1 with buf empty and errno ENAMETOOLONG when
 * it does not fit in n bytes (a path cut short is never opened, written or
 * removed).
 */
int path_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
