//! The task lifecycle vocabulary: the on-chain task status, the pool's task state, the state of
//! a replicate and whose fault a failure is.
//!
//! Each enum is converted to text in one place: [`Display`](core::fmt::Display) and
//! [`FromStr`] (unknown text is refused with an [`UnknownName`] error),
//! and serde uses the same names, which are the ones the scheduler's API and database have
//! always used. [`TaskStatus`] is also converted to and from the hub's `uint8`.

use core::{fmt, str::FromStr};

/// A name that is not one of an enum's variants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}: expected one of {expected}")]
pub struct UnknownName {
    /// What was parsed (`task status`, `replicate state`, ...).
    pub kind: &'static str,
    /// The text that was given.
    pub value: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

/// A number that is not one of the hub's task statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown on-chain task status {0}: expected 0 (UNSET) to 4 (FAILED)")]
pub struct UnknownStatus(pub u8);

/// Declares a fieldless enum with its text names: `as_str`, `ALL`, Display, FromStr and serde.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident $(= $num:literal)? => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant $(= $num)?, )+
        }

        impl $name {
            /// Every variant, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name used in the APIs and the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with a name (`status == "ACTIVE"`), as callers that held the text did.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(UnknownName {
                        kind: $kind,
                        value: s.to_string(),
                        expected: $expected,
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// A task's status in the hub (`IexecLibCore_v5.TaskStatusEnum`), as a `uint8` on chain.
    TaskStatus, "task status", "UNSET, ACTIVE, REVEALING, COMPLETED, FAILED" {
        /// Not initialized.
        Unset = 0 => "UNSET",
        /// Initialized: contributions are accepted until the contribution deadline.
        Active = 1 => "ACTIVE",
        /// Consensus reached: the winners reveal until the reveal deadline.
        Revealing = 2 => "REVEALING",
        /// Finalized: the result is on chain.
        Completed = 3 => "COMPLETED",
        /// Claimed after the final deadline: the requester was refunded.
        Failed = 4 => "FAILED",
    }
}

impl TaskStatus {
    /// Whether the task is over on chain (completed or claimed).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The name of a status number from the hub, `UNKNOWN` for a number it does not define.
    pub fn name_of(status: u8) -> &'static str {
        Self::try_from(status).map_or("UNKNOWN", Self::as_str)
    }
}

impl TryFrom<u8> for TaskStatus {
    type Error = UnknownStatus;

    fn try_from(status: u8) -> Result<Self, UnknownStatus> {
        Ok(match status {
            0 => Self::Unset,
            1 => Self::Active,
            2 => Self::Revealing,
            3 => Self::Completed,
            4 => Self::Failed,
            _ => return Err(UnknownStatus(status)),
        })
    }
}

impl From<TaskStatus> for u8 {
    fn from(status: TaskStatus) -> u8 {
        status as u8
    }
}

named_enum! {
    /// A task's state in a workerpool's scheduler (stored as text, shown by `GET /tasks/{taskid}`).
    PoolTaskState, "pool task state",
        "PENDING, ACTIVE, REVEALING, COMPLETED, FAILED, EXPIRED, CLAIMED" {
        /// Its deal is known; the task is not initialized on chain yet.
        Pending => "PENDING",
        /// Initialized (or a fast task): replicates are handed out.
        Active => "ACTIVE",
        /// Consensus reached: the scheduler reveals and finalizes.
        Revealing => "REVEALING",
        /// Finalized (or pushed): the result is on chain.
        Completed => "COMPLETED",
        /// Given up off chain (see its failure); the requester claims after the final deadline.
        Failed => "FAILED",
        /// The contribution deadline passed before a result.
        Expired => "EXPIRED",
        /// Claimed on chain by the requester.
        Claimed => "CLAIMED",
    }
}

impl PoolTaskState {
    /// Whether the pool is done with the task (nothing more happens to it).
    pub const fn is_over(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Expired | Self::Claimed
        )
    }
}

named_enum! {
    /// What happened to a replicate: one worker's attempt at a task.
    ReplicateState, "replicate state", "assigned, contributed, done, failed, lost" {
        /// Handed out, not reported yet.
        Assigned => "assigned",
        /// Contributed on chain (replicated tasks); waiting for consensus.
        Contributed => "contributed",
        /// Settled by the worker (fast push or contributeAndFinalize).
        Done => "done",
        /// The worker could not produce or settle a result.
        Failed => "failed",
        /// The worker stopped answering; the replicate went to another worker.
        Lost => "lost",
    }
}

