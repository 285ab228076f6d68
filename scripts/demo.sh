#!/usr/bin/env bash
# The demo: tgtd with two portals and nats-server on loopback, mpiscsid, two paths (two ifaces, two portals)
# discovered and logged in with mpiscsiadm, the multipath device exported over NBD, 256 MiB copied through it
# with nbdcopy while one path's connection is reset at the target, the data checked, the failover's trace
# summary (detect, requeue, first completion on the new path, restored) and a plot of the I/O per path.
# Cleans up after itself. Run through `npm run demo` (which installs what it needs and builds first).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/mpiscsi-demo.XXXXXX)
out=${MPISCSI_DEMO_OUT:-$PWD/demo-output}
mkdir -p "$out"
freeport() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ctl=$((1000 + RANDOM % 29000))
port=$(freeport)
nats_port=$(freeport)
nats_url="nats://127.0.0.1:$nats_port"
host_id=demo
pids=()
cleanup() {
  # tgtd ends on tgtadm's system delete, not on SIGTERM; what is still running after that gets SIGKILL, reaped
  # here so bash prints no "Killed" line for it.
  /usr/sbin/tgtadm -C "$ctl" --op delete --mode system >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export MPISCSI_DB="$work/db" MPISCSI_NATS_URL="$nats_url" MPISCSI_HOST_ID="$host_id"
ADM="node dist/src/cli/mpiscsiadm.js"
tgtadm_() { /usr/sbin/tgtadm -C "$ctl" --lld iscsi "$@"; }

step "tgtd on 127.0.0.1:$port and 127.0.0.2:$port, one 256 MiB LUN; nats-server with JetStream on $nats_url"
/usr/sbin/tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port,portal=127.0.0.2:$port" 2>"$work/tgtd.log" &
pids+=($!)
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/js" 2>"$work/nats.log" &
pids+=($!)
for _ in $(seq 200); do tgtadm_ --op show --mode sys >/dev/null 2>&1 && break; sleep 0.05; done
truncate -s 256M "$work/disk0.img"
tgtadm_ --op new --mode target --tid 1 -T iqn.2026-11.demo:disk0
tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$work/disk0.img"
tgtadm_ --op bind --mode target --tid 1 -I ALL
# DefaultTime2Wait is negotiated as the larger of the two sides' (RFC 7143 §13.15): 0 on both, so a path
# relogs in right after it fails instead of 2 s later.
tgtadm_ --op update --mode target --tid 1 -n DefaultTime2Wait -v 0

step "mpiscsid: both paths in one group (multibus), failover traces to $work/trace.jsonl"
node dist/src/daemon/mpiscsid.js --state-dir "$work/state" --nats "$nats_url" --host-id "$host_id" \
  --set multipath.path_grouping_policy=multibus --trace-file "$work/trace.jsonl" 2>"$work/mpiscsid.log" &
pids+=($!)
for _ in $(seq 200); do grep -q 'control service on NATS' "$work/mpiscsid.log" 2>/dev/null && break; sleep 0.05; done
cat "$work/mpiscsid.log"

step "two ifaces (source 127.0.0.1 and 127.0.0.3), SendTargets through each, login"
$ADM -m iface -I path0 -o new
$ADM -m iface -I path0 -o update -n iface.ipaddress -v 127.0.0.1
$ADM -m iface -I path1 -o new
$ADM -m iface -I path1 -o update -n iface.ipaddress -v 127.0.0.3
$ADM -m iface
$ADM -m discovery -t st -p "127.0.0.1:$port" -I path0
$ADM -m discovery -t st -p "127.0.0.2:$port" -I path1
$ADM -m node -o update -n node.session.timeo.replacement_timeout -v 15
$ADM -m node -o update -n node.session.iscsi.DefaultTime2Wait -v 0
$ADM -m node -o update -n node.session.iscsi.DefaultTime2Wait -v 0
$ADM -m node -l
$ADM -m session

step "the multipath device (multipath -ll) and its NBD export"
$ADM -m mpath
uri=$($ADM -m export -o new --device mpatha | awk '{print $3}')
echo "$uri"
nbdinfo "$uri" | sed -n '1,6p'

step "nbdcopy 256 MiB of random data into the export; path 1 (127.0.0.2 via 127.0.0.3) reset by the target mid-copy"
head -c $((256 * 1024 * 1024)) /dev/urandom >"$work/src.img"
node dist/bench/failover-watch.js --nats "$nats_url" --host-id "$host_id" --device mpatha --out "$out" >"$work/watch.log" 2>&1 &
watch_pid=$!
pids+=($watch_pid)
sleep 0.5
start=$(date +%s%3N)
nbdcopy --flush "$work/src.img" "$uri" &
copy_pid=$!
sleep 0.8
sid=$(tgtadm_ --op show --mode conn --tid 1 | awk '/^Session:/{s=$2} /IP Address: 127.0.0.3/{print s; exit}')
echo "resetting tgtd session $sid (the connection from 127.0.0.3 to 127.0.0.2) at +$(( $(date +%s%3N) - start )) ms"
tgtadm_ --op delete --mode conn --tid 1 --sid "$sid" --cid 0
wait $copy_pid
echo "copy finished in $(( $(date +%s%3N) - start )) ms, no error"

step "read back through the export and compare"
nbdcopy "$uri" "$work/back.img"
sha256sum "$work/src.img" "$work/back.img" "$work/disk0.img" | sed "s#$work/##"
cmp -s "$work/src.img" "$work/back.img" && cmp -s "$work/src.img" "$work/disk0.img" && echo "identical: what was written is what the LUN holds"

step "the path came back"
for _ in $(seq 100); do $ADM -m mpath | grep -q 'failed' || break; sleep 0.1; done
$ADM -m mpath
grep -E 'path .* -> |I/O gate' "$work/mpiscsid.log" | tail -n 8

step "the failover's trace"
node dist/src/cli/mpiscsi.js trace-summary "$work/trace.jsonl"

kill -TERM "$watch_pid"; wait "$watch_pid" || true
cat "$work/watch.log"

step "mpiscsid stops cleanly (SIGTERM: NBD clients get ESHUTDOWN, sessions log out)"
kill -TERM "${pids[2]}"; wait "${pids[2]}" || true
tail -n 4 "$work/mpiscsid.log"
echo
echo "plot of the I/O per path with the failover: $out/demo-failover.svg"
