# rkt: a thin Makefile. Every recipe is a command you could type by hand.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS  := -s -w -X github.com/rkt/rkt/internal/cli.version=$(VERSION)
export GOTOOLCHAIN := local
export PATH := $(PATH):/usr/local/go/bin

FUZZTIME ?= 30s

.PHONY: build deps test-deps test-tools demo test check-format check-tidy lint unit e2e fuzz cover bench bench-fetch clean

# bin/rkt (the front: pods of stored images), bin/rkt-full (every command;
# the front hands it the rest) and, beside them, the default stage1 image
# bin/stage1-ns.aci: the stage1 binary, its light build for the run
# entrypoint (no CNI: it hands CNI pods to the full one), and the CNI
# plugins pinned in tools/cni (built into bin/cni).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -tags rktfront -o bin/rkt ./cmd/rkt
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/rkt-full ./cmd/rkt
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/stage1-ns ./cmd/stage1-ns
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -tags stage1light -o bin/stage1-ns-run ./cmd/stage1-ns
	cd tools/cni && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../bin/cni/ tool
	$(GO) run ./tools/mkstage1 -flavor ns -binary bin/stage1-ns -run-binary bin/stage1-ns-run -plugins bin/cni -version $(VERSION) -o bin/stage1-ns.aci

# Debian packages rkt's demo needs (root; skips what is installed).
deps:
	scripts/install-deps.sh demo

# Debian packages the test suite needs.
test-deps:
	scripts/install-deps.sh test

demo: deps build
	scripts/demo.sh

# The whole suite, as CI runs it.
test: test-deps build check-format check-tidy lint unit e2e

check-format:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-tidy:
	$(GO) mod tidy -diff
	cd tools/appc && $(GO) mod tidy -diff
	cd tools/lint && $(GO) mod tidy -diff
	cd tools/cni && $(GO) mod tidy -diff

# go vet plus the pinned golangci-lint (built from tools/lint on first use).
lint:
	scripts/lint.sh

# Unit tests: no root needed, race detector on, random order.
unit:
	$(GO) test -race -shuffle=on ./internal/... ./cmd/... ./tools/...

# Tools only the tests use: appc's actool, pinned in tools/appc.
test-tools:
	cd tools/appc && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../bin/test-tools/ tool

# End-to-end tests drive bin/rkt as a user would (root, real registry).
e2e: build test-tools
	RKT_BINARY=$(CURDIR)/bin/rkt $(GO) test -count=1 -timeout 20m ./test/e2e/...

# Every fuzz target for FUZZTIME each; make test runs their seed corpora.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Coverage of unit and end-to-end tests together, per package.
cover:
	scripts/cover.sh

# rkt against the peer runtimes (podman, docker, crun, runc, nspawn, bwrap):
# every workload, one markdown table (root; installs the peers from Debian).
bench: build
	bench/suite.sh

bench-fetch: build
	bench/fetch.sh

clean:
	rm -rf bin
