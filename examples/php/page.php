<?php
// (a) A page of the host application that embeds the chat for the signed-in
// user: the token is minted here, on the server, and handed to the chat's
// iframe by postMessage, never in a URL.
//
//   CHAT_TOKEN_SECRET=… CHAT_APP_URL=https://chat.example.com php page.php
// or served: php -S 127.0.0.1:8000 page.php

declare(strict_types=1);
require __DIR__ . '/chat.php';

$secret = getenv('CHAT_TOKEN_SECRET') ?: exit("set CHAT_TOKEN_SECRET\n");
// Where the chat web app is served (the chat server itself, or a static host).
$app = rtrim(getenv('CHAT_APP_URL') ?: 'http://127.0.0.1:8080', '/');

// Your application knows who is signed in; here, a fixed user.
$user = ['id' => '7', 'name' => 'mks', 'project' => '2424'];
$token = chat_token($secret, $user['id'], $user['name'], $user['project'], 3600);
$h = fn(string $s): string => htmlspecialchars($s, ENT_QUOTES);
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>My application</title></head>
<body>
  <h1>Hello, <?= $h($user['name']) ?></h1>
  <iframe id="chat" src="<?= $h($app) ?>/" style="width: 380px; height: 520px; border: 0"
          title="Chat"></iframe>
  <script>
    const chat = document.getElementById('chat');
    const origin = <?= json_encode($app) ?>;
    window.addEventListener('message', (event) => {
      if (event.origin !== origin || !event.data || event.data.type !== 'chat-ready') return;
      const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
      chat.contentWindow.postMessage({ type: 'chat-theme', scheme: dark ? 'dark' : 'light' }, origin);
      chat.contentWindow.postMessage({ type: 'chat-token', token: <?= json_encode($token) ?>, project: <?= json_encode($user['project']) ?> }, origin);
    });
  </script>
</body>
</html>
