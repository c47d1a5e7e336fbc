/*
 * Events' one-line summaries: summaries[] holds the types that have a line
 * of their own; every other type gets the generic line (a transition if the
 * data has one, its scalar members as k=v, the reason last).
 *
 * The data is read as JSON text by a scanner that finds members without
 * building anything: O(bytes of data) with no allocation. outpostd renders
 * every event it writes (10,000 of them in one scheduler pass) and every
 * event it reads back from the table, from text it already has; jansson
 * would parse a 600-byte instance event in ~12 us, the scan takes ~0.5 us.
 * The text comes from the server's own encoders, so it is valid JSON; text
 * that is not yields a shorter line, never a read past its end.
 *
 * What it must never do: allocate, or put a control character in a line.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evsummary.h"

/* The longest number's text it converts ("-9223372036854775808", "1.5e-300"). */
#define NUMBER_TEXT_MAX 64
/* The most bytes of one k=v value of the generic line, its NUL included. */
#define SCALAR_MAX 512

/* A JSON value in text: [p, end). p[0] says its type: '"', '{', '[', 't', 'f', 'n', a number. */
struct jv {
	const char *p;
	const char *end;
};

/* The line being written: at most cap - 1 bytes and a NUL. */
struct line {
	char *p;
	size_t len;
	size_t cap;
};

/* ---- the scanner ---- */

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * p at a '"': just past the closing quote, or NULL when there is none. A
 * quote closes the string unless an odd run of backslashes stands before it.
 */
static const char *
skip_string(const char *p, const char *end)
{
	const char *start = p + 1, *q;

	for (p = start; p < end; p = q + 1) {
		size_t escapes = 0;

		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			return NULL;
		while (q - escapes > start && q[-1 - (long)escapes] == '\\')
			escapes++;
		if (escapes % 2 == 0)
			return q + 1;
	}
	return NULL;
}

/* Ends a number, true, false or null. */
static int
ends_scalar(char c)
{
	switch (c) {
	case ',': case ':': case '}': case ']': case ' ': case '\t': case '\r': case '\n':
	case '\0':
		return 1;
	default:
		return 0;
	}
}

/* Just past the value at p, or NULL. Objects and arrays by their depth: O(their bytes). */
static const char *
skip_value(const char *p, const char *end)
{
	const char *start = p;
	size_t depth = 0;

	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && !ends_scalar(*p))
			p++;
		return p > start ? p : NULL;
	}
	while (p < end) {
		if (*p == '"') {
			if ((p = skip_string(p, end)) == NULL)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

static int
jv_is(const struct jv *v, char first)
{
	return v->p != NULL && v->p < v->end && v->p[0] == first;
}

static int
jv_is_number(const struct jv *v)
{
	return v->p != NULL && v->p < v->end && (v->p[0] == '-' || (v->p[0] >= '0' &&
	    v->p[0] <= '9'));
}

static int
jv_is_scalar(const struct jv *v)
{
	return v->p != NULL && v->p < v->end && !jv_is(v, '{') && !jv_is(v, '[');
}

/*
 * The next member of an object, *at just past its '{' or its last member:
 * its key (quotes included) and value. 0 at the object's end or on bad text.
 */
static int
next_member(const char **at, const char *end, struct jv *key, struct jv *val)
{
	const char *p = skip_ws(*at, end);

	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p >= end || *p != '"')
		return 0;
	key->p = p;
	if ((key->end = skip_string(p, end)) == NULL)
		return 0;
	p = skip_ws(key->end, end);
	if (p >= end || *p != ':')
		return 0;
	val->p = skip_ws(p + 1, end);
	if ((val->end = skip_value(val->p, end)) == NULL)
		return 0;
	*at = val->end;
	return 1;
}

/* Is the key (a string, quotes included) name? Keys the table asks for have no escapes. */
static int
key_is(const struct jv *key, const char *name)
{
	size_t n = strlen(name);

	return (size_t)(key->end - key->p) == n + 2 && memcmp(key->p + 1, name, n) == 0;
}

/*
 * The members keys[0..n) of obj, in one pass over it that stops once all are
 * found: O(its bytes) at most. out[i].p is NULL for a key that is not there
 * (or when obj is no object).
 */
static void
members_get(const struct jv *obj, const char *const *keys, size_t n, struct jv *out)
{
	const char *at;
	struct jv key, val;
	size_t found = 0;

	for (size_t i = 0; i < n; i++)
		out[i].p = out[i].end = NULL;
	if (!jv_is(obj, '{'))
		return;
	at = obj->p + 1;
	while (found < n && next_member(&at, obj->end, &key, &val)) {
		for (size_t i = 0; i < n; i++) {
			if (out[i].p == NULL && key_is(&key, keys[i])) {
				out[i] = val;
				found++;
				break;
			}
		}
	}
}

/* ---- the line ---- */

static void
put(struct line *l, const char *s, size_t n)
{
	size_t room = l->cap - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void
puts_line(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* A line cut inside a character loses the character's first bytes too. */
static void
cut_at_char(struct line *l)
{
	size_t i = l->len, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)l->p[i - 1] & 0xc0) == 0x80 && l->len - i < 3)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)l->p[i - 1];
	if (lead < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (l->len - (i - 1) < need) {
		l->len = i - 1;
		l->p[l->len] = '\0';
	}
}

