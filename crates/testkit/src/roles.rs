//! The one map from the parts the tests play to anvil's deterministic accounts.

/// How many accounts the test anvil makes (anvil's deterministic mnemonic, so every run and
/// every suite sees the same addresses).
pub const ACCOUNTS: usize = poco_chain::devchain::DEV_ACCOUNTS;

/// How many distinct [`Role::Worker`]s there are.
pub const WORKERS: usize = 12;

/// How many distinct [`Role::Other`]s there are.
pub const OTHERS: usize = 3;

/// A part played in a test, each with its own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Deployed poco and holds the RLC supply; funds the others. Not funded in the hub.
    Admin,
    /// Owns the apps.
    AppOwner,
    /// Owns (schedules) the workerpools.
    Scheduler,
    /// Asks for computations and pays for them (and is the beneficiary by default).
    Requester,
    /// Worker `n` (below [`WORKERS`]).
    Worker(usize),
    /// Owns the datasets.
    DatasetOwner,
    /// A funded account that owns nothing: a stranger, a second requester, an attacker
    /// (`n` below [`OTHERS`]).
    Other(usize),
}

impl Role {
    /// The index of the role's account among anvil's deterministic accounts. Workers sit
    /// right after the requester, as in every suite before the kit, so their addresses (and
    /// the gas figures that depend on them) did not move.
    pub fn index(self) -> usize {
        match self {
            Role::Admin => 0,
            Role::AppOwner => 1,
            Role::Scheduler => 2,
            Role::Requester => 3,
            Role::Worker(n) => {
                assert!(
                    n < WORKERS,
                    "Role::Worker({n}): there are {WORKERS} workers"
                );
                4 + n
            }
            Role::DatasetOwner => 4 + WORKERS,
            Role::Other(n) => {
                assert!(n < OTHERS, "Role::Other({n}): there are {OTHERS} others");
                5 + WORKERS + n
            }
        }
    }

    /// Every role, each once.
    pub fn all() -> impl Iterator<Item = Role> {
        [
            Role::Admin,
            Role::AppOwner,
            Role::Scheduler,
            Role::Requester,
            Role::DatasetOwner,
        ]
        .into_iter()
        .chain((0..WORKERS).map(Role::Worker))
        .chain((0..OTHERS).map(Role::Other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_own_account_and_all_fit_in_anvil() {
        let mut seen = std::collections::HashSet::new();
        for role in Role::all() {
            assert!(role.index() < ACCOUNTS, "{role:?} is past anvil's accounts");
            assert!(seen.insert(role.index()), "{role:?} shares an account");
        }
        assert_eq!(seen.len(), 5 + WORKERS + OTHERS);
    }

    #[test]
    #[should_panic(expected = "there are 12 workers")]
    fn a_worker_past_the_last_is_refused() {
        Role::Worker(WORKERS).index();
    }
}
