#!/usr/bin/env bash
# Build with the openssl command line (and keytool for the truststore) the
# same files that 'mtls pki init --dir OUTDIR' writes, for readers who want
# to see, or must use, the classic recipe. Each step names the matching
# part of 'mtls pki init'.
#
# Usage: scripts/openssl-pki.sh [--force] OUTDIR
#
# Writes into OUTDIR (created with mode 0700):
#   ca.crt ca.key server.crt server.key client.crt client.key
#   server.p12 client.p12 truststore.p12 p12.password
#   ca.passphrase   the passphrase that encrypts ca.key
#
# Differences from 'mtls pki init', on purpose:
#   - The CA key is RSA 4096 and always encrypted, and the leaf keys are
#     RSA 2048, as this recipe is usually written. 'mtls pki init' uses
#     ECDSA P-256 unless --key-type selects another type, and encrypts ca.key only
#     with --ca-passphrase-file.
#   - Serial numbers come from 'openssl ca -rand_serial': 159 random bits
#     instead of 128.
#
# Needs: OpenSSL 3 (1.1.1 works too), keytool for truststore.p12 (OpenSSL
# 3.2 and later can make it instead), GNU or BSD date.
set -euo pipefail

force=false
if [[ "${1:-}" == "--force" ]]; then
	force=true
	shift
