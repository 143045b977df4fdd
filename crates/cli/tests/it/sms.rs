//! `poco devnet start` runs an SMS and names it in chain.json; `poco dataset encrypt |
//! push-secret | check-secret`, `poco requester push-secret` and `poco result
//! push-encryption-key` against it, with the owner rules.

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
