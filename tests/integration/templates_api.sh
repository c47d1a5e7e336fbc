#!/bin/sh
# Worker templates through the API, the config directory and the CLI:
#  a. the normal form: what GET answers for a minimal template (every default
#     filled in, durations written as durations), its Location, and desired
#     starting at min;
#  b. bad input names the field (and the code) and changes nothing: the
#     template and the listing read the same after each refusal;
#  c. roles: a viewer reads, an operator also scales, only an admin PUTs;
#     scaling checks its count (within [min, max]) and its deadline;
#  d. PUT twice: 201 then 200, listed once with the new values, created_at
#     kept and updated_at moved, desired kept within the new bounds, one
#     template.created and one template.updated event;
#  e. templates from files: listed with source "config", PUT on them 409;
#     a bad file at start makes outpostd exit 2 naming the file and the
#     field, having put none of the good ones; SIGHUP loads a new file, reads an unchanged one as unchanged,
#     and skips a bad one (logged with its file and field) keeping the others;
#  f. the CLI: template apply -f, list, get, scale; a bad file is refused
#     naming the field, a file without a name or not JSON is a usage error.
# Every template here uses the static provisioner but unitok (systemd, from its
# file, never scaled): nothing is started.
. "$(dirname "$0")/lib.sh"

[ -x "$OUTPOST" ] || fail "$OUTPOST is not built"

TDIR=$WORK/templates
mkdir -p "$TDIR"
cat >"$TDIR/filed.json" <<'EOF'
{"description": "from a file", "capacity": {"cpu": 4, "memory_mb": 4096, "slots": 2},
 "labels": {"zone": "z9"}, "max": 2, "autoscale": false, "idle_timeout": "1h",
 "provisioner": {"type": "static"}}
EOF
cat >"$TDIR/unitok.json" <<'EOF'
{"capacity": {"cpu": 2, "memory_mb": 1024, "slots": 2}, "max": 3, "autoscale": false,
 "provisioner": {"type": "systemd", "unit": "lab-agent@"}}
EOF
start_server

CAP='"capacity":{"cpu":2,"memory_mb":1024,"slots":2}'
STATIC='"provisioner":{"type":"static"}'

# The body of one template now (sorted keys, compact), or "404"; without its workers'
# counts, which the scaler moves by itself as it provisions and removes them.
tmpl_now() {	# NAME
	TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$1"
	if [ "$STATUS" = 200 ]; then
		jbody -cS 'del(.workers)'
	else
		echo "$STATUS"
	fi
}

# The whole listing now (sorted keys, compact).
listing_now() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates
	jbody -cS .
}

# ============================================================================
# a. The normal form of a minimal template.
# ============================================================================
api PUT /api/v1/templates/base "{$CAP,\"max\":3,$STATIC}"
assert_status 201 "PUT base (new)"
assert_eq /api/v1/templates/base "$(header Location)" "Location of a new template"
want_base='{"autoscale":true,"capacity":{"cpu":2,"memory_mb":1024,"slots":2},"cooldown":"5m",'\
'"description":"","desired":0,"idle_timeout":"10m","labels":{},"max":3,"min":0,"name":"base",'\
'"provision_timeout":"2m","provisioner":{"type":"static"},"retry_backoff":"10s","source":"api",'\
'"workers":{"by_state":{},"live":0}}'
assert_eq "$want_base" "$(jbody -cS 'del(.created_at, .updated_at)')" "the normal form PUT answers"
assert_match '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$(jbody -r .created_at)" "created_at of base"
assert_eq "$(jbody -r .created_at)" "$(jbody -r .updated_at)" "updated_at of a new template"
base_put=$(jbody -cS 'del(.workers)')
assert_eq "$base_put" "$(tmpl_now base)" "GET base: the same as PUT answered"

# Durations are written back as durations; a provisioner without a type is local;
# a description, labels and a min of their own are kept.
api_ok 201 PUT /api/v1/templates/norm "{\"name\":\"norm\",\"description\":\"d\",$CAP,\
\"labels\":{\"zone\":\"a\",\"gpu\":\"no\"},\"min\":0,\"max\":4,\"cooldown\":\"90s\",\
\"idle_timeout\":\"3600s\",\"provision_timeout\":\"1500ms\",\"retry_backoff\":\"100ms\",\
\"autoscale\":false,\"provisioner\":{}}"
assert_eq '{"autoscale":false,"cooldown":"1m30s","description":"d","desired":0,"idle_timeout":"1h",'\
'"labels":{"gpu":"no","zone":"a"},"max":4,"min":0,"provision_timeout":"1s500ms",'\
'"provisioner":{"type":"local"},"retry_backoff":"100ms"}' \
	"$(jbody -cS '{autoscale, cooldown, description, desired, idle_timeout, labels, max, min,
		provision_timeout, provisioner, retry_backoff}')" "the normal form of norm"
