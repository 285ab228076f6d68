#!/usr/bin/env bash
# The fleet demo: three nats-server processes clustered on loopback with JetStream, the node records in one KV
# bucket with three replicas, three mpiscsid hosts (h1, h2, h3) logged in to one tgtd LUN, the fleet view
# (`mpiscsiadm --host-id all`), then fio through h1's NBD export while the nats-server h1 is connected to is
# killed: h1 reconnects to another member, the fleet view answers again, fio finishes with 0 errors.
# Cleans up after itself. Run through `npm run demo:fleet` (installs what it needs and builds first).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/mpiscsi-fleet-demo.XXXXXX)
freeport() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
monitor() { node -e 'fetch(process.argv[1]).then(r=>r.text()).then(t=>console.log(t)).catch(()=>console.log("{}"))' "$1"; }
pids=()
cleanup() {
  # tgtd ends on tgtadm's system delete, not on SIGTERM; what is still running after that gets SIGKILL, reaped
  # here so bash prints no "Killed" line for it.
  /usr/sbin/tgtadm -C "$ctl" --op delete --mode system >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock" 2>/dev/null || true
  [ -n "${MPISCSI_DEMO_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ctl=$((1000 + RANDOM % 29000))
port=$(freeport)
declare -a cport rport hport npid
for i in 1 2 3; do cport[$i]=$(freeport); rport[$i]=$(freeport); hport[$i]=$(freeport); done
urls="nats://127.0.0.1:${cport[1]},nats://127.0.0.1:${cport[2]},nats://127.0.0.1:${cport[3]}"
db='nats-kv://fleet?replicas=3'
ADM="node dist/src/cli/mpiscsiadm.js --db $db --nats $urls"

step "three nats-server members n1..n3 clustered on loopback, JetStream on each"
for i in 1 2 3; do
  routes=""
  for j in 1 2 3; do [ "$j" = "$i" ] || routes="$routes\"nats-route://127.0.0.1:${rport[$j]}\", "; done
  cat >"$work/n$i.conf" <<EOF
server_name: "n$i"
listen: "127.0.0.1:${cport[$i]}"
http: "127.0.0.1:${hport[$i]}"
jetstream { store_dir: "$work/n$i" }
cluster { name: "mpiscsi-demo", listen: "127.0.0.1:${rport[$i]}", routes: [ $routes] }
EOF
  nats-server -c "$work/n$i.conf" 2>"$work/n$i.log" &
  npid[$i]=$!
  pids+=(${npid[$i]})
done
# Formed when all three answer /jsz naming one meta leader (asked every 50 ms).
leader=$(node -e '
  const ports = process.argv.slice(1);
  const ask = (p) => fetch(`http://127.0.0.1:${p}/jsz`).then((r) => r.json()).then((j) => j.meta_cluster?.leader ?? "", () => "");
  (async () => {
    for (;;) {
      const l = await Promise.all(ports.map(ask));
      if (l[0] && l.every((x) => x === l[0])) return console.log(l[0]);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();' "${hport[1]}" "${hport[2]}" "${hport[3]}")
echo "cluster formed, JetStream meta leader: $leader"

step "tgtd on 127.0.0.1:$port with one 64 MiB LUN"
/usr/sbin/tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" 2>"$work/tgtd.log" &
pids+=($!)
tgtadm_() { /usr/sbin/tgtadm -C "$ctl" --lld iscsi "$@"; }
for _ in $(seq 200); do tgtadm_ --op show --mode sys >/dev/null 2>&1 && break; sleep 0.05; done
truncate -s 64M "$work/disk0.img"
tgtadm_ --op new --mode target --tid 1 -T iqn.2026-12.demo:fleet
tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$work/disk0.img"
tgtadm_ --op bind --mode target --tid 1 -I ALL

step "mpiscsid h1, h2, h3: --nats with all three members, --db $db"
for h in h1 h2 h3; do
  node dist/src/daemon/mpiscsid.js --db "$db" --nats "$urls" --host-id "$h" --state-dir "$work/state-$h" 2>"$work/$h.log" &
  pids+=($!)
done
for h in h1 h2 h3; do
  for _ in $(seq 400); do grep -q 'control service on NATS' "$work/$h.log" 2>/dev/null && break; sleep 0.05; done
done
$ADM -m discovery -t st -p "127.0.0.1:$port" --host-id h1
for h in h1 h2 h3; do $ADM -m node -l --host-id "$h"; done
uri=$($ADM -m export -o new --device mpatha --host-id h1 | awk '{print $3}')

step "the fleet: mpiscsiadm --host-id all"
$ADM --host-id all

step "fio randrw with verify through h1's export; the nats-server h1 is connected to is killed"
fio --name=fleet --ioengine=nbd --uri="$uri" --rw=randrw --bs=4k --iodepth=16 --size=32M --time_based --runtime=10 \
  --verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 --output-format=json >"$work/fio.json" 2>"$work/fio.err" &
fio_pid=$!
sleep 2
victim=""
for i in 1 2 3; do
  monitor "http://127.0.0.1:${hport[$i]}/connz?limit=1024" | grep -q '"name": "mpiscsid@h1"' && victim=$i && break
done
echo "h1's control connection is on n$victim: kill -9"
kill -9 "${npid[$victim]}"; wait "${npid[$victim]}" 2>/dev/null || true
for _ in $(seq 200); do grep -q 'NATS reconnected' "$work/h1.log" && break; sleep 0.05; done
grep -E 'NATS (connection lost|reconnected)' "$work/h1.log"
until $ADM --host-id all -m session --timeout 2 2>/dev/null; do sleep 0.2; done
wait "$fio_pid"
node -e 'const t=require("fs").readFileSync(process.argv[1],"utf8");const j=JSON.parse(t.slice(t.indexOf("{"))).jobs[0];
  console.log(`fio: exit 0, ${j.read.total_ios + j.write.total_ios} I/Os, errors ${j.error}, longest completion ${(Math.max(j.read.clat_ns.max, j.write.clat_ns.max) / 1e6).toFixed(0)} ms`)' "$work/fio.json"

step "the records, from the two members left"
$ADM -m node -P 1
