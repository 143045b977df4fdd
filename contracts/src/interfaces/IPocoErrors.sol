// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Every reason the hub rejects a call. Each name says which rule was broken; the
/// matchOrders errors note the iExec revert code (`iExecV5-matchOrders-0xNN`) they stand for.
interface IPocoErrors {
    // ---- administration ----
    error NotHubOwner(address caller, address owner);
    error ZeroAddress();
    error UnknownFunction(bytes4 selector);
    error FallbackDisabled();
    error ArrayLengthMismatch(uint256 first, uint256 second);
    error NotPendingOwner(address caller, address pendingOwner);

    // ---- escrow ----
    error InsufficientFreeBalance(address account, uint256 free, uint256 needed);
    error InsufficientFrozenBalance(address account, uint256 frozen, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    error TokenTransferFailed(address token, address from, address to, uint256 amount);
    error WrongToken(address token, address expected);
    error AmountTooLarge(uint256 amount);
    error ApproveAndCallRejected(address spender);

    // ---- categories ----
    error UnknownCategory(uint256 category, uint256 count);
    error InvalidWorkClockTimeRef(uint256 workClockTimeRef);

    // ---- signatures and order management ----
    error InvalidSignatureFormat(uint256 length);
    error InvalidSenderOrSignature(address sender, address owner);

    // ---- matchOrders (iExec code in brackets) ----
    error CategoryMismatch(uint256 requestCategory, uint256 workerpoolCategory); // 0x00
    error TrustTooHigh(uint256 requestTrust, uint256 workerpoolTrust); // 0x02
    error AppPriceTooHigh(uint256 appPrice, uint256 appMaxPrice); // 0x03
    error DatasetPriceTooHigh(uint256 datasetPrice, uint256 datasetMaxPrice); // 0x04
    error WorkerpoolPriceTooHigh(uint256 workerpoolPrice, uint256 workerpoolMaxPrice); // 0x05
    error TagNotOffered(bytes32 missingBits); // 0x06
    error TeeTagMissingInAppOrder(); // 0x07
    error AppMismatch(address requestApp, address appOrderApp); // 0x10
    error DatasetMismatch(address requestDataset, address datasetOrderDataset); // 0x11
    error RequestWorkerpoolRestriction(address restriction, address workerpool); // 0x12
    error AppDatasetRestriction(address restriction, address dataset); // 0x13
    error AppWorkerpoolRestriction(address restriction, address workerpool); // 0x14
    error AppRequesterRestriction(address restriction, address requester); // 0x15
    error DatasetAppRestriction(address restriction, address app); // 0x16
    error DatasetWorkerpoolRestriction(address restriction, address workerpool); // 0x17
    error DatasetRequesterRestriction(address restriction, address requester); // 0x18
    error WorkerpoolAppRestriction(address restriction, address app); // 0x19
    error WorkerpoolDatasetRestriction(address restriction, address dataset); // 0x1a
    error WorkerpoolRequesterRestriction(address restriction, address requester); // 0x1b
    error AppNotRegistered(address app); // 0x20
    error InvalidAppOrderSignature(address owner); // 0x21
    error DatasetNotRegistered(address dataset); // 0x30
    error InvalidDatasetOrderSignature(address owner); // 0x31
    error WorkerpoolNotRegistered(address workerpool); // 0x40
    error InvalidWorkerpoolOrderSignature(address owner); // 0x41
    error InvalidRequestOrderSignature(address requester); // 0x50
    error NoVolumeLeft(); // 0x60
    error DealFieldTooLarge(string field);

    // ---- task lifecycle ----
    error TaskIndexOutOfRange(bytes32 dealid, uint256 idx);
    error TaskAlreadyInitialized(bytes32 taskid);
    error TaskNotActive(bytes32 taskid, uint8 status);
    error TaskNotRevealing(bytes32 taskid, uint8 status);
    error ContributionDeadlinePassed(bytes32 taskid, uint256 deadline);
    error RevealDeadlinePassed(bytes32 taskid, uint256 deadline);
    error RevealDeadlineNotReached(bytes32 taskid, uint256 deadline);
    error FinalDeadlinePassed(bytes32 taskid, uint256 deadline);
    error FinalDeadlineNotReached(bytes32 taskid, uint256 deadline);
    error AlreadyContributed(bytes32 taskid, address worker);
    error InvalidResultHash();
    error EnclaveChallengeRequired();
    error InvalidAuthorization(address worker, address expectedSigner);
    error InvalidEnclaveSignature(address enclaveChallenge);
    error NotAContributor(bytes32 taskid, address worker);
    error NotInConsensus(bytes32 taskid, address worker);
    error RevealMismatch(bytes32 taskid, address worker);
    error NotScheduler(address caller, address scheduler);
    error RevealsPending(uint256 revealCounter, uint256 winnerCounter);
    error RevealHappened(uint256 revealCounter);
    error CallbackMismatch();
    error TrustNotOne(uint256 trust);
    error ContributionsExist(bytes32 taskid);
    error TaskNotClaimable(bytes32 taskid, uint8 status);
    error TooManyContributors(bytes32 taskid, uint256 max);
    error NotEnoughGasAfterCallback();

    // ---- fast path ----
    error UnknownFastDeal(bytes32 dealid);
    error FastDealMismatch(bytes32 dealid);
    error TaskAlreadySettled(bytes32 dealid, uint256 idx);
    error PushDeadlinePassed(bytes32 dealid, uint256 deadline);
    error TrustAboveOne(uint256 trust);
}
