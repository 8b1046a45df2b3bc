# grpc-mtls: make demo shows mutual TLS working and failing; make test runs
# every check. Go tools are installed at pinned versions into .tools/bin.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION            := v1.9.3
GHZ_VERSION                := v0.121.0
BENCHSTAT_VERSION          := v0.0.0-20260908200009-22c9c6c9d4da
# The version of grpc-go's examples module that make bench compares with.
GRPC_EXAMPLES_VERSION      := v0.0.0-20260825154716-030ee8becb20

GO_TEST_FLAGS ?=
# How long `make fuzz` runs each fuzz target, and `make test` after it.
FUZZTIME       ?= 5m
FUZZTIME_SHORT ?= 5s

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

## Tools ----------------------------------------------------------------

$(TOOLS)/buf:
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
$(TOOLS)/ghz:
	GOBIN=$(TOOLS) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
$(TOOLS)/benchstat:
	GOBIN=$(TOOLS) go install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/grpcurl ## Install the pinned Go tools into .tools/bin.

## Build ----------------------------------------------------------------

.PHONY: build
build: ## Build bin/mtls.
	go build -o bin/mtls ./cmd/mtls

.PHONY: demo
demo: build ## Show mutual TLS end to end: a PKI, a server, one accepted and three rejected clients.
	MTLS_BIN=bin/mtls scripts/demo.sh

.PHONY: generate
generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## Regenerate Go code from proto/ with buf.
	buf generate

.PHONY: lint
lint: $(TOOLS)/buf ## Run buf lint and go vet.
	buf lint
	go vet ./...

## Tests ----------------------------------------------------------------

.PHONY: check-generated
check-generated: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## Fail if buf generate would change the committed code.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	buf generate -o "$$tmp"; \
	if ! diff -r -x '*.proto' "$$tmp/proto" proto; then \
		echo "FAIL: generated code in proto/ is stale: run 'make generate' and commit the result"; exit 1; \
	fi; \
	echo "generated code is up to date"

.PHONY: test
test: tools lint check-generated ## Run every check: vet, buf lint, generated code, unit, integration, CLI and docker compose tests.
	go test -race -count=1 $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)
	scripts/compose-e2e.sh

.PHONY: compose-e2e
compose-e2e: ## Run docker-compose.yml end to end with a host-built binary (skipped when no Docker engine answers).
	scripts/compose-e2e.sh

## Hardening -----------------------------------------------------------

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 5m).
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

.PHONY: fuzz-seeds
fuzz-seeds: ## Regenerate the committed seed corpus of the pki fuzz targets.
	go run ./internal/fuzzseeds -dir pki/testdata/fuzz

# Stress and soak runs take minutes and print their figures; they are not
# part of make test.
STRESS_SCALE  ?= 1
# Nice level of the stress attacker process: 19 measures the server's own
# cost, 0 lets the load generator compete for the CPU as an equal.
STRESS_ATTACKER_NICE ?= 19
SOAK_DURATION ?= 3m

.PHONY: stress
stress: ## Attack a loopback server (stalls, bad certificates, plaintext) and print latency, memory and goroutine figures.
	go vet -tags stress ./internal/loadtest
	STRESS_SCALE=$(STRESS_SCALE) STRESS_ATTACKER_NICE=$(STRESS_ATTACKER_NICE) go test -tags stress -run '^TestStress$$' -count=1 -timeout 30m -v ./internal/loadtest

.PHONY: soak
soak: ## Call a loopback server from several clients for SOAK_DURATION while rotating certificates.
	go vet -tags soak ./internal/loadtest
	SOAK_DURATION=$(SOAK_DURATION) go test -tags soak -run '^TestSoak$$' -count=1 -timeout 60m -v ./internal/loadtest

## Benchmarks -----------------------------------------------------------

.PHONY: bench
bench: $(TOOLS)/ghz $(TOOLS)/benchstat ## Run the benchmarks (5 to 10 minutes on 2 cores) and regenerate docs/BENCHMARKS.md.
	GRPC_EXAMPLES_VERSION=$(GRPC_EXAMPLES_VERSION) scripts/bench.sh
