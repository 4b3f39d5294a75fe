# skiff — see README.md. `make run` starts a single-master cluster, `make test`
# runs everything CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/skiff
RUN_DIR  ?= /tmp/skiff-run

.PHONY: build run test test-unit test-integration bench lint deps clean

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './.cache/*') go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

deps:
	./scripts/deps.sh

# A single master on loopback, in the foreground. Ctrl-C stops it; the
# state stays in $(RUN_DIR) for the next run.
run: deps build
	./scripts/run.sh $(BIN) $(RUN_DIR)

test: lint build
	$(GO) test -count=1 -timeout 20m ./...

bench: build
	$(GO) run ./cmd/skiff-bench -skiff $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
