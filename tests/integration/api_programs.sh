#!/bin/sh
# The admin API is not a shell, and labels are data:
#  a. with api_program_provisioners off (the default), PUT of a template whose
#     provisioner names a program, a path or a unit of the server's host (a
#     command one whose provision would make a marker at once, a local one with
#     its agent, a systemd one with its systemctl, unit or env_dir) is 403
#     naming the field; nothing is stored and nothing runs (a scaler tick
#     later the marker is not there); `outpost template apply` says the same
#     and exits 1. A local template without agent and a static one are taken.
#  b. a template whose file is gone keeps its programs and is the API's: a
#     PUT that keeps them is taken, one that changes them is refused.
#  c. label values with a newline, a tab or a ',' are refused (400 naming
#     labels.KEY) by PUT /templates, POST /definitions and the agent's
#     registration (the real agent exits 1 saying so; nothing registered).
#  d. with api_program_provisioners on (OUTPOST_API_PROGRAM_PROVISIONERS=true)
#     the same command template is taken and its program runs; a systemd
#     template's env file is not changed by a refused label, and its next
#     worker's file holds no line the label tried to add.
#  e. the env file's own wall: an env_dir whose path holds a newline fails
#     the provision, saying so, and writes no env file.
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
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
# c. Labels are data: no control character, no ','.
# ============================================================================
before=$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/byhand; jbody -cS 'del(.workers)')
for v in 'a\nOUTPOST_SERVER=http://attacker.invalid' 'a\tb' 'a,x=y' 'a\rb' 'a\u001bb'; do
	TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/byhand "{$CAP,\"max\":1,\"autoscale\":false,\
\"labels\":{\"ok\":\"1\",\"zone\":\"$v\"},\"provisioner\":{\"type\":\"static\"}}"
	assert_error 400 invalid_argument labels.zone "PUT /templates with the label value $v"
	assert_eq "$before" "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/byhand;
		jbody -cS 'del(.workers)')" "byhand after the label value $v"
	TOKEN=$SERVER_TOKEN api POST /api/v1/definitions "{\"name\":\"labelled\",\
\"labels\":{\"zone\":\"$v\"},\"hooks\":{\"run\":[\"true\"]}}"
	assert_error 400 invalid_argument labels.zone "POST /definitions with the label value $v"
done
assert_contains "newline" "$(jbody -r .error.message)" "the message of a bad label value"
TOKEN=$SERVER_TOKEN api GET /api/v1/definitions/labelled
assert_status 404 "the definition with bad labels"
# Quotes, '$', '`' and '\' are data like any other.
api_ok 200 PUT /api/v1/templates/byhand "$(jq -cn '{capacity: {cpu: 1, memory_mb: 64, slots: 1},
	max: 1, autoscale: false, labels: {note: "say \"hi\" $HOME `id` \\ x=y"},
	provisioner: {type: "static"}}')"

# The agent's registration: the real agent, and the request by hand.
start_agent nl --capacity cpu=1,memory_mb=64,slots=1 \
	--labels "zone=a
OUTPOST_SERVER=http://attacker.invalid"
wait_exit "$AGENT_PID" 15
assert_eq 1 "$EXIT_RC" "exit status of an agent whose label holds a newline"
assert_contains "labels.zone" "$(cat "$WORK/agent.nl.log")" "what the agent says"
TOKEN=$SERVER_TOKEN api GET /api/v1/workers/nl
assert_status 404 "the worker of the refused registration"
for v in 'a\nb' 'a,b' 'a\u007fb'; do
	TOKEN=$(cat "$AGENT_TOKEN_FILE") api POST /api/v1/agent/register "{\"name\":\"nl2\",\
\"capacity\":{\"cpu\":1,\"memory_mb\":64,\"slots\":1},\"labels\":{\"zone\":\"$v\"}}"
	assert_error 400 invalid_argument labels.zone "register with the label value $v"
done
TOKEN=$SERVER_TOKEN api GET /api/v1/workers/nl2
assert_status 404 "the worker of the refused registrations"
note "c: labels ok"

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

# A systemd template (systemctl a stub that records and succeeds): its env file.
cat >"$WORK/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/systemctl.argv"
EOF
chmod +x "$WORK/bin/systemctl"
SD=$(jq -cn --arg s "$WORK/bin/systemctl" --arg e "$WORK/etc" '{capacity: {cpu: 1,
	memory_mb: 64, slots: 1}, labels: {site: "lab"}, min: 1, max: 2, autoscale: false,
	provision_timeout: "1h", provisioner: {type: "systemd", systemctl: $s, env_dir: $e}}')
api_ok 201 PUT /api/v1/templates/sd "$SD"
wait_for 15 "the env file of sd-1" _exists "$WORK/etc/agent-sd-1.env"
cp "$WORK/etc/agent-sd-1.env" "$WORK/sd-1.env.before"
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/sd "$(printf %s "$SD" |
	jq -c '.labels.site = "lab\nOUTPOST_SERVER=http://attacker.invalid"')"
assert_error 400 invalid_argument labels.site "a newline in a label of a systemd template"
cmp -s "$WORK/sd-1.env.before" "$WORK/etc/agent-sd-1.env" || fail "sd-1's env file changed"
TOKEN=$SERVER_TOKEN api_ok 200 POST /api/v1/templates/sd/scale '{"count": 2}'
wait_for 15 "the env file of sd-2" _exists "$WORK/etc/agent-sd-2.env"
assert_eq 1 "$(grep -c '^OUTPOST_SERVER=' "$WORK/etc/agent-sd-2.env")" \
	"OUTPOST_SERVER lines in sd-2's env file"
assert_eq 0 "$(grep -c 'attacker' "$WORK/etc/agent-sd-2.env")" "the attacker in sd-2's env file"
note "d: api_program_provisioners on ok"

# ============================================================================
# e. The env file's own wall: a value with a newline is never written.
# ============================================================================
evil="$WORK/etc/x
OUTPOST_SERVER=http:"
mkdir -p "$evil"
api_ok 201 PUT /api/v1/templates/ev "$(jq -cn --arg s "$WORK/bin/systemctl" --arg e "$evil" '{
	capacity: {cpu: 1, memory_mb: 64, slots: 1}, min: 1, max: 1, autoscale: false,
	retry_backoff: "1h", provisioner: {type: "systemd", systemctl: $s, env_dir: $e}}')"
_ev_failed() { [ "$(events_of provision_failed ev | jq length)" -gt 0 ]; }
wait_for 15 "ev-1's provision to fail" _ev_failed
assert_contains "control character" "$(events_of provision_failed ev | jq -r '.[0].data.reason')" \
	"the reason ev-1's provision failed"
[ ! -e "$evil/agent-ev-1.env" ] || fail "an env file was written under an env_dir with a newline"
grep -q "start outpost-agent@ev-1" "$WORK/systemctl.argv" && fail "systemctl ran for ev-1"
note "e: the env file's wall ok"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
