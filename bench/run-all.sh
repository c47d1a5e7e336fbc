#!/usr/bin/env bash
# Every benchmark, one after the other, and one scorecard: each script's last
# lines are rows "SCORE|path|figure|reference|ratio|target|met" (lib.sh's
# score); this collects them into one table with the machine it ran on.
#
#   bench/run-all.sh                    the scorecard on stdout
#   bench/run-all.sh --results          ... and in RESULTS.md, between the
#                                       scorecard markers (the last one replaced)
#   RUN_ONLY="list create" bench/run-all.sh      some of them
#   RUN_SKIP="soak" bench/run-all.sh             all but some
#   RUN_KEEP=DIR                        keep each script's summary in DIR
#
# The scripts take their own settings from the environment (OUTPOSTD, BUILD,
# TOP, ROUNDS, SOAK_MINUTES, ...): see README.md. A script that fails, or gives
# no score, is a row that says so. The soak takes SOAK_MINUTES (30 here too).
set -u
. "$(dirname "$0")/lib.sh"

RESULTS=0
[ "${1:-}" = "--results" ] && RESULTS=1
ALL="list create create-burst sched assign burst prune door tui metrics filter fanout fleet soak"
bench_init
KEEP=${RUN_KEEP:-$BENCH_TMP/out}
mkdir -p "$KEEP"

wanted() {
	case " ${RUN_ONLY:-$ALL} " in *" $1 "*) ;; *) return 1 ;; esac
	case " ${RUN_SKIP:-} " in *" $1 "*) return 1 ;; esac
	return 0
}

: >"$BENCH_TMP/rows"
t0=$(date +%s)
for b in $ALL; do
	wanted "$b" || continue
	script=$BENCH_DIR/run-$b.sh
	if [ ! -f "$script" ]; then
		say "run-all: no run-$b.sh"
		continue
	fi
	say "run-all: run-$b.sh"
	s=$(date +%s)
	bash "$script" >"$KEEP/$b.md" 2>"$KEEP/$b.log"
	rc=$?
	took=$(($(date +%s) - s))
	if [ "$rc" -ne 0 ]; then
		printf '| run-%s.sh | failed (exit %s, %s s): see its log | | | | **no** |\n' \
			"$b" "$rc" "$took" >>"$BENCH_TMP/rows"
		say "run-all: run-$b.sh failed: $(tail -n 1 "$KEEP/$b.log")"
		continue
	fi
	if ! grep -q '^SCORE|' "$KEEP/$b.md"; then
		printf '| run-%s.sh | gave no score | | | | **no** |\n' "$b" >>"$BENCH_TMP/rows"
		continue
	fi
	grep '^SCORE|' "$KEEP/$b.md" | awk -F'|' -v b="$b" '{
		met = ($7 == "yes") ? "yes" : "**no**"
		printf "| %s | %s | %s | %s | %s | %s | run-%s.sh |\n", $2, $3, $4, $5, $6, met, b
	}' >>"$BENCH_TMP/rows"
	say "run-all: run-$b.sh done in $took s"
done

scorecard() {
	echo "## Scorecard ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Written by \`bench/run-all.sh\` in $((($(date +%s) - t0 + 30) / 60)) minutes" \
		"($(($(date +%s) - t0)) s)."
	machine_info | grep -v '^- wrk\|^- rounds'
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| path | figure | reference | ratio | target | met | script |"
	echo "|---|---|---|---|---|---|---|"
	cat "$BENCH_TMP/rows"
	echo
	echo "$(grep -c '| yes |' "$BENCH_TMP/rows") of $(grep -c . "$BENCH_TMP/rows") met."
}
scorecard | tee "$BENCH_TMP/scorecard.md"

# RESULTS.md keeps the newest scorecard between its markers (appended at the
# end of the file if it has none).
if [ "$RESULTS" = 1 ]; then
	f=$BENCH_DIR/RESULTS.md
	awk -v card="$BENCH_TMP/scorecard.md" '
		function put() { while ((getline l < card) > 0) print l; close(card) }
		/^<!-- scorecard:begin -->$/ { print; put(); skip = 1; done = 1; next }
		/^<!-- scorecard:end -->$/ { skip = 0 }
		skip { next }
		{ print }
		END { if (!done) { print ""; print "<!-- scorecard:begin -->"; put();
			print "<!-- scorecard:end -->" } }' "$f" >"$BENCH_TMP/results.md" &&
		cat "$BENCH_TMP/results.md" >"$f"
	say "run-all: the scorecard is in $f"
fi
