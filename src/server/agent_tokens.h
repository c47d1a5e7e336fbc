/*
 * Agents' tokens, beside the other tokens of auth.c: a join token, which
 * only registers workers within its limits, and a worker's own token, made
 * by that registration (or by the scaler for a worker it provisions) and
 * bound to that one worker (tokens.worker_id). What each may do is
 * http_auth.c's (http_agent_acts_for, http_join_allows). For auth.c, the
 * token routes, registration (workers.c) and the scaler.
 */
#ifndef OUTPOST_AGENT_TOKENS_H
#define OUTPOST_AGENT_TOKENS_H

#include "server.h"

/* A join token's limits, as POST /api/v1/tokens takes them. */
struct join_limits {
	int64_t uses;		/* registrations it may make; 0: no limit */
	const char *names;	/* a glob the worker's name must match, or NULL */
	const char *tmpl;	/* the template the worker must be of, or NULL */
};

/* A join token (role agent) with its limits (lim may be NULL: none). */
int auth_create_join(struct store *s, const char *name, int64_t expires_at,
    const struct join_limits *lim, const char *actor, char *token_out, size_t toklen,
    json_t **rec, struct op_err *err);
/*
 * Worker worker_id's own token (role agent, named worker:NAME), made in the
 * caller's transaction, and recorded as workers.token_id; it is live once
 * auth_commit_worker() is called after the commit. *id is its id.
 */
int auth_insert_worker(struct store *s, int64_t worker_id, const char *worker_name,
    const char *actor, char *token_out, size_t toklen, int64_t *id, struct op_err *err);
void auth_commit_worker(int64_t id, int64_t worker_id, const char *worker_name,
    const char *token);
/* In the caller's transaction: one registration of join token id spent (0), or none left (-1). */
int auth_spend_join(struct store *s, int64_t id);
/* After that transaction's commit: the in-memory count follows. */
void auth_spent_join(int64_t id);
/* Does worker_id have a live token of its own? 1 (and its id in *id), 0, or -1. */
int auth_worker_has_token(struct store *s, int64_t worker_id, int64_t *id);

#endif
