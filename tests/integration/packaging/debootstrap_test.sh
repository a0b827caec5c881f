#!/usr/bin/env bash
# The packages install on a fresh Debian 12: a minimal bookworm tree made with debootstrap (a
# chroot this test creates; the base tree is cached as a tarball between runs), then
# `apt-get install ./tsunagu-*.deb` inside it pulls every runtime dependency from Debian, creates
# the system users and private data directories, and the installed binaries run and check the
# shipped configs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
build=$1
[ "$(id -u)" = 0 ] || { echo "the debootstrap test needs root"; exit 1; }
cache=${TSUNAGU_DEBOOTSTRAP_CACHE:-/var/cache/tsunagu-test}
tmp=$(mktemp -d /tmp/tsunagu-deb-XXXXXX)
root=$tmp/root
cleanup() {
  for m in proc dev/pts dev; do umount -l "$root/$m" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$build" && cpack -G DEB -B "$tmp/debs" > "$tmp/cpack.log" 2>&1)
expect_eq "cpack builds the packages" 0 $?

mkdir -p "$cache" "$root"
tarball=$cache/bookworm-minbase.tar.gz
if [ ! -s "$tarball" ]; then
  timeout 900 debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$tmp/mk" \
    http://deb.debian.org/debian > "$tmp/debootstrap.log" 2>&1 && mv "$tarball.tmp" "$tarball"
fi
timeout 900 debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" \
  http://deb.debian.org/debian > "$tmp/debootstrap.log" 2>&1
rc=$?
expect_eq "debootstrap makes a fresh bookworm tree" 0 "$rc"
if [ "$rc" -ne 0 ]; then tail -5 "$tmp/debootstrap.log"; finish; exit 1; fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mkdir -p "$root/tmp/debs"
cp "$tmp"/debs/*.deb "$root/tmp/debs/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

in_root apt-get update -qq > "$tmp/apt.log" 2>&1
debs=()
for f in "$tmp"/debs/tsunagu-gateway_*.deb "$tmp"/debs/tsunagu-relay_*.deb; do
  debs+=("/tmp/debs/$(basename "$f")")
done
in_root apt-get install -y -qq --no-install-recommends "${debs[@]}" >> "$tmp/apt.log" 2>&1
rc=$?
expect_eq "apt-get install ./tsunagu-*.deb on a fresh Debian 12" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$tmp/apt.log"

for svc in gateway relay; do
  check "$svc: system user created" in_root getent passwd "tsunagu-$svc"
  expect_eq "$svc: config is root:tsunagu-$svc 0640" "640 root tsunagu-$svc" \
    "$(in_root stat -c '%a %U %G' "/etc/tsunagu/$svc.toml")"
  expect_eq "$svc: data directory private to the service" "700 tsunagu-$svc" \
    "$(in_root stat -c '%a %U' "/var/lib/tsunagu/$svc")"
  out=$(in_root "tsunagu-$svc" --version 2>&1)
  expect_contains "$svc: installed binary runs (all libraries resolved)" "tsunagu-$svc" "$out"
  # The shipped config names certificates and secrets an administrator must still provide:
  # --check must say so, naming each missing file, and exit 2.
  out=$(in_root "tsunagu-$svc" --check --config "/etc/tsunagu/$svc.toml" 2>&1); rc=$?
  expect_eq "$svc: --check on the shipped config exits 2 until certificates exist" 2 "$rc"
  expect_contains "$svc: --check names the missing files" "does not exist" "$out"
  out=$(in_root env TSUNAGU_LANG=en "tsunagu-$svc" doctor --config "/etc/tsunagu/$svc.toml" 2>&1); rc=$?
  expect_eq "$svc: doctor on the shipped config exits 2" 2 "$rc"
  expect_contains "$svc: doctor says what to do (the shipped config is in Japanese)" "対処: " "$out"
done
expect_eq "spool directory private to the gateway" "700 tsunagu-gateway" \
  "$(in_root stat -c '%a %U' /var/lib/tsunagu/spool)"
in_root apt-get remove -y -qq tsunagu-gateway >> "$tmp/apt.log" 2>&1
expect_eq "the gateway package removes cleanly" 0 $?
check "data stays after remove" test -d "$root/var/lib/tsunagu/spool"
finish
