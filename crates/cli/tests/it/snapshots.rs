//! Snapshots of every help text and of the errors users meet first (`cargo insta review`
//! updates them after a deliberate change).

use crate::Poco;

/// The subcommands listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_help_text() {
    let poco = Poco::new(crate::POCO);
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = poco.output(&args);
        assert!(out.status.success(), "poco {args:?} failed");
        let help = String::from_utf8(out.stdout).expect("utf-8 help");
        let name = if path.is_empty() {
            "help-poco".to_string()
        } else {
            format!("help-poco-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, help);
        seen += 1;
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    // poco and every group and command under it.
    assert_eq!(seen, 79);
}

#[test]
fn errors_say_what_to_do() {
    let poco = Poco::new(crate::POCO);
    insta::assert_snapshot!("error-no-chain", poco.error(&["info"]));
    insta::assert_snapshot!(
        "error-unreachable",
        poco.error(&[
            "info",
            "--rpc-url",
            "http://127.0.0.1:1",
            "--hub",
            "0x0000000000000000000000000000000000000001"
        ])
    );
    insta::assert_snapshot!(
        "error-bad-amount",
        poco.error(&["account", "deposit", "1.5"])
    );
    insta::assert_snapshot!(
        "error-bad-unit",
        poco.error(&["account", "deposit", "2", "ETH"])
    );
    insta::assert_snapshot!(
        "error-bad-address",
        poco.error(&["account", "show", "0x1234"])
    );

    poco.write(
        "chain.json",
        r#"{"default":"local","chains":{"local":{"host":"http://127.0.0.1:1","id":31337,
        "hub":"0x0000000000000000000000000000000000000001"}}}"#,
    );
    insta::assert_snapshot!(
        "error-unknown-chain",
        poco.error(&["info", "--chain", "mainnet"])
    );
    insta::assert_snapshot!(
        "error-unknown-account",
        poco.error(&["account", "show", "--account", "nobody"])
    );
    let keystore = poco.home().join("keystore");
    let keystore = keystore.to_str().unwrap();
    let right = poco.write("right.txt", "right\n");
    let wrong = poco.write("wrong.txt", "wrong\n");
    let created = poco.json(&[
        "wallet",
        "create",
        "--keystoredir",
        keystore,
        "--password-file",
        right.to_str().unwrap(),
    ]);
    let file = crate::text(&created, "file");
    let file = std::path::Path::new(&file)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("keystore file name")
        .to_string();
    let message = poco.error(&[
        "account",
        "deposit",
        "1 RLC",
        "--keystoredir",
        keystore,
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    insta::assert_snapshot!(
        "error-wrong-password",
        message.replace(&file, "[KEYSTORE FILE]")
    );
    let message = poco.error(&[
        "account",
        "deposit",
        "1 RLC",
        "--keystoredir",
        "/nonexistent/keys",
    ]);
    insta::assert_snapshot!("error-no-wallet", message);
}

#[test]
fn json_errors_are_json_on_stdout() {
    let poco = Poco::new(crate::POCO);
    let out = poco.output(&["--json", "info"]);
    assert!(!out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(value["ok"], false);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("poco devnet start"),
        "{value}"
    );
}
