/*
 * Backups (backup.c): a copy of the store made with SQLite's online backup
 * in slices, then verified on a connection and a thread of its own before
 * it is linked to its name beside its manifest (NAME.json). The schedule,
 * the rotation, the last results for /metrics and the API; the backup made
 * before migrations; restore and the restore drill (restore.c).
 */
#ifndef OUTPOST_BACKUP_H
#define OUTPOST_BACKUP_H

#include "server.h"

/* The pages a slice of a copy takes: a few milliseconds of the loop. */
#define BACKUP_PAGES 128

struct backup_job;

/*
 * Starts a copy of s's database to path (absolute; its directory is made
 * 0700 as needed), which must not exist: NULL with why otherwise.
 */
struct backup_job *backup_job_start(struct store *s, const char *path, char *why, size_t len);
/*
 * Moves the job on: 1 while there is more to do (call again a few
 * milliseconds later: a slice of the copy, or a look at the check's
 * thread), 0 when the backup is verified and under its name with its
 * manifest, -1 when it failed (why says why; nothing is under its name).
 */
int backup_job_step(struct backup_job *j, char *why, size_t len);
/* Ends the job; one not finished is abandoned, its part file removed. */
void backup_job_free(struct backup_job *j);
/* What it has copied so far: pages done and in all (after the first slice). */
void backup_job_progress(struct backup_job *j, int64_t *done, int64_t *total);
/* Its manifest, once backup_job_step() answered 0 (borrowed). */
json_t *backup_job_manifest(struct backup_job *j);

/*
 * Checks the backup at path again, as a copy is checked: integrity_check,
 * its schema version (not newer than this binary's), and, when its manifest
 * NAME.json is beside it, the SHA-256, schema version, counts and last
 * event sequence it records. Synchronous. 0 when good, -1 with a line a
 * problem in problems; *report (to decref) says what it found.
 */
int backup_verify_file(const char *path, struct sbuf *problems, json_t **report);

/* Is name one a backup may have in backup_dir: [A-Za-z0-9._-], no leading '.', no "..", .db? */
int backup_name_is_valid(const char *name);
/* The manifest beside path (PATH without .db, then .json), or NULL. */
json_t *backup_manifest_read(const char *path);
/* The backups of dir (name order), each {name, size_bytes, verified, manifest}; NULL on error. */
json_t *backup_list_dir(const char *dir);
/* Removes the part files (NAME.part-XXXXXX, their -journal) a dead server left in dir. */
void backup_remove_parts(const char *dir);
/* The newest good backup of dir (its path in out), by its manifest's time; -1 if none. */
int backup_newest(const char *dir, char *out, size_t len);

/* ---- the schedule, on the loop ---- */
/* Once a second (timers.c): starts a due backup, rotates after one. */
void backup_tick(struct app *a, int64_t now);
/* Ends a backup in flight (its part file removed); at shutdown. */
void backup_stop(void);
/*
 * Starts a backup now (the API, trigger "api"): 0 with its name, or -1 with
 * err (409 when one runs).
 */
int backup_start_now(struct app *a, const char *actor, char *name, size_t len,
    struct op_err *err);
/* {running, last_success, last_failure, schedule, backup_dir}: the API's and the site's. */
json_t *backup_status(struct app *a);
/* When the last good backup was made (ms), or 0; its age is what the alert rule watches. */
int64_t backup_last_success_ms(void);
/* How old the last good backup may be before the schedule was missed (ms); 0: no schedule. */
int64_t backup_allowed_age_ms(const struct server_config *c);
void backup_metrics(struct sbuf *o);
/* The directory backups go to: backup_dir, or STATE_DIR/backups. */
void backup_dir_of(const struct server_config *c, char *out, size_t len);

/*
 * Opens the way to the migrations: when the database has tables and an
 * older schema, a verified backup outpost-pre-vN-STAMP.db in backup_dir
 * first (none: no migration), then the migrations. -1 with err saying the
 * version the database is left at and where the backup is.
 */
int backup_migrate(struct store *s, const struct server_config *c, struct op_err *err);

/* ---- restore.c: outpostd restore, outpostd restore-drill ---- */
/* outpostd restore FILE, outpostd restore-drill [FILE]: argv[0] is the subcommand. */
int restore_main(int argc, char **argv);

#endif
