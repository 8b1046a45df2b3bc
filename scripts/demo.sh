#!/usr/bin/env bash
# Show mutual TLS working and failing, end to end: make a PKI, start the
# server with an authorization policy, make one accepted and three
# rejected calls, and show the server's log line for each rejection. Exits non-zero if any step does not behave
# as expected.
#
# Usage: scripts/demo.sh (or 'make demo')
#
# Environment:
#   MTLS_BIN  the mtls binary to run (default: bin/mtls, built if missing)
#   DEMO_DIR  where the PKIs and the server log go (default: .demo, which
#             git ignores). Each run replaces the PKIs in it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mtls=${MTLS_BIN:-bin/mtls}
demo=${DEMO_DIR:-.demo}
server_pid=
step=0

heading() {
	step=$((step + 1))
	printf '\n=== Step %d: %s\n\n' "$step" "$*"
}

# show prints a command the way a reader would type it, then runs it.
show() {
	printf '$ %s\n' "$*"
	"$@"
}

fail() {
	printf '\nDEMO FAILED: %s\n' "$*" >&2
	if [[ -s "$demo/server.log" ]]; then
		printf '\nServer log (%s):\n' "$demo/server.log" >&2
		sed 's/^/  /' "$demo/server.log" >&2
	fi
	exit 1
}

stop_server() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}
trap stop_server EXIT

# wait_for_log waits up to 10 s for the server log to contain a line that
# matches the extended regular expression $1 after line $2, and prints it.
wait_for_log() {
	local pattern=$1 after=$2 line
	for _ in $(seq 100); do
		line=$(tail -n +"$((after + 1))" "$demo/server.log" | grep -E -m 1 -- "$pattern" || true)
		if [[ -n "$line" ]]; then
			printf '%s\n' "$line"
			return 0
		fi
		if [[ -n "$server_pid" ]] && ! kill -0 "$server_pid" 2>/dev/null; then
			fail "the server exited while waiting for a log line matching: $pattern"
		fi
		sleep 0.1
	done
	fail "no server log line matching '$pattern' within 10 s"
}

log_lines() {
	wc -l <"$demo/server.log"
}

# expect_rejection runs a call that the server must reject, checks the
# client's reason code and the server's 'rejected handshake' log line,
# and prints both.
expect_rejection() {
	local client_reason=$1 server_reason=$2
	shift 2
	local before output status=0
	before=$(log_lines)
	printf '$ %s\n' "$*"
	output=$("$@" 2>&1) || status=$?
	printf '%s\n' "$output"
	((status != 0)) || fail "the call succeeded, but the server should have rejected it"
	grep -q "reason code:  $client_reason\$" <<<"$output" ||
		fail "the client reported another reason than $client_reason"
	printf '\nThe server logged:\n'
	wait_for_log "msg=\"rejected handshake\" .*reason=$server_reason " "$before"
}

mkdir -p "$demo"

if [[ -z "${MTLS_BIN:-}" ]]; then
	heading "Build the mtls binary"
	show go build -o bin/mtls ./cmd/mtls
else
	heading "Use the prebuilt mtls binary"
fi
[[ -x "$mtls" ]] || fail "$mtls is not an executable: build it with 'make build'"
echo "Using $mtls"

heading "Create a CA, a server certificate and two client certificates (client and guest)"
show "$mtls" pki init --dir "$demo/pki" --force

heading "Create a second, unrelated CA and client (for the rejected caller)"
printf '$ %s\n' "$mtls pki init --dir $demo/other-pki --client-name intruder --force"
"$mtls" pki init --dir "$demo/other-pki" --client-name intruder --force >/dev/null
echo "(output omitted: the same kind of files as above, signed by a CA the server does not trust)"

heading "Start the server on a free loopback port"
: >"$demo/server.log"
printf '$ %s\n' "$mtls serve --listen 127.0.0.1:0 --cert $demo/pki/server.crt --key $demo/pki/server.key --ca $demo/pki/ca.crt --policy examples/policy.yaml 2>$demo/server.log &"
"$mtls" serve --listen 127.0.0.1:0 --cert "$demo/pki/server.crt" --key "$demo/pki/server.key" \
	--ca "$demo/pki/ca.crt" --policy examples/policy.yaml 2>"$demo/server.log" &
server_pid=$!
listening=$(wait_for_log 'msg="server listening"' 0)
addr=$(sed -E 's/.* addr=([^ ]+).*/\1/' <<<"$listening")
[[ "$addr" == 127.0.0.1:* ]] || fail "could not read the listening address from: $listening"
printf '\nThe server logged:\n%s\n' "$listening"

heading "Call with the client certificate: accepted"
before=$(log_lines)
show "$mtls" call --addr "$addr" --cert "$demo/pki/client.crt" --key "$demo/pki/client.key" \
	--ca "$demo/pki/ca.crt" --echo 2 --stream ||
	fail "the call with the right client certificate failed"
printf '\nThe server logged:\n'
wait_for_log 'msg=call method=/mtls.v1.DemoService/WhoAmI .*code=OK' "$before"
wait_for_log 'msg=call method=/mtls.v1.DemoService/EchoStream .*code=OK' "$before"

heading "Call without a client certificate: rejected"
expect_rejection no_client_certificate no_client_certificate \
	"$mtls" call --addr "$addr" --ca "$demo/pki/ca.crt"

heading "Call with a certificate from another CA: rejected"
expect_rejection peer_rejected_authority unknown_authority \
	"$mtls" call --addr "$addr" --cert "$demo/other-pki/client.crt" --key "$demo/other-pki/client.key" \
	--ca "$demo/pki/ca.crt"

heading "Call with the guest certificate: verified, but the policy denies it"
before=$(log_lines)
show "$mtls" call --addr "$addr" --cert "$demo/pki/guest.crt" --key "$demo/pki/guest.key" \
	--ca "$demo/pki/ca.crt" --expect-failure permission_denied ||
	fail "the guest's call was not denied by the authorization policy"
printf '\nThe server logged:\n'
wait_for_log 'msg="permission denied" .*caller=spiffe://grpc-mtls.local/guest ' "$before"

heading "Stop the server"
before=$(log_lines)
printf '$ kill -TERM %s\n' "$server_pid"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || fail "the server exited with status $status"
wait_for_log 'msg="server stopped"' "$before"

printf '\nDemo finished: 1 client accepted, 3 clients rejected, as expected.\n'
