use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};

use super::*;

#[test]
fn file_names_are_plain() {
    assert_eq!(file_name("https://x.org/a/b/data.txt?x=1", "f"), "data.txt");
    assert_eq!(file_name("https://x.org/", "f"), "f");
    assert_eq!(file_name("file:///tmp/../..", "f"), "f");
    assert_eq!(file_name("https://x.org/we%20ird name", "f"), "we20irdname");
}

/// Every range the review lists, in both families and in IPv4-mapped form, with and without
/// the development flag.
#[test]
fn c1_address_filter_table() {
    // (address, refused without the flag, refused with it)
    let table: &[(&str, bool, bool)] = &[
        ("8.8.8.8", false, false),
        ("1.1.1.1", false, false),
        ("2606:4700::1111", false, false),
        ("127.0.0.1", true, false),
        ("127.8.9.10", true, false),
        ("10.1.2.3", true, false),
        ("172.16.0.1", true, false),
        ("172.31.255.255", true, false),
        ("172.32.0.1", false, false),
        ("192.168.1.1", true, false),
        ("100.64.0.1", true, false),
        ("100.127.255.254", true, false),
        ("100.128.0.1", false, false),
        ("169.254.169.254", true, true),
        ("169.254.1.1", true, true),
        ("0.0.0.0", true, true),
        ("255.255.255.255", true, true),
        ("224.0.0.1", true, true),
        ("239.255.255.250", true, true),
        ("240.0.0.1", true, true),
        ("192.0.2.1", true, true),
        ("198.51.100.7", true, true),
        ("203.0.113.9", true, true),
        ("198.18.0.1", true, true),
        ("198.19.255.1", true, true),
        ("192.0.0.8", true, true),
        ("::", true, true),
        ("::1", true, false),
        ("fc00::1", true, false),
        ("fd12:3456::1", true, false),
        ("fd00:ec2::254", true, true),
        ("fe80::1", true, true),
        ("fec0::1", true, true),
        ("ff02::1", true, true),
        ("2001:db8::1", true, true),
        ("3fff::1", true, true),
        ("100::1", true, true),
        ("::ffff:127.0.0.1", true, false),
        ("::ffff:10.0.0.1", true, false),
        ("::ffff:169.254.169.254", true, true),
        ("::ffff:8.8.8.8", false, false),
        ("::127.0.0.1", true, false),
        ("64:ff9b::a9fe:a9fe", true, true),
        ("64:ff9b::808:808", false, false),
        ("2002:7f00:1::", true, false),
        ("2002:a9fe:a9fe::", true, true),
        ("2002:808:808::", false, false),
    ];
    for (ip, strict, dev) in table {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(
            refused_ip(ip, false).is_some(),
            *strict,
            "{ip} without the flag"
        );
        assert_eq!(refused_ip(ip, true).is_some(), *dev, "{ip} with the flag");
    }
    assert_eq!(
        refused_ip("169.254.169.254".parse().unwrap(), true),
        Some("cloud metadata")
    );
}

fn fetcher<'a>(http: &'a reqwest::Client, policy: &'a Policy, time: Duration) -> Fetcher<'a> {
    Fetcher::new(http, 1024, policy, time)
}

fn dev() -> Policy {
    Policy {
        allow_local: true,
        exempt: Vec::new(),
    }
}

async fn input(policy: &Policy, url: &str, time: Duration) -> (Result<String, Failure>, PathBuf) {
    let http = http_client(policy).unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    (
        fetcher(&http, policy, time).input_file(&dir, url).await,
        dir,
    )
}

fn refused(result: Result<String, Failure>, reason: &str) -> String {
    let (message, task_fault) = result.expect_err("refused");
    assert!(task_fault, "{message}");
    assert!(
        message.contains(reason),
        "expected {reason:?} in {message:?}"
    );
    message
}

#[tokio::test]
async fn c1_file_urls_refused_without_the_dev_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "data").unwrap();
    let url = format!("file://{}", path.display());
    let (result, _) = input(&Policy::default(), &url, Duration::from_secs(5)).await;
    let message = refused(result, "--allow-local-fetch");
    assert!(
        !message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    // A development worker reads it.
    let (result, out) = input(&dev(), &url, Duration::from_secs(5)).await;
    assert_eq!(std::fs::read(out.join(result.unwrap())).unwrap(), b"data");
}

#[tokio::test]
async fn c1_proc_self_environ_refused_even_with_the_dev_flag() {
    for url in [
        "file:///proc/self/environ",
        "file:///proc/self/cmdline",
        "file:///sys/kernel/hostname",
    ] {
        let (result, out) = input(&dev(), url, Duration::from_secs(5)).await;
        let message = refused(result, "system file");
        assert!(!message.contains("/proc") || message.contains("(/proc, /sys or /dev)"));
        assert_eq!(
            std::fs::read_dir(out).unwrap().count(),
            0,
            "nothing written"
        );
    }
    // Through a symbolic link too.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("innocent.txt");
    std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
    let (result, _) = input(
        &dev(),
        &format!("file://{}", link.display()),
        Duration::from_secs(5),
    )
    .await;
    refused(result, "system file");
}

