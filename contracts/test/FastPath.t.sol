// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {Vm} from "./utils/Vm.sol";
import {RecordingConsumer, GasBurnerConsumer} from "./utils/Mocks.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";

/// @notice The fast path (trust <= 1): matchOrdersFast / sponsorMatchOrdersFast, pushResultFast,
/// claimFast and viewTaskFast.
contract FastPathTest is PocoTest {
    bytes32 internal constant DIGEST = keccak256("fast result");
    uint8 internal constant PENDING = 0;
    uint8 internal constant DONE = 3;
    uint8 internal constant CLAIMED = 4;

    // ------------------------------------------------------------------ helpers

    function fastMatch(OrderSet memory s) internal returns (bytes32 dealid, IPocoEvents.FastDeal memory deal) {
        s = signAll(s);
        vm.recordLogs();
        bytes32 returned = hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        (dealid, deal) = fastDealFromLogs();
        assertEq(returned, dealid, "returned deal id = announced deal id");
    }

    function pushArgs(address worker, bytes32 dealid, uint256 idx) internal pure returns (bytes memory auth) {
        auth = authorization(worker, taskId(dealid, idx), address(0));
    }

    function push(address worker, IPocoEvents.FastDeal memory deal, bytes32 dealid, uint256 idx) internal {
        bytes memory auth = pushArgs(worker, dealid, idx);
        vm.prank(worker);
        hub.pushResultFast(deal, dealid, idx, DIGEST, bytes("ipfs://r"), "", address(0), "", auth);
    }

    function expectPushRevert(
        address worker,
        IPocoEvents.FastDeal memory deal,
        bytes32 dealid,
        uint256 idx,
        bytes memory reason
    ) internal {
        bytes memory auth = pushArgs(worker, dealid, idx);
        vm.expectRevert(reason);
        vm.prank(worker);
        hub.pushResultFast(deal, dealid, idx, DIGEST, bytes("ipfs://r"), "", address(0), "", auth);
    }

    function copy(IPocoEvents.FastDeal memory d) internal pure returns (IPocoEvents.FastDeal memory c) {
        c = abi.decode(abi.encode(d), (IPocoEvents.FastDeal));
    }

    // ------------------------------------------------------------------ match and push

    function test_fast_matchAndPush_payouts() public {
        vm.warp(1_700_000_000);
        OrderSet memory s = signAll(datasetOrders());
        s.r.volume = 2;
        s.r.beneficiary = address(0xBE4E);
        s = signAll(s);
        bytes32 expectedDeal = keccak256(abi.encodePacked(hashOf(s.r), uint256(0)));
        vm.recordLogs();
        bytes32 dealid = hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        assertEq(dealid, expectedDeal, "deal id as classic");

        // the SchedulerNoticeFast event carries everything the scheduler needs
        Vm.Log[] memory logs = vm.getRecordedLogs();
        IPocoEvents.FastDeal memory deal;
        bool found;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].topics.length == 3 && logs[i].topics[0] == IPocoEvents.SchedulerNoticeFast.selector) {
                assertEq(logs[i].topics[1], bytes32(uint256(uint160(workerpool))), "indexed workerpool");
                assertEq(logs[i].topics[2], dealid, "indexed deal");
                address eApp;
                address eDataset;
                uint256 eCategory;
                address eBeneficiary;
                string memory eParams;
                (eApp, eDataset, eCategory, eBeneficiary, eParams, deal) =
                    abi.decode(logs[i].data, (address, address, uint256, address, string, IPocoEvents.FastDeal));
                assertEq(eApp, app, "app");
                assertEq(eDataset, dataset, "dataset");
                assertEq(eCategory, 0, "category");
                assertEq(eBeneficiary, address(0xBE4E), "beneficiary");
                assertEq(eParams, PARAMS, "params");
                found = true;
            }
        }
        assertTrue(found, "SchedulerNoticeFast emitted");
        assertEq(deal.appOwner, appOwner, "appOwner");
        assertEq(deal.appPrice, APP_PRICE, "appPrice");
        assertEq(deal.datasetOwner, datasetOwner, "datasetOwner");
        assertEq(deal.datasetPrice, DATASET_PRICE, "datasetPrice");
        assertEq(deal.workerpoolOwner, scheduler, "workerpoolOwner");
        assertEq(deal.workerpoolPrice, WORKERPOOL_PRICE, "workerpoolPrice");
        assertEq(deal.workerReward, WORKERPOOL_PRICE * 99 / 100, "workerReward");
        assertEq(deal.sponsor, requester, "sponsor = requester");
        assertEq(deal.callback, address(0), "callback");
        assertEq(deal.tag, bytes32(0), "tag");
        assertEq(deal.startTime, 1_700_000_000, "startTime");
        assertEq(deal.timeref, XS, "timeref");
        assertEq(deal.botFirst, 0, "botFirst");
        assertEq(deal.botSize, 2, "botSize");

        uint256 price = APP_PRICE + DATASET_PRICE + WORKERPOOL_PRICE;
        assertBal(requester, INITIAL_DEPOSIT - 2 * price, 2 * price, "requester locked");
        assertBal(scheduler, INITIAL_DEPOSIT - 2 * POOL_STAKE, 2 * POOL_STAKE, "scheduler staked");
        assertEq(hub.viewConsumed(hashOf(s.r)), 2, "consumed like classic");
        // a fast deal is not a classic deal
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, dealid, 0));
        hub.initialize(dealid, 0);

        bytes memory auth = pushArgs(workers[0], dealid, 0);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.ResultPushedFast(dealid, 0, workers[0], DIGEST, bytes("ipfs://r"));
        vm.prank(workers[0]);
        hub.pushResultFast(deal, dealid, 0, DIGEST, bytes("ipfs://r"), "", address(0), "", auth);

        uint256 workerReward = WORKERPOOL_PRICE * 99 / 100;
        assertBal(requester, INITIAL_DEPOSIT - 2 * price, price, "one task paid");
        assertBal(appOwner, INITIAL_DEPOSIT + APP_PRICE, 0, "app owner");
        assertBal(datasetOwner, INITIAL_DEPOSIT + DATASET_PRICE, 0, "dataset owner");
        assertBal(workers[0], INITIAL_DEPOSIT + workerReward, 0, "worker, no stake");
        assertBal(
            scheduler,
            INITIAL_DEPOSIT - POOL_STAKE + WORKERPOOL_PRICE - workerReward,
            POOL_STAKE,
            "scheduler: one stake back, rest of the price"
        );
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "task 0 done");
        assertEq(hub.viewTaskFast(deal, dealid, 1), PENDING, "task 1 pending");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    function test_fast_trustAboveOneRefused() public {
        OrderSet memory s = signAll(defaultOrders());
        s.r.trust = 2;
        s = signAll(s);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TrustAboveOne.selector, 2));
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TrustAboveOne.selector, 2));
        vm.prank(sponsor);
        hub.sponsorMatchOrdersFast(s.a, s.d, s.w, s.r);
        s.r.trust = 0;
        s = signAll(s);
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        // every classic rule still applies, e.g. the price
        s.r.salt = keccak256("other");
        s.r.trust = 1;
        s.r.appmaxprice = APP_PRICE - 1;
        s = signAll(s);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.AppPriceTooHigh.selector, APP_PRICE, APP_PRICE - 1));
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
    }

    function test_fast_dealMismatch() public {
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(defaultOrders());
        bytes memory mismatch = abi.encodeWithSelector(IPocoErrors.FastDealMismatch.selector, dealid);

        IPocoEvents.FastDeal memory d = copy(deal);
        d.workerReward += 1;
        expectPushRevert(workers[0], d, dealid, 0, mismatch);
        d = copy(deal);
        d.sponsor = stranger;
        expectPushRevert(workers[0], d, dealid, 0, mismatch);
        d = copy(deal);
        d.botSize += 1;
        expectPushRevert(workers[0], d, dealid, 0, mismatch);
        d = copy(deal);
        d.startTime += 1;
        expectPushRevert(workers[0], d, dealid, 0, mismatch);
        d = copy(deal);
        d.appOwner = stranger;
        expectPushRevert(workers[0], d, dealid, 0, mismatch);
        d = copy(deal);
        d.tag = bytes32(uint256(1));
        expectPushRevert(workers[0], d, dealid, 0, mismatch);

        d = copy(deal);
        d.timeref = 1;
        vm.expectRevert(mismatch);
        hub.claimFast(d, dealid, 0);
        vm.expectRevert(mismatch);
        hub.viewTaskFast(d, dealid, 0);

        bytes32 unknown = keccak256("unknown");
        expectPushRevert(
            workers[0], deal, unknown, 0, abi.encodeWithSelector(IPocoErrors.UnknownFastDeal.selector, unknown)
        );
        push(workers[0], deal, dealid, 0); // the true fields pass
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "pushed");
    }

    function test_fast_doublePushRefused() public {
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(defaultOrders());
        push(workers[0], deal, dealid, 0);
        expectPushRevert(
            workers[1], deal, dealid, 0, abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 0)
        );
        expectPushRevert(
            workers[0], deal, dealid, 0, abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 0)
        );
    }

    /// Indexes are absolute: a deal from a partly consumed request covers [botFirst, botFirst+botSize).
    function test_fast_indexRangeIsAbsolute() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 5;
        s.w.volume = 2;
        (bytes32 d1, IPocoEvents.FastDeal memory deal1) = fastMatch(s);
        s.w.salt = keccak256("second pool order");
        s.w.volume = 10;
        (bytes32 d2, IPocoEvents.FastDeal memory deal2) = fastMatch(s);
        assertEq(d2, keccak256(abi.encodePacked(hashOf(s.r), uint256(2))), "second deal id");
        assertEq(deal2.botFirst, 2, "botFirst");
        assertEq(deal2.botSize, 3, "botSize");

        expectPushRevert(
            workers[0], deal2, d2, 1, abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, d2, 1)
        );
        expectPushRevert(
            workers[0], deal2, d2, 0, abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, d2, 0)
        );
        expectPushRevert(
            workers[0], deal2, d2, 5, abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, d2, 5)
        );
        expectPushRevert(
            workers[0], deal1, d1, 2, abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, d1, 2)
        );
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, d2, 1));
        hub.viewTaskFast(deal2, d2, 1);

        push(workers[0], deal2, d2, 2);
        push(workers[0], deal2, d2, 4);
        push(workers[0], deal1, d1, 1);
        assertEq(hub.viewTaskFast(deal2, d2, 2), DONE, "d2/2");
        assertEq(hub.viewTaskFast(deal2, d2, 3), PENDING, "d2/3");
        assertEq(hub.viewTaskFast(deal2, d2, 4), DONE, "d2/4");
        assertEq(hub.viewTaskFast(deal1, d1, 0), PENDING, "d1/0");
        assertEq(hub.viewTaskFast(deal1, d1, 1), DONE, "d1/1");
        assertBal(
            requester,
            INITIAL_DEPOSIT - 5 * (APP_PRICE + WORKERPOOL_PRICE),
            2 * (APP_PRICE + WORKERPOOL_PRICE),
            "3 of 5 paid"
        );
    }

    /// 200 tasks: indexes 0..95 live in the deal's slot, 96.. in extra words.
    function test_fast_twoHundredTasks() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 200;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        assertEq(deal.botSize, 200, "200 tasks");
        uint256[4] memory pushed = [uint256(0), 95, 96, 199];
        for (uint256 i = 0; i < 4; ++i) {
            push(workers[i % 3], deal, dealid, pushed[i]);
        }
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(hub.viewTaskFast(deal, dealid, pushed[i]), DONE, "pushed task done");
            expectPushRevert(
                workers[0],
                deal,
                dealid,
                pushed[i],
                abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, pushed[i])
            );
        }
        uint256[5] memory untouched = [uint256(1), 94, 97, 150, 198];
        for (uint256 i = 0; i < 5; ++i) {
            assertEq(hub.viewTaskFast(deal, dealid, untouched[i]), PENDING, "neighbour pending");
        }
        expectPushRevert(
            workers[0], deal, dealid, 200, abi.encodeWithSelector(IPocoErrors.TaskIndexOutOfRange.selector, dealid, 200)
        );
        uint256 price = APP_PRICE + WORKERPOOL_PRICE;
        assertBal(requester, INITIAL_DEPOSIT - 200 * price, 196 * price, "four tasks paid");
        assertBal(
            scheduler,
            INITIAL_DEPOSIT - 196 * POOL_STAKE + 4 * (WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100),
            196 * POOL_STAKE,
            "four stakes back"
        );
    }

    /// Beyond 96 + 256 tasks the done-bits go to a second extra word.
    function test_fast_secondExtraWord() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 400;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        uint256[4] memory pushed = [uint256(351), 352, 353, 399];
        for (uint256 i = 0; i < 4; ++i) {
            push(workers[0], deal, dealid, pushed[i]);
            assertEq(hub.viewTaskFast(deal, dealid, pushed[i]), DONE, "done");
        }
        assertEq(hub.viewTaskFast(deal, dealid, 350), PENDING, "350 pending");
        assertEq(hub.viewTaskFast(deal, dealid, 96), PENDING, "96 pending (same bit, word 0)");
        assertEq(hub.viewTaskFast(deal, dealid, 97), PENDING, "97 pending (same bit as 353, word 0)");
        assertEq(hub.viewTaskFast(deal, dealid, 0), PENDING, "0 pending");
        push(workers[0], deal, dealid, 96); // word 0, bit 0: independent of 352 (word 1, bit 0)
        assertEq(hub.viewTaskFast(deal, dealid, 96), DONE, "96 done");
    }

    function test_fast_pushAfterDeadlineRefused() public {
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(defaultOrders());
        uint256 deadline = deal.startTime + 7 * XS;
        vm.warp(deadline);
        expectPushRevert(
            workers[0],
            deal,
            dealid,
            0,
            abi.encodeWithSelector(IPocoErrors.PushDeadlinePassed.selector, dealid, deadline)
        );
        assertEq(hub.viewTaskFast(deal, dealid, 0), PENDING, "still pending");
        vm.warp(deadline - 1);
        push(workers[0], deal, dealid, 0);
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "just in time");
    }

    // ------------------------------------------------------------------ claim

    function test_fast_claimRefundsSponsorAndFeedsKitty() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 2;
        s = signAll(s);
        bytes32 expectedDeal = keccak256(abi.encodePacked(hashOf(s.r), uint256(0)));
        vm.recordLogs();
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.DealSponsored(expectedDeal, sponsor);
        vm.prank(sponsor);
        hub.sponsorMatchOrdersFast(s.a, s.d, s.w, s.r);
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        assertEq(dealid, expectedDeal, "deal id");
        assertEq(deal.sponsor, sponsor, "sponsor committed");
        uint256 price = APP_PRICE + WORKERPOOL_PRICE;
        assertBal(sponsor, INITIAL_DEPOSIT - 2 * price, 2 * price, "sponsor locked");
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester untouched");

        push(workers[0], deal, dealid, 0);
        assertBal(sponsor, INITIAL_DEPOSIT - 2 * price, price, "push takes from the sponsor");

        bytes32 t1 = taskId(dealid, 1);
        uint256 fd = deal.startTime + 10 * XS;
        vm.warp(fd - 1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FinalDeadlineNotReached.selector, t1, fd));
        hub.claimFast(deal, dealid, 1);
        vm.warp(fd);
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.Reward(KITTY, POOL_STAKE, t1);
        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.TaskClaimed(t1);
        vm.prank(stranger);
        hub.claimFast(deal, dealid, 1);

        uint256 schedulerPart = WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100;
        assertBal(sponsor, INITIAL_DEPOSIT - price, 0, "sponsor refunded for the claimed task");
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester never involved");
        assertBal(scheduler, INITIAL_DEPOSIT - POOL_STAKE + schedulerPart, 0, "claimed task's stake seized");
        assertBal(KITTY, 0, POOL_STAKE, "kitty fed");
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "task 0 done");
        assertEq(hub.viewTaskFast(deal, dealid, 1), CLAIMED, "task 1 claimed");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 1));
        hub.claimFast(deal, dealid, 1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 0));
        hub.claimFast(deal, dealid, 0);
        expectPushRevert(
            workers[0], deal, dealid, 1, abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 1)
        );

        // the next successful push pays the scheduler the kitty share (min 1 RLC)
        OrderSet memory n = defaultOrders();
        n.r.salt = keccak256("after kitty");
        (bytes32 d2, IPocoEvents.FastDeal memory deal2) = fastMatch(n);
        uint256 before = hub.balanceOf(scheduler);
        push(workers[1], deal2, d2, 0);
        assertEq(hub.balanceOf(scheduler), before + POOL_STAKE + schedulerPart + 1e9, "kitty share paid");
        assertEq(hub.frozenOf(KITTY), POOL_STAKE - 1e9, "kitty shrinks");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    // ------------------------------------------------------------------ callback, authorization, TEE

    function test_fast_callback() public {
        RecordingConsumer consumer = new RecordingConsumer();
        OrderSet memory s = defaultOrders();
        s.r.callback = address(consumer);
        s.r.volume = 3;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        assertEq(deal.callback, address(consumer), "callback committed");
        bytes memory data = abi.encode(uint256(42), "answer");
        bytes memory auth = pushArgs(workers[0], dealid, 0);

        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[0]);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "", data, address(0), "", auth);
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[0]);
        hub.pushResultFast(deal, dealid, 0, keccak256(data), "", "", address(0), "", auth);

        vm.prank(workers[0]);
        hub.pushResultFast(deal, dealid, 0, keccak256(data), "", data, address(0), "", auth);
        assertEq(consumer.calls(), 1, "called");
        assertEq(consumer.lastTaskId(), taskId(dealid, 0), "task id");
        assertEq(consumer.lastData(), data, "data");

        // a consumer that burns its gas does not block the push
        GasBurnerConsumer burner = new GasBurnerConsumer();
        OrderSet memory b = defaultOrders();
        b.r.callback = address(burner);
        b.r.salt = keccak256("burner");
        (bytes32 bd, IPocoEvents.FastDeal memory bdeal) = fastMatch(b);
        bytes memory bauth = pushArgs(workers[1], bd, 0);
        vm.prank(workers[1]);
        hub.pushResultFast(bdeal, bd, 0, keccak256(data), "", data, address(0), "", bauth);
        assertEq(hub.viewTaskFast(bdeal, bd, 0), DONE, "done despite the consumer");
        assertBal(workers[1], INITIAL_DEPOSIT + WORKERPOOL_PRICE * 99 / 100, 0, "paid");

        // without a callback, callback data must still match the digest if given
        (bytes32 pd, IPocoEvents.FastDeal memory pdeal) = fastMatch(defaultOrders());
        bytes memory pauth = pushArgs(workers[2], pd, 0);
        vm.expectRevert(err(IPocoErrors.CallbackMismatch.selector));
        vm.prank(workers[2]);
        hub.pushResultFast(pdeal, pd, 0, DIGEST, "", data, address(0), "", pauth);
    }

    function test_fast_badAuthorization() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 2;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        bytes memory invalid = abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, workers[0], scheduler);
        bytes memory byStranger = authorizationBy(STRANGER_KEY, workers[0], taskId(dealid, 0), address(0));
        bytes memory otherTask = authorization(workers[0], taskId(dealid, 1), address(0));
        bytes memory otherWorker = authorization(workers[1], taskId(dealid, 0), address(0));
        bytes[3] memory bad = [byStranger, otherTask, otherWorker];
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectRevert(invalid);
            vm.prank(workers[0]);
            hub.pushResultFast(deal, dealid, 0, DIGEST, "", "", address(0), "", bad[i]);
        }
        assertEq(hub.viewTaskFast(deal, dealid, 0), PENDING, "nothing settled");
        push(workers[0], deal, dealid, 0);
    }

    function test_fast_teeRequiresEnclave() public {
        OrderSet memory s = defaultOrders();
        s.a.tag = bytes32(uint256(1));
        s.w.tag = bytes32(uint256(1));
        s.r.tag = bytes32(uint256(1));
        s.r.volume = 2;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        assertEq(deal.tag, bytes32(uint256(1)), "tee deal");
        bytes32 t = taskId(dealid, 0);
        address w = workers[0];

        bytes memory plainAuth = authorization(w, t, address(0));
        vm.expectRevert(err(IPocoErrors.EnclaveChallengeRequired.selector));
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "", "", address(0), "", plainAuth);

        bytes memory auth = authorization(w, t, enclave);
        // the classic enclave message (resultHash | resultSeal) is not what the fast path checks
        bytes memory classicSign =
            personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(resultHash(t, DIGEST), resultSeal(w, t, DIGEST))));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidEnclaveSignature.selector, enclave));
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "", "", enclave, classicSign, auth);
        // an enclave signature by another key
        bytes memory otherKeySign = personalSign(STRANGER_KEY, keccak256(abi.encodePacked(w, t, DIGEST)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidEnclaveSignature.selector, enclave));
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "", "", enclave, otherKeySign, auth);

        bytes memory enclaveSign = personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(w, t, DIGEST)));
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "ipfs://tee", "", enclave, enclaveSign, auth);
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "tee task done");

        // with a TEE broker, the broker signs the authorization
        uint256 brokerKey = 0xB40CE4;
        hub.setTeeBroker(vm.addr(brokerKey));
        bytes32 t1 = taskId(dealid, 1);
        bytes memory schedulerAuth = authorization(w, t1, enclave);
        bytes memory sign1 = personalSign(ENCLAVE_KEY, keccak256(abi.encodePacked(w, t1, DIGEST)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidAuthorization.selector, w, vm.addr(brokerKey)));
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 1, DIGEST, "", "", enclave, sign1, schedulerAuth);
        bytes memory brokerAuth = authorizationBy(brokerKey, w, t1, enclave);
        vm.prank(w);
        hub.pushResultFast(deal, dealid, 1, DIGEST, "", "", enclave, sign1, brokerAuth);
        assertEq(hub.viewTaskFast(deal, dealid, 1), DONE, "broker-authorized task done");
    }

    function test_fast_viewTaskFastStatuses() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 3;
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        assertEq(hub.viewTaskFast(deal, dealid, 0), PENDING, "pending");
        push(workers[0], deal, dealid, 0);
        vm.warp(deal.startTime + 10 * XS);
        hub.claimFast(deal, dealid, 2);
        assertEq(hub.viewTaskFast(deal, dealid, 0), DONE, "completed");
        assertEq(hub.viewTaskFast(deal, dealid, 1), PENDING, "still pending after the deadline");
        assertEq(hub.viewTaskFast(deal, dealid, 2), CLAIMED, "failed");
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.UnknownFastDeal.selector, unknown));
        hub.viewTaskFast(deal, unknown, 0);
    }
}
