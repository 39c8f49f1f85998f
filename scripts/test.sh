#!/usr/bin/env bash
# The whole test suite: set-up, type-check, lint, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== typecheck"; tsc --noEmit && tsc --noEmit -p web
echo "== lint"; eslint . && prettier --check . >/dev/null
echo "== tests"; vitest run
