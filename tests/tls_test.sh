#!/usr/bin/env bash
# tls_test.sh - coro_tls.h against peers nobody here wrote. Makes a throwaway CA and
# certificates with the openssl tool (a leaf for localhost and 127.0.0.1, an expired one, a
# self-signed one, one for another name), runs tests/test_tls.c with them (our server against
# our client, the verification failures, stalls), then:
#   - curl and `openssl s_client` against examples/tls_hello's server (our accept side),
#   - examples/tls_hello's client against `openssl s_server -www` (our connect side),
#   - that client refusing s_server's certificate without the test CA,
#   - httpd_tls (examples/httpd.c built with TLS) against curl and s_client, and fetch_tls
#     against s_server -www and httpd_tls (when they are built).
# Prints "ok"/"FAIL" per check and "N passed, M failed" (the C test's counts added in).
# SKIPPED (with 0 passed, 0 failed) where OpenSSL or the binaries are absent.
#   usage: tests/tls_test.sh BUILD_DIR   (BUILD_DIR/tests/test_tls, BUILD_DIR/examples/tls_hello)
set -u
out=${1:?usage: $0 BUILD_DIR}
. "$(dirname "$0")/ext_lib.sh"
command -v openssl >/dev/null 2>&1 ||
    ext_skip "coro_tls tests" "the openssl command is not installed"
ext_need_built "coro_tls tests" "pkg-config finds no openssl: install libssl-dev" \
    tests/test_tls examples/tls_hello
ext_init tls_test

# ---- certificates (P-256 keys: quick to make) ----
mk() { # mk NAME SUBJECT_CN SAN [startdate enddate]: a key, and a leaf signed by the test CA
    local name=$1 cn=$2 san=$3
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/$name.key" \
        -out "$tmp/$name.csr" -subj "/CN=$cn" 2>/dev/null || return 1
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" >"$tmp/$name.ext"
    if [ $# -ge 5 ]; then
        openssl ca -batch -config "$tmp/ca.cnf" -cert "$tmp/ca.pem" -keyfile "$tmp/ca.key" \
            -in "$tmp/$name.csr" -out "$tmp/$name.pem" -startdate "$4" -enddate "$5" -notext \
            -extfile "$tmp/$name.ext" >/dev/null 2>&1
    else
        openssl x509 -req -in "$tmp/$name.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
            -CAcreateserial -days 2 -extfile "$tmp/$name.ext" -out "$tmp/$name.pem" 2>/dev/null
    fi
}
mkdir -p "$tmp/db"
: >"$tmp/db/index"
echo 01 >"$tmp/db/serial"
cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $tmp/db/index
serial = $tmp/db/serial
new_certs_dir = $tmp/db
default_md = sha256
policy = p
[p]
commonName = supplied
EOF
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" \
        -out "$tmp/ca.pem" -days 2 -subj "/CN=coro test CA" 2>/dev/null &&
    mk leaf localhost "DNS:localhost,IP:127.0.0.1" &&
    mk other other.example "DNS:other.example" &&
    mk old localhost "DNS:localhost,IP:127.0.0.1" 20200101000000Z 20200102000000Z &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/self.key" \
        -out "$tmp/self.pem" -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null; then
    ok "certificates made with openssl"
else
    fail "certificates" "openssl could not make them"
    echo "$passed passed, $failed failed"
    exit 1
fi

# ---- our client and server, in one process ----
ext_suite test_tls 0 "$out/tests/test_tls" "$tmp"

# ---- our server (tls_hello serve) against curl and openssl s_client ----
: >"$tmp/srv.out"
${wrap[@]+"${wrap[@]}"} "$out/examples/tls_hello" serve "$tmp/leaf.pem" "$tmp/leaf.key" \
    >"$tmp/srv.out" 2>"$tmp/srv.err" &
srv=$!
port=
for ((i = 0; i < 100 * slow; i++)); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/srv.out")
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail "tls_hello serve starts" "no 'listening on' line: $(tail -n 2 "$tmp/srv.err")"
else
    ok "tls_hello serve starts"
    if command -v curl >/dev/null 2>&1; then
        body=$(curl -sS --max-time $((10 * slow)) --cacert "$tmp/ca.pem" \
            "https://localhost:$port/curl" 2>&1)
        case $body in
        *"hello over TLS"*"/curl"*) ok "curl (verifying) against our server" ;;
        *) fail "curl against our server" "$body" ;;
        esac
        body=$(curl -sS --max-time $((10 * slow)) --http1.1 --cacert "$tmp/ca.pem" \
            "https://127.0.0.1:$port/ip" 2>&1)
        case $body in
        *"alpn http/1.1"*) ok "curl by IP address, ALPN http/1.1" ;;
        *) fail "curl by IP address" "$body" ;;
        esac
    else
        echo "SKIPPED curl against our server: curl not installed"
    fi
    resp=$(printf 'GET /s_client HTTP/1.0\r\n\r\n' | timeout $((10 * slow)) openssl s_client \
        -connect "127.0.0.1:$port" -servername localhost -verify_return_error \
        -CAfile "$tmp/ca.pem" -quiet 2>&1)
    case $resp in
    *"hello over TLS"*"/s_client"*) ok "openssl s_client (verifying) against our server" ;;
    *) fail "openssl s_client against our server" "$(printf '%s' "$resp" | tail -n 2)" ;;
    esac
    resp=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout $((10 * slow)) openssl s_client \
        -connect "127.0.0.1:$port" -tls1_2 -quiet 2>&1)
    case $resp in
    *"hello over TLS"*) ok "openssl s_client with TLS 1.2" ;;
    *) fail "openssl s_client -tls1_2" "$(printf '%s' "$resp" | tail -n 2)" ;;
    esac
    kill -TERM "$srv" 2>/dev/null
    for ((i = 0; i < 50 * slow; i++)); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    wait "$srv"
    rc=$?
    if [ $rc -eq 0 ]; then ok "tls_hello serve exits 0 on SIGTERM"; else
        fail "tls_hello serve exit" "status $rc: $(tail -n 3 "$tmp/srv.err")"; fi
