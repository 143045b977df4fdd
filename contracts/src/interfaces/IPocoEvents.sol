// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The hub's events (PoCo interface, plus the fast path's own).
interface IPocoEvents {
    // escrow (ERC-20 of the staked balance)
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Lock(address owner, uint256 amount);
    event Unlock(address owner, uint256 amount);
    event Reward(address owner, uint256 amount, bytes32 ref);
    event Seize(address owner, uint256 amount, bytes32 ref);

    // administration
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// `transferOwnership` named `newOwner` as the pending owner (zero: the pending transfer is
    /// cancelled); the ownership moves when it calls `acceptOwnership`.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event CreateCategory(uint256 catid, string name, string description, uint256 workClockTimeRef);

    // orders
    event SignedAppOrder(bytes32 appHash);
    event SignedDatasetOrder(bytes32 datasetHash);
    event SignedWorkerpoolOrder(bytes32 workerpoolHash);
    event SignedRequestOrder(bytes32 requestHash);
    event ClosedAppOrder(bytes32 appHash);
    event ClosedDatasetOrder(bytes32 datasetHash);
    event ClosedWorkerpoolOrder(bytes32 workerpoolHash);
    event ClosedRequestOrder(bytes32 requestHash);

    // deals
    event SchedulerNotice(address indexed workerpool, bytes32 dealid);
    event OrdersMatched(
        bytes32 dealid,
        bytes32 appHash,
        bytes32 datasetHash,
        bytes32 workerpoolHash,
        bytes32 requestHash,
        uint256 volume
    );
    event DealSponsored(bytes32 dealId, address sponsor);

    // tasks
    event TaskInitialize(bytes32 indexed taskid, address indexed workerpool);
    event TaskContribute(bytes32 indexed taskid, address indexed worker, bytes32 hash);
    event TaskConsensus(bytes32 indexed taskid, bytes32 consensus);
    event TaskReveal(bytes32 indexed taskid, address indexed worker, bytes32 digest);
    event TaskReopen(bytes32 indexed taskid);
    event TaskFinalize(bytes32 indexed taskid, bytes results);
    event TaskClaimed(bytes32 indexed taskid);
    event AccurateContribution(address indexed worker, bytes32 indexed taskid);
    event FaultyContribution(address indexed worker, bytes32 indexed taskid);

    // fast path (trust <= 1): the deal is committed as one hash; the scheduler reads what it
    // needs to push results from this event.
    event SchedulerNoticeFast(
        address indexed workerpool,
        bytes32 indexed dealid,
        address app,
        address dataset,
        uint256 category,
        address beneficiary,
        string params,
        FastDeal deal
    );
    event ResultPushedFast(
        bytes32 indexed dealid, uint256 idx, address indexed worker, bytes32 resultDigest, bytes results
    );

    /// The settlement fields of a fast-path deal; `keccak256(abi.encode(deal))` is committed at match.
    /// `seed` is set by the hub at match time from the previous block's hash and `prevrandao`:
    /// nobody knows it before the match block's parent exists, so no one can search in advance
    /// for a second deal whose (truncated) commitment collides with this one.
    struct FastDeal {
        address appOwner;
        uint256 appPrice;
        address datasetOwner;
        uint256 datasetPrice;
        address workerpoolOwner;
        uint256 workerpoolPrice;
        uint256 workerReward;
        address sponsor;
        address callback;
        bytes32 tag;
        uint256 startTime;
        uint256 timeref;
        uint256 botFirst;
        uint256 botSize;
        bytes32 requestHash;
        bytes32 seed;
    }
}
