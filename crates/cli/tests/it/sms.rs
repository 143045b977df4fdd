//! `poco devnet start` runs an SMS and names it in chain.json; `poco dataset encrypt |
//! push-secret | check-secret`, `poco requester push-secret` and `poco result
//! push-encryption-key` against it, with the owner rules; `poco result generate-keypair |
//! decrypt` (no chain needed).

use std::process::Command;

use super::{funded_devnet, text, Poco};

#[test]
fn the_devnet_sms_keeps_dataset_keys_and_result_keys() {
    let poco = Poco::new(crate::POCO);
    let devnet = funded_devnet(&poco, &[]);
    let sms = text(&devnet, "sms");
    assert!(sms.starts_with("http://127.0.0.1:"), "{devnet}");
    let chains: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(text(&devnet, "chainConfig")).unwrap())
            .unwrap();
    assert_eq!(chains["chains"]["devnet"]["sms"], sms.as_str(), "{chains}");
    // a devnet has no TEE hardware: its SMS accepts development attestation, and says so
    assert!(
        text(&devnet, "smsAttestation").contains("insecure development attestation"),
        "{devnet}"
    );
    let health: serde_json::Value = reqwest::blocking::get(format!("{sms}/health"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["insecureDevAttestation"], true, "{health}");
    assert!(
        health["warning"].as_str().unwrap().contains("INSECURE"),
        "{health}"
    );

    // encrypt: FILE.enc and FILE.key beside it, the checksum of the encrypted file
    let plain = poco.write("model.bin", "weights of a small classifier\n");
    let enc = poco.json(&["dataset", "encrypt", plain.to_str().unwrap()]);
    let enc_file = text(&enc, "encrypted");
    let key_file = text(&enc, "keyFile");
    let bytes = std::fs::read(&enc_file).unwrap();
    assert_ne!(bytes, std::fs::read(&plain).unwrap());
    let out = poco.project().join("model.out");
    poco.json(&[
        "dataset",
        "decrypt",
        &enc_file,
        "--key-file",
        &key_file,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap());
    // OpenSSL opens it too: the IV in front, the base64 key beside it
    let key = std::fs::read_to_string(&key_file).unwrap();
    let key_hex = hex_of_base64(key.trim());
    let iv_hex: String = bytes[..16].iter().map(|b| format!("{b:02x}")).collect();
    let body = poco.project().join("body.bin");
    std::fs::write(&body, &bytes[16..]).unwrap();
    let opened = Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            &key_hex,
            "-iv",
            &iv_hex,
            "-in",
        ])
        .arg(&body)
        .output()
        .unwrap();
    assert!(opened.status.success());
    assert_eq!(opened.stdout, std::fs::read(&plain).unwrap());

    let deployed = poco.json(&[
        "dataset",
        "deploy",
        "--name",
        "model",
        "--file",
        &enc_file,
        "--account",
        "dataset-owner",
    ]);
    assert_eq!(text(&deployed, "checksum"), text(&enc, "checksum"));
    let dataset = text(&deployed, "address");

    let check = poco.json(&["dataset", "check-secret", &dataset]);
    assert_eq!(check["isSecretSet"], false);
    let push_key = |account: &'static str| {
        let args = ["dataset", "push-secret", &dataset, "--key-file", &key_file];
        let mut args = args.to_vec();
        args.extend(["--account", account]);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let refused = poco.error(&strs(&push_key("requester")));
    assert!(refused.contains("only"), "{refused}");
    poco.json(&strs(&push_key("dataset-owner")));
    let check = poco.json(&["dataset", "check-secret", &dataset]);
    assert_eq!(check["isSecretSet"], true);
    let again = poco.error(&strs(&push_key("dataset-owner")));
    assert!(again.contains("cannot be overwritten"), "{again}");

    // the beneficiary's result key
    let pem = poco.project().join("key.pem");
    let public = poco.project().join("key.pub");
    let gen = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let export = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&pem)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(export.status.success());
    let public = public.to_str().unwrap();
    let push_pem = [
        "result",
        "push-encryption-key",
        "--public-key",
        public,
        "--account",
        "beneficiary",
    ];
    let pushed = poco.json(&push_pem);
    assert_eq!(pushed["isUpdated"], false);
    let twice = poco.error(&push_pem);
    assert!(twice.contains("--force-update"), "{twice}");
    let check = poco.json(&["result", "check-encryption-key", "--account", "beneficiary"]);
    assert_eq!(check["isEncryptionKeySet"], true);

    let secret = poco.write("token.txt", "requester-token-value");
    poco.json(&[
        "requester",
        "push-secret",
        "api-token",
        "--secret-file",
        secret.to_str().unwrap(),
        "--account",
        "requester",
    ]);
    let check = poco.json(&[
        "requester",
        "check-secret",
        "api-token",
        "--account",
        "requester",
    ]);
    assert_eq!(check["isSecretSet"], true);
}

fn hex_of_base64(text: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("printf %s '{text}' | base64 -d | od -An -tx1 | tr -d ' \\n'"),
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn the_beneficiary_makes_keys_and_decrypts_a_result() {
    use std::os::unix::fs::PermissionsExt;
    let poco = Poco::new(crate::POCO);
    let address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let made = poco.json(&["result", "generate-keypair", "--wallet-address", address]);
    let dir = poco.project().join(".secrets/beneficiary");
    let (private, public) = (
        dir.join(format!("{address}_key")),
        dir.join(format!("{address}_key.pub")),
    );
    assert_eq!(
        text(&made, "publicKeyFile"),
        ".secrets/beneficiary/".to_string() + address + "_key.pub"
    );
    assert!(!made.to_string().contains("PRIVATE"), "{made}");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the private key is readable by its owner only"
    );
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let first_private = std::fs::read(&private).unwrap();

    // no silent overwrite: the results encrypted for the first key would be lost
    let again = poco.error(&["result", "generate-keypair", "--wallet-address", address]);
    assert!(again.contains("--force"), "{again}");
    assert_eq!(std::fs::read(&private).unwrap(), first_private);

    // a result encrypted for the public key (as a TEE worker will) decrypts with the defaults
    let zip = {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("out.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"only for the beneficiary").unwrap();
        zip.finish().unwrap().into_inner()
    };
    let archive = poco_sms::result_crypto::encrypt_result(&zip, &public_pem).unwrap();
    std::fs::write(poco.project().join("encryptedResults.zip"), &archive).unwrap();
    let done = poco.json(&["result", "decrypt", "--wallet-address", address]);
    assert_eq!(text(&done, "resultsPath"), "results.zip");
    assert_eq!(
        std::fs::read(poco.project().join("results.zip")).unwrap(),
        zip
    );
    let exists = poco.error(&["result", "decrypt", "--wallet-address", address]);
    assert!(exists.contains("--force"), "{exists}");

    // another keypair (--force) cannot open it, and says so
    poco.json(&[
        "result",
        "generate-keypair",
        "--wallet-address",
        address,
        "--force",
    ]);
    assert_ne!(std::fs::read(&private).unwrap(), first_private);
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let refused = poco.error(&[
        "result",
        "decrypt",
        "--wallet-address",
        address,
        "--out",
        "other.zip",
    ]);
    assert!(refused.contains("not encrypted for this key"), "{refused}");
    assert!(!poco.project().join("other.zip").exists());
}
