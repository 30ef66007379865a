#!/usr/bin/env bash
# Runs the PHP examples against a real chat server:
#   bash examples/php/test.sh [path/to/server]
# (a) page.php's token signs a user in, (b) post_message.php's message is in
# the room (once, however often it runs), (c) webhook.php receives and
# verifies a message.missed, and refuses a forged delivery.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER=$(realpath "${1:-target/release/server}")
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
CHAT_PORT=$(free_port); HOOK_PORT=$(free_port)
WORK=$(mktemp -d)
export CHAT_TOKEN_SECRET="php-example-token-secret-0123456789"
export CHAT_API_KEY="php-example-api-key-0123456789"
export CHAT_WEBHOOK_SECRET="php-example-webhook-secret"
export CHAT_URL="http://127.0.0.1:$CHAT_PORT"
export WEBHOOK_LOG="$WORK/events.log"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL - $*" >&2; exit 1; }

php -S "127.0.0.1:$HOOK_PORT" "$HERE/webhook.php" >"$WORK/php-server.log" 2>&1 & pids+=($!)
"$SERVER" --listen "127.0.0.1:$CHAT_PORT" --data-dir "$WORK/data" --log warn \
  --api-key "$CHAT_API_KEY" --webhook-url "http://127.0.0.1:$HOOK_PORT/" \
  --webhook-events message.missed --webhook-base-delay 0.2 --webhook-poll 0.1 & pids+=($!)
for _ in $(seq 200); do curl -fs "$CHAT_URL/healthz" >/dev/null && break; sleep 0.05; done
curl -fs "$CHAT_URL/healthz" >/dev/null || fail "the chat server did not start"

# (a) The page's token signs user 7 in.
token=$(php "$HERE/page.php" | grep -o 'eyJ[A-Za-z0-9_.-]*' | head -1)
[ -n "$token" ] || fail "page.php rendered no token"
node --no-warnings --experimental-websocket -e '
  const ws = new WebSocket(process.argv[1]);
  const timer = setTimeout(() => { console.error("no welcome"); process.exit(1); }, 10000);
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", protocol: 1, auth: { kind: "token", token: process.argv[2] } }));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type !== "welcome" || m.me.id !== "7" || m.me.name !== "mks" || m.project !== "2424") { console.error(e.data); process.exit(1); }
    clearTimeout(timer); ws.close(); process.exit(0);
  };
' "ws://127.0.0.1:$CHAT_PORT/ws" "$token" || fail "page.php's token did not sign user 7 in"
echo "ok   - page.php: its token signs the user in"

# (b) A system message, posted twice, is in the room once.
first=$(php "$HERE/post_message.php" 2424 "hello from PHP")
second=$(php "$HERE/post_message.php" 2424 "hello from PHP")
echo "$second" | grep -q '"duplicate":true' || fail "the repeat was not recognised: $second"
history=$(curl -fs -H "Authorization: Bearer $CHAT_API_KEY" "$CHAT_URL/api/v1/projects/2424/messages")
[ "$(echo "$history" | grep -o 'hello from PHP' | wc -l)" = 1 ] || fail "not in the room exactly once: $history"
echo "$history" | grep -q '"id":"bot:shop"' || fail "not from the bot: $history"
echo "ok   - post_message.php: the bot's message is in the room once ($first)"

# (c) A DM to an offline user becomes a verified message.missed.
curl -fs -X PUT -H "Authorization: Bearer $CHAT_API_KEY" -H 'content-type: application/json' \
  -d '{"name":"ann"}' "$CHAT_URL/api/v1/projects/2424/users/5" >/dev/null
curl -fs -X POST -H "Authorization: Bearer $CHAT_API_KEY" -H 'content-type: application/json' \
  -d '{"from":{"bot":{"id":"shop","name":"Shop"}},"to":{"kind":"direct","user":"5"},"body":"your parcel is here"}' \
  "$CHAT_URL/api/v1/projects/2424/messages" >/dev/null
for _ in $(seq 300); do grep -q 'message.missed' "$WEBHOOK_LOG" 2>/dev/null && break; sleep 0.1; done
grep -q '"type":"message.missed"' "$WEBHOOK_LOG" 2>/dev/null || fail "webhook.php logged no message.missed"
grep -q 'your parcel is here' "$WEBHOOK_LOG" || fail "the event is not about the DM: $(cat "$WEBHOOK_LOG")"
lines=$(wc -l <"$WEBHOOK_LOG")
forged=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Chat-Signature: t=$(date +%s),v1=00" \
  -d '{"id":"evt_forged","type":"message.missed"}' "http://127.0.0.1:$HOOK_PORT/")
[ "$forged" = 401 ] || fail "a forged delivery was answered $forged"
[ "$(wc -l <"$WEBHOOK_LOG")" = "$lines" ] || fail "a forged delivery was logged"
echo "ok   - webhook.php: a message.missed verified and logged, a forged one refused"
echo "php examples: 3 passed"
