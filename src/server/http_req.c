/*
 * The helpers the api_*.c files call on a struct req and a struct resp: the
 * query's values and their check, the JSON body, state lists, ids in the
 * path; JSON, error and text answers. They know nothing of libwebsockets:
 * http.c fills the struct req and writes the struct resp.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

/*
 * The value of query parameter name, copied into buf, or NULL when absent. A
 * value longer than buf reads as "", which every caller refuses (numbers,
 * cursors, states) or matches nothing with (names): never a silent prefix.
 * Values are at most MAX_ARG_VALUE bytes, so a buffer that size never cuts.
 */
const char *
req_query(const struct req *rq, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	for (int i = 0; i < rq->nargs; i++) {
		if (strncmp(rq->args[i], name, n) == 0 && rq->args[i][n] == '=') {
			if ((size_t)snprintf(buf, len, "%s", rq->args[i] + n + 1) >= len)
				buf[0] = '\0';
			return buf;
		}
	}
	return NULL;
}

int
req_query_check(const struct req *rq, const char *const *allowed, struct op_err *err)
{
	for (int i = 0; i < rq->nargs; i++) {
		const char *eq = strchr(rq->args[i], '=');
		size_t n = eq ? (size_t)(eq - rq->args[i]) : strlen(rq->args[i]);
		int is_known = 0;

		if (eq == NULL) {
			char name[64];

			snprintf(name, sizeof(name), "%.*s", (int)(n < 60 ? n : 60), rq->args[i]);
			op_err_set(err, 400, "invalid_argument", name, "query parameter %s has no value",
			    name);
			return -1;
		}

		for (size_t k = 0; allowed[k] != NULL; k++)
			if (strlen(allowed[k]) == n && strncmp(allowed[k], rq->args[i], n) == 0)
				is_known = 1;
		if (!is_known) {
			char name[64];

			snprintf(name, sizeof(name), "%.*s", (int)(n < 60 ? n : 60), rq->args[i]);
			op_err_set(err, 400, "unknown_field", name, "unknown query parameter %s", name);
			return -1;
		}
	}
	return 0;
}

json_t *
req_json_body(const struct req *rq, struct op_err *err)
{
	json_error_t je;
	json_t *j;

	if (rq->body == NULL || rq->body_len == 0) {
		op_err_set(err, 400, "invalid_argument", "", "the request needs a JSON object body");
		return NULL;
	}
	j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		op_err_set(err, 400, "invalid_argument", "",
		    "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		op_err_set(err, 400, "invalid_argument", "", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

int
req_mask_parse(enum state_kind k, const char *list, const char *field, unsigned *mask,
    struct op_err *err)
{
	char why[256];

	if (state_mask_parse(k, list, field, mask, why, sizeof(why)) != 0) {
		op_err_set(err, 400, "invalid_argument", field, "%s", why);
		return -1;
	}
	return 0;
}

int
req_param_id(const struct req *rq, int i, const char *what, int64_t *id, struct op_err *err)
{
	if (i >= rq->nparams || parse_int64(rq->params[i], 1, INT64_MAX, id) != 0) {
		op_err_set(err, 400, "invalid_argument", "id", "an %s id is a positive integer", what);
		return -1;
	}
	return 0;
}

int
resp_json(struct resp *rs, int status, json_t *j)
{
	char *s;

	rs->status = status;
	rs->content_type = "application/json";
	if (j == NULL)
		return -1;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return -1;
	sbuf_reset(&rs->body);
	sbuf_puts(&rs->body, s);
	sbuf_putc(&rs->body, '\n');
	free(s);
	return 0;
}

int
resp_error(struct resp *rs, const struct op_err *e)
{
	rs->is_cacheable = 0;
	rs->status = e->http ? e->http : 500;
	if (rs->status == 503)
		rs->retry_after = 1;
	else if (rs->status == 507)
		rs->retry_after = 10;	/* the database has no room: a second would not change it */
	rs->content_type = "application/json";
	sbuf_reset(&rs->body);
	sbuf_puts(&rs->body, "{\"error\":{\"code\":");
	sbuf_json_string(&rs->body, e->code ? e->code : "internal");
	sbuf_puts(&rs->body, ",\"message\":");
	sbuf_json_string(&rs->body, e->message);
	sbuf_puts(&rs->body, ",\"field\":");
	sbuf_json_string(&rs->body, e->field);
	sbuf_puts(&rs->body, "}}\n");
	return 0;
}

int
resp_text(struct resp *rs, int status, const char *ctype, const char *text)
{
	rs->status = status;
	rs->content_type = ctype;
	sbuf_reset(&rs->body);
	return sbuf_puts(&rs->body, text);
}
