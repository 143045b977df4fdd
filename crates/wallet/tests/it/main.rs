//! Integration tests of `poco-wallet`: keystore directories, known keystore files, interop
//! with alloy's keystore implementation, wrong passwords and wallet selection.

use alloy_primitives::Address;
use poco_wallet::{
    keystore_file_name, load_file, parse_private_key, read_keystore, Error, Kdf, Keystore,
    KeystoreDir, PasswordSource, PrivateKeySigner, ScryptParams, WalletOptions, PASSWORD_ENV,
    PRIVATE_KEY_ENV,
};

/// Cheap scrypt parameters so that debug-build tests stay fast.
const FAST: Kdf = Kdf::Scrypt(ScryptParams {
    log_n: 10,
    r: 8,
    p: 1,
});

/// The Web3 Secret Storage Definition test vectors (password "testpassword").
const SPEC_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
const SPEC_PBKDF2: &str = r#"{
  "crypto": {
    "cipher": "aes-128-ctr",
    "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
    "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
    "kdf": "pbkdf2",
    "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                  "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
    "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
  },
  "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  "version": 3
}"#;
const SPEC_SCRYPT: &str = r#"{
  "crypto": {
    "cipher": "aes-128-ctr",
    "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
    "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
    "kdf": "scrypt",
    "kdfparams": {"dklen": 32, "n": 262144, "p": 8, "r": 1,
                  "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
    "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
  },
  "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  "version": 3
}"#;

fn spec_signer() -> PrivateKeySigner {
    parse_private_key(SPEC_KEY).unwrap()
}

#[test]
fn create_list_load_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = KeystoreDir::new(tmp.path().join("keystore"));
    assert!(
        dir.list().unwrap().is_empty(),
        "a missing directory has no wallet"
    );

    let (signer, path) = dir.create(b"pass word", FAST).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("UTC--")
            && name.len() == "UTC--2024-05-01T10-20-30.123456789Z--".len() + 40
    );
    assert!(name.ends_with(&format!(
        "--{}",
        alloy_primitives::hex::encode(signer.address())
    )));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "keystore files are private");
    }

    // Noise in the directory is ignored.
    std::fs::write(dir.path().join("notes.txt"), "not a keystore").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();

    let entries = dir.list().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].address, signer.address());
    assert_eq!(entries[0].path, path);
    assert_eq!(dir.single().unwrap(), entries[0]);

    let loaded = dir.load(signer.address(), b"pass word").unwrap();
    assert_eq!(loaded.to_bytes(), signer.to_bytes());
    assert_eq!(
        load_file(&path, b"pass word").unwrap().address(),
        signer.address()
    );

    // The file is geth's format.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(json["crypto"]["kdfparams"]["n"], 1024);
    assert_eq!(
        json["address"],
        alloy_primitives::hex::encode(signer.address())
    );

    // The same key cannot be saved twice.
    let err = dir.save(&signer, b"other", FAST).unwrap_err();
    assert!(matches!(err, Error::WalletExists { .. }), "{err}");
}

#[test]
fn wrong_password_is_reported_with_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = KeystoreDir::new(tmp.path());
    let (signer, path) = dir.create(b"right", FAST).unwrap();
    let err = dir.load(signer.address(), b"wrong").unwrap_err();
    match &err {
        Error::WrongPassword { path: Some(p) } => assert_eq!(p, &path),
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("wrong password"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(PASSWORD_ENV), "{msg}");
}

#[test]
fn import_raw_key_and_pbkdf2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = KeystoreDir::new(tmp.path());
    let (signer, path) = dir
        .import(&format!("0x{SPEC_KEY}"), b"pw", Kdf::Pbkdf2 { c: 1000 })
        .unwrap();
    assert_eq!(signer, spec_signer());
    assert_eq!(read_keystore(&path).unwrap().crypto.kdf, "pbkdf2");
    assert_eq!(dir.load(signer.address(), b"pw").unwrap(), signer);
    assert!(matches!(
        dir.import(SPEC_KEY, b"pw", FAST),
        Err(Error::WalletExists { .. })
    ));
    assert!(matches!(
        dir.import("0xdeadbeef", b"pw", FAST),
        Err(Error::PrivateKey { .. })
    ));
}

