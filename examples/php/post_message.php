<?php
// (b) Posts a system message ("your order shipped") into a project's room
// through the chat server's HTTP API, as a bot users see as such.
//
//   CHAT_URL=http://127.0.0.1:8080 CHAT_API_KEY=… php post_message.php [project] [text]

declare(strict_types=1);
require __DIR__ . '/chat.php';

$base = getenv('CHAT_URL') ?: 'http://127.0.0.1:8080';
$key = getenv('CHAT_API_KEY') ?: exit("set CHAT_API_KEY\n");
$project = $argv[1] ?? '2424';
$text = $argv[2] ?? 'Your order #1001 has shipped.';

[$status, $answer] = chat_api($base, $key, 'POST', "/projects/$project/messages", [
    'from' => ['bot' => ['id' => 'shop', 'name' => 'Shop', 'color' => '#aa3300']],
    'to' => ['kind' => 'room'],
    'body' => $text,
    // The same client_id is stored once: retrying after a timeout is safe.
    'client_id' => 'order-1001-shipped',
]);
if ($status !== 201 && $status !== 200) {
    fwrite(STDERR, "posting failed: $status " . json_encode($answer) . "\n");
    exit(1);
}
echo json_encode($answer), "\n";
