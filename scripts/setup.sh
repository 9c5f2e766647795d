#!/usr/bin/env bash
# Installs the system packages HeteroSched builds against, where they are missing:
# libnuma-dev (the NUMA binding of sched-attempt). Debian and Ubuntu via apt-get; elsewhere it
# says what to install.
set -euo pipefail

if [ -e /usr/include/numa.h ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: libnuma's headers (numa.h) are missing: install libnuma-dev (Debian, Ubuntu) or numactl-devel (RHEL, Fedora)" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "== installing libnuma-dev"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq libnuma-dev >/dev/null