# norm is local: with desired 0 and autoscale off it starts nothing; static from now on anyway.
api_ok 200 PUT /api/v1/templates/norm "{$CAP,\"max\":4,\"autoscale\":false,$STATIC}"
note "a: normal form ok"

# ============================================================================
# b. Bad input: 400 naming the field, and nothing changes.
# ============================================================================
list_before=$(listing_now)

# bad_put NAME BODY CODE FIELD WHAT [STATUS]: PUT NAME refused with STATUS (400)
# CODE FIELD; base, NAME and the listing read as before.
bad_put() {
	local name=$1 body=$2 code=$3 field=$4 what=$5 status=${6:-400} before
	before=$(tmpl_now "$name")
	if [ -n "$body" ]; then
		api PUT "/api/v1/templates/$name" "$body"
	else
		api PUT "/api/v1/templates/$name"
	fi
	assert_error "$status" "$code" "$field" "$what"
	assert_eq "$before" "$(tmpl_now "$name")" "$what: GET $name afterwards"
	assert_eq "$base_put" "$(tmpl_now base)" "$what: GET base afterwards"
	assert_eq "$list_before" "$(listing_now)" "$what: the listing afterwards"
}

bad_put base "{\"max\":3,$STATIC}" invalid_argument capacity "no capacity"
bad_put base '{"capacity":{"cpu":0,"memory_mb":1024,"slots":2},"max":3}' invalid_argument \
	capacity.cpu "capacity.cpu 0"
bad_put base '{"capacity":{"cpu":"2","memory_mb":1024,"slots":2},"max":3}' invalid_argument \
	capacity.cpu "capacity.cpu a string"
assert_contains "integer" "$(jbody .error.message)" "the message for capacity.cpu a string"
bad_put base '{"capacity":{"cpu":2,"slots":2},"max":3}' invalid_argument capacity.memory_mb \
	"no capacity.memory_mb"
bad_put base '{"capacity":{"cpu":2,"memory_mb":1024,"slots":0},"max":3}' invalid_argument \
	capacity.slots "capacity.slots 0"
bad_put base '{"capacity":{"cpu":2,"memory_mb":1024,"slots":2,"gpu":1},"max":3}' unknown_field \
	capacity.gpu "an unknown field in capacity"
bad_put base "{$CAP,$STATIC}" invalid_argument max "no max"
bad_put base "{$CAP,\"min\":4,\"max\":3}" invalid_argument min "min above max"
assert_eq "min (4) must not be above max (3)" "$(jbody -r .error.message)" "the message for min > max"
bad_put base "{$CAP,\"max\":1001}" invalid_argument max "max 1001"
assert_contains "1000" "$(jbody -r .error.message)" "the message for max over 1000"
bad_put base "{$CAP,\"max\":-1}" invalid_argument max "max -1"
bad_put base "{$CAP,\"max\":3,\"min\":\"1\"}" invalid_argument min "min a string"
bad_put base "{$CAP,\"max\":3,\"cooldown\":\"5 minutes\"}" invalid_argument cooldown \
	"a bad duration for cooldown"
bad_put base "{$CAP,\"max\":3,\"cooldown\":300}" invalid_argument cooldown "cooldown a number"
bad_put base "{$CAP,\"max\":3,\"idle_timeout\":\"500ms\"}" invalid_argument idle_timeout \
	"idle_timeout below 1s"
bad_put base "{$CAP,\"max\":3,\"retry_backoff\":\"2h\"}" invalid_argument retry_backoff \
	"retry_backoff over 1h"
bad_put base "{$CAP,\"max\":3,\"autoscale\":\"yes\"}" invalid_argument autoscale "autoscale a string"
bad_put base "{$CAP,\"max\":3,\"labels\":{\"zone\":1}}" invalid_argument labels.zone \
	"a label that is not a string"
