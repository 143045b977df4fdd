//! Revert data decoded into the rule it breaks, in words.
//!
//! The hub, the token and the registries revert with custom errors (`IPocoErrors.sol`, the
//! OpenZeppelin ERC-20/ERC-721 errors, the registries' own); [`Revert::decode`] recognises all
//! of them, plus Solidity's `Error(string)` and `Panic(uint256)`.

use std::fmt;

use alloy::{
    primitives::{Bytes, U256},
    sol_types::{Panic, Revert as RevertString, SolError, SolInterface},
};
use poco_types::format_rlc;

use crate::bindings::{
    hub::IPoco::IPocoErrors as P,
    rlc::RLC::RLCErrors as T,
    workerpool::{
        Workerpool::WorkerpoolErrors as W, WorkerpoolRegistry::WorkerpoolRegistryErrors as R,
    },
};

/// Why a call reverted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Revert {
    /// A custom error of the hub.
    Poco(P),
    /// A custom error of the RLC token.
    Token(T),
    /// A custom error of a registry (the three share these).
    Registry(R),
    /// A custom error of a workerpool contract.
    Workerpool(W),
    /// `require(cond, "message")` or `revert("message")`.
    Message(String),
    /// A Solidity panic (assert, overflow, division by zero, ...).
    Panic(U256),
    /// Revert data no known contract produces (empty when the call reverted without a reason).
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = P::abi_decode(data) {
            return Self::Poco(e);
        }
        if let Ok(e) = T::abi_decode(data) {
            return Self::Token(e);
        }
        if let Ok(e) = R::abi_decode(data) {
            return Self::Registry(e);
        }
        if let Ok(e) = W::abi_decode(data) {
            return Self::Workerpool(e);
        }
        if let Ok(e) = RevertString::abi_decode(data) {
            return Self::Message(e.reason);
        }
        if let Ok(e) = Panic::abi_decode(data) {
            return Self::Panic(e.code);
        }
        Self::Unknown(Bytes::copy_from_slice(data))
    }

    /// The hub error, when it is one.
    pub fn as_poco(&self) -> Option<&P> {
        match self {
            Self::Poco(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Revert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Poco(e) => poco(e, f),
            Self::Token(e) => token(e, f),
            Self::Registry(e) => registry(e, f),
            Self::Workerpool(e) => match e {
                W::AlreadyInitialized(_) => f.write_str("the workerpool is already initialized"),
                W::InvalidSchedulerRewardRatio(e) => {
                    write!(f, "scheduler reward ratio {} is above 100 %", e.ratio)
                }
                W::InvalidWorkerStakeRatio(e) => {
                    write!(f, "worker stake ratio {} is above 100 %", e.ratio)
                }
                W::NotAssetOwner(e) => write!(
                    f,
                    "{} does not own this workerpool (its owner is {})",
                    e.caller, e.owner
                ),
            },
            Self::Message(m) => write!(f, "{m}"),
            Self::Panic(code) => write!(f, "contract panic {code:#x}"),
            Self::Unknown(data) if data.is_empty() => f.write_str("reverted without a reason"),
            Self::Unknown(data) => write!(f, "reverted with unrecognised data {data}"),
        }
    }
}

fn status(s: u8) -> &'static str {
    match s {
        0 => "not initialized",
        1 => "active",
        2 => "revealing",
        3 => "completed",
        4 => "failed",
        _ => "unknown",
    }
}

