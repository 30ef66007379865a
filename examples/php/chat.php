<?php
// The chat server from a PHP application: plain PHP, no Composer.
// Include this file; see README.md next to it.

declare(strict_types=1);

function chat_base64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/**
 * A chat token for one of your users: an HS256 JWT signed with the secret
 * you share with the chat server (CHAT_TOKEN_SECRET). It carries `iat`, so
 * it keeps working after the user was signed out through the API.
 */
function chat_token(string $secret, string $user, string $name, string $project, int $ttl = 3600, ?string $color = null): string
{
    $now = time();
    $claims = ['sub' => $user, 'name' => $name, 'project' => $project, 'iat' => $now, 'exp' => $now + $ttl];
    if ($color !== null) {
        $claims['color'] = $color;
    }
    $header = chat_base64url(json_encode(['alg' => 'HS256', 'typ' => 'JWT']));
    $payload = chat_base64url(json_encode($claims));
    $signature = chat_base64url(hash_hmac('sha256', "$header.$payload", $secret, true));
    return "$header.$payload.$signature";
}

/**
 * One call to the chat server's HTTP API (API.md). Returns [status, decoded JSON].
 */
function chat_api(string $base, string $key, string $method, string $path, ?array $body = null): array
{
    $headers = "Authorization: Bearer $key\r\nContent-Type: application/json\r\n";
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => $headers,
        'content' => $body === null ? '' : json_encode($body),
        'ignore_errors' => true, // read the JSON error of a 4xx as well
        'timeout' => 10,
    ]]);
    $response = file_get_contents(rtrim($base, '/') . '/api/v1' . $path, false, $context);
    if ($response === false) {
        throw new RuntimeException("the chat server did not answer $method $path");
    }
    $status = 0;
    foreach ($http_response_header as $line) {
        if (preg_match('#^HTTP/\S+ (\d{3})#', $line, $m)) {
            $status = (int) $m[1];
        }
    }
    return [$status, json_decode($response, true)];
}

/**
 * Checks a webhook delivery: `Chat-Signature: t=<unix seconds>,v1=<hex>`
 * is HMAC-SHA256 of "<t>.<raw body>" with the webhook secret, compared in
 * constant time, and `t` is within the replay window (5 minutes).
 */
function chat_verify_webhook(string $secret, string $header, string $body, ?int $now = null, int $window = 300): bool
{
    $fields = [];
    foreach (explode(',', $header) as $part) {
        [$k, $v] = array_pad(explode('=', trim($part), 2), 2, '');
        $fields[$k] = $v;
    }
    if (!isset($fields['t'], $fields['v1']) || !ctype_digit($fields['t'])) {
        return false;
    }
    $t = (int) $fields['t'];
    if (abs(($now ?? time()) - $t) > $window) {
        return false;
    }
    $expected = hash_hmac('sha256', $fields['t'] . '.' . $body, $secret);
    return hash_equals($expected, $fields['v1']);
}
