#!/usr/bin/env bash
# The demo until the daemon exists: starts tgtd on a free loopback port with a plain, a CHAP and a null LUN,
# then runs the mpiscsi tools against it (discovery, inquiry, capacity, dd both ways with sha256 checks,
# perf) and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
MPISCSI="node dist/src/cli/mpiscsi.js"

work=$(mktemp -d /tmp/mpiscsi-demo.XXXXXX)
ctl=$((1000 + RANDOM % 29000))
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
tgtd_pid=""
cleanup() {
  [ -n "$tgtd_pid" ] && kill -9 "$tgtd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting tgtd on 127.0.0.1:$port (control socket $ctl)"
/usr/sbin/tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" 2>"$work/tgtd.log" &
tgtd_pid=$!
adm() { /usr/sbin/tgtadm -C "$ctl" --lld iscsi "$@"; }
for _ in $(seq 100); do adm --op show --mode sys >/dev/null 2>&1 && break; sleep 0.05; done
head -c $((32 * 1024 * 1024)) /dev/urandom >"$work/disk0.img"
truncate -s 32M "$work/secure.img"
adm --op new --mode target --tid 1 -T iqn.2026-11.demo:disk0
adm --op new --mode logicalunit --tid 1 --lun 1 -b "$work/disk0.img"
adm --op bind --mode target --tid 1 -I ALL
adm --op new --mode target --tid 2 -T iqn.2026-11.demo:secure
adm --op new --mode logicalunit --tid 2 --lun 1 -b "$work/secure.img"
adm --op bind --mode target --tid 2 -I ALL
adm --op new --mode account --user demo-user --password demo-secret-123
adm --op bind --mode account --tid 2 --user demo-user
# tgtd offers no digests unless told to; allow CRC32C on the secure target.
adm --op update --mode target --tid 2 -n HeaderDigest -v CRC32C,None
adm --op update --mode target --tid 2 -n DataDigest -v CRC32C,None
adm --op new --mode target --tid 3 -T iqn.2026-11.demo:null
adm --op new --mode logicalunit --tid 3 --lun 1 --bstype null -b "$work/secure.img"
adm --op bind --mode target --tid 3 -I ALL

step "mpiscsi ls -s iscsi://127.0.0.1:$port"
$MPISCSI ls -s "iscsi://127.0.0.1:$port" || true

step "mpiscsi inq (standard and VPD 0x83) and readcap"
$MPISCSI inq "iscsi://127.0.0.1:$port/iqn.2026-11.demo:disk0/1"
$MPISCSI inq -e 1 -c 0x83 "iscsi://127.0.0.1:$port/iqn.2026-11.demo:disk0/1"
$MPISCSI readcap "iscsi://127.0.0.1:$port/iqn.2026-11.demo:disk0/1"

step "mpiscsi dd: LUN -> file, sha256 against the backing file"
$MPISCSI dd -s "iscsi://127.0.0.1:$port/iqn.2026-11.demo:disk0/1" -d "$work/copy.img"
sha256sum "$work/disk0.img" "$work/copy.img"

step "mpiscsi dd: file -> CHAP-protected LUN (secret from the environment), with digests"
MPISCSI_CHAP_PASSWORD=demo-secret-123 $MPISCSI dd -s "$work/copy.img" \
  -d "iscsi://demo-user@127.0.0.1:$port/iqn.2026-11.demo:secure/1?header_digest=crc32c&data_digest=crc32c"
sha256sum "$work/copy.img" "$work/secure.img"

step "mpiscsi perf: 128 KiB sequential reads, 32 in flight, 5 s, null LUN"
$MPISCSI perf -m 32 -b 256 -t 5 "iscsi://127.0.0.1:$port/iqn.2026-11.demo:null/1"

step "done"
