#!/usr/bin/env bash
# The first job on a fresh machine, through the `poco` command:
# 1. a devnet; the order workflow by hand: deposits, an app, a dataset and a workerpool, the four
#    orders, a deal of two tasks that no pool runs, the refund claimed after the deadline, a
#    withdrawal;
#    the market (`poco market`) lists the published orders and sees the deal;
# 2. a workerpool at work: a scheduler (its order published on the market) and three workers,
#    then `poco run` of a trust-1 task (fast path) and of a replicated task (trust 3: two workers
#    must agree), with orders chosen on the market, both results printed.
#
# Everything lives under target/demo (POCO_HOME and the project folder); the devnet, the
# scheduler and the workers are stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --locked -q -p poco-cli
poco="$root/target/debug/poco"
export POCO_HOME="$root/target/demo/home"
project="$root/target/demo/project"
rm -rf "$root/target/demo" && mkdir -p "$project" "$POCO_HOME"
cd "$project"

# shellcheck source=scripts/demo-lib.sh
source "$root/scripts/demo-lib.sh"

step "poco devnet start: anvil, poco deployed, named accounts funded"
"$poco" devnet start --port 0 --fresh

logs="$root/target/demo/logs"; mkdir -p "$logs"
step "poco market: the order book (API and web UI) of this chain"
"$poco" --json market --listen 127.0.0.1:0 --poll-interval-ms 200 > "$logs/market.json" 2> "$logs/market.log" &
pids+=($!)
wait_start "$logs/market.json" "${pids[0]}" "$logs/market.log"
POCO_MARKET="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).market)' "$logs/market.json")"
export POCO_MARKET
echo "market $POCO_MARKET (web UI: open it in a browser; log: $logs/market.log)"

step "deposits: the requester pays from its poco account, the scheduler stakes from it"
"$poco" account deposit "50 RLC" --account requester
"$poco" account deposit "100 RLC" --account scheduler

step "assets: the hello app (WASM), a dataset, a workerpool"
"$poco" app deploy --name hello --file "$root/apps/hello/hello.wasm" --account app-owner
printf 'the quick brown fox jumps over the lazy dog\n' > words.txt
"$poco" dataset deploy --name words --file words.txt --account dataset-owner
"$poco" workerpool deploy --description "demo pool" --account scheduler

step "orders: templates in iexec.json, prices set, each signed by its owner into orders.json"
"$poco" order init --account requester
node -e '
  const fs = require("fs");
  const f = JSON.parse(fs.readFileSync("iexec.json"));
  const o = f.order;
  o.apporder.appprice = "1000000000";          // 1 RLC per task to the app owner
  o.datasetorder.datasetprice = "500000000";   // 0.5 RLC to the dataset owner
  o.workerpoolorder.workerpoolprice = "2000000000";
  o.workerpoolorder.volume = "10";             // the market checks 30 % of price × volume is staked
  Object.assign(o.requestorder, {
    dataset: o.datasetorder.dataset, volume: "2",
    appmaxprice: "1000000000", datasetmaxprice: "500000000", workerpoolmaxprice: "2000000000",
    params: { iexec_args: "hello poco" },
  });
  fs.writeFileSync("iexec.json", JSON.stringify(f, null, 2));'
"$poco" order sign --app --account app-owner
"$poco" order sign --dataset --account dataset-owner
"$poco" order sign --workerpool --account scheduler
"$poco" order sign --request --account requester
"$poco" order show

step "poco order publish: the owners list their orders on the market"
"$poco" order publish --app --account app-owner
"$poco" order publish --dataset --account dataset-owner
"$poco" order publish --workerpool --account scheduler
"$poco" order publish --request --account requester
"$poco" orderbook workerpool

step "poco order fill: matchOrders creates the deal and prints its tasks"
dealid="$("$poco" --json order fill --account requester | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).dealid));')"
"$poco" deal show "$dealid"
"$poco" account show --account requester
sleep 1
node -e 'fetch(process.argv[1]).then(r => r.json()).then(d => console.log(d.ok
  ? `the market saw the deal: ${d.volume} tasks, ${d.blockTimestamp}` : d.error))' "$POCO_MARKET/deals/$dealid"

step "no workerpool runs the tasks yet: after the final deadline the requester claims the refund"
"$poco" devnet advance-time 3001
"$poco" deal claim "$dealid" --account requester
"$poco" deal show "$dealid"
"$poco" account withdraw "10 RLC" --account requester
"$poco" wallet show --account requester

step "a workerpool at work: the scheduler publishes its order, three workers stake and sign in"
for w in worker1 worker2 worker3; do "$poco" account deposit "100 RLC" --account "$w" >/dev/null; done
# The workerpool deployed above (deployed.json), scheduled by its owner.
"$poco" --json scheduler --account scheduler --listen 127.0.0.1:0 --publish-price "0.1 RLC" \
  --poll-interval-ms 200 > "$logs/scheduler.json" 2> "$logs/scheduler.log" &
pids+=($!)
wait_start "$logs/scheduler.json" "${pids[1]}" "$logs/scheduler.log"
api="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).scheduler)' "$logs/scheduler.json")"
echo "scheduler $api (log: $logs/scheduler.log)"
for i in 1 2 3; do
  "$poco" --json worker --account "worker$i" --scheduler "$api" --slots 2 --allow-local-fetch > /dev/null 2> "$logs/worker$i.log" &
  pids+=($!)
done
sleep 1

"$poco" orderbook workerpool

step "poco run: hello, trust 1 (one worker, fast path: one transaction settles the task)"
"$poco" run "$root/apps/hello/hello.wasm" --args "hello from poco" --account requester

step "poco run: pi, trust 3 (replicated: two workers must return the same bytes)"
"$poco" run "$root/apps/pi/pi.wasm" --args "42 2000000" --trust 3 --account requester

step "the market after the runs"
"$poco" orderbook workerpool
node -e 'fetch(process.argv[1]).then(r => r.json()).then(d => console.log(`${d.count} deals on the market`))' "$POCO_MARKET/deals"

step "who was paid"
for who in requester scheduler worker1 worker2 worker3; do
  printf '%-10s ' "$who"; "$poco" --json account show --account "$who" | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const a = JSON.parse(s); console.log(`free ${a.free / 1e9} RLC, locked ${a.locked / 1e9} RLC`); });'
done
