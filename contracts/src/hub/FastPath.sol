// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MatchingBase} from "./MatchingBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";

/// @title The fast path for trust <= 1: one transaction per task result (served by the hub itself,
/// without a module hop).
/// @notice matchOrdersFast runs every classic matching rule, then commits the deal's settlement
/// fields, including a seed drawn from the match block, as one hash (160 bits, sharing the slot
/// with the done-bits of the first 96 tasks; 127 bits in the request's word, see `_seed`).
/// The worker passes those fields back with its result; the hub checks them against the hash
/// and settles: the sponsor pays (not the requester), task indexes are absolute
/// ([botFirst, botFirst + botSize), as in the classic path), and timeouts refund the sponsor
/// after the same final deadline as the classic path.
abstract contract FastPath is MatchingBase {
    uint256 private constant INLINE_TASKS = 96;
    uint256 private constant INLINE_MASK = (1 << 96) - 1;

    // ------------------------------------------------------------------ matching

    function matchOrdersFast(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32) {
        return _matchFast(appOrder, datasetOrder, workerpoolOrder, requestOrder, requestOrder.requester);
    }

    function sponsorMatchOrdersFast(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32 dealid) {
        dealid = _matchFast(appOrder, datasetOrder, workerpoolOrder, requestOrder, msg.sender);
        emit DealSponsored(dealid, msg.sender);
    }

    function _matchFast(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder,
        address sponsor
    ) private returns (bytes32) {
        if (requestOrder.trust > 1) revert TrustAboveOne(requestOrder.trust);
        Match memory m = _match(appOrder, datasetOrder, workerpoolOrder, requestOrder, sponsor, false);
        uint256 workerpoolPrice = workerpoolOrder.workerpoolprice;
        FastDeal memory deal = FastDeal({
            appOwner: m.appOwner,
            appPrice: appOrder.appprice,
            datasetOwner: m.datasetOwner,
            datasetPrice: m.datasetPrice,
            workerpoolOwner: m.workerpoolOwner,
            workerpoolPrice: workerpoolPrice,
            workerReward: workerpoolPrice * (100 - m.schedulerRewardRatio) / 100,
            sponsor: sponsor,
            callback: requestOrder.callback,
            tag: m.tag,
            startTime: block.timestamp,
            timeref: m.timeref,
            botFirst: m.botFirst,
            botSize: m.volume,
            requestHash: m.requestHash,
            seed: _seed()
        });
        uint256 h = uint256(keccak256(abi.encode(deal)));
        if (m.botFirst == 0 && m.volume == requestOrder.volume && m.volume <= INLINE_TASKS) {
            // The deal takes the whole request: its commitment shares the request's word.
            PocoStorage.get().consumed[m.requestHash] = PocoStorage.FAST_DEAL_FLAG | (h >> 129) << 128 | m.volume << 96;
        } else {
            PocoStorage.get().fastDeals[m.dealid] = h & ~INLINE_MASK;
        }
        emit SchedulerNoticeFast(
            workerpoolOrder.workerpool,
            m.dealid,
            appOrder.app,
            datasetOrder.dataset,
            requestOrder.category,
            requestOrder.beneficiary,
            requestOrder.params,
            deal
        );
        emit OrdersMatched(m.dealid, m.appHash, m.datasetHash, m.workerpoolHash, m.requestHash, m.volume);
        return m.dealid;
    }

    /// The commitment's unpredictable part. The inline commitment keeps 127 bits of the deal's
    /// hash (the separate word 160), so a birthday search over ~2^64 deals could find a deal D1
    /// that the attacker matches and a forged D2 that it pushes with the same commitment. D1's
    /// hash covers this seed, which nobody knows before the parent of the match block exists:
    /// D1 cannot be searched for in advance, and a 2^64 search within one block interval is out
    /// of reach. Once D1 is matched, forging a deal needs a second preimage of its commitment
    /// (2^127 work). Hashed rather than xored so that a chain whose `prevrandao` equals the
    /// parent hash cannot cancel the seed to zero.
    function _seed() private view returns (bytes32 seed) {
        bytes32 parent = blockhash(block.number - 1);
        uint256 randao = block.prevrandao;
        assembly ("memory-safe") {
            mstore(0x00, parent)
            mstore(0x20, randao)
            seed := keccak256(0x00, 0x40)
        }
    }

    function _debitFrozen(address account, uint256 amount) private {
        uint256 word = _loadAccount(account);
        uint256 frozen = _frozenOf(word);
        if (frozen < amount) revert InsufficientFrozenBalance(account, frozen, amount);
        _storeAccount(account, word - (amount << 96));
    }

    /// Credits `amount` to the free balance, of which `unfrozen` comes from the account's own
    /// frozen balance (the scheduler's stake); the rest comes from the hub's pot.
    function _credit(address account, uint256 amount, uint256 unfrozen) private {
        if (amount == 0) return;
        uint256 word = _loadAccount(account);
        uint256 frozen = _frozenOf(word);
        if (frozen < unfrozen) revert InsufficientFrozenBalance(account, frozen, unfrozen);
        _storeAccount(account, word - (unfrozen << 96) + amount);
    }

    // ------------------------------------------------------------------ push

    /// @notice Settles task `idx` of a fast deal with its result, in one transaction.
    /// @param deal the deal's settlement fields, as emitted by SchedulerNoticeFast.
    /// @param resultDigest the result digest (keccak256 of resultsCallback with a callback).
    /// @param authorizationSign the scheduler's (or TEE broker's) signature over worker|taskid|enclave.
    /// @param enclaveSign with an enclave: its signature over worker|taskid|resultDigest.
    function pushResultFast(
        FastDeal calldata deal,
        bytes32 dealid,
        uint256 idx,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external {
        bytes32 taskid = _settle(deal, dealid, idx);
        if (block.timestamp >= deal.startTime + PocoStorage.CONTRIBUTION_DEADLINE_RATIO * deal.timeref) {
            revert PushDeadlinePassed(dealid, deal.startTime + PocoStorage.CONTRIBUTION_DEADLINE_RATIO * deal.timeref);
        }
        if (uint256(deal.tag) & 1 == 1 && enclaveChallenge == address(0)) revert EnclaveChallengeRequired();
        if (deal.callback != address(0) || resultsCallback.length != 0) {
            if (keccak256(resultsCallback) != resultDigest) revert CallbackMismatch();
        }
        _checkAuthorization(
            deal.workerpoolOwner,
            msg.sender,
            taskid,
            enclaveChallenge,
            authorizationSign,
            keccak256(abi.encodePacked(msg.sender, taskid, resultDigest)),
            enclaveSign
        );

        // Settlement. Only ResultPushedFast is emitted: each account's share follows from the deal
        // terms announced by SchedulerNoticeFast, so the per-account escrow events of the classic
        // path are left out to keep a push cheap.
        uint256 workerpoolPrice = deal.workerpoolPrice;
        _debitFrozen(deal.sponsor, deal.appPrice + deal.datasetPrice + workerpoolPrice);
        _credit(deal.appOwner, deal.appPrice, 0);
        if (deal.datasetPrice != 0) _credit(deal.datasetOwner, deal.datasetPrice, 0);
        _credit(msg.sender, deal.workerReward, 0);
        uint256 poolStake = workerpoolPrice * PocoStorage.WORKERPOOL_STAKE_RATIO / 100;
        _credit(
            deal.workerpoolOwner,
            workerpoolPrice - deal.workerReward + _takeKittyShare(taskid, poolStake) + poolStake,
            poolStake
        );
        emit ResultPushedFast(dealid, idx, msg.sender, resultDigest, results);
        _callback(deal.callback, taskid, resultsCallback);
    }

    // ------------------------------------------------------------------ claim

    /// @notice After the final deadline, refunds the sponsor for an unsettled task and moves the
    /// scheduler's stake for it to the kitty.
    function claimFast(FastDeal calldata deal, bytes32 dealid, uint256 idx) external {
        bytes32 taskid = _settle(deal, dealid, idx);
        uint256 finalDeadline = deal.startTime + PocoStorage.FINAL_DEADLINE_RATIO * deal.timeref;
        if (block.timestamp < finalDeadline) revert FinalDeadlineNotReached(taskid, finalDeadline);
        PocoStorage.get().tasks[taskid].packed = 4; // FAILED, for viewTaskFast
        uint256 workerpoolPrice = deal.workerpoolPrice;
        _unlock(deal.sponsor, deal.appPrice + deal.datasetPrice + workerpoolPrice);
        uint256 poolStake = workerpoolPrice * PocoStorage.WORKERPOOL_STAKE_RATIO / 100;
        _seize(deal.workerpoolOwner, poolStake, taskid);
        _feedKitty(poolStake, taskid);
        emit TaskClaimed(taskid);
    }

    /// @notice Status of a fast-path task: 0 pending (UNSET), 3 COMPLETED, 4 FAILED (claimed).
    function viewTaskFast(FastDeal calldata deal, bytes32 dealid, uint256 idx) external view returns (uint8) {
        PocoStorage.Layout storage l = PocoStorage.get();
        (uint256 slot,, uint256 rel) = _locate(l, deal, dealid, idx);
        bool done = rel < INLINE_TASKS
            ? slot & (1 << rel) != 0
            : l.fastDone[dealid][(rel - INLINE_TASKS) >> 8] & (1 << ((rel - INLINE_TASKS) & 0xff)) != 0;
        if (!done) return 0;
        return l.tasks[keccak256(abi.encodePacked(dealid, idx))].packed == 4 ? 4 : 3;
    }

    /// The deal's word after checking the fields against its commitment, whether that word is
    /// the request's `consumed` word, and the task's index relative to the deal's first task.
    function _locate(PocoStorage.Layout storage l, FastDeal calldata deal, bytes32 dealid, uint256 idx)
        private
        view
        returns (uint256 slot, bool inRequest, uint256 rel)
    {
        if (idx < deal.botFirst || idx >= deal.botFirst + deal.botSize) revert TaskIndexOutOfRange(dealid, idx);
        rel = idx - deal.botFirst;
        bytes32 h = keccak256(abi.encode(deal));
        if (deal.botFirst == 0 && deal.botSize <= INLINE_TASKS) {
            slot = l.consumed[deal.requestHash];
            if (
                slot & PocoStorage.FAST_DEAL_FLAG != 0
                    && keccak256(abi.encodePacked(deal.requestHash, uint256(0))) == dealid
            ) {
                if ((slot >> 128) & ((1 << 127) - 1) != uint256(h) >> 129) revert FastDealMismatch(dealid);
                return (slot, true, rel);
            }
        }
        slot = l.fastDeals[dealid];
        if (slot == 0) revert UnknownFastDeal(dealid);
        if (slot & ~INLINE_MASK != uint256(h) & ~INLINE_MASK) revert FastDealMismatch(dealid);
    }

    /// Checks the deal fields against the commitment and marks task `idx` settled.
    function _settle(FastDeal calldata deal, bytes32 dealid, uint256 idx) private returns (bytes32 taskid) {
        PocoStorage.Layout storage l = PocoStorage.get();
        (uint256 slot, bool inRequest, uint256 rel) = _locate(l, deal, dealid, idx);
        if (rel < INLINE_TASKS) {
            uint256 bit = 1 << rel;
            if (slot & bit != 0) revert TaskAlreadySettled(dealid, idx);
            if (inRequest) l.consumed[deal.requestHash] = slot | bit;
            else l.fastDeals[dealid] = slot | bit;
        } else {
            rel -= INLINE_TASKS;
            uint256 word = l.fastDone[dealid][rel >> 8];
            uint256 bit = 1 << (rel & 0xff);
            if (word & bit != 0) revert TaskAlreadySettled(dealid, idx);
            l.fastDone[dealid][rel >> 8] = word | bit;
        }
        taskid = keccak256(abi.encodePacked(dealid, idx));
    }
}
