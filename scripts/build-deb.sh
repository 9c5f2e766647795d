#!/usr/bin/env bash
# Builds the Debian package: the four programs (release, Swift runtime linked in), the systemd
# units, a default configuration, and maintainer scripts that make the heterosched system user and
# the shared token on first install. Usage:
#   scripts/build-deb.sh [--bin DIR] [--version VERSION] [--out DIR]
# Without --bin it builds the programs first (scripts/build-release.sh, into dist/bin). The version
# defaults to 0.N, N the number of commits, so that a later build upgrades an earlier one.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""
version=""
out="dist"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see scripts/build-deb.sh --help)" >&2; exit 2 ;;
    esac
done
for tool in dpkg-deb fakeroot; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is missing: apt-get install -y dpkg-dev fakeroot" >&2
        exit 1
    fi
done
if [ -z "$bin" ]; then
    bin="dist/bin"
    scripts/build-release.sh "$bin"
fi
for program in sched-coordinator sched-agent sched-attempt schedctl; do
    if [ ! -x "$bin/$program" ]; then
        echo "error: $bin/$program is missing: build the programs with scripts/build-release.sh" >&2
        exit 1
    fi
done
if [ -z "$version" ]; then
    version="0.$(git rev-list --count HEAD 2>/dev/null || echo 0)"
fi
if ! printf '%s' "$version" | grep -Eq '^[0-9][A-Za-z0-9.+~-]*$'; then
    echo "error: --version '$version' is not a Debian version (it starts with a digit: 0.412)" >&2
    exit 2
fi
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/heterosched"

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/default" \
    "$root/usr/share/doc/heterosched" "$root/usr/share/heterosched"
for program in sched-coordinator sched-agent sched-attempt schedctl; do
    install -m 0755 "$bin/$program" "$root/usr/bin/$program"
done
# The units as deploy/systemd has them, with the package's paths and /etc/default/heterosched's options.
for unit in sched-coordinator sched-agent; do
    { echo "# Installed by the heterosched package; its settings are in /etc/default/heterosched."
      sed -n '/^\[Unit\]/,$p' "deploy/systemd/$unit.service"; } |
    sed -e 's|/usr/local/bin/|/usr/bin/|g' \
        -e 's|/usr/local/share/doc/heterosched/|/usr/share/doc/heterosched/|g' \
        -e '/^Environment=HETEROSCHED_ADDRESS=/d' \
        -e 's|^\[Service\]$|[Service]\nEnvironmentFile=-/etc/default/heterosched|' \
        > "$root/lib/systemd/system/$unit.service"
done
sed -i -e 's|--data-dir /var/lib/heterosched$|--data-dir /var/lib/heterosched $HETEROSCHED_COORDINATOR_OPTIONS|' \
    "$root/lib/systemd/system/sched-coordinator.service"
sed -i -e 's|--data-dir /var/lib/heterosched-agent$|--data-dir /var/lib/heterosched-agent $HETEROSCHED_AGENT_OPTIONS|' \
    "$root/lib/systemd/system/sched-agent.service"
for unit in sched-coordinator sched-agent; do
    grep -q 'OPTIONS' "$root/lib/systemd/system/$unit.service" || {
        echo "error: deploy/systemd/$unit.service changed shape: its ExecStart no longer ends with --data-dir" >&2
        exit 1
    }
done
cat > "$root/etc/default/heterosched" <<'EOF'
# HeteroSched's settings for its systemd units (sched-coordinator, sched-agent) and for schedctl.
# After a change: systemctl restart sched-coordinator (or sched-agent).

# The coordinator agents and schedctl reach (several, comma-separated, for a leader and a standby).
HETEROSCHED_ADDRESS=127.0.0.1:7070

# More options for sched-coordinator (sched-coordinator --help), after --listen 0.0.0.0:7070,
# --token-file and --data-dir: for example --http 127.0.0.1:9090 --queues /etc/heterosched/queues.yaml
HETEROSCHED_COORDINATOR_OPTIONS=""

