#!/bin/sh
# Keyset pagination of GET /api/v1/instances under concurrent writers: 100
# instances created by 20 concurrent clients, then read back 7 at a time while
# more are being created; no page may repeat or skip an id. The state, owner
# and definition filters each return exactly their instances, across pages too.
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
create_definition other

body_for() {	# DEFINITION OWNER
	printf '{"definition":"%s","owner":"%s","timeslot_start":"%s","timeslot_end":"%s"}' \
		"$1" "$2" "$SLOT_START" "$SLOT_END"
}

clients=()
# 20 clients, 5 creates each, all at once; each writes "status id" lines.
for c in $(seq 1 20); do
	(
		for _ in 1 2 3 4 5; do
			curl -sS -o "$WORK/c$c.body" -w '%{http_code}' --max-time 20 \
				-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
				--data-binary "$(body_for lab "client$c")" "$SERVER_URL/api/v1/instances" \
				>"$WORK/c$c.status"
			echo "$(cat "$WORK/c$c.status") $(jq -r .id "$WORK/c$c.body")" >>"$WORK/c$c.out"
		done
	) &
	clients+=("$!")
	track_pid $!
done
for p in "${clients[@]}"; do
	wait_exit "$p" 30
done
cat "$WORK"/c*.out >"$WORK/created"
assert_eq 100 "$(wc -l <"$WORK/created")" "creates answered"
assert_eq 100 "$(grep -c '^201 [0-9][0-9]*$' "$WORK/created")" \
	"creates answered 201 with an id ($(grep -v '^201 ' "$WORK/created" | head -n 3))"
cut -d' ' -f2 "$WORK/created" | sort -n >"$WORK/first100"
assert_eq 100 "$(sort -u "$WORK/first100" | wc -l)" "distinct ids among the 100 creates"

# More writers while we page: one client creating until told to stop.
(
	i=0
	while [ ! -e "$WORK/stop-writer" ]; do
		i=$((i + 1))
		curl -sS -o /dev/null --max-time 20 -H "Authorization: Bearer $TOKEN" \
			-H 'Content-Type: application/json' --data-binary "$(body_for lab late)" \
			"$SERVER_URL/api/v1/instances"
		echo "$i" >"$WORK/writer-count"
	done
) &
writer=$!
track_pid "$writer"
wait_for 10 "the concurrent writer made its first instance" test -s "$WORK/writer-count"

# Page with limit=7 until next is null; stop the writer after 20 pages so it ends.
after=
pages=0
: >"$WORK/paged"
while :; do
	api_ok 200 GET "/api/v1/instances?limit=7${after:+&after=$after}"
	n=$(jbody '.items | length')
	next=$(jbody '.next // empty')
	pages=$((pages + 1))
	[ "$n" -le 7 ] || fail "page $pages has $n items, more than limit=7"
	if [ -n "$next" ]; then
		assert_eq 7 "$n" "items on page $pages, which has a next"
	fi
	jbody '.items[].id' >>"$WORK/paged"
	[ -n "$next" ] || break
	after=$next
	if [ "$pages" -eq 20 ]; then
		touch "$WORK/stop-writer"
	fi
	[ "$pages" -lt 1000 ] || fail "more than 1000 pages: next never becomes null"
done
touch "$WORK/stop-writer"
wait_exit "$writer" 20
late=$(cat "$WORK/writer-count")
note "$pages pages; $late instances created while paging"
[ "$late" -gt 0 ] || fail "no instance was created while paging"

# Ascending, so no duplicate; and no gap: every id up to the largest seen was seen.
sort -n -c "$WORK/paged" 2>/dev/null || fail "page ids are not ascending: $(tr '\n' ' ' <"$WORK/paged" | head -c 300)"
assert_eq "$(wc -l <"$WORK/paged")" "$(sort -u "$WORK/paged" | wc -l)" "ids seen while paging, distinct"
missing=$(comm -23 "$WORK/first100" <(sort "$WORK/paged" | sort -n) | head -n 5)
[ -z "$missing" ] || fail "ids created before paging but never paged: $missing"
max=$(tail -n 1 "$WORK/paged")
api_ok 200 GET "/api/v1/instances?limit=500"
jbody ".items[].id | select(. <= $max)" >"$WORK/all-upto-max"
missing=$(comm -23 <(sort "$WORK/all-upto-max") <(sort "$WORK/paged") | head -n 5)
[ -z "$missing" ] || fail "paging skipped ids that existed: $missing"