/* One character; C0 and C1 controls and DEL as '?', what is no character as U+FFFD. */
static void
put_char(struct line *l, uint32_t cp)
{
	char u[4];

	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
		put(l, "?", 1);
		return;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		put(l, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		put(l, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		put(l, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		put(l, u, 4);
	}
}

/* Four hex digits at p (before end) into *v; -1 when they are not. */
static int
hex4(const char *p, const char *end, uint32_t *v)
{
	*v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* A string's text, its escapes decoded (surrogate pairs joined). */
static void
put_string(struct line *l, const struct jv *s)
{
	const char *p = s->p + 1, *end = s->end - 1;

	while (p < end && l->len + 1 < l->cap) {
		const char *run = p;
		uint32_t cp;

		/* Plain bytes go in one copy; 0x7f and a C1 control (C2 80..9F) do not. */
		while (p < end && *p != '\\' && (unsigned char)*p >= 0x20 && *p != 0x7f &&
		    !((unsigned char)p[0] == 0xc2 && p + 1 < end && (unsigned char)p[1] >= 0x80 &&
		    (unsigned char)p[1] < 0xa0))
			p++;
		put(l, run, (size_t)(p - run));
		if (p >= end)
			break;
		if (*p != '\\') {
			put(l, "?", 1);
			p += (unsigned char)*p == 0xc2 ? 2 : 1;
			continue;
		}
		if (++p >= end)
			break;
		switch (*p++) {
		case 'b': case 'f': case 'n': case 'r': case 't':
			put(l, "?", 1);
			continue;
		case 'u':
			if (hex4(p, end, &cp) != 0) {
				put_char(l, 0xfffd);
				continue;
			}
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u') {
				uint32_t lo;

				if (hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			put_char(l, cp);
			continue;
		default:	/* \" \\ \/ */
			put(l, p - 1, 1);
			continue;
		}
	}
}

/* The integer v holds; 0 when it is not one. */
static int
int_of(const struct jv *v, long long *out)
{
	char num[NUMBER_TEXT_MAX];
	size_t n;

	if (!jv_is_number(v) || (n = (size_t)(v->end - v->p)) >= sizeof(num))
		return 0;
	memcpy(num, v->p, n);
	num[n] = '\0';
	if (strpbrk(num, ".eE") != NULL)
		return 0;
	*out = strtoll(num, NULL, 10);
	return 1;
}

/* A scalar as a cell shows it (fmt_value): strings, integers, reals as %g, true, false, "-". */
static void
put_scalar(struct line *l, const struct jv *v)
{
	char num[NUMBER_TEXT_MAX], out[NUMBER_TEXT_MAX];
	size_t n = (size_t)(v->end - v->p);
	long long i;

	if (jv_is(v, '"')) {
		put_string(l, v);
	} else if (int_of(v, &i)) {
		snprintf(out, sizeof(out), "%lld", i);
		puts_line(l, out);
	} else if (jv_is_number(v) && n < sizeof(num)) {
		memcpy(num, v->p, n);
		num[n] = '\0';
		snprintf(out, sizeof(out), "%g", strtod(num, NULL));
		puts_line(l, out);
	} else if (jv_is(v, 't')) {
		puts_line(l, "true");
	} else if (jv_is(v, 'f')) {
		puts_line(l, "false");
	} else {
		puts_line(l, "-");
	}
}

/* ---- the summaries ---- */

/* The string v, or the text `otherwise` when v is none. */
static void
put_str(struct line *l, const struct jv *v, const char *otherwise)
{
	if (jv_is(v, '"'))
		put_string(l, v);
	else
		puts_line(l, otherwise);
}

/* A string that is not empty. */
static int
is_text(const struct jv *v)
{
	return jv_is(v, '"') && v->end - v->p > 2;
}

/* "from -> to: reason" */
static void
sum_transition(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "from", "to", "reason" };
	struct jv v[3];

	members_get(d, keys, 3, v);
	put_str(l, &v[0], "?");
	puts_line(l, " -> ");
	put_str(l, &v[1], "?");
	if (is_text(&v[2])) {
		puts_line(l, ": ");
		put_string(l, &v[2]);
	}
}

/* "lab-linux@1 owner=ana 2026-11-24T09:00:00Z..2026-11-24T11:00:00Z" */
static void
sum_instance_created(struct line *l, const struct jv *d)
{
	static const char *const top[] = { "instance" };
	static const char *const keys[] = { "definition", "definition_version", "owner",
		"timeslot_start", "timeslot_end" };
	struct jv inst, v[5];
	char ver[NUMBER_TEXT_MAX];
	long long version;

	members_get(d, top, 1, &inst);
	members_get(&inst, keys, 5, v);
	/* name@version when both are there, else the name as a cell shows it (fmt_defref). */
	if (jv_is(&v[0], '"') && int_of(&v[1], &version)) {
		put_string(l, &v[0]);
		snprintf(ver, sizeof(ver), "@%lld", version);
		puts_line(l, ver);
	} else if (v[0].p != NULL) {
		put_scalar(l, &v[0]);
	} else {
		puts_line(l, "-");
	}
	puts_line(l, " owner=");
	put_str(l, &v[2], "-");
	puts_line(l, " ");
	put_str(l, &v[3], "?");
	puts_line(l, "..");
	put_str(l, &v[4], "?");
}

static void
sum_instance_extended(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "timeslot_end" };
	struct jv end;

	members_get(d, keys, 1, &end);
	puts_line(l, "slot ends ");
	put_str(l, &end, "?");
}

static void
sum_worker_registered(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "worker", "is_new" };
	static const char *const name_key[] = { "name" };
	struct jv v[2], name;

	members_get(d, keys, 2, v);
	members_get(&v[0], name_key, 1, &name);
	put_str(l, &name, "?");
	if (jv_is(&v[1], 't'))
		puts_line(l, " (new)");
}

/* How many values an array holds; 0 for anything that is not an array. O(its bytes). */
static size_t
count_elements(const struct jv *a)
{
	const char *p;
	size_t n = 0;

	if (!jv_is(a, '['))
		return 0;
	p = skip_ws(a->p + 1, a->end);
	while (p < a->end && *p != ']') {
		if ((p = skip_value(p, a->end)) == NULL)
			break;
		n++;
		p = skip_ws(p, a->end);
		if (p < a->end && *p == ',')
			p = skip_ws(p + 1, a->end);
	}
	return n;
}

/* The name of the object member `key` of d (a worker's, a template's), or "?". */
static void
put_name_of(struct line *l, const struct jv *d, const char *key)
{
	static const char *const name_key[] = { "name" };
	const char *const keys[] = { key };
	struct jv obj, name;

	members_get(d, keys, 1, &obj);
	members_get(&obj, name_key, 1, &name);
	put_str(l, &name, "?");
}

/* "w1: nothing left on it" */
static void
sum_worker_drained(struct line *l, const struct jv *d)
{
	put_name_of(l, d, "worker");
	puts_line(l, ": nothing left on it");
}

/* "w1: kept 2, lost 1" (what its restarted agent still had, and what it had lost) */
static void
sum_worker_reconciled(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "kept", "lost" };
	struct jv v[2];
	char n[64];

	members_get(d, keys, 2, v);
	put_name_of(l, d, "worker");
	snprintf(n, sizeof(n), ": kept %zu, lost %zu", count_elements(&v[0]),
	    count_elements(&v[1]));
	puts_line(l, n);
}