#[tokio::test]
async fn c1_dev_zero_and_fifos_refused_without_reading() {
    for url in [
        "file:///dev/zero",
        "file:///dev/urandom",
        "file:///dev/stdin",
    ] {
        let (result, _) = input(&dev(), url, Duration::from_secs(5)).await;
        refused(result, "system file");
    }
    // A FIFO elsewhere: refused as not a regular file, without blocking on it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (result, _) = input(
        &dev(),
        &format!("file://{}", fifo.display()),
        Duration::from_secs(5),
    )
    .await;
    refused(result, "not a regular file");
    // A symbolic link to /dev/zero.
    let link = dir.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let (result, _) = input(
        &dev(),
        &format!("file://{}", link.display()),
        Duration::from_secs(5),
    )
    .await;
    refused(result, "system file");
}

#[tokio::test]
async fn c1_file_size_cap_applies_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 1025]).unwrap();
    let (result, _) = input(
        &dev(),
        &format!("file://{}", path.display()),
        Duration::from_secs(5),
    )
    .await;
    refused(result, "larger than the 1024 bytes allowed");
}

/// A minimal HTTP server on `ip`: counts connections, answers `reply` (then, when `tarpit`,
/// one more byte a second forever).
async fn server(ip: &str, reply: String, tarpit: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply.as_bytes()).await;
                if tarpit {
                    while socket.write_all(b"x").await.is_ok() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            });
        }
    });
    (addr, hits)
}

fn redirect(to: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\ncontent-length: 0\r\n\r\n")
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The first server stands for a public host (exempted: 127.0.0.2); it redirects to the
/// loopback address, where the secret is.
#[tokio::test]
async fn c1_redirect_to_loopback_refused_without_the_dev_flag() {
    let (secret, secret_hits) = server("127.0.0.1", ok("secret"), false).await;
    let policy = Policy {
        allow_local: false,
        exempt: vec!["127.0.0.2".parse().unwrap()],
    };
    for target in [
        format!("http://127.0.0.1:{}/", secret.port()),
        format!("http://localhost:{}/", secret.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", secret.port()),
    ] {
        let (public, public_hits) = server("127.0.0.2", redirect(&target), false).await;
        let url = format!("http://127.0.0.2:{}/input.txt", public.port());
        let (result, _) = input(&policy, &url, Duration::from_secs(10)).await;
        refused(result, "loopback");
        assert_eq!(public_hits.load(Ordering::SeqCst), 1, "{target}");
    }
    assert_eq!(
        secret_hits.load(Ordering::SeqCst),
        0,
        "the loopback server was reached"
    );
    // Redirects to other schemes are not followed either.
    let (public, _) = server("127.0.0.2", redirect("file:///etc/passwd"), false).await;
    let url = format!("http://127.0.0.2:{}/input.txt", public.port());
    let (result, out) = input(&policy, &url, Duration::from_secs(10)).await;
    assert!(result.is_err());
    assert_eq!(
        std::fs::read_dir(out).unwrap().count(),
        0,
        "nothing written"
    );
    // A direct loopback URL too.
    let url = format!("http://127.0.0.1:{}/", secret.port());
    let (result, _) = input(&Policy::default(), &url, Duration::from_secs(10)).await;
    refused(result, "loopback");
    assert_eq!(secret_hits.load(Ordering::SeqCst), 0);
    // The same chain works on a development worker.
    let (public, _) = server(
        "127.0.0.2",
        redirect(&format!("http://127.0.0.1:{}/", secret.port())),
        false,
    )
    .await;
    let url = format!("http://127.0.0.2:{}/input.txt", public.port());
    let (result, out) = input(&dev(), &url, Duration::from_secs(10)).await;
    assert_eq!(std::fs::read(out.join(result.unwrap())).unwrap(), b"secret");
}

#[tokio::test]
async fn c1_metadata_address_refused_even_with_the_dev_flag() {
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        let (result, _) = input(&dev(), url, Duration::from_secs(30)).await;
        refused(result, "cloud metadata");
    }
    // Behind a redirect from an allowed (local, development) server.
    let (local, _) = server(
        "127.0.0.1",
        redirect("http://169.254.169.254/latest/"),
        false,
    )
    .await;
    let (result, _) = input(
        &dev(),
        &format!("http://127.0.0.1:{}/", local.port()),
        Duration::from_secs(30),
    )
    .await;
    refused(result, "cloud metadata");
}

#[tokio::test]
async fn c1_redirect_loops_are_cut() {
    // Redirects to itself forever.
    let (looping, hits) = server("127.0.0.1", redirect("/again"), false).await;
    let url = format!("http://127.0.0.1:{}/", looping.port());
    let (result, _) = input(&dev(), &url, Duration::from_secs(10)).await;
    refused(result, "redirects more than 5 times");
    assert_eq!(hits.load(Ordering::SeqCst), MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn m7_tarpit_stopped_by_the_fetch_time_limit() {
    let header = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n".to_string();
    let (tarpit, _) = server("127.0.0.1", header, true).await;
    let url = format!("http://127.0.0.1:{}/slow.txt", tarpit.port());
    let started = std::time::Instant::now();
    let (result, _) = input(&dev(), &url, Duration::from_secs(2)).await;
    refused(result, "took longer than this task allows");
    assert!(started.elapsed() < Duration::from_secs(30));
}
