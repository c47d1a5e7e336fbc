/*
 * The web app's files (static.c), without a socket: which paths may be
 * looked up under the web root, and which never are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "server.h"

struct app *the_app;

static void
test_static_paths_inside_the_root_only(void **state)
{
	static const char *const good[] = { "/index.html", "/js/app.js", "/js/pages/a-b_c.js",
		"/css/app.css", "/favicon.svg", "/a.b.c.txt", NULL };
	static const char *const bad[] = { "", "index.html", "/..", "/../etc/passwd", "/js/../x.js",
		"/.hidden", "/js/.x.js", "//etc/passwd", "/js//app.js", "/a%2e%2e", "/a b.html",
		"/a\\b.js", "/é.js", "/index.html;x", "/x?y", "/x\n.js", NULL };

	(void)state;
	for (size_t i = 0; good[i] != NULL; i++)
		assert_true(static_path_is_safe(good[i]));
	for (size_t i = 0; bad[i] != NULL; i++) {
		if (static_path_is_safe(bad[i]))
			fail_msg("static_path_is_safe(\"%s\") took it", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_paths_inside_the_root_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
