#!/usr/bin/env bash
# Renting a model without giving it away, through the `poco` command:
# 1. a devnet (its SMS accepts the insecure development attestation), the market, a workerpool
#    whose scheduler offers TEE tasks (`--tag tee,tdx --sms`), one TEE worker (`--tee dev`) and
#    one standard worker;
# 2. the dataset owner trains a small classifier (scripts/train-model.py), encrypts its weights
#    (`poco dataset encrypt`), serves the ciphertext from a local web server, registers it with
#    the ciphertext's checksum, gives its key to the SMS and sells it per task to the classify
#    app only, in TEE deals only;
# 3. a requester makes a result keypair, gives the SMS its public key and runs the classify app
#    on the dataset in a TEE deal with an encrypted result; only its private key opens the
#    prediction; the dataset owner is paid the dataset price;
# 4. a second requester fetches the dataset from its URL and the result from the pool's store:
#    it gets ciphertext, nothing it can read.
#
# The development attestation proves nothing: the TEE worker runs on this machine without a
# confidential VM, and every output says so. It shows the flow a real TDX or SEV-SNP worker
# follows (docs/confidential.md).
#
# Everything lives under target/demo-confidential (POCO_HOME, one folder per party); the
# services and the devnet are stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --locked -q -p poco-cli
poco="$root/target/debug/poco"
export POCO_HOME="$root/target/demo-confidential/home"
base="$root/target/demo-confidential"
rm -rf "$base" && mkdir -p "$POCO_HOME"
logs="$base/logs"
owner="$base/dataset-owner" appdev="$base/app-owner" pool="$base/pool"
alice="$base/requester" eve="$base/second-requester"
mkdir -p "$logs" "$owner/public" "$appdev" "$pool/store" "$alice" "$eve"

# shellcheck source=scripts/demo-lib.sh
source "$root/scripts/demo-lib.sh"
say() { printf '   %s\n' "$*"; }
# Prints a field of the JSON document on stdin: `field a.b.0.c`.
field() {
  node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      let v = JSON.parse(s);
      for (const k of process.argv[1].split(".")) v = v == null ? v : v[k];
      if (v === undefined || v === null) { console.error(`no ${process.argv[1]} in ${s}`); process.exit(1); }
      console.log(typeof v === "object" ? JSON.stringify(v) : String(v));
    });' "$1"
}
balance() {
  "$poco" --json account show --account "$1" | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const a = JSON.parse(s); console.log(`${a.free / 1e9} RLC free, ${a.locked / 1e9} RLC locked`); });'
}

step "poco devnet start: anvil, poco deployed, and an SMS that accepts the insecure development attestation"
"$poco" devnet start --port 0 --fresh
sms="$(field chains.devnet.sms < "$POCO_HOME/chain.json")"
say "the SMS of this chain: $sms (in $POCO_HOME/chain.json)"

step "poco market: the order book"
"$poco" --json market --listen 127.0.0.1:0 --poll-interval-ms 200 > "$logs/market.json" 2> "$logs/market.log" &
pids+=($!)
wait_start "$logs/market.json" "${pids[-1]}" "$logs/market.log"
POCO_MARKET="$(field market < "$logs/market.json")"
export POCO_MARKET
say "market $POCO_MARKET"

step "deposits: the requesters pay from their poco accounts, the scheduler and the workers stake"
for who in requester beneficiary; do "$poco" account deposit "20 RLC" --account "$who" > /dev/null; done
for who in scheduler worker1 worker2; do "$poco" account deposit "100 RLC" --account "$who" > /dev/null; done
say "requester and beneficiary (the second requester): 20 RLC each; scheduler, worker1, worker2: 100 RLC each"

step "the pool: a scheduler offering TEE tasks (tags tee,tdx) with the SMS, a TEE worker and a standard one"
cd "$pool"
"$poco" workerpool deploy --description "confidential demo pool" --account scheduler
"$poco" --json scheduler --account scheduler --listen 127.0.0.1:0 --publish-price "0.1 RLC" \
  --tag tee,tdx --sms "$sms" --store-dir "$pool/store" --poll-interval-ms 200 \
  > "$logs/scheduler.json" 2> "$logs/scheduler.log" &
