#!/usr/bin/env bash
# wxrealname benchmarks, in one run: gateway vs nginx (the no-work limit), 10,000 in flight, token fetches under
# load, durable audit throughput, start-up, ID validation. See BENCHMARKS.md for what each number means.
#
#   bench/run.sh                       # everything, ~6 minutes on 2 cores; tables in bench/results/<stamp>/report.md
#   BENCH_SECTIONS="1 4" bench/run.sh  # some sections only: 1 2 3 4 5 criterion
#   BENCH_UPDATE=1 bench/run.sh        # also rewrite the tables in BENCHMARKS.md from this run
#
# Knobs (environment): BENCH_DURATION (seconds per measurement, default 10), BENCH_PG (PostgreSQL URL, trust auth,
# default postgres://postgres@127.0.0.1:5432/test), BENCH_REDIS (default redis://127.0.0.1:6379), BENCH_PROFILE=1
# (perf-record the gateway during its throughput run, if perf works here), BENCH_KEEP=1 (keep bench/.work),
# BENCH_MAX_IN_FLIGHT (the gateways' limits.max_in_flight; default: the product's), BENCH_PHP_WORKERS (the static
# php-fpm pool of the seed's PHP flow; default 4 per core: its workers block on WeChat's answer).
#
# It installs what it lacks (nginx, php-fpm from apt), builds --release (the binary and bench/loadgen), starts its own
# sandboxes, gateways and nginx on 127.0.0.1:181xx, and stops exactly those processes when it ends.
set -euo pipefail
# The whole script is one compound command, parsed before it runs: editing the file mid-run cannot break a run.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DUR=${BENCH_DURATION:-10}
SECTIONS=" ${BENCH_SECTIONS:-1 2 3 4 5 6 criterion} "
PG_URL=${BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${BENCH_REDIS:-redis://127.0.0.1:6379}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/$STAMP
WORK=$BENCH/.work/$STAMP
CLK=$(getconf CLK_TCK)
IN_FLIGHT=10000
SECRET=bench-secret-not-a-real-one
export WXRN_SECRET_BENCH=$SECRET
# The paid provider (section 6): fictional credentials, registered in the sandbox, read by the gateway from here.
export WXRN_BENCH_TC_ID=AKIDbench0000000000000000000000000
export WXRN_BENCH_TC_KEY=bench-tencent-secret-key-not-real
export WXRN_BENCH_ADMIN=bench-admin-$RANDOM$RANDOM
# The gateway refuses to start without a master key outside its data directory: one per run, from the environment.
WXRN_BENCH_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export WXRN_BENCH_KEY

section() { [[ $SECTIONS == *" $1 "* ]]; }
log() { printf '\n=== %s  (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# --- what the run needs --------------------------------------------------------------------------------------
need_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  if section 1 || section 2; then
    compgen -G '/usr/sbin/php-fpm*' >/dev/null || missing+=(php-fpm)
    php -m 2>/dev/null | grep -qx curl || missing+=(php-curl)
  fi
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if section 3 || section 4; then
    command -v psql >/dev/null || missing+=(postgresql-client)
  fi
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build() {
  log "building --release"
  (cd "$ROOT" && cargo build --release --locked --bin wxrealname)
  (cd "$BENCH/loadgen" && CARGO_TARGET_DIR=$TARGET cargo build --release --locked)
  WX=$TARGET/release/wxrealname
  LOAD=$TARGET/release/wxrn-load
}

# --- processes: every one we start is remembered and stopped at exit, by pid ---------------------------------
PIDS=()
LAST_PID=
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_bg() { # name cmd... -> LAST_PID
  local name=$1
  shift
  "$@" >>"$WORK/logs/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop() { # pid...
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

wait_http() { # url [seconds]
  local i
  for ((i = 0; i < ${2:-20} * 50; i++)); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  die "$1 did not answer"
}

load_now() { cut -d' ' -f1-3 /proc/loadavg; }

# --- the sandbox ---------------------------------------------------------------------------------------------
start_sandbox() { # name port delay_ms token_ttl -> SB_PID, SB_URL
  start_bg "$1" "$WX" sandbox --addr "127.0.0.1:$2" --unlimited --no-demo --code-ttl 3600 \
    --delay-ms "$3" --token-ttl "$4"
  SB_PID=$LAST_PID
  SB_URL=http://127.0.0.1:$2
  wait_http "$SB_URL/sandbox/health"
}

new_app() { # sandbox_url appid -> $WORK/users-<appid>.json
  python3 "$BENCH/prepare.py" app --sandbox "$1" --appid "$2" --secret "$SECRET" --users 1000 \
    --out "$WORK/users-$2.json"
}

bodies() { # sandbox_url appid format count -> BODIES (path)
  BODIES=$WORK/bodies/$2-$3-$RANDOM.jsonl
  python3 "$BENCH/prepare.py" bodies --sandbox "$1" --users "$WORK/users-$2.json" --format "$3" --count "$4" \
    --out "$BODIES" 2>/dev/null
}

wechat_token() { # sandbox_url appid
  curl -fsS -X POST "$1/cgi-bin/stable_token" \
    -d "{\"grant_type\":\"client_credential\",\"appid\":\"$2\",\"secret\":\"$SECRET\"}" | jq -r .access_token
}

sandbox_stats() { curl -fsS "$1/sandbox/stats"; }

# --- the gateway ---------------------------------------------------------------------------------------------
gw_config() { # file port data_dir upstream appid token_kind [database_url] [redis_prefix] [refresh_ahead]
  {
    echo "listen = \"127.0.0.1:$2\""
    echo "data_dir = \"$3\""
    [[ -n ${7:-} ]] && echo "database_url = \"$7\""
    [[ -n ${8:-} ]] && printf 'redis_url = "%s"\nredis_prefix = "%s"\n' "$REDIS_URL" "$8"
    echo "upstream_base_url = \"$4\""
    echo "token_kind = \"$6\""
    echo "token_refresh_ahead_secs = ${9:-240}"
    echo 'admin_token_env = "WXRN_BENCH_ADMIN"'
    echo '[blind_index]'
    echo 'key_env = "WXRN_BENCH_KEY"'
    echo '[limits]'
    echo 'per_openid_per_day = 0'
    echo 'per_key_per_second = 0'
    [[ -n ${BENCH_MAX_IN_FLIGHT:-} ]] && echo "max_in_flight = $BENCH_MAX_IN_FLIGHT"
    echo '[[apps]]'
    echo "appid = \"$5\""
    echo 'secret_env = "WXRN_SECRET_BENCH"'
  } >"$1"
}

api_key() { "$WX" keys create --config "$1" --app "$2" --name bench --json | jq -r .key; }
idcheck_key() { "$WX" keys create --config "$1" --scope idcheck --name bench-idcheck --json | jq -r .key; }

idcheck_config() { # file port data_dir sandbox cache_days: a gateway with Tencent FaceID (at the sandbox) behind /v1/idchecks
  gw_config "$1" "$2" "$3" "$4" "$APP" stable
  {
    echo "[idcheck]"
    echo 'providers = ["tencent"]'
    echo "cache_days = $5"
    echo '[[providers]]'
    echo 'name = "tencent"'
    echo 'kind = "tencent_faceid"'
    echo "base_url = \"$4\""
    echo 'secret_id_env = "WXRN_BENCH_TC_ID"'
    echo 'secret_key_env = "WXRN_BENCH_TC_KEY"'
  } >>"$1"
}

start_gateway() { # name config port [ready] -> GW_PID. Without "ready" only /healthz is awaited: tokens stay cold.
  start_bg "$1" "$WX" serve --config "$2"
  GW_PID=$LAST_PID
  wait_http "http://127.0.0.1:$3/healthz"
  if [[ ${4:-} == ready ]]; then wait_http "http://127.0.0.1:$3/readyz"; fi
}

pg_schema() { # name [pool_size] -> SCHEMA_URL, a fresh schema of its own
  local schema=bench_${STAMP,,}_$1
  psql "$PG_URL" -qAt -c "CREATE SCHEMA $schema" >/dev/null
  PG_SCHEMAS+=("$schema")
  SCHEMA_URL="$PG_URL?pool_size=${2:-10}&options=-c%20search_path%3D$schema"
}
PG_SCHEMAS=()
PG_HOSTPORT=$(sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#' <<<"$PG_URL")

ab_rounds() { # name label_a label_b bodies port_a key_a pid_a port_b key_b pid_b -> A, B, A, B, A, B, 5 s each
  local name=$1 labels=("$2" "$3") n=$4 ports=("$5" "$8") keys=("$6" "$9") pids=("$7" "${10}") round v
  for round in 1 2 3; do
    for v in 0 1; do
      bodies "$SB0" "$APP" gateway "$n"
      measure "$name-${labels[v]}-$round" --url "http://127.0.0.1:${ports[v]}/v1/verifications" \
        --header "Authorization: Bearer ${keys[v]}" --bodies "$BODIES" --connections 64 --duration 5 \
        --expect "$GOOD_GATEWAY" --watch "gateway=${pids[v]}"
    done
  done
}

pg_rtt() { # port -> median milliseconds of 50 `SELECT 1` round trips to PostgreSQL at 127.0.0.1:port (psql's \timing)
  { echo '\timing on'; for _ in $(seq 50); do echo 'SELECT 1;'; done; } |
    psql "${PG_URL/$PG_HOSTPORT/127.0.0.1:$1}" -qAt 2>/dev/null |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

pg_redis_watch() { # -> PGR_WATCH: --watch args for every PostgreSQL server process and Redis (their CPU counts)
  local pm p
  PGR_WATCH=()
  pm=$(pgrep -o -x postgres || true)
  if [[ -n $pm ]]; then
    PGR_WATCH+=(--watch "postgres=$pm")
    for p in $(pgrep -P "$pm"); do PGR_WATCH+=(--watch "postgres=$p"); done
  fi
  p=$(pgrep -o -x redis-server || true)
  [[ -n $p ]] && PGR_WATCH+=(--watch "redis=$p")
  return 0
}

warm_up() { # url key connections: a second of verifications, so that pools and connections exist before the clock
  bodies "$SB0" "$APP" gateway 2000
  "$LOAD" run --label warm --clk-tck "$CLK" --url "$1" --header "Authorization: Bearer $2" --bodies "$BODIES" \
    --connections "$3" --duration 1 --expect "$GOOD_GATEWAY" >/dev/null
}

drop_schemas() {
  local s
  for s in "${PG_SCHEMAS[@]}"; do psql "$PG_URL" -qAt -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
}

# --- nginx ---------------------------------------------------------------------------------------------------
start_nginx() { # name port upstream_port -> NGINX_PID, NGINX_WATCH (--watch args for its workers)
  local dir=$WORK/$1
  mkdir -p "$dir/logs" "$dir/nginx-tmp"
  sed -e "s#@WORK@#$dir#g" -e "s#@LISTEN@#127.0.0.1:$2#" -e "s#@UPSTREAM@#127.0.0.1:$3#" \
    "$BENCH/conf/nginx.conf.in" >"$dir/nginx.conf"
  start_bg "$1" nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;'
  NGINX_PID=$LAST_PID
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s /proc/$NGINX_PID/task/$NGINX_PID/children ]] && break
    sleep 0.05
  done
  NGINX_WATCH=()
  for i in $(cat "/proc/$NGINX_PID/task/$NGINX_PID/children"); do NGINX_WATCH+=(--watch "nginx=$i"); done
  NGINX_WATCH+=(--watch "nginx-master=$NGINX_PID")
}

# --- the seed's PHP flow: nginx + php-fpm running bench/php/realname.php --------------------------------------
start_php() { # name port wechat_base_url appid -> PHP_PIDS, PHP_WATCH (--watch args for nginx's and php-fpm's processes)
  local dir=$WORK/$1 fpm workers=${BENCH_PHP_WORKERS:-$((4 * $(nproc)))}
  fpm=$(compgen -G '/usr/sbin/php-fpm*' | head -n1)
  mkdir -p "$dir/logs" "$dir/nginx-tmp"
  sed -e "s#@WORK@#$dir#g" -e "s#@WORKERS@#$workers#" -e "s#@WX_BASE@#$3#" -e "s#@APPID@#$4#" \
    -e "s#@SECRET@#$SECRET#" "$BENCH/conf/php-fpm.conf.in" >"$dir/php-fpm.conf"
  sed -e "s#@WORK@#$dir#g" -e "s#@LISTEN@#127.0.0.1:$2#" -e "s#@SCRIPT@#$BENCH/php/realname.php#" \
    "$BENCH/conf/nginx-php.conf.in" >"$dir/nginx.conf"
  start_bg "$1-fpm" "$fpm" --nodaemonize --allow-to-run-as-root --fpm-config "$dir/php-fpm.conf"
  local fpm_pid=$LAST_PID
  start_bg "$1-nginx" nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;'
  local nginx_pid=$LAST_PID
  PHP_PIDS=("$fpm_pid" "$nginx_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S $dir/php-fpm.sock && -s /proc/$nginx_pid/task/$nginx_pid/children ]] && break
    sleep 0.05
  done
  PHP_WATCH=(--watch "php=$fpm_pid" --watch "php=$nginx_pid")
  for i in $(cat "/proc/$fpm_pid/task/$fpm_pid/children" "/proc/$nginx_pid/task/$nginx_pid/children"); do
    PHP_WATCH+=(--watch "php=$i")
  done
}

# --- one measurement: the load generator's summary plus the machine's load, into $OUT/<name>.json -------------
measure() { # name loadgen-args...
  local name=$1 before
  shift
  before=$(load_now)
  "$LOAD" run --label "$name" --clk-tck "$CLK" "$@" >"$WORK/$name.raw.json"
  jq --arg before "$before" --arg after "$(load_now)" \
    '. + {loadavg_before: $before, loadavg_after: $after}
     | .params.urls |= map(sub("access_token=[^&]*"; "access_token=REDACTED"))' \
    "$WORK/$name.raw.json" >"$OUT/$name.json"
  jq -r '"  \(.label): \(.good) good, \(.errors) errors, \(.rps | floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms"' \
    "$OUT/$name.json" >&2
}

fsync_probe() { # dir -> "p50 p99" milliseconds of a 4 KiB write + fdatasync, what each SQLite commit waits for
  python3 - "$1" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
took = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, i * 4096)
    t = time.perf_counter()
    os.fdatasync(fd)
    took.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(path)
took.sort()
print(f"{took[100]:.3f} {took[197]:.3f}")
PY
}

note() { # name json -> $OUT/<name>.json
  echo "$2" >"$OUT/$1.json"
}

GOOD_GATEWAY='"outcome":"match"'
GOOD_WECHAT='"errcode":0'

# =============================================================================================================
mkdir -p "$OUT" "$WORK/logs" "$WORK/bodies"
ln -sfn "$STAMP" "$BENCH/results/latest"
need_tools
build
ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) -ge 20000 ]] || echo "bench: only $(ulimit -n) file descriptors: 10,000 in flight needs ~20,000" >&2

note machine "$(jq -n --arg nproc "$(nproc)" --arg model "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
  --arg mem "$(free -m | awk '/^Mem:/ {print $2}')" --arg kernel "$(uname -r)" --arg load "$(load_now)" \
  --arg nginx "$(nginx -v 2>&1)" --arg rustc "$(rustc -V)" --arg commit "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "${BENCH_SOURCE:-unknown}")" \
  --arg dirty "$(cd "$ROOT" && git status --porcelain -- . ':!bench' ':!BENCHMARKS.md' 2>/dev/null | grep -vc '^??' || true)" --arg dur "$DUR" \
  --arg started "$STAMP" --arg nofile "$(ulimit -n)" --arg fsync "$(fsync_probe "$WORK")" \
  '{nproc: $nproc, model: $model, mem_mb: $mem, kernel: $kernel, load_at_start: $load, nginx: $nginx, rustc: $rustc,
    commit: $commit, modified_files: $dirty, duration_s: $dur, started: $started, nofile: $nofile,
    fdatasync_ms: {p50: ($fsync | split(" ")[0] | tonumber), p99: ($fsync | split(" ")[1] | tonumber)}}')"

