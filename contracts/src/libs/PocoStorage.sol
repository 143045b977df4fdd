// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IexecLibCore_v5} from "./IexecLibCore_v5.sol";

/// @title The hub's storage, shared by every module behind the hub address.
/// @notice One ERC-7201 namespace. Records are packed to keep matching and settlement cheap;
/// the view functions expand them into the PoCo interface structures.
library PocoStorage {
    /// keccak256(abi.encode(uint256(keccak256("poco.storage.hub")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0xa8395040508cec780b72b7eef305f639b1f200ca7cb05d81e256702f73e2c500;

    // ---- Protocol constants (PoCo) ----
    uint256 internal constant CONTRIBUTION_DEADLINE_RATIO = 7;
    uint256 internal constant REVEAL_DEADLINE_RATIO = 2;
    uint256 internal constant FINAL_DEADLINE_RATIO = 10;
    uint256 internal constant WORKERPOOL_STAKE_RATIO = 30;
    uint256 internal constant KITTY_RATIO = 10;
    uint256 internal constant KITTY_MIN = 1e9;
    address internal constant KITTY_ADDRESS = 0x99c2268479b93fDe36232351229815DF80837e23;
    uint256 internal constant GROUPMEMBER_PURPOSE = 4;
    /// At most this many contributions per classic task (rejected ones included), so that
    /// `claim` and `finalize`, which visit every contributor, always fit in a block.
    uint256 internal constant MAX_CONTRIBUTORS = 64;

    /// Free and frozen balance and the worker score of one account, in one slot, so that a
    /// settlement updates all three with one write (RLC has 9 decimals and 87M supply: 2^96 is
    /// ample, and the escrow's total supply is capped to it at mint).
    struct Account {
        uint96 balance;
        uint96 frozen;
        uint64 score;
    }

    /// A classic deal, packed. Optional fields are written only when they differ from the
    /// common case (no dataset, beneficiary and sponsor = requester, no callback, no tag).
    struct DealRecord {
        uint256 app; // app | appPrice << 160
        uint256 appOwner; // appOwner | workerpoolPrice << 160
        uint256 workerpool; // workerpool | workerStake << 160
        uint256 pool; // workerpoolOwner | startTime << 160 | category << 200 | ratio << 216 | trust << 224
        uint256 requester; // requester | botFirst << 160 | botSize << 200 | flags << 240
        uint256 dataset; // dataset | datasetPrice << 160
        address datasetOwner;
        address beneficiary;
        address sponsor;
        address callback;
        bytes32 tag;
        string params;
    }

    /// A request order's `consumed` word can also hold the fast deal that consumed it whole
    /// (volume <= 96): FAST_DEAL_FLAG | commitment (127 bits) << 128 | volume << 96 | done bits.
    /// This saves the deal its own storage slot. `consumedOf` reads the volume either way.
    uint256 internal constant FAST_DEAL_FLAG = 1 << 255;

    function consumedOf(uint256 word) internal pure returns (uint256) {
        return word & FAST_DEAL_FLAG == 0 ? word : (word >> 96) & 0xffffffff;
    }

    /// Order volumes count up to 2^255 - 1 ("unlimited" orders stay unlimited in practice), so
    /// a plain consumed count never has FAST_DEAL_FLAG set.
    uint256 internal constant MAX_VOLUME = FAST_DEAL_FLAG - 1;

    function effectiveVolume(uint256 volume) internal pure returns (uint256) {
        return volume > MAX_VOLUME ? MAX_VOLUME : volume;
    }

    uint256 internal constant FLAG_BENEFICIARY = 1; // beneficiary stored (differs from requester)
    uint256 internal constant FLAG_SPONSOR = 2; // sponsor stored (differs from requester)

    /// A classic task. `packed` holds: status | idx << 8 | timeref << 56 | revealDeadline << 96
    /// | revealCounter << 136 | winnerCounter << 152 | contributorCount << 168 | valueCount << 184
    /// | consensusId << 192 | resultsTimestamp << 200 | hasConsensus << 240 (see Packing).
    struct TaskRecord {
        uint256 packed;
        bytes32 dealid;
        bytes32 resultDigest;
        bytes results;
        bytes resultsCallback;
    }

    // A contributor of a task is one word (see Packing): worker | status << 160 | valueId << 162
    // | w << 168 | seal72 << 184, where w is the worker's credibility odds at contribution time
    // and seal72 the low 72 bits of its result seal. Consensus groups are products of w over
    // the voters of a value, recomputed from these words instead of being stored.

    struct Layout {
        // configuration
        address owner;
        address token;
        address appRegistry;
        address datasetRegistry;
        address workerpoolRegistry;
        address teebroker;
        uint256 callbackgas;
        // the separator of the chain the hub was deployed on (or last `updateDomainSeparator`);
        // signatures are checked against the separator of the current chain id (HubBase)
        bytes32 domainSeparator;
        string name;
        string symbol;
        // escrow
        uint256 totalSupply;
        mapping(address => Account) accounts;
        mapping(address => mapping(address => uint256)) allowances;
        // orders
        mapping(bytes32 => address) presigned;
        mapping(bytes32 => uint256) consumed;
        // classic deals and tasks
        mapping(bytes32 => DealRecord) deals;
        mapping(bytes32 => TaskRecord) tasks;
        mapping(bytes32 => mapping(uint256 => uint256)) contributors;
        // distinct result hashes voted on a task, by value id
        mapping(bytes32 => mapping(uint256 => bytes32)) values;
        mapping(bytes32 => mapping(address => address)) enclaves;
        IexecLibCore_v5.Category[] categories;
        // fast path: commitment (upper 160 bits) | done bits of the first 96 tasks
        mapping(bytes32 => uint256) fastDeals;
        mapping(bytes32 => mapping(uint256 => uint256)) fastDone;
        // module routing
        mapping(bytes4 => address) modules;
        // workClockTimeRef of each category (0 = no such category), read in one access
        mapping(uint256 => uint256) timerefs;
        // two-step ownership transfer: the owner named by transferOwnership, until it accepts
        address pendingOwner;
    }

    function get() internal pure returns (Layout storage l) {
        bytes32 slot = SLOT;
        assembly ("memory-safe") {
            l.slot := slot
        }
    }
}