# ---- filters ----
get_instance_count
total=$COUNT
assert_eq $((100 + late)) "$total" "instances in all"

for _ in 1 2 3; do
	create_instance other "client7"
done

api_ok 200 GET "/api/v1/instances?definition=other&limit=500"
assert_eq 3 "$(jbody '.items | length')" "instances of definition=other"
assert_eq '["other"]' "$(jbody -c '[.items[].definition] | unique')" "definition of definition=other"
api_ok 200 GET "/api/v1/instances?definition=lab&limit=500"
assert_eq "$total" "$(jbody '.items | length')" "instances of definition=lab"

# owner=client7 across pages of 2: its 5 lab instances and 3 other instances.
after=
: >"$WORK/owner"
while :; do
	api_ok 200 GET "/api/v1/instances?owner=client7&limit=2${after:+&after=$after}"
	jbody '.items[] | "\(.id) \(.owner)"' >>"$WORK/owner"
	after=$(jbody '.next // empty')
	[ -n "$after" ] || break
done
assert_eq 8 "$(wc -l <"$WORK/owner")" "instances of owner=client7 over pages of 2"
assert_eq 8 "$(grep -c ' client7$' "$WORK/owner")" "owner of owner=client7 items"
api_ok 200 GET "/api/v1/instances?owner=client7&definition=other"
assert_eq 3 "$(jbody '.items | length')" "owner=client7&definition=other"

# state: terminate two, then state=terminated lists exactly those two.
t1=$(sed -n 1p "$WORK/first100")
t2=$(sed -n 50p "$WORK/first100")
api_ok 200 POST "/api/v1/instances/$t1/terminate"
api_ok 200 POST "/api/v1/instances/$t2/terminate"
api_ok 200 GET "/api/v1/instances?state=terminated"
assert_eq "$t1 $t2" "$(jbody '[.items[].id] | map(tostring) | join(" ")')" "ids of state=terminated"
api_ok 200 GET "/api/v1/instances?state=pending&limit=500"
assert_eq $((total + 3 - 2)) "$(jbody '.items | length')" "instances of state=pending"
assert_eq '["pending"]' "$(jbody -c '[.items[].state] | unique')" "states of state=pending"
api_ok 200 GET "/api/v1/instances?state=pending,terminated&limit=500"
assert_eq $((total + 3)) "$(jbody '.items | length')" "instances of state=pending,terminated"
api_ok 200 GET "/api/v1/instances?state=running"
assert_eq 0 "$(jbody '.items | length')" "instances of state=running"
assert_eq null "$(jbody '.next')" "next of an empty page"
api_ok 200 GET "/api/v1/instances?owner=nobody"
assert_eq 0 "$(jbody '.items | length')" "instances of owner=nobody"
api GET "/api/v1/instances?state=bogus"
assert_error 400 invalid_argument state

# Definitions page by name: 7 definitions in pages of 3 give each once, in order.
for n in dz da dm db dy dc dx; do
	create_definition "$n"
done
seen=""
after=""
while :; do
	api_ok 200 GET "/api/v1/definitions?limit=3${after:+&after=$after}"
	seen="$seen $(jbody '[.items[].name] | join(" ")')"
	after=$(jbody '.next // ""')
	[ -n "$after" ] || break
done
all=$(echo $seen | tr ' ' '\n' | grep '^d' | tr '\n' ' ')
assert_eq "da db dc dm dx dy dz " "$all" "definitions paged by name"
api GET "/api/v1/definitions?after=bogus"
assert_error 400 invalid_argument after
api GET "/api/v1/definitions?limit=501"
assert_error 400 invalid_argument limit
exit 0
