#!/usr/bin/env bash
# The bash completion of outpost (packaging/bash-completion/outpost), in a real
# bash with bash-completion loaded, against the outpost just built: commands,
# verbs, options, the names of states and roles (outpost's own, from
# src/common/state.c), comma lists, --name=value, file names, and nothing for
# what it does not know. Skipped without bash-completion.
. "$(dirname "$0")/lib.sh"

BASH_COMPLETION=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
if [ ! -r "$BASH_COMPLETION" ]; then
	echo "SKIP: $TEST_NAME needs bash-completion ($BASH_COMPLETION)" >&2
	exit 77
fi
COMPLETION=$top_srcdir/packaging/bash-completion/outpost
[ -x "$OUTPOST" ] || fail "$OUTPOST is not built"

# comp LINE: what completing at the end of LINE offers, sorted, one line. The words are
# split as bash splits them for completion (COMP_WORDBREAKS: "=" is a word of its own).
comp() {
	(cd "$WORK" && PATH=$(dirname "$OUTPOST"):$PATH bash --norc --noprofile -c '
		. "$1" || exit 1
		. "$2" || exit 1
		COMP_LINE=$3
		COMP_POINT=${#COMP_LINE}
		read -r -a COMP_WORDS <<<"${COMP_LINE//=/ = }"
		[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_outpost outpost "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$BASH_COMPLETION" "$COMPLETION" "$1") |
		sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

# The complete function is registered for outpost.
got=$(bash --norc --noprofile -c '. "$1"; . "$2"; complete -p outpost' _ "$BASH_COMPLETION" \
	"$COMPLETION")
assert_eq "complete -F _outpost outpost" "$got" "the completion registered"

# Commands and verbs.
assert_eq "alert backup definition events help instance run runbook template token worker" \
	"$(comp 'outpost ')" "outpost <TAB>"
assert_eq "worker" "$(comp 'outpost wor')" "outpost wor<TAB>"
assert_eq "drain" "$(comp 'outpost worker dr')" "outpost worker dr<TAB>"
assert_eq "list" "$(comp 'outpost --server http://127.0.0.1:1 -o json instance li')" \
	"global options with values before the command"
assert_eq "cordon drain get list stop terminate uncordon" "$(comp 'outpost help worker ')" \
	"outpost help worker <TAB>"

# Options: the command's, its pages', the global ones.
got=$(comp 'outpost instance list --')
assert_contains "--state" "$got" "instance list's options"
assert_contains "--all" "$got" "instance list's paging options"
assert_contains "--token-file" "$got" "the global options"
assert_eq "--definition --duration" "$(comp 'outpost instance create --d')" \
	"outpost instance create --d<TAB>"

# Values: the names outpost itself has (the same as its help lists), comma lists, --name=.
want=$("$OUTPOST" worker list --help | sed -n 's/.*only workers in these states: //p' |
	tr -d ',' | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
assert_contains "draining" "$want" "worker list --help's states"
assert_eq "$want" "$(comp 'outpost worker list --state ')" "worker list --state <TAB>"
assert_eq "draining" "$(comp 'outpost worker list --state dr')" "worker list --state dr<TAB>"
assert_eq "draining" "$(comp 'outpost worker list --state=dr')" "worker list --state=dr<TAB>"
assert_eq "running,scheduled" "$(comp 'outpost instance list --state running,sch')" \
	"a comma list of instance states"
assert_eq "admin agent" "$(comp 'outpost token create --name x --role a')" "--role a<TAB>"
assert_eq "json" "$(comp 'outpost worker list -o j')" "-o j<TAB>"

# A file: bash's own file names.
mkdir -p "$WORK/defs"
: >"$WORK/defs/lab.json"
: >"$WORK/defs/pod.json"
assert_eq "defs/lab.json defs/pod.json" "$(comp 'outpost definition create -f defs/')" \
	"definition create -f <TAB>: files"

# Nothing for what it does not know: a command that does not exist, an id.
assert_eq "" "$(comp 'outpost nosuch ')" "an unknown command"
assert_eq "" "$(comp 'outpost instance get ')" "an instance's id"

# outpost __complete itself: never the server (none is running), exit 0.
"$OUTPOST" --server http://127.0.0.1:1 __complete instance "" >/dev/null 2>&1
assert_eq 2 "$?" "__complete after a global option is not the hidden command"
"$OUTPOST" __complete instance "" >/dev/null
assert_eq 0 "$?" "outpost __complete instance ''"
exit 0