bad_put base "{$CAP,\"max\":3,\"colour\":\"blue\"}" unknown_field colour "an unknown top-level field"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"docker\"}}" invalid_argument \
	provisioner.type "an unknown provisioner type"
bad_put base "{$CAP,\"max\":3,\"provisioner\":\"static\"}" invalid_argument provisioner \
	"a provisioner that is not an object"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"static\",\"unit\":\"x@\"}}" unknown_field \
	provisioner.unit "a field of another provisioner's"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"command\",\"deprovision\":[\"/bin/true\"]}}" \
	invalid_argument provisioner.provision "a command provisioner without provision"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"command\",\"provision\":[\"/bin/true\"]}}" \
	invalid_argument provisioner.deprovision "a command provisioner without deprovision"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"command\",\"provision\":[],\
\"deprovision\":[\"/bin/true\"]}}" invalid_argument provisioner.provision "an empty provision argv"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"command\",\"provision\":[\"/bin/true\",\"\"],\
\"deprovision\":[\"/bin/true\"]}}" invalid_argument "provisioner.provision[1]" "an empty argument"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"systemd\",\"unit\":\"agent\"}}" \
	invalid_argument provisioner.unit "a systemd unit without @"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"systemd\",\"unit\":\"a/b@\"}}" \
	invalid_argument provisioner.unit "a systemd unit with a /"
bad_put base "{$CAP,\"max\":3,\"provisioner\":{\"type\":\"systemd\",\"unit\":\"@\"}}" \
	invalid_argument provisioner.unit "a systemd unit that is only @"
# A unit prefix of its own: from a file, taken as given; through the API, refused
# (it names a unit of the server's host: api_programs.sh has the rest).
api GET /api/v1/templates/unitok
assert_status 200 "a systemd template with its own unit, from its file"
assert_eq lab-agent@ "$(jbody -r .provisioner.unit)" "provisioner.unit as given"
bad_put unitapi "{$CAP,\"max\":3,\"autoscale\":false,\"provisioner\":{\"type\":\"systemd\",\
\"unit\":\"lab-agent@\"}}" forbidden provisioner.unit "a systemd unit of its own through the API" 403
list_before=$(listing_now)
bad_put base "{\"name\":\"other\",$CAP,\"max\":3}" invalid_argument name \
	"a name in the body that is not the URL's"
assert_eq "name other in the body is not the template's name base" "$(jbody -r .error.message)" \
	"the message for a name that disagrees"
bad_put base "{\"name\":7,$CAP,\"max\":3}" invalid_argument name "a name that is not a string"
bad_put base 'nope' invalid_argument "" "a body that is not JSON"
assert_contains "malformed JSON" "$(jbody -r .error.message)" "the message for a body not JSON"
bad_put base '[1,2]' invalid_argument "" "a body that is an array"
bad_put base '{"max":3,"max":4}' invalid_argument "" "a body with a key twice"
bad_put base "" invalid_argument "" "no body"
# Names in the URL that are not names: nothing is made under them.
long=$(printf 'x%.0s' $(seq 48))
for n in Big 123 -x .x a%20b "$long"; do
	bad_put "$n" "{$CAP,\"max\":3,$STATIC}" invalid_argument name "the URL name '$n'"
	assert_eq 404 "$(tmpl_now "$n")" "GET the template '$n' after its refused PUT"
done
bad_put new1 "{$CAP,$STATIC}" invalid_argument max "a new template without max"
assert_eq 404 "$(tmpl_now new1)" "GET new1 after its refused PUT"
note "b: bad input ok"

# ============================================================================
# c. Roles.
# ============================================================================
create_token viewer viewer
viewer=$NEW_TOKEN
create_token operator operator
operator=$NEW_TOKEN

TOKEN='' api GET /api/v1/templates
assert_status 401 "GET /api/v1/templates without a token"
for who in viewer operator; do
	tok=${!who}
	TOKEN=$tok api GET /api/v1/templates
	assert_status 200 "$who lists templates"
	assert_eq "base filed norm unitok" "$(jbody -r '[.items[].name] | join(" ")')" "what $who lists"
	TOKEN=$tok api GET /api/v1/templates/base
	assert_status 200 "$who gets base"
	assert_eq "$base_put" "$(jbody -cS 'del(.workers)')" "base as $who sees it"
	TOKEN=$tok api PUT /api/v1/templates/base "{$CAP,\"max\":5,$STATIC}"
	assert_error 403 forbidden "" "$who PUTs base"
	assert_contains admin "$(jbody -r .error.message)" "the 403 of $who's PUT names the role"
	TOKEN=$tok api PUT /api/v1/templates/byrole "{$CAP,\"max\":5,$STATIC}"
	assert_error 403 forbidden "" "$who PUTs a new template"
	assert_eq 404 "$(tmpl_now byrole)" "the template $who tried to make"
