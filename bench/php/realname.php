<?php
// The seed's flow as an endpoint: what an integrator following WeChat's guide (shared/seed) would deploy instead
// of wxrealname, measured as a peer in bench/run.sh. It does what the guide's sample does, with the three
// corrections any serious deployment needs and the issue asks for: TLS verification on (the sample turns host
// checking off), the access token cached in a file shared by every php-fpm worker (not fetched per request), and
// one refresh-and-resend when WeChat says the token is invalid (40001, 40014, 42001).
// No validation, no replay guard, no audit trail, no limits: those are what wxrealname adds.
//
// php-fpm passes the configuration in its environment: WX_BASE (the WeChat base URL), WX_APPID, WX_SECRET,
// WX_TOKEN_FILE. The request body is the gateway's own: {"openid", "real_name", "cred_id", "code", ...}.

declare(strict_types=1);

const REFRESH_ERRCODES = [40001, 40014, 42001];

function fail(int $status, string $message): never
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode(['error' => $message]);
    exit;
}

/** One HTTPS (or HTTP, for the sandbox) call with the certificate and host checked; the decoded JSON answer. */
function call(string $url, ?string $json): array
{
    $ch = curl_init($url);
    curl_setopt_array($ch, [
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_SSL_VERIFYPEER => true,
        CURLOPT_SSL_VERIFYHOST => 2,
        CURLOPT_CONNECTTIMEOUT_MS => 2000,
        CURLOPT_TIMEOUT_MS => 5000,
    ]);
    if ($json !== null) {
        curl_setopt_array($ch, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $json,
            CURLOPT_HTTPHEADER => ['Content-Type: application/json'],
        ]);
    }
    $body = curl_exec($ch);
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
    if ($body === false || $status !== 200) {
        fail(502, 'WeChat did not answer');
    }
    $answer = json_decode($body, true);
    if (!is_array($answer)) {
        fail(502, 'WeChat answered something unreadable');
    }
    return $answer;
}

/**
 * The cached access token, or a new one. The cache is a file every worker shares: read under a shared lock;
 * refreshed under an exclusive one, after checking that another worker has not refreshed it meanwhile.
 * $failed is the token WeChat just refused: only that one is replaced.
 */
function token(?string $failed = null): string
{
    $fp = fopen(getenv('WX_TOKEN_FILE'), 'c+');
    if ($fp === false) {
        fail(500, 'token cache unavailable');
    }
    $read = function () use ($fp): ?array {
        rewind($fp);
        $cached = json_decode(stream_get_contents($fp) ?: 'null', true);
        return is_array($cached) ? $cached : null;
    };
    $usable = fn (?array $c) => $c !== null && $c['expires_at'] > time() + 60 && $c['token'] !== $failed;

    flock($fp, LOCK_SH);
    $cached = $read();
    flock($fp, LOCK_UN);
    if ($usable($cached)) {
        fclose($fp);
        return $cached['token'];
    }
    flock($fp, LOCK_EX);
    $cached = $read();
    if (!$usable($cached)) {
        $query = http_build_query([
            'grant_type' => 'client_credential',
            'appid' => getenv('WX_APPID'),
            'secret' => getenv('WX_SECRET'),
        ]);
        $got = call(getenv('WX_BASE') . '/cgi-bin/token?' . $query, null);
        if (!isset($got['access_token'])) {
            flock($fp, LOCK_UN);
            fclose($fp);
            fail(502, 'no access token');
        }
        $cached = ['token' => $got['access_token'], 'expires_at' => time() + (int) ($got['expires_in'] ?? 7200)];
        ftruncate($fp, 0);
        rewind($fp);
        fwrite($fp, json_encode($cached));
        fflush($fp);
    }
    flock($fp, LOCK_UN);
    fclose($fp);
    return $cached['token'];
}

$req = json_decode(file_get_contents('php://input') ?: '', true);
if (!is_array($req)) {
    fail(400, 'a JSON body is expected');
}
$check = json_encode([
    'openid' => (string) ($req['openid'] ?? ''),
    'real_name' => (string) ($req['real_name'] ?? ''),
    'cred_id' => (string) ($req['cred_id'] ?? ''),
    'cred_type' => '1',
    'code' => (string) ($req['code'] ?? ''),
], JSON_UNESCAPED_UNICODE);
$url = getenv('WX_BASE') . '/intp/realname/checkrealnameinfo?access_token=';

$token = token();
$answer = call($url . urlencode($token), $check);
if (in_array($answer['errcode'] ?? 0, REFRESH_ERRCODES, true)) {
    $answer = call($url . urlencode(token($token)), $check);
}
header('Content-Type: application/json');
echo json_encode($answer, JSON_UNESCAPED_UNICODE);
