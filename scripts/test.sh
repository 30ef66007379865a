#!/usr/bin/env bash
# Runs every test: native unit and integration tests, the client's
# component tests in headless Chromium, the end-to-end browser test against
# the real server, and the benchmark's smoke run. Installs what is missing.
source "$(dirname "$0")/lib.sh"
ensure_client_toolchain
ensure_chromium
ensure_e2e_deps
ensure_php
ensure_postgres
ensure_redis
ensure_apt curl curl

# One PostgreSQL for every test binary (each test creates its own database;
# tests that restart PostgreSQL start private servers of their own).
PG_TEST_DIR=$(mktemp -d)
chmod 755 "$PG_TEST_DIR" # the postgres user must reach its data directory
CLUSTER_PID=""
cleanup() {
  if [ -n "$CLUSTER_PID" ]; then kill -TERM "$CLUSTER_PID" 2>/dev/null || true; wait "$CLUSTER_PID" 2>/dev/null || true; fi
  stop_postgres "$PG_TEST_DIR/data"
  rm -rf "$PG_TEST_DIR"
}
trap cleanup EXIT
PG_TEST_PORT=$(free_port)
start_postgres "$PG_TEST_DIR/data" "$PG_TEST_PORT"
export CHAT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_TEST_PORT/postgres"

# Formatting is checked where rustfmt is installed (rustup's default
# profile has it); it is not worth failing a machine without it.
if cargo fmt --version >/dev/null 2>&1; then
  say "formatting (rustfmt.toml)"
  cargo fmt --all --check
fi

say "lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

say "native tests (protocol, server, client reducer)"
cargo test --workspace

say "client component tests in headless Chromium"
CHROMEDRIVER=$(command -v chromedriver) \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/client/webdriver.json" \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p client --target wasm32-unknown-unknown

build_client
cargo build --release -p server -p bench

say "end-to-end: two browsers against the real server"
node e2e/chat.e2e.mjs --server target/release/server --dist dist

say "end-to-end: 100 messages at full typing speed stay in order, with no rate refusal"
node e2e/order.e2e.mjs --server target/release/server --dist dist

say "end-to-end: phone layout, reading cues, links, notifications, keyboard, axe-core scans, README screenshots"
node e2e/ux.e2e.mjs --server target/release/server --dist dist

say "end-to-end: catch-up of 10,000 missed messages in the browser (figures for BENCHMARKS.md)"
node e2e/catchup.e2e.mjs --server target/release/server --dist dist

say "end-to-end: a message's life (edit, delete, reply, react, mention, search); an offline reader converges"
node e2e/life.e2e.mjs --server target/release/server --dist dist

say "end-to-end: the web app on a static host and embedded in a host page"
node e2e/embed.e2e.mjs --server target/release/server --dist dist

say "the PHP host examples against the real server"
bash examples/php/test.sh target/release/server

say "end-to-end: browsers on different nodes of a local cluster (scripts/cluster.sh)"
bash scripts/cluster.sh --no-build >"$PG_TEST_DIR/cluster.log" 2>&1 &
CLUSTER_PID=$!
for url in http://127.0.0.1:8080 http://127.0.0.1:8081 http://127.0.0.1:8082; do
  for _ in $(seq 1 240); do
    curl -sf "$url/healthz" >/dev/null && break
    kill -0 "$CLUSTER_PID" 2>/dev/null || { cat "$PG_TEST_DIR/cluster.log"; exit 1; }
    sleep 0.5
  done
done
node e2e/cluster.e2e.mjs --lb http://127.0.0.1:8080 --nodes http://127.0.0.1:8081,http://127.0.0.1:8082 \
  || { tail -n 40 "$PG_TEST_DIR/cluster.log"; exit 1; }
kill -TERM "$CLUSTER_PID"
wait "$CLUSTER_PID" || true
CLUSTER_PID=""

say "benchmark smoke run (the several-nodes scenarios on the test PostgreSQL, each run its own database)"
target/release/bench --smoke --server target/release/server --database-url "$CHAT_TEST_DATABASE_URL"

say "all tests passed"
