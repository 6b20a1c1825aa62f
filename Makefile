# hem's build. "make check" is the gate CI runs (.ci/run): it installs its own
# tools, so it works on a fresh machine with only Go.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory
export PATH := $(CURDIR)/.tmp/bin:$(PATH)

AGAINST ?=
FUZZTIME ?= 1m
FUZZ ?=
FUZZPARALLEL ?=

.PHONY: help
help: ## Describe the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: check
check: setup tools lint checkgenerate checklifecycle tidy vet test ## The gate: everything CI runs
	@echo "check: all passed"

.PHONY: setup
setup: ## Install the system packages the tests need (Debian's chromium for the console's browser tests), when missing
	@scripts/setup.sh

.PHONY: tools
tools: ## Install pinned buf, protoc plugins and golangci-lint into .tmp/bin; put validate.proto in place
	@scripts/tools.sh
	@scripts/proto-deps.sh

.PHONY: lint
lint: tools ## golangci-lint (.golangci.yml), buf format, buf lint, buf breaking + hem schema check, hem source check, terraform fmt
	golangci-lint run ./...
	buf format -d --exit-code
	buf lint --error-format=msvs
	scripts/breaking.sh $(AGAINST)
	go run ./cmd/hem source check sources --proto proto
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	else echo "lint: terraform not on PATH; the terraform policy test still runs"; fi

.PHONY: generate
generate: tools ## Regenerate gen/ from proto/
	buf generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail if gen/ is not what buf generate makes
	@if [[ -n "$$(git status --porcelain -- gen)" ]]; then \
		git status --porcelain -- gen; echo "checkgenerate: gen/ is stale: run make generate and commit"; exit 1; fi

.PHONY: lifecycle
lifecycle: ## Regenerate terraform/archive_lifecycle.json (the archive's per-type lifecycle rules) from proto/
	go run ./cmd/hem schema lifecycle proto

.PHONY: checklifecycle
checklifecycle: ## Fail if terraform/archive_lifecycle.json is not what the contracts' archive retention gives
	go run ./cmd/hem schema lifecycle --check proto

.PHONY: tidy
tidy: ## Fail if go.mod/go.sum are not tidy
	go mod tidy -diff

.PHONY: vet
vet: ## go vet
	go vet ./...

# hyperpb (the collector's decoder) casts arena memory in ways the race
# detector's pointer checks (checkptr) flag; they stay on for every other package.
RACE := -race '-gcflags=buf.build/go/hyperpb/...=-d=checkptr=0'

.PHONY: test
test: ## Unit and integration tests, with the race detector
	go test $(RACE) -shuffle=on -timeout 15m ./...

.PHONY: fuzz
fuzz: ## Fuzz every Fuzz* target in the tree for FUZZTIME each (FUZZ=regexp picks some, FUZZPARALLEL workers); seed corpora run in "make test"
	FUZZTIME='$(FUZZTIME)' FUZZ='$(FUZZ)' FUZZPARALLEL='$(FUZZPARALLEL)' scripts/fuzz.sh

.PHONY: bench
bench: ## Benchmarks of the hot paths (numbers in README)
	go test -run '^$$' -bench . -benchmem -count 3 ./registry/... ./collector/... ./sink/... ./processor/... ./source/...

.PHONY: build
build: ## Build bin: ./hem
	go build -o hem ./cmd/hem
