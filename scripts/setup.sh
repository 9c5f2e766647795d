#!/usr/bin/env bash
# Installs the system packages HeteroSched needs, where they are missing: libnuma-dev (the NUMA
# binding of sched-attempt) and libmunge-dev (MUNGE identities). With --tests, also what the test
# suite runs for real: podman, runc and busybox-static (a container runtime and the one-file image
# the container tests build) and munge (the tests start their own munged); without them those tests
# say they were skipped; chromium, the browser the web page's test drives headless; and postgresql,
# whose server the PostgreSQL store's tests start and stop themselves; fakeroot and debootstrap for
# the Debian package's test. Debian and
# Ubuntu via apt-get; elsewhere it says what to install.
set -euo pipefail

packages=()
[ -e /usr/include/numa.h ] || packages+=(libnuma-dev)
[ -e /usr/include/munge.h ] || packages+=(libmunge-dev)
if [ "${1:-}" = "--tests" ]; then
    [ -x /usr/sbin/munged ] || packages+=(munge)
    command -v podman >/dev/null 2>&1 || packages+=(podman)
    command -v runc >/dev/null 2>&1 || packages+=(runc)
    [ -x /bin/busybox ] || packages+=(busybox-static)
    command -v chromium >/dev/null 2>&1 || packages+=(chromium)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
    # The Debian package's test: building it, and a Debian 12 chroot to install it in.
    command -v fakeroot >/dev/null 2>&1 || packages+=(fakeroot)
    command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
fi
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${packages[*]}: install them (libnuma-dev is numactl-devel on RHEL and Fedora)" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "== installing ${packages[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
