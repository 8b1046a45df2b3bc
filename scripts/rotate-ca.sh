#!/usr/bin/env bash
# Rotates the CA under a running 'mtls serve' and a running 'mtls call
# --repeat' client, step by step, without restarting either and without a
# failed call:
#
#   1. start a new CA beside the old one
#   2. both truststores trust the old and the new CA
#   3. the server gets a certificate from the new CA
#   4. the client gets a certificate from the new CA
#   5. both truststores drop the old CA
#   6. a client that still has an old-CA certificate is rejected
#
# Both processes reload their files on change. Everything listens on and
# connects to 127.0.0.1 only, and the client's loop is bounded.
#
# Usage: scripts/rotate-ca.sh   (MTLS=path/to/mtls to use a built binary,
# WORK=dir to keep the files, STEP_TIMEOUT=seconds for each wait)
set -euo pipefail

MTLS=${MTLS:-}
if [[ -z "$MTLS" ]]; then
	MTLS=$(mktemp -d)/mtls
	go build -o "$MTLS" "$(dirname "$0")/../cmd/mtls"
fi
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
STEP_TIMEOUT=${STEP_TIMEOUT:-30}
MAX_AGE=2s

pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

step() { printf '\n== Step %s\n' "$*"; }
# run prints a command, with paths relative to $WORK, then runs it and
# indents its output.
run() {
	local shown=() arg
	for arg in "$@"; do
		[[ "$arg" == *" "* ]] && arg="\"$arg\""
		shown+=("$arg")
	done
	printf '$ %s\n' "${shown[*]}" | sed "s|$WORK/||g; s|$MTLS|mtls|"
	"$@" | sed "s|$WORK/||g" | sed 's/^/    /'
}
fail() {
	echo "FAIL: $*"
	for f in server.log client.out client.log; do
		echo "--- $f (last lines)"
		tail -n 20 "$WORK/$f" || true
	done
	exit 1
}

# wait_for FILE PATTERN COUNT WHAT waits until FILE has COUNT lines matching
# PATTERN.
wait_for() {
	local file=$1 pattern=$2 want=$3 what=$4
	local deadline=$((SECONDS + STEP_TIMEOUT))
	until (($(grep -c -e "$pattern" "$file" 2>/dev/null || true) >= want)); do
		((SECONDS < deadline)) || fail "$what: not seen within ${STEP_TIMEOUT}s"
		sleep 0.2
	done
	echo "  ok: $what"
}

serial_of() {
	"$MTLS" pki inspect "$1" | awk '/serial:/ { print $2; exit }'
}

step "0: a running server and client, both on the old CA"
run "$MTLS" pki init --dir "$WORK/ca-old"
mkdir -p "$WORK/live"
cp -p "$WORK/ca-old/server.crt" "$WORK/ca-old/server.key" "$WORK/ca-old/client.crt" "$WORK/ca-old/client.key" "$WORK/live/"
cp "$WORK/ca-old/ca.crt" "$WORK/live/server-trust.pem"
cp "$WORK/ca-old/ca.crt" "$WORK/live/client-trust.pem"

"$MTLS" serve --listen 127.0.0.1:0 --cert "$WORK/live/server.crt" --key "$WORK/live/server.key" \
	--ca "$WORK/live/server-trust.pem" --max-connection-age "$MAX_AGE" --max-connection-age-grace 10s \
	>"$WORK/server.log" 2>&1 &
pids+=($!)
wait_for "$WORK/server.log" "server listening" 1 "server started"
addr=$(sed -n 's/.*msg="server listening" addr=\([0-9.:]*\).*/\1/p' "$WORK/server.log" | head -n 1)
[[ "$addr" == 127.0.0.1:* ]] || fail "server address not found in server.log"

