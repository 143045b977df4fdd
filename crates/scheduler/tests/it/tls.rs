//! The scheduler over HTTPS: its API and store are served with the configured certificate, its
//! own URL says https, and plain HTTP gets no answer.

use poco_service::TlsFiles;
use poco_testkit::{Chain, Role};

#[tokio::test]
async fn the_scheduler_serves_https_from_its_certificate_and_key() -> eyre::Result<()> {
    let chain = Chain::start_unfunded().await?;
    let pool = chain.create_workerpool(Role::Scheduler, "tls pool").await?;
    let dir = tempfile::tempdir()?;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;

    let mut config = chain.scheduler_config(pool, dir.path());
    config.tls = Some(TlsFiles { cert, key });
    let scheduler = chain.start_scheduler(config).await?;
    assert!(scheduler.url.starts_with("https://"), "{}", scheduler.url);

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(
            certified.cert.pem().as_bytes(),
        )?)
        .resolve("localhost", scheduler.addr)
        .build()?;
    let health = trusting
        .get(format!(
            "https://localhost:{}/health",
            scheduler.addr.port()
        ))
        .send()
        .await?;
    assert!(health.status().is_success(), "{}", health.status());

    let plain = reqwest::get(format!("http://{}/health", scheduler.addr)).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    Ok(())
}
