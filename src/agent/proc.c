/*
 * What the agent and outpost-shim both run (shim.h): a process's start
 * time, and paths formatted with their truncation checked. Nothing here
 * may need more than the C library: the shim links it alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/*
 * The start time of pid (clock ticks since boot, field 22 of /proc/PID/stat),
 * or 0 when it is gone or a zombie: a zombie has ended, whoever reaps it.
 */
unsigned long long
proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p, *save = NULL;
	unsigned long long v = 0;
	FILE *f;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* The command may hold spaces and parentheses: fields are counted after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	for (p = strtok_r(p + 1, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
		if (++field == 3 && (*p == 'Z' || *p == 'X'))
			return 0;
		if (field == 22) {
			v = strtoull(p, NULL, 10);
			break;
		}
	}
	return v;
}

int
path_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= n) {
		if (n > 0)
			buf[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