# More options for sched-agent run (sched-agent run --help): for example --labels rack=r7
HETEROSCHED_AGENT_OPTIONS=""
EOF
install -m 0644 docs/operations.md README.md "$root/usr/share/doc/heterosched/"
install -m 0644 deploy/catalog/chips.yaml "$root/usr/share/heterosched/chips.yaml"
echo "/etc/default/heterosched" > "$root/DEBIAN/conffiles"

# What the programs load, as the packages that hold those libraries here (the Swift runtime and
# Foundation are linked in; libc, libstdc++, ICU, libxml2, libnuma, libmunge, SQLite stay shared).
libraries="$(for program in sched-coordinator sched-agent sched-attempt schedctl; do
    { ldd "$bin/$program" 2>/dev/null || true; } | awk '/=>/ { print $3 }'
done | sort -u)"
packages="$(for library in $libraries; do
    dpkg -S "$library" 2>/dev/null || dpkg -S "$(readlink -f "$library")" 2>/dev/null || true
done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')"
if [ -z "$packages" ]; then
    echo "error: cannot tell which packages hold the programs' libraries (ldd and dpkg -S found none)" >&2
    exit 1
fi
depends="$packages, passwd"
size="$(du -sk "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<EOF
Package: heterosched
Version: $version
Architecture: $arch
Maintainer: HeteroSched developers <heterosched@localhost>
Installed-Size: $size
Depends: $depends
Recommends: munge
Section: admin
Priority: optional
Homepage: https://localhost/heterosched
Description: scheduler for fleets of NVIDIA and Chinese accelerators
 A coordinator (sched-coordinator), node agents (sched-agent, sched-attempt) and the
 command line (schedctl) that place training and inference jobs on NVIDIA GPUs and Huawei
 Ascend, Kunlunxin, Hygon, Cambricon, Moore Threads, MetaX, Biren, Enflame and Iluvatar chips.
 The units are installed disabled: enable sched-coordinator on the coordinator's host and
 sched-agent on every node (systemctl enable --now).
EOF

cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# Makes the heterosched system user, the state directories and, on first install, the shared token
# (/etc/heterosched/token, 0640 root:heterosched: add users who may submit to the group, or copy it
# to agents and users' hosts). An upgrade restarts the units that were running.
set -e
if [ "$1" = configure ]; then
    if ! getent passwd heterosched >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/heterosched --no-create-home \
            --shell /usr/sbin/nologin heterosched
    fi
    install -d -m 0755 /etc/heterosched
    if [ ! -e /etc/heterosched/token ]; then
        umask 077
        od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > /etc/heterosched/token.new
        echo >> /etc/heterosched/token.new
        chown root:heterosched /etc/heterosched/token.new
        chmod 0640 /etc/heterosched/token.new
        mv /etc/heterosched/token.new /etc/heterosched/token
        echo "heterosched: made the shared token /etc/heterosched/token (copy it to every host of the fleet)"
    fi
    install -d -o heterosched -g heterosched -m 0750 /var/lib/heterosched
    install -d -m 0711 /var/lib/heterosched-agent
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        if [ -n "$2" ]; then
            systemctl try-restart sched-coordinator.service sched-agent.service || true
        else
            echo "heterosched: enable the coordinator (systemctl enable --now sched-coordinator) on one host"
            echo "heterosched: and the agent (systemctl enable --now sched-agent) on every node"
        fi
    fi
fi
exit 0
EOF
cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# Removal stops the units (jobs an agent started run on: they live outside its unit); an upgrade
# leaves them running until postinst restarts them on the new programs.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now sched-coordinator.service sched-agent.service >/dev/null 2>&1 || true
fi
exit 0
EOF
cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# Purge deletes the token and the state: the job database, accounting, the agent's attempts. The
# heterosched user stays (files it owned elsewhere would be left to a reused id).
set -e
if [ "$1" = purge ]; then
    rm -f /etc/heterosched/token /etc/heterosched/token.new
    rmdir /etc/heterosched 2>/dev/null || true
    rm -rf /var/lib/heterosched /var/lib/heterosched-agent
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/heterosched_${version}_${arch}.deb"
fakeroot dpkg-deb --build -Zxz "$root" "$deb" >/dev/null
echo "$deb"
