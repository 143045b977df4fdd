//! Polling a condition with a bound.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// How long [`wait_for`] waits by default.
pub const WAIT: Duration = Duration::from_secs(30);

/// Polls `check` every 50 ms until it yields `Some`, for at most `timeout`; an error of
/// `check` ends the wait at once. Panics naming `what` once `timeout` has passed.
pub async fn wait_for<T, E, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_value_and_passes_errors_on() {
        let mut calls = 0;
        let got: Result<u32, String> = wait_for("three calls", WAIT, || {
            calls += 1;
            let n = calls;
            async move { Ok((n == 3).then_some(n)) }
        })
        .await;
        assert_eq!(got, Ok(3));
        let failed: Result<u32, String> =
            wait_for("an error", WAIT, || async { Err("broken".to_string()) }).await;
        assert_eq!(failed, Err("broken".into()));
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for never")]
    async fn panics_naming_what_it_waited_for() {
        let _: Result<(), ()> =
            wait_for("never", Duration::from_millis(100), || async { Ok(None) }).await;
    }
}
