#!/usr/bin/env bash
# Checks helm/kestrel-operator (make chart-check, part of make test): renders every value set in
# helm/kestrel-operator/ci/ with chart-render and runs tools/chart-check over the result (see its src/main.ts for
# the list of checks). Extra arguments go to chart-check (--write-docs regenerates docs/install.md's values table).
#
# Helm cannot be installed here, so the chart is rendered by chart-render (../shared/tools/chart-render: Helm's
# template engine, built with Debian's Go and sprig). It is built into the ignored .tools/bin when missing, which
# installs those Debian packages on a fresh machine (CI runs as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin="$root/.tools/bin"
render="$bin/chart-render"
if [ ! -x "$render" ]; then
  builder="$root/../shared/tools/chart-render/build.sh"
  if [ ! -f "$builder" ]; then
    echo "chart-check: chart-render is not in .tools/bin and its source ($builder) is not beside the project" >&2
    exit 1
  fi
  echo "chart-check: building chart-render into .tools/bin (first run)" >&2
  mkdir -p "$bin"
  bash "$builder" "$bin" >/dev/null
fi
if [ ! -f tools/chart-check/dist/main.js ]; then
  echo "chart-check: tools/chart-check is not built; run make chart-check (it builds first)" >&2
  exit 1
fi
CHART_RENDER="$render" exec node tools/chart-check/dist/main.js "$@"
