//! The market over HTTPS (L12): served with the certificate of its configuration, refused to
//! plain HTTP, and a wrong certificate path stops the start with the file named.

use poco_service::TlsFiles;
use serde_json::Value;

use crate::fixture::*;

#[tokio::test]
async fn the_market_serves_https_from_its_certificate_and_key() -> R {
    let env = Env::chain().await?;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = env.dir.path().join("cert.pem");
    let key = env.dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;

    let mut config = env.market_config("market.db");
    config.tls = Some(TlsFiles { cert, key });
    let running = poco_market::start(config).await?;
    assert!(running.url.starts_with("https://"), "{}", running.url);

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(
            certified.cert.pem().as_bytes(),
        )?)
        .resolve("localhost", running.addr)
        .build()?;
    let version: Value = trusting
        .get(format!("https://localhost:{}/version", running.addr.port()))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(version["ok"], true, "{version}");

    // Plain HTTP on the same port gets no API answer.
    let plain = reqwest::get(format!("http://{}/version", running.addr)).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    Ok(())
}

#[tokio::test]
async fn a_missing_certificate_stops_the_start_with_the_file_named() -> R {
    let env = Env::chain().await?;
    let mut config = env.market_config("market.db");
    config.tls = Some(TlsFiles {
        cert: env.dir.path().join("missing-cert.pem"),
        key: env.dir.path().join("missing-key.pem"),
    });
    let e = poco_market::start(config).await.err().ok_or("started")?;
    assert!(e.to_string().contains("missing-cert.pem"), "{e}");
    Ok(())
}
