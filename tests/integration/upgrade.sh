#!/bin/bash
# Upgrades: each database an earlier outpostd wrote (tests/fixtures/schema-vN.db,
# filled through that version's own API: README.md there) is started on by this
# outpostd, on a copy. Before the start, outpostd --check names the migrations that
# will run; after it, the schema is the latest, and nothing was lost: every
# instance (its definition, owner and every transition it had, in order), every
# event (the same numbers and types, and the numbers still gapless after the new
# ones), and every token (each still authenticates with its role; the agent's
# still registers a worker). The pre-migration backup (outpost-pre-vN-*.db, in
# STATE_DIR/backups) must be there, whole, at the schema it left.
. "$(dirname "$0")/lib.sh"

FIXTURES=$top_srcdir/tests/fixtures
LATEST=$("$OUTPOSTD" --check --state-dir "$WORK/none" | sed -n 's/^outpostd: .*schema version \([0-9]*\)$/\1/p')
[ -n "$LATEST" ] || fail "outpostd --check did not say its schema version"
n_fixtures=0

for db in "$FIXTURES"/schema-v*.db; do
	[ -e "$db" ] || fail "no fixtures in $FIXTURES"
	v=${db##*/schema-v}
	v=${v%.db}
	man=$FIXTURES/schema-v$v.json
	[ -f "$man" ] || fail "$db has no $man"
	dir=$WORK/v$v
	mkdir -p "$dir"
	chmod 700 "$dir"
	cp "$db" "$dir/outpost.db"
	jq -r '.tokens[] | select(.name == "admin") | .secret' "$man" >"$dir/admin.token"
	chmod 600 "$dir/admin.token"

	# --check first: the migrations that will run, one line each, and nothing else changes.
	out=$("$OUTPOSTD" --check --state-dir "$dir")
	assert_eq 0 "$?" "outpostd --check's status on schema v$v"
	assert_contains "schema: version $v; this outpostd" "$out" "--check on schema v$v"
	for ((m = v + 1; m <= LATEST; m++)); do
		assert_match "^  $m: " "$(grep "^  $m: " <<<"$out")" "--check lists migration $m for v$v"
	done
	cmp -s "$db" "$dir/outpost.db" || fail "outpostd --check changed the v$v database"

	start_server --state-dir "$dir"
	migrated=$(grep -c '"store.migrated"' "$SERVER_LOG")
	assert_eq "$((LATEST - v))" "$migrated" "migrations run on schema v$v (store.migrated lines)"

	# Every token authenticates, with its role.
	while IFS=$'\t' read -r name role secret; do
		if [ "$role" = agent ]; then
			TOKEN=$secret api POST /api/v1/agent/register \
				"{\"name\":\"up-v$v\",\"capacity\":{\"cpu\":1,\"memory_mb\":64,\"slots\":1}}"
			assert_match '^20[01]$' "$STATUS" "v$v's agent token $name registers a worker ($BODY)"
		else
			TOKEN=$secret api GET /api/v1/session
			assert_status 200 "v$v's token $name"
			assert_eq "$role" "$(jbody .role)" "the role of v$v's token $name"
		fi
	done < <(jq -r '.tokens[] | [.name, .role, .secret] | @tsv' "$man")
	TOKEN=$SERVER_TOKEN

	# Every instance, with its history as it was (and, past it, what this start added).
	count=$(jq '.instances | length' "$man")
	[ "$count" -gt 0 ] || fail "the v$v fixture has no instances"
	for ((i = 0; i < count; i++)); do
		want=$(jq -c ".instances[$i]" "$man")
		id=$(jq -r .id <<<"$want")
		api_ok 200 GET "/api/v1/instances/$id"
		assert_eq "$(jq -r '[.definition, .definition_version, .owner] | @tsv' <<<"$want")" \
			"$(jbody '[.definition, .definition_version, .owner] | @tsv')" "v$v's instance $id"
		api_ok 200 GET "/api/v1/instances/$id/transitions"
		had=$(jq -c '.transitions' <<<"$want")
		now=$(jbody -c "[.items[] | ((.from // \"\") + \">\" + .to)] | .[0:$(jq length <<<"$had")]")
		assert_eq "$had" "$now" "v$v's instance $id's transitions"
	done
	for w in $(jq -r '.workers[]' "$man"); do
		api_ok 200 GET "/api/v1/workers?limit=500"
		assert_eq 1 "$(jbody "[.items[] | select(.name == \"$w\")] | length")" "v$v's worker $w"
	done

	# Every event: the same numbers and types, and no gap after them.
	api_ok 200 "GET" "/api/v1/events?since=0&limit=1000"
	events=$(jbody -c '[.items[] | [.seq, .type]]')
	while [ "$(jbody .last_seq)" != "$(jq '.[-1][0] // 0' <<<"$events")" ]; do
		api_ok 200 GET "/api/v1/events?since=$(jq '.[-1][0]' <<<"$events")&limit=1000"
		events=$(jq -c --argjson more "$(jbody -c '[.items[] | [.seq, .type]]')" '. + $more' <<<"$events")
	done
	old=$(jq '.events | length' "$man")
	assert_eq "$(jq -c .events "$man")" "$(jq -c ".[0:$old]" <<<"$events")" "v$v's events"
	assert_eq "$(jq '[range(1; length + 1)]' <<<"$events")" "$(jq '[.[][0]]' <<<"$events")" \
		"event numbers from 1, gapless, after the upgrade of v$v"
	stop_server
	assert_eq 0 "$EXIT_RC" "outpostd's exit after the upgrade of v$v"

	out=$("$OUTPOSTD" --check --state-dir "$dir")
	assert_contains "schema: version $LATEST, this outpostd's" "$out" "the schema after v$v's upgrade"

	# The pre-migration backup: the database as it was, under the schema it left.
	backup=$(find "$dir" -name "outpost-pre-v$v-*.db" 2>/dev/null | head -n 1)
	[ -n "$backup" ] || fail "schema v$v: no pre-migration backup outpost-pre-v$v-*.db"
	mkdir -p "$WORK/pre$v"
	cp "$backup" "$WORK/pre$v/outpost.db"
	out=$("$OUTPOSTD" --check --state-dir "$WORK/pre$v")
	assert_contains "schema: version $v;" "$out" "the pre-migration backup of v$v"
	n_fixtures=$((n_fixtures + 1))
	note "schema v$v: $count instances, $old events, $(jq '.tokens | length' "$man") tokens kept"
done
[ "$n_fixtures" -ge 7 ] || fail "only $n_fixtures fixtures (schema v2 to v8 are expected)"
echo "PASS: $TEST_NAME ($n_fixtures earlier schemas)"
