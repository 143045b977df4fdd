// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {IdentityMock, RevertingIdentity, WalletMock, BrokenWallet, RecordingConsumer} from "./utils/Mocks.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";
import {App} from "../src/registries/App.sol";
import {Workerpool} from "../src/registries/Workerpool.sol";

/// @notice matchOrders / sponsorMatchOrders: every rule of §2.1 with its custom error, the
/// signature kinds, order management, consumption, deal records.
contract MatchOrdersTest is PocoTest {
    address internal constant BAD = address(0xBAD);
    uint256 internal constant POOR_KEY = 0xB00;
    uint256 internal constant CONTROLLER_KEY = 0xC0117;

    // ------------------------------------------------------------------ helpers

    function expectMatchRevert(OrderSet memory s, bytes memory reason) internal {
        s = signAll(s);
        expectSignedMatchRevert(s, reason);
    }

    function expectSignedMatchRevert(OrderSet memory s, bytes memory reason) internal {
        vm.expectRevert(reason);
        hub.matchOrders(s.a, s.d, s.w, s.r);
    }

    function e2(bytes4 sel, address x, address y) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(sel, x, y);
    }

    // ------------------------------------------------------------------ successful matches

    function test_match_noDataset_locksConsumesAndEmits() public {
        OrderSet memory s = signAll(defaultOrders());
        s.r.volume = 1;
        bytes32 rh = hashOf(s.r);
        bytes32 expectedDeal = keccak256(abi.encodePacked(rh, uint256(0)));

        vm.expectEmit(true, false, false, true, address(hub));
        emit IPocoEvents.SchedulerNotice(workerpool, expectedDeal);
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.OrdersMatched(expectedDeal, hashOf(s.a), bytes32(0), hashOf(s.w), rh, 1);
        // anyone can match a valid set: the requester pays
        vm.prank(stranger);
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r);

        assertEq(dealid, expectedDeal, "deal id");
        assertBal(
            requester, INITIAL_DEPOSIT - (APP_PRICE + WORKERPOOL_PRICE), APP_PRICE + WORKERPOOL_PRICE, "requester"
        );
        assertBal(scheduler, INITIAL_DEPOSIT - POOL_STAKE, POOL_STAKE, "scheduler");
        assertBal(stranger, 0, 0, "caller");
        assertEq(hub.viewConsumed(hashOf(s.a)), 1, "app consumed");
        assertEq(hub.viewConsumed(hashOf(s.w)), 1, "pool consumed");
        assertEq(hub.viewConsumed(rh), 1, "request consumed");
        assertEq(hub.viewConsumed(hashOf(datasetOrder())), 0, "unused dataset order untouched");
    }

    function test_match_withDataset_locksDatasetPrice() public {
        OrderSet memory s = signAll(datasetOrders());
        s.r.volume = 3;
        s = signAll(s);
        bytes32 rh = hashOf(s.r);
        bytes32 expectedDeal = keccak256(abi.encodePacked(rh, uint256(0)));
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.OrdersMatched(expectedDeal, hashOf(s.a), hashOf(s.d), hashOf(s.w), rh, 3);
        hub.matchOrders(s.a, s.d, s.w, s.r);
        uint256 locked = (APP_PRICE + DATASET_PRICE + WORKERPOOL_PRICE) * 3;
        assertBal(requester, INITIAL_DEPOSIT - locked, locked, "requester");
        assertBal(scheduler, INITIAL_DEPOSIT - POOL_STAKE * 3, POOL_STAKE * 3, "scheduler");
        assertEq(hub.viewConsumed(hashOf(s.d)), 3, "dataset consumed");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "hub backs supply");
    }

    /// The stake is floor(price * 30 / 100) per task, then multiplied by the volume.
    function test_match_schedulerStakeRoundsPerTask() public {
        OrderSet memory s = defaultOrders();
        s.w.workerpoolprice = 7; // 7 * 30 / 100 = 2.1 -> 2 per task
        s.r.workerpoolmaxprice = 7;
        s.r.volume = 10;
        matchSet(s);
        assertEq(hub.frozenOf(scheduler), 20, "2 per task x 10, not floor(70*30/100)=21");
        assertEq(hub.frozenOf(requester), (APP_PRICE + 7) * 10, "requester lock");
    }

    // ------------------------------------------------------------------ 0x00 - 0x07

    function test_revert_0x00_CategoryMismatch() public {
        OrderSet memory s = defaultOrders();
        s.w.category = 1;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.CategoryMismatch.selector, 0, 1));
    }

    function test_revert_0x01_UnknownCategory() public {
        OrderSet memory s = defaultOrders();
        s.w.category = 5;
        s.r.category = 5;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.UnknownCategory.selector, 5, 5));
        s.w.category = 4;
        s.r.category = 4;
        matchSet(s); // the last existing category matches
    }

    function test_revert_0x02_TrustTooHigh() public {
        OrderSet memory s = defaultOrders();
        s.r.trust = 101;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.TrustTooHigh.selector, 101, 100));
        s.r.trust = 100; // equal is fine
        matchSet(s);
    }

    function test_revert_0x03_AppPriceTooHigh() public {
        OrderSet memory s = defaultOrders();
        s.a.appprice = 3e9;
        s.r.appmaxprice = 2e9;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.AppPriceTooHigh.selector, 3e9, 2e9));
        s.r.appmaxprice = 3e9;
        matchSet(s);
    }

    function test_revert_0x04_DatasetPriceTooHigh() public {
        OrderSet memory s = datasetOrders();
        s.r.datasetmaxprice = DATASET_PRICE - 1;
        expectMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.DatasetPriceTooHigh.selector, DATASET_PRICE, DATASET_PRICE - 1)
        );
    }

    function test_revert_0x05_WorkerpoolPriceTooHigh() public {
        OrderSet memory s = defaultOrders();
        s.r.workerpoolmaxprice = 9e9;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.WorkerpoolPriceTooHigh.selector, 10e9, 9e9));
    }

    function test_revert_0x06_TagNotOffered() public {
        OrderSet memory s = datasetOrders();
        s.a.tag = bytes32(uint256(0x1));
        s.d.tag = bytes32(uint256(0x100));
        s.r.tag = bytes32(uint256(0x8));
        s.w.tag = bytes32(uint256(0x3)); // offers TEE + bit 1 only
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.TagNotOffered.selector, bytes32(uint256(0x108))));
        s.w.tag = bytes32(uint256(0x10b)); // a superset is fine
        matchSet(s);
    }

    function test_revert_0x07_TeeTagMissingInAppOrder() public {
        OrderSet memory s = datasetOrders();
        s.w.tag = bytes32(uint256(0x1));
        s.r.tag = bytes32(uint256(0x1)); // the request asks for TEE, the app does not declare it
        expectMatchRevert(s, err(IPocoErrors.TeeTagMissingInAppOrder.selector));
        s.r.tag = 0;
        s.d.tag = bytes32(uint256(0x1)); // the dataset asks for TEE
        expectMatchRevert(s, err(IPocoErrors.TeeTagMissingInAppOrder.selector));
        s.a.tag = bytes32(uint256(0x1)); // declared: fine
        bytes32 dealid = matchSet(s);
        assertEq(hub.viewDeal(dealid).tag, bytes32(uint256(0x1)), "tee deal");
    }

    // ------------------------------------------------------------------ 0x10 / 0x11 identity

    function test_revert_0x10_AppMismatch() public {
        OrderSet memory s = defaultOrders();
        address otherApp = address(poco.appRegistry.createApp(appOwner, "other", "WASM", "", bytes32(0), ""));
        s.r.app = otherApp;
        expectMatchRevert(s, e2(IPocoErrors.AppMismatch.selector, otherApp, app));
    }

    function test_revert_0x11_DatasetMismatch() public {
        OrderSet memory s = defaultOrders();
        s.r.dataset = dataset; // requested, but no dataset order given
        expectMatchRevert(s, e2(IPocoErrors.DatasetMismatch.selector, dataset, address(0)));
        s = datasetOrders();
        s.r.dataset = address(0); // dataset order given, but not requested
        expectMatchRevert(s, e2(IPocoErrors.DatasetMismatch.selector, address(0), dataset));
    }

    // ------------------------------------------------------------------ 0x12 - 0x1b restrictions

    function test_revert_0x12_RequestWorkerpoolRestriction() public {
        OrderSet memory s = defaultOrders();
        s.r.workerpool = BAD;
        expectMatchRevert(s, e2(IPocoErrors.RequestWorkerpoolRestriction.selector, BAD, workerpool));
    }

    function test_revert_0x13_AppDatasetRestriction() public {
        OrderSet memory s = datasetOrders();
        s.a.datasetrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.AppDatasetRestriction.selector, BAD, dataset));
        // without a dataset the account checked is 0x0: a datasetrestrict can't match
        s = defaultOrders();
        s.a.datasetrestrict = dataset;
        expectMatchRevert(s, e2(IPocoErrors.AppDatasetRestriction.selector, dataset, address(0)));
    }

    function test_revert_0x14_AppWorkerpoolRestriction() public {
        OrderSet memory s = defaultOrders();
        s.a.workerpoolrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.AppWorkerpoolRestriction.selector, BAD, workerpool));
    }

    function test_revert_0x15_AppRequesterRestriction() public {
        OrderSet memory s = defaultOrders();
        s.a.requesterrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.AppRequesterRestriction.selector, BAD, requester));
    }

    function test_revert_0x16_DatasetAppRestriction() public {
        OrderSet memory s = datasetOrders();
        s.d.apprestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.DatasetAppRestriction.selector, BAD, app));
    }

    function test_revert_0x17_DatasetWorkerpoolRestriction() public {
        OrderSet memory s = datasetOrders();
        s.d.workerpoolrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.DatasetWorkerpoolRestriction.selector, BAD, workerpool));
    }

    function test_revert_0x18_DatasetRequesterRestriction() public {
        OrderSet memory s = datasetOrders();
        s.d.requesterrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.DatasetRequesterRestriction.selector, BAD, requester));
    }

    function test_revert_0x19_WorkerpoolAppRestriction() public {
        OrderSet memory s = defaultOrders();
        s.w.apprestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolAppRestriction.selector, BAD, app));
    }

    function test_revert_0x1a_WorkerpoolDatasetRestriction() public {
        OrderSet memory s = datasetOrders();
        s.w.datasetrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolDatasetRestriction.selector, BAD, dataset));
    }

    function test_revert_0x1b_WorkerpoolRequesterRestriction() public {
        OrderSet memory s = defaultOrders();
        s.w.requesterrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolRequesterRestriction.selector, BAD, requester));
    }

    /// With every restriction wrong, the errors come one by one in the 0x12..0x1b order.
    function test_restrictions_checkedInOrder() public {
        OrderSet memory s = datasetOrders();
        s.r.workerpool = BAD;
        s.a.datasetrestrict = BAD;
        s.a.workerpoolrestrict = BAD;
        s.a.requesterrestrict = BAD;
        s.d.apprestrict = BAD;
        s.d.workerpoolrestrict = BAD;
        s.d.requesterrestrict = BAD;
        s.w.apprestrict = BAD;
        s.w.datasetrestrict = BAD;
        s.w.requesterrestrict = BAD;
        expectMatchRevert(s, e2(IPocoErrors.RequestWorkerpoolRestriction.selector, BAD, workerpool));
        s.r.workerpool = workerpool;
        expectMatchRevert(s, e2(IPocoErrors.AppDatasetRestriction.selector, BAD, dataset));
        s.a.datasetrestrict = dataset;
        expectMatchRevert(s, e2(IPocoErrors.AppWorkerpoolRestriction.selector, BAD, workerpool));
        s.a.workerpoolrestrict = workerpool;
        expectMatchRevert(s, e2(IPocoErrors.AppRequesterRestriction.selector, BAD, requester));
        s.a.requesterrestrict = requester;
        expectMatchRevert(s, e2(IPocoErrors.DatasetAppRestriction.selector, BAD, app));
        s.d.apprestrict = app;
        expectMatchRevert(s, e2(IPocoErrors.DatasetWorkerpoolRestriction.selector, BAD, workerpool));
        s.d.workerpoolrestrict = workerpool;
        expectMatchRevert(s, e2(IPocoErrors.DatasetRequesterRestriction.selector, BAD, requester));
        s.d.requesterrestrict = requester;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolAppRestriction.selector, BAD, app));
        s.w.apprestrict = app;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolDatasetRestriction.selector, BAD, dataset));
        s.w.datasetrestrict = dataset;
        expectMatchRevert(s, e2(IPocoErrors.WorkerpoolRequesterRestriction.selector, BAD, requester));
        s.w.requesterrestrict = requester;
        // every restriction now names the exact counterparty: the match goes through
        bytes32 dealid = matchSet(s);
        assertEq(hub.viewDeal(dealid).dataset.pointer, dataset, "matched with exact restrictions");
    }

    /// ERC-734 group restriction: a member (key with purpose 4) passes, a non-member does not.
    function test_restriction_erc734Group() public {
        IdentityMock group = new IdentityMock();
        group.addKey(requester, 4);
        OrderSet memory s = defaultOrders();
        s.a.requesterrestrict = address(group);
        bytes32 dealid = matchSet(s);
        assertEq(hub.viewDeal(dealid).requester, requester, "member matched");

        // a non-member (another requester) is rejected by the same group
        OrderSet memory t = defaultOrders();
        t.a.requesterrestrict = address(group);
        t.r.requester = sponsor;
        t.r.beneficiary = sponsor;
        t = signAll(t);
        t.r.sign = signHash(SPONSOR_KEY, hashOf(t.r));
        expectSignedMatchRevert(t, e2(IPocoErrors.AppRequesterRestriction.selector, address(group), sponsor));

        // a key with another purpose is not a membership
        IdentityMock wrongPurpose = new IdentityMock();
        wrongPurpose.addKey(requester, 1);
        wrongPurpose.addKey(requester, 3);
        s = defaultOrders();
        s.r.salt = keccak256("second");
        s.a.requesterrestrict = address(wrongPurpose);
        expectMatchRevert(s, e2(IPocoErrors.AppRequesterRestriction.selector, address(wrongPurpose), requester));

        // an identity that reverts counts as "not a member"
        RevertingIdentity broken = new RevertingIdentity();
        s.a.requesterrestrict = address(broken);
        expectMatchRevert(s, e2(IPocoErrors.AppRequesterRestriction.selector, address(broken), requester));
    }

    /// One group holding every party satisfies all ten restrictions.
    function test_restriction_erc734GroupForEveryRestriction() public {
        IdentityMock group = new IdentityMock();
        OrderSet memory s = datasetOrders();
        s.r.workerpool = address(group);
        s.a.datasetrestrict = address(group);
        s.a.workerpoolrestrict = address(group);
        s.a.requesterrestrict = address(group);
        s.d.apprestrict = address(group);
        s.d.workerpoolrestrict = address(group);
        s.d.requesterrestrict = address(group);
        s.w.apprestrict = address(group);
        s.w.datasetrestrict = address(group);
        s.w.requesterrestrict = address(group);
        expectMatchRevert(s, e2(IPocoErrors.RequestWorkerpoolRestriction.selector, address(group), workerpool));
        group.addKey(workerpool, 4);
        expectMatchRevert(s, e2(IPocoErrors.AppDatasetRestriction.selector, address(group), dataset));
        group.addKey(dataset, 4);
        expectMatchRevert(s, e2(IPocoErrors.AppRequesterRestriction.selector, address(group), requester));
        group.addKey(requester, 4);
        expectMatchRevert(s, e2(IPocoErrors.DatasetAppRestriction.selector, address(group), app));
        group.addKey(app, 4);
        bytes32 dealid = matchSet(s);
        assertEq(hub.viewDeal(dealid).botSize, 1, "all groups pass");
    }

    // ------------------------------------------------------------------ 0x20 - 0x50 authenticity

    function test_revert_0x20_AppNotRegistered() public {
        OrderSet memory s = defaultOrders();
        address fake = address(0xA99);
        s.a.app = fake;
        s.r.app = fake;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.AppNotRegistered.selector, fake));
        // an asset of another registry is not an app
        s.a.app = dataset;
        s.r.app = dataset;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.AppNotRegistered.selector, dataset));
    }

    function test_revert_0x30_DatasetNotRegistered() public {
        OrderSet memory s = datasetOrders();
        address fake = address(0xDA99);
        s.d.dataset = fake;
        s.r.dataset = fake;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.DatasetNotRegistered.selector, fake));
    }

    function test_revert_0x40_WorkerpoolNotRegistered() public {
        OrderSet memory s = defaultOrders();
        s.w.workerpool = app; // registered, but as an app
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.WorkerpoolNotRegistered.selector, app));
    }

    function test_revert_0x21_InvalidAppOrderSignature() public {
        OrderSet memory s = signAll(datasetOrders());
        s.a.sign = signHash(STRANGER_KEY, hashOf(s.a));
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner));
        s.a.sign = ""; // neither signed nor presigned
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner));
        s.a.sign = hex"0102030405060708090a"; // malformed: rejected, not a format revert
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner));
        s.a.sign = signMalleable(APP_OWNER_KEY, hashOf(s.a)); // high-s twin of a valid signature
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner));
        s = signAll(datasetOrders());
        s.a.appprice = APP_PRICE - 1; // signed order tampered with
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner));
    }

    function test_revert_0x31_InvalidDatasetOrderSignature() public {
        OrderSet memory s = signAll(datasetOrders());
        s.d.sign = signHash(APP_OWNER_KEY, hashOf(s.d));
        expectSignedMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InvalidDatasetOrderSignature.selector, datasetOwner)
        );
    }

    function test_revert_0x41_InvalidWorkerpoolOrderSignature() public {
        OrderSet memory s = signAll(defaultOrders());
        s.w.sign = signHash(REQUESTER_KEY, hashOf(s.w));
        expectSignedMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InvalidWorkerpoolOrderSignature.selector, scheduler)
        );
    }

    function test_revert_0x50_InvalidRequestOrderSignature() public {
        OrderSet memory s = signAll(defaultOrders());
        s.r.sign = signHash(SCHEDULER_KEY, hashOf(s.r));
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidRequestOrderSignature.selector, requester));
        s = signAll(defaultOrders());
        s.r.params = "tampered";
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidRequestOrderSignature.selector, requester));
    }

    // ------------------------------------------------------------------ 0x60 volume

    function test_revert_0x60_NoVolumeLeft_afterFullConsumption() public {
        OrderSet memory s = signAll(defaultOrders());
        s.r.volume = 2;
        s = signAll(s);
        hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewConsumed(hashOf(s.r)), 2, "request fully consumed");
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));

        // an app order of volume 2 is exhausted by two requests
        OrderSet memory t = defaultOrders();
        t.a.volume = 2;
        t.r.salt = keccak256("t1");
        matchSet(t);
        t.r.salt = keccak256("t2");
        matchSet(t);
        t.r.salt = keccak256("t3");
        expectMatchRevert(t, err(IPocoErrors.NoVolumeLeft.selector));
    }

    function test_revert_0x60_NoVolumeLeft_afterClose() public {
        OrderSet memory s = signAll(datasetOrders());
        // close each order in turn (by its owner): the match then has no volume
        Orders.RequestOrderOperation memory rop;
        rop.order = s.r;
        rop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.ClosedRequestOrder(hashOf(s.r));
        vm.prank(requester);
        hub.manageRequestOrder(rop);
        assertEq(hub.viewConsumed(hashOf(s.r)), s.r.volume, "closed = consumed");
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));

        s.r.salt = keccak256("fresh request");
        s = signAll(s);
        Orders.DatasetOrderOperation memory dop;
        dop.order = s.d;
        dop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.ClosedDatasetOrder(hashOf(s.d));
        vm.prank(datasetOwner);
        hub.manageDatasetOrder(dop);
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));

        s.d.salt = keccak256("fresh dataset");
        s = signAll(s);
        Orders.WorkerpoolOrderOperation memory wop;
        wop.order = s.w;
        wop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.ClosedWorkerpoolOrder(hashOf(s.w));
        vm.prank(scheduler);
        hub.manageWorkerpoolOrder(wop);
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));

        s.w.salt = keccak256("fresh pool");
        s = signAll(s);
        Orders.AppOrderOperation memory aop;
        aop.order = s.a;
        aop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.ClosedAppOrder(hashOf(s.a));
        vm.prank(appOwner);
        hub.manageAppOrder(aop);
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));

        s.a.salt = keccak256("fresh app");
        s = signAll(s);
        hub.matchOrders(s.a, s.d, s.w, s.r); // all fresh: matches
    }

    /// Closing a partly consumed order leaves nothing.
    function test_close_partlyConsumedOrder() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 5;
        s.w.volume = 2;
        s = signAll(s);
        hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewConsumed(hashOf(s.r)), 2, "partly consumed");
        Orders.RequestOrderOperation memory rop;
        rop.order = s.r;
        rop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.prank(requester);
        hub.manageRequestOrder(rop);
        assertEq(hub.viewConsumed(hashOf(s.r)), 5, "closed");
        s.w.salt = keccak256("another pool order");
        s.w.volume = 10;
        s = signAll(s);
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 0, "nothing left");
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));
    }

    // ------------------------------------------------------------------ balances

    function test_revert_InsufficientFreeBalance_requester() public {
        address poor = vm.addr(POOR_KEY);
        OrderSet memory s = signAll(defaultOrders());
        s.r.requester = poor;
        s.r.beneficiary = poor;
        s.r.sign = signHash(POOR_KEY, hashOf(s.r));
        uint256 price = APP_PRICE + WORKERPOOL_PRICE;
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, poor, 0, price));
        fund(poor, price - 1);
        expectSignedMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, poor, price - 1, price)
        );
        fund(poor, 1);
        hub.matchOrders(s.a, s.d, s.w, s.r);
        assertBal(poor, 0, price, "exact balance is enough");
    }

    function test_revert_InsufficientFreeBalance_schedulerStake() public {
        vm.prank(scheduler);
        hub.withdraw(INITIAL_DEPOSIT - 1e9);
        OrderSet memory s = defaultOrders();
        s.r.volume = 2;
        expectMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, scheduler, 1e9, 2 * POOL_STAKE)
        );
        // the sponsor's funds were not taken either
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester untouched");
    }

    // ------------------------------------------------------------------ signature kinds

    function test_signature_compact64Bytes() public {
        OrderSet memory s = datasetOrders();
        s.a.sign = signCompact(APP_OWNER_KEY, hashOf(s.a));
        s.d.sign = signCompact(DATASET_OWNER_KEY, hashOf(s.d));
        s.w.sign = signCompact(SCHEDULER_KEY, hashOf(s.w));
        s.r.sign = signCompact(REQUESTER_KEY, hashOf(s.r));
        assertEq(s.a.sign.length, 64, "compact length");
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewDeal(dealid).app.owner, appOwner, "matched");
        assertTrue(hub.verifySignature(appOwner, hashOf(s.a), s.a.sign), "verifySignature compact");
        // a compact signature by someone else fails
        s.r.salt = keccak256("x");
        s.r.sign = signCompact(STRANGER_KEY, hashOf(s.r));
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidRequestOrderSignature.selector, requester));
    }

    function test_signature_erc1271ContractOwner() public {
        WalletMock wallet = new WalletMock(vm.addr(CONTROLLER_KEY));
        vm.prank(appOwner);
        poco.appRegistry.transferFrom(appOwner, address(wallet), uint256(uint160(app)));
        assertEq(App(app).owner(), address(wallet), "wallet owns the app");

        OrderSet memory s = signAll(defaultOrders());
        // the previous owner's signature no longer counts
        expectSignedMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, address(wallet))
        );
        s.a.sign = signHash(CONTROLLER_KEY, hashOf(s.a)); // what the wallet accepts
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewDeal(dealid).app.owner, address(wallet), "owner snapshot is the wallet");
        assertTrue(hub.verifySignature(address(wallet), hashOf(s.a), s.a.sign), "1271 valid");
        // for contract accounts any length is passed to the contract (no format revert)
        assertTrue(!hub.verifySignature(address(wallet), hashOf(s.a), hex"01"), "1271 rejects garbage");

        // a wallet whose isValidSignature reverts rejects everything
        BrokenWallet broken = new BrokenWallet();
        vm.prank(address(wallet));
        poco.appRegistry.transferFrom(address(wallet), address(broken), uint256(uint160(app)));
        s.r.salt = keccak256("again");
        s = signAll(s);
        s.a.sign = signHash(CONTROLLER_KEY, hashOf(s.a));
        expectSignedMatchRevert(
            s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, address(broken))
        );
    }

    /// A contract owner that cannot sign with ERC-1271 presigns through manageAppOrder.
    function test_signature_contractOwnerPresigns() public {
        WalletMock wallet = new WalletMock(vm.addr(CONTROLLER_KEY));
        vm.prank(appOwner);
        poco.appRegistry.transferFrom(appOwner, address(wallet), uint256(uint160(app)));
        OrderSet memory s = signAll(defaultOrders());
        s.a.sign = "";
        Orders.AppOrderOperation memory op;
        op.order = s.a;
        op.operation = Orders.OrderOperationEnum.SIGN;
        vm.prank(vm.addr(CONTROLLER_KEY));
        wallet.exec(address(hub), abi.encodeCall(hub.manageAppOrder, (op)));
        assertEq(hub.viewPresigned(hashOf(s.a)), address(wallet), "presigned by the wallet");
        hub.matchOrders(s.a, s.d, s.w, s.r);
    }

    function test_verifySignature_views() public {
        bytes32 h = keccak256("message");
        assertTrue(hub.verifySignature(appOwner, h, signHash(APP_OWNER_KEY, h)), "65 bytes");
        assertTrue(hub.verifySignature(appOwner, h, signCompact(APP_OWNER_KEY, h)), "64 bytes");
        assertTrue(!hub.verifySignature(appOwner, h, signHash(STRANGER_KEY, h)), "wrong signer");
        assertTrue(!hub.verifySignature(appOwner, h, signMalleable(APP_OWNER_KEY, h)), "malleable");
        assertTrue(!hub.verifySignature(address(0), h, signHash(APP_OWNER_KEY, h)), "zero account");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSignatureFormat.selector, 10));
        hub.verifySignature(appOwner, h, hex"0102030405060708090a");
        assertTrue(!hub.verifyPresignature(appOwner, h), "not presigned");
        assertTrue(!hub.verifyPresignature(address(0), h), "zero never presigned");
    }

    // ------------------------------------------------------------------ order management

    function test_presign_allFourOrders_thenMatchWithoutSignatures() public {
        OrderSet memory s = datasetOrders();
        bytes32 ah = hashOf(s.a);
        bytes32 dh = hashOf(s.d);
        bytes32 wh = hashOf(s.w);
        bytes32 rh = hashOf(s.r);

        Orders.AppOrderOperation memory aop;
        aop.order = s.a;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.SignedAppOrder(ah);
        vm.prank(appOwner);
        hub.manageAppOrder(aop);

        Orders.DatasetOrderOperation memory dop;
        dop.order = s.d;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.SignedDatasetOrder(dh);
        vm.prank(datasetOwner);
        hub.manageDatasetOrder(dop);

        Orders.WorkerpoolOrderOperation memory wop;
        wop.order = s.w;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.SignedWorkerpoolOrder(wh);
        vm.prank(scheduler);
        hub.manageWorkerpoolOrder(wop);

        Orders.RequestOrderOperation memory rop;
        rop.order = s.r;
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.SignedRequestOrder(rh);
        vm.prank(requester);
        hub.manageRequestOrder(rop);

        assertEq(hub.viewPresigned(ah), appOwner, "app presigned");
        assertEq(hub.viewPresigned(dh), datasetOwner, "dataset presigned");
        assertEq(hub.viewPresigned(wh), scheduler, "pool presigned");
        assertEq(hub.viewPresigned(rh), requester, "request presigned");
        assertTrue(hub.verifyPresignature(appOwner, ah), "verifyPresignature");
        assertTrue(!hub.verifyPresignature(stranger, ah), "verifyPresignature other account");
        assertEq(hub.viewConsumed(ah), 0, "presign consumes nothing");

        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r); // every sign is empty
        assertEq(dealid, keccak256(abi.encodePacked(rh, uint256(0))), "deal id");
    }

    /// A presignature belongs to the owner at presign time: after an NFT transfer it is void.
    function test_presign_voidAfterOwnershipTransfer() public {
        OrderSet memory s = signAll(defaultOrders());
        s.a.sign = "";
        Orders.AppOrderOperation memory aop;
        aop.order = s.a;
        vm.prank(appOwner);
        hub.manageAppOrder(aop);
        vm.prank(appOwner);
        poco.appRegistry.transferFrom(appOwner, stranger, uint256(uint160(app)));
        expectSignedMatchRevert(s, abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, stranger));
    }

    function operationDigest(Orders.AppOrderOperation memory op) internal view returns (bytes32) {
        bytes32 sh = keccak256(
            abi.encode(Orders.APPORDEROPERATION_TYPEHASH, hashStruct(op.order), uint256(uint8(op.operation)))
        );
        assertEq(sh, hasher.appOperationStructHash(op), "operation struct hash (library)");
        return digest(sh);
    }

    function hashStruct(Orders.AppOrder memory o) internal view returns (bytes32) {
        return hasher.appStructHash(o);
    }

    function test_manage_relayedOperationSignature() public {
        OrderSet memory s = defaultOrders();
        bytes32 ah = hashOf(s.a);
        Orders.AppOrderOperation memory op;
        op.order = s.a;
        op.operation = Orders.OrderOperationEnum.SIGN;
        op.sign = signHash(APP_OWNER_KEY, operationDigest(op));
        vm.prank(stranger); // anyone relays the owner's signature
        hub.manageAppOrder(op);
        assertEq(hub.viewPresigned(ah), appOwner, "relayed presign");

        // the same signature does not authorise CLOSE (another typed hash)
        op.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, stranger, appOwner));
        vm.prank(stranger);
        hub.manageAppOrder(op);

        // the owner's CLOSE signature, compact form, relayed
        op.sign = signCompact(APP_OWNER_KEY, operationDigest(op));
        vm.prank(stranger);
        hub.manageAppOrder(op);
        assertEq(hub.viewConsumed(ah), s.a.volume, "relayed close");

        // relayed request operation
        Orders.RequestOrderOperation memory rop;
        rop.order = s.r;
        rop.operation = Orders.OrderOperationEnum.SIGN;
        bytes32 rsh = hasher.requestOperationStructHash(rop);
        assertEq(
            rsh,
            keccak256(abi.encode(Orders.REQUESTORDEROPERATION_TYPEHASH, hasher.requestStructHash(s.r), uint256(0))),
            "request operation struct hash"
        );
        rop.sign = signHash(REQUESTER_KEY, digest(rsh));
        vm.prank(stranger);
        hub.manageRequestOrder(rop);
        assertEq(hub.viewPresigned(hashOf(s.r)), requester, "relayed request presign");
    }

    function test_manage_relayedDatasetAndWorkerpoolOperations() public {
        Orders.DatasetOrderOperation memory dop;
        dop.order = datasetOrder();
        dop.operation = Orders.OrderOperationEnum.CLOSE;
        dop.sign = signHash(DATASET_OWNER_KEY, digest(hasher.datasetOperationStructHash(dop)));
        vm.prank(stranger);
        hub.manageDatasetOrder(dop);
        assertEq(hub.viewConsumed(hashOf(dop.order)), dop.order.volume, "dataset closed by relay");

        Orders.WorkerpoolOrderOperation memory wop;
        wop.order = workerpoolOrder();
        wop.operation = Orders.OrderOperationEnum.SIGN;
        wop.sign = signHash(SCHEDULER_KEY, digest(hasher.workerpoolOperationStructHash(wop)));
        vm.prank(stranger);
        hub.manageWorkerpoolOrder(wop);
        assertEq(hub.viewPresigned(hashOf(wop.order)), scheduler, "pool presigned by relay");
    }

    function test_revert_InvalidSenderOrSignature() public {
        OrderSet memory s = defaultOrders();
        Orders.AppOrderOperation memory op;
        op.order = s.a;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, stranger, appOwner));
        vm.prank(stranger);
        hub.manageAppOrder(op);

        // the owner of another asset is not the app owner
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, datasetOwner, appOwner));
        vm.prank(datasetOwner);
        hub.manageAppOrder(op);

        // a signature by a wrong key
        op.sign = signHash(STRANGER_KEY, operationDigest(op));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, stranger, appOwner));
        vm.prank(stranger);
        hub.manageAppOrder(op);

        // a presigned operation is not accepted: only the sender or a signature
        op.sign = "";
        op.order.app = address(0xA99); // unregistered app: owner 0, nobody may manage it
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, appOwner, address(0)));
        vm.prank(appOwner);
        hub.manageAppOrder(op);

        Orders.RequestOrderOperation memory rop;
        rop.order = s.r;
        rop.operation = Orders.OrderOperationEnum.CLOSE;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, sponsor, requester));
        vm.prank(sponsor);
        hub.manageRequestOrder(rop);

        Orders.WorkerpoolOrderOperation memory wop;
        wop.order = s.w;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, appOwner, scheduler));
        vm.prank(appOwner);
        hub.manageWorkerpoolOrder(wop);

        Orders.DatasetOrderOperation memory dop;
        dop.order = datasetOrder();
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, scheduler, datasetOwner));
        vm.prank(scheduler);
        hub.manageDatasetOrder(dop);
    }

    // ------------------------------------------------------------------ consumption and deal ids

    function test_consumedVolume_acrossTwoPartialMatches() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 5;
        s.w.volume = 2;
        s = signAll(s);
        bytes32 rh = hashOf(s.r);
        bytes32 ah = hashOf(s.a);
        bytes32 wh1 = hashOf(s.w);
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 2, "first volume");

        bytes32 d1 = hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(d1, keccak256(abi.encodePacked(rh, uint256(0))), "first deal id");
        Core.Deal memory deal1 = hub.viewDeal(d1);
        assertEq(deal1.botFirst, 0, "first botFirst");
        assertEq(deal1.botSize, 2, "first botSize");
        assertEq(hub.viewConsumed(rh), 2, "request consumed after 1");
        assertEq(hub.viewConsumed(wh1), 2, "pool order exhausted");

        s.w.volume = 10;
        s.w.salt = keccak256("second pool order");
        s.w = signed(s.w);
        bytes32 wh2 = hashOf(s.w);
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 3, "second volume");
        bytes32 d2 = hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(d2, keccak256(abi.encodePacked(rh, uint256(2))), "second deal id uses consumed before");
        Core.Deal memory deal2 = hub.viewDeal(d2);
        assertEq(deal2.botFirst, 2, "second botFirst");
        assertEq(deal2.botSize, 3, "second botSize");
        assertEq(hub.viewConsumed(rh), 5, "request consumed");
        assertEq(hub.viewConsumed(ah), 5, "app consumed");
        assertEq(hub.viewConsumed(wh2), 3, "second pool order consumed");
        assertEq(hub.frozenOf(requester), 5 * (APP_PRICE + WORKERPOOL_PRICE), "locked for 5 tasks");
        assertEq(hub.frozenOf(scheduler), 5 * POOL_STAKE, "stake for 5 tasks");
        expectSignedMatchRevert(s, err(IPocoErrors.NoVolumeLeft.selector));
    }

    // ------------------------------------------------------------------ sponsoring

    function test_sponsorMatchOrders_locksFromSponsor() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 3;
        s = signAll(s);
        bytes32 expectedDeal = keccak256(abi.encodePacked(hashOf(s.r), uint256(0)));
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.DealSponsored(expectedDeal, sponsor);
        vm.prank(sponsor);
        bytes32 dealid = hub.sponsorMatchOrders(s.a, s.d, s.w, s.r);
        assertEq(dealid, expectedDeal, "deal id");
        uint256 locked = 3 * (APP_PRICE + WORKERPOOL_PRICE);
        assertBal(sponsor, INITIAL_DEPOSIT - locked, locked, "sponsor pays");
        assertBal(requester, INITIAL_DEPOSIT, 0, "requester untouched");
        assertBal(scheduler, INITIAL_DEPOSIT - 3 * POOL_STAKE, 3 * POOL_STAKE, "scheduler stake");
        Core.Deal memory d = hub.viewDeal(dealid);
        assertEq(d.sponsor, sponsor, "deal sponsor");
        assertEq(d.requester, requester, "deal requester");

        // a sponsor without funds cannot sponsor
        OrderSet memory t = defaultOrders();
        t.r.salt = keccak256("t");
        t = signAll(t);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPocoErrors.InsufficientFreeBalance.selector, stranger, 0, APP_PRICE + WORKERPOOL_PRICE
            )
        );
        vm.prank(stranger);
        hub.sponsorMatchOrders(t.a, t.d, t.w, t.r);
    }

    // ------------------------------------------------------------------ deal record

    function test_viewDeal_allFields() public {
        vm.warp(1_700_000_000);
        vm.prank(scheduler);
        Workerpool(workerpool).changePolicy(35, 5);
        RecordingConsumer consumer = new RecordingConsumer();
        string memory longParams =
            '{"iexec_args":"--size 64 \\"quoted\\" \xc3\xa9","iexec_input_files":["https://example.org/in.png","https://example.org/b.png"]}';

        OrderSet memory s = datasetOrders();
        s.a.tag = bytes32(uint256(0x1));
        s.d.tag = bytes32(uint256(0x100));
        s.r.tag = bytes32(uint256(0x8));
        s.w.tag = bytes32(uint256(0x10b));
        s.w.category = 2;
        s.r.category = 2;
        s.r.trust = 0;
        s.r.volume = 3;
        s.r.beneficiary = address(0xBE4E);
        s.r.callback = address(consumer);
        s.r.params = longParams;
        s = signAll(s);
        vm.prank(sponsor);
        bytes32 dealid = hub.sponsorMatchOrders(s.a, s.d, s.w, s.r);

        // owners are snapshots: moving the NFTs afterwards changes nothing in the deal
        vm.prank(appOwner);
        poco.appRegistry.transferFrom(appOwner, stranger, uint256(uint160(app)));
        vm.prank(scheduler);
        poco.workerpoolRegistry.transferFrom(scheduler, stranger, uint256(uint160(workerpool)));

        Core.Deal memory d = hub.viewDeal(dealid);
        assertEq(d.app.pointer, app, "app");
        assertEq(d.app.owner, appOwner, "app owner snapshot");
        assertEq(d.app.price, APP_PRICE, "app price");
        assertEq(d.dataset.pointer, dataset, "dataset");
        assertEq(d.dataset.owner, datasetOwner, "dataset owner");
        assertEq(d.dataset.price, DATASET_PRICE, "dataset price");
        assertEq(d.workerpool.pointer, workerpool, "workerpool");
        assertEq(d.workerpool.owner, scheduler, "workerpool owner snapshot");
        assertEq(d.workerpool.price, WORKERPOOL_PRICE, "workerpool price");
        assertEq(d.trust, 1, "trust = max(trust, 1)");
        assertEq(d.category, 2, "category");
        assertEq(d.tag, bytes32(uint256(0x109)), "tag = app | dataset | request (not the pool's)");
        assertEq(d.requester, requester, "requester");
        assertEq(d.beneficiary, address(0xBE4E), "beneficiary");
        assertEq(d.callback, address(consumer), "callback");
        assertEq(d.params, longParams, "params");
        assertEq(d.startTime, 1_700_000_000, "start time");
        assertEq(d.botFirst, 0, "botFirst");
        assertEq(d.botSize, 3, "botSize");
        assertEq(d.workerStake, WORKERPOOL_PRICE * 35 / 100, "worker stake from the policy");
        assertEq(d.schedulerRewardRatio, 5, "scheduler ratio from the policy");
        assertEq(d.sponsor, sponsor, "sponsor");
    }

    function test_viewDeal_defaultsAndTrust() public {
        OrderSet memory s = defaultOrders();
        s.r.trust = 7;
        s.r.volume = 4;
        s.w.volume = 1;
        s = signAll(s);
        hub.matchOrders(s.a, s.d, s.w, s.r); // tasks [0, 1)
        vm.warp(block.timestamp + 100);
        s.w.salt = keccak256("pool 2");
        s.w.volume = 10;
        s = signAll(s);
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r); // tasks [1, 4)
        Core.Deal memory d = hub.viewDeal(dealid);
        assertEq(d.trust, 7, "trust kept");
        assertEq(d.botFirst, 1, "botFirst after earlier match");
        assertEq(d.botSize, 3, "botSize");
        assertEq(d.dataset.pointer, address(0), "no dataset");
        assertEq(d.dataset.owner, address(0), "no dataset owner");
        assertEq(d.dataset.price, 0, "no dataset price");
        assertEq(d.tag, bytes32(0), "no tag");
        assertEq(d.beneficiary, requester, "beneficiary");
        assertEq(d.sponsor, requester, "unsponsored: the requester pays");
        assertEq(d.callback, address(0), "no callback");
        assertEq(d.params, PARAMS, "params");
        assertEq(d.startTime, block.timestamp, "start");
        assertEq(d.workerStake, WORKER_STAKE, "default policy 30%");
        assertEq(d.schedulerRewardRatio, 1, "default policy 1");

        Core.Deal memory none = hub.viewDeal(keccak256("no such deal"));
        assertEq(none.requester, address(0), "unknown deal empty");
        assertEq(none.sponsor, address(0), "unknown deal sponsor");
        assertEq(none.botSize, 0, "unknown deal size");
    }

    /// A deal whose volume does not fit the packed record is refused.
    function test_revert_DealFieldTooLarge() public {
        OrderSet memory s = defaultOrders();
        s.a.appprice = 0;
        s.r.appmaxprice = 0;
        s.w.workerpoolprice = 0;
        s.r.workerpoolmaxprice = 0;
        s.a.volume = 1 << 40;
        s.w.volume = 1 << 40;
        s.r.volume = 1 << 40;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.DealFieldTooLarge.selector, "volume"));
        s.r.volume = 1;
        s.r.trust = 1 << 32;
        s.w.trust = 1 << 32;
        expectMatchRevert(s, abi.encodeWithSelector(IPocoErrors.DealFieldTooLarge.selector, "trust"));
    }

    // ------------------------------------------------------------------ computeDealVolume

    function test_computeDealVolume() public {
        OrderSet memory s = datasetOrders();
        s.a.volume = 7;
        s.d.volume = 4;
        s.w.volume = 5;
        s.r.volume = 9;
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 4, "min with dataset");
        OrderSet memory n = defaultOrders();
        n.a.volume = 7;
        n.w.volume = 5;
        n.r.volume = 9;
        n.d.volume = 1; // ignored without a dataset
        assertEq(hub.computeDealVolume(n.a, n.d, n.w, n.r), 5, "min without dataset");

        s = signAll(s);
        bytes32 dealid = hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewDeal(dealid).botSize, 4, "deal volume = computed volume");
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 0, "dataset order exhausted");
        s.d.salt = keccak256("dataset 2");
        s.d.volume = 10;
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 1, "pool has 1 left");
        Orders.AppOrderOperation memory op;
        op.order = s.a;
        op.operation = Orders.OrderOperationEnum.CLOSE;
        vm.prank(appOwner);
        hub.manageAppOrder(op);
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), 0, "closed app order");
    }

    // ------------------------------------------------------------------ failed calls change nothing

    struct State {
        uint256[] free;
        uint256[] frozen;
        uint256 hubRlc;
        uint256 supply;
        uint256[4] consumed;
        address[4] presigned;
    }

    function snapshot(address[] memory accounts, bytes32[4] memory hashes) internal view returns (State memory st) {
        st.free = new uint256[](accounts.length);
        st.frozen = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            st.free[i] = hub.balanceOf(accounts[i]);
            st.frozen[i] = hub.frozenOf(accounts[i]);
        }
        st.hubRlc = rlc.balanceOf(address(hub));
        st.supply = hub.totalSupply();
        for (uint256 i = 0; i < 4; ++i) {
            st.consumed[i] = hub.viewConsumed(hashes[i]);
            st.presigned[i] = hub.viewPresigned(hashes[i]);
        }
    }

    function assertSameState(State memory x, State memory y) internal pure {
        for (uint256 i = 0; i < x.free.length; ++i) {
            assertEq(x.free[i], y.free[i], "free balance changed");
            assertEq(x.frozen[i], y.frozen[i], "frozen balance changed");
        }
        assertEq(x.hubRlc, y.hubRlc, "hub RLC changed");
        assertEq(x.supply, y.supply, "supply changed");
        for (uint256 i = 0; i < 4; ++i) {
            assertEq(x.consumed[i], y.consumed[i], "consumed changed");
            assertEq(x.presigned[i], y.presigned[i], "presigned changed");
        }
    }

    function test_rejectedMatch_changesNothing() public {
        // the scheduler can stake for one task only; the request wants two
        vm.prank(scheduler);
        hub.withdraw(INITIAL_DEPOSIT - POOL_STAKE);
        OrderSet memory s = datasetOrders();
        s.r.volume = 2;
        s = signAll(s);
        // a previous successful match so that consumed values are non-zero
        OrderSet memory first = datasetOrders();
        first.r.salt = keccak256("first");
        matchSet(first);

        address[] memory accounts = new address[](10);
        accounts[0] = appOwner;
        accounts[1] = datasetOwner;
        accounts[2] = scheduler;
        accounts[3] = requester;
        accounts[4] = sponsor;
        accounts[5] = workers[0];
        accounts[6] = KITTY;
        accounts[7] = address(hub);
        accounts[8] = stranger;
        accounts[9] = address(this);
        bytes32[4] memory hashes = [hashOf(s.a), hashOf(s.d), hashOf(s.w), hashOf(s.r)];
        State memory before = snapshot(accounts, hashes);
        assertEq(before.consumed[0], 1, "app consumed once before");
        assertEq(before.frozen[2], POOL_STAKE, "scheduler staked for the first deal");

        // 1. fails in the last step (scheduler stake), after the consumption and the requester lock
        (bool ok, bytes memory ret) = address(hub).call(abi.encodeCall(hub.matchOrders, (s.a, s.d, s.w, s.r)));
        assertTrue(!ok, "stake failure reverts");
        assertEq(
            ret,
            abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, scheduler, 0, 2 * POOL_STAKE),
            "reason"
        );
        assertSameState(before, snapshot(accounts, hashes));

        // 2. sponsored, same failure
        vm.prank(sponsor);
        (ok, ret) = address(hub).call(abi.encodeCall(hub.sponsorMatchOrders, (s.a, s.d, s.w, s.r)));
        assertTrue(!ok, "sponsored stake failure reverts");
        assertSameState(before, snapshot(accounts, hashes));

        // 3. a bad request signature
        Orders.RequestOrder memory r = abi.decode(abi.encode(s.r), (Orders.RequestOrder)); // a copy
        r.sign = signHash(STRANGER_KEY, hashOf(r));
        (ok, ret) = address(hub).call(abi.encodeCall(hub.matchOrders, (s.a, s.d, s.w, r)));
        assertTrue(!ok, "bad signature reverts");
        assertEq(ret, abi.encodeWithSelector(IPocoErrors.InvalidRequestOrderSignature.selector, requester), "reason");
        assertSameState(before, snapshot(accounts, hashes));

        // 4. a restriction
        Orders.WorkerpoolOrder memory w = abi.decode(abi.encode(s.w), (Orders.WorkerpoolOrder)); // a copy
        w.requesterrestrict = BAD;
        w = signed(w);
        (ok, ret) = address(hub).call(abi.encodeCall(hub.matchOrders, (s.a, s.d, w, s.r)));
        assertTrue(!ok, "restriction reverts");
        assertSameState(before, snapshot(accounts, hashes));

        // once the scheduler can stake, the same orders match and the state moves
        fund(scheduler, POOL_STAKE * 2);
        hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(hub.viewConsumed(hashes[3]), 2, "now consumed");
    }
}
