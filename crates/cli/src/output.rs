//! What commands print: one JSON document on stdout with `--json`, aligned text otherwise;
//! spinners and logs on stderr.
//!
//! Commands build a [`serde_json::Value`]; amounts are nRLC as decimal strings (as the iExec
//! SDK's `--raw` output), which the text form shows in RLC.

use std::{future::Future, time::Duration};

use alloy::primitives::U256;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

/// Keys whose values are nRLC amounts.
const AMOUNT_KEYS: &[&str] = &[
    "amount",
    "deposited",
    "withdrawn",
    "appPrice",
    "balance",
    "datasetPrice",
    "free",
    "locked",
    "price",
    "requesterCost",
    "stake",
    "wallet",
    "walletRlc",
    "workerStake",
    "workerpoolPrice",
    "appMaxPrice",
    "datasetMaxPrice",
    "workerpoolMaxPrice",
    "appprice",
    "datasetprice",
    "workerpoolprice",
    "appmaxprice",
    "datasetmaxprice",
    "workerpoolmaxprice",
];

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    /// One JSON document on stdout.
    pub(crate) json: bool,
}

impl Output {
    /// Prints a command's result (addresses checksummed, EIP-55).
    pub(crate) fn print(&self, value: &Value) {
        let mut value = value.clone();
        checksum_addresses(&mut value);
        let value = &value;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            );
        } else {
            let mut text = String::new();
            render(&mut text, value, 0);
            print!("{text}");
        }
    }

    /// Prints a long-running service's start record: one line of JSON with `--json` (so a
    /// supervisor can read it before the service ends), the text form otherwise.
    pub(crate) fn print_line(&self, value: &Value) {
        if self.json {
            let mut value = value.clone();
            checksum_addresses(&mut value);
            println!("{value}");
        } else {
            self.print(value);
        }
    }

    /// Runs `work` with a spinner saying `message` on stderr (shown on a terminal only, and
    /// not with `--json`).
    pub(crate) async fn wait<T>(
        &self,
        message: impl Into<String>,
        work: impl Future<Output = T>,
    ) -> T {
        let spinner = if self.json {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        spinner.set_message(message.into());
        let out = work.await;
        spinner.finish_and_clear();
        out
    }
}

/// An outcome that is not a success and has its own exit code (`poco run` with a failed task,
/// an unverifiable result, or a follow given up): `value`, when there is one, is printed as a
/// command's result (its `"ok"` is `false`), then `message` on stderr.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The process exit code.
    pub(crate) code: u8,
    /// One line: what went wrong and what to do.
    pub(crate) message: String,
    /// What the command did before it stopped.
    pub(crate) value: Option<Value>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Rewrites every string that is an address in its EIP-55 checksummed form.
fn checksum_addresses(value: &mut Value) {
    match value {
        Value::String(s) if s.len() == 42 && s.starts_with("0x") => {
            if let Ok(address) = s.parse::<alloy::primitives::Address>() {
                *s = address.to_checksum(None);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(checksum_addresses),
        Value::Object(map) => map.values_mut().for_each(checksum_addresses),
        _ => {}
    }
}

/// `camelCase` key to words: `workerpoolPrice` → `workerpool price`.
fn words(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Keys whose values are unix timestamps (seconds).
const TIME_KEYS: &[&str] = &[
    "startTime",
    "finalDeadline",
    "contributionDeadline",
    "revealDeadline",
    "timestamp",
];

/// A unix time as `YYYY-MM-DD hh:mm:ss UTC` (proleptic Gregorian calendar).
fn utc(seconds: u64) -> String {
    poco_chain::utc_time(U256::from(seconds))
}

fn scalar(key: &str, value: &Value) -> String {
    match value {
        Value::String(s) if TIME_KEYS.contains(&key) => match s.parse::<u64>() {
            Ok(0) => "-".into(),
            Ok(t) => utc(t),
            Err(_) => s.clone(),
        },
        Value::Number(n) if TIME_KEYS.contains(&key) => match n.as_u64() {
            Some(t) => utc(t),
            None => n.to_string(),
        },
        Value::String(s) if AMOUNT_KEYS.contains(&key) => match s.parse::<U256>() {
            Ok(n) => poco_types::format_rlc(n),
            Err(_) => s.clone(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

fn render(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => render_object(out, map, indent),
        Value::Array(items) if items.iter().all(|i| matches!(i, Value::Object(_))) => {
            render_table(out, items, indent)
        }
        Value::Array(items) => {
            for item in items {
                if is_scalar(item) {
                    out.push_str(&format!("{pad}{}\n", scalar("", item)));
                } else {
                    render(out, item, indent + 2);
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar("", other))),
    }
}

fn render_object(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    let width = map
        .iter()
        .filter(|(_, v)| is_scalar(v))
        .map(|(k, _)| words(k).len())
        .max()
        .unwrap_or(0);
    for (key, value) in map {
        if is_scalar(value) {
            out.push_str(&format!(
                "{pad}{:<width$}  {}\n",
                words(key),
                scalar(key, value)
            ));
        }
    }
    for (key, value) in map {
        if !is_scalar(value) {
            let empty = match value {
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if empty {
                out.push_str(&format!("{pad}{}: none\n", words(key)));
            } else {
                out.push_str(&format!("{pad}{}:\n", words(key)));
                render(out, value, indent + 2);
            }
        }
    }
}

fn render_table(out: &mut String, rows: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(map) = row {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| match row.get(c) {
                    Some(v) if is_scalar(v) => scalar(c, v),
                    Some(Value::Array(a)) => {
                        a.iter().map(|v| scalar(c, v)).collect::<Vec<_>>().join(",")
                    }
                    Some(v) => v.to_string(),
                    None => "-".into(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([words(c).len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        let joined = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        format!("{pad}{}\n", joined.trim_end())
    };
    out.push_str(&line(
        columns.iter().map(|c| words(c).to_uppercase()).collect(),
    ));
    for row in cells {
        out.push_str(&line(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_unix_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_494_777), "2026-11-24 04:32:57 UTC");
    }

    #[test]
    fn renders_objects_tables_and_amounts() {
        let value = json!({
            "address": "0xabc",
            "free": "1500000000",
            "tasks": [
                {"taskid": "0x1", "status": "ACTIVE"},
                {"taskid": "0x2", "status": "COMPLETED"}
            ],
            "contributors": []
        });
        let mut text = String::new();
        render(&mut text, &value, 0);
        assert_eq!(
            text,
            "address  0xabc\nfree     1.5 RLC\ntasks:\n  TASKID  STATUS\n  0x1     ACTIVE\n  \
             0x2     COMPLETED\ncontributors: none\n"
        );
    }
}
