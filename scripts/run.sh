#!/usr/bin/env bash
# Builds everything and starts the chat on http://127.0.0.1:8080 with the
# embedded store (data in ./data). Extra arguments go to the server, e.g.
#   bash scripts/run.sh --listen 0.0.0.0:8080
source "$(dirname "$0")/lib.sh"
ensure_client_toolchain
build_client
say "building the server"
cargo build --release -p server
say "chat on http://${CHAT_LISTEN:-127.0.0.1:8080}  (ctrl-c to stop)"
exec target/release/server --dist-dir dist "$@"