fi

# ---- our client (tls_hello get) against openssl s_server -www ----
openssl s_server -www -accept 127.0.0.1:0 -cert "$tmp/leaf.pem" -key "$tmp/leaf.key" \
    >"$tmp/ss.out" 2>&1 &
ss=$!
port=
for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$tmp/ss.out")
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail "openssl s_server starts" "$(tail -n 2 "$tmp/ss.out")"
else
    resp=$(timeout $((20 * slow)) ${wrap[@]+"${wrap[@]}"} "$out/examples/tls_hello" get localhost \
        "$port" / "$tmp/ca.pem" 2>&1)
    rc=$?
    case $rc:$resp in
    0:*"HTTP/1.0 200 ok"*"s_server"*) ok "our client (verifying) against openssl s_server -www" ;;
    *) fail "our client against s_server" "exit $rc: $(printf '%s' "$resp" | tail -n 2)" ;;
    esac
    resp=$(timeout $((20 * slow)) ${wrap[@]+"${wrap[@]}"} "$out/examples/tls_hello" get 127.0.0.1 \
        "$port" / 2>&1)
    rc=$?
    case $rc:$resp in
    1:*"certificate verify failed"*) ok "our client refuses s_server's certificate without the CA" ;;
    *) fail "our client without the CA" "exit $rc: $(printf '%s' "$resp" | tail -n 2)" ;;
    esac
    kill -TERM "$ss" 2>/dev/null
    wait "$ss" 2>/dev/null
