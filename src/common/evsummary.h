/*
 * Each event's one line for people ("running -> collecting: slot ended",
 * "lab@2 owner=ana S..E"): a table by event type, with a generic line for
 * the rest. outpostd puts it in every event as "summary", so that the web
 * app, outpost-top and `outpost events` say the same words; clients show
 * that member and never make their own.
 *
 * It reads the event's data as JSON text, without building a tree: the
 * server has the data as text when it writes an event (and when it reads
 * one back from the table), and parsing 600 bytes with jansson costs some
 * twenty times the scan (see evsummary.c).
 */
#ifndef OUTPOST_EVSUMMARY_H
#define OUTPOST_EVSUMMARY_H

#include <stddef.h>

/* The most bytes of a summary, its NUL included; a longer one is cut at a character. */
#define EVSUMMARY_MAX 1024

/*
 * The summary of an event of type whose data is the JSON text data (len
 * bytes) into buf (n bytes, n > 0): valid UTF-8 with every control character
 * written '?', so it is one line. Data that is not an object: a scalar's
 * text, else "". Returns buf.
 */
const char *evsummary_write(const char *type, const char *data, size_t len, char *buf,
    size_t n);

#endif
