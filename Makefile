# Every target runs with the pinned Node 24 and pnpm that scripts/bootstrap.sh puts in .tools/bin.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(PATH)

NODE_TEST := node --test --test-reporter=spec --test-concurrency=1
UNIT_TESTS := 'packages/*/dist/**/*.test.js'
E2E_TESTS := 'e2e/dist/**/*.test.js'

.PHONY: all tools install proto proto-check build test unit e2e demo bench clean

all: build

tools:
	@scripts/bootstrap.sh

node_modules/.modules.yaml: package.json pnpm-lock.yaml pnpm-workspace.yaml $(wildcard packages/*/package.json) e2e/package.json bench/package.json | tools
	pnpm install --frozen-lockfile
	@touch $@

install: tools node_modules/.modules.yaml

# Regenerates packages/proto/src/gen from proto/ with the pinned buf and ts-proto.
proto: install
	buf lint
	buf generate

# Fails when the committed generated code is not what `make proto` produces.
proto-check: install
	@scripts/proto-check.sh

build: install
	tsc -b

unit: build
	$(NODE_TEST) $(UNIT_TESTS)

e2e: build
	$(NODE_TEST) $(E2E_TESTS)

# The README's test command.
test: proto-check build
	$(NODE_TEST) $(UNIT_TESTS) $(E2E_TESTS)

demo: build
	node e2e/dist/demo.js

# Benchmarks print figures (BENCH=name,name runs only those); see docs/BENCHMARKS.md.
bench: build
	node bench/dist/main.js

clean:
	rm -rf packages/*/dist e2e/dist bench/dist packages/*/*.tsbuildinfo e2e/*.tsbuildinfo bench/*.tsbuildinfo