fn poco(e: &P, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        P::NotHubOwner(e) => write!(f, "only the hub owner {} may do this, not {}", e.owner, e.caller),
        P::ZeroAddress(_) => f.write_str("the zero address is not allowed here"),
        P::UnknownFunction(e) => write!(f, "the hub has no function with selector {}", e.selector),
        P::FallbackDisabled(_) => f.write_str("the hub does not accept plain ether transfers"),
        P::ArrayLengthMismatch(e) => write!(f, "the two lists have different lengths ({} and {})", e.first, e.second),
        P::NotPendingOwner(e) => write!(
            f,
            "only the pending owner {} may accept the hub's ownership, not {} (the owner names it with transferOwnership)",
            e.pendingOwner, e.caller
        ),
        P::InsufficientFreeBalance(e) => write!(
            f,
            "account {} has {} free in its poco account but {} is needed",
            e.account, format_rlc(e.free), format_rlc(e.needed)
        ),
        P::InsufficientFrozenBalance(e) => write!(
            f,
            "account {} has only {} locked, {} was expected",
            e.account, format_rlc(e.frozen), format_rlc(e.needed)
        ),
        P::InsufficientAllowance(e) => write!(
            f,
            "{} may spend only {} of {}'s poco balance, {} is needed",
            e.spender, format_rlc(e.allowance), e.owner, format_rlc(e.needed)
        ),
        P::TokenTransferFailed(e) => write!(
            f,
            "the RLC transfer of {} from {} to {} failed (check the wallet's RLC balance and allowance)",
            format_rlc(e.amount), e.from, e.to
        ),
        P::WrongToken(e) => write!(f, "token {} is not this hub's RLC token {}", e.token, e.expected),
        P::AmountTooLarge(e) => write!(f, "amount {} is too large for a poco account", e.amount),
        P::ApproveAndCallRejected(e) => write!(f, "{} rejected the approveAndCall", e.spender),
        P::UnknownCategory(e) => write!(
            f,
            "category {} does not exist (this hub has {} categories, 0 to {})",
            e.category, e.count, e.count.saturating_sub(U256::from(1))
        ),
        P::InvalidWorkClockTimeRef(e) => write!(f, "work clock time reference {} must be positive", e.workClockTimeRef),
        P::InvalidSignatureFormat(e) => write!(f, "a signature of {} bytes is not a valid format (65 or 64 bytes)", e.length),
        P::InvalidSenderOrSignature(e) => write!(
            f,
            "the operation must be sent or signed by {}, not {}",
            e.owner, e.sender
        ),
        P::CategoryMismatch(e) => write!(
            f,
            "the request asks for category {} but the workerpool order is for category {}",
            e.requestCategory, e.workerpoolCategory
        ),
        P::TrustTooHigh(e) => write!(
            f,
            "the request asks for trust {} but the workerpool order offers only {}",
            e.requestTrust, e.workerpoolTrust
        ),
        P::AppPriceTooHigh(e) => write!(
            f,
            "the app costs {} per task but the request pays at most {}",
            format_rlc(e.appPrice), format_rlc(e.appMaxPrice)
        ),
        P::DatasetPriceTooHigh(e) => write!(
            f,
            "the dataset costs {} per task but the request pays at most {}",
            format_rlc(e.datasetPrice), format_rlc(e.datasetMaxPrice)
        ),
        P::WorkerpoolPriceTooHigh(e) => write!(
            f,
            "the workerpool costs {} per task but the request pays at most {}",
            format_rlc(e.workerpoolPrice), format_rlc(e.workerpoolMaxPrice)
        ),
        P::TagNotOffered(e) => write!(
            f,
            "the workerpool order does not offer the tag bits {} that the app, dataset or request needs",
            e.missingBits
        ),
        P::TeeTagMissingInAppOrder(_) => f.write_str("a TEE execution needs the tee tag in the app order too"),
        P::AppMismatch(e) => write!(f, "the request is for app {} but the app order is for {}", e.requestApp, e.appOrderApp),
        P::DatasetMismatch(e) => write!(
            f,
            "the request is for dataset {} but the dataset order is for {}",
            e.requestDataset, e.datasetOrderDataset
        ),
        P::RequestWorkerpoolRestriction(e) => restriction(f, "request", "workerpool", e.restriction, e.workerpool),
        P::AppDatasetRestriction(e) => restriction(f, "app order", "dataset", e.restriction, e.dataset),
        P::AppWorkerpoolRestriction(e) => restriction(f, "app order", "workerpool", e.restriction, e.workerpool),
        P::AppRequesterRestriction(e) => restriction(f, "app order", "requester", e.restriction, e.requester),
        P::DatasetAppRestriction(e) => restriction(f, "dataset order", "app", e.restriction, e.app),
        P::DatasetWorkerpoolRestriction(e) => restriction(f, "dataset order", "workerpool", e.restriction, e.workerpool),
        P::DatasetRequesterRestriction(e) => restriction(f, "dataset order", "requester", e.restriction, e.requester),
        P::WorkerpoolAppRestriction(e) => restriction(f, "workerpool order", "app", e.restriction, e.app),
        P::WorkerpoolDatasetRestriction(e) => restriction(f, "workerpool order", "dataset", e.restriction, e.dataset),
        P::WorkerpoolRequesterRestriction(e) => restriction(f, "workerpool order", "requester", e.restriction, e.requester),
        P::AppNotRegistered(e) => write!(f, "{} is not an app of this hub's app registry", e.app),
        P::InvalidAppOrderSignature(e) => write!(f, "the app order is not signed by the app owner {}", e.owner),
        P::DatasetNotRegistered(e) => write!(f, "{} is not a dataset of this hub's dataset registry", e.dataset),
        P::InvalidDatasetOrderSignature(e) => write!(f, "the dataset order is not signed by the dataset owner {}", e.owner),
        P::WorkerpoolNotRegistered(e) => write!(f, "{} is not a workerpool of this hub's workerpool registry", e.workerpool),
        P::InvalidWorkerpoolOrderSignature(e) => write!(f, "the workerpool order is not signed by the workerpool owner {}", e.owner),
        P::InvalidRequestOrderSignature(e) => write!(f, "the request order is not signed by the requester {}", e.requester),
        P::NoVolumeLeft(_) => f.write_str("one of the orders has no volume left (fully used or cancelled)"),
        P::DealFieldTooLarge(e) => write!(f, "the deal's {} does not fit the hub's storage", e.field),
        P::TaskIndexOutOfRange(e) => write!(f, "deal {} has no task {}", e.dealid, e.idx),
        P::TaskAlreadyInitialized(e) => write!(f, "task {} is already initialized", e.taskid),
        P::TaskNotActive(e) => write!(f, "task {} is {}, not active", e.taskid, status(e.status)),
        P::TaskNotRevealing(e) => write!(f, "task {} is {}, not revealing", e.taskid, status(e.status)),
        P::ContributionDeadlinePassed(e) => deadline(f, "contribution deadline of task", e.taskid, e.deadline, true),
        P::RevealDeadlinePassed(e) => deadline(f, "reveal deadline of task", e.taskid, e.deadline, true),
        P::RevealDeadlineNotReached(e) => deadline(f, "reveal deadline of task", e.taskid, e.deadline, false),
        P::FinalDeadlinePassed(e) => deadline(f, "final deadline of task", e.taskid, e.deadline, true),
        P::FinalDeadlineNotReached(e) => deadline(f, "final deadline of task", e.taskid, e.deadline, false),
        P::AlreadyContributed(e) => write!(f, "worker {} already contributed to task {}", e.worker, e.taskid),
        P::InvalidResultHash(_) => f.write_str("the result hash is zero"),
        P::EnclaveChallengeRequired(_) => f.write_str("this TEE task needs an enclave challenge and signature"),
        P::InvalidAuthorization(e) => write!(
            f,
            "the worker authorization for {} is not signed by the scheduler {}",
            e.worker, e.expectedSigner
        ),
        P::InvalidEnclaveSignature(e) => write!(f, "the enclave signature does not come from {}", e.enclaveChallenge),
        P::NotAContributor(e) => write!(f, "{} did not contribute to task {}", e.worker, e.taskid),
        P::NotInConsensus(e) => write!(f, "{}'s contribution to task {} is not the consensus", e.worker, e.taskid),
        P::RevealMismatch(e) => write!(f, "{}'s reveal does not match its contribution to task {}", e.worker, e.taskid),
        P::NotScheduler(e) => write!(f, "only the scheduler {} may do this, not {}", e.scheduler, e.caller),
        P::RevealsPending(e) => write!(
            f,
            "{} of {} winners revealed; wait for the others or the reveal deadline",
            e.revealCounter, e.winnerCounter
        ),
        P::RevealHappened(e) => write!(f, "{} workers already revealed, the task cannot be reopened", e.revealCounter),
        P::CallbackMismatch(_) => f.write_str("the callback data does not match the result digest"),
        P::TrustNotOne(e) => write!(f, "this shortcut needs trust 1, the deal has trust {}", e.trust),
        P::ContributionsExist(e) => write!(f, "task {} already has contributions", e.taskid),
        P::TaskNotClaimable(e) => write!(f, "task {} is {} and cannot be claimed", e.taskid, status(e.status)),
        P::TooManyContributors(e) => write!(
            f,
            "task {} already has the maximum of {} contributions; it takes no more workers",
            e.taskid, e.max
        ),
        P::NotEnoughGasAfterCallback(_) => f.write_str("not enough gas left after the callback; send with more gas"),
        P::UnknownFastDeal(e) => write!(f, "{} is not a fast deal of this hub", e.dealid),
        P::FastDealMismatch(e) => write!(f, "the deal fields given do not match fast deal {}", e.dealid),
        P::TaskAlreadySettled(e) => write!(f, "task {} of deal {} is already settled", e.idx, e.dealid),
        P::PushDeadlinePassed(e) => write!(f, "the push deadline of deal {} passed at {}", e.dealid, e.deadline),
        P::TrustAboveOne(e) => write!(f, "the fast path serves trust 0 or 1 only, the request asks for {}", e.trust),
    }
}

