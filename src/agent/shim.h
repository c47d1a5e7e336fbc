/*
 * What the agent and its shim (outpost-shim) share: the bounds of a hook's
 * output, and how a process is told from a later one with the same pid.
 * The shim links nothing but the C library and src/common/state.c, so that
 * it starts at once: 50 hooks starting together cost the agent's host
 * little.
 */
#ifndef OUTPOST_SHIM_H
#define OUTPOST_SHIM_H

#include <sys/types.h>

#define HOOK_LOG_HEAD (48 * 1024)	/* the first bytes of a hook's output kept */
#define HOOK_LOG_TAIL (16 * 1024)	/* and the last */
#define GRADE_MAX (64 * 1024)		/* the grade hook's stdout */

/* The start time of process pid, from /proc/PID/stat; 0 when it is gone. */
unsigned long long proc_start_time(pid_t pid);

#endif