done
assert_eq "$base_put" "$(tmpl_now base)" "base after the refused PUTs"
TOKEN=$viewer api POST /api/v1/templates/base/scale '{"count":1}'
assert_error 403 forbidden "" "viewer scales base"
assert_eq 0 "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/base; jbody .desired)" \
	"desired of base after the viewer's scale"

# The operator scales; the count and deadline are checked.
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":4}'
assert_error 400 invalid_argument count "operator scales base above its max"
assert_eq "count must be from the template's min 0 to its max 3" "$(jbody -r .error.message)" \
	"the message of a count above max"
TOKEN=$operator api POST /api/v1/templates/base/scale '{}'
assert_error 400 invalid_argument count "a scale without count"
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":"1"}'
assert_error 400 invalid_argument count "a scale with count a string"
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":1,"deadline":"soon"}'
assert_error 400 invalid_argument deadline "a scale with a bad deadline"
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":1,"by":"me"}'
assert_error 400 unknown_field by "a scale with an unknown field"
TOKEN=$operator api POST /api/v1/templates/base/scale
assert_error 400 invalid_argument "" "a scale without a body"
TOKEN=$operator api POST /api/v1/templates/nosuch/scale '{"count":1}'
assert_error 404 not_found name "scale an unknown template"
assert_eq 0 "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/base; jbody .desired)" \
	"desired of base after the refused scales"
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":1,"deadline":"30m"}'
assert_status 200 "operator scales base to 1"
assert_eq 1 "$(jbody .desired)" "desired of base after the operator's scale"
assert_eq base "$(jbody -r .name)" "the scale answers with the template"
# Static: the worker waits for an agent that never comes (provision_timeout is 2m).
_worker_state_is() {	# NAME STATE
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody -r .state)" = "$2" ]
}
wait_for 10 "base-1 provisioning (waiting for its agent)" _worker_state_is base-1 provisioning
assert_eq base "$(jbody -r .template)" "template of base-1"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=scaling.action&limit=100"
assert_eq "scale 0 1 operator" \
	"$(jbody -r '[.items[] | select(.data.action == "scale" and .data.template == "base")][0] |
		"\(.data.action) \(.data.from) \(.data.to) \(.actor)"')" "the scale event of base"
TOKEN=$operator api POST /api/v1/templates/base/scale '{"count":0}'
assert_status 200 "operator scales base back to 0"
# The admin may do all of it.
TOKEN=$SERVER_TOKEN api_ok 200 PUT /api/v1/templates/base "{$CAP,\"max\":3,$STATIC}"
assert_eq api "$(jbody -r .source)" "source of base after the admin's PUT"
note "c: roles ok"

# GET of an unknown template.
TOKEN=$viewer api GET /api/v1/templates/nosuch
assert_error 404 not_found name "GET an unknown template"
assert_contains nosuch "$(jbody -r .error.message)" "the 404 names the template"

# ============================================================================
# d. PUT twice: created, then replaced.
# ============================================================================
api PUT /api/v1/templates/twice "{\"description\":\"first\",$CAP,\"max\":3,$STATIC}"
assert_status 201 "PUT twice (new)"
created=$(jbody -r .created_at)
assert_eq 0 "$(jbody .desired)" "desired of twice (min 0)"
# A clock that moves between the two (its times have milliseconds).
_clock_past() { [ "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" \> "$1" ]; }
wait_for 5 "the clock to pass $created" _clock_past "$created"
api PUT /api/v1/templates/twice "{\"description\":\"second\",\"capacity\":{\"cpu\":8,\"memory_mb\":512,\
\"slots\":1},\"labels\":{\"k\":\"v\"},\"min\":1,\"max\":2,\"cooldown\":\"1m\",\"autoscale\":false,$STATIC}"
assert_status 200 "PUT twice again (replaced)"
assert_eq "$created" "$(jbody -r .created_at)" "created_at of twice after it was replaced"
updated=$(jbody -r .updated_at)
[[ $updated > $created ]] || fail "updated_at of twice ($updated) did not move past created_at ($created)"
assert_eq 1 "$(jbody .desired)" "desired of twice raised to its new min"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates
assert_eq 1 "$(jbody '[.items[] | select(.name == "twice")] | length')" "twice is listed once"
assert_eq '{"autoscale":false,"capacity":{"cpu":8,"memory_mb":512,"slots":1},"cooldown":"1m",'\
'"created_at":"'"$created"'","description":"second","labels":{"k":"v"},"max":2,"min":1}' \
	"$(jbody -cS '.items[] | select(.name == "twice") |
		{autoscale, capacity, cooldown, created_at, description, labels, max, min}')" \
	"twice as listed: the new values"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=template.created,template.updated&limit=100"