fn restriction(
    f: &mut fmt::Formatter<'_>,
    order: &str,
    what: &str,
    restriction: impl fmt::Display,
    actual: impl fmt::Display,
) -> fmt::Result {
    write!(
        f,
        "the {order} is restricted to {what} {restriction}, which {actual} does not match"
    )
}

fn deadline(
    f: &mut fmt::Formatter<'_>,
    which: &str,
    taskid: impl fmt::Display,
    at: U256,
    passed: bool,
) -> fmt::Result {
    let when = if passed {
        "passed"
    } else {
        "is not reached yet"
    };
    write!(
        f,
        "the {which} {taskid} {when} (deadline {})",
        crate::utc_time(at)
    )
}

fn token(e: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        T::ApproveAndCallRejected(e) => write!(f, "{} rejected the approveAndCall", e.spender),
        T::ERC20InsufficientAllowance(e) => write!(
            f,
            "{} may spend only {} of the wallet's RLC, {} is needed",
            e.spender,
            format_rlc(e.allowance),
            format_rlc(e.needed)
        ),
        T::ERC20InsufficientBalance(e) => write!(
            f,
            "wallet {} holds {} but {} is needed",
            e.sender,
            format_rlc(e.balance),
            format_rlc(e.needed)
        ),
        T::ERC20InvalidApprover(e) => write!(f, "{} cannot approve", e.approver),
        T::ERC20InvalidReceiver(e) => write!(f, "{} cannot receive RLC", e.receiver),
        T::ERC20InvalidSender(e) => write!(f, "{} cannot send RLC", e.sender),
        T::ERC20InvalidSpender(e) => write!(f, "{} cannot be approved as a spender", e.spender),
    }
}

