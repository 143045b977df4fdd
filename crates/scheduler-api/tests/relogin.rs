//! The client signs in again by itself when its session is refused, against a stand-in
//! scheduler that answers over plain HTTP/1.1.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use poco_scheduler_api::{challenge_text, Error, SchedulerClient};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Answers one request: the status and JSON body for `head` (its first line and headers).
fn answer(head: &str, pool: Address, logins: &AtomicUsize) -> (u16, String) {
    let line = head.lines().next().unwrap_or_default();
    if line.starts_with("GET /challenge") {
        let text = challenge_text(pool, &[7; 16]);
        return (200, format!(r#"{{"challenge":"{text}"}}"#));
    }
    if line.starts_with("POST /login") {
        let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
        return (200, format!(r#"{{"token":"t{n}","expires_in":60}}"#));
    }
    // Only the second session is valid (the first one "expired").
    if head
        .to_ascii_lowercase()
        .contains("authorization: bearer t2")
    {
        let body = format!(
            r#"{{"taskid":"{0}","dealid":"{0}","status":"ACTIVE","replicas_needed":1,
                "replicas":[],"failure":null,"results":null}}"#,
            B256::ZERO
        );
        return (200, body);
    }
    (
        401,
        r#"{"error":"unknown or expired session: sign in again"}"#.into(),
    )
}

/// A stand-in scheduler of `pool`; its URL and the number of sign-ins it served.
async fn scheduler(pool: Address) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = logins.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let logins = counter.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buffer).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let head = &text[..end];
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    let (status, body) = answer(head, pool, &logins);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    buffer.drain(..end + 4 + length);
                }
            });
        }
    });
    (url, logins)
}

#[tokio::test]
async fn a_refused_session_is_renewed_once_with_the_login_signer() {
    let pool = Address::repeat_byte(9);
    let (url, logins) = scheduler(pool).await;
    let client = SchedulerClient::new(&url).unwrap().expect_pool(pool);
    client.login(&PrivateKeySigner::random()).await.unwrap();
    assert_eq!(client.token().await.as_deref(), Some("t1"));
    // t1 is refused: the client signs in again (t2) and sends the call again.
    let info = client.task(B256::ZERO).await.unwrap();
    assert_eq!(info.status, "ACTIVE");
    assert_eq!(client.token().await.as_deref(), Some("t2"));
    assert_eq!(logins.load(Ordering::SeqCst), 2);

    // Without a sign-in there is nothing to renew: the refusal is returned.
    let anonymous = SchedulerClient::new(&url).unwrap();
    let err = anonymous.task(B256::ZERO).await.unwrap_err();
    assert!(err.is_unauthorized() && err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Refused { status: 401, .. }));
    assert_eq!(logins.load(Ordering::SeqCst), 2);
}
