/*
 * What the fuzz harnesses share (tests/fuzz): libFuzzer's entry point, and
 * the server a harness talks to (fuzz_server.c): a real store in memory,
 * migrated as outpostd migrates its file, with real tokens, a registered
 * worker, a definition and an instance on that worker. Each harness is one
 * fuzz_*.c built twice: with clang's libFuzzer (make fuzz), and with the
 * normal compiler and replay.c, which replays its seeds and regression
 * inputs as a unit test.
 */
#ifndef OUTPOST_FUZZ_H
#define OUTPOST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeded server's worker: the one the agent's token acts for. */
#define FUZZ_WORKER "fz-1"

struct app;
struct auth_token;
/* The server, made on the first call; the same one after (state carries over). */
struct app *fuzz_server(void);
/* The seeded tokens: the admin's, or the seeded worker's agent's. */
const struct auth_token *fuzz_token(int is_agent);
/*
 * One request as the HTTP layer hands it to its route: target is
 * "/path?query" (its bytes up to len, percent-decoded as libwebsockets
 * decodes them), body the request's body (may be NULL). A target the HTTP
 * layer refuses before routing (too long, a control character) is
 * dropped. The caller is the seeded worker's agent on the agent's routes, else
 * the admin. With is_reads_only only GET and HEAD routes are called.
 * Returns the answer's status, or 0 when no route was called.
 */
int fuzz_request(const char *method, const char *target, size_t len, const char *body,
    size_t body_len, int is_reads_only);
/* A directory of this process's own, for files a harness writes; removed at exit. */
const char *fuzz_tmpdir(void);
/* Writes data to dir/name; 0 or -1. */
int fuzz_write_file(const char *dir, const char *name, const uint8_t *data, size_t size);

#endif
