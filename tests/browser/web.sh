#!/bin/sh
# The web app in a real browser: a real outpostd serving web/, two real
# agents, and Debian's chromium driven headless by playwright-core
# (scenario.mjs): sign in, a field error at its field, an instance created
# and followed to running, its usage (a heartbeat's) on its page and in the
# list, the workers' isolation, and, stopped, to stopped with its grade, a worker
# cordoned, a failed worker terminated, a runbook's dry run and its output, the stream resumed after the
# server restarts, a viewer's read-only pages, sign-out. Screenshots of each
# page go to tests/browser-artifacts/ in the build directory.
#
# playwright-core comes from npm (tests/browser/package-lock.json) into
# tests/browser-node/ in the build directory; it never downloads a browser.
. "$(dirname "$0")/../integration/lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ] || ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "SKIP: $TEST_NAME needs chromium, node and npm (apt-get install chromium nodejs npm)" >&2
	exit 77
fi

# playwright-core, as the lock file pins it, once per build directory.
NODE_DIR=$top_builddir/tests/browser-node
mkdir -p "$NODE_DIR"
if ! cmp -s "$top_srcdir/tests/browser/package-lock.json" "$NODE_DIR/package-lock.json" ||
	[ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
	cp "$top_srcdir/tests/browser/package.json" "$top_srcdir/tests/browser/package-lock.json" \
		"$NODE_DIR/"
	chmod u+w "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json"
	(cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
		--loglevel=error) >"$WORK/npm.log" 2>&1 ||
		fail "npm ci of playwright-core failed: $(tail -n 5 "$WORK/npm.log")"
fi
PLAYWRIGHT=$NODE_DIR/node_modules/playwright-core/index.mjs
[ -f "$PLAYWRIGHT" ] || fail "no $PLAYWRIGHT after npm ci"

ARTIFACTS=$top_builddir/tests/browser-artifacts
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS" "$WORK/sync"

runbook greet '{ "name": "greet", "description": "Says hello, twice", "role": "operator",
  "params": [ { "name": "who", "type": "string", "required": true, "help": "whom to greet" } ],
  "steps": [ { "name": "hello", "exec": ["sh", "-c",
    "echo hello \"$OUTPOST_PARAM_WHO\" dry=$OUTPOST_DRY_RUN; sleep 0.3; echo second line"] } ] }'

start_server --web-dir "$top_srcdir/web"
port=${SERVER_URL##*:}
define lab '"description": "a lab for the browser test", "hooks": {
  "run": ["sh", "-c", "echo lab up; exec sleep 600"],
  "collect": ["sh", "-c", "echo collected"],
  "grade": ["sh", "-c", "echo \"{\\\"score\\\": 87, \\\"max\\\": 100}\"; echo graded >&2"],
  "stop": ["sh", "-c", "echo stopped"] }, "resources": {"cpu": 1, "memory_mb": 256}'
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
start_agent w2 --capacity cpu=2,memory_mb=2048,slots=2
wait_online w1 w2
# A template whose hosts are started by hand: scaling it makes workers that wait.
TOKEN=$SERVER_TOKEN api_ok 201 PUT /api/v1/templates/pcs '{"description": "lab PCs",
  "capacity": {"cpu": 1, "memory_mb": 256, "slots": 1}, "max": 2, "autoscale": false,
  "provision_timeout": "1h", "provisioner": {"type": "static"}}'
# A template whose provisioner always fails: its worker waits failed, its removal
# refused until deprov-ok exists (then an operator's terminate removes it). It
# names programs, so it is a file of the template directory, read on SIGHUP.
mkdir -p "$WORK/templates"
printf '%s\n' '{"description": "always fails",
  "capacity": {"cpu": 1, "memory_mb": 256, "slots": 1}, "max": 1, "autoscale": false,
  "retry_backoff": "1h", "provisioner": {"type": "command", "provision": ["false"],
  "deprovision": ["sh", "-c", "test -f '"$WORK/sync/deprov-ok"'"]}}' \
	>"$WORK/templates/broken.json"
kill -HUP "$SERVER_PID"
_broken_read() { TOKEN=$SERVER_TOKEN api GET /api/v1/templates/broken; [ "$STATUS" = 200 ]; }
wait_for 10 "the template broken read from its file" _broken_read
TOKEN=$SERVER_TOKEN api_ok 200 POST /api/v1/templates/broken/scale '{"count": 1}'
_broken_failed() {
	TOKEN=$SERVER_TOKEN api GET /api/v1/workers/broken-1
	[ "$STATUS" = 200 ] && [ "$(jbody .state)" = failed ] &&
		[ "$(events_of deprovision_failed broken | jq length)" -gt 0 ]
}
wait_for 20 "broken-1 failed, its first removal refused" _broken_failed
touch "$WORK/sync/deprov-ok"
create_token viewer viewer
viewer=$NEW_TOKEN

OUTPOST_URL=$SERVER_URL ADMIN_TOKEN=$SERVER_TOKEN VIEWER_TOKEN=$viewer ARTIFACTS=$ARTIFACTS \
	SYNC=$WORK/sync AGENTS_DIR=$WORK/agents PLAYWRIGHT=$PLAYWRIGHT CHROMIUM=$CHROMIUM \
	node "$top_srcdir/tests/browser/scenario.mjs" >"$WORK/scenario.log" 2>&1 &
node_pid=$!
track_pid "$node_pid"

# The scenario asks for one restart of the server, on the same port and state.
deadline=$((SECONDS + 240))
while kill -0 "$node_pid" 2>/dev/null; do
	if [ -f "$WORK/sync/want-restart" ] && [ ! -f "$WORK/sync/restarted" ]; then
		stop_server
		assert_eq 0 "$EXIT_RC" "outpostd's exit status after SIGTERM"
		start_server --state-dir "$SERVER_DIR" --web-dir "$top_srcdir/web" \
			--listen "127.0.0.1:$port"
		touch "$WORK/sync/restarted"
	fi
	[ "$SECONDS" -lt "$deadline" ] || fail "the scenario took more than 240 s: $(tail -n 5 "$WORK/scenario.log")"
	sleep 0.1
done
wait "$node_pid"
rc=$?
cat "$WORK/scenario.log" >&2
[ "$rc" -eq 0 ] || fail "the browser scenario failed (screenshots in $ARTIFACTS)"
for p in 02-dashboard 04-instances-running 06-instance-detail 07-workers 09-runbook-dry-run \
	10-definitions 12-templates 13-events 15-workers-phone 16-viewer-workers; do
	[ -s "$ARTIFACTS/$p.png" ] || fail "no screenshot $p.png"
done
exit 0
