# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE_BIN := $(CURDIR)/.cache/bin
export PATH := $(CACHE_BIN):$(PATH)

.PHONY: demo test tools build bench vet cross

## demo: Temporal dev server + UI, a worker, two simulated vLLM replicas, and a short stress run
demo: build
	scripts/tools.sh temporal
	scripts/demo.sh

## test: every test; installs what the tests need into .cache/
test: tools vet cross
	VIB_TOOLS_BIN=$(CACHE_BIN) $(GO) test -count=1 -timeout 25m ./...

## tools: build the Temporal CLI, the Kubernetes test control plane and fetch Prometheus once into .cache/bin
tools:
	scripts/tools.sh all

build:
	$(GO) build -o bin/ ./starter ./worker ./simulator

vet:
	$(GO) vet ./...

# The systems users run the CLI on. Each pair builds starter, worker and
# simulator and vets the module's packages they are made of (tests
# included). Cost on the 2-core VM: ~4.5 min per pair with a cold build
# cache (compiling the dependencies for that system), ~1 min warm.
CROSS_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
MODULE := $(shell $(GO) list -m)

## cross: cross-compile the commands for every GOOS/GOARCH pair and go vet them there
cross:
	@set -e; native=$$($(GO) env GOOS)/$$($(GO) env GOARCH); out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for t in $(CROSS_TARGETS); do \
		export GOOS=$${t%/*} GOARCH=$${t#*/}; echo "cross: $$t"; \
		$(GO) build -o "$$out/" ./starter ./worker ./simulator; \
		[ "$$t" = "$$native" ] || $(GO) vet $$($(GO) list -deps ./starter ./worker ./simulator | grep '^$(MODULE)'); \
	done

## bench: the load generator's capacity, timing accuracy and memory against the simulator
bench: build
	$(GO) run ./bench
