#!/usr/bin/env bash
# Runs every test: native unit and integration tests, the client's
# component tests in headless Chromium, the end-to-end browser test against
# the real server, and the benchmark's smoke run. Installs what is missing.
source "$(dirname "$0")/lib.sh"
ensure_client_toolchain
ensure_chromium
ensure_e2e_deps
ensure_php

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

say "end-to-end: the web app on a static host and embedded in a host page"
node e2e/embed.e2e.mjs --server target/release/server --dist dist

say "the PHP host examples against the real server"
bash examples/php/test.sh target/release/server

say "benchmark smoke run"
target/release/bench --smoke --server target/release/server

say "all tests passed"
