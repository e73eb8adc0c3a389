# tokenreg — see README.md. Everything here needs only Go (and a POSIX shell),
# except `make image` and `make e2e`, which install the Debian packages they need.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 1m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build check test demo bench bench-growth fuzz lint cross image e2e clean

# cross: the platforms CI cross-compiles the whole tree for.
CROSS := windows/amd64 darwin/arm64 linux/arm64

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tokenreg ./cmd/tokenreg
	$(GO) build -o $(BIN)/centagate-sim ./cmd/centagate-sim

## check: the quick suite for daily work (race detector on, slow tests skipped; < 30 s).
check:
	$(GO) test -race -short -count=1 ./...

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

## bench-growth: the README's cost growth table (wall time and peak RSS of
## run, run --ledger, validate, retry, report at 10k/100k/1M rows; ~10 minutes).
bench-growth: build
	$(GO) run ./cmd/e2ebench -bin $(BIN) -only growth

## fuzz: each fuzz target for FUZZTIME (default 1m; FUZZTIME=10m for a long run).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResponse$$' -fuzztime $(FUZZTIME) ./client/
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./batch/
	$(GO) test -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzEscapeRoundTrip$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzResultRoundTrip$$' -fuzztime $(FUZZTIME) ./report/
	$(GO) test -run '^$$' -fuzz '^FuzzSanitize$$' -fuzztime $(FUZZTIME) ./internal/safetext/
	$(GO) test -run '^$$' -fuzz '^FuzzReveal$$' -fuzztime $(FUZZTIME) ./internal/safetext/
	$(GO) test -run '^$$' -fuzz '^FuzzReaderFastPath$$' -fuzztime $(FUZZTIME) ./internal/csvfile/

## lint: go vet, gofmt and staticcheck (fetched through the Go module proxy).
lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) run $(STATICCHECK) ./...

## cross: build the whole tree (cmd/e2ebench too) for each of CROSS, and
## tokenreg binaries into out/cross/ (tokenreg-windows-amd64.exe, ...).
cross:
	@set -e; for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "== $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build ./...; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) vet ./...; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
			-o out/cross/tokenreg-$$os-$$arch$$ext ./cmd/tokenreg; \
	done

## image: the container image (Containerfile) built with buildah, no daemon:
## out/tokenreg-VERSION.oci.tar. Installs buildah with apt-get if missing.
image:
	VERSION=$(VERSION) GO=$(GO) sh scripts/image.sh

## e2e: the checks that need Debian packages (image, Pushgateway, promtool,
## Kubernetes samples, Wine, the HTML report): scripts/e2e-*.sh, see scripts/e2e.sh.
e2e:
	GO=$(GO) sh scripts/e2e.sh

clean:
	rm -rf $(BIN) out
