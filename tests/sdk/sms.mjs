// The official iExec SDK (iexec@9.0.1, pinned in package.json) against a poco SMS: the SDK's own
// secret, result-key and storage functions (the ones `iexec dataset push-secret`, `iexec result
// push-encryption-key`, `iexec storage init` and their checks call), plus its dataset
// encryption, whose output poco must decrypt. Driven by crates/sms/tests/sdk.rs, which starts
// the chain and the SMS and passes them in the environment:
//   POCO_RPC, POCO_HUB, POCO_SMS, OWNER_KEY, STRANGER_KEY, DATASET, APP, OUT_DIR
// Prints one JSON object of outcomes; exits 1 on the first unexpected one.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IExec, utils } from 'iexec';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const sdk = (key) =>
  new IExec(
    { ethProvider: utils.getSignerFromPrivateKey(env('POCO_RPC'), key) },
    { hubAddress: env('POCO_HUB'), smsURL: env('POCO_SMS'), allowExperimentalNetworks: true },
  );

const refused = async (promise) => {
  try {
    await promise;
    return null;
  } catch (e) {
    return e.message;
  }
};

const owner = sdk(env('OWNER_KEY'));
const stranger = sdk(env('STRANGER_KEY'));
const dataset = env('DATASET');
const app = env('APP');
const outcome = {};

// dataset encryption in the SDK's format, for poco to decrypt
const key = owner.dataset.generateEncryptionKey();
const plain = Buffer.from('weights of a small model, sold per task\n');
const encrypted = await owner.dataset.encrypt(plain, key);
writeFileSync(join(env('OUT_DIR'), 'sdk.enc'), encrypted);
writeFileSync(join(env('OUT_DIR'), 'sdk.key'), key);
writeFileSync(join(env('OUT_DIR'), 'sdk.plain'), plain);
outcome.checksum = await owner.dataset.computeEncryptedFileChecksum(encrypted);

// dataset push-secret / check-secret: a stranger is refused, the owner accepted, once
outcome.datasetBefore = await owner.dataset.checkDatasetSecretExists(dataset);
outcome.datasetStranger = await refused(stranger.dataset.pushDatasetSecret(dataset, key));
outcome.datasetOwner = await owner.dataset.pushDatasetSecret(dataset, key);
outcome.datasetAfter = await stranger.dataset.checkDatasetSecretExists(dataset);
outcome.datasetAgain = await refused(owner.dataset.pushDatasetSecret(dataset, key));

// app push-secret / check-secret
outcome.appStranger = await refused(stranger.app.pushAppSecret(app, 'developer secret'));
outcome.appOwner = await owner.app.pushAppSecret(app, 'developer secret');
outcome.appAfter = await owner.app.checkAppSecretExists(app);

// requester push-secret / check-secret
const me = await owner.wallet.getAddress();
outcome.requesterBefore = await owner.secrets.checkRequesterSecretExists(me, 'api-token');
outcome.requesterPush = await owner.secrets.pushRequesterSecret('api-token', 'requester value');
outcome.requesterAfter = await stranger.secrets.checkRequesterSecretExists(me, 'api-token');

// result push-encryption-key / check-encryption-key (a PEM public key, as generated)
const { generateKeyPairSync } = await import('node:crypto');
const { publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
outcome.resultBefore = await owner.result.checkResultEncryptionKeyExists(me);
outcome.resultPush = await owner.result.pushResultEncryptionKey(publicKey);
outcome.resultAfter = await owner.result.checkResultEncryptionKeyExists(me);
outcome.resultAgain = await refused(owner.result.pushResultEncryptionKey(publicKey));
outcome.resultUpdate = await owner.result.pushResultEncryptionKey(publicKey, { forceUpdate: true });
// a new key replaces it; the first key's request, sent again, does not put it back
const second = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
}).publicKey;
outcome.resultRotate = await owner.result.pushResultEncryptionKey(second, { forceUpdate: true });
outcome.resultRevert = await refused(
  owner.result.pushResultEncryptionKey(publicKey, { forceUpdate: true }),
);

// storage init / check (dropbox token; ipfs needs none)
outcome.storageBefore = await owner.storage.checkStorageTokenExists(me, 'dropbox');
outcome.storagePush = await owner.storage.pushStorageToken('dropbox token', 'dropbox');
outcome.storageAfter = await owner.storage.checkStorageTokenExists(me, 'dropbox');

console.log(JSON.stringify(outcome));
