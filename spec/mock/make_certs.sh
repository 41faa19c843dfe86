#!/usr/bin/env bash
# Make throw-away TLS material for the Huawei API mock and the test harness.
#
#   spec/mock/make_certs.sh OUTDIR
#
# Creates in OUTDIR:
#   ca.pem, ca.key          test CA ("mmc-test-ca"); clients verify the mock with ca.pem
#   server.pem, server.key  server cert signed by the CA, SAN DNS:localhost, IP:127.0.0.1
#   other-ca.pem            an unrelated CA: a client trusting only this must refuse the mock
#   wrong-host.pem/.key     signed by the test CA but for DNS:wrong-host.invalid only, to check
#                           that a client verifies the host name and not just the chain
#   receiver.pem/.key       for a webhook receiver the mock pushes events to (an nginx on
#                           127.0.0.1): signed by the test CA, SAN DNS:localhost, IP:127.0.0.1;
#                           the mock verifies pushes against ca.pem (--push-ca)
# Everything is valid for 2 days; it is test material, never reuse it.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Quiet unless something fails: openssl prints progress dots to stderr.
run() {
    if ! "$@" >"$work/log" 2>&1; then
        cat "$work/log" >&2
        exit 1
    fi
}

# CA extensions spelled out so strict verifiers (X509_STRICT, mbedTLS, ...) accept the chain.
ca() { # name cn
    run openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 \
        -subj "/CN=$2" -keyout "$out/$1.key" -out "$out/$1.pem" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
}

leaf() { # name cn san
    run openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$2" \
        -keyout "$out/$1.key" -out "$work/$1.csr"
    cat >"$work/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$3
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
    # A random serial avoids leaving a ca.srl file behind.
    run openssl x509 -req -in "$work/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 \
        -extfile "$work/$1.ext" -out "$out/$1.pem"
}

ca ca mmc-test-ca
leaf server localhost "DNS:localhost,IP:127.0.0.1"
leaf wrong-host wrong-host.invalid "DNS:wrong-host.invalid"
leaf receiver localhost "DNS:localhost,IP:127.0.0.1"
ca other-ca mmc-other-ca
rm -f "$out/other-ca.key"   # nobody signs with it; it only has to be a CA we do not use
chmod 600 "$out"/*.key
