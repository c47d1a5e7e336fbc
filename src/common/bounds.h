/*
 * The bounds every program agrees on: how long a name may be, how many
 * workers a template may have, and how large the buffers that hold a path
 * are. A limit that two programs check (the server, and a client that
 * checks first to say so sooner) is defined here and nowhere else.
 *
 * Paths: a setting that names a file or directory (state_dir, work_dir,
 * token_file, ...) holds at most PATH_SETTING_MAX bytes with its NUL; a
 * path made from one (the directory, then names, a file's name of up to
 * 255 bytes, and separators: 511 bytes more at most) fits PATH_BUF_MAX.
 * A longer one is refused where it is made (snprintf's truncation is
 * checked), never cut silently.
 */
#ifndef OUTPOST_BOUNDS_H
#define OUTPOST_BOUNDS_H

/*
 * A name (of a definition, a worker, a runbook, an alert rule, a label's
 * key): 1 to NAME_MAX_LEN of a-z, 0-9, '.', '_', '-' (util.h's
 * name_is_valid). It fits a buffer of NAME_BUF bytes with its NUL.
 */
#define NAME_MAX_LEN 63
#define NAME_BUF (NAME_MAX_LEN + 1)

/*
 * A template's workers are named NAME-N: a template's name leaves room in
 * a worker's name for "-" and N's digits (up to 15 of them).
 */
#define TEMPLATE_NAME_MAX (NAME_MAX_LEN - 16)
/* A template's desired count, min and max, and what a scale may ask for. */
#define TEMPLATE_MAX_WORKERS 1000

/*
 * A worker's capacity, as its agent says it (--capacity) and as a template
 * gives its workers: each at least 1.
 */
#define CAPACITY_CPU_MAX 4096
#define CAPACITY_MEMORY_MB_MAX (64LL * 1024 * 1024)
#define CAPACITY_SLOTS_MAX 10000

/*
 * A definition's resources.pids: the most processes an instance's cgroup
 * may hold; PIDS_DEFAULT when the definition does not say.
 */
#define PIDS_MIN 1
#define PIDS_MAX 65536
#define PIDS_DEFAULT 1024
/* The instances one heartbeat's "usage" may report on. */
#define USAGE_MAX 10000

/* A token's name (`outpost token create --name`). */
#define TOKEN_NAME_MAX 128
/* A token's secret ("opt_" and 43 base64url characters) with its NUL, and room to spare. */
#define TOKEN_BUF 64

/*
 * The agent protocol's version: what outpost-agent announces in its
 * registration and heartbeats ("protocol"); outpostd serves it and the one
 * before (AGENT_PROTOCOL_MIN, server.h). 1: agents that said none. A change
 * of what an agent sends or must understand moves it.
 */
#define AGENT_PROTOCOL 2

#define PATH_SETTING_MAX 1024
#define PATH_BUF_MAX (PATH_SETTING_MAX + 512)
/* A message that names a path (or a setting's source) and says what is wrong with it. */
#define PATH_MSG_BUF (PATH_BUF_MAX + 256)

#endif
