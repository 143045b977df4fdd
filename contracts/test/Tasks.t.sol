// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {RecordingConsumer, RevertingConsumer, GasBurnerConsumer} from "./utils/Mocks.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";

/// @notice The classic task lifecycle (§3): initialize, contribute, reveal, reopen, finalize,
/// contributeAndFinalize, claim, the kitty, callbacks and the batch helpers.
contract TasksTest is PocoTest {
    uint256 internal constant ACTIVE = 1;
    uint256 internal constant REVEALING = 2;
    uint256 internal constant COMPLETED = 3;
    uint256 internal constant FAILED = 4;
    uint256 internal constant C_CONTRIBUTED = 1;
    uint256 internal constant C_PROVED = 2;
    uint256 internal constant C_REJECTED = 3;

    bytes32 internal constant GOOD = keccak256("good result");
    bytes32 internal constant BAD_RESULT = keccak256("bad result");

    // ------------------------------------------------------------------ helpers

    function startOf(bytes32 dealid) internal view returns (uint256) {
        return hub.viewDeal(dealid).startTime;
    }

    /// A trust-1 (or any trust) task, initialized: returns (dealid, taskid).
    function newTask(uint256 trust, bytes32 salt) internal returns (bytes32 dealid, bytes32 taskid) {
        dealid = classicDeal(trust, 1, salt);
        taskid = hub.initialize(dealid, 0);
    }

    function callbackTask(address consumer, uint256 trust, bytes32 salt)
        internal
        returns (bytes32 dealid, bytes32 taskid)
    {
        OrderSet memory s = defaultOrders();
        s.r.callback = consumer;
        s.r.trust = trust;
        s.r.salt = salt;
        dealid = matchSet(s);
        taskid = hub.initialize(dealid, 0);
    }

    function teeTask(bytes32 salt) internal returns (bytes32 dealid, bytes32 taskid) {
        OrderSet memory s = defaultOrders();
        s.a.tag = bytes32(uint256(1));
        s.w.tag = bytes32(uint256(1));
        s.r.tag = bytes32(uint256(1));
        s.r.salt = salt;
        dealid = matchSet(s);
        taskid = hub.initialize(dealid, 0);
    }

    /// The credibility weight w = max(score / 3, 3) - 1 (protocol §3.4).
    function weightOf(address worker) internal view returns (uint256) {
        uint256 x = hub.viewScore(worker) / 3;
        return (x < 3 ? 3 : x) - 1;
    }

    /// One replicated task where `first` then `second` agree; the trust is chosen so that the
    /// first vote alone is not enough and the second is (max(w) + 1 <= wa * wb), so both
    /// workers are proved in a task with two contributors and gain one point of score.
    function agreeingPair(address first, address second, uint256 n) internal {
        uint256 wa = weightOf(first);
        uint256 wb = weightOf(second);
        uint256 trust = (wa > wb ? wa : wb) + 1;
        (, bytes32 t) = newTask(trust, keccak256(abi.encode("warm-up", n)));
        bytes32 dg = keccak256(abi.encode("warm-up digest", n));
        contributeFrom(first, t, dg);
        assertEq(status(t), ACTIVE, "one vote is not enough");
        contributeFrom(second, t, dg);
        assertEq(status(t), REVEALING, "two votes are");
        revealFrom(first, t, dg);
        revealFrom(second, t, dg);
        finalizeAsScheduler(t, "warm-up", "");
    }

    // ------------------------------------------------------------------ initialize

    function test_initialize_rules() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 3;
        s.w.volume = 1;
        s = signAll(s);
        hub.matchOrders(s.a, s.d, s.w, s.r); // tasks [0, 1)
        s.w.salt = keccak256("pool 2");
        s.w.volume = 10;
        s = signAll(s);
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r); // tasks [1, 3)
        uint256 start = startOf(dealid);

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, dealid, 0));
        hub.initialize(dealid, 0);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, dealid, 3));
        hub.initialize(dealid, 3);
        bytes32 unknown = keccak256("unknown deal");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, unknown, 0));
        hub.initialize(unknown, 0);

        bytes32 expected = taskId(dealid, 1);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskInitialize(expected, workerpool);
        vm.prank(stranger); // anyone may initialize
        bytes32 taskid = hub.initialize(dealid, 1);
        assertEq(taskid, expected, "taskid = keccak(dealid, idx)");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadyInitialized.selector, taskid));
        hub.initialize(dealid, 1);

        Core.Task memory t = hub.viewTask(taskid);
        assertEq(taskStatusOf(t), ACTIVE, "active");
        assertEq(t.dealid, dealid, "dealid");
        assertEq(t.idx, 1, "idx");
        assertEq(t.timeref, XS, "timeref");
        assertEq(t.contributionDeadline, start + 7 * XS, "contribution deadline");
        assertEq(t.finalDeadline, start + 10 * XS, "final deadline");
        assertEq(t.revealDeadline, 0, "no reveal deadline yet");
        assertEq(t.contributors.length, 0, "no contributors");
        assertEq(hub.initialize(dealid, 2), taskId(dealid, 2), "last index");
    }

    // ------------------------------------------------------------------ contributeAndFinalize

    function test_contributeAndFinalize_payouts() public {
        OrderSet memory s = datasetOrders();
        bytes32 dealid = matchSet(s);
        bytes32 taskid = hub.initialize(dealid, 0);
        uint256 price = APP_PRICE + DATASET_PRICE + WORKERPOOL_PRICE;
        assertBal(requester, INITIAL_DEPOSIT - price, price, "requester locked");

        bytes memory auth = authorization(workers[0], taskid, address(0));
        bytes32 rh = resultHash(taskid, GOOD);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskContribute(taskid, workers[0], rh);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskConsensus(taskid, rh);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskReveal(taskid, workers[0], GOOD);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskFinalize(taskid, bytes("ipfs://result"));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(taskid, GOOD, bytes("ipfs://result"), "", address(0), "", auth);

        uint256 workerReward = WORKERPOOL_PRICE * 99 / 100;
        assertBal(requester, INITIAL_DEPOSIT - price, 0, "requester paid");
        assertBal(appOwner, INITIAL_DEPOSIT + APP_PRICE, 0, "app owner");
        assertBal(datasetOwner, INITIAL_DEPOSIT + DATASET_PRICE, 0, "dataset owner");
        assertBal(workers[0], INITIAL_DEPOSIT + workerReward, 0, "worker (no stake)");
        assertBal(scheduler, INITIAL_DEPOSIT + WORKERPOOL_PRICE - workerReward, 0, "scheduler, stake returned");
        assertEq(hub.viewScore(workers[0]), 0, "no score change");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");

        Core.Task memory t = hub.viewTask(taskid);
        assertEq(taskStatusOf(t), COMPLETED, "completed");
        assertEq(t.consensusValue, rh, "consensus");
        assertEq(t.resultDigest, GOOD, "digest");
        assertEq(t.results, bytes("ipfs://result"), "results");
        assertEq(t.revealCounter, 1, "reveals");
        assertEq(t.winnerCounter, 1, "winners");
        assertEq(t.revealDeadline, block.timestamp + 2 * XS, "reveal deadline");
        assertEq(t.contributors.length, 1, "one contributor");
        assertEq(t.contributors[0], workers[0], "contributor");
        Core.Contribution memory c = hub.viewContribution(taskid, workers[0]);
        assertEq(uint256(c.status), C_PROVED, "proved");
        assertEq(c.resultHash, rh, "hash");
        assertEq(hub.resultFor(taskid), bytes(""), "no callback data");

        bytes memory auth1 = authorization(workers[1], taskid, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotActive.selector, taskid, uint8(COMPLETED)));
        vm.prank(workers[1]);
        hub.contributeAndFinalize(taskid, GOOD, "", "", address(0), "", auth1);
    }

    function test_contributeAndFinalize_rejections() public {
        // trust != 1
        (, bytes32 t2) = newTask(2, "trust 2");
        bytes memory auth = authorization(workers[0], t2, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TrustNotOne.selector, 2));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t2, GOOD, "", "", address(0), "", auth);

        // trust 0 is stored as 1 and accepted
        (, bytes32 t0) = newTask(0, "trust 0");
        soloFinalize(workers[0], t0, GOOD, "");
        assertEq(status(t0), COMPLETED, "trust 0 = 1");

        // not initialized
        bytes32 dealid = classicDeal(1, 1, "uninitialized");
        bytes32 t = taskId(dealid, 0);
        auth = authorization(workers[0], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotActive.selector, t, uint8(0)));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);
        hub.initialize(dealid, 0);

        // bad authorizations: another signer, another worker's, another task's
        bytes memory strangerAuth = authorizationBy(STRANGER_KEY, workers[0], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", strangerAuth);
        bytes memory otherWorkerAuth = authorization(workers[1], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", otherWorkerAuth);
        bytes memory otherTaskAuth = authorization(workers[0], t0, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", otherTaskAuth);

        // deadline: contributions strictly before start + 7T
        uint256 deadline = startOf(dealid) + 7 * XS;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ContributionDeadlinePassed.selector, t, deadline));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);
        vm.warp(deadline - 1);
        soloFinalize(workers[0], t, GOOD, "");
        assertEq(status(t), COMPLETED, "just before the deadline");
    }

    function test_contributeAndFinalize_teeNeedsEnclave() public {
        (, bytes32 t) = teeTask("tee");
        bytes memory auth = authorization(workers[0], t, address(0));
        vm.expectRevert(err(IPocoErrors.EnclaveChallengeRequired.selector));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);

        bytes32 rh = resultHash(t, GOOD);
        bytes32 seal = resultSeal(workers[0], t, GOOD);
        bytes memory enclaveAuth = authorization(workers[0], t, enclave);
        bytes memory badEnclaveSign = personalSign(STRANGER_KEY, keccak256(abi.encodePacked(rh, seal)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidEnclaveSignature.selector, enclave));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", enclave, badEnclaveSign, enclaveAuth);

        // an authorization without the enclave does not cover the enclave
        bytes memory enclaveSign = personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(rh, seal)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", enclave, enclaveSign, auth);

        // with a TEE broker, the broker (not the scheduler) authorizes enclave contributions
        uint256 brokerKey = 0xB40CE4;
        address broker = vm.addr(brokerKey);
        hub.setTeeBroker(broker);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], broker));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", enclave, enclaveSign, enclaveAuth);
        bytes memory brokerAuth = authorizationBy(brokerKey, workers[0], t, enclave);
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", enclave, enclaveSign, brokerAuth);
        assertEq(status(t), COMPLETED, "tee task completed");
        assertEq(hub.viewContribution(t, workers[0]).enclaveChallenge, enclave, "enclave recorded");

        // without an enclave (non-TEE deal) the scheduler still authorizes, broker or not
        (, bytes32 plain) = newTask(1, "plain");
        soloFinalize(workers[1], plain, GOOD, "");
        assertEq(status(plain), COMPLETED, "scheduler authorization without enclave");
    }

    /// After a reopen, a trust-1 task is ACTIVE with a (rejected) contributor: the
    /// one-transaction path is closed.
    function test_contributeAndFinalize_refusedWhenContributionsExist() public {
        (, bytes32 t) = newTask(1, "reopened");
        contributeFrom(workers[0], t, GOOD); // trust 1: consensus at once
        assertEq(status(t), REVEALING, "consensus");
        vm.warp(hub.viewTask(t).revealDeadline);
        vm.prank(scheduler);
        hub.reopen(t);
        bytes memory auth = authorization(workers[1], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ContributionsExist.selector, t));
        vm.prank(workers[1]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);
    }

    // ------------------------------------------------------------------ contribute / reveal / finalize rules

    function test_contribute_rejections() public {
        bytes32 dealid = classicDeal(3, 1, "contribute rules");
        bytes32 t = taskId(dealid, 0);
        bytes memory auth = authorization(workers[0], t, address(0));
        bytes32 rh = resultHash(t, GOOD);
        bytes32 seal = resultSeal(workers[0], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotActive.selector, t, uint8(0)));
        vm.prank(workers[0]);
        hub.contribute(t, rh, seal, address(0), "", auth);
        hub.initialize(dealid, 0);

        vm.expectRevert(err(IPocoErrors.InvalidResultHash.selector));
        vm.prank(workers[0]);
        hub.contribute(t, bytes32(0), seal, address(0), "", auth);

        bytes memory bad = authorizationBy(STRANGER_KEY, workers[0], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.contribute(t, rh, seal, address(0), "", bad);

        // a worker without free balance for the stake
        uint256 poorKey = 0x9004;
        address poor = vm.addr(poorKey);
        bytes memory poorAuth = authorization(poor, t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, poor, 0, WORKER_STAKE));
        vm.prank(poor);
        hub.contribute(t, rh, seal, address(0), "", poorAuth);

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskContribute(t, workers[0], rh);
        vm.prank(workers[0]);
        hub.contribute(t, rh, seal, address(0), "", auth);
        assertBal(workers[0], INITIAL_DEPOSIT - WORKER_STAKE, WORKER_STAKE, "stake locked");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.AlreadyContributed.selector, t, workers[0]));
        vm.prank(workers[0]);
        hub.contribute(t, rh, seal, address(0), "", auth);

        uint256 deadline = startOf(dealid) + 7 * XS;
        vm.warp(deadline);
        bytes memory auth1 = authorization(workers[1], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ContributionDeadlinePassed.selector, t, deadline));
        vm.prank(workers[1]);
        hub.contribute(t, rh, seal, address(0), "", auth1);

        // TEE deal without enclave
        (, bytes32 tee) = teeTask("tee contribute");
        bytes memory teeAuth = authorization(workers[0], tee, address(0));
        vm.expectRevert(err(IPocoErrors.EnclaveChallengeRequired.selector));
        vm.prank(workers[0]);
        hub.contribute(tee, rh, seal, address(0), "", teeAuth);
        // with the enclave: the enclave signs resultHash | resultSeal
        bytes32 teeHash = resultHash(tee, GOOD);
        bytes32 teeSeal = resultSeal(workers[0], tee, GOOD);
        bytes memory enclaveAuth = authorization(workers[0], tee, enclave);
        bytes memory wrongEnclaveSign = personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(teeSeal, teeHash)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidEnclaveSignature.selector, enclave));
        vm.prank(workers[0]);
        hub.contribute(tee, teeHash, teeSeal, enclave, wrongEnclaveSign, enclaveAuth);
        bytes memory enclaveSign = personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(teeHash, teeSeal)));
        vm.prank(workers[0]);
        hub.contribute(tee, teeHash, teeSeal, enclave, enclaveSign, enclaveAuth);
        assertEq(hub.viewContribution(tee, workers[0]).enclaveChallenge, enclave, "enclave stored");
        assertEq(status(tee), REVEALING, "trust 1: consensus at the first vote");
    }

    function test_reveal_and_finalize_rejections() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "reveal rules");
        contributeFrom(workers[0], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(ACTIVE)));
        vm.prank(workers[0]);
        hub.reveal(t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(ACTIVE)));
        vm.prank(scheduler);
        hub.finalize(t, "", "");

        contributeFrom(workers[1], t, GOOD);
        assertEq(status(t), REVEALING, "two fresh votes reach trust 3");
        // contributions are closed once consensus is reached
        bytes memory auth2 = authorization(workers[2], t, address(0));
        bytes32 rh2 = resultHash(t, GOOD);
        bytes32 seal2 = resultSeal(workers[2], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotActive.selector, t, uint8(REVEALING)));
        vm.prank(workers[2]);
        hub.contribute(t, rh2, seal2, address(0), "", auth2);

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotAContributor.selector, t, stranger));
        vm.prank(stranger);
        hub.reveal(t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealMismatch.selector, t, workers[0]));
        vm.prank(workers[0]);
        hub.reveal(t, BAD_RESULT);

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealsPending.selector, 0, 2));
        vm.prank(scheduler);
        hub.finalize(t, "", "");

        revealFrom(workers[0], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotInConsensus.selector, t, workers[0]));
        vm.prank(workers[0]);
        hub.reveal(t, GOOD); // twice
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealsPending.selector, 1, 2));
        vm.prank(scheduler);
        hub.finalize(t, "", "");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotScheduler.selector, stranger, scheduler));
        vm.prank(stranger);
        hub.finalize(t, "", "");

        uint256 rd = hub.viewTask(t).revealDeadline;
        vm.warp(rd);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealDeadlinePassed.selector, t, rd));
        vm.prank(workers[1]);
        hub.reveal(t, GOOD);

        uint256 fd = startOf(dealid) + 10 * XS;
        vm.warp(fd);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FinalDeadlinePassed.selector, t, fd));
        vm.prank(scheduler);
        hub.finalize(t, "", "");
    }

    /// Finalize after the reveal deadline with part of the winners revealed: the silent winner
    /// loses its stake.
    function test_finalize_afterRevealDeadline_withPartialReveals() public {
        (, bytes32 t) = newTask(3, "partial");
        contributeFrom(workers[0], t, GOOD);
        contributeFrom(workers[1], t, GOOD);
        revealFrom(workers[0], t, GOOD);
        uint256 rd = hub.viewTask(t).revealDeadline;
        vm.warp(rd - 1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealsPending.selector, 1, 2));
        vm.prank(scheduler);
        hub.finalize(t, "", "");
        vm.warp(rd);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.AccurateContribution(workers[0], t);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.FaultyContribution(workers[1], t);
        finalizeAsScheduler(t, "ipfs://partial", "");
        uint256 totalReward = WORKERPOOL_PRICE + WORKER_STAKE;
        uint256 workersReward = totalReward * 99 / 100;
        assertBal(workers[0], INITIAL_DEPOSIT + workersReward, 0, "revealer takes all");
        assertBal(workers[1], INITIAL_DEPOSIT - WORKER_STAKE, 0, "silent winner seized");
        assertBal(scheduler, INITIAL_DEPOSIT + totalReward - workersReward, 0, "scheduler rest");
        assertEq(hub.viewScore(workers[0]), 1, "accurate +1");
        assertEq(uint256(hub.viewContribution(t, workers[1]).status), C_CONTRIBUTED, "never proved");
    }

    /// initializeAndContribute: the first contribution initializes the task in the same call.
    function test_initializeAndContribute() public {
        bytes32 dealid = classicDeal(3, 2, "init and contribute");
        bytes32 t = taskId(dealid, 1);
        bytes32 rh = resultHash(t, GOOD);
        bytes32 seal = resultSeal(workers[0], t, GOOD);
        bytes memory auth = authorization(workers[0], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, dealid, 2));
        vm.prank(workers[0]);
        hub.initializeAndContribute(dealid, 2, rh, seal, address(0), "", auth);

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskInitialize(t, workerpool);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskContribute(t, workers[0], rh);
        vm.prank(workers[0]);
        assertEq(hub.initializeAndContribute(dealid, 1, rh, seal, address(0), "", auth), t, "task id");
        assertEq(status(t), ACTIVE, "initialized, one vote");
        assertBal(workers[0], INITIAL_DEPOSIT - WORKER_STAKE, WORKER_STAKE, "stake locked");
        assertEq(contributionStatus(t, workers[0]), C_CONTRIBUTED, "contributed");

        // the task now exists: the combined call cannot initialize it again
        bytes32 rh1 = resultHash(t, GOOD);
        bytes32 seal1 = resultSeal(workers[1], t, GOOD);
        bytes memory auth1 = authorization(workers[1], t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadyInitialized.selector, t));
        vm.prank(workers[1]);
        hub.initializeAndContribute(dealid, 1, rh1, seal1, address(0), "", auth1);
        contributeFrom(workers[1], t, GOOD);
        assertEq(status(t), REVEALING, "consensus");
    }

    /// revealAndFinalize: the scheduler reveals the consensus digest for the winners whose
    /// seal matches, and finalizes in the same call.
    function test_revealAndFinalize() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "reveal and finalize");
        contributeFrom(workers[0], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(ACTIVE)));
        vm.prank(scheduler);
        hub.revealAndFinalize(t, GOOD, "", "");
        contributeFrom(workers[1], t, GOOD);

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotScheduler.selector, stranger, scheduler));
        vm.prank(stranger);
        hub.revealAndFinalize(t, GOOD, "", "");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealMismatch.selector, t, scheduler));
        vm.prank(scheduler);
        hub.revealAndFinalize(t, BAD_RESULT, "", "");

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskReveal(t, workers[0], GOOD);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskReveal(t, workers[1], GOOD);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskFinalize(t, bytes("ipfs://both"));
        vm.prank(scheduler);
        hub.revealAndFinalize(t, GOOD, "ipfs://both", "");

        Core.Task memory task = hub.viewTask(t);
        assertEq(taskStatusOf(task), COMPLETED, "completed");
        assertEq(task.revealCounter, 2, "both revealed");
        assertEq(task.resultDigest, GOOD, "digest");
        uint256 share = WORKERPOOL_PRICE * 99 / 100 / 2;
        assertBal(workers[0], INITIAL_DEPOSIT + share, 0, "w0 paid as in finalize");
        assertBal(workers[1], INITIAL_DEPOSIT + share, 0, "w1 paid as in finalize");
        assertBal(scheduler, INITIAL_DEPOSIT + WORKERPOOL_PRICE - 2 * share, 0, "scheduler");
        assertEq(hub.viewScore(workers[0]), 1, "score +1");

        uint256 fd = startOf(dealid) + 10 * XS;
        (bytes32 d2, bytes32 t2) = newTask(3, "late");
        contributeFrom(workers[0], t2, GOOD);
        contributeFrom(workers[1], t2, GOOD);
        fd = startOf(d2) + 10 * XS;
        vm.warp(fd);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FinalDeadlinePassed.selector, t2, fd));
        vm.prank(scheduler);
        hub.revealAndFinalize(t2, GOOD, "", "");
    }

    // ------------------------------------------------------------------ replication

    /// Trust 5..8 with fresh workers (w = 2): two agreeing votes give 4/5, which is not more than
    /// 1 - 1/5; three give 8/9 > 1 - 1/8.
    function test_replication_threeAgreeingVotesNeeded() public {
        for (uint256 trust = 5; trust <= 8; ++trust) {
            (, bytes32 t) = newTask(trust, keccak256(abi.encode("three votes", trust)));
            contributeFrom(workers[0], t, GOOD);
            contributeFrom(workers[1], t, GOOD);
            assertEq(status(t), ACTIVE, "two votes are not enough");
            contributeFrom(workers[2], t, GOOD);
            assertEq(status(t), REVEALING, "three votes are");
            assertEq(hub.viewTask(t).winnerCounter, 3, "three winners");
        }
        // trust 9: 8 * 9 = 72 is not > 9 * 8 = 72
        (, bytes32 t9) = newTask(9, "trust 9");
        contributeFrom(workers[0], t9, GOOD);
        contributeFrom(workers[1], t9, GOOD);
        contributeFrom(workers[2], t9, GOOD);
        assertEq(status(t9), ACTIVE, "trust 9 needs a fourth vote");
    }

    /// Three workers, one of them wrong, trust 5. With fresh workers (w = 2) a dissenting vote
    /// makes trust >= 3 unreachable with three votes (4/7 < 2/3), so the two honest workers
    /// first earn reputation in earlier replicated tasks: scores 15 (w = 4) and 27 (w = 8); the
    /// wrong worker has score 5 (w = 2). Votes: wrong (2/3 <= 4/5), honest 4 (4/7), honest 8
    /// (32/35 > 4/5: consensus).
    function test_replication_wrongWorkerSlashed() public {
        address honestA = workers[0];
        address honestB = workers[1];
        address wrong = workers[2];
        address helper = extraWorker(0);
        uint256 n;
        for (uint256 i = 0; i < 15; ++i) {
            agreeingPair(honestA, honestB, n++);
        }
        for (uint256 i = 0; i < 5; ++i) {
            agreeingPair(wrong, honestB, n++);
        }
        for (uint256 i = 0; i < 7; ++i) {
            agreeingPair(helper, honestB, n++);
        }
        assertEq(hub.viewScore(honestA), 15, "score A");
        assertEq(hub.viewScore(honestB), 27, "score B");
        assertEq(hub.viewScore(wrong), 5, "score wrong");

        Bal memory a0 = bal(honestA);
        Bal memory b0 = bal(honestB);
        Bal memory w0 = bal(wrong);
        Bal memory s0 = bal(scheduler);
        Bal memory r0 = bal(requester);
        Bal memory app0 = bal(appOwner);

        (, bytes32 t) = newTask(5, "main");
        contributeFrom(wrong, t, BAD_RESULT);
        assertEq(status(t), ACTIVE, "after the wrong vote");
        contributeFrom(honestA, t, GOOD);
        assertEq(status(t), ACTIVE, "after one honest vote");
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskConsensus(t, resultHash(t, GOOD));
        contributeFrom(honestB, t, GOOD);
        Core.Task memory task = hub.viewTask(t);
        assertEq(taskStatusOf(task), REVEALING, "consensus at the third vote");
        assertEq(task.consensusValue, resultHash(t, GOOD), "consensus value");
        assertEq(task.winnerCounter, 2, "two winners");
        assertEq(task.revealDeadline, block.timestamp + 2 * XS, "reveal deadline");
        assertEq(task.contributors.length, 3, "three contributors");
        assertEq(hub.viewContribution(t, wrong).weight, 1, "log2(2)");
        assertEq(hub.viewContribution(t, honestA).weight, 2, "log2(4)");
        assertEq(hub.viewContribution(t, honestB).weight, 3, "log2(8)");
        assertBal(wrong, w0.free - WORKER_STAKE, w0.frozen + WORKER_STAKE, "wrong staked");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotInConsensus.selector, t, wrong));
        vm.prank(wrong);
        hub.reveal(t, BAD_RESULT);

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.TaskReveal(t, honestA, GOOD);
        revealFrom(honestA, t, GOOD);
        revealFrom(honestB, t, GOOD);
        assertEq(hub.viewTask(t).revealCounter, 2, "two reveals");
        assertEq(hub.viewTask(t).resultDigest, GOOD, "digest");

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.FaultyContribution(wrong, t);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.AccurateContribution(honestA, t);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.AccurateContribution(honestB, t);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskFinalize(t, bytes("ipfs://consensus"));
        finalizeAsScheduler(t, "ipfs://consensus", "");

        // totalReward = price + the wrong worker's stake; workers share 99 % by log-weight 2:3
        uint256 totalReward = WORKERPOOL_PRICE + WORKER_STAKE;
        uint256 workersReward = totalReward * 99 / 100;
        uint256 shareA = workersReward * 2 / 5;
        uint256 shareB = workersReward * 3 / 5;
        assertEq(shareA, 5_148_000_000, "share A");
        assertEq(shareB, 7_722_000_000, "share B");
        assertBal(honestA, a0.free + shareA, a0.frozen, "honest A paid, stake back");
        assertBal(honestB, b0.free + shareB, b0.frozen, "honest B paid, stake back");
        assertBal(wrong, w0.free - WORKER_STAKE, w0.frozen, "wrong worker's stake seized");
        assertBal(scheduler, s0.free + totalReward - shareA - shareB, s0.frozen, "scheduler rest, pool stake back");
        assertBal(requester, r0.free - APP_PRICE - WORKERPOOL_PRICE, r0.frozen, "requester paid");
        assertBal(appOwner, app0.free + APP_PRICE, 0, "app owner");
        assertEq(hub.viewScore(honestA), 16, "score A + 1");
        assertEq(hub.viewScore(honestB), 28, "score B + 1");
        assertEq(hub.viewScore(wrong), uint256(5) * 2 / 3, "wrong loses a third (floor)");
        assertEq(uint256(hub.viewContribution(t, honestA).status), C_PROVED, "A proved");
        assertEq(uint256(hub.viewContribution(t, wrong).status), C_CONTRIBUTED, "wrong not proved");
        assertEq(status(t), COMPLETED, "completed");
        assertEq(hub.resultFor(t), bytes(""), "no callback data");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    // ------------------------------------------------------------------ reopen

    function test_reopen_thenNewConsensus() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "reopen");
        address w3 = extraWorker(0);
        contributeFrom(workers[0], t, GOOD);
        contributeFrom(workers[1], t, GOOD);
        uint256 rd = hub.viewTask(t).revealDeadline;
        assertEq(rd, block.timestamp + 2 * XS, "reveal deadline");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotScheduler.selector, workers[0], scheduler));
        vm.prank(workers[0]);
        hub.reopen(t);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealDeadlineNotReached.selector, t, rd));
        vm.prank(scheduler);
        hub.reopen(t);

        vm.warp(rd);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskReopen(t);
        vm.prank(scheduler);
        hub.reopen(t);

        Core.Task memory task = hub.viewTask(t);
        assertEq(taskStatusOf(task), ACTIVE, "active again");
        assertEq(task.consensusValue, bytes32(0), "no consensus");
        assertEq(task.revealDeadline, 0, "no reveal deadline");
        assertEq(task.winnerCounter, 0, "no winners");
        assertEq(task.contributors.length, 2, "contributors kept");
        assertEq(task.contributionDeadline, startOf(dealid) + 7 * XS, "contribution deadline not extended");
        assertEq(contributionStatus(t, workers[0]), C_REJECTED, "w0 rejected");
        assertEq(contributionStatus(t, workers[1]), C_REJECTED, "w1 rejected");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(ACTIVE)));
        vm.prank(scheduler);
        hub.reopen(t);

        // rejected workers cannot contribute again
        bytes memory auth0 = authorization(workers[0], t, address(0));
        bytes32 rh0 = resultHash(t, BAD_RESULT);
        bytes32 seal0 = resultSeal(workers[0], t, BAD_RESULT);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.AlreadyContributed.selector, t, workers[0]));
        vm.prank(workers[0]);
        hub.contribute(t, rh0, seal0, address(0), "", auth0);

        // the rejected group no longer counts: two new votes reach trust 3 again
        contributeFrom(workers[2], t, BAD_RESULT);
        assertEq(status(t), ACTIVE, "one new vote");
        contributeFrom(w3, t, BAD_RESULT);
        assertEq(status(t), REVEALING, "new consensus");
        assertEq(hub.viewTask(t).consensusValue, resultHash(t, BAD_RESULT), "new value");
        assertEq(hub.viewTask(t).winnerCounter, 2, "two new winners");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotInConsensus.selector, t, workers[0]));
        vm.prank(workers[0]);
        hub.reveal(t, GOOD);
        revealFrom(workers[2], t, BAD_RESULT);
        revealFrom(w3, t, BAD_RESULT);
        finalizeAsScheduler(t, "ipfs://second", "");

        uint256 totalReward = WORKERPOOL_PRICE + 2 * WORKER_STAKE;
        uint256 share = totalReward * 99 / 100 / 2;
        assertBal(workers[0], INITIAL_DEPOSIT - WORKER_STAKE, 0, "rejected w0 seized");
        assertBal(workers[1], INITIAL_DEPOSIT - WORKER_STAKE, 0, "rejected w1 seized");
        assertBal(workers[2], INITIAL_DEPOSIT + share, 0, "w2 paid");
        assertBal(w3, INITIAL_DEPOSIT + share, 0, "w3 paid");
        assertBal(scheduler, INITIAL_DEPOSIT + totalReward - 2 * share, 0, "scheduler");
        assertEq(hub.viewScore(workers[2]), 1, "w2 +1");
        assertEq(hub.viewTask(t).resultDigest, BAD_RESULT, "digest of the second consensus");
    }

    function test_reopen_rejections() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "reopen rules");
        contributeFrom(workers[0], t, GOOD);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(ACTIVE)));
        vm.prank(scheduler);
        hub.reopen(t);
        contributeFrom(workers[1], t, GOOD);
        revealFrom(workers[0], t, GOOD);
        vm.warp(hub.viewTask(t).revealDeadline);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.RevealHappened.selector, 1));
        vm.prank(scheduler);
        hub.reopen(t);
        uint256 fd = startOf(dealid) + 10 * XS;
        vm.warp(fd);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FinalDeadlinePassed.selector, t, fd));
        vm.prank(scheduler);
        hub.reopen(t);
    }

    // ------------------------------------------------------------------ claim and kitty

    function test_claim_sponsoredDeal_refundsSponsorAndFeedsKitty() public {
        OrderSet memory s = signAll(defaultOrders());
        s.r.trust = 3;
        s = signAll(s);
        vm.prank(sponsor);
        bytes32 dealid = hub.sponsorMatchOrders(s.a, s.d, s.w, s.r);
        bytes32 t = hub.initialize(dealid, 0);
        contributeFrom(workers[0], t, GOOD);
        uint256 price = APP_PRICE + WORKERPOOL_PRICE;
        assertBal(sponsor, INITIAL_DEPOSIT - price, price, "sponsor locked");

        uint256 fd = startOf(dealid) + 10 * XS;
        vm.warp(fd - 1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FinalDeadlineNotReached.selector, t, fd));
        hub.claim(t);

        vm.warp(fd);
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.Reward(KITTY, POOL_STAKE, t);
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.Lock(KITTY, POOL_STAKE);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskClaimed(t);
        vm.prank(stranger); // anyone may claim
        hub.claim(t);

        assertEq(status(t), FAILED, "failed");
        assertBal(sponsor, INITIAL_DEPOSIT, 0, "sponsor refunded");
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester untouched");
        assertBal(scheduler, INITIAL_DEPOSIT - POOL_STAKE, 0, "pool stake seized");
        assertBal(KITTY, 0, POOL_STAKE, "kitty fed");
        assertBal(workers[0], INITIAL_DEPOSIT, 0, "contributor stake returned");
        assertEq(hub.viewScore(workers[0]), 0, "no score change");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotClaimable.selector, t, uint8(FAILED)));
        hub.claim(t);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotRevealing.selector, t, uint8(FAILED)));
        vm.prank(scheduler);
        hub.finalize(t, "", "");

        // later successes pay the scheduler the kitty's share: max(10 %, 1 RLC), capped
        uint256[4] memory expectedShare = [uint256(1e9), 1e9, 1e9, 0];
        for (uint256 i = 0; i < 4; ++i) {
            uint256 before = hub.balanceOf(scheduler);
            uint256 kittyBefore = hub.frozenOf(KITTY);
            if (i == 0) {
                // the classic finalize pays the kitty share too
                (, bytes32 rep) = newTask(3, "after kitty, replicated");
                contributeFrom(workers[1], rep, GOOD);
                contributeFrom(workers[2], rep, GOOD);
                revealFrom(workers[1], rep, GOOD);
                revealFrom(workers[2], rep, GOOD);
                vm.expectEmit(false, false, false, true, address(hub));
                emit IPocoEvents.Seize(KITTY, 1e9, rep);
                finalizeAsScheduler(rep, "", "");
            } else {
                (, bytes32 ok) = newTask(1, keccak256(abi.encode("after kitty", i)));
                soloFinalize(workers[1], ok, GOOD, "");
            }
            uint256 schedulerPart = WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100;
            assertEq(hub.balanceOf(scheduler), before + schedulerPart + expectedShare[i], "scheduler gets kitty share");
            assertEq(hub.frozenOf(KITTY), kittyBefore - expectedShare[i], "kitty shrinks");
        }
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    /// A failed task of a pool priced `price` feeds the kitty with floor(price * 30 / 100).
    function failTaskWithPoolPrice(uint256 price, bytes32 salt) internal {
        OrderSet memory s = defaultOrders();
        s.w.workerpoolprice = price;
        s.w.salt = salt;
        s.r.workerpoolmaxprice = price;
        s.r.salt = salt;
        bytes32 dealid = matchSet(s);
        vm.warp(block.timestamp + 10 * XS);
        bytes32[] memory deals = new bytes32[](1);
        deals[0] = dealid;
        uint256[] memory idxs = new uint256[](1);
        hub.initializeAndClaimArray(deals, idxs);
    }

    /// A solo task of a pool priced `price` (pool stake 30 %).
    function pricedTask(uint256 price, bytes32 salt) internal returns (bytes32 taskid) {
        OrderSet memory s = defaultOrders();
        s.w.workerpoolprice = price;
        s.w.salt = salt;
        s.r.workerpoolmaxprice = price;
        s.r.salt = salt;
        taskid = hub.initialize(matchSet(s), 0);
    }

    function test_kitty_shareBranches() public {
        // 10 % branch: a 200 RLC pool fails -> kitty 60 RLC -> share 6 RLC for a task whose
        // pool stake covers it (30 RLC pool: stake 9 RLC)
        failTaskWithPoolPrice(200e9, "big");
        assertEq(hub.frozenOf(KITTY), 60e9, "kitty 60");
        uint256 before = hub.balanceOf(scheduler);
        bytes32 t = pricedTask(30e9, "pay 1");
        soloFinalize(workers[0], t, GOOD, "");
        uint256 schedulerPart = 30e9 - 30e9 * 99 / 100;
        assertEq(hub.balanceOf(scheduler), before + schedulerPart + 6e9, "10 % of 60");
        assertEq(hub.frozenOf(KITTY), 54e9, "kitty 54");

        // the share is recomputed from what is left
        bytes32 t2 = pricedTask(30e9, "pay 2");
        soloFinalize(workers[0], t2, GOOD, "");
        assertEq(hub.frozenOf(KITTY), 54e9 - 5.4e9, "10 % of 54");

        // stake branch (not in PoCo): a 10 RLC task (stake 3 RLC) gets at most 3 RLC
        before = hub.balanceOf(scheduler);
        (, bytes32 t3) = newTask(1, "pay 3");
        soloFinalize(workers[0], t3, GOOD, "");
        schedulerPart = WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100;
        assertEq(hub.balanceOf(scheduler), before + schedulerPart + POOL_STAKE, "capped at the task's pool stake");
        assertEq(hub.frozenOf(KITTY), 54e9 - 5.4e9 - POOL_STAKE, "kitty less the stake");

        // a zero-price task gets nothing
        uint256 kitty = hub.frozenOf(KITTY);
        before = hub.balanceOf(scheduler);
        bytes32 t4 = pricedTask(0, "free");
        soloFinalize(workers[0], t4, GOOD, "");
        assertEq(hub.balanceOf(scheduler), before, "nothing for a free task");
        assertEq(hub.frozenOf(KITTY), kitty, "kitty untouched");
    }

    function test_kitty_capAndMinimum() public {
        failTaskWithPoolPrice(1e9, "small"); // kitty 0.3 RLC
        assertEq(hub.frozenOf(KITTY), 0.3e9, "kitty 0.3");
        uint256 before = hub.balanceOf(scheduler);
        (, bytes32 t) = newTask(1, "cap");
        soloFinalize(workers[0], t, GOOD, "");
        uint256 schedulerPart = WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100;
        assertEq(hub.balanceOf(scheduler), before + schedulerPart + 0.3e9, "capped at the kitty");
        assertEq(hub.frozenOf(KITTY), 0, "kitty empty");

        failTaskWithPoolPrice(20e9, "medium"); // kitty 6 RLC: 10 % = 0.6 < 1 -> 1 RLC
        before = hub.balanceOf(scheduler);
        (, bytes32 t2) = newTask(1, "min");
        soloFinalize(workers[0], t2, GOOD, "");
        assertEq(hub.balanceOf(scheduler), before + schedulerPart + 1e9, "minimum 1 RLC");
        assertEq(hub.frozenOf(KITTY), 5e9, "kitty 5");
    }

    /// Claim of a task in REVEALING (nobody revealed): every contributor gets its stake back.
    function test_claim_revealingTask_returnsAllStakes() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "claim revealing");
        contributeFrom(workers[0], t, GOOD);
        contributeFrom(workers[1], t, GOOD);
        assertEq(status(t), REVEALING, "revealing");
        vm.warp(startOf(dealid) + 10 * XS);
        hub.claim(t);
        assertBal(workers[0], INITIAL_DEPOSIT, 0, "w0 stake back");
        assertBal(workers[1], INITIAL_DEPOSIT, 0, "w1 stake back");
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester refunded");
        assertEq(hub.viewScore(workers[0]), 0, "no penalty");
        assertEq(status(t), FAILED, "failed");
        // an uninitialized task cannot be claimed directly
        bytes32 other = taskId(classicDeal(1, 1, "uninit"), 0);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotClaimable.selector, other, uint8(0)));
        hub.claim(other);
    }

    // ------------------------------------------------------------------ callbacks

    function test_callback_recordingConsumer() public {
        RecordingConsumer consumer = new RecordingConsumer();
        (, bytes32 t) = callbackTask(address(consumer), 1, "cb");
        vm.expectRevert(abi.encodeWithSignature("Error(string)", "task-pending"));
        hub.resultFor(t);
        bytes memory data = abi.encode(uint256(42));
        soloFinalize(workers[0], t, keccak256(data), data);
        assertEq(consumer.calls(), 1, "called once");
        assertEq(consumer.lastTaskId(), t, "task id");
        assertEq(consumer.lastData(), data, "data");
        assertEq(hub.resultFor(t), data, "resultFor");
        assertEq(hub.viewTask(t).resultsCallback, data, "stored");
    }

    function test_callback_failingConsumersDoNotBlockPayment() public {
        RevertingConsumer reverting = new RevertingConsumer();
        GasBurnerConsumer burner = new GasBurnerConsumer();
        bytes memory data = abi.encode("result", uint256(7));
        uint256 workerReward = WORKERPOOL_PRICE * 99 / 100;

        (, bytes32 t1) = callbackTask(address(reverting), 1, "reverting");
        soloFinalize(workers[0], t1, keccak256(data), data);
        assertEq(status(t1), COMPLETED, "completed despite revert");
        assertEq(hub.resultFor(t1), data, "resultFor (reverting)");
        assertBal(workers[0], INITIAL_DEPOSIT + workerReward, 0, "paid (reverting)");

        (, bytes32 t2) = callbackTask(address(burner), 1, "burner");
        soloFinalize(workers[1], t2, keccak256(data), data);
        assertEq(status(t2), COMPLETED, "completed despite infinite loop");
        assertEq(hub.resultFor(t2), data, "resultFor (burner)");
        assertEq(burner.counter(), 0, "the consumer's writes were undone");
        assertBal(workers[1], INITIAL_DEPOSIT + workerReward, 0, "paid (burner)");
        assertBal(requester, INITIAL_DEPOSIT - 2 * (APP_PRICE + WORKERPOOL_PRICE), 0, "requester paid twice");
    }

    function test_callback_mismatch() public {
        RecordingConsumer consumer = new RecordingConsumer();
        (, bytes32 t) = callbackTask(address(consumer), 1, "mismatch");
        bytes memory data = abi.encode(uint256(42));
        bytes memory auth = authorization(workers[0], t, address(0));
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", data, address(0), "", auth);
        // a callback deal needs the callback data
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);

        // without a callback, data must still match the digest if given
        (, bytes32 plain) = newTask(1, "plain");
        bytes memory auth2 = authorization(workers[0], plain, address(0));
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(plain, GOOD, "", data, address(0), "", auth2);
        soloFinalize(workers[0], plain, keccak256(data), data);
        assertEq(hub.resultFor(plain), data, "stored without a callback");
    }

    /// Replicated path: the revealed digest must be keccak256(resultsCallback).
    function test_callback_finalizeReplicated() public {
        RecordingConsumer consumer = new RecordingConsumer();
        (, bytes32 t) = callbackTask(address(consumer), 3, "replicated cb");
        bytes memory data = abi.encode(uint256(1234));
        bytes32 dg = keccak256(data);
        contributeFrom(workers[0], t, dg);
        contributeFrom(workers[1], t, dg);
        revealFrom(workers[0], t, dg);
        revealFrom(workers[1], t, dg);
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(scheduler);
        hub.finalize(t, "", abi.encode(uint256(1)));
        finalizeAsScheduler(t, "ipfs://cb", data);
        assertEq(consumer.lastTaskId(), t, "consumer called");
        assertEq(consumer.lastData(), data, "consumer data");
        assertEq(hub.resultFor(t), data, "resultFor");
    }

    /// A caller that starves the callback (63/64 rule) makes the whole call revert.
    function test_callback_notEnoughGasAfterCallback() public {
        GasBurnerConsumer burner = new GasBurnerConsumer();
        (, bytes32 t) = callbackTask(address(burner), 1, "starved");
        bytes memory data = abi.encode(uint256(9));
        bytes memory call = abi.encodeCall(
            hub.contributeAndFinalize,
            (t, keccak256(data), bytes("r"), data, address(0), bytes(""), authorization(workers[0], t, address(0)))
        );
        bool sawStarvation;
        bool succeeded;
        uint256 gasUsedForSuccess;
        for (uint256 g = 150_000; g <= 2_000_000; g += 5_000) {
            vm.prank(workers[0]);
            (bool ok, bytes memory ret) = address(hub).call{gas: g}(call);
            if (ok) {
                succeeded = true;
                gasUsedForSuccess = g;
                break;
            }
            if (keccak256(ret) == keccak256(err(IPocoErrors.NotEnoughGasAfterCallback.selector))) sawStarvation = true;
            assertEq(status(t), ACTIVE, "a reverted attempt changes nothing");
        }
        assertTrue(sawStarvation, "some gas limit starves the callback and reverts NotEnoughGasAfterCallback");
        assertTrue(succeeded, "enough gas succeeds");
        assertGt(gasUsedForSuccess, hub.callbackgas(), "success needs more than the callback gas");
        assertEq(status(t), COMPLETED, "completed with enough gas");
    }

    // ------------------------------------------------------------------ batch helpers

    function test_arrays_initializeClaimAndInitializeAndClaim() public {
        bytes32 d1 = classicDeal(3, 3, "array 1");
        bytes32 d2 = classicDeal(3, 2, "array 2");
        bytes32[] memory deals = new bytes32[](3);
        uint256[] memory idxs = new uint256[](3);
        deals[0] = d1;
        deals[1] = d1;
        deals[2] = d1;
        idxs[1] = 1;
        idxs[2] = 2;
        uint256[] memory short = new uint256[](2);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ArrayLengthMismatch.selector, 3, 2));
        hub.initializeArray(deals, short);
        assertTrue(hub.initializeArray(deals, idxs), "initializeArray");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(status(taskId(d1, i)), ACTIVE, "initialized");
        }
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadyInitialized.selector, taskId(d1, 0)));
        hub.initializeArray(deals, idxs);

        contributeFrom(workers[0], taskId(d1, 1), GOOD);
        vm.warp(block.timestamp + 10 * XS);
        bytes32[] memory tasks = new bytes32[](3);
        tasks[0] = taskId(d1, 0);
        tasks[1] = taskId(d1, 1);
        tasks[2] = taskId(d2, 0); // not initialized: the whole batch reverts
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotClaimable.selector, tasks[2], uint8(0)));
        hub.claimArray(tasks);
        tasks[2] = taskId(d1, 2);
        assertTrue(hub.claimArray(tasks), "claimArray");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(status(taskId(d1, i)), FAILED, "claimed");
        }
        assertBal(workers[0], INITIAL_DEPOSIT, 0, "stake back");

        bytes32[] memory deals2 = new bytes32[](2);
        deals2[0] = d2;
        deals2[1] = d2;
        uint256[] memory idxs2 = new uint256[](2);
        idxs2[1] = 1;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ArrayLengthMismatch.selector, 2, 3));
        hub.initializeAndClaimArray(deals2, idxs);
        assertTrue(hub.initializeAndClaimArray(deals2, idxs2), "initializeAndClaimArray");
        assertEq(status(taskId(d2, 0)), FAILED, "d2/0 claimed");
        assertEq(status(taskId(d2, 1)), FAILED, "d2/1 claimed");
        assertBal(requester, INITIAL_DEPOSIT, 0, "all five tasks refunded");
        assertBal(scheduler, INITIAL_DEPOSIT - 5 * POOL_STAKE, 0, "five stakes seized");
        assertBal(KITTY, 0, 5 * POOL_STAKE, "kitty");
    }

    // ------------------------------------------------------------------ views

    /// viewContribution returns the low 72 bits of the contribution's result seal (the part the
    /// hub keeps for the reveal check, see contracts/README.md), for the classic path and for
    /// contributeAndFinalize.
    function test_viewContribution_returnsLow72BitsOfResultSeal() public {
        (, bytes32 t) = newTask(3, "seal");
        contributeFrom(workers[0], t, GOOD);
        bytes32 low72 = bytes32((uint256(1) << 72) - 1);
        assertEq(
            hub.viewContribution(t, workers[0]).resultSeal, resultSeal(workers[0], t, GOOD) & low72, "classic seal"
        );
        (, bytes32 solo) = newTask(1, "solo seal");
        soloFinalize(workers[1], solo, GOOD, "");
        assertEq(
            hub.viewContribution(solo, workers[1]).resultSeal, resultSeal(workers[1], solo, GOOD) & low72, "solo seal"
        );
    }

    function test_views_taskAndContribution() public {
        (bytes32 dealid, bytes32 t) = newTask(3, "views");
        Core.Contribution memory none = hub.viewContribution(t, workers[0]);
        assertEq(uint256(none.status), 0, "unset");
        assertEq(none.resultHash, bytes32(0), "no hash");
        contributeFrom(workers[0], t, GOOD);
        Core.Contribution memory c = hub.viewContribution(t, workers[0]);
        assertEq(uint256(c.status), C_CONTRIBUTED, "contributed");
        assertEq(c.resultHash, resultHash(t, GOOD), "hash");
        assertEq(c.enclaveChallenge, address(0), "no enclave");
        assertEq(c.weight, 1, "log2(2)");
        contributeFrom(workers[1], t, GOOD);
        Core.Task memory task = hub.viewTask(t);
        assertEq(taskStatusOf(task), REVEALING, "revealing");
        assertEq(task.dealid, dealid, "dealid");
        assertEq(task.contributors.length, 2, "contributors");
        assertEq(task.contributors[0], workers[0], "first");
        assertEq(task.contributors[1], workers[1], "second");
        assertEq(task.revealCounter, 0, "no reveals");
        assertEq(task.winnerCounter, 2, "winners");
        assertEq(task.finalDeadline, startOf(dealid) + 10 * XS, "final deadline");
        Core.Task memory unknown = hub.viewTask(keccak256("nothing"));
        assertEq(taskStatusOf(unknown), 0, "unknown task");
        assertEq(unknown.finalDeadline, 0, "unknown deadline");
        assertEq(hub.viewScore(stranger), 0, "score 0");
    }
}
