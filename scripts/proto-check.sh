#!/usr/bin/env bash
# Regenerates the protocol code into a scratch folder and compares it with the committed packages/proto/src/gen,
# so a .proto edit without `make proto` (or a generator drift) fails CI instead of shipping stale code.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf lint
buf generate -o "$tmp"
if ! diff -r "$tmp/packages/proto/src/gen" packages/proto/src/gen >"$tmp/diff.txt"; then
  echo "proto-check: packages/proto/src/gen is not what 'make proto' generates from proto/; run 'make proto' and commit." >&2
  head -50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "proto-check: generated code matches proto/"