/* "small: desired 2 (min 1, max 3)" */
static void
sum_template(struct line *l, const struct jv *d)
{
	static const char *const top[] = { "template" };
	static const char *const keys[] = { "desired", "min", "max" };
	struct jv t, v[3];
	long long k[3];
	char n[96];

	members_get(d, top, 1, &t);
	members_get(&t, keys, 3, v);
	put_name_of(l, d, "template");
	for (int i = 0; i < 3; i++)
		if (!int_of(&v[i], &k[i]))
			return;
	snprintf(n, sizeof(n), ": desired %lld (min %lld, max %lld)", k[0], k[1], k[2]);
	puts_line(l, n);
}

/* "lab@4": name and version come before the definition, which is then never read. */
static void
sum_definition_created(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "name", "version" };
	struct jv v[2];
	char ver[NUMBER_TEXT_MAX];
	long long version = 0;

	members_get(d, keys, 2, v);
	put_str(l, &v[0], "?");
	if (!int_of(&v[1], &version))
		version = 0;
	snprintf(ver, sizeof(ver), "@%lld", version);
	puts_line(l, ver);
}

/* A transition if there is one, then the scalar members as k=v, then the reason. */
static void
sum_generic(struct line *l, const struct jv *d)
{
	static const char *const keys[] = { "from", "to", "reason" };
	const char *at = d->p + 1;
	char one[SCALAR_MAX];
	struct jv v[3], key, val;

	members_get(d, keys, 3, v);
	if (jv_is(&v[0], '"') || jv_is(&v[1], '"')) {
		put_str(l, &v[0], "?");
		puts_line(l, " -> ");
		put_str(l, &v[1], "?");
	}
	while (next_member(&at, d->end, &key, &val)) {
		struct line sub = { one, 0, sizeof(one) };

		one[0] = '\0';	/* an empty string writes nothing */
		if (!jv_is_scalar(&val) || key_is(&key, "from") || key_is(&key, "to") ||
		    key_is(&key, "reason"))
			continue;
		if (l->len > 0)
			puts_line(l, " ");
		put_string(l, &key);
		puts_line(l, "=");
		/* Each value is cut on its own, so one long text leaves room for the rest. */
		put_scalar(&sub, &val);
		cut_at_char(&sub);
		puts_line(l, one);
	}
	if (is_text(&v[2])) {
		if (l->len > 0)
			puts_line(l, ": ");
		put_string(l, &v[2]);
	}
}