# Bounded: at most 20,000 rounds, 50 ms apart (under 17 minutes); the
# script stops it long before with SIGINT.
"$MTLS" call --addr "$addr" --server-name localhost --cert "$WORK/live/client.crt" --key "$WORK/live/client.key" \
	--ca "$WORK/live/client-trust.pem" --repeat 20000 --interval 50ms --max-connection-age "$MAX_AGE" \
	>"$WORK/client.out" 2>"$WORK/client.log" &
client_pid=$!
pids+=("$client_pid")
wait_for "$WORK/client.out" "^call 1 ok" 1 "client calling $addr"

step "1: start a new CA beside the old one"
run "$MTLS" pki new-ca --dir "$WORK/ca-new" --name "grpc-mtls CA 2"

step "2: both sides trust the old and the new CA"
run "$MTLS" pki truststore --out "$WORK/live/server-trust.pem" --force "$WORK/ca-old/ca.crt" "$WORK/ca-new/ca.crt"
run "$MTLS" pki truststore --out "$WORK/live/client-trust.pem" --force "$WORK/ca-old/ca.crt" "$WORK/ca-new/ca.crt"
wait_for "$WORK/server.log" "reloaded certificate files.*trusted_cas=2" 1 "server reloaded its truststore"
wait_for "$WORK/client.log" "reloaded certificate files.*trusted_cas=2" 1 "client reloaded its truststore"

step "3: the server gets a certificate from the new CA"
run "$MTLS" pki issue --ca-dir "$WORK/ca-new" --role server --name localhost --dns localhost,server --ip 127.0.0.1,::1 \
	--out "$WORK/live/server" --force
server_serial=$(serial_of "$WORK/live/server.crt")
wait_for "$WORK/server.log" "reloaded certificate files.*serial=$server_serial" 1 "server reloaded its certificate"
wait_for "$WORK/client.out" "server serial $server_serial (issuer CN=grpc-mtls CA 2" 1 "client sees the new server certificate"

step "4: the client gets a certificate from the new CA"
run "$MTLS" pki issue --ca-dir "$WORK/ca-new" --role client --name client --out "$WORK/live/client" --force
client_serial=$(serial_of "$WORK/live/client.crt")
wait_for "$WORK/client.log" "reloaded certificate files.*serial=$client_serial" 1 "client reloaded its certificate"
wait_for "$WORK/client.out" "client serial $client_serial (issuer CN=grpc-mtls CA 2" 1 "server sees the new client certificate"

step "5: both sides drop the old CA"
run "$MTLS" pki truststore --out "$WORK/live/server-trust.pem" --force "$WORK/ca-new/ca.crt"
run "$MTLS" pki truststore --out "$WORK/live/client-trust.pem" --force "$WORK/ca-new/ca.crt"
wait_for "$WORK/server.log" "reloaded certificate files.*trusted_cas=1" 1 "server reloaded its truststore"
wait_for "$WORK/client.log" "reloaded certificate files.*trusted_cas=1" 1 "client reloaded its truststore"
# Calls continue over connections made with the new truststores once the
# old ones reach their maximum age.
calls_before=$(grep -c 'msg=call ' "$WORK/server.log" || true)
wait_for "$WORK/server.log" "msg=call " $((calls_before + 60)) "60 more calls served"

step "6: a client with an old-CA certificate is rejected"
run "$MTLS" call --addr "$addr" --server-name localhost --cert "$WORK/ca-old/client.crt" --key "$WORK/ca-old/client.key" \
	--ca "$WORK/live/client-trust.pem" --expect-failure any

step "7: stop the client and count its calls"
kill -INT "$client_pid"
status=0
wait "$client_pid" || status=$?
sed 's/^/    /' "$WORK/client.out"
summary=$(tail -n 1 "$WORK/client.out")
[[ "$summary" =~ ^Done:\ ([0-9]+)\ calls,\ 0\ failed\.$ ]] || fail "client reported failed calls: $summary"
((status == 0)) || fail "client exited with status $status"
echo
echo "CA rotated without a restart: ${BASH_REMATCH[1]} calls, 0 failed."
