//! RLC amounts: the token has 9 decimals, so 1 RLC = 10^9 nRLC, the unit every contract uses.

use alloy_primitives::U256;

use crate::{Error, Result};

/// nRLC in one RLC.
pub const NRLC_PER_RLC: u64 = 1_000_000_000;

/// Formats nRLC as RLC with the fractional part trimmed: `1500000000` → `1.5 RLC`.
pub fn format_rlc(nrlc: U256) -> String {
    let unit = U256::from(NRLC_PER_RLC);
    let (whole, frac) = (nrlc / unit, nrlc % unit);
    if frac.is_zero() {
        return format!("{whole} RLC");
    }
    let frac = format!("{:09}", frac.to::<u64>());
    format!("{whole}.{} RLC", frac.trim_end_matches('0'))
}

/// Parses an amount: a bare integer is nRLC (as in the iExec SDK); a number followed by a unit
/// (`RLC` or `nRLC`, case-insensitive, with or without a space) is in that unit, and RLC
/// amounts may have up to 9 decimals: `5`, `5 nRLC`, `1.5RLC`, `0.000000001 rlc`.
pub fn parse_rlc(input: &str) -> Result<U256> {
    let text = input.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), text[split..].trim());
    let bad = |why: &str| Error::Amount {
        input: input.to_string(),
        reason: why.to_string(),
    };
    if number.is_empty() {
        return Err(bad("no number"));
    }
    let decimals = match unit.to_ascii_lowercase().as_str() {
        "" | "nrlc" => 0,
        "rlc" => 9,
        _ => return Err(bad("the unit must be RLC or nRLC")),
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("no number"));
    }
    if !whole
        .chars()
        .chain(frac.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad("not a decimal number"));
    }
    if frac.len() > decimals {
        return Err(bad(if decimals == 0 {
            "nRLC is the smallest unit, it has no decimals"
        } else {
            "RLC has at most 9 decimals"
        }));
    }
    let digits = format!("{whole}{frac:0<decimals$}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 10).map_err(|_| bad("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_rlc(U256::ZERO), "0 RLC");
        assert_eq!(format_rlc(U256::from(1_500_000_000u64)), "1.5 RLC");
        assert_eq!(format_rlc(U256::from(1u64)), "0.000000001 RLC");
        assert_eq!(format_rlc(U256::from(42 * NRLC_PER_RLC)), "42 RLC");
    }

    #[test]
    fn parses() {
        assert_eq!(parse_rlc("5").unwrap(), U256::from(5u64));
        assert_eq!(parse_rlc("5 nRLC").unwrap(), U256::from(5u64));
        assert_eq!(parse_rlc("1.5RLC").unwrap(), U256::from(1_500_000_000u64));
        assert_eq!(parse_rlc(" 0.000000001 rlc ").unwrap(), U256::from(1u64));
        assert_eq!(parse_rlc("10 RLC").unwrap(), U256::from(10 * NRLC_PER_RLC));
        assert_eq!(parse_rlc(".5 RLC").unwrap(), U256::from(500_000_000u64));
        for bad in [
            "",
            "RLC",
            "1.5",
            "1.0000000001 RLC",
            "1 ETH",
            "-1",
            "1e9",
            "0x10",
        ] {
            assert!(parse_rlc(bad).is_err(), "{bad:?} parsed");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(n in proptest::prelude::any::<u64>()) {
            let text = format_rlc(U256::from(n));
            proptest::prop_assert_eq!(parse_rlc(&text).unwrap(), U256::from(n));
        }
    }
}
