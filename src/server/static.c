/*
 * The web app's files: GET and HEAD of any path outside /api/ that no route
 * took are looked up in web_dir, and /vendor/bootstrap.min.css is the
 * bootstrap_css file. Nothing here knows of libwebsockets: http.c calls
 * static_serve() with the request and writes the answer it fills.
 *
 * What is served is narrow on purpose: a path of [A-Za-z0-9._/-] whose
 * segments never begin with a dot (so no "..", no hidden file), a regular
 * file with a known extension, at most STATIC_MAX_FILE bytes. Anything else
 * is 404, never a directory listing and never a file outside web_dir.
 *
 * Files are read at each request (a few KiB; the app is loaded once per
 * tab and revalidated after), so an edit of web/ shows at the next reload.
 * The ETag is the file's size and modification time: a 304 costs one stat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define STATIC_MAX_FILE (4 * 1024 * 1024)

/*
 * The policy of every file served: nothing but this server's own scripts,
 * styles and websocket; no inline script or style, no frames, no plugins.
 * Bootstrap's CSS draws some icons from data: URIs, hence img-src.
 */
const char static_csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const struct {
	const char *ext;
	const char *ctype;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

static const char *
type_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].ctype;
	return NULL;
}

/* Is path (already URL-decoded) one we may look up? O(length). */
int
static_path_is_safe(const char *path)
{
	const char *p;

	if (path[0] != '/')
		return 0;
	for (p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '/'))
			return 0;
		/* A segment starts after each '/': never empty, never with a dot. */
		if (c == '/' && (p[1] == '/' || p[1] == '.'))
			return 0;
	}
	return 1;
}

static int
not_found(struct resp *rs)
{
	struct op_err e;

	op_err_set(&e, 404, "not_found", "", "no such file or route");
	return resp_error(rs, &e);
}

/* Reads the regular file fd (st_size bytes) into rs->body. */
static int
read_whole(int fd, const struct stat *st, struct resp *rs)
{
	size_t got = 0, want = (size_t)st->st_size;

	sbuf_reset(&rs->body);
	if (sbuf_reserve(&rs->body, want + 1) != 0)
		return -1;
	while (got < want) {
		ssize_t n = read(fd, rs->body.p + got, want - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	rs->body.len = got;
	return 0;
}

int
static_serve(const struct req *rq, struct resp *rs)
{
	const struct server_config *c = &the_app->cfg;
	char file[PATH_BUF_MAX];
	const char *ctype, *rel = rq->path;
	int is_vendor = 0, fd;
	struct stat st;

	if (strcmp(rel, "/") == 0 || strcmp(rel, "/index.html") == 0) {
		rel = "/index.html";
	} else if (strcmp(rel, "/vendor/bootstrap.min.css") == 0) {
		is_vendor = 1;
	}
	if (!static_path_is_safe(rel) || (ctype = type_of(rel)) == NULL)
		return not_found(rs);
	if (is_vendor) {
		if (c->bootstrap_css[0] == '\0')
			return not_found(rs);
		snprintf(file, sizeof(file), "%s", c->bootstrap_css);
	} else {
		if ((size_t)snprintf(file, sizeof(file), "%s%s", c->web_dir, rel) >= sizeof(file))
			return not_found(rs);
	}
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return not_found(rs);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE) {
		close(fd);
		return not_found(rs);
	}
	snprintf(rs->etag, sizeof(rs->etag), "\"%llx-%llx.%lx\"", (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	/*
	 * The app's own files keep their names from one version to the next, so a
	 * browser asks again each time (a 304 when nothing changed); Bootstrap
	 * changes only with its Debian package and may be kept for a day.
	 */
	rs->cache_control = is_vendor ? "public, max-age=86400" : "no-cache";
	rs->csp = static_csp;
	rs->content_type = ctype;
	rs->status = 200;
	if (rq->if_none_match != NULL && strcmp(rq->if_none_match, rs->etag) == 0) {
		close(fd);
		rs->status = 304;
		sbuf_reset(&rs->body);
		return 0;
	}
	if (read_whole(fd, &st, rs) != 0) {
		struct op_err e;

		close(fd);
		rs->etag[0] = '\0';
		rs->cache_control = NULL;
		op_err_set(&e, 500, "internal", "", "cannot read a file of the web app");
		return resp_error(rs, &e);
	}
	close(fd);
	return 0;
}