#[test]
fn known_parameters_reproduce_the_spec_file() {
    // Encrypting the spec key with the spec's salt, IV and rounds gives the spec's ciphertext
    // and MAC byte for byte.
    let spec: Keystore = serde_json::from_str(SPEC_PBKDF2).unwrap();
    let salt =
        alloy_primitives::hex::decode(spec.crypto.kdfparams["salt"].as_str().unwrap()).unwrap();
    let iv: [u8; 16] = alloy_primitives::hex::decode(&spec.crypto.cipherparams.iv)
        .unwrap()
        .try_into()
        .unwrap();
    let ours = Keystore::encrypt_with(
        &spec_signer(),
        b"testpassword",
        Kdf::Pbkdf2 {
            c: Kdf::PBKDF2_ROUNDS,
        },
        &salt,
        iv,
        spec.id.clone(),
    )
    .unwrap();
    assert_eq!(ours.crypto.ciphertext, spec.crypto.ciphertext);
    assert_eq!(ours.crypto.mac, spec.crypto.mac);
    assert_eq!(ours.crypto.kdfparams, spec.crypto.kdfparams);

    // And the spec file decrypts to the spec key; the spec's address is the key's address.
    let signer = spec.decrypt(b"testpassword").unwrap();
    assert_eq!(signer, spec_signer());
    assert_eq!(
        signer.address(),
        "0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b"
            .parse::<Address>()
            .unwrap()
    );
}

/// geth's keystore test data `accounts/keystore/testdata/keystore/aaa` (password "foobar").
const GETH_AAA: &str = r#"{"address":"f466859ead1932d743d622cb74fc058882e8648a","crypto":{"cipher":"aes-128-ctr","ciphertext":"cb664472deacb41a2e995fa7f96fe29ce744471deb8d146a0e43c7898c9ddd4d","cipherparams":{"iv":"dfd9ee70812add5f4b8f89d0811c9158"},"kdf":"scrypt","kdfparams":{"dklen":32,"n":8,"p":16,"r":8,"salt":"0d6769bf016d45c479213990d6a08d938469c4adad8a02ce507b4a4e7b7739f1"},"mac":"bac9af994b15a45dd39669fc66f9aa8a3b9dd8c22cb16e4d8d7ea089d0f1a1a9"},"id":"472e8b3d-afb6-45b5-8111-72c89895099a","version":3}"#;
const GETH_AAA_KEY: &str = "539f9b4106fb452408e1ee43d177077f057a8fdc1e1fad92c61e68982b4e3c4b";

#[test]
fn geth_scrypt_file() {
    let geth: Keystore = serde_json::from_str(GETH_AAA).unwrap();
    assert_eq!(
        geth.kdf().unwrap().0,
        Kdf::Scrypt(ScryptParams {
            log_n: 3,
            r: 8,
            p: 16
        })
    );
    let signer = geth.decrypt(b"foobar").unwrap();
    assert_eq!(signer, parse_private_key(GETH_AAA_KEY).unwrap());
    assert_eq!(Some(signer.address()), geth.stated_address());
    assert!(matches!(
        geth.decrypt(b"foobaz"),
        Err(Error::WrongPassword { .. })
    ));

    // Re-encrypting with the file's salt, IV and parameters gives the file's ciphertext and MAC.
    let salt =
        alloy_primitives::hex::decode(geth.crypto.kdfparams["salt"].as_str().unwrap()).unwrap();
    let iv = alloy_primitives::hex::decode(&geth.crypto.cipherparams.iv)
        .unwrap()
        .try_into()
        .unwrap();
    let ours = Keystore::encrypt_with(
        &signer,
        b"foobar",
        geth.kdf().unwrap().0,
        &salt,
        iv,
        geth.id.clone(),
    )
    .unwrap();
    assert_eq!(ours, geth);
}

#[test]
fn spec_scrypt_vector_with_r1_is_refused_clearly() {
    // The Web3 Secret Storage scrypt vector uses n = 2^18 with r = 1, outside RFC 7914's
    // n < 2^(16·r); the scrypt crate refuses it. The error names the parameters instead of
    // claiming a wrong password.
    let spec: Keystore = serde_json::from_str(SPEC_SCRYPT).unwrap();
    assert_eq!(
        spec.kdf().unwrap().0,
        Kdf::Scrypt(ScryptParams {
            log_n: 18,
            r: 1,
            p: 8
        })
    );
    let err = spec.decrypt(b"testpassword").unwrap_err();
    assert!(matches!(err, Error::KdfParams(_)), "{err}");
    assert!(err.to_string().contains("r = 1"), "{err}");
}

#[test]
fn reads_ethers_and_iexec_sdk_files() {
    // ethers (used by the iExec SDK) writes `Crypto`, a 0x-less address and an `x-ethers` block.
    let mut json: serde_json::Value = serde_json::from_str(GETH_AAA).unwrap();
    let crypto = json.as_object_mut().unwrap().remove("crypto").unwrap();
    json["Crypto"] = crypto;
    json["x-ethers"] = serde_json::json!({"client": "ethers/6", "version": "0.1"});
    let tmp = tempfile::tempdir().unwrap();
    let name = "UTC--2024-01-02T03-04-05.0Z--f466859ead1932d743d622cb74fc058882e8648a";
    std::fs::write(tmp.path().join(name), json.to_string()).unwrap();
    let dir = KeystoreDir::new(tmp.path());
    let entry = dir.single().unwrap();
    let expected = parse_private_key(GETH_AAA_KEY).unwrap();
    assert_eq!(entry.address, expected.address());
    assert_eq!(dir.load(entry.address, b"foobar").unwrap(), expected);
}

