#!/usr/bin/env bash
# Writes a throwaway PKI for TLS tests into DIR (created if missing):
#   ca.pem ca.key              the CA the server trusts for client certs
#   server.pem server.key      for localhost / 127.0.0.1, signed by the CA
#   alice.pem alice.key        client certificate, CN=alice, signed by the CA
#   bob.pem bob.key            client certificate, CN=bob, signed by the CA
#   rogue-ca.pem rogue.pem rogue.key   a client certificate from another CA
#   nobody, somebody-else      client certificates with no CN and no SAN
#                              (subjects O=nobody, O=somebody-else)
#   comma-san                  one SAN, DNS:"alice,bob" (subject O=comma)
#   two-sans                   two SANs, DNS:alice and DNS:bob (O=two)
# Keys are P-256 (fast to make); everything is valid for 2 days.
set -euo pipefail
dir=${1:?usage: make_test_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {  # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days 2 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

make_leaf() {  # name subject ca extensions
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
    -days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

make_ca ca "/CN=tensorops test CA"
make_ca rogue-ca "/CN=rogue CA"
make_leaf server "/CN=localhost" ca \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
for who in alice bob; do
  make_leaf "$who" "/CN=$who" ca "extendedKeyUsage=clientAuth"
done
make_leaf rogue "/CN=alice" rogue-ca "extendedKeyUsage=clientAuth"
make_leaf nobody "/O=nobody" ca "extendedKeyUsage=clientAuth"
make_leaf somebody-else "/O=somebody-else" ca "extendedKeyUsage=clientAuth"
# A section holds a DNS name with a comma in it as one name.
make_leaf comma-san "/O=comma" ca "subjectAltName=@names
extendedKeyUsage=clientAuth
[names]
DNS.1 = alice,bob"
make_leaf two-sans "/O=two" ca "subjectAltName=DNS:alice,DNS:bob
extendedKeyUsage=clientAuth"
