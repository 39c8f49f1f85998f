#!/usr/bin/env bash
# The whole test suite: set-up, type-check, lint, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
# TypeScript's own bin, by path: jco's dependencies also ship a `tsc` that `npm install` may link into
# node_modules/.bin in its place (a TypeScript 6 compiler API that fails the web type-check).
TSC=(node node_modules/typescript/bin/tsc)
echo "== typecheck"; "${TSC[@]}" --noEmit && "${TSC[@]}" --noEmit -p web
echo "== lint"; eslint . && prettier --check . >/dev/null
echo "== tests"; vitest run
