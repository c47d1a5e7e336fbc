#!/bin/sh
# Large events stay bounded: 70 definitions of ~0.9 MiB each make ~63 MiB of
# events, past the in-memory ring's 64 MiB budget once the older entries
# count; GET /api/v1/events pages stop at 8 MiB and say where to resume;
# paging from 0 returns every event once, in order, from memory and table; a
# websocket that stops reading meanwhile gets them all once it reads again.
. "$(dirname "$0")/lib.sh"

start_server
# A stream that stops reading while the events are written: its socket fills, the
# server keeps the rest of one message and waits; read again, it gets every event.
ws_open s
ws_send s '{"subscribe": {"since": 0}}'
wait_for 10 "caught_up on stream s" eval 'ws_messages s | grep -q caught_up'
kill -STOP "$WS_CAT_s"
arg=$(head -c 4000 /dev/zero | tr '\0' x)
hooks=$(for _ in $(seq 60); do printf '"%s",' "$arg"; done)
for n in $(seq 1 75); do
	printf '{"name":"big%02d","hooks":{"run":[%s"end"],"collect":[%s"end"],"grade":[%s"end"],"stop":[%s"end"]}}' \
		"$n" "$hooks" "$hooks" "$hooks" "$hooks" >"$WORK/def.json"
	api_ok 201 POST /api/v1/definitions "@$WORK/def.json"
done
# The ring's 64 MiB and SQLite's 16 MiB page cache, with room for the sanitizer
# build's shadow memory and quarantine (~4x): ~100 MiB without, ~420 MiB with.
rss=$(ps -o rss= -p "$SERVER_PID")
note "outpostd holds $rss KiB after 75 large events"
[ "$rss" -lt 460000 ] || fail "outpostd holds $rss KiB after 75 large events"
get_last_seq
kill -CONT "$WS_CAT_s"
wait_for 120 "every event on the stream that stopped reading" \
	eval "ws_messages s | jq -s -e 'any(.[]; .seq == $LAST_SEQ)' >/dev/null"
assert_eq "$(seq -s ' ' 1 "$LAST_SEQ")" \
	"$(ws_messages s | jq -r 'select(.seq) | .seq' | tr '\n' ' ' | sed 's/ $//')" \
	"every event once, in order, on the stream that stopped reading"

seen=""
since=0
pages=0
while :; do
	api_ok 200 GET "/api/v1/events?since=$since&limit=1000"
	[ "$(printf %s "$BODY" | wc -c)" -le $((8 * 1024 * 1024 + 4 * 1024 * 1024)) ] ||
		fail "an events page of $(printf %s "$BODY" | wc -c) bytes"
	n=$(jbody '.items | length')
	seen="$seen $(jbody '[.items[].seq] | map(tostring) | join(" ")')"
	new=$(jbody .last_seq)
	[ "$new" = "$since" ] && break
	since=$new
	pages=$((pages + 1))
	[ "$n" -gt 0 ] || break
done
[ "$pages" -gt 5 ] || fail "the events came in $pages pages; pages should stop at 8 MiB"
get_last_seq
assert_eq "$(seq -s ' ' 1 "$LAST_SEQ")" "$(echo $seen)" "every event once, in order"
exit 0