pids+=($!)
wait_start "$logs/scheduler.json" "${pids[-1]}" "$logs/scheduler.log"
api="$(field scheduler < "$logs/scheduler.json")"
say "scheduler $api (log: $logs/scheduler.log)"
"$poco" --json worker --account worker1 --scheduler "$api" --slots 1 --tee dev --allow-local-fetch \
  > /dev/null 2> "$logs/worker1-tee.log" &
pids+=($!)
say "worker1: TEE worker, development attestation (log: $logs/worker1-tee.log)"
"$poco" --json worker --account worker2 --scheduler "$api" --slots 1 --allow-local-fetch \
  > /dev/null 2> "$logs/worker2.log" &
pids+=($!)
say "worker2: standard worker, never given a TEE task (log: $logs/worker2.log)"
sleep 1
"$poco" orderbook workerpool --tag tee,tdx

step "the app owner registers the classify app and sells it for 0.1 RLC a task, to TEE deals (tag tee)"
cd "$appdev"
app="$("$poco" --json app deploy --name classify --file "$root/apps/classify/classify.wasm" --account app-owner | field address)"
say "classify app $app"
"$poco" order init --app --account app-owner > /dev/null
node -e '
  const fs = require("fs");
  const f = JSON.parse(fs.readFileSync("iexec.json"));
  Object.assign(f.order.apporder, {
    appprice: "100000000", volume: "100",
    tag: "0x0000000000000000000000000000000000000000000000000000000000000001",
  });
  fs.writeFileSync("iexec.json", JSON.stringify(f, null, 2));'
"$poco" order sign --app --account app-owner > /dev/null
"$poco" order publish --app --account app-owner

step "the dataset owner trains the model (Python standard library, seeded)"
cd "$owner"
python3 "$root/scripts/train-model.py" --out model.txt
say "model.txt, the weights in clear (kept by the owner, never published):"
grep -v '^#' model.txt | sed 's/^/     /'

step "poco dataset encrypt: AES-256-CBC (iExec's format), the key beside it"
"$poco" dataset encrypt model.txt
mv model.txt.enc public/model.enc
say "public/model.enc: $(wc -c < public/model.enc) bytes of ciphertext; model.txt.key stays with the owner"

