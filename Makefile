# tokenreg — see README.md. Everything here needs only Go (and a POSIX shell).
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 1m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test demo bench fuzz lint e2e clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tokenreg ./cmd/tokenreg
	$(GO) build -o $(BIN)/centagate-sim ./cmd/centagate-sim

## test: the whole suite, race detector on (CI runs this).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

## demo: start the simulator on loopback, run the sample batch, show the result.
demo: build
	sh scripts/demo.sh

## bench: Go benchmarks plus the end-to-end figures of SPEC §7 (a few minutes).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./client/... ./report/ ./batch/ ./ledger/
	$(GO) run ./cmd/e2ebench -bin $(BIN)

## fuzz: each fuzz target for FUZZTIME (default 1m; FUZZTIME=10m for a long run).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResponse$$' -fuzztime $(FUZZTIME) ./client/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./batch/
	$(GO) test -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzEscapeRoundTrip$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzResultRoundTrip$$' -fuzztime $(FUZZTIME) ./report/

## e2e: the checks that need Debian packages (chromium, jq; installed with
## apt-get when missing): every scripts/e2e-*.sh, after a build.
e2e: build
	@for s in scripts/e2e-*.sh; do echo "== $$s"; sh "$$s" || exit 1; done

## lint: go vet, gofmt and staticcheck (fetched through the Go module proxy).
lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf $(BIN) out
