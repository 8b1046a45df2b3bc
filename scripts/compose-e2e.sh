#!/usr/bin/env bash
# End-to-end test of docker-compose.yml. It builds the image the
# registry-free way: a static binary built on the host, copied in by the
# Dockerfile's prebuilt target. It runs the default services and the
# misconfig profile and checks every outcome in exit codes and logs. Then it
# runs `up` again to check that the PKI was kept, and removes what it made.
#
# Runs under a unique compose project name and image tag, so it never
# touches other containers, volumes, networks or images. Prints a SKIPPED
# line and exits 0 when no Docker engine or compose tool is found, except
# under CI=true, where the test must run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS

skip() {
	if [[ "${CI:-}" == "true" ]]; then
		echo "FAIL: compose-e2e: $1 (CI=true, where this test must run)" >&2
		exit 1
	fi
	echo "SKIPPED: compose-e2e: $1"
	exit 0
}

if ! command -v docker >/dev/null; then
	skip "the docker command is not installed"
fi
if ! engine_error=$(docker info 2>&1 >/dev/null); then
	skip "no Docker engine answers ($(tail -n 1 <<<"$engine_error"))"
fi
# Compose v2 is a docker plugin, and v1 is the separate docker-compose command.
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	skip "neither 'docker compose' nor 'docker-compose' is installed"
fi

run_id="$$-$RANDOM"
project="grpc-mtls-e2e-$run_id"
export MTLS_IMAGE="grpc-mtls-e2e:$run_id"
export MTLS_BUILD_TARGET=prebuilt
# An empty host port publishes the server on a random free port, so that a
# server already on 8443 does not stop this test.
export MTLS_HOST_PORT=

compose() {
	"${compose_cmd[@]}" --project-name "$project" --file "$root/docker-compose.yml" --profile misconfig "$@"
}

dump_logs() {
	echo "--- compose logs (last 200 lines) ---" >&2
	compose logs --no-color 2>&1 | tail -n 200 >&2 || true
}

cleanup() {
	local status=$?
	if ((status != 0)); then
		dump_logs
	fi
	echo "compose-e2e: removing containers, volumes, network and image of project $project"
	compose down --volumes --remove-orphans --rmi all >/dev/null 2>&1 || true
	docker image rm "$MTLS_IMAGE" >/dev/null 2>&1 || true
	exit "$status"
}

# say MESSAGE: prints a progress line with the seconds since the start.
say() {
	printf 'compose-e2e [%3d s] %s\n' $((SECONDS - start)) "$*"
}

fail() {
	echo "FAIL: compose-e2e: $*" >&2
	exit 1
}

