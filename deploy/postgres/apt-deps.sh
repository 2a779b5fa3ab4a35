#!/usr/bin/env bash
# Install the Debian packages the hessra_authz extension and its tests need: the
# PostgreSQL server and PL/Python for its major version. Idempotent and quick when
# everything is present (no apt-get update then). Used by .ci/run and `make pg-deps`.
set -euo pipefail

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-deps: no apt-get here; install PostgreSQL and PL/Python (plpython3u) yourself" >&2
    exit 0
fi

major=""
pg_config=$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$pg_config" ]; then
    major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
fi

missing=()
if [ -z "$major" ]; then
    missing+=(postgresql)
elif ! dpkg-query -W -f='${Status}' "postgresql-plpython3-$major" 2>/dev/null | grep -q "ok installed"; then
    missing+=("postgresql-plpython3-$major")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "apt-deps: missing ${missing[*]}; run: sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -z "$major" ]; then
    # The server was missing too: now that it is there, add PL/Python for its version.
    exec "$0"
fi
echo "apt-deps: installed ${missing[*]}"
