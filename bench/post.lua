-- wrk script: POST the JSON body in $BENCH_BODY (see run-create.sh).
-- The Authorization header is given to wrk with -H.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
