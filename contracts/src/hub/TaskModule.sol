// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubBase} from "./HubBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {Packing} from "../libs/Packing.sol";

/// @title The classic task lifecycle: initialize, contribute, reveal, reopen, finalize, claim,
/// and the one-transaction contributeAndFinalize for trust 1.
contract TaskModule is HubBase {
    using Packing for uint256;
    using Packing for Packing.Task;

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](12);
        s[0] = this.initialize.selector;
        s[1] = this.contribute.selector;
        s[2] = this.reveal.selector;
        s[3] = this.reopen.selector;
        s[4] = this.finalize.selector;
        s[5] = this.contributeAndFinalize.selector;
        s[6] = this.claim.selector;
        s[7] = this.initializeArray.selector;
        s[8] = this.claimArray.selector;
        s[9] = this.initializeAndClaimArray.selector;
        s[10] = this.revealAndFinalize.selector;
        s[11] = this.initializeAndContribute.selector;
    }

    // ------------------------------------------------------------------ initialize

    function initialize(bytes32 dealid, uint256 idx) external returns (bytes32) {
        return _initialize(dealid, idx);
    }

    function initializeArray(bytes32[] calldata dealids, uint256[] calldata idxs) external returns (bool) {
        if (dealids.length != idxs.length) revert ArrayLengthMismatch(dealids.length, idxs.length);
        for (uint256 i = 0; i < dealids.length; ++i) {
            _initialize(dealids[i], idxs[i]);
        }
        return true;
    }

    function initializeAndClaimArray(bytes32[] calldata dealids, uint256[] calldata idxs) external returns (bool) {
        if (dealids.length != idxs.length) revert ArrayLengthMismatch(dealids.length, idxs.length);
        for (uint256 i = 0; i < dealids.length; ++i) {
            _claim(_initialize(dealids[i], idxs[i]));
        }
        return true;
    }

    function _initialize(bytes32 dealid, uint256 idx) private returns (bytes32 taskid) {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.DealRecord storage d = l.deals[dealid];
        uint256 requester = d.requester;
        uint256 first = requester.botFirst();
        if (idx < first || idx >= first + requester.botSize()) revert TaskIndexOutOfRange(dealid, idx);
        taskid = keccak256(abi.encodePacked(dealid, idx));
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        if (t.packed != 0) revert TaskAlreadyInitialized(taskid);
        uint256 timeref = l.timerefs[d.pool.category()];
        t.packed = Packing.ACTIVE | idx << 8 | timeref << 56;
        t.dealid = dealid;
        emit TaskInitialize(taskid, d.workerpool.addr());
    }

    // ------------------------------------------------------------------ contribute

    function contribute(
        bytes32 taskid,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external {
        _contribute(taskid, resultHash, resultSeal, enclaveChallenge, enclaveSign, authorizationSign);
    }

    /// @notice initialize followed by contribute, in one transaction: the first worker of a
    /// task can start it itself instead of waiting for (and paying for) a separate initialize.
    function initializeAndContribute(
        bytes32 dealid,
        uint256 idx,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external returns (bytes32 taskid) {
        taskid = _initialize(dealid, idx);
        _contribute(taskid, resultHash, resultSeal, enclaveChallenge, enclaveSign, authorizationSign);
    }

    function _contribute(
        bytes32 taskid,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        if (task.status != Packing.ACTIVE) revert TaskNotActive(taskid, uint8(task.status));
        if (task.count >= PocoStorage.MAX_CONTRIBUTORS) {
            revert TooManyContributors(taskid, PocoStorage.MAX_CONTRIBUTORS);
        }
        PocoStorage.DealRecord storage d = l.deals[t.dealid];
        uint256 pool = d.pool;
        {
            uint256 deadline = pool.startTime() + PocoStorage.CONTRIBUTION_DEADLINE_RATIO * task.timeref;
            if (block.timestamp >= deadline) revert ContributionDeadlinePassed(taskid, deadline);
        }
        if (resultHash == 0) revert InvalidResultHash();
        if (pool.tee() && enclaveChallenge == address(0)) revert EnclaveChallengeRequired();
        _checkAuthorization(
            pool.addr(),
            msg.sender,
            taskid,
            enclaveChallenge,
            authorizationSign,
            keccak256(abi.encodePacked(resultHash, resultSeal)),
            enclaveSign
        );
        if (enclaveChallenge != address(0)) l.enclaves[taskid][msg.sender] = enclaveChallenge;

        // The value's id (a new one for a hash nobody voted yet).
        mapping(uint256 => bytes32) storage values = l.values[taskid];
        uint256 id = 0;
        while (id < task.valueCount && values[id] != resultHash) ++id;
        if (id == task.valueCount) {
            if (id == Packing.MAX_VALUES) revert AmountTooLarge(id);
            values[id] = resultHash;
            task.valueCount += 1;
        }

        // Credibility odds of the worker: w = max(score / 3, 3) - 1 (capped to 16 bits).
        uint256 w = (_loadAccount(msg.sender) >> 192) / 3;
        w = (w < 3 ? 3 : w) - 1;
        if (w > Packing.MAX_W) w = Packing.MAX_W;

        // Each value's group is the product of its voters' w; total is the sum of the groups
        // (the PoCo total minus its initial 1). Rejected votes no longer count.
        (uint256 group, uint256 total, uint256 voters) = _groups(l, taskid, task, id, msg.sender);
        total = total - group + (group == 0 ? w : group * w);
        group = group == 0 ? w : group * w;
        voters += 1;

        l.contributors[taskid][task.count] = Packing.contributor(msg.sender, Packing.CONTRIBUTED, id, w, resultSeal);
        task.count += 1;
        _lock(msg.sender, d.workerpool.high());
        emit TaskContribute(taskid, msg.sender, resultHash);

        // Consensus when the value's likelihood group / (1 + total) exceeds 1 - 1/trust.
        uint256 trust = pool.trust();
        if (group * trust > (total + 1) * (trust - 1)) {
            task.status = Packing.REVEALING;
            task.revealDeadline = block.timestamp + PocoStorage.REVEAL_DEADLINE_RATIO * task.timeref;
            task.revealCounter = 0;
            task.winnerCounter = voters;
            task.consensusId = id;
            task.hasConsensus = true;
            emit TaskConsensus(taskid, resultHash);
        }
        t.packed = task.pack();
    }

    /// One pass over the contributors: rejects a second contribution of `worker`, and returns
    /// the group of value `id`, the sum of all groups and the number of voters of `id`.
    function _groups(PocoStorage.Layout storage l, bytes32 taskid, Packing.Task memory task, uint256 id, address worker)
        private
        view
        returns (uint256 group, uint256 total, uint256 voters)
    {
        uint256[] memory products = new uint256[](task.valueCount);
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        for (uint256 i = 0; i < task.count; ++i) {
            uint256 entry = entries[i];
            if (entry.addr() == worker) revert AlreadyContributed(taskid, worker);
            if (entry.entryStatus() == Packing.REJECTED) continue;
            uint256 v = entry.entryValue();
            uint256 p = products[v];
            products[v] = p == 0 ? entry.entryW() : p * entry.entryW();
            if (v == id) ++voters;
        }
        for (uint256 v = 0; v < products.length; ++v) {
            total += products[v];
        }
        group = products[id];
    }

    /// Position of `worker` among the task's contributors, or max uint when absent.
    function _indexOf(PocoStorage.Layout storage l, bytes32 taskid, uint256 count, address worker)
        private
        view
        returns (uint256)
    {
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        for (uint256 i = 0; i < count; ++i) {
            if (entries[i].addr() == worker) return i;
        }
        return type(uint256).max;
    }

    // ------------------------------------------------------------------ reveal

    function reveal(bytes32 taskid, bytes32 resultDigest) external {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        if (task.status != Packing.REVEALING) revert TaskNotRevealing(taskid, uint8(task.status));
        if (block.timestamp >= task.revealDeadline) revert RevealDeadlinePassed(taskid, task.revealDeadline);
        uint256 i = _indexOf(l, taskid, task.count, msg.sender);
        if (i == type(uint256).max) revert NotAContributor(taskid, msg.sender);
        uint256 entry = l.contributors[taskid][i];
        if (entry.entryStatus() != Packing.CONTRIBUTED || entry.entryValue() != task.consensusId) {
            revert NotInConsensus(taskid, msg.sender);
        }
        if (
            l.values[taskid][task.consensusId] != keccak256(abi.encodePacked(taskid, resultDigest))
                || !entry.sealMatches(keccak256(abi.encodePacked(msg.sender, taskid, resultDigest)))
        ) revert RevealMismatch(taskid, msg.sender);
        l.contributors[taskid][i] = entry.withStatus(Packing.PROVED);
        task.revealCounter += 1;
        t.packed = task.pack();
        if (task.revealCounter == 1) t.resultDigest = resultDigest;
        emit TaskReveal(taskid, msg.sender, resultDigest);
    }

    // ------------------------------------------------------------------ reopen

    function reopen(bytes32 taskid) external {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        if (task.status != Packing.REVEALING) revert TaskNotRevealing(taskid, uint8(task.status));
        uint256 pool = l.deals[t.dealid].pool;
        if (msg.sender != pool.addr()) revert NotScheduler(msg.sender, pool.addr());
        _requireBeforeFinalDeadline(taskid, pool, task.timeref);
        if (block.timestamp < task.revealDeadline) revert RevealDeadlineNotReached(taskid, task.revealDeadline);
        if (task.revealCounter != 0) revert RevealHappened(task.revealCounter);

        // Everyone who voted the unrevealed value is rejected, which empties its group.
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        for (uint256 i = 0; i < task.count; ++i) {
            uint256 entry = entries[i];
            if (entry.entryStatus() == Packing.CONTRIBUTED && entry.entryValue() == task.consensusId) {
                entries[i] = entry.withStatus(Packing.REJECTED);
            }
        }
        task.status = Packing.ACTIVE;
        task.revealDeadline = 0;
        task.winnerCounter = 0;
        task.consensusId = 0;
        task.hasConsensus = false;
        t.packed = task.pack();
        emit TaskReopen(taskid);
    }

    // ------------------------------------------------------------------ finalize

    function finalize(bytes32 taskid, bytes calldata results, bytes calldata resultsCallback) external {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        (PocoStorage.DealRecord storage d, uint256 pool) = _schedulerTask(l, t, task, taskid);
        if (
            task.revealCounter != task.winnerCounter
                && (task.revealCounter == 0 || block.timestamp < task.revealDeadline)
        ) revert RevealsPending(task.revealCounter, task.winnerCounter);
        _complete(t, task, d, pool, taskid, t.resultDigest, results, resultsCallback);
    }

    /// @notice The scheduler reveals the consensus digest for every voter at once and finalizes:
    /// each voter of the consensus whose seal matches the digest is proved, exactly as if it had
    /// revealed; the others are treated as non-revealers. Saves one transaction per worker.
    function revealAndFinalize(
        bytes32 taskid,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback
    ) external {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        (PocoStorage.DealRecord storage d, uint256 pool) = _schedulerTask(l, t, task, taskid);
        if (l.values[taskid][task.consensusId] != keccak256(abi.encodePacked(taskid, resultDigest))) {
            revert RevealMismatch(taskid, msg.sender);
        }
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        uint256 proved;
        for (uint256 i = 0; i < task.count; ++i) {
            uint256 entry = entries[i];
            uint256 status = entry.entryStatus();
            if (
                status == Packing.CONTRIBUTED && entry.entryValue() == task.consensusId
                    && entry.sealMatches(keccak256(abi.encodePacked(entry.addr(), taskid, resultDigest)))
            ) {
                entries[i] = entry.withStatus(Packing.PROVED);
                emit TaskReveal(taskid, entry.addr(), resultDigest);
                status = Packing.PROVED;
            }
            if (status == Packing.PROVED) ++proved;
        }
        if (proved == 0) revert RevealsPending(0, task.winnerCounter);
        task.revealCounter = proved;
        if (t.resultDigest != resultDigest) t.resultDigest = resultDigest;
        _complete(t, task, d, pool, taskid, resultDigest, results, resultsCallback);
    }

    /// A REVEALING task of the caller's pool, before its final deadline.
    function _schedulerTask(
        PocoStorage.Layout storage l,
        PocoStorage.TaskRecord storage t,
        Packing.Task memory task,
        bytes32 taskid
    ) private view returns (PocoStorage.DealRecord storage d, uint256 pool) {
        if (task.status != Packing.REVEALING) revert TaskNotRevealing(taskid, uint8(task.status));
        d = l.deals[t.dealid];
        pool = d.pool;
        if (msg.sender != pool.addr()) revert NotScheduler(msg.sender, pool.addr());
        _requireBeforeFinalDeadline(taskid, pool, task.timeref);
    }

    function _complete(
        PocoStorage.TaskRecord storage t,
        Packing.Task memory task,
        PocoStorage.DealRecord storage d,
        uint256 pool,
        bytes32 taskid,
        bytes32 digest,
        bytes calldata results,
        bytes calldata resultsCallback
    ) private {
        address callback = d.callback;
        _checkCallbackData(callback, resultsCallback, digest);
        task.status = Packing.COMPLETED;
        task.resultsTimestamp = block.timestamp;
        t.packed = task.pack();
        t.results = results;
        if (resultsCallback.length != 0) t.resultsCallback = resultsCallback;
        (uint256 poolStake, uint256 kittyShare) = _successWork(d, taskid);
        _distributeRewards(d, pool, taskid, task.count, poolStake, kittyShare);
        emit TaskFinalize(taskid, results);
        _callback(callback, taskid, resultsCallback);
    }

    // ------------------------------------------------------------------ contributeAndFinalize

    /// Arguments of contributeAndFinalize, grouped to keep the stack shallow.
    struct Push {
        bytes32 taskid;
        bytes32 resultDigest;
        bytes32 resultHash;
        bytes32 resultSeal;
        uint256 pool;
        address callback;
    }

    function contributeAndFinalize(
        bytes32 taskid,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external {
        Push memory p;
        p.taskid = taskid;
        p.resultDigest = resultDigest;
        PocoStorage.DealRecord storage d = _checkSoloContribution(p, resultsCallback, enclaveChallenge);
        _checkAuthorization(
            p.pool.addr(),
            msg.sender,
            taskid,
            enclaveChallenge,
            authorizationSign,
            keccak256(abi.encodePacked(p.resultHash, p.resultSeal)),
            enclaveSign
        );
        _recordSoloResult(p, results, resultsCallback, enclaveChallenge);

        (uint256 poolStake, uint256 kittyShare) = _successWork(d, taskid);
        uint256 workerpoolPrice = d.appOwner.high();
        uint256 workerReward = workerpoolPrice * (100 - p.pool.schedulerRewardRatio()) / 100;
        _reward(msg.sender, workerReward, taskid);
        _unlockAndReward(p.pool.addr(), poolStake, workerpoolPrice - workerReward + kittyShare, taskid);

        emit TaskContribute(taskid, msg.sender, p.resultHash);
        emit TaskConsensus(taskid, p.resultHash);
        emit TaskReveal(taskid, msg.sender, resultDigest);
        emit TaskFinalize(taskid, results);
        _callback(p.callback, taskid, resultsCallback);
    }

    function _checkSoloContribution(Push memory p, bytes calldata resultsCallback, address enclaveChallenge)
        private
        view
        returns (PocoStorage.DealRecord storage d)
    {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[p.taskid];
        Packing.Task memory task = t.packed.unpack();
        if (task.status != Packing.ACTIVE) revert TaskNotActive(p.taskid, uint8(task.status));
        d = l.deals[t.dealid];
        p.pool = d.pool;
        if (p.pool.trust() != 1) revert TrustNotOne(p.pool.trust());
        uint256 deadline = p.pool.startTime() + PocoStorage.CONTRIBUTION_DEADLINE_RATIO * task.timeref;
        if (block.timestamp >= deadline) revert ContributionDeadlinePassed(p.taskid, deadline);
        if (task.count != 0) revert ContributionsExist(p.taskid);
        if (p.pool.tee() && enclaveChallenge == address(0)) revert EnclaveChallengeRequired();
        p.callback = d.callback;
        _checkCallbackData(p.callback, resultsCallback, p.resultDigest);
        p.resultHash = keccak256(abi.encodePacked(p.taskid, p.resultDigest));
        p.resultSeal = keccak256(abi.encodePacked(msg.sender, p.taskid, p.resultDigest));
    }

    function _recordSoloResult(
        Push memory p,
        bytes calldata results,
        bytes calldata resultsCallback,
        address enclaveChallenge
    ) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[p.taskid];
        Packing.Task memory task = t.packed.unpack();
        if (enclaveChallenge != address(0)) l.enclaves[p.taskid][msg.sender] = enclaveChallenge;
        l.values[p.taskid][0] = p.resultHash;
        l.contributors[p.taskid][0] = Packing.contributor(msg.sender, Packing.PROVED, 0, 0, p.resultSeal);
        task.status = Packing.COMPLETED;
        task.count = 1;
        task.valueCount = 1;
        task.hasConsensus = true;
        task.revealCounter = 1;
        task.winnerCounter = 1;
        task.revealDeadline = block.timestamp + PocoStorage.REVEAL_DEADLINE_RATIO * task.timeref;
        task.resultsTimestamp = block.timestamp;
        t.packed = task.pack();
        t.resultDigest = p.resultDigest;
        t.results = results;
        if (resultsCallback.length != 0) t.resultsCallback = resultsCallback;
    }

    // ------------------------------------------------------------------ claim

    function claim(bytes32 taskid) external {
        _claim(taskid);
    }

    function claimArray(bytes32[] calldata taskids) external returns (bool) {
        for (uint256 i = 0; i < taskids.length; ++i) {
            _claim(taskids[i]);
        }
        return true;
    }

    function _claim(bytes32 taskid) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory task = t.packed.unpack();
        if (task.status != Packing.ACTIVE && task.status != Packing.REVEALING) {
            revert TaskNotClaimable(taskid, uint8(task.status));
        }
        PocoStorage.DealRecord storage d = l.deals[t.dealid];
        uint256 pool = d.pool;
        uint256 finalDeadline = pool.startTime() + PocoStorage.FINAL_DEADLINE_RATIO * task.timeref;
        if (block.timestamp < finalDeadline) revert FinalDeadlineNotReached(taskid, finalDeadline);
        task.status = Packing.FAILED;
        t.packed = task.pack();

        // Refund the sponsor; the scheduler's stake goes to the kitty; workers get their stake back.
        uint256 workerpoolPrice = d.appOwner.high();
        uint256 requester = d.requester;
        _unlock(Packing.sponsor(d, requester), d.app.high() + d.dataset.high() + workerpoolPrice);
        uint256 poolStake = workerpoolPrice * PocoStorage.WORKERPOOL_STAKE_RATIO / 100;
        _seize(pool.addr(), poolStake, taskid);
        _feedKitty(poolStake, taskid);
        uint256 workerStake = d.workerpool.high();
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        for (uint256 i = 0; i < task.count; ++i) {
            _unlock(entries[i].addr(), workerStake);
        }
        emit TaskClaimed(taskid);
    }

    // ------------------------------------------------------------------ settlement

    function _requireBeforeFinalDeadline(bytes32 taskid, uint256 pool, uint256 timeref) private view {
        uint256 finalDeadline = pool.startTime() + PocoStorage.FINAL_DEADLINE_RATIO * timeref;
        if (block.timestamp >= finalDeadline) revert FinalDeadlinePassed(taskid, finalDeadline);
    }

    function _checkCallbackData(address callback, bytes calldata resultsCallback, bytes32 digest) private pure {
        if (callback == address(0) && resultsCallback.length == 0) return;
        if (keccak256(resultsCallback) != digest) revert CallbackMismatch();
    }

    /// Pays the app and dataset owners from the sponsor's frozen funds; returns the pool stake to
    /// unlock and the kitty share owed to the scheduler.
    function _successWork(PocoStorage.DealRecord storage d, bytes32 taskid)
        private
        returns (uint256 poolStake, uint256 kittyShare)
    {
        uint256 app = d.app;
        uint256 appOwner = d.appOwner;
        uint256 dataset = d.dataset;
        uint256 workerpoolPrice = appOwner.high();
        _seize(Packing.sponsor(d, d.requester), app.high() + dataset.high() + workerpoolPrice, taskid);
        _reward(appOwner.addr(), app.high(), taskid);
        if (dataset.high() != 0) _reward(d.datasetOwner, dataset.high(), taskid);
        poolStake = workerpoolPrice * PocoStorage.WORKERPOOL_STAKE_RATIO / 100;
        kittyShare = _takeKittyShare(taskid, poolStake);
    }

    /// Winners (PROVED) share the workers' part of the price plus the losers' stakes by
    /// log-weight; losers lose their stake and a third of their score; the scheduler keeps the rest.
    function _distributeRewards(
        PocoStorage.DealRecord storage d,
        uint256 pool,
        bytes32 taskid,
        uint256 count,
        uint256 poolStake,
        uint256 kittyShare
    ) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        mapping(uint256 => uint256) storage entries = l.contributors[taskid];
        uint256 workerStake = d.workerpool.high();
        uint256 totalReward = d.appOwner.high();
        uint256 totalWeight;
        for (uint256 i = 0; i < count; ++i) {
            uint256 entry = entries[i];
            if (entry.entryStatus() == Packing.PROVED) totalWeight += entry.entryWeight();
            else totalReward += workerStake;
        }
        uint256 workersReward = totalReward * (100 - pool.schedulerRewardRatio()) / 100;
        uint256 paid;
        for (uint256 i = 0; i < count; ++i) {
            uint256 entry = entries[i];
            address worker = entry.addr();
            // Stake, payment and score of a worker change with one write of its account.
            uint256 word = _loadAccount(worker);
            if (_frozenOf(word) < workerStake) {
                revert InsufficientFrozenBalance(worker, _frozenOf(word), workerStake);
            }
            word -= workerStake << 96;
            if (entry.entryStatus() == Packing.PROVED) {
                uint256 share = workersReward * entry.entryWeight() / totalWeight;
                paid += share;
                word += workerStake + share;
                if (count > 1 && word >> 192 < type(uint64).max) word += 1 << 192;
                _storeAccount(worker, word);
                emit Transfer(address(this), worker, workerStake + share);
                emit Unlock(worker, workerStake);
                if (share != 0) emit Reward(worker, share, taskid);
                if (count > 1) emit AccurateContribution(worker, taskid);
            } else {
                uint256 score = word >> 192;
                word = (word & ((1 << 192) - 1)) | (score * 2 / 3) << 192;
                _storeAccount(worker, word);
                emit Seize(worker, workerStake, taskid);
                emit FaultyContribution(worker, taskid);
            }
        }
        _unlockAndReward(pool.addr(), poolStake, totalReward - paid + kittyShare, taskid);
    }
}