impl ReplicateState {
    /// Whether the replicate still counts towards the task's replicas (assigned, contributed
    /// or done).
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Assigned | Self::Contributed | Self::Done)
    }
}

named_enum! {
    /// Whose fault a failed replicate is: what the scheduler does next depends on it.
    Fault, "fault", "app, deal, worker, transient" {
        /// The app's (it trapped, ran out of time or memory, wrote no valid result): another
        /// worker would fail the same way, so the task is given up once the pool's app-fault
        /// limit is reached.
        App => "app",
        /// The deal's (its params are invalid, it asks for a callback the app does not feed,
        /// the chain refuses its settlement for good): given up at once, with the reason.
        Deal => "deal",
        /// This worker's (its disk, its stake, its engine): the task goes to another worker,
        /// after a backoff.
        Worker => "worker",
        /// Passing (the chain's RPC down, a nonce or gas problem): tried again after an
        /// exponential backoff.
        Transient => "transient",
    }
}

impl Fault {
    /// The fault named by [`Fault::as_str`], `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    /// Whether every worker would fail the same way (the task is not tried again).
    pub const fn is_deterministic(self) -> bool {
        matches!(self, Self::App | Self::Deal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's name parses back to it, through FromStr and through serde.
    fn round_trips<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + for<'a> PartialEq<&'a str> + fmt::Debug + fmt::Display,
        T: FromStr<Err = UnknownName>,
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(value.to_string(), *name);
            assert!(*value == *name);
            assert_eq!(name.parse::<T>().unwrap(), *value);
            let json = serde_json::to_string(value).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *value);
        }
        for bad in [
            "", "unknown", " ACTIVE", "Active", "active ", "ASSIGNED", "App",
        ] {
            let err = bad.parse::<T>().unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains(err.expected), "{err}");
            assert!(serde_json::from_str::<T>(&format!("\"{bad}\"")).is_err());
        }
        assert!(serde_json::from_str::<T>("3").is_err());
    }

    #[test]
    fn every_name_round_trips_and_unknown_text_is_refused() {
        round_trips(
            TaskStatus::ALL,
            &["UNSET", "ACTIVE", "REVEALING", "COMPLETED", "FAILED"],
        );
        round_trips(
            PoolTaskState::ALL,
            &[
                "PENDING",
                "ACTIVE",
                "REVEALING",
                "COMPLETED",
                "FAILED",
                "EXPIRED",
                "CLAIMED",
            ],
        );
        round_trips(
            ReplicateState::ALL,
            &["assigned", "contributed", "done", "failed", "lost"],
        );
        round_trips(Fault::ALL, &["app", "deal", "worker", "transient"]);
    }

    #[test]
    fn on_chain_status_numbers_round_trip() {
        for (number, status) in TaskStatus::ALL.iter().enumerate() {
            assert_eq!(u8::from(*status), number as u8);
            assert_eq!(*status as u8, number as u8);
            assert_eq!(TaskStatus::try_from(number as u8), Ok(*status));
            assert_eq!(TaskStatus::name_of(number as u8), status.as_str());
        }
        for bad in [5u8, 6, 255] {
            assert_eq!(TaskStatus::try_from(bad), Err(UnknownStatus(bad)));
            assert_eq!(TaskStatus::name_of(bad), "UNKNOWN");
        }
        let final_ones: Vec<_> = TaskStatus::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(final_ones, [&TaskStatus::Completed, &TaskStatus::Failed]);
    }

    #[test]
    fn predicates_match_the_scheduler_sets() {
        let over: Vec<_> = PoolTaskState::ALL.iter().filter(|s| s.is_over()).collect();
        assert_eq!(
            over,
            [
                &PoolTaskState::Completed,
                &PoolTaskState::Failed,
                &PoolTaskState::Expired,
                &PoolTaskState::Claimed
            ]
        );
        let live: Vec<_> = ReplicateState::ALL.iter().filter(|s| s.is_live()).collect();
        assert_eq!(
            live,
            [
                &ReplicateState::Assigned,
                &ReplicateState::Contributed,
                &ReplicateState::Done
            ]
        );
        assert_eq!(Fault::parse("deal"), Some(Fault::Deal));
        assert_eq!(Fault::parse("app-fault"), None);
        assert!(Fault::App.is_deterministic() && !Fault::Transient.is_deterministic());
    }
}