fi
if [[ $# -ne 1 || -z "$1" ]]; then
	echo "usage: $0 [--force] OUTDIR" >&2
	exit 2
fi
out=$1

# Same names as 'mtls pki init'.
files=(ca.crt ca.key server.crt server.key client.crt client.key server.p12 client.p12 truststore.p12 p12.password ca.passphrase)

# Like 'mtls pki init': refuse to replace existing keys unless --force.
if ! $force; then
	existing=()
	for f in "${files[@]}"; do
		[[ -e "$out/$f" ]] && existing+=("$out/$f")
	done
	if ((${#existing[@]})); then
		echo "openssl-pki: file already exists: ${existing[*]} (use --force to overwrite, or choose another directory)" >&2
		exit 1
	fi
fi

command -v openssl >/dev/null || {
	echo "openssl-pki: openssl not found: install it (Debian: apt-get install openssl)" >&2
	exit 1
}

# Every file is created readable by the owner only. Certificates are made
# world-readable at the end, as 'mtls pki init' writes them with 0644.
umask 077
mkdir -p "$out"
chmod 700 "$out"
out=$(cd "$out" && pwd)

# Work in a scratch directory and move the finished files into OUTDIR at
# the end, so that a failed step leaves nothing half-made there.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# quiet runs a command that chatters on stderr ('openssl ca' prints the
# whole request), and shows that output only when the command fails.
quiet() {
	if ! "$@" 2>"$work/stderr.log"; then
		cat "$work/stderr.log" >&2
		echo "openssl-pki: failed: $*" >&2
		exit 1
	fi
}

# NotBefore five minutes in the past, against clock skew between machines
# (pki.DefaultBackdate). 'openssl x509 -req' cannot backdate before OpenSSL
# 3.4, which is why the certificates are signed with 'openssl ca'.
start=$(date -u -d '-5 minutes' +%Y%m%d%H%M%SZ 2>/dev/null || date -u -v-5M +%Y%m%d%H%M%SZ)

# --- Step 1: secrets --------------------------------------------------------
# 'mtls pki init' generates the PKCS#12 password (24 random bytes) into
# p12.password when --p12-password-file is not given, and takes the CA
# passphrase from --ca-passphrase-file. Here both are generated.
openssl rand -base64 32 >ca.passphrase
openssl rand -base64 24 | tr '+/' '-_' >p12.password

# --- Step 2: the CA key -----------------------------------------------------
# RSA 4096 stored as encrypted PKCS#8: PBES2 with AES-256-CBC and
# PBKDF2-HMAC-SHA256, the format 'mtls pki init --ca-passphrase-file'
# writes.
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:4096 \
	-aes-256-cbc -pass file:ca.passphrase -out ca.key

# --- Step 3: the CA certificate ----------------------------------------------
# The configuration of this small CA: where 'openssl ca' keeps its
# database, and the extensions of each kind of certificate. pki.NewCA and
# CA.Issue set the same ones.
mkdir newcerts
: >index.txt
cat >openssl.cnf <<'EOF'
[ca]
default_ca = demo_ca

[demo_ca]
dir              = .
database         = ./index.txt
new_certs_dir    = ./newcerts
# Required by 'openssl ca' but unused: -rand_serial draws every serial.
serial           = ./serial
default_md       = sha256
policy           = policy_cn
unique_subject   = no
# The CA decides the extensions; none are copied from a request.
copy_extensions  = none

[policy_cn]
organizationName = optional
commonName       = supplied

[req]
distinguished_name = req_dn
prompt             = no

[req_dn]
CN = placeholder

# CA:TRUE, critical, path length 0: signs leaves, never another CA.
[ca_ext]
basicConstraints     = critical, CA:TRUE, pathlen:0
keyUsage             = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

# Server leaf: EKU serverAuth only, the names clients dial.
[server_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:server, DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Client leaf: EKU clientAuth only, identity as a SPIFFE ID URI SAN.
[client_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = clientAuth
subjectAltName         = URI:spiffe://grpc-mtls.local/client
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

# A self-signed CA through 'openssl ca -selfsign', so that it gets a random
# serial and the backdated start like the leaves. The name ends in random
# hex so that two runs never make CAs with the same subject.
ca_name="grpc-mtls openssl CA $(openssl rand -hex 4)"
openssl req -new -config openssl.cnf -key ca.key -passin file:ca.passphrase \
	-subj "/O=grpc-mtls/CN=$ca_name" -out ca.csr
quiet openssl ca -batch -notext -config openssl.cnf -selfsign -rand_serial \
	-keyfile ca.key -passin file:ca.passphrase -in ca.csr \
	-startdate "$start" -days 1825 -extensions ca_ext -out ca.crt

# --- Step 4: the server key, request and certificate --------------------------
# The key stays unencrypted (PKCS#8) because the server loads it at start,
# as in 'mtls pki init'. The request carries only the name: the CA adds
# SANs and usages from server_ext.
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server.key
openssl req -new -config openssl.cnf -key server.key -subj "/CN=server" -out server.csr
quiet openssl ca -batch -notext -config openssl.cnf -rand_serial \
	-cert ca.crt -keyfile ca.key -passin file:ca.passphrase -in server.csr \
	-startdate "$start" -days 90 -extensions server_ext -out server.crt

# --- Step 5: the client key, request and certificate --------------------------
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client.key
openssl req -new -config openssl.cnf -key client.key -subj "/CN=client" -out client.csr
quiet openssl ca -batch -notext -config openssl.cnf -rand_serial \
	-cert ca.crt -keyfile ca.key -passin file:ca.passphrase -in client.csr \
	-startdate "$start" -days 90 -extensions client_ext -out client.crt

# --- Step 6: check the chain before handing anything out ----------------------
openssl verify -CAfile ca.crt -purpose sslserver server.crt >/dev/null
openssl verify -CAfile ca.crt -purpose sslclient client.crt >/dev/null

# --- Step 7: PKCS#12 keystores -------------------------------------------------
# Key, certificate and CA chain in one file each. OpenSSL 3 encrypts with
# AES-256-CBC and PBKDF2 and uses a SHA-256 MAC, the same algorithms as
# 'mtls pki init' (pki.P12Modern).
for side in server client; do
	openssl pkcs12 -export -name "$side" -in "$side.crt" -inkey "$side.key" -certfile ca.crt \
		-passout file:p12.password -out "$side.p12"
done

# --- Step 8: PKCS#12 truststore --------------------------------------------------
# A truststore entry must carry Java's "trusted certificate" attribute, or
# keytool and Go's pkcs12.DecodeTrustStore ignore it. keytool adds it; of
# openssl only 3.2 and later can, with -jdktrust.
if command -v keytool >/dev/null; then
	quiet keytool -importcert -noprompt -alias "$(echo "$ca_name" | tr ' A-Z' '-a-z')" -file ca.crt \
		-storetype PKCS12 -keystore truststore.p12 -storepass:file p12.password >/dev/null
elif openssl pkcs12 -help 2>&1 | grep -q -- -jdktrust; then
	openssl pkcs12 -export -nokeys -in ca.crt -jdktrust anyExtendedKeyUsage \
		-passout file:p12.password -out truststore.p12
else
	echo "openssl-pki: keytool not found and openssl is older than 3.2: cannot write truststore.p12 (install a JDK, e.g. apt-get install openjdk-17-jdk-headless)" >&2
	exit 1
fi

# --- Step 9: hand the files over --------------------------------------------------
# The same modes as 'mtls pki init': certificates and the truststore 0644,
# keys, keystores and secrets 0600.
chmod 644 ca.crt server.crt client.crt truststore.p12
chmod 600 ca.key server.key client.key server.p12 client.p12 p12.password ca.passphrase
for f in "${files[@]}"; do
	mv -f "$f" "$out/$f"
done

echo "Wrote an OpenSSL-made PKI to $out:"
for f in "${files[@]}"; do
	echo "  $out/$f"
done
echo "Keep ca.key and ca.passphrase secret: together they mint certificates this server and client accept."