# =============================================================================================================
# 1 + 4: the same verification stream through the gateway (SQLite, durable audit) and through nginx, and the
# sandbox alone; 0 ms upstream. Then the gateway on PostgreSQL.
if section 1 || section 4 || section 5 || section 6; then
  log "sandbox, 0 ms upstream"
  start_sandbox sandbox-0ms 18100 0 7200
  SB0=$SB_URL
  SB0_PID=$SB_PID
  APP=wxbench00000000000a
  new_app "$SB0" "$APP"
  TOKEN=$(wechat_token "$SB0" "$APP")
  WECHAT_PATH="/intp/realname/checkrealnameinfo?access_token=$TOKEN"

  gw_config "$WORK/gw-sqlite.toml" 18080 "$WORK/gw-sqlite" "$SB0" "$APP" stable
  KEY=$(api_key "$WORK/gw-sqlite.toml" "$APP")
  start_gateway gw-sqlite "$WORK/gw-sqlite.toml" 18080 ready
  GW1_PID=$GW_PID
  start_nginx nginx-0ms 18090 18100
fi
if section 1; then
  start_php php-0ms 18092 "$SB0" "$APP"
fi

if section 1 || section 4; then
  log "1a. throughput, closed loop, 64 connections, $DUR s each"
  bodies "$SB0" "$APP" wechat $((DUR * 30000))
  measure 1a-sandbox --url "$SB0$WECHAT_PATH" --bodies "$BODIES" --connections 64 --duration "$DUR" \
    --expect "$GOOD_WECHAT" --watch "sandbox=$SB0_PID"
  bodies "$SB0" "$APP" wechat $((DUR * 30000))
  measure 1a-nginx --url "http://127.0.0.1:18090$WECHAT_PATH" --bodies "$BODIES" --connections 64 \
    --duration "$DUR" --expect "$GOOD_WECHAT" "${NGINX_WATCH[@]}" --watch "sandbox=$SB0_PID"
  bodies "$SB0" "$APP" gateway $((DUR * 8000))
  if section 1; then
    measure 1a-php --url http://127.0.0.1:18092/ --bodies "$BODIES" --connections 64 --duration "$DUR" \
      --expect "$GOOD_WECHAT" "${PHP_WATCH[@]}" --watch "sandbox=$SB0_PID"
    bodies "$SB0" "$APP" gateway $((DUR * 8000))
  fi
  measure 1a-gateway --url http://127.0.0.1:18080/v1/verifications --header "Authorization: Bearer $KEY" \
    --bodies "$BODIES" --connections 64 --duration "$DUR" --expect "$GOOD_GATEWAY" \
    --watch "gateway=$GW1_PID" --watch "sandbox=$SB0_PID"
  # The profile gets a run of its own: perf's sampling would tax the measured one.
  if [[ -n ${BENCH_PROFILE:-} ]] && perf record -e cpu-clock -o "$WORK/perf-probe.data" true >/dev/null 2>&1; then
    log "1p. the same closed loop again under perf (figures not used above)"
    bodies "$SB0" "$APP" gateway $((DUR * 8000))
    perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$GW1_PID" -o "$WORK/perf-gateway.data" \
      -- sleep "$DUR" >"$WORK/logs/perf.log" 2>&1 &
    PERF_PID=$!
    measure 1p-gateway-profiled --url http://127.0.0.1:18080/v1/verifications \
      --header "Authorization: Bearer $KEY" --bodies "$BODIES" --connections 64 --duration "$DUR" \
      --expect "$GOOD_GATEWAY" --watch "gateway=$GW1_PID"
    wait "$PERF_PID" || true
    perf script -i "$WORK/perf-gateway.data" 2>/dev/null | python3 "$BENCH/profile.py" >"$OUT/profile-gateway.txt" || true
  fi