step "the ciphertext served at a URL anyone may read (a local web server)"
node -e '
  const http = require("http"), fs = require("fs"), path = require("path");
  const dir = process.argv[1];
  http.createServer((req, res) => {
    fs.readFile(path.join(dir, path.basename(req.url)), (err, body) => {
      if (err) { res.writeHead(404); res.end(); } else { res.end(body); }
    });
  }).listen(0, "127.0.0.1", function () {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${this.address().port}` }));
  });' "$owner/public" > "$logs/static.json" 2> "$logs/static.log" &
pids+=($!)
wait_start "$logs/static.json" "${pids[-1]}" "$logs/static.log"
url="$(field url < "$logs/static.json")/model.enc"
say "dataset URL $url"

step "poco dataset deploy: registered with the ciphertext's checksum"
dataset="$("$poco" --json dataset deploy --name machine-condition-model --file public/model.enc \
  --multiaddr "$url" --account dataset-owner | field address)"
say "dataset $dataset, checksum $("$poco" --json dataset show "$dataset" | field checksum)"

step "poco dataset push-secret: the key goes to the SMS, which gives it only to an attested enclave"
"$poco" dataset push-secret "$dataset" --key-file model.txt.key --account dataset-owner
"$poco" dataset check-secret "$dataset"

step "the dataset order: 1 RLC a task, classify only, TEE deals only (tag tee)"
"$poco" order init --dataset --account dataset-owner > /dev/null
node -e '
  const fs = require("fs");
  const f = JSON.parse(fs.readFileSync("iexec.json"));
  Object.assign(f.order.datasetorder, {
    datasetprice: "1000000000", volume: "100", apprestrict: process.argv[1],
    tag: "0x0000000000000000000000000000000000000000000000000000000000000001",
  });
  fs.writeFileSync("iexec.json", JSON.stringify(f, null, 2));' "$app"
"$poco" order sign --dataset --account dataset-owner > /dev/null
"$poco" order publish --dataset --account dataset-owner
"$poco" order show --dataset

step "the requester: a result keypair, its public key on the SMS"
cd "$alice"
"$poco" result generate-keypair --account requester
requester="$("$poco" --json wallet show --account requester | field address)"
"$poco" result push-encryption-key --public-key ".secrets/beneficiary/${requester}_key.pub" --account requester
"$poco" result check-encryption-key --account requester

step "the restriction at work: another copy of classify may not use the dataset"
if "$poco" run "$root/apps/classify/classify.wasm" --dataset "$dataset" --tag tee \
  --args "82.0 6.5 2.5 14.0" --account requester > "$logs/restricted.log" 2>&1; then
  echo "the dataset order should refuse an app it does not name" >&2; exit 1
fi
say "refused: $(tail -n 1 "$logs/restricted.log")"

before="$(balance dataset-owner)"
features="82.0 6.5 2.5 14.0"
step "poco run: classify on the dataset, TEE-tagged, result encrypted for the requester (features $features)"
"$poco" --json run "$app" --dataset "$dataset" --tag tee --encrypt-result --args "$features" \
  --account requester > "$logs/run.json"
dealid="$(field dealid < "$logs/run.json")"
taskid="$(field results.0.taskid < "$logs/run.json")"
folder="$(field results.0.folder < "$logs/run.json")"
say "deal $dealid, task $taskid: $(field results.0.status < "$logs/run.json")"
say "confidential: $(field results.0.confidential < "$logs/run.json") (platform $(field results.0.platform < "$logs/run.json")): the development provider, no enclave"
say "what the store served: $folder.zip, $(unzip -Z1 "$folder.zip" | tr '\n' ' ')(encrypted: $(field results.0.encrypted < "$logs/run.json"))"
say "poco run decrypted it with the requester's private key (.secrets/beneficiary/): $(field results.0.decrypted < "$logs/run.json")"

step "the requester reads the prediction"
say "result.txt:"
sed 's/^/     /' "$folder/result.txt"
say "the dataset owner's own prediction for the same features (scripts/train-model.py --predict):"
python3 "$root/scripts/train-model.py" --predict "$features" --weights "$owner/model.txt" | sed 's/^/     /'
cmp -s "$folder/result.txt" <(python3 "$root/scripts/train-model.py" --predict "$features" --weights "$owner/model.txt") \
  && say "identical"

step "the dataset owner was paid the dataset price (1 RLC)"
say "before the run: $before"
say "after the run:  $(balance dataset-owner)"

step "a second requester (account beneficiary) fetches the dataset from its URL"
cd "$eve"
curl -sf "$url" -o model.enc
say "$(wc -c < model.enc) bytes; the first 32: $(od -A n -t x1 -N 32 model.enc | tr -d '\n')"
if python3 "$root/scripts/train-model.py" --predict "$features" --weights model.enc > /dev/null 2> read.log; then
  echo "the ciphertext should not read as a model" >&2; exit 1
fi
say "read as a model: $(tail -n 1 read.log)"
say "the key is on the SMS, which hands it only to an attested enclave working on a TEE deal's task"

step "... and the result from the pool's store"
if "$poco" task show "$taskid" --deal "$dealid" --download "$eve/download" --account beneficiary \
  > download.log 2>&1; then
  echo "the store should refuse a stranger to the deal" >&2; exit 1
fi
say "the store refuses: $(tail -n 1 download.log)"
stored="$(find "$pool/store" -type f -name '*.zip' | head -n 1)"
[[ -n "$stored" ]] || { echo "the pool's store holds no result archive" >&2; exit 1; }
say "what the pool's operator holds, ${stored#"$base/"}: $(unzip -Z1 "$stored" | tr '\n' ' ')"
"$poco" result generate-keypair --account beneficiary > /dev/null
if "$poco" result decrypt "$stored" --out "$eve/stolen.zip" --account beneficiary > steal.log 2>&1; then
  echo "another key should not open the result" >&2; exit 1
fi
say "opened with the second requester's own key: $(tail -n 1 steal.log)"

step "the standard worker never received the TEE task"
if grep -q "$taskid" "$logs/worker2.log"; then
  echo "worker2 (no TEE) was given the TEE task" >&2; exit 1
fi
say "worker2's log does not name task $taskid"

step "done: the weights were opened only inside the TEE worker, the prediction only by the requester"
say "(development attestation: no confidential VM here, so this shows the flow, not its protection;"
say " docs/confidential.md says what a real TDX or SEV-SNP worker adds)"