#[test]
fn interoperates_with_alloys_eth_keystore() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();

    // A file written by eth-keystore (scrypt 2^13) loads here.
    let (theirs, uuid) =
        PrivateKeySigner::new_keystore(tmp.path(), &mut rng, "their password", Some("theirs.json"))
            .unwrap();
    assert!(!uuid.is_empty());
    let loaded = load_file(&tmp.path().join("theirs.json"), b"their password").unwrap();
    assert_eq!(loaded, theirs);
    assert!(matches!(
        load_file(&tmp.path().join("theirs.json"), b"nope"),
        Err(Error::WrongPassword { .. })
    ));

    // A file written here loads with eth-keystore.
    let dir = KeystoreDir::new(tmp.path().join("ours"));
    let (ours, path) = dir.create(b"our password", FAST).unwrap();
    let decrypted = PrivateKeySigner::decrypt_keystore(&path, "our password").unwrap();
    assert_eq!(decrypted, ours);
}

#[test]
fn wallet_options_pick_the_wallet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = KeystoreDir::new(tmp.path().join("ks"));
    let password_file = tmp.path().join("password.txt");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let no_env = |_: &str| None;

    let (a, a_path) = dir.create(b"s3cret", FAST).unwrap();
    let opts = WalletOptions {
        keystore_dir: Some(dir.path().into()),
        password_file: Some(password_file.clone()),
        ..Default::default()
    };
    assert_eq!(opts.open_with(no_env).unwrap(), a, "the only wallet");

    let (b, _) = dir.create(b"s3cret", FAST).unwrap();
    let err = opts.open_with(no_env).unwrap_err();
    assert!(
        matches!(&err, Error::SeveralWallets { addresses, .. } if addresses.len() == 2),
        "{err}"
    );
    assert!(
        err.to_string().contains(&a.address().to_checksum(None)),
        "{err}"
    );

    let pick_b = WalletOptions {
        address: Some(b.address()),
        ..opts.clone()
    };
    assert_eq!(pick_b.open_with(no_env).unwrap(), b);

    let unknown = WalletOptions {
        address: Some(Address::repeat_byte(9)),
        ..opts.clone()
    };
    assert!(matches!(
        unknown.open_with(no_env),
        Err(Error::WalletNotFound { .. })
    ));

    // The password from POCO_WALLET_PASSWORD when there is no password file.
    let env_password = |key: &str| (key == PASSWORD_ENV).then(|| "s3cret".to_owned());
    let by_file = WalletOptions {
        wallet_file: Some(a_path.clone()),
        password_file: None,
        ..opts.clone()
    };
    assert_eq!(by_file.open_with(env_password).unwrap(), a);
    let wrong_env = |key: &str| (key == PASSWORD_ENV).then(|| "guess".to_owned());
    assert!(matches!(
        by_file.open_with(wrong_env),
        Err(Error::WrongPassword { .. })
    ));

    // An explicit wallet file wins over POCO_PRIVATE_KEY.
    let both = |key: &str| match key {
        PASSWORD_ENV => Some("s3cret".to_owned()),
        PRIVATE_KEY_ENV => Some(SPEC_KEY.to_owned()),
        _ => None,
    };
    assert_eq!(by_file.open_with(both).unwrap(), a);
    let dir_only = WalletOptions {
        keystore_dir: Some(dir.path().into()),
        ..Default::default()
    };
    assert_eq!(dir_only.open_with(both).unwrap(), spec_signer());
}

#[test]
fn password_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pw");
    std::fs::write(&file, "from file\n").unwrap();
    let source = PasswordSource::resolve_with(Some(file), |_| Some("from env".to_owned()));
    assert_eq!(source.read("").unwrap().as_str(), "from file");
    let source = PasswordSource::resolve_with(None, |_| Some("from env".to_owned()));
    assert_eq!(source.read_new().unwrap().as_str(), "from env");
}

#[test]
fn file_names_sort_by_creation_time() {
    let address = Address::repeat_byte(0xab);
    let early = keystore_file_name(
        address,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
    );
    let late = keystore_file_name(
        address,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000),
    );
    assert!(early < late);
    assert!(early.starts_with("UTC--2001-09-09T01-46-40.000000000Z--abab"));
}
