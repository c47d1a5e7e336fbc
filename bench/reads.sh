# shellcheck shell=bash
# Helpers of the read-path benchmarks (run-list.sh, run-metrics.sh,
# run-filter.sh). Sourced after lib.sh, not run.
#
# mixed_site N: starts a fresh outpostd, creates N instances through the API
# (count=1000 requests: each a real instance row, transition row and event),
# stops it, then moves them with sqlite3 into a site's mix and starts it again
# on that file. Of every 100 instances by id:
#   0       running on one of MIX_WORKERS (100) workers (1%: 10 a worker)
#   1-29    pending, their slot years ahead (29%: never due, nothing moves)
#   30-39   failed (10%)
#   40-99   terminated, keeping the worker they ran on (60%)
# each with the transition row that put it there. The workers are ready and
# online, their last heartbeat a day ahead so that none goes offline while
# measured (no agent runs). Sets what start_outpostd sets.

MIX_WORKERS=${MIX_WORKERS:-100}

mixed_site() {
	local n=$1 now
	need sqlite3 sqlite3
	start_outpostd site
	say "outpostd at $OP_URL; storing $n instances"
	store_instances "$n"
	stop_outpostd
	now=$(($(date +%s) * 1000))
	say "moving them into the mix (sqlite3, outpostd stopped)"
	sqlite3 "$OP_STATE/outpost.db" <<EOF || die "sqlite3 could not make the mix"
PRAGMA foreign_keys = ON;
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $MIX_WORKERS)
INSERT INTO workers (name, state, health, cpu, memory_mb, slots, last_heartbeat, created_at,
    updated_at) SELECT printf('w%03d', i), 'ready', 'online', 16, 65536, 20,
    $now + 86400000, $now, $now FROM k;
UPDATE instances SET worker_id = 1 + (id / 100) % $MIX_WORKERS, attempt = 1
    WHERE id % 100 = 0 OR id % 100 >= 40;
UPDATE instances SET state = 'running', updated_at = $now WHERE id % 100 = 0;
UPDATE instances SET state = 'failed', updated_at = $now WHERE id % 100 BETWEEN 30 AND 39;
UPDATE instances SET state = 'terminated', updated_at = $now WHERE id % 100 >= 40;
INSERT INTO transitions (instance_id, from_state, to_state, reason, actor, at)
    SELECT id, 'pending', state, 'bench', 'bench', $now FROM instances WHERE state != 'pending';
COMMIT;
EOF
	start_outpostd site
}

# start_nginx DIR CTYPE: nginx with one worker and its own config under DIR,
# serving DIR/www as static files of type CTYPE on a free loopback port (the
# reference server of the read benchmarks); NGINX_SERVER adds directives to its
# server block (run-create-burst.sh: a location answering 201). Sets NG_URL and
# NG_PID.
start_nginx() {
	local NG=$1 CTYPE=$2 port
	for _ in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		{
			[ "$(id -u)" = 0 ] && echo "user $(id -un);"
			cat <<EOF
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	types { }
	default_type "$CTYPE";
	${NGINX_EXTRA:-}
	server {
		listen 127.0.0.1:$port;
		root $NG/www;
		${NGINX_SERVER:-}
	}
}
EOF
		} >"$NG/nginx.conf"
		mkdir -p "$NG/tmp"
		: >"$NG/error.log"
		server_exec nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" 2>"$NG/stderr.log" &
		NG_PID=$!
		BENCH_PIDS="$BENCH_PIDS $NG_PID"
		for _ in $(seq 1 50); do
			kill -0 "$NG_PID" 2>/dev/null || break
			curl -s -o /dev/null "http://127.0.0.1:$port/" && { NG_URL=http://127.0.0.1:$port; return 0; }
			sleep 0.1
		done
		wait "$NG_PID" 2>/dev/null
		forget_pid "$NG_PID"
		grep -q 'Address already in use' "$NG/error.log" "$NG/stderr.log" ||
			{ cat "$NG/error.log" "$NG/stderr.log" >&2; die "nginx did not start"; }
	done
	die "no free port for nginx"
}