assert_eq "template.created:first template.updated:second" \
	"$(jbody -r '[.items[] | select(.data.template.name == "twice") |
		"\(.type):\(.data.template.description)"] | join(" ")')" "the events of twice"
note "d: replace ok"

# ============================================================================
# e. Templates from files.
# ============================================================================
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/filed
assert_eq config "$(jbody -r .source)" "source of a template from a file"
assert_eq '{"autoscale":false,"capacity":{"cpu":4,"memory_mb":4096,"slots":2},"cooldown":"5m",'\
'"description":"from a file","desired":0,"idle_timeout":"1h","labels":{"zone":"z9"},"max":2,'\
'"min":0,"name":"filed","provision_timeout":"2m","provisioner":{"type":"static"},'\
'"retry_backoff":"10s","source":"config","workers":{"by_state":{},"live":0}}' \
	"$(jbody -cS 'del(.created_at, .updated_at)')" "filed: its file in normal form, named after the file"
filed_now=$(jbody -cS 'del(.workers)')
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/filed "{$CAP,\"max\":3,$STATIC}"
assert_error 409 conflict name "PUT on a template from a file"
assert_contains "config directory" "$(jbody -r .error.message)" "the 409 says where to change it"
assert_eq "$filed_now" "$(tmpl_now filed)" "filed after the refused PUT"

# A bad file at start: outpostd exits 2 naming the file and the field.
# start_bad DIR: runs outpostd as start_server does, on DIR; sets EXIT_RC, BAD_ERR.
nbad=0
start_bad() {
	local pid
	nbad=$((nbad + 1))
	(
		_ws_close_fds_but
		exec "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/state-bad.$nbad" \
			--log-format json --template-dir "$1"
	) >"$WORK/bad.$nbad.out" 2>"$WORK/bad.$nbad.log" &
	pid=$!
	track_pid "$pid"
	wait_exit "$pid" 15
	BAD_ERR=$(cat "$WORK/bad.$nbad.out" "$WORK/bad.$nbad.log")
	if grep -q '"outpostd.listening"' "$WORK/bad.$nbad.out" "$WORK/bad.$nbad.log"; then
		fail "outpostd listened with a bad template in $1"
	fi
}
mkdir -p "$WORK/bad1" "$WORK/bad2"
for f in fine1 fine2 fine3; do
	cp "$TDIR/filed.json" "$WORK/bad1/$f.json"
done
cat >"$WORK/bad1/broken.json" <<'EOF'
{"capacity": {"cpu": 1, "memory_mb": 512, "slots": 1}, "max": 1001}
EOF
start_bad "$WORK/bad1"
assert_eq 2 "$EXIT_RC" "exit status of outpostd with a bad template file"
line=$(printf '%s\n' "$BAD_ERR" | grep '^outpostd: template ')
assert_match "^outpostd: template $WORK/bad1/broken.json: max: max must be from 0 to 1000" "$line" \
	"the line naming the bad file and its field"
