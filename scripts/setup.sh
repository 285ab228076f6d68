#!/usr/bin/env bash
# Installs what mpiscsi's demo, tests and benchmarks need on a fresh Debian machine (root or sudo):
# the real peers (tgtd, istgt, nats-server, libnbd, fio, qemu-img with libiscsi, libiscsi's tools) and npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
for pair in tgtd:tgt tgtadm:tgt nats-server:nats-server nbdinfo:libnbd-bin nbdcopy:libnbd-bin fio:fio \
  qemu-img:qemu-utils iscsi-perf:libiscsi-bin iscsi-ls:libiscsi-bin istgt:istgt strace:strace; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then need+=("$pkg"); fi
done
# qemu-nbd reaches iSCSI through qemu-block-extra (the libiscsi block driver).
if ! dpkg -s qemu-block-extra >/dev/null 2>&1; then need+=(qemu-block-extra); fi

if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
