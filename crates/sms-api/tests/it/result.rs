//! iExec's result encryption format against implementations that are not ours: the official SDK
//! (iexec 9.0.1 in node_modules; `npm ci` installs it) makes a keypair as `iexec result
//! generate-encryption-keypair` does and opens with its own `decryptResult` (the function of
//! `iexec result decrypt`) a result poco encrypted; and OpenSSL's command line builds an
//! encrypted result in the SDK's layout, which poco decrypts.

use std::{
    io::{Cursor, Write},
    path::{Path, PathBuf},
    process::Command,
};

use poco_sms_api::result_crypto::{self, KEY_ENTRY, RESULT_ENTRY};
use zip::{write::SimpleFileOptions, ZipWriter};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A zip holding `content` as `result.txt`.
fn result_zip(content: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("result.txt", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(content).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Makes a keypair with node's crypto exactly as the SDK's `generate-encryption-keypair`
/// (4096 bits, SPKI and PKCS#8 PEM) in `dir`, then, once `archive` exists, decrypts it with the
/// SDK's `utils.decryptResult` into `dir/results.zip`.
const SDK_SCRIPT: &str = r#"
import { generateKeyPairSync } from 'crypto';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { utils } from 'iexec';
const dir = process.env.OUT_DIR;
if (process.argv[1] === 'keys') {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 4096,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(`${dir}/sdk_key`, privateKey);
  writeFileSync(`${dir}/sdk_key.pub`, publicKey);
} else {
  const key = readFileSync(`${dir}/${process.argv[2]}`, 'utf8');
  const archive = readFileSync(`${dir}/encryptedResults.zip`);
  try {
    const plain = await utils.decryptResult(archive, key);
    writeFileSync(`${dir}/results.zip`, plain);
  } catch (e) {
    console.log(`refused: ${e.message}`);
    if (existsSync(`${dir}/results.zip`)) process.exit(3);
  }
}
"#;

fn sdk(dir: &Path, args: &[&str]) -> String {
    let root = repository();
    assert!(
        root.join("node_modules/iexec/package.json").is_file(),
        "the iExec SDK is not installed: run `npm ci` at the repository root"
    );
    let out = Command::new("node")
        .args(["--input-type=module", "-e", SDK_SCRIPT, "--"])
        .args(args)
        .current_dir(&root)
        .env("OUT_DIR", dir)
        .output()
        .expect("node is installed");
    assert!(
        out.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_sdk_decrypts_a_result_poco_encrypted_for_an_sdk_key() {
    let dir = tempfile::tempdir().unwrap();
    sdk(dir.path(), &["keys"]);
    let public = std::fs::read_to_string(dir.path().join("sdk_key.pub")).unwrap();
    let private = std::fs::read_to_string(dir.path().join("sdk_key")).unwrap();
    let zip = result_zip(b"the buyer's result, for the buyer only\n");
    let archive = result_crypto::encrypt_result(&zip, &public).unwrap();
    std::fs::write(dir.path().join("encryptedResults.zip"), &archive).unwrap();
    let said = sdk(dir.path(), &["decrypt", "sdk_key"]);
    assert!(!said.contains("refused"), "{said}");
    assert_eq!(std::fs::read(dir.path().join("results.zip")).unwrap(), zip);
    // and poco reads the SDK's private key
    let ours = result_crypto::decrypt_result(&archive, &private).unwrap();
    assert_eq!(ours.as_slice(), zip.as_slice());

    // a key of poco's making is refused by the SDK as well as by poco
    std::fs::remove_file(dir.path().join("results.zip")).unwrap();
    let other = result_crypto::generate_keypair().unwrap();
    std::fs::write(dir.path().join("other_key"), other.private_pem.as_bytes()).unwrap();
    let said = sdk(dir.path(), &["decrypt", "other_key"]);
    assert!(said.contains("refused"), "{said}");
    let e = result_crypto::decrypt_result(&archive, &other.private_pem).unwrap_err();
    assert!(e.to_string().contains("not encrypted for this key"), "{e}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// The SDK's layout: the wrapped key and the encrypted zip as the two entries of a zip.
fn pack(wrapped: &[u8], body: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in [(KEY_ENTRY, wrapped), (RESULT_ENTRY, body)] {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn poco_decrypts_a_result_openssl_encrypted_in_the_sdk_layout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let aes_key: [u8; 32] = std::array::from_fn(|i| 0x40 + i as u8);
    let iv: [u8; 16] = std::array::from_fn(|i| 0x90 + i as u8);
    std::fs::write(d.join("aes.key"), aes_key).unwrap();
    let zip = result_zip(&[7u8; 3000]);
    std::fs::write(d.join("iexec_out.zip"), &zip).unwrap();
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "aes.key",
            "-out",
            "aes-key.rsa",
        ],
    );
    openssl(
        d,
        &[
            "enc",
            "-aes-256-cbc",
            "-K",
            &hex::encode(aes_key),
            "-iv",
            &hex::encode(iv),
            "-in",
            "iexec_out.zip",
            "-out",
            "body",
        ],
    );
    let mut body = iv.to_vec();
    body.extend(std::fs::read(d.join("body")).unwrap());
    let wrapped = std::fs::read(d.join("aes-key.rsa")).unwrap();
    let archive = pack(&wrapped, &body);
    let private = std::fs::read_to_string(d.join("key.pem")).unwrap();
    let plain = result_crypto::decrypt_result(&archive, &private).unwrap();
    assert_eq!(plain.as_slice(), zip.as_slice());

    // the same archive with one byte of the encrypted zip changed is refused
    let mut altered = body.clone();
    altered[40] ^= 0x01;
    let repacked = pack(&wrapped, &altered);
    let e = result_crypto::decrypt_result(&repacked, &private).unwrap_err();
    assert!(e.to_string().contains("altered"), "{e}");
}