fi

if section 1 && [[ -z ${BENCH_NO_AB:-} ]]; then
  # A/B, interleaved: the same SQLite gateway with the API-key cache (A, the default 1 s) and without it (B,
  # api_key_cache_ms = 0: the key row read from the store on every request), three rounds of each.
  log "1ab. API-key cache on/off, interleaved, closed loop, 64 connections, 5 s each"
  gw_config "$WORK/gw-nocache.toml" 18081 "$WORK/gw-nocache" "$SB0" "$APP" stable
  sed -i 's/^\[limits\]$/[limits]\napi_key_cache_ms = 0/' "$WORK/gw-nocache.toml"
  nkey=$(api_key "$WORK/gw-nocache.toml" "$APP")
  start_gateway gw-nocache "$WORK/gw-nocache.toml" 18081 ready
  GWB_PID=$GW_PID
  ab_rounds 1ab-keycache on off 40000 18080 "$KEY" "$GW1_PID" 18081 "$nkey" "$GWB_PID"
  stop "$GWB_PID"
fi

if section 1; then
  RATE=$(jq -r '[.rps * 0.5, 5000] | min | (. / 100 | floor) * 100 | if . < 200 then 200 else . end' "$OUT/1a-gateway.json")
  log "1b. latency and CPU at a fixed $RATE req/s (open loop), $DUR s each"
  n=$((RATE * DUR + 500))
  bodies "$SB0" "$APP" wechat $n
  measure 1b-sandbox --url "$SB0$WECHAT_PATH" --bodies "$BODIES" --connections 256 --duration "$DUR" \
    --rate "$RATE" --expect "$GOOD_WECHAT" --watch "sandbox=$SB0_PID"
  bodies "$SB0" "$APP" wechat $n
  measure 1b-nginx --url "http://127.0.0.1:18090$WECHAT_PATH" --bodies "$BODIES" --connections 256 \
    --duration "$DUR" --rate "$RATE" --expect "$GOOD_WECHAT" "${NGINX_WATCH[@]}" --watch "sandbox=$SB0_PID"
  bodies "$SB0" "$APP" gateway $n
  measure 1b-php --url http://127.0.0.1:18092/ --bodies "$BODIES" --connections 256 --duration "$DUR" \
    --rate "$RATE" --expect "$GOOD_WECHAT" "${PHP_WATCH[@]}" --watch "sandbox=$SB0_PID"
  bodies "$SB0" "$APP" gateway $n
  measure 1b-gateway --url http://127.0.0.1:18080/v1/verifications --header "Authorization: Bearer $KEY" \
    --bodies "$BODIES" --connections 256 --duration "$DUR" --rate "$RATE" --expect "$GOOD_GATEWAY" \
    --watch "gateway=$GW1_PID" --watch "sandbox=$SB0_PID"
