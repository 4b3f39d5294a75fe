# skiff — see README.md. `make run` starts a single-master cluster, `make test`
# runs everything CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/skiff
RUN_DIR  ?= /tmp/skiff-run

.PHONY: build run test test-unit test-integration bench lint deps clean images

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './.cache/*') go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

deps:
	./scripts/deps.sh

# A single master on loopback, in the foreground. Ctrl-C stops it; the
# state stays in $(RUN_DIR) for the next run.
run: deps build images
	./scripts/run.sh $(BIN) $(RUN_DIR)

test: lint build images
	$(GO) test -count=1 -timeout 20m ./...

bench: build images
	$(GO) run ./cmd/skiff-bench -skiff $(BIN)
	$(GO) run ./cmd/skiff-podbench -skiff $(BIN)
	$(GO) run ./cmd/skiff-scalebench -skiff $(BIN)
	$(GO) run ./cmd/skiff-proxybench
	$(GO) run ./cmd/skiff-dnsbench

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The end-to-end tests' image, as OCI archives for `ctr images import`:
# skiff.local/echo:1 and :2, which differ only in $ECHO_VERSION.
images:
	@test -x /bin/busybox || { echo "images: /bin/busybox is missing: apt-get install busybox-static" >&2; exit 1; }
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/skiff-echo ./cmd/skiff-echo
	$(GO) build -trimpath -o bin/skiff-mkimage ./cmd/skiff-mkimage
	@mkdir -p examples/images
	bin/skiff-mkimage --busybox /bin/busybox --binary bin/skiff-echo --ref skiff.local/echo:1 --env ECHO_VERSION=1 -o examples/images/echo.tar
	bin/skiff-mkimage --busybox /bin/busybox --binary bin/skiff-echo --ref skiff.local/echo:2 --env ECHO_VERSION=2 -o examples/images/echo-2.tar

clean:
	rm -rf bin
