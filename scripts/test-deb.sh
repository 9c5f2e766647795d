#!/usr/bin/env bash
# The Debian package as an operator meets it, in a fresh Debian 12 (bookworm) chroot: install (the
# heterosched user, the token, the units), the coordinator and an agent started as their installed
# units say, a job submitted with the installed schedctl that runs and completes; an upgrade to a
# second build that keeps the token and the job database; remove, then purge. Needs root (chroot,
# mounts, a network namespace for the daemons) and the network for Debian's packages once (the
# base system is cached in $HETEROSCHED_DEB_CACHE, /var/cache/heterosched-test by default).
# Usage: scripts/test-deb.sh FIRST.deb SECOND.deb   (SECOND a later version of the same package)
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: scripts/test-deb.sh FIRST.deb SECOND.deb (build them with scripts/build-deb.sh --version)" >&2
    exit 2
fi
first="$(realpath "$1")"
second="$(realpath "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" != 0 ]; then
    echo "error: run as root: the test makes a chroot, mounts /proc, /sys and /dev in it, and a network namespace" >&2
    exit 1
fi
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }

cache="${HETEROSCHED_DEB_CACHE:-/var/cache/heterosched-test}"
base="$cache/bookworm-minbase.tar"
if [ ! -f "$base" ]; then
    step "making a Debian 12 base system (once; cached in $base)"
    command -v debootstrap >/dev/null 2>&1 || apt-get install -y -qq debootstrap >/dev/null
    mkdir -p "$cache"
    fresh="$(mktemp -d "$cache/base.XXXXXX")"
    debootstrap --variant=minbase bookworm "$fresh" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
        fail "debootstrap failed: see $cache/debootstrap.log"
    # mktemp made it 0700, and the archive keeps the mode of its "/": the system's users could not
    # reach /bin/sh (munge's postinst runs su to its user), nor apt's _apt its lists.
    chmod 755 "$fresh"
    tar -C "$fresh" -cf "$base.new" .
    mv "$base.new" "$base"
    rm -rf "$fresh"
fi

root="$(mktemp -d /tmp/heterosched-deb.XXXXXX)"
mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
# "/" of the system is 0755 whatever its archive says (one made before the line above kept 0700).
chmod 755 "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
for dir in proc sys dev; do
    mount --rbind "/$dir" "$root/$dir"
    mount --make-rslave "$root/$dir"
    mounted+=("$root/$dir")
done
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
cp "$first" "$root/tmp/first.deb"
cp "$second" "$root/tmp/second.deb"
cp "$here/test-deb-units.sh" "$root/tmp/units.sh"
# The daemons listen on the units' port (7070) in a network namespace of their own.
run_units() {
    unshare --net --fork sh -c 'ip link set lo up && exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/bash /tmp/units.sh "$1"' "$root" "$1"
}

step "install $(basename "$first") on a clean Debian 12"
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq /tmp/first.deb >"$root/tmp/install.log" 2>&1 ||
    { cat "$root/tmp/install.log"; fail "apt-get install of the package failed"; }
in_root getent passwd heterosched >/dev/null || fail "no heterosched user"
[ "$(in_root stat -c '%a %U:%G' /etc/heterosched/token)" = "640 root:heterosched" ] ||
    fail "the token is $(in_root stat -c '%a %U:%G' /etc/heterosched/token), not 640 root:heterosched"
[ "$(head -n1 "$root/etc/heterosched/token" | wc -c)" -ge 33 ] || fail "the token is shorter than 32 characters"
[ "$(in_root stat -c '%U %a' /var/lib/heterosched)" = "heterosched 750" ] || fail "/var/lib/heterosched is not heterosched's"
for program in sched-coordinator sched-agent schedctl; do
    in_root "/usr/bin/$program" --help >/dev/null || fail "/usr/bin/$program --help failed in the chroot"
done
in_root /usr/bin/sched-attempt --probe >/dev/null || fail "/usr/bin/sched-attempt --probe failed in the chroot"
for unit in sched-coordinator sched-agent; do
    [ -f "$root/lib/systemd/system/$unit.service" ] || fail "no $unit.service"
    grep -q '^ExecStart=/usr/bin/' "$root/lib/systemd/system/$unit.service" || fail "$unit.service runs no /usr/bin program"
done
token="$(cat "$root/etc/heterosched/token")"

step "the units' commands: a coordinator as heterosched, an agent, a job through the installed schedctl"
run_units first || fail "the installed units did not run a job"

step "upgrade to $(basename "$second")"
before="$(in_root dpkg-query -W -f '${Version}' heterosched)"
in_root apt-get install -y -qq /tmp/second.deb >"$root/tmp/upgrade.log" 2>&1 ||
    { cat "$root/tmp/upgrade.log"; fail "the upgrade failed"; }
after="$(in_root dpkg-query -W -f '${Version}' heterosched)"
[ "$before" != "$after" ] || fail "the version did not change on upgrade ($before)"
[ "$(cat "$root/etc/heterosched/token")" = "$token" ] || fail "the upgrade changed the token"
run_units upgraded || fail "after the upgrade, the job database or the units failed"

step "remove: programs and units go, the configuration and the state stay"
in_root apt-get remove -y -qq heterosched >/dev/null 2>&1 || fail "apt-get remove failed"
for gone in /usr/bin/sched-coordinator /usr/bin/schedctl /lib/systemd/system/sched-agent.service; do
    [ ! -e "$root$gone" ] || fail "$gone is still there after remove"
done
for kept in /etc/default/heterosched /etc/heterosched/token /var/lib/heterosched; do
    [ -e "$root$kept" ] || fail "$kept went with remove (only purge deletes it)"
done

step "purge: the configuration, the token and the state go"
in_root apt-get purge -y -qq heterosched >/dev/null 2>&1 || fail "apt-get purge failed"
for gone in /etc/default/heterosched /etc/heterosched /var/lib/heterosched /var/lib/heterosched-agent; do
    [ ! -e "$root$gone" ] || fail "$gone is still there after purge"
done
in_root dpkg-query -W heterosched >/dev/null 2>&1 && [ -n "$(in_root dpkg-query -W -f '${Status}' heterosched | grep ' installed')" ] &&
    fail "dpkg still lists the package as installed"
echo "PASS: installed, ran a job through the units, upgraded keeping the token and the jobs, removed, purged"
