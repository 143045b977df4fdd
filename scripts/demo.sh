#!/usr/bin/env bash
# The first job on a fresh machine, through the `poco` command: a devnet, deposits, an app, a
# dataset and a workerpool, the four orders, a deal of two tasks, the claim of their refund after
# the deadline (no workerpool runs them yet), a withdrawal; then a task completed end to end on
# the fast path by the `first_task` example.
#
# Everything lives under target/demo (POCO_HOME and the project folder); the devnet is stopped at
# the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build -q -p poco-cli
poco="$root/target/debug/poco"
export POCO_HOME="$root/target/demo/home"
project="$root/target/demo/project"
rm -rf "$project" && mkdir -p "$project" "$POCO_HOME"
cd "$project"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
trap '"$poco" devnet stop >/dev/null 2>&1 || true' EXIT

step "poco devnet start: anvil, poco deployed, named accounts funded"
"$poco" devnet start --port 0 --fresh

step "deposits: the requester pays from its poco account, the scheduler stakes from it"
"$poco" account deposit "50 RLC" --account requester
"$poco" account deposit "20 RLC" --account scheduler

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

step "poco order fill: matchOrders creates the deal and prints its tasks"
dealid="$("$poco" --json order fill --account requester | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).dealid));')"
"$poco" deal show "$dealid"
"$poco" account show --account requester

step "no workerpool runs the tasks yet: after the final deadline the requester claims the refund"
"$poco" devnet advance-time 3001
"$poco" deal claim "$dealid" --account requester
"$poco" deal show "$dealid"
"$poco" account withdraw "50 RLC" --account requester
"$poco" wallet show --account requester

step "poco devnet stop: the state is saved; poco devnet start resumes it"
"$poco" devnet stop

step "a task completed end to end on the fast path (cargo run -p poco-chain --example first_task)"
cd "$root"
cargo run -q -p poco-chain --example first_task
