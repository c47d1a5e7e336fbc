#!/bin/sh
# packaging/prometheus: the alerting rules pass promtool check rules and their
# unit tests (promtool test rules); the scrape example passes promtool check
# config; each rule has a summary, a description and a runbook that exists
# (a runbook of runbooks/, or a page of docs/operations/ and its heading);
# each rule is tested both firing and not; and every series a rule names is
# one a real outpostd's /metrics has. Skipped where promtool (Debian's
# prometheus package) is absent.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs promtool (prometheus)" >&2; exit 77; }
P=$top_srcdir/packaging/prometheus
RULES=$P/outpost-rules.yml
TESTS=$P/outpost-rules.test.yml

promtool check rules "$RULES" >"$WORK/check.out" 2>&1 || fail "promtool check rules: $(cat "$WORK/check.out")"
promtool test rules "$TESTS" >"$WORK/test.out" 2>&1 || fail "promtool test rules: $(cat "$WORK/test.out")"
# check config reads the rule files it names, from the example's own directory.
promtool check config "$P/prometheus.yml.example" >"$WORK/config.out" 2>&1 ||
	fail "promtool check config: $(cat "$WORK/config.out")"

alerts=$(awk '$1 == "-" && $2 == "alert:" { print $3 }' "$RULES")
[ "$(printf '%s\n' "$alerts" | wc -l)" -ge 20 ] || fail "only $(printf '%s\n' "$alerts" | wc -l) rules in $RULES"
[ -z "$(printf '%s\n' "$alerts" | sort | uniq -d)" ] || fail "rules named twice: $(printf '%s\n' "$alerts" | sort | uniq -d)"

# A heading's anchor as the docs' renderers make it: lower case, spaces to dashes, no punctuation.
anchors() {
	sed -n 's/^#\{1,6\} //p' "$1" | tr 'A-Z' 'a-z' | sed "s/[^a-z0-9 _-]//g; s/ /-/g"
}
for a in $alerts; do
	# The rule's block: from its "- alert:" line to the next.
	block=$(awk -v a="$a" '$1 == "-" && $2 == "alert:" { on = ($3 == a) } on' "$RULES")
	for k in summary description runbook; do
		printf '%s\n' "$block" | grep -q "^ *$k: " || fail "rule $a has no $k annotation"
	done
	rb=$(printf '%s\n' "$block" | sed -n 's/^ *runbook: *//p')
	case $rb in
	docs/*)
		page=${rb%%#*}
		[ -f "$top_srcdir/$page" ] || fail "rule $a: runbook $rb: no $page"
		case $rb in
		*'#'*)
			anchors "$top_srcdir/$page" | grep -q -x -- "${rb#*#}" ||
				fail "rule $a: runbook $rb: no such heading in $page" ;;
		esac ;;
	*)
		[ -f "$top_srcdir/runbooks/$rb.json" ] || fail "rule $a: runbook $rb is not a runbook of runbooks/" ;;
	esac
	# Tested firing (exp_alerts: and a list) and not (exp_alerts: []).
	awk -v a="$a" '$1 == "alertname:" { cur = $2; next }
		$1 == "exp_alerts:" && cur == a { if ($2 == "[]") quiet = 1; else fired = 1 }
		END { exit !(quiet && fired) }' "$TESTS" ||
		fail "rule $a is not tested both firing and not firing in $(basename "$TESTS")"
done

# Every series the rules name is on a real outpostd's /metrics (histograms by their name).
start_server
TOKEN= api_ok 200 GET /metrics
printf '%s\n' "$BODY" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' | sort -u >"$WORK/exposed"
grep -o '\b\(outpost\|process\)_[a-z_]*' "$RULES" | sed 's/_bucket$//' | sort -u >"$WORK/named"
missing=$(comm -23 "$WORK/named" "$WORK/exposed")
[ -z "$missing" ] || fail "series the rules name that /metrics does not have: $missing"
note "$(printf '%s\n' "$alerts" | wc -l) rules, $(grep -c 'eval_time:' "$TESTS") evaluations, $(wc -l <"$WORK/named") series named"
exit 0