# ... and it put none of the good ones (every file is checked before any is put).
main=("$SERVER_URL" "$SERVER_PID" "$SERVER_DIR" "$SERVER_LOG" "$SERVER_TOKEN")
mkdir -p "$WORK/empty"
start_server --state-dir "$WORK/state-bad.1" --template-dir "$WORK/empty"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates
assert_eq "" "$(jbody -r '[.items[].name] | join(" ")')" "the templates a refused start left"
stop_server
SERVER_URL=${main[0]} SERVER_PID=${main[1]} SERVER_DIR=${main[2]} SERVER_LOG=${main[3]}
SERVER_TOKEN=${main[4]} TOKEN=${main[4]}
printf '{"capacity": {"cpu": 1,\n "max": }\n' >"$WORK/bad2/notjson.json"
start_bad "$WORK/bad2"
assert_eq 2 "$EXIT_RC" "exit status of outpostd with a template file that is not JSON"
assert_match "^outpostd: template $WORK/bad2/notjson.json: line 2: " \
	"$(printf '%s\n' "$BAD_ERR" | grep '^outpostd: template ')" "the line naming the file and the line"

# SIGHUP: a new file loads; an unchanged one is not touched.
reloads() { grep -c '"config.reloaded"' "$SERVER_LOG"; }
hup() {	# sends SIGHUP and waits for the reload to be logged
	local n
	n=$(reloads)
	kill -HUP "$SERVER_PID"
	wait_for 10 "the reload after SIGHUP" _reloaded_past "$n"
}
_reloaded_past() { [ "$(reloads)" -gt "$1" ]; }
cat >"$TDIR/added.json" <<'EOF'
{"name": "added", "description": "added later", "capacity": {"cpu": 1, "memory_mb": 256, "slots": 1},
 "max": 5, "provisioner": {"type": "static"}}
EOF
assert_eq 404 "$(tmpl_now added)" "added before SIGHUP"
hup
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/added
assert_eq "config added later 5" "$(jbody -r '"\(.source) \(.description) \(.max)"')" \
	"added after SIGHUP"
assert_eq "$filed_now" "$(tmpl_now filed)" "filed after SIGHUP (its file did not change)"
added_now=$(tmpl_now added)

# A bad file added before SIGHUP is logged and skipped; the others load.
cat >"$TDIR/broken.json" <<'EOF'
{"capacity": {"cpu": 1, "memory_mb": 256, "slots": 0}, "max": 5, "provisioner": {"type": "static"}}
EOF
sed -i 's/added later/added, then changed/' "$TDIR/added.json"
hup
_load_logged() {
	grep '"template.load"' "$SERVER_LOG" | jq -e --arg f "$TDIR/broken.json" \
		'select(.file == $f and .field == "capacity.slots")' >/dev/null
}
_load_logged || fail "no template.load line naming $TDIR/broken.json and capacity.slots in the log: \
$(grep '"template.load"' "$SERVER_LOG")"
assert_eq 404 "$(tmpl_now broken)" "the bad file's template after SIGHUP"
assert_eq "$filed_now" "$(tmpl_now filed)" "filed after a SIGHUP with a bad file"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/added
assert_eq "config added, then changed" "$(jbody -r '"\(.source) \(.description)"')" \
	"added, changed in its file, after a SIGHUP with a bad file"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates
assert_eq "added base filed norm twice unitok" "$(jbody -r '[.items[].name] | join(" ")')" \
	"the templates after a SIGHUP with a bad file"
kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd died on a SIGHUP with a bad template file"

# A file removed: its template is kept, and is the API's from then on.
rm "$TDIR/added.json"
hup
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/added
assert_eq "api added, then changed" "$(jbody -r '"\(.source) \(.description)"')" \
	"added, after its file was removed"
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/added \
	'{"capacity": {"cpu": 1, "memory_mb": 256, "slots": 1}, "max": 6, "provisioner": {"type": "static"}}'
assert_status 200 "PUT on a template whose file was removed"
assert_eq "api 6" "$(jbody -r '"\(.source) \(.max)"')" "added, changed through the API"
assert_eq "$filed_now" "$(tmpl_now filed)" "filed after another file was removed"
note "e: template files ok"

# ============================================================================
# f. The CLI.
# ============================================================================
cli_as_admin

cat >"$WORK/viacli.json" <<'EOF'
{"name": "viacli", "description": "made by the CLI",
 "capacity": {"cpu": 3, "memory_mb": 3072, "slots": 3}, "labels": {"os": "linux"},
 "max": 4, "autoscale": false, "provisioner": {"type": "static"}}
