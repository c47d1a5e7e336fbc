#!/bin/sh
# The web app's files: content types, the Content-Security-Policy and the
# other headers, ETag and 304, HEAD, the vendor CSS, and every way out of
# web_dir refused: "..", encoded dots, hidden files, directories, unknown
# types, files too large.
. "$(dirname "$0")/lib.sh"

web=$WORK/site/web
mkdir -p "$web"
cp -R "$top_srcdir/web/." "$web/"
chmod -R u+w "$web"
echo "secret" >"$WORK/site/secret.txt"
echo "hidden" >"$web/.hidden.txt"
echo "notes" >"$web/notes.md"
echo "outside" >"$WORK/site/secret.css"
printf 'body{}\n' >"$WORK/bootstrap.min.css"
truncate -s 5M "$web/big.js"
start_server --web-dir "$web/" --bootstrap-css "$WORK/bootstrap.min.css"
TOKEN=

get() {	# PATH [curl args]: sets STATUS, BODY, HEADERS
	local p=$1
	shift
	rm -f "$WORK/b" "$WORK/h"
	STATUS=$(curl -sS --path-as-is -o "$WORK/b" -D "$WORK/h" -w '%{http_code}' "$@" \
		"$SERVER_URL$p")
	BODY=$(cat "$WORK/b" 2>/dev/null)
	HEADERS=$(tr -d '\r' <"$WORK/h")
	LAST_REQ="GET $p"
}

# The page, and the headers every file of the app carries.
get /
assert_status 200
assert_eq "text/html; charset=utf-8" "$(header content-type)" "/ content-type"
assert_eq "$(cat "$web/index.html")" "$BODY" "/ is index.html"
assert_eq "no-cache" "$(header cache-control)" "index.html is revalidated each time"
assert_eq "nosniff" "$(header x-content-type-options)" "nosniff"
assert_eq "DENY" "$(header x-frame-options)" "x-frame-options"
assert_eq "no-referrer" "$(header referrer-policy)" "referrer-policy"
csp=$(header content-security-policy)
assert_contains "default-src 'self'" "$csp" "the CSP"
assert_contains "script-src 'self';" "$csp" "the CSP's scripts"
assert_contains "connect-src 'self'" "$csp" "the CSP's connections (the websocket is same-origin)"
assert_contains "frame-ancestors 'none'" "$csp" "the CSP's frames"
case $csp in *unsafe-inline* | *unsafe-eval* | *http:* | *https:* | *'*'*)
	fail "the CSP allows more than the site: $csp" ;;
esac
etag=$(header etag)
assert_match '^"[0-9a-f]+-[0-9a-f]+\.[0-9a-f]+"$' "$etag" "index.html's etag"
get /index.html
assert_status 200
assert_eq "$etag" "$(header etag)" "/ and /index.html are one file"

# No inline script or style in the page: the CSP would refuse them.
grep -qiE '<script>|<script [^>]*>[^<]|<style|style=' "$web/index.html" &&
	fail "index.html has an inline script or style"

# 304 for the ETag it gave, the file for any other.
get / -H "If-None-Match: $etag"
assert_status 304
assert_eq "" "$BODY" "a 304 has no body"
assert_eq "$etag" "$(header etag)" "a 304 carries its etag"
get / -H 'If-None-Match: "0-0.0"'
assert_status 200
touch -d '2001-01-01' "$web/index.html"
get / -H "If-None-Match: $etag"
assert_status 200 "index.html changed: a new etag"
assert_ne "$etag" "$(header etag)" "the etag of a changed file"

# HEAD: the headers, the length, no body.
len=$(wc -c <"$web/index.html")
hostport=${SERVER_URL#http://}
exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
printf 'HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$hostport" >&3
timeout 5 cat <&3 >"$WORK/head.raw"
exec 3<&-
HEADERS=$(sed -n '1,/^\r$/p' "$WORK/head.raw" | tr -d '\r')
assert_eq "$len" "$(header content-length)" "HEAD / content-length"
assert_eq 0 "$(sed '1,/^\r$/d' "$WORK/head.raw" | wc -c)" "the bytes after HEAD's headers"

# Each type.
for t in "/js/app.js text/javascript; charset=utf-8" "/js/pages/instances.js text/javascript; charset=utf-8" \
	"/css/app.css text/css; charset=utf-8" "/favicon.svg image/svg+xml"; do
	get "${t%% *}"
	assert_status 200
	assert_eq "${t#* }" "$(header content-type)" "${t%% *} content-type"
	assert_eq "$(cat "$web${t%% *}")" "$BODY" "${t%% *} is the file"
done

# The vendor CSS: the configured file, kept a day.
get /vendor/bootstrap.min.css
assert_status 200
assert_eq "text/css; charset=utf-8" "$(header content-type)" "bootstrap's content-type"
assert_eq "body{}" "$BODY" "the bootstrap_css file"
assert_eq "public, max-age=86400" "$(header cache-control)" "bootstrap is cached"
get /vendor/other.css
assert_status 404 "only bootstrap.min.css is in /vendor"

# Nothing outside web_dir, nothing hidden, nothing but files of known types.
for p in /../secret.txt /../../../../etc/passwd /%2e%2e/secret.txt /js/%2e%2e/%2e%2e/secret.txt \
	/js/..%2f..%2fsecret.txt /%2E%2E/secret.css //secret.txt /.hidden.txt \
	/notes.md /js /js/ /big.js /index.html%00.js /vendor/../../secret.css \
	/nope.html /js/nope.js; do
	get "$p"
	# lws itself drops a request with a NUL in its path (000): refused too.
	case $STATUS in 404 | 400 | 000) ;; *) fail "GET $p: expected 404 (or 400), got $STATUS: $BODY" ;; esac
	case $BODY in *secret* | *outside* | *hidden* | *root:*) fail "GET $p leaked a file: $BODY" ;; esac
done
get /healthz
assert_status 200 "outpostd after the refused paths"
# A dot segment that stays inside the root is resolved before outpostd sees the path.
get /js/.%2e/index.html
assert_status 200
assert_eq "$(cat "$web/index.html")" "$BODY" "/js/../index.html is /index.html"
get /../secret.txt
assert_eq "not_found" "$(jbody .error.code)" "a refused path's error code"
get /nope.html
assert_eq "application/json" "$(header content-type)" "a 404 is the API's error"

# The API stays the API: its 404s and its methods.
get /api/v1/nope
assert_status 404
assert_eq "" "$(header content-security-policy)" "an API answer is not a file of the app"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$SERVER_URL/index.html")
assert_eq 404 "$STATUS" "POST of a file"

# No bootstrap_css: no vendor CSS (the app is then unstyled, not broken).
stop_server
start_server --state-dir "$SERVER_DIR" --web-dir "$web" --bootstrap-css ""
get /vendor/bootstrap.min.css
assert_status 404
get /
assert_status 200

# A web_dir that does not exist: 404s, and the API answers.
stop_server
start_server --state-dir "$SERVER_DIR" --web-dir "$WORK/none"
get /
assert_status 404
get /healthz
assert_status 200
exit 0
