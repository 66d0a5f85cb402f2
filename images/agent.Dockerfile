# syntax=docker/dockerfile:1
# kestrel-agent: the node agent's image. Built from the repository root by `make images`, or by hand:
#   docker build -f images/agent.Dockerfile -t ghcr.io/kestrelai/kestrel-agent:0.1.0 .
# NODE_VERSION and PNPM_VERSION are the ones scripts/bootstrap.sh pins for tests (make images passes them;
# scripts/chart-check.sh fails when these defaults drift from it).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm AS build
ARG PNPM_VERSION=12.21.0
RUN npm install --global --ignore-scripts --no-audit --no-fund pnpm@${PNPM_VERSION}
WORKDIR /src
# Dependencies are fetched from the lockfile alone, so this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
# The lockfile names patched dependencies (pnpm-workspace.yaml, patchedDependencies): their patches are applied at install.
COPY patches ./patches
RUN pnpm fetch
COPY . .
# Only the agent, the workspace packages it uses, and the root's build tools (TypeScript).
RUN pnpm install --offline --frozen-lockfile --filter "@kestrel/agent..." --filter kestrel-operator \
 && pnpm exec tsc -b packages/agent \
 && node scripts/bundle.mjs agent \
 && pnpm --filter @kestrel/agent deploy --prod --legacy /out

FROM node:${NODE_VERSION}-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kestrel-agent" \
      org.opencontainers.image.description="Kestrel Operator node agent: container logs to the aggregator" \
      org.opencontainers.image.version="${VERSION}"
ENV NODE_ENV=production
# Memory on every node (docs/BENCHMARKS.md, "Idle files"): a young generation capped at 8 MiB per semi-space keeps
# the first read of every log file from growing V8's heap for good (about 40 MiB less RSS with 2,000 files, same
# throughput), and one glibc malloc arena for all threads instead of one per thread saves a few more MiB (about 2 MiB
# against two arenas). --expose-gc lets the agent run one last-resort GC once the files read at start are parked,
# which gives V8's pages of that read back (about 24 MiB with 2,000 files; main.ts).
ENV NODE_OPTIONS="--max-semi-space-size=8 --expose-gc" MALLOC_ARENA_MAX=1
WORKDIR /app
COPY --from=build /out /app
# `kubectl exec ds/<name>-agent -- kestrel-agent debug status` runs this.
RUN printf '#!/bin/sh\nexec node /app/dist/bundle/kestrel-agent.mjs "$@"\n' > /usr/local/bin/kestrel-agent \
 && chmod 0755 /usr/local/bin/kestrel-agent
# The image's own user is not root (uid 1000, "node"); the chart runs the agent as root with no capabilities,
# because the kubelet's log files are root-only on many nodes (docs/install.md, "Why the agent runs as root").
USER 1000:1000
EXPOSE 9102
# The bundle (scripts/bundle.mjs): less memory on every node than dist/main.js and its modules.
ENTRYPOINT ["node", "/app/dist/bundle/kestrel-agent.mjs"]
