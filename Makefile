# Every target runs with the pinned Node 24 and pnpm that scripts/bootstrap.sh puts in .tools/bin.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(PATH)

NODE_TEST := node --test --test-reporter=spec --test-concurrency=1
UNIT_TESTS := 'packages/*/dist/**/*.test.js'
E2E_TESTS := 'e2e/dist/**/*.test.js'

.PHONY: all tools install proto proto-check build test unit e2e demo bench clean chart-check chart-docs images

all: build

tools:
	@scripts/bootstrap.sh

node_modules/.modules.yaml: package.json pnpm-lock.yaml pnpm-workspace.yaml $(wildcard packages/*/package.json) $(wildcard tools/*/package.json) e2e/package.json bench/package.json | tools
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

# The aggregator and the agent also run bundled (scripts/bundle.mjs: less memory), as their images, the e2e tests and
# the benchmarks run them.
build: install
	tsc -b
	node scripts/bundle.mjs

unit: build
	$(NODE_TEST) $(UNIT_TESTS)

e2e: build
	$(NODE_TEST) $(E2E_TESTS)

# Renders the Helm chart for every value set in helm/kestrel-operator/ci and checks values, manifests, settings,
# RBAC, internal TLS and docs/install.md; the broken value sets in ci-invalid must fail naming the value.
chart-check: build
	@scripts/chart-check.sh

# Regenerates the values reference in docs/install.md from values.schema.json (then checks everything else).
chart-docs: build
	@scripts/chart-check.sh --write-docs

# The README's test command.
test: proto-check build chart-check
	$(NODE_TEST) $(UNIT_TESTS) $(E2E_TESTS)

demo: build
	node e2e/dist/demo.js

# Benchmarks print figures (BENCH=name,name runs only those); see docs/BENCHMARKS.md.
bench: build
	node bench/dist/main.js

# Container images, tagged as the chart expects (<registry>/<repository>:<Chart.yaml appVersion>). Needs a Docker
# engine; not part of make test. The aggregator image downloads kubectl (KUBECTL_VERSION; see its Dockerfile).
IMAGE_REGISTRY ?= ghcr.io/kestrelai
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' helm/kestrel-operator/Chart.yaml)
KUBECTL_VERSION ?= v1.33.4
IMAGE_BUILD_ARGS = --build-arg NODE_VERSION=$(shell sed -n 's/^NODE_VERSION=//p' scripts/bootstrap.sh) \
	--build-arg PNPM_VERSION=$(shell sed -n 's/^PNPM_VERSION=//p' scripts/bootstrap.sh) --build-arg VERSION=$(IMAGE_TAG)

images:
	@command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || { \
	  echo "make images: no Docker engine here ('docker info' failed): run it where one is, or build with another" >&2; \
	  echo "  BuildKit-compatible builder from images/agent.Dockerfile and images/aggregator.Dockerfile (context: the repository root)." >&2; \
	  exit 1; }
	DOCKER_BUILDKIT=1 docker build -f images/agent.Dockerfile $(IMAGE_BUILD_ARGS) -t $(IMAGE_REGISTRY)/kestrel-agent:$(IMAGE_TAG) .
	DOCKER_BUILDKIT=1 docker build -f images/aggregator.Dockerfile $(IMAGE_BUILD_ARGS) --build-arg KUBECTL_VERSION=$(KUBECTL_VERSION) \
	  -t $(IMAGE_REGISTRY)/kestrel-aggregator:$(IMAGE_TAG) .

clean:
	rm -rf packages/*/dist e2e/dist bench/dist tools/*/dist packages/*/*.tsbuildinfo e2e/*.tsbuildinfo bench/*.tsbuildinfo tools/*/*.tsbuildinfo
