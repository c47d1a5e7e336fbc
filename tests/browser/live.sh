#!/bin/sh
# The web app's merge rule (web/js/live.js: load, then follow) in node, with
# no browser and no server: live.test.mjs feeds it a list at seq N and the
# events around N in every order the app can see them in.
if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: live.sh needs node (apt-get install nodejs)" >&2
	exit 77
fi
exec node "$top_srcdir/tests/browser/live.test.mjs" "$top_srcdir/web"
