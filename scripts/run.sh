#!/usr/bin/env bash
# Builds everything and starts the chat on http://127.0.0.1:8080 with the
# embedded store (data in ./data). Extra arguments go to the server, e.g.
#   bash scripts/run.sh --listen 0.0.0.0:8080
source "$(dirname "$0")/lib.sh"
ensure_client_toolchain
build_client
say "building the server"
cargo build --release -p server
# The address to announce: --listen from the arguments, else CHAT_LISTEN,
# else the server's default.
addr=${CHAT_LISTEN:-127.0.0.1:8080}
prev=""
for arg in "$@"; do
  case "$arg" in
    --listen=*) addr=${arg#--listen=} ;;
    *) [ "$prev" = "--listen" ] && addr=$arg ;;
  esac
  prev=$arg
done
say "chat on http://$addr  (ctrl-c to stop)"
exec target/release/server --dist-dir dist "$@"
