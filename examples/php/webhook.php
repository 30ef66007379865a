<?php
// (c) Receives the chat server's webhooks: verifies the signature and the
// timestamp, ignores events already handled (delivery is at least once),
// then acts on the event (here: appends it to a log file).
//
//   CHAT_WEBHOOK_SECRET=… WEBHOOK_LOG=/tmp/events.log php -S 127.0.0.1:8090 webhook.php
// and start the chat server with --webhook-url http://127.0.0.1:8090/ --webhook-secret …

declare(strict_types=1);
require __DIR__ . '/chat.php';

$secret = getenv('CHAT_WEBHOOK_SECRET') ?: '';
$log = getenv('WEBHOOK_LOG') ?: sys_get_temp_dir() . '/chat-webhooks.log';
$body = file_get_contents('php://input');
$signature = $_SERVER['HTTP_CHAT_SIGNATURE'] ?? '';

if ($secret === '' || !chat_verify_webhook($secret, $signature, $body)) {
    http_response_code(401);
    echo "bad signature\n";
    exit;
}
$event = json_decode($body, true);
if (!is_array($event) || !isset($event['id'], $event['type'])) {
    http_response_code(400);
    exit;
}
// At least once: the same event id may come again. Handle each once.
$seen = is_file($log) ? file($log, FILE_IGNORE_NEW_LINES) : [];
foreach ($seen as $line) {
    if ((json_decode($line, true)['id'] ?? null) === $event['id']) {
        http_response_code(200);
        exit;
    }
}
if ($event['type'] === 'message.missed') {
    // Here a real application sends a push notification or an e-mail to
    // $event['payload']['recipient'] about $event['payload']['message'].
}
file_put_contents($log, json_encode($event) . "\n", FILE_APPEND | LOCK_EX);
http_response_code(204);