fi

if section 6; then
  # The same gateway and sandbox, the paid provider's path: Tencent FaceID simulated by the sandbox (TC3 signature
  # checked on every call), the 1,000 users as its record. Provider path: cache off, every check a signed call.
  # Cached: every pair answered once, then repeated from the audit trail.
  log "6. idchecks (Tencent FaceID at the sandbox), closed loop, 64 connections, $DUR s each"
  python3 "$BENCH/prepare.py" people --sandbox "$SB0" --users "$WORK/users-$APP.json" \
    --tencent "$WXRN_BENCH_TC_ID:$WXRN_BENCH_TC_KEY"
  for cache in 0 30; do
    idcheck_config "$WORK/gw-idc-$cache.toml" 18086 "$WORK/gw-idc-$cache" "$SB0" "$cache"
    ikey=$(idcheck_key "$WORK/gw-idc-$cache.toml")
    start_gateway "gw-idc-$cache" "$WORK/gw-idc-$cache.toml" 18086 ready
    BODIES=$WORK/bodies/idchecks-$cache.jsonl
    python3 "$BENCH/prepare.py" idchecks --users "$WORK/users-$APP.json" --count $((DUR * 8000)) --out "$BODIES" 2>/dev/null
    name=6-idcheck-provider
    if ((cache > 0)); then
      # Warm: every pair answered by the provider once.
      "$LOAD" run --label warm --clk-tck "$CLK" --url http://127.0.0.1:18086/v1/idchecks \
        --header "Authorization: Bearer $ikey" --bodies "$BODIES" --connections 16 --duration 30 --requests 1000 \
        --expect "$GOOD_GATEWAY" >/dev/null
      name=6-idcheck-cached
    fi
    measure "$name" --url http://127.0.0.1:18086/v1/idchecks --header "Authorization: Bearer $ikey" \
      --bodies "$BODIES" --connections 64 --duration "$DUR" --expect "$GOOD_GATEWAY" \
      --watch "gateway=$GW_PID" --watch "sandbox=$SB0_PID"
    stop "$GW_PID"
  done
