#!/usr/bin/env bash
# The unit tier's promise, checked on a machine that has everything installed: `npm run test:unit`
# needs no NATS server, no QEMU, no busybox, no network and no root. As root (CI), this runs the unit
# tier in a private mount and network namespace (no network at all, not even loopback) where the
# programs of scripts/system-packages.json's "pretest" packages, apt-get and the VM cache are gone,
# as an unprivileged user (nobody). Without root or unshare it runs `npm run test:unit` as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
  echo "unit-tier-isolated: not root (or no unshare/setpriv): running the unit tier as it is" >&2
  exec npm run test:unit -- "$@"
fi

# Paths to hide: every program of a "pretest" package wherever it is, their static ELF paths, apt-get.
hide=$(node -e '
  const { accessSync, constants } = require("node:fs");
  const { packages } = require("./scripts/system-packages.json");
  const dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  const out = new Set();
  const add = (p) => { try { accessSync(p, constants.F_OK); out.add(p); } catch {} };
  for (const p of packages.filter((p) => p.from === "pretest")) {
    for (const prog of p.programs) for (const d of dirs) add(`${d}/${prog}`);
    for (const f of p.staticElf ?? []) add(f);
  }
  for (const d of dirs) add(`${d}/apt-get`);
  console.log([...out].join("\n"));
')
home=$(mktemp -d "${TMPDIR:-/tmp}/vfun-unit-isolated.XXXXXX")
trap 'rm -rf "$home"' EXIT
mkdir "$home/vm-cache"
chown -R 65534:65534 "$home"

# The unprivileged user must be able to run node and read the checkout (a private $TMPDIR or home
# directory would stop it): otherwise stay root inside the namespace, and say so.
as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
if ! $as_user node -e 'require(process.argv[1])' "$PWD/package.json" >/dev/null 2>&1; then
  echo "unit-tier-isolated: uid 65534 cannot run node or read $PWD: running as root (still no network)" >&2
  as_user=""
fi
echo "unit-tier-isolated: no network, ${as_user:+as uid 65534, }without: $(echo $hide | tr '\n' ' ')" >&2
# /dev/null bound over a program: it is still listed, but neither runnable nor a regular file.
# vitest's runner config loader writes nothing into node_modules (the user cannot).
HIDE="$hide" HOME_DIR="$home" AS_USER="$as_user" unshare --mount --net --propagation private bash -c '
  set -euo pipefail
  for p in $HIDE; do mount --bind /dev/null "$p"; done
  exec $AS_USER env HOME="$HOME_DIR" TMPDIR="$HOME_DIR" VIRTFUN_VM_CACHE="$HOME_DIR/vm-cache" \
    npx vitest run --project unit --configLoader runner "$@"
' _ "$@"
