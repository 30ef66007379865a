#!/usr/bin/env bash
# A local cluster on this machine: PostgreSQL, Redis, three chat nodes and
# haproxy on http://127.0.0.1:8080 in front of them. Installs what is
# missing; data stays in ./.cluster (ignored by git) across runs. Ctrl-C
# stops everything it started.
#   bash scripts/cluster.sh             build, then run
#   bash scripts/cluster.sh --no-build  run what target/release and dist hold
source "$(dirname "$0")/lib.sh"

LB=127.0.0.1:8080
PG_PORT=${CHAT_CLUSTER_PG_PORT:-55432}
REDIS_PORT=${CHAT_CLUSTER_REDIS_PORT:-56379}
NODE_PORTS=(8081 8082 8083)
DIR="$ROOT/.cluster"

ensure_postgres
ensure_redis
ensure_apt haproxy haproxy
if [ "${1:-}" != "--no-build" ]; then
  ensure_client_toolchain
  build_client
  say "building the server"
  cargo build --release -p server
fi

mkdir -p "$DIR"
chmod 755 "$DIR" # the postgres user must reach its data directory
# Every node must share the token secret: one is made on the first run.
[ -s "$DIR/token.secret" ] || head -c 32 /dev/urandom | base64 >"$DIR/token.secret"
chmod 600 "$DIR/token.secret"

pids=()
stopping=""
stop_all() {
  [ -z "$stopping" ] || return 0
  stopping=1
  say "stopping the cluster"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_postgres "$DIR/postgres"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start_postgres "$DIR/postgres" "$PG_PORT"
if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'chat'" | grep -q 1; then
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE chat"
fi

say "starting Redis on 127.0.0.1:$REDIS_PORT"
mkdir -p "$DIR/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --save "" --appendonly no \
  --loglevel warning &
pids+=($!)

export CHAT_TOKEN_SECRET
CHAT_TOKEN_SECRET=$(cat "$DIR/token.secret")
for i in "${!NODE_PORTS[@]}"; do
  port=${NODE_PORTS[$i]}
  say "starting node $((i + 1)) on 127.0.0.1:$port"
  CHAT_LOG=${CHAT_LOG:-warn,server=info} target/release/server \
    --listen "127.0.0.1:$port" --dist-dir dist --data-dir "$DIR/node$((i + 1))" \
    --database-url "postgres://postgres@127.0.0.1:$PG_PORT/chat" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" &
  pids+=($!)
done

{
  cat <<EOF
global
    # two descriptors per proxied connection, within the usual 20,000 limit
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
frontend chat
    bind $LB
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
EOF
  for i in "${!NODE_PORTS[@]}"; do
    echo "    server node$((i + 1)) 127.0.0.1:${NODE_PORTS[$i]} check inter 2s"
  done
} >"$DIR/haproxy.cfg"
say "starting haproxy on http://$LB"
haproxy -f "$DIR/haproxy.cfg" -db &
pids+=($!)

say "chat on http://$LB through three nodes (ctrl-c to stop)"
# Runs until ctrl-c, or until one part stops by itself (then all stop).
wait -n "${pids[@]}"