fi

if section 4; then
  log "4. durable audit: the gateway on PostgreSQL + Redis, closed loop, 64 connections"
  pg_schema audit
  gw_config "$WORK/gw-pg.toml" 18084 "$WORK/gw-pg" "$SB0" "$APP" stable "$SCHEMA_URL" "wxrn-bench-$STAMP-pg:"
  key=$(api_key "$WORK/gw-pg.toml" "$APP")
  start_gateway gw-pg "$WORK/gw-pg.toml" 18084 ready
  warm_up http://127.0.0.1:18084/v1/verifications "$key" 64
  pg_redis_watch
  bodies "$SB0" "$APP" gateway $((DUR * 8000))
  measure 4-gateway-postgres --url http://127.0.0.1:18084/v1/verifications --header "Authorization: Bearer $key" \
    --bodies "$BODIES" --connections 64 --duration "$DUR" --expect "$GOOD_GATEWAY" \
    --watch "gateway=$GW_PID" --watch "sandbox=$SB0_PID" "${PGR_WATCH[@]}"
  stop "$GW_PID"

  if [[ -z ${BENCH_NO_AB:-} ]]; then
    # A/B, interleaved, on PostgreSQL + Redis, where the API-key read is a round trip: cache on (A) and off (B).
    log "4ab. API-key cache on/off on PostgreSQL + Redis, interleaved, 64 connections, 5 s each"
    ab_ports=(18087 18088)
    ab_pids=()
    ab_keys=()
    for v in 0 1; do
      pg_schema "ab_$v"
      gw_config "$WORK/gw-ab-$v.toml" "${ab_ports[v]}" "$WORK/gw-ab-$v" "$SB0" "$APP" stable "$SCHEMA_URL" \
        "wxrn-bench-$STAMP-ab-$v:"
      ((v == 1)) && sed -i 's/^\[limits\]$/[limits]\napi_key_cache_ms = 0/' "$WORK/gw-ab-$v.toml"
      ab_keys+=("$(api_key "$WORK/gw-ab-$v.toml" "$APP")")
      start_gateway "gw-ab-$v" "$WORK/gw-ab-$v.toml" "${ab_ports[v]}" ready
      ab_pids+=("$GW_PID")
    done
    ab_rounds 4ab-keycache on off 20000 "${ab_ports[0]}" "${ab_keys[0]}" "${ab_pids[0]}" \
      "${ab_ports[1]}" "${ab_keys[1]}" "${ab_pids[1]}"
    stop "${ab_pids[@]}"
  fi

  # 4d. PostgreSQL on "another host": every packet to and from it delayed by a proxy (Redis stays local).
  for rtt in 0.7 5; do
    port=15434
    [[ $rtt == 5 ]] && port=15435
    # The proxy's sleeps overshoot by a few tens of µs: measure once, then take the difference off.
    one_way=$(awk -v r="$rtt" 'BEGIN { print r / 2 }')
    for attempt in 1 2; do
      start_bg "delay-$rtt" "$LOAD" delay-proxy --listen "127.0.0.1:$port" --upstream "$PG_HOSTPORT" \
        --one-way-ms "$one_way"
      DELAY_PID=$LAST_PID
      sleep 0.2
      measured=$(pg_rtt "$port")
      ((attempt == 2)) && break
      stop "$DELAY_PID"
      one_way=$(awk -v o="$one_way" -v m="$measured" -v r="$rtt" 'BEGIN { n = o - (m - r) / 2; print (n < 0.02 ? 0.02 : n) }')
    done
    direct=$(pg_rtt "${PG_HOSTPORT##*:}")
    log "4d. PostgreSQL $rtt ms away: SELECT 1 round trip through the proxy $measured ms (direct $direct ms)"
    note "4d-rtt-$rtt" "$(jq -n --argjson t "$rtt" --argjson m "$measured" --argjson d "$direct" \
      '{target_rtt_ms: $t, measured_rtt_ms: $m, direct_rtt_ms: $d}')"
    shapes=("1 64")
    [[ $rtt == 5 ]] && shapes=("1 4" "1 64" "3 4")
    for shape in "${shapes[@]}"; do
      read -r inst conns <<<"$shape"
      pg_schema "remote_${rtt/./_}_${inst}x$conns"
      url=${SCHEMA_URL/$PG_HOSTPORT/127.0.0.1:$port}
      pids=() urls=() watch=()
      for ((i = 0; i < inst; i++)); do
        gw_config "$WORK/gw-remote-$i.toml" $((18120 + i)) "$WORK/gw-remote-$rtt-${inst}x$conns-$i" "$SB0" "$APP" stable \
          "$url" "wxrn-bench-$STAMP-remote-${rtt}-$inst-$conns:"
      done
      rkey=$(api_key "$WORK/gw-remote-0.toml" "$APP")
      for ((i = 0; i < inst; i++)); do
        start_gateway "gw-remote-$i" "$WORK/gw-remote-$i.toml" $((18120 + i)) ready
        pids+=("$GW_PID")
        urls+=(--url "http://127.0.0.1:$((18120 + i))/v1/verifications")
        watch+=(--watch "gateway=$GW_PID")
      done
      bodies "$SB0" "$APP" gateway $((DUR * 4000))
      measure "4d-rtt$rtt-${inst}x$conns" "${urls[@]}" --header "Authorization: Bearer $rkey" --bodies "$BODIES" \
        --connections $((inst * conns)) --duration "$DUR" --expect "$GOOD_GATEWAY" "${watch[@]}"
      stop "${pids[@]}"
    done
    if [[ $rtt == 5 && -z ${BENCH_NO_AB:-} ]]; then
      # A/B, interleaved: one batch of appends in flight at a time (the default, A) or two (append_workers=2, B).
      log "4dab. PostgreSQL 5 ms away: append_workers 1 vs 2, interleaved, 1 instance, 64 connections, 5 s each"
      ab_pids=() ab_keys=()
      for v in 0 1; do
        pg_schema "remote_ab_$v"
        url=${SCHEMA_URL/$PG_HOSTPORT/127.0.0.1:$port}
        ((v == 1)) && url="$url&append_workers=2"
        gw_config "$WORK/gw-remote-ab-$v.toml" $((18130 + v)) "$WORK/gw-remote-ab-$v" "$SB0" "$APP" stable "$url" \
          "wxrn-bench-$STAMP-remote-ab-$v:"
        ab_keys+=("$(api_key "$WORK/gw-remote-ab-$v.toml" "$APP")")
        start_gateway "gw-remote-ab-$v" "$WORK/gw-remote-ab-$v.toml" $((18130 + v)) ready
        ab_pids+=("$GW_PID")
      done
      ab_rounds 4dab workers1 workers2 20000 18130 "${ab_keys[0]}" "${ab_pids[0]}" 18131 "${ab_keys[1]}" "${ab_pids[1]}"
      stop "${ab_pids[@]}"
    fi
    stop "$DELAY_PID"
  done

  # Group commit, seen from the outside: fsyncs per verification on SQLite (strace counts them; its overhead
  # slows the run, so only the ratio is kept).
  if command -v strace >/dev/null; then
    bodies "$SB0" "$APP" gateway 20000
    strace -f -qq -c -e trace=fsync,fdatasync -p "$GW1_PID" -o "$WORK/strace.txt" &
    STRACE_PID=$!
    sleep 0.5
    measure 4-sqlite-fsyncs --url http://127.0.0.1:18080/v1/verifications --header "Authorization: Bearer $KEY" \
      --bodies "$BODIES" --connections 64 --duration 5 --expect "$GOOD_GATEWAY"
    kill -INT "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
    fsyncs=$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' "$WORK/strace.txt")
    note 4-sqlite-fsync-count "$(jq -n --argjson f "$fsyncs" --slurpfile r "$OUT/4-sqlite-fsyncs.json" \
      '{fsyncs: $f, verifications: $r[0].good, per_verification: (if $r[0].good > 0 then $f / $r[0].good else null end)}')"
  fi
