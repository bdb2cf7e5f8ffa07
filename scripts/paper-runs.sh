#!/usr/bin/env bash
# Run the committed bench paper runs of docs/paper-runs again, with the commands the docs quote,
# on this machine (quiet: a run under load says so in its results.md). Takes about 10 minutes.
# The figures alone are drawn again from the committed results.json by `npm run paper:figures`.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
vfun() { node dist/src/cli/main.js "$@"; }
runs=docs/paper-runs
tmp=$(mktemp -d "${TMPDIR:-/tmp}/paper-runs-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The paper's five instances plus 5K x 100k at the default scale (1/1000).
vfun bench paper --no-progress -o "$tmp/default"
# Two instances at scale 1/100: calls ten times longer.
vfun bench paper --instances 250Kx2k,5Kx100k --scale 100 --no-fpga --no-progress -o "$tmp/scale100"
# 250K x 2k traced (2,000 calls per trace: small enough to commit), and its factorial trace
# replayed on the FPGA model, as its profile says (launch 30 µs) and with a 2 µs launch.
vfun bench paper --instances 250Kx2k --trace --no-progress -o "$tmp/traced"
vfun replay-trace "$tmp/traced/trace-factorial-250Kx2k.jsonl" --device alveo-u250 --launch-us 30,2 -o "$tmp/traced"
# One cell repeated until its median's 95% CI is within ±1% (or 50 runs).
vfun bench paper --instances 250Kx2k --until-stable --no-progress -o "$tmp/stable"

for r in default scale100 traced stable; do
  rm -rf "${runs:?}/$r"
  mv "$tmp/$r" "$runs/$r"
done
echo "docs/paper-runs: default, scale100, traced, stable written"
