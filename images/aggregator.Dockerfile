# syntax=docker/dockerfile:1
# kestrel-aggregator: the cluster-level aggregator's image, with kubectl for the investigations' commands.
# Built from the repository root by `make images`, or by hand:
#   docker build -f images/aggregator.Dockerfile -t ghcr.io/kestrelai/kestrel-aggregator:0.1.0 .
# kubectl is downloaded from the Kubernetes release site at build time and checked against its published SHA-256
# (or against --build-arg KUBECTL_SHA256=<hex> to pin it). A builder without that network path points
# KUBECTL_BASE_URL at a mirror with the same layout (<base>/<version>/bin/linux/<arch>/kubectl[.sha256]).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm AS kubectl
ARG KUBECTL_VERSION=v1.33.4
ARG KUBECTL_BASE_URL=https://dl.k8s.io/release
ARG KUBECTL_SHA256=""
ARG TARGETARCH=amd64
RUN set -eu; \
    url="${KUBECTL_BASE_URL}/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl"; \
    curl -fsSL --retry 3 -o /kubectl "$url"; \
    expected="${KUBECTL_SHA256:-$(curl -fsSL --retry 3 "$url.sha256")}"; \
    echo "${expected}  /kubectl" | sha256sum -c -; \
    chmod 0755 /kubectl; \
    /kubectl version --client

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
# Only the aggregator, the workspace packages it uses, and the root's build tools (TypeScript).
RUN pnpm install --offline --frozen-lockfile --filter "@kestrel/aggregator..." --filter kestrel-operator \
 && pnpm exec tsc -b packages/aggregator \
 && node scripts/bundle.mjs aggregator \
 && pnpm --filter @kestrel/aggregator deploy --prod --legacy /out

FROM node:${NODE_VERSION}-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kestrel-aggregator" \
      org.opencontainers.image.description="Kestrel Operator aggregator: agents' batches to Kestrel Cloud" \
      org.opencontainers.image.version="${VERSION}"
ENV NODE_ENV=production
# Memory under load (docs/BENCHMARKS.md, "Aggregator ingest", sessions 8 and 10): V8's young generation otherwise
# grows for good at this allocation rate (4 MiB semi-spaces: a young generation of 8 MiB instead of 16, CPU within
# the runs' spread); one glibc malloc arena, as in the agent's image, instead of one per thread.
ENV NODE_OPTIONS="--max-semi-space-size=4" MALLOC_ARENA_MAX=1
WORKDIR /app
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY --from=build /out /app
# `kubectl exec deploy/<name>-aggregator -- kestrel-aggregator debug status` runs this.
RUN printf '#!/bin/sh\nexec node /app/dist/kestrel-aggregator.mjs "$@"\n' > /usr/local/bin/kestrel-aggregator \
 && chmod 0755 /usr/local/bin/kestrel-aggregator
# Non-root: uid 1000 ("node"), matching aggregator.securityContext in the chart.
USER 1000:1000
EXPOSE 4800 9103
# One bundled file (scripts/bundle.mjs): ~23 MiB less memory than the ~1,800 modules it is made of.
ENTRYPOINT ["node", "/app/dist/kestrel-aggregator.mjs"]