fi

if section 5; then
  log "5. start-up: spawn to /readyz green"
  gw_config "$WORK/gw-start.toml" 18099 "$WORK/gw-start" "$SB0" "$APP" stable
  "$LOAD" startup --url http://127.0.0.1:18099/readyz --runs 10 --fresh-dir "$WORK/gw-start" \
    --log "$WORK/logs/startup.log" -- "$WX" serve --config "$WORK/gw-start.toml" >"$WORK/s1.json"
  "$LOAD" startup --url http://127.0.0.1:18099/readyz --runs 10 \
    --log "$WORK/logs/startup.log" -- "$WX" serve --config "$WORK/gw-start.toml" >"$WORK/s2.json"
  pg_schema startup 2
  gw_config "$WORK/gw-start-pg.toml" 18099 "$WORK/gw-start-pg" "$SB0" "$APP" stable "$SCHEMA_URL"
  "$LOAD" startup --url http://127.0.0.1:18099/readyz --runs 10 \
    --log "$WORK/logs/startup.log" -- "$WX" serve --config "$WORK/gw-start-pg.toml" >"$WORK/s3.json"
  note 5-startup "$(jq -s --arg load "$(load_now)" \
    '{sqlite_fresh: .[0], sqlite_existing: .[1], postgres_existing: .[2], loadavg_after: $load}' \
    "$WORK/s1.json" "$WORK/s2.json" "$WORK/s3.json")"
  jq -r '"  fresh SQLite \(.sqlite_fresh.median_ms) ms, existing \(.sqlite_existing.median_ms) ms, PostgreSQL \(.postgres_existing.median_ms) ms (medians)"' "$OUT/5-startup.json" >&2
