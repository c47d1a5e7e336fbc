#!/bin/sh
# The admin API is not a shell:
#  a. with api_program_provisioners off (the default), PUT of a template whose
#     provisioner names a program, a path or a unit of the server's host (a
#     command one whose provision would make a marker at once, a local one with
#     its agent, a systemd one with its systemctl, unit or env_dir) is 403
#     naming the field; nothing is stored and nothing runs (a scaler tick
#     later the marker is not there); `outpost template apply` says the same
#     and exits 1. A local template without agent and a static one are taken.
#  b. a template whose file is gone keeps its programs and is the API's: a
#     PUT that keeps them is taken, one that changes them is refused.
#  d. with api_program_provisioners on (OUTPOST_API_PROGRAM_PROVISIONERS=true)
#     the same command template is taken and its program runs.
. "$(dirname "$0")/lib.sh"

[ -x "$OUTPOST" ] || fail "$OUTPOST is not built"

mkdir -p "$WORK/templates" "$WORK/bin" "$WORK/etc"
start_server

CAP='"capacity":{"cpu":1,"memory_mb":64,"slots":1}'

_template_is() {	# NAME STATUS: GET /templates/NAME answers STATUS
	TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$1"
	[ "$STATUS" = "$2" ]
}

_exists() { [ -e "$1" ]; }

# A provision program that leaves a marker: proof that it ran.
cat >"$WORK/bin/mark" <<EOF
#!/bin/sh
echo "\$OUTPOST_WORKER" >>"$WORK/marker"
EOF
chmod +x "$WORK/bin/mark"

# refused NAME BODY FIELD WHAT: PUT NAME as the admin is 403 naming FIELD, and
# the template is not there afterwards.
refused() {
	TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$1" "$2"
	assert_error 403 forbidden "$3" "$4"
	assert_contains "template_dir" "$(jbody -r .error.message)" "the message of $4"
	assert_contains "api_program_provisioners" "$(jbody -r .error.message)" "the message of $4"
	_template_is "$1" 404 || fail "$4: GET /api/v1/templates/$1 answers $STATUS, not 404"
}

# ============================================================================
# a. The default: the API names no program.
# ============================================================================
CMD=$(jq -cn --arg p "$WORK/bin/mark" '{capacity: {cpu: 1, memory_mb: 64, slots: 1}, min: 1,
	max: 1, autoscale: false, provisioner: {type: "command", provision: [$p],
	deprovision: [$p]}}')
refused cmd "$CMD" provisioner.provision "a command provisioner through the API"
refused loc "{$CAP,\"max\":1,\"min\":1,\"provisioner\":{\"type\":\"local\",\
\"agent\":\"$WORK/bin/mark\"}}" provisioner.agent "a local provisioner with its agent"
refused sd1 "{$CAP,\"max\":1,\"provisioner\":{\"type\":\"systemd\",\
\"systemctl\":\"$WORK/bin/mark\"}}" provisioner.systemctl "a systemd provisioner's systemctl"
refused sd2 "{$CAP,\"max\":1,\"provisioner\":{\"type\":\"systemd\",\"unit\":\"getty@\"}}" \
	provisioner.unit "a systemd provisioner's unit"
refused sd3 "{$CAP,\"max\":1,\"provisioner\":{\"type\":\"systemd\",\"env_dir\":\"$WORK/etc\"}}" \
	provisioner.env_dir "a systemd provisioner's env_dir"
# A bad provisioner is still a 400 about what is wrong with it.
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/bad "{$CAP,\"max\":1,\"provisioner\":\
{\"type\":\"command\",\"provision\":[]}}"
assert_error 400 invalid_argument provisioner.provision "an empty provision argv"
# A scaler tick later, nothing ran (the command template had min 1).
scaler_marker
[ ! -e "$WORK/marker" ] || fail "a refused template's program ran: $(cat "$WORK/marker")"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=template.created&limit=100"
assert_eq "$MARK_TEMPLATE" "$(jbody -r '[.items[].data.template.name] | join(" ")')" \
	"the templates created (the marker's alone)"

