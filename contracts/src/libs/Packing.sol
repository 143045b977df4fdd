// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoStorage} from "./PocoStorage.sol";

/// @title Reading and writing the packed deal and task records.
library Packing {
    uint256 internal constant MASK7 = 0x7f;
    uint256 internal constant MASK16 = 0xffff;
    uint256 internal constant MASK24 = 0xffffff;
    uint256 internal constant MASK40 = 0xffffffffff;
    uint256 internal constant MASK48 = 0xffffffffffff;
    uint256 internal constant MASK224 = (1 << 224) - 1;

    // task status (IexecLibCore_v5.TaskStatusEnum)
    uint256 internal constant ACTIVE = 1;
    uint256 internal constant REVEALING = 2;
    uint256 internal constant COMPLETED = 3;
    uint256 internal constant FAILED = 4;
    // contribution status (IexecLibCore_v5.ContributionStatusEnum)
    uint256 internal constant CONTRIBUTED = 1;
    uint256 internal constant PROVED = 2;
    uint256 internal constant REJECTED = 3;

    /// A task record's packed word, unpacked.
    struct Task {
        uint256 status;
        uint256 idx;
        uint256 timeref;
        uint256 revealDeadline;
        uint256 revealCounter;
        uint256 winnerCounter;
        uint256 count;
        uint256 valueCount;
        uint256 consensusId;
        uint256 resultsTimestamp;
        bool hasConsensus;
    }

    function unpack(uint256 p) internal pure returns (Task memory t) {
        t.status = p & 0xff;
        t.idx = (p >> 8) & MASK48;
        t.timeref = (p >> 56) & MASK40;
        t.revealDeadline = (p >> 96) & MASK40;
        t.revealCounter = (p >> 136) & MASK16;
        t.winnerCounter = (p >> 152) & MASK16;
        t.count = (p >> 168) & MASK16;
        t.valueCount = (p >> 184) & 0xff;
        t.consensusId = (p >> 192) & 0xff;
        t.resultsTimestamp = (p >> 200) & MASK40;
        t.hasConsensus = (p >> 240) & 1 == 1;
    }

    function pack(Task memory t) internal pure returns (uint256) {
        return t.status | t.idx << 8 | t.timeref << 56 | t.revealDeadline << 96 | t.revealCounter << 136
            | t.winnerCounter << 152 | t.count << 168 | t.valueCount << 184 | t.consensusId << 192 | t.resultsTimestamp
            << 200 | (t.hasConsensus ? uint256(1) << 240 : 0);
    }

    // ---- deal fields ----
    function addr(uint256 word) internal pure returns (address) {
        return address(uint160(word));
    }

    function high(uint256 word) internal pure returns (uint256) {
        return word >> 160;
    }

    function startTime(uint256 pool) internal pure returns (uint256) {
        return (pool >> 160) & MASK40;
    }

    function category(uint256 pool) internal pure returns (uint256) {
        return (pool >> 200) & MASK16;
    }

    function schedulerRewardRatio(uint256 pool) internal pure returns (uint256) {
        return (pool >> 216) & MASK7;
    }

    function tee(uint256 pool) internal pure returns (bool) {
        return (pool >> 223) & 1 == 1;
    }

    function trust(uint256 pool) internal pure returns (uint256) {
        return pool >> 224;
    }

    function botFirst(uint256 requester) internal pure returns (uint256) {
        return (requester >> 160) & MASK40;
    }

    function botSize(uint256 requester) internal pure returns (uint256) {
        return (requester >> 200) & MASK40;
    }

    function sponsor(PocoStorage.DealRecord storage d, uint256 requester) internal view returns (address) {
        return (requester >> 240) & PocoStorage.FLAG_SPONSOR != 0 ? d.sponsor : address(uint160(requester));
    }

    function beneficiary(PocoStorage.DealRecord storage d, uint256 requester) internal view returns (address) {
        return (requester >> 240) & PocoStorage.FLAG_BENEFICIARY != 0 ? d.beneficiary : address(uint160(requester));
    }

    // ---- contributor word: worker | status << 160 | valueId << 162 | w << 168 | seal72 << 184 ----
    uint256 internal constant MAX_VALUES = 64;
    uint256 internal constant MAX_W = 0xffff;
    uint256 internal constant MASK72 = (1 << 72) - 1;

    function contributor(address worker, uint256 status, uint256 valueId, uint256 w, bytes32 seal)
        internal
        pure
        returns (uint256)
    {
        return uint160(worker) | status << 160 | valueId << 162 | w << 168 | (uint256(seal) & MASK72) << 184;
    }

    function entryStatus(uint256 entry) internal pure returns (uint256) {
        return (entry >> 160) & 3;
    }

    function entryValue(uint256 entry) internal pure returns (uint256) {
        return (entry >> 162) & 0x3f;
    }

    /// The credibility odds w the vote was weighed with.
    function entryW(uint256 entry) internal pure returns (uint256) {
        return (entry >> 168) & MAX_W;
    }

    /// The PoCo contribution weight: floor(log2(w)).
    function entryWeight(uint256 entry) internal pure returns (uint256 r) {
        uint256 w = entryW(entry);
        while (w > 1) {
            w >>= 1;
            ++r;
        }
    }

    /// The low 72 bits of the result seal.
    function entrySeal(uint256 entry) internal pure returns (bytes32) {
        return bytes32(entry >> 184);
    }

    function sealMatches(uint256 entry, bytes32 seal) internal pure returns (bool) {
        return entry >> 184 == uint256(seal) & MASK72;
    }

    function withStatus(uint256 entry, uint256 status) internal pure returns (uint256) {
        return (entry & ~(uint256(3) << 160)) | status << 160;
    }
}