fn registry(e: &R, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        R::AssetAlreadyExists(e) => write!(
            f,
            "an asset with the same owner and fields already exists at {}",
            e.asset
        ),
        R::AssetInitializationFailed(e) => {
            write!(f, "the new asset {} failed to initialize", e.asset)
        }
        R::InvalidAssetOwner(_) => f.write_str("an asset needs a non-zero owner"),
        R::NotAWorkerpool(e) => write!(f, "{} is not a workerpool of this registry", e.caller),
        R::ERC721NonexistentToken(e) => write!(f, "no asset with id {}", e.tokenId),
        R::ERC721OutOfBoundsIndex(e) => {
            write!(f, "{} owns no asset with index {}", e.owner, e.index)
        }
        R::ERC721IncorrectOwner(e) => write!(
            f,
            "{} does not own asset {} (its owner is {})",
            e.sender, e.tokenId, e.owner
        ),
        R::ERC721InsufficientApproval(e) => {
            write!(f, "{} may not transfer asset {}", e.operator, e.tokenId)
        }
        R::ERC721InvalidOwner(e) => write!(f, "{} cannot own assets", e.owner),
        R::ERC721InvalidReceiver(e) => write!(f, "{} cannot receive assets", e.receiver),
        R::ERC721InvalidSender(e) => write!(f, "{} cannot send assets", e.sender),
        R::ERC721InvalidApprover(e) => write!(f, "{} cannot approve", e.approver),
        R::ERC721InvalidOperator(e) => write!(f, "{} cannot be an operator", e.operator),
        R::ERC721EnumerableForbiddenBatchMint(_) => f.write_str("batch minting is not supported"),
        R::FailedDeployment(_) => f.write_str("deploying the asset contract failed"),
        R::InsufficientBalance(e) => {
            write!(f, "insufficient balance {} for {}", e.balance, e.needed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::hub::IPoco;
    use alloy::primitives::Address;

    #[test]
    fn decodes_hub_errors_in_words() {
        let data = IPoco::InsufficientFreeBalance {
            account: Address::repeat_byte(1),
            free: U256::from(1_500_000_000u64),
            needed: U256::from(4_000_000_000u64),
        }
        .abi_encode();
        let revert = Revert::decode(&data);
        assert!(matches!(
            revert.as_poco(),
            Some(P::InsufficientFreeBalance(_))
        ));
        assert_eq!(
            revert.to_string(),
            "account 0x0101010101010101010101010101010101010101 has 1.5 RLC free in its poco \
             account but 4 RLC is needed"
        );
    }

    #[test]
    fn decodes_strings_panics_and_unknown_data() {
        let data = RevertString::from("nope").abi_encode();
        assert_eq!(Revert::decode(&data).to_string(), "nope");
        let data = Panic {
            code: U256::from(0x11),
        }
        .abi_encode();
        assert_eq!(Revert::decode(&data).to_string(), "contract panic 0x11");
        assert_eq!(Revert::decode(&[]).to_string(), "reverted without a reason");
        assert_eq!(
            Revert::decode(&[1, 2, 3, 4]).to_string(),
            "reverted with unrecognised data 0x01020304"
        );
    }
}
