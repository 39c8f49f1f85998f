#!/usr/bin/env bash
# Brings up a single-node Strata with the examples running, on a fresh Debian 12 machine.
#   1. installs what is missing (Debian packages, npm dependencies incl. Node 24, example wasm modules)
#   2. starts `strata up` in the background (state in ~/.strata, HTTPS API on 127.0.0.1:6443)
#   3. applies examples/ and shows the pods
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Put `strata` on PATH for the tour (only if nothing else of that name is there).
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/local/bin/strata ]; then
  ln -s "$PWD/bin/strata" /usr/local/bin/strata
fi
strata() { "$PWD/bin/strata" "$@"; }

strata up -d
# The container example's image, into the node's image store (no registry needed for the tour).
strata image import build/images/httpd --name localhost/httpd:1.0 >/dev/null
strata apply -f examples/
echo
echo "Waiting for the example pods to start..."
for _ in $(seq 1 100); do
  running=$(strata get pods -o name --field-selector status.phase=Running 2>/dev/null | wc -l)
  [ "$running" -ge 5 ] && break
  sleep 0.2
done
strata get pods -o wide
cat <<'MSG'

Strata is running with the examples (HTTPS on 127.0.0.1:6443, cluster CA in ~/.strata/data/tls). Next:
  export KUBECONFIG=~/.strata/config              # kubectl works unchanged with it
  kubectl get pods -o wide                        # or: strata get pods -o wide
  strata get pods -w                              # watch them
  strata logs -f ticker                           # follow the long-running wasm pod
  strata run --rm wasm build/wasm/hello.wasm -- world
  curl http://127.0.0.1:18080/                     # the container web service on its hostPort
  strata get jobs; strata get deploy
  strata describe deployment ticker
  strata down                                     # stop it (state stays in ~/.strata)
MSG
