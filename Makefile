# poco: every command the README names. Tools are pinned in package.json (npm ci).
FORGE := $(CURDIR)/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
ANVIL := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
export POCO_ANVIL ?= $(ANVIL)
# The PostgreSQL server `make test-deps` prepares (the market's and the scheduler's PostgreSQL
# tests run against it; point it elsewhere to use another server).
export POCO_TEST_POSTGRES_URL ?= postgres://poco:poco@127.0.0.1/poco

.PHONY: test-deps setup build artifacts check-artifacts test test-contracts test-rust lint gates demo demo-confidential bench-gas bench-runtime bench-e2e bench-market bench-trust fuzz fuzz-ci clean

## setup: install the pinned tools (forge, anvil, solc, OpenZeppelin)
setup: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## build: compile the contracts and the Rust workspace
build: setup
	cd contracts && $(FORGE) build --sizes
	cargo build --locked --workspace

## artifacts: re-export the ABIs and bytecode the Rust crates embed (commit the result)
artifacts: setup
	cd contracts && $(FORGE) build --skip test --skip script
	node tools/export-artifacts.js

## check-artifacts: fail when contracts/artifacts/ does not match the sources
check-artifacts: setup
	cd contracts && $(FORGE) build --skip test --skip script
	node tools/export-artifacts.js --check

## test: the whole test suite (what CI runs); installs what the tests need first
test: test-deps lint gates check-artifacts test-contracts test-rust fuzz-ci
# The whole suite builds everything once (CI does it from a clean clone): cargo's incremental
# caches would only take gigabytes of disk.
test: export CARGO_INCREMENTAL = 0

## test-deps: Debian's postgresql and chromium (installed when missing, as root), PostgreSQL started with the test role
test-deps: setup
	scripts/test-deps.sh

test-contracts: setup
	cd contracts && $(FORGE) test

test-rust: setup
	cargo test --locked --workspace

lint: setup
	cd contracts && $(FORGE) fmt --check
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

## gates: cargo doc with warnings denied, cargo deny (licenses, bans, sources; advisories when the RustSec database can be had), cargo machete (unused dependencies); installs the pinned cargo-deny and cargo-machete when missing
gates:
	scripts/gates.sh

## demo: a devnet, the requester's flow through the poco CLI, and a first task end to end
demo: setup
	scripts/demo.sh

## demo-confidential: a model sold as an encrypted dataset per task: trained, encrypted, its key on the SMS, run by a TEE worker (development attestation) for a requester who alone reads the encrypted result; the owner paid, a second requester left with ciphertext
demo-confidential: setup
	scripts/demo-confidential.sh

## bench-gas: gas per call and per task on anvil (table on stdout, JSON in target/bench/gas.json)
bench-gas: setup
	cargo run --locked -q -p poco-chain --example bench_gas -- --out target/bench/gas.json

## bench-runtime: one CPU-bound example app as WASM against the same C code built natively
bench-runtime:
	cargo run --locked -q --release -p poco-runtime --example bench_native_vs_wasm

## bench-e2e: match-to-result latency (1 s blocks), tasks/s of a 200-task deal on 4 workers, WASM vs native (JSON in target/bench/e2e.json)
bench-e2e: setup
	cargo run --locked -q --release -p poco-worker --example bench_e2e -- --out target/bench/e2e.json

## bench-market: the order book filled to 100,000 orders through the API (publications/s with every check), then query latency p50/p99 (JSON in target/bench/market.json)
bench-market: setup
	cargo run --locked -q --release -p poco-market --example bench_market -- --out target/bench/market.json

## bench-trust: result trust in simulated pools of 100 workers with colluding, stealthy, Sybil and lazy saboteurs: error rate and replicas per task (95% CI) for the blind policy and poco's, on the hub's consensus rule (JSON in target/bench/trust.json)
bench-trust:
	cargo run --locked -q --release -p poco-trust --example bench_trust -- --out target/bench/trust.json

## fuzz: AFL++ (cargo-afl, installed when missing) on the parsers strangers feed: orders and params JSON, the market's list queries, the runner framing, result archives; FUZZ_SECONDS per target (default 600)
fuzz:
	scripts/fuzz.sh

## fuzz-ci: the bounded fuzz run (part of make test): the poco-types targets, FUZZ_SECONDS each (default 25); fails on any crash or hang
fuzz-ci:
	scripts/fuzz.sh --ci

clean:
	cargo clean
	rm -rf contracts/out contracts/cache contracts/out-bench fuzz/target fuzz/out