fi
# ---- the examples built with TLS: httpd_tls against curl and s_client, fetch_tls against
# s_server -www and httpd_tls ----
if [ -x "$out/examples/httpd_tls" ] && [ -x "$out/examples/fetch_tls" ]; then
    mkdir -p "$tmp/www"
    head -c 300000 /dev/urandom >"$tmp/www/big.bin"
    echo "small file" >"$tmp/www/small.txt"
    : >"$tmp/httpd.out"
    ${wrap[@]+"${wrap[@]}"} "$out/examples/httpd_tls" --tls "$tmp/leaf.pem" "$tmp/leaf.key" -p 0 \
        -d "$tmp/www" >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
    hpid=$!
    port=
    for ((i = 0; i < 100 * slow; i++)); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/httpd.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        fail "httpd_tls --tls starts" "no 'listening on' line: $(tail -n 2 "$tmp/httpd.err")"
    else
        ok "httpd_tls --tls starts"
        if command -v curl >/dev/null 2>&1; then
            res=$(curl -sS --max-time $((10 * slow)) --cacert "$tmp/ca.pem" -o "$tmp/small.got" \
                -o "$tmp/big.got" -w '%{http_code} %{num_connects}|' \
                "https://localhost:$port/small.txt" "https://localhost:$port/big.bin" 2>&1)
            if [ "$res" = "200 1|200 0|" ] && cmp -s "$tmp/big.got" "$tmp/www/big.bin" &&
                cmp -s "$tmp/small.got" "$tmp/www/small.txt"; then
                ok "curl (verifying) against httpd_tls: two files on one kept connection"
            else
                fail "curl against httpd_tls" "$res"
            fi
            res=$(curl -sS --max-time $((10 * slow)) --cacert "$tmp/ca.pem" -r 2-6 \
                "https://127.0.0.1:$port/small.txt" 2>&1)
            if [ "$res" = "all f" ]; then ok "curl range request over TLS by IP address"; else
                fail "curl range over TLS" "$res"; fi
        fi
        resp=$(printf 'GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
            timeout $((10 * slow)) openssl s_client -connect "127.0.0.1:$port" -servername localhost \
            -verify_return_error -CAfile "$tmp/ca.pem" -quiet 2>&1)
        case $resp in
        *"HTTP/1.1 200"*"small file"*) ok "openssl s_client (verifying) against httpd_tls" ;;
        *) fail "openssl s_client against httpd_tls" "$(printf '%s' "$resp" | tail -n 2)" ;;
        esac
        res=$(SSL_CERT_FILE="$tmp/ca.pem" timeout $((60 * slow)) ${wrap[@]+"${wrap[@]}"} \
            "$out/examples/fetch_tls" -q -c 10 -n 200 "https://localhost:$port/small.txt" 2>&1)
        rc=$?
        case $rc:$res in
        0:*"requests 200 errors 0 "*) ok "fetch_tls: 200 requests from 10 workers against httpd_tls" ;;
        *) fail "fetch_tls against httpd_tls" "exit $rc: $(printf '%s' "$res" | tail -n 2)" ;;
        esac
        res=$(timeout $((30 * slow)) ${wrap[@]+"${wrap[@]}"} "$out/examples/fetch_tls" \
            "https://localhost:$port/small.txt" 2>&1)
        rc=$?
        case $rc:$res in
        1:*"certificate verify failed"*"errors 1 "*) ok "fetch_tls refuses an unknown CA, saying why" ;;
        *) fail "fetch_tls with an unknown CA" "exit $rc: $(printf '%s' "$res" | tail -n 2)" ;;
        esac
        kill -TERM "$hpid" 2>/dev/null
        for ((i = 0; i < 50 * slow; i++)); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
        wait "$hpid"
        rc=$?
        if [ $rc -eq 0 ]; then ok "httpd_tls exits 0 on SIGTERM"; else
            fail "httpd_tls exit" "status $rc: $(tail -n 3 "$tmp/httpd.err")"; fi
    fi
    openssl s_server -www -accept 127.0.0.1:0 -cert "$tmp/leaf.pem" -key "$tmp/leaf.key" \
        >"$tmp/ss2.out" 2>&1 &
    ss=$!
    port=
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$tmp/ss2.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    res=$(SSL_CERT_FILE="$tmp/ca.pem" timeout $((30 * slow)) ${wrap[@]+"${wrap[@]}"} \
        "$out/examples/fetch_tls" "https://localhost:$port/" 2>&1)
    rc=$?
    case $rc:$res in
    0:*"200 bytes="*"requests 1 errors 0 "*) ok "fetch_tls (verifying) against openssl s_server -www" ;;
    *) fail "fetch_tls against s_server" "exit $rc: $(printf '%s' "$res" | tail -n 2)" ;;
    esac
    kill -TERM "$ss" 2>/dev/null
    wait "$ss" 2>/dev/null
else
    echo "SKIPPED httpd_tls and fetch_tls checks: not built"
fi

ext_done