static const struct {
	const char *type;
	void (*fn)(struct line *l, const struct jv *data);
} summaries[] = {
	{ "instance.created", sum_instance_created },
	{ "instance.state", sum_transition },
	{ "instance.extended", sum_instance_extended },
	{ "worker.registered", sum_worker_registered },
	{ "worker.state", sum_transition },
	{ "worker.health", sum_transition },
	{ "worker.drained", sum_worker_drained },
	{ "worker.reconciled", sum_worker_reconciled },
	{ "definition.created", sum_definition_created },
	{ "template.created", sum_template },
	{ "template.updated", sum_template },
};

const char *
evsummary_write(const char *type, const char *data, size_t len, char *buf, size_t n)
{
	struct line l = { buf, 0, n };
	void (*fn)(struct line *, const struct jv *) = sum_generic;
	struct jv d;

	assert(n > 0);
	buf[0] = '\0';
	d.p = skip_ws(data, data + len);
	d.end = skip_value(d.p, data + len);
	/* An object cut short is read as far as it goes. */
	if (d.end == NULL && d.p < data + len && *d.p == '{')
		d.end = data + len;
	if (d.end == NULL)
		return buf;
	if (!jv_is(&d, '{')) {
		if (jv_is_scalar(&d))
			put_scalar(&l, &d);
		cut_at_char(&l);
		return buf;
	}
	for (size_t i = 0; type != NULL && i < sizeof(summaries) / sizeof(summaries[0]); i++)
		if (strcmp(type, summaries[i].type) == 0)
			fn = summaries[i].fn;
	fn(&l, &d);
	cut_at_char(&l);
	return buf;
}
