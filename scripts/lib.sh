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
  if [ ! -d "$ROOT/e2e/node_modules/playwright-core" ]; then
    say "installing the e2e test's npm packages"
    npm ci --silent --no-audit --no-fund --prefix "$ROOT/e2e"
  fi
}

build_client() {
  say "building the web client (trunk build --release)"
  trunk build --release
}