EOF
cli 0 template apply -f "$WORK/viacli.json"
assert_eq "template viacli created" "$OUT" "template apply (new)"
cli 0 template apply -f - <"$WORK/viacli.json"
assert_eq "template viacli updated" "$OUT" "template apply from stdin (again)"
cli 0 template list
assert_match 'viacli +static +0 +0 +0 +4 ' "$OUT" "template list: the row of viacli"
assert_match 'filed +static ' "$OUT" "template list: the row of filed"
assert_eq NAME "$(printf '%s\n' "$OUT" | head -n 1 | awk '{print $1}')" "template list: a header"
cli 0 template list -o json
assert_eq "made by the CLI" \
	"$(printf %s "$OUT" | jq -r '.items[] | select(.name == "viacli") | .description')" \
	"template list -o json"
cli 0 template get viacli
assert_contains "made by the CLI" "$OUT" "template get shows the description"
assert_match 'source +api' "$OUT" "template get shows the source"
cli 0 template get viacli -o json
assert_eq '{"capacity":{"cpu":3,"memory_mb":3072,"slots":3},"labels":{"os":"linux"},"source":"api"}' \
	"$(printf %s "$OUT" | jq -cS '{capacity, labels, source}')" "template get -o json"
cli 0 template scale viacli 2
assert_eq "template viacli: desired 2 (was 0)" "$OUT" "template scale"
assert_eq 2 "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/viacli; jbody .desired)" \
	"desired of viacli after template scale"
cli 0 template scale viacli 2 --deadline 10m
assert_eq "template viacli: desired 2 (unchanged)" "$OUT" "template scale to the same count"
cli 0 template scale viacli 0 -o json
assert_eq 0 "$(printf %s "$OUT" | jq .desired)" "template scale -o json"
cli 1 template scale viacli 9
assert_contains "(field: count)" "$ERR" "a scale above max names count"
cli 2 template scale viacli many
assert_match "count must be .*, not 'many'" "$ERR" "a bad count is named"
cli 2 template scale viacli 1 --deadline someday
assert_contains "--deadline" "$ERR" "a bad --deadline is named"
cli 1 template get nosuch
assert_contains "(field: name)" "$ERR" "template get of an unknown template"

# Bad files: refused naming the field, nothing changed.
viacli_now=$(tmpl_now viacli)
cat >"$WORK/cli-bad.json" <<'EOF'
{"name": "viacli", "capacity": {"cpu": 0, "memory_mb": 3072, "slots": 3}, "max": 4,
 "provisioner": {"type": "static"}}
EOF
cli 1 template apply -f "$WORK/cli-bad.json"
assert_contains "(field: capacity.cpu)" "$ERR" "template apply of a bad file names the field"
assert_contains "capacity.cpu must be from 1" "$ERR" "... and says what is wrong"
assert_eq "$viacli_now" "$(tmpl_now viacli)" "viacli after a refused apply"
printf '{"name": "viacli", "capacity": {"cpu": 1, "memory_mb": 1, "slots": 1}, "max": 1, "zone": 1}' \
	>"$WORK/cli-bad2.json"
cli 1 template apply -f "$WORK/cli-bad2.json"
assert_contains "(field: zone)" "$ERR" "template apply of a file with an unknown field"
printf '{"capacity": {"cpu": 1, "memory_mb": 1, "slots": 1}, "max": 1}' >"$WORK/noname.json"
cli 2 template apply -f "$WORK/noname.json"
assert_contains "'name'" "$ERR" "template apply of a file without a name"
printf '{"name": "x",\n "max": }' >"$WORK/cli-notjson.json"
cli 2 template apply -f "$WORK/cli-notjson.json"
assert_contains "cli-notjson.json:2:" "$ERR" "template apply of a file that is not JSON names the line"
cli 2 template apply
assert_contains "-f FILE" "$ERR" "template apply without -f"
printf '{"name": "filed", "capacity": {"cpu": 1, "memory_mb": 1, "slots": 1}, "max": 1}' \
	>"$WORK/cli-filed.json"
cli 1 template apply -f "$WORK/cli-filed.json"
assert_contains "config directory" "$ERR" "template apply on a template from a file"
assert_eq "$filed_now" "$(tmpl_now filed)" "filed after the CLI's refused apply"
cli 1 --token "$viewer" template apply -f "$WORK/viacli.json"
assert_contains admin "$ERR" "a viewer's template apply"
cli 0 --token "$operator" template scale viacli 1
assert_eq "template viacli: desired 1 (was 0)" "$OUT" "an operator's template scale"
assert_eq 404 "$(tmpl_now x)" "no template x from the files refused"
note "f: CLI ok"

kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd died"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