# container_of SERVICE: prints the ID of the service's container. It asks
# the engine by compose's labels rather than the compose tool, because
# docker-compose v1 takes seconds to start on a busy machine.
container_of() {
	local id
	id=$(docker ps --all --quiet --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1")
	[[ -n "$id" ]] || fail "service $1 has no container"
	[[ "$id" != *$'\n'* ]] || fail "service $1 has more than one container"
	echo "$id"
}

# wait_exit SERVICE: waits up to 60 s for the service's container to exit
# and prints its exit code.
wait_exit() {
	local id
	id=$(container_of "$1")
	timeout 60 docker wait "$id" || fail "service $1 did not exit within 60 s"
}

service_logs() {
	local id
	id=$(container_of "$1")
	docker logs "$id" 2>&1
}

expect_exit_zero() {
	local code
	code=$(wait_exit "$1")
	[[ "$code" == 0 ]] || fail "service $1 exited with $code, expected 0"
	say "ok: $1 exited 0"
}

# has_text TEXT LOGS: grep reads all of LOGS from a variable, because
# grep -q in a pipe would end the writer early and fail it under pipefail.
has_text() {
	grep -qF -- "$1" <<<"$2"
}

expect_log() {
	local service=$1 text=$2
	has_text "$text" "$(service_logs "$service")" || fail "service $service did not log: $text"
}

# expect_server_log TEXT: the server logs a rejection right after it sends
# the alert, so the line can come a moment after the client exited.
expect_server_log() {
	local text=$1
	for _ in $(seq 1 50); do
		has_text "$text" "$(service_logs server)" && return 0
		sleep 0.2
	done
	fail "server did not log: $text"
}

trap cleanup EXIT
# Bash runs the EXIT trap on these signals only when they are trapped too.
trap 'exit 130' INT
trap 'exit 143' TERM

say "using ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || echo 'version unknown')), project $project"
compose config --quiet || fail "docker-compose.yml is not valid"

# Build the static binary for the engine's architecture, then the image
# from it. The prebuilt target needs no image from any registry.
arch=$(docker version --format '{{.Server.Arch}}')
mkdir -p bin/docker
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags='-s -w' -o bin/docker/mtls ./cmd/mtls
build_log=$(compose build pki 2>&1) || fail "image build failed:"$'\n'"$build_log"
size=$(docker image inspect --format '{{.Size}}' "$MTLS_IMAGE")
say "ok: built $MTLS_IMAGE, $((size / 1000)) kB"

say "up (default services)"
"${compose_cmd[@]}" --project-name "$project" --file "$root/docker-compose.yml" up --detach --no-build >/dev/null 2>&1 \
	|| fail "docker compose up failed"
expect_exit_zero pki
expect_exit_zero client
server=$(container_of server)
health=$(docker inspect --format '{{.State.Health.Status}}' "$server")
[[ "$health" == healthy ]] || fail "server health is $health, expected healthy"
say "ok: server is healthy"
expect_log pki "Created a"
expect_log client "This client, as the server verified it:"
expect_log client "Echo 3: sent \"hello 3\""
expect_log client "Stream reply #3: \"three\""
say "ok: client made the identity call, three echoes and a stream"

user=$(docker inspect --format '{{.Config.User}}' "$server")
[[ -n "$user" && "$user" != 0 && "$user" != 0:* && "$user" != root* ]] || fail "server image user is '$user', expected a non-root user"
uids=$(docker top "$server" -eo pid,uid | awk 'NR > 1 {print $2}' | sort -u | paste -sd ' ')
for uid in $uids; do
	[[ "$uid" != 0 ]] || fail "a server process runs as UID 0 (root)"
done
mounts=$(docker inspect --format '{{range .Mounts}}{{.Destination}}:{{if .RW}}rw{{else}}ro{{end}} {{end}}' "$server")
mounts=${mounts% }
[[ "$mounts" == "/pki:ro" ]] || fail "server mounts are '$mounts', expected only /pki read-only (no CA key)"
say "ok: server runs as user $user (process UID $uids), mounts $mounts"

say "up --profile misconfig"
compose up --detach --no-build >/dev/null 2>&1 || fail "docker compose --profile misconfig up failed"
# Each client, the reason it must see, and the reason the server logs.
for spec in \
	"no-client-cert no_client_certificate no_client_certificate" \
	"untrusted-client-ca peer_rejected_authority unknown_authority" \
	"expired-client-cert peer_rejected_expired expired_or_not_yet_valid" \
	"wrong-server-name name_mismatch peer_rejected_certificate"; do
	read -r service client_reason server_reason <<<"$spec"
	expect_exit_zero "$service"
	expect_log "$service" "Rejected as expected (reason $client_reason)."
	expect_server_log "msg=\"rejected handshake\""
	expect_server_log "reason=$server_reason "
	say "ok: $service rejected: client saw $client_reason, server logged $server_reason"
done

say "up again, the PKI must be kept"
kept_before=$(grep -cF "Kept the existing PKI" <<<"$(service_logs pki)" || true)
"${compose_cmd[@]}" --project-name "$project" --file "$root/docker-compose.yml" up --detach --no-build >/dev/null 2>&1 \
	|| fail "second docker compose up failed"
expect_exit_zero pki
expect_exit_zero client
pki_logs=$(service_logs pki)
created=$(grep -F "Created a" -A 1 <<<"$pki_logs" | grep -oE 'CA .* serial [0-9a-f]+' | awk '{print $NF}')
kept=$(grep -F "Kept the existing PKI" -A 1 <<<"$pki_logs" | grep -oE 'CA .* serial [0-9a-f]+' | awk '{print $NF}' | sort -u)
[[ -n "$created" ]] || fail "no CA serial in the first pki output"
[[ "$(grep -cF 'Created a' <<<"$pki_logs")" == 1 ]] || fail "pki created a PKI more than once"
kept_after=$(grep -cF "Kept the existing PKI" <<<"$pki_logs" || true)
((kept_after == kept_before + 1)) || fail "pki did not report a kept PKI on the last start ($kept_before kept before, $kept_after after)"
[[ "$kept" == "$created" ]] || fail "kept CA serial '$kept' differs from the created one '$created'"
say "ok: PKI kept across restarts (CA serial $created)"

echo "PASS: compose-e2e in $((SECONDS - start)) s (image $((size / 1000)) kB, user $user)"
