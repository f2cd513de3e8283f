# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE_BIN := $(CURDIR)/.cache/bin
export PATH := $(CACHE_BIN):$(PATH)

.PHONY: demo test tools build bench vet

## demo: Temporal dev server + UI, a worker, two simulated vLLM replicas, and a short stress run
demo: build
	scripts/tools.sh temporal
	scripts/demo.sh

## test: every test; installs what the tests need into .cache/
test: tools vet
	VIB_TOOLS_BIN=$(CACHE_BIN) $(GO) test -count=1 -timeout 25m ./...

## tools: build the Temporal CLI and the Kubernetes test control plane once into .cache/bin
tools:
	scripts/tools.sh all

build:
	$(GO) build -o bin/ ./starter ./worker ./simulator

vet:
	$(GO) vet ./...

## bench: the load generator's capacity, timing accuracy and memory against the simulator
bench: build
	$(GO) run ./bench
