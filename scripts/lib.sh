# Shared helpers for run.sh and test.sh: each ensure_* installs what is
# missing and returns at once when it is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/.tools/node_modules/.bin:$PATH"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }
}

ensure_trunk() {
  if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
    say "installing trunk $TRUNK_VERSION (about 10 minutes, once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
}

# wasm-bindgen's CLI must match the library version in Cargo.lock exactly.
ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    say "installing wasm-bindgen-cli $want"
    # Not --locked: its lock file names a crate the registry no longer has.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# wasm-opt for release builds comes from the npm package binaryen.
ensure_wasm_opt() {
  if ! wasm-opt --version 2>/dev/null | grep -q "version_${BINARYEN_VERSION%%.*}"; then
    say "installing binaryen $BINARYEN_VERSION (wasm-opt) into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "binaryen@$BINARYEN_VERSION"
  fi
}

ensure_client_toolchain() {
  ensure_wasm_target
  ensure_trunk
  ensure_wasm_bindgen
  ensure_wasm_opt
}

ensure_apt() { # ensure_apt COMMAND PACKAGE...
  local cmd=$1; shift
  if ! command -v "$cmd" >/dev/null 2>&1; then
    say "installing $* (apt)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  fi
}

ensure_chromium() {
  ensure_apt chromium chromium chromium-driver
  ensure_apt chromedriver chromium-driver
}

ensure_php() {
  ensure_apt php php-cli
}

ensure_e2e_deps() {
  if [ ! -d "$ROOT/e2e/node_modules/playwright-core" ] || [ ! -f "$ROOT/e2e/node_modules/axe-core/axe.min.js" ]; then
    say "installing the e2e test's npm packages"
    npm ci --silent --no-audit --no-fund --prefix "$ROOT/e2e"
  fi
}

build_client() {
  say "building the web client (trunk build --release)"
  trunk build --release
}

# A free TCP port on 127.0.0.1 (the kernel's choice; free when this returns).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Redis: the bus between nodes (the tests start private servers of their own).
ensure_redis() {
  ensure_apt redis-server redis-server
}

# --- PostgreSQL (the shared store for several nodes) ----------------------
# Debian's PostgreSQL refuses to run as root, so as root initdb and the
# server run as the `postgres` user, on a data directory it owns.

postgres_bindir() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && echo "$bin"
}

ensure_postgres() {
  if ! postgres_bindir >/dev/null; then
    say "installing postgresql (apt)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  fi
}

as_postgres() { # as_postgres COMMAND...: as the postgres user when root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT: a private server on 127.0.0.1:PORT with its data
# in DIR (created and initialised on first use, kept afterwards). The
# database URL is postgres://postgres@127.0.0.1:PORT/postgres.
start_postgres() {
  local dir=$1 port=$2 bin
  bin=$(postgres_bindir)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$dir" -A trust -U postgres -E UTF8 >/dev/null
  fi
  say "starting PostgreSQL on 127.0.0.1:$port (data in $dir)"
  as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -h 127.0.0.1 -k $dir -c max_connections=300" start >/dev/null
}

# stop_postgres DIR: a fast shutdown (committed data is kept); quiet when
# it is not running.
stop_postgres() {
  local dir=$1 bin
  bin=$(postgres_bindir) || return 0
  [ -f "$dir/postmaster.pid" ] || return 0
  as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
}