fi

if section 1; then stop "${PHP_PIDS[@]}"; fi
if section 1 || section 4 || section 5 || section 6; then
  stop "$GW1_PID" "$NGINX_PID" "$SB0_PID"
fi

# =============================================================================================================
# 2: 10,000 verifications in flight against a 50 ms upstream.
if section 2 || section 3; then
  log "sandbox, 50 ms upstream"
  start_sandbox sandbox-50ms 18101 50 7200
  SB50=$SB_URL
  SB50_PID=$SB_PID
fi

if section 2; then
  APP2=wxbench00000000002a
  new_app "$SB50" "$APP2"
  TOKEN2=$(wechat_token "$SB50" "$APP2")
  WECHAT_PATH2="/intp/realname/checkrealnameinfo?access_token=$TOKEN2"
  gw_config "$WORK/gw-50.toml" 18085 "$WORK/gw-50" "$SB50" "$APP2" stable
  KEY2=$(api_key "$WORK/gw-50.toml" "$APP2")
  start_gateway gw-50ms "$WORK/gw-50.toml" 18085 ready
  GW2_PID=$GW_PID
  start_nginx nginx-50ms 18091 18101
  start_php php-50ms 18093 "$SB50" "$APP2"

  log "2a. $IN_FLIGHT verifications released at once (one per connection)"
  bodies "$SB50" "$APP2" wechat $IN_FLIGHT
  measure 2a-sandbox --url "$SB50$WECHAT_PATH2" --bodies "$BODIES" --connections $IN_FLIGHT --burst \
    --expect "$GOOD_WECHAT" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" wechat $IN_FLIGHT
  measure 2a-nginx --url "http://127.0.0.1:18091$WECHAT_PATH2" --bodies "$BODIES" --connections $IN_FLIGHT \
    --burst --expect "$GOOD_WECHAT" "${NGINX_WATCH[@]}" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" gateway $IN_FLIGHT
  measure 2a-php --url http://127.0.0.1:18093/ --bodies "$BODIES" --connections $IN_FLIGHT --burst \
    --expect "$GOOD_WECHAT" "${PHP_WATCH[@]}" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" gateway $IN_FLIGHT
  measure 2a-gateway --url http://127.0.0.1:18085/v1/verifications --header "Authorization: Bearer $KEY2" \
    --bodies "$BODIES" --connections $IN_FLIGHT --burst --expect "$GOOD_GATEWAY" \
    --watch "gateway=$GW2_PID" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1

  # Fresh processes for 2b, so that memory a process keeps after the burst does not count as 2b's.
  HWM_2A=$(awk '/VmHWM/ {print $2}' "/proc/$GW2_PID/status")
  stop "$GW2_PID" "$NGINX_PID" "${PHP_PIDS[@]}"
  start_gateway gw-50ms "$WORK/gw-50.toml" 18085 ready
  GW2_PID=$GW_PID
  start_nginx nginx-50ms 18091 18101
  start_php php-50ms 18093 "$SB50" "$APP2"

  # A rate every path carries with room to spare, the same for all three, so the latency is the work's, not a queue's.
  RATE2=1000
  log "2b. $IN_FLIGHT open connections, $RATE2 req/s (open loop), $DUR s each"
  n=$((RATE2 * DUR + 500))
  bodies "$SB50" "$APP2" wechat $n
  measure 2b-sandbox --url "$SB50$WECHAT_PATH2" --bodies "$BODIES" --connections $IN_FLIGHT --rate "$RATE2" \
    --duration "$DUR" --expect "$GOOD_WECHAT" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" wechat $n
  measure 2b-nginx --url "http://127.0.0.1:18091$WECHAT_PATH2" --bodies "$BODIES" --connections $IN_FLIGHT \
    --rate "$RATE2" --duration "$DUR" --expect "$GOOD_WECHAT" "${NGINX_WATCH[@]}" --watch "sandbox=$SB50_PID" \
    --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" gateway $n
  measure 2b-php --url http://127.0.0.1:18093/ --bodies "$BODIES" --connections $IN_FLIGHT --rate "$RATE2" \
    --duration "$DUR" --expect "$GOOD_WECHAT" "${PHP_WATCH[@]}" --watch "sandbox=$SB50_PID" \
    --connect-parallel 500 --settle 1
  bodies "$SB50" "$APP2" gateway $n
  measure 2b-gateway --url http://127.0.0.1:18085/v1/verifications --header "Authorization: Bearer $KEY2" \
    --bodies "$BODIES" --connections $IN_FLIGHT --rate "$RATE2" --duration "$DUR" --expect "$GOOD_GATEWAY" \
    --watch "gateway=$GW2_PID" --watch "sandbox=$SB50_PID" --connect-parallel 500 --settle 1
  note 2-gateway-peak-rss "$(jq -n --argjson a "$HWM_2A" --argjson b "$(awk '/VmHWM/ {print $2}' "/proc/$GW2_PID/status")" \
    '{burst_kb: $a, sustained_kb: $b, vm_hwm_kb: ([$a, $b] | max)}')"
  stop "$GW2_PID" "$NGINX_PID" "${PHP_PIDS[@]}"
fi

