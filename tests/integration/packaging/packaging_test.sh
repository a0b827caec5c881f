#!/usr/bin/env bash
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/testlib.sh"
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$build" && cpack -G DEB -B "$tmp/out" > "$tmp/cpack.log" 2>&1)
expect_eq "cpack builds the packages" 0 $?
for svc in gateway relay; do
  deb=$(ls "$tmp"/out/tsunagu-${svc}_*_amd64.deb 2>/dev/null | head -1)
  check "tsunagu-$svc package exists" test -f "$deb"
  [ -f "$deb" ] || continue
  control=$(dpkg-deb -f "$deb")
  expect_contains "$svc: package name" "Package: tsunagu-$svc" "$control"
  depends=$(dpkg-deb -f "$deb" Depends)
  expect_contains "$svc: Depends computed from the binary (libc6)" "libc6" "$depends"
  expect_contains "$svc: Depends on adduser for the system user" "adduser" "$depends"
  dpkg-deb -e "$deb" "$tmp/$svc-control"
  expect_eq "$svc: the config is a conffile" "/etc/tsunagu/$svc.toml" "$(cat "$tmp/$svc-control/conffiles")"
  check "$svc: postinst creates the system user" grep -q "adduser --system --group" "$tmp/$svc-control/postinst"
  check "$svc: postinst is valid sh" sh -n "$tmp/$svc-control/postinst"
  dpkg-deb -x "$deb" "$tmp/$svc-root"
  check "$svc: binary installed in /usr/bin" test -x "$tmp/$svc-root/usr/bin/tsunagu-$svc"
  check "$svc: stripped binary" bash -c "! file '$tmp/$svc-root/usr/bin/tsunagu-$svc' | grep -q 'not stripped'"
  unit="$tmp/$svc-root/lib/systemd/system/tsunagu-$svc.service"
  check "$svc: systemd unit installed" test -f "$unit"
  # The packaged example config is valid as shipped (apart from the files it names).
  out=$("$tmp/$svc-root/usr/bin/tsunagu-$svc" --version 2>&1)
  expect_contains "$svc: packaged binary runs" "tsunagu-$svc" "$out"
  # systemd-analyze verify needs the ExecStart binary: point the unit at the extracted one.
  sed "s|/usr/bin/tsunagu-$svc|$tmp/$svc-root/usr/bin/tsunagu-$svc|g" "$unit" > "$tmp/tsunagu-$svc.service"
  out=$(systemd-analyze verify "$tmp/tsunagu-$svc.service" 2>&1)
  expect_eq "$svc: systemd-analyze verify passes" "" "$out"
  score=$(systemd-analyze security --offline=true "$tmp/tsunagu-$svc.service" 2>&1 |
          sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  echo "$svc: systemd-analyze security exposure $score"
  check "$svc: sandbox exposure is low (<= 2.0, got $score)" \
    awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
  for key in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes RestrictAddressFamilies= \
             CapabilityBoundingSet= Restart=on-failure; do
    check "$svc: unit sets $key" grep -q "^$key" "$unit"
  done
done
finish
