//! Categories (task size classes), deadlines and the protocol's fixed constants.

use crate::{Error, Result};
use alloy_primitives::{address, Address};
use serde::{Deserialize, Serialize};

/// Contributions must be made before `startTime + 7·T`.
pub const CONTRIBUTION_DEADLINE_RATIO: u64 = 7;
/// Reveals must be made before `consensusTime + 2·T`.
pub const REVEAL_DEADLINE_RATIO: u64 = 2;
/// Finalize must happen before `startTime + 10·T`; claim is allowed from then on.
pub const FINAL_DEADLINE_RATIO: u64 = 10;
/// The scheduler stakes this percentage of the workerpool price per task.
pub const WORKERPOOL_STAKE_RATIO: u64 = 30;
/// Percentage of the kitty paid to a scheduler on each successful task.
pub const KITTY_RATIO: u64 = 10;
/// Minimum kitty payout, in nRLC (1 RLC).
pub const KITTY_MIN: u64 = 1_000_000_000;
/// The kitty account: the first 20 bytes of `keccak256("iExecKitty")`, as a number, minus 1.
pub const KITTY_ADDRESS: Address = address!("0x99c2268479b93fDe36232351229815DF80837e23");
/// ERC-734 key purpose of group members (order restrictions to identity contracts).
pub const GROUPMEMBER_PURPOSE: u64 = 4;

/// The default categories created at deployment: name and `workClockTimeRef` in seconds.
pub const DEFAULT_CATEGORIES: [(&str, u64); 5] = [
    ("XS", 300),
    ("S", 1_200),
    ("M", 3_600),
    ("L", 10_800),
    ("XL", 36_000),
];

/// An entry of the hub's category table (`viewCategory`).
///
/// JSON: `{"name":"XS","description":"\"\"","workClockTimeRef":300}` as in the SDK's
/// `iexec.json`; `workClockTimeRef` is also read from a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// Display name, e.g. `"XS"`.
    pub name: String,
    /// Free text. The default categories store `JSON.stringify("")`, i.e. the two characters
    /// `""`, as iExec's deployment does.
    pub description: String,
    /// `T`: the reference computing time of one task, in seconds.
    #[serde(with = "crate::serde_util::u64_lenient")]
    pub work_clock_time_ref: u64,
}

impl Category {
    /// The five default categories XS, S, M, L, XL (indexes 0 to 4).
    pub fn defaults() -> Vec<Self> {
        DEFAULT_CATEGORIES
            .iter()
            .map(|(name, t)| Self {
                name: (*name).to_owned(),
                description: "\"\"".to_owned(),
                work_clock_time_ref: *t,
            })
            .collect()
    }

    /// The index of a default category given by name (`"xs"`, `"M"`, …) or index (`"2"`).
    pub fn default_index(name_or_index: &str) -> Result<u64> {
        let s = name_or_index.trim();
        if let Ok(index) = s.parse::<u64>() {
            if index < DEFAULT_CATEGORIES.len() as u64 {
                return Ok(index);
            }
        }
        DEFAULT_CATEGORIES
            .iter()
            .position(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|i| i as u64)
            .ok_or_else(|| Error::UnknownCategory(s.to_owned()))
    }

    /// `startTime + 7·T`: contributions (and fast-path pushes) must come strictly before it.
    pub fn contribution_deadline(&self, start_time: u64) -> u64 {
        start_time
            .saturating_add(CONTRIBUTION_DEADLINE_RATIO.saturating_mul(self.work_clock_time_ref))
    }

    /// `consensusTime + 2·T`: reveals must come strictly before it.
    pub fn reveal_deadline(&self, consensus_time: u64) -> u64 {
        consensus_time
            .saturating_add(REVEAL_DEADLINE_RATIO.saturating_mul(self.work_clock_time_ref))
    }

    /// `startTime + 10·T`: finalize strictly before it, claim from it on.
    pub fn final_deadline(&self, start_time: u64) -> u64 {
        start_time.saturating_add(FINAL_DEADLINE_RATIO.saturating_mul(self.work_clock_time_ref))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{keccak256, U256};

    #[test]
    fn kitty_address_formula() {
        let first20 = U256::from_be_slice(&keccak256("iExecKitty")[..20]);
        let n = first20 - U256::from(1);
        assert_eq!(
            Address::from_slice(&n.to_be_bytes::<32>()[12..]),
            KITTY_ADDRESS
        );
    }

    #[test]
    fn defaults_and_deadlines() {
        let cats = Category::defaults();
        let refs: Vec<_> = cats.iter().map(|c| c.work_clock_time_ref).collect();
        assert_eq!(refs, [300, 1200, 3600, 10800, 36000]);
        let xs = &cats[0];
        assert_eq!(xs.contribution_deadline(1000), 1000 + 35 * 60);
        assert_eq!(xs.final_deadline(1000), 1000 + 50 * 60);
        assert_eq!(xs.reveal_deadline(2000), 2000 + 600);
        assert_eq!(cats[4].final_deadline(0), 100 * 3600);
        assert_eq!(Category::default_index("m").unwrap(), 2);
        assert_eq!(Category::default_index("4").unwrap(), 4);
        assert!(Category::default_index("5")
            .unwrap_err()
            .to_string()
            .contains("XS, S, M"));
        assert!(Category::default_index("XXL").is_err());
    }

    #[test]
    fn json_form() {
        let json = serde_json::to_string(&Category::defaults()[1]).unwrap();
        assert_eq!(
            json,
            r#"{"name":"S","description":"\"\"","workClockTimeRef":1200}"#
        );
        let c: Category =
            serde_json::from_str(r#"{"name":"T","description":"","workClockTimeRef":"60"}"#)
                .unwrap();
        assert_eq!(c.work_clock_time_ref, 60);
    }
}