# The CLI says the server's word and exits 1.
cli_as_admin
printf '%s\n' "$CMD" | jq '. + {name: "cmd"}' >"$WORK/cmd.json"
cli 1 template apply -f "$WORK/cmd.json"
assert_contains "provisioner.provision" "$OUT$ERR" "outpost template apply of a command template"
_template_is cmd 404 || fail "the CLI's refused template is there"

# What stays open to the API: local without a program, static.
api_ok 201 PUT /api/v1/templates/plain "{$CAP,\"max\":1,\"autoscale\":false,\
\"provisioner\":{\"type\":\"local\",\"heartbeat\":\"1s\"}}"
api_ok 201 PUT /api/v1/templates/byhand "{$CAP,\"max\":1,\"autoscale\":false,\
\"provisioner\":{\"type\":\"static\"}}"
note "a: the API names no program ok"

# ============================================================================
# b. A template whose file is gone keeps its programs; the API may not change them.
# ============================================================================
printf '%s\n' "$(jq -cn --arg p "$WORK/bin/mark" '{capacity: {cpu: 1, memory_mb: 64, slots: 1},
	max: 1, autoscale: false, provisioner: {type: "command", provision: [$p],
	deprovision: [$p]}}')" >"$WORK/templates/kept.json"
kill -HUP "$SERVER_PID"
wait_for 10 "the template kept read from its file" _template_is kept 200
assert_eq config "$(jbody -r .source)" "source of kept"
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/kept "{$CAP,\"max\":2}"
assert_error 409 conflict name "PUT on a template of the config directory"
rm "$WORK/templates/kept.json"
kill -HUP "$SERVER_PID"
_kept_is_api() { _template_is kept 200 && [ "$(jbody -r .source)" = api ]; }
wait_for 10 "kept to be the API's once its file is gone" _kept_is_api
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/kept "$(jq -cn --arg p "$WORK/bin/mark" '{
	capacity: {cpu: 1, memory_mb: 64, slots: 1}, max: 2, autoscale: false,
	provisioner: {type: "command", provision: [$p], deprovision: [$p]}}')"
assert_status 200 "a PUT of kept that keeps its programs"
assert_eq 2 "$(jbody .max)" "max of kept after its PUT"
before=$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/kept; jbody -cS 'del(.workers)')
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/kept "$(jq -cn --arg p "$WORK/bin/mark" '{
	capacity: {cpu: 1, memory_mb: 64, slots: 1}, max: 2, autoscale: false,
	provisioner: {type: "command", provision: [$p, "--other"], deprovision: [$p]}}')"
assert_error 403 forbidden provisioner.provision "a PUT of kept that changes its program"
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/kept "$(jq -cn --arg p "$WORK/bin/mark" '{
	capacity: {cpu: 1, memory_mb: 64, slots: 1}, max: 2, autoscale: false,
	provisioner: {type: "command", provision: [$p], deprovision: [$p], stop: [$p]}}')"
assert_error 403 forbidden provisioner.stop "a PUT of kept that adds a stop program"
assert_eq "$before" "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/kept; jbody -cS 'del(.workers)')" \
	"kept after the refused PUTs"
[ ! -e "$WORK/marker" ] || fail "a program ran: $(cat "$WORK/marker")"
note "b: a template whose file is gone ok"

# ============================================================================
# d. api_program_provisioners on: the API may name programs.
# ============================================================================
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
OUTPOST_API_PROGRAM_PROVISIONERS=true start_server --state-dir "$SERVER_DIR"
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/cmd "$CMD"
assert_status 201 "a command template through the API with api_program_provisioners on"
wait_for 15 "the provision program of cmd-1 to run" _exists "$WORK/marker"
assert_eq cmd-1 "$(head -n 1 "$WORK/marker")" "the marker of cmd-1"

note "d: api_program_provisioners on ok"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