# =============================================================================================================
# 3: access-token fetches under load. Each scenario has its own app, so the sandbox's counters (deltas) are its own.
token_fetches() { # sandbox_url -> calls to both token endpoints, tokens issued, token errcodes answered
  sandbox_stats "$1" | jq -c '{fetches: (.calls.token + .calls.stable_token),
    issued: (.tokens_issued.token + .tokens_issued.stable_token),
    token_errors: ([.errcodes["40001", "42001", "40014"] // 0] | add)}'
}

gateway_fetches() { # port... -> sum of fetches the gateways' token providers report
  local p sum=0 n
  for p in "$@"; do
    n=$(curl -fsS -H "Authorization: Bearer $WXRN_BENCH_ADMIN" "http://127.0.0.1:$p/admin/api/tokens" |
      jq '[.apps[].fetches] | add')
    sum=$((sum + n))
  done
  echo "$sum"
}

token_scenario() { # name sandbox_url ttl kind instances mode(burst|expiry)
  local name=$1 sb=$2 ttl=$3 kind=$4 inst=$5 mode=$6
  local app ports=() urls=() pids=() key cfg i url prefix before after gwf
  app=wxbt-$name
  new_app "$sb" "$app"
  url=""
  prefix=""
  if ((inst > 1)); then
    # Several instances share one PostgreSQL schema (keys, audit chain) and one Redis (tokens, rate limits).
    pg_schema "${name//-/_}" 4
    url=$SCHEMA_URL
    prefix="wxrn-bench-$STAMP-$name:"
  fi
  for ((i = 0; i < inst; i++)); do
    ports+=($((18110 + i)))
    cfg=$WORK/gw-$name-$i.toml
    gw_config "$cfg" "${ports[i]}" "$WORK/gw-$name-$i" "$sb" "$app" "$kind" "$url" "$prefix" 2
  done
  key=$(api_key "$WORK/gw-$name-0.toml" "$app")
  for ((i = 0; i < inst; i++)); do
    start_gateway "gw-$name-$i" "$WORK/gw-$name-$i.toml" "${ports[i]}"
    pids+=("$GW_PID")
    urls+=(--url "http://127.0.0.1:${ports[i]}/v1/verifications")
  done
  local watch=()
  for i in "${pids[@]}"; do watch+=(--watch "gateway=$i"); done
  before=$(token_fetches "$sb")
  if [[ $mode == burst ]]; then
    bodies "$sb" "$app" gateway $IN_FLIGHT
    measure "3-$name" "${urls[@]}" --header "Authorization: Bearer $key" --bodies "$BODIES" \
      --connections $IN_FLIGHT --burst --expect "$GOOD_GATEWAY" "${watch[@]}" --connect-parallel 500 --settle 1
  else
    bodies "$sb" "$app" gateway $((300 * 14 + 500))
    measure "3-$name" "${urls[@]}" --header "Authorization: Bearer $key" --bodies "$BODIES" \
      --connections 64 --rate 300 --duration 14 --expect "$GOOD_GATEWAY" "${watch[@]}"
  fi
  after=$(token_fetches "$sb")
  gwf=$(gateway_fetches "${ports[@]}")
  note "3-$name-tokens" "$(jq -n --argjson b "$before" --argjson a "$after" --argjson gwf "$gwf" \
    --arg kind "$kind" --argjson inst "$inst" --arg mode "$mode" --argjson ttl "$ttl" \
    --slurpfile run "$OUT/3-$name.json" \
    '{kind: $kind, instances: $inst, mode: $mode, token_ttl_s: $ttl, refresh_ahead_s: 2,
      fetches: ($a.fetches - $b.fetches), issued: ($a.issued - $b.issued),
      token_errors: ($a.token_errors - $b.token_errors), gateway_reported_fetches: $gwf,
      elapsed_s: $run[0].elapsed_s, verifications: $run[0].good, errors: $run[0].errors}')"
  jq -r '"  \(.kind) x\(.instances) \(.mode): \(.fetches) upstream token fetches (gateways counted \(.gateway_reported_fetches)), \(.token_errors) token errors"' "$OUT/3-$name-tokens.json" >&2
  stop "${pids[@]}"
}

if section 3; then
  log "3. tokens: sandbox with a 6 s token lifetime, 50 ms upstream"
  start_sandbox sandbox-ttl 18102 50 6
  SBT=$SB_URL
  SBT_PID=$SB_PID
  log "3a. $IN_FLIGHT concurrent first calls on a cold gateway"
  token_scenario cold-stable "$SB50" 7200 stable 1 burst
  token_scenario cold-classic "$SB50" 7200 classic 1 burst
  token_scenario cold-stable-3pg "$SB50" 7200 stable 3 burst
  token_scenario cold-classic-3pg "$SB50" 7200 classic 3 burst
  log "3b. 14 s at 300 req/s across token expiries (lifetime 6 s, refreshed 2 s ahead)"
  token_scenario expiry-stable "$SBT" 6 stable 1 expiry
  token_scenario expiry-classic "$SBT" 6 classic 1 expiry
  token_scenario expiry-stable-3pg "$SBT" 6 stable 3 expiry
  token_scenario expiry-classic-3pg "$SBT" 6 classic 3 expiry
  stop "$SBT_PID"
fi
if section 2 || section 3; then stop "$SB50_PID"; fi
drop_schemas

# =============================================================================================================
if section criterion; then
  log "criterion: cargo bench -p identity --bench validate"
  (cd "$ROOT" && cargo bench --locked -p identity --bench validate -- --warm-up-time 1 --measurement-time 4) \
    >"$WORK/logs/criterion.log" 2>&1 || die "criterion failed: $(tail -5 "$WORK/logs/criterion.log")"
  python3 "$BENCH/report.py" criterion "$TARGET/criterion" --load "$(load_now)" >"$OUT/criterion.json"
fi

log "report"
python3 "$BENCH/report.py" tables "$OUT" >"$OUT/report.md"
if [[ -n ${BENCH_UPDATE:-} ]]; then
  python3 "$BENCH/report.py" update "$ROOT/BENCHMARKS.md" "$OUT/report.md"
fi
cat "$OUT/report.md"
exit
}
