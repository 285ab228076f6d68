#!/usr/bin/env bash
# Installs what mpiscsi's demo, tests and benchmarks need on a fresh Debian machine (root or sudo):
# the real peers (tgtd, istgt, nats-server, libnbd, fio, qemu-img with libiscsi, libiscsi's tools) and npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
for pair in tgtd:tgt tgtadm:tgt nats-server:nats-server nbdinfo:libnbd-bin nbdcopy:libnbd-bin fio:fio \
  qemu-img:qemu-utils iscsi-perf:libiscsi-bin iscsi-ls:libiscsi-bin istgt:istgt strace:strace iscsiadm:open-iscsi \
  systemd-analyze:systemd groff:groff-base man:man-db; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then need+=("$pkg"); fi
done
# qemu-nbd reaches iSCSI through qemu-block-extra (the libiscsi block driver).
if ! dpkg -s qemu-block-extra >/dev/null 2>&1; then need+=(qemu-block-extra); fi

fresh_iscsi=0
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # open-iscsi is here for its iscsiadm only (the compatibility test runs it offline in a private mount and
  # network namespace, test/support/iscsiadm.ts). Its postinst would start iscsid.socket where systemd runs,
  # and enables iscsid.socket and open-iscsi.service (a boot-time login to the machine's own node records):
  # a policy-rc.d that refuses keeps anything from starting during the install, and the units are disabled after.
  if printf '%s\n' "${need[@]}" | grep -qx open-iscsi; then fresh_iscsi=1; fi
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy"
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { [ -z "$policy" ] || $SUDO rm -f "$policy"; exit 1; }
  [ -z "$policy" ] || $SUDO rm -f "$policy"
fi
# Only the units this run's install enabled: a machine that used open-iscsi before keeps its own.
if [ "$fresh_iscsi" = 1 ] && command -v systemctl >/dev/null 2>&1; then
  for unit in iscsid.socket iscsid.service open-iscsi.service; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null; then $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
