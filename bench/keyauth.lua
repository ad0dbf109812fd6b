-- wrk script for bench/plugins-keyauth.sh: every request carries the benchmark
-- consumer's key (peers without key-auth ignore the header), then the shared
-- harness's reporting script does the rest.
wrk.headers["apikey"] = os.getenv("WRK_APIKEY") or "bench-key"
dofile(os.getenv("SHARED_LUA"))
