#!/usr/bin/env node
// Exports the ABI and creation bytecode of the contracts the Rust crates use, from forge's
// out/ folder into contracts/artifacts/ (committed, so Rust builds need neither Node nor forge).
//   node tools/export-artifacts.js          write contracts/artifacts/*.json
//   node tools/export-artifacts.js --check  fail if the committed files differ from out/
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', 'contracts');
const out = path.join(root, 'out');
const dest = path.join(root, 'artifacts');
// [source file, contract name]
const CONTRACTS = [
  ['IPoco.sol', 'IPoco'],
  ['Hub.sol', 'Hub'],
  ['EscrowModule.sol', 'EscrowModule'],
  ['OrderModule.sol', 'OrderModule'],
  ['TaskModule.sol', 'TaskModule'],
  ['ViewModule.sol', 'ViewModule'],
  ['RLC.sol', 'RLC'],
  ['App.sol', 'AppRegistry'],
  ['App.sol', 'App'],
  ['Dataset.sol', 'DatasetRegistry'],
  ['Dataset.sol', 'Dataset'],
  ['Workerpool.sol', 'WorkerpoolRegistry'],
  ['Workerpool.sol', 'Workerpool'],
];

const check = process.argv.includes('--check');
let stale = [];
fs.mkdirSync(dest, { recursive: true });
for (const [file, name] of CONTRACTS) {
  const src = path.join(out, file, `${name}.json`);
  if (!fs.existsSync(src)) {
    console.error(`missing ${src}: run 'forge build' in contracts/ first`);
    process.exit(2);
  }
  const a = JSON.parse(fs.readFileSync(src, 'utf8'));
  // Binding generators name struct types after `internalType`; `IPocoEvents` is also the name
  // alloy gives IPoco's event enum, so the fast deal struct is exported without its namespace.
  const abi = JSON.parse(JSON.stringify(a.abi).split('struct IPocoEvents.FastDeal').join('struct FastDeal'));
  const artifact = { contractName: name, abi, bytecode: a.bytecode.object };
  const text = JSON.stringify(artifact, null, 1) + '\n';
  const target = path.join(dest, `${name}.json`);
  if (check) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== text) stale.push(path.relative(process.cwd(), target));
  } else {
    fs.writeFileSync(target, text);
  }
}
if (check) {
  if (stale.length) {
    console.error(`stale contract artifacts: ${stale.join(', ')}\nfix: run 'make artifacts' and commit contracts/artifacts/`);
    process.exit(1);
  }
  console.log(`contract artifacts up to date (${CONTRACTS.length} contracts)`);
} else {
  console.log(`exported ${CONTRACTS.length} contract artifacts to ${path.relative(process.cwd(), dest)}`);
}
