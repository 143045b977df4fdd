// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";

/// Where a fast deal's commitment lives (in the request's consumed word, or its own word) must
/// not change what matching, closing and pushing do.
contract FastEdgeTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");

    function _push(IPocoEvents.FastDeal memory deal, bytes32 dealid, uint256 idx) internal {
        vm.prank(workers[0]);
        hub.pushResultFast(
            deal,
            dealid,
            idx,
            DIGEST,
            bytes("r"),
            "",
            address(0),
            "",
            authorization(workers[0], taskId(dealid, idx), address(0))
        );
    }

    function _expectNoVolume(Orders.AppOrder memory a, Orders.WorkerpoolOrder memory w, Orders.RequestOrder memory r)
        internal
    {
        Orders.DatasetOrder memory none = noDatasetOrder();
        vm.expectRevert(IPocoErrors.NoVolumeLeft.selector);
        hub.matchOrders(a, none, w, r);
        vm.expectRevert(IPocoErrors.NoVolumeLeft.selector);
        hub.matchOrdersFast(a, none, w, r);
    }

    function test_wholeRequest_closeKeepsTheDeal() public {
        Orders.RequestOrder memory r = requestOrder();
        r.volume = 3;
        vm.recordLogs();
        hub.matchOrdersFast(signed(appOrder()), noDatasetOrder(), signed(workerpoolOrder()), signed(r));
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        bytes32 requestHash = hashOf(r);
        assertEq(hub.viewConsumed(requestHash), 3, "consumed reads the volume");
        _push(deal, dealid, 0);
        assertEq(hub.viewConsumed(requestHash), 3, "a push leaves the consumed volume");

        // Closing the consumed request keeps the deal usable.
        Orders.RequestOrderOperation memory close =
            Orders.RequestOrderOperation(signed(r), Orders.OrderOperationEnum.CLOSE, "");
        vm.prank(requester);
        hub.manageRequestOrder(close);
        assertEq(hub.viewConsumed(requestHash), 3, "still consumed");
        _push(deal, dealid, 1);
        assertEq(hub.viewTaskFast(deal, dealid, 1), 3, "task 1 completed");
        assertEq(hub.viewTaskFast(deal, dealid, 2), 0, "task 2 pending");

        // The request cannot be matched again, on either path.
        // (orders are signed first: signing reads the hub, which would consume expectRevert)
        _expectNoVolume(signed(appOrder()), signed(workerpoolOrder()), signed(r));
    }

    function test_partialRequest_usesItsOwnWord() public {
        Orders.RequestOrder memory r = requestOrder();
        r.volume = 5;
        Orders.WorkerpoolOrder memory w = workerpoolOrder();
        w.volume = 2; // the deal takes 2 of the request's 5 tasks
        vm.recordLogs();
        hub.matchOrdersFast(signed(appOrder()), noDatasetOrder(), signed(w), signed(r));
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        assertEq(hub.viewConsumed(hashOf(r)), 2, "partly consumed");
        _push(deal, dealid, 1);
        assertEq(hub.viewTaskFast(deal, dealid, 1), 3, "completed");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskAlreadySettled.selector, dealid, 1));
        _push(deal, dealid, 1);
    }

    function test_unlimitedOrder_closedStaysClosed() public {
        Orders.AppOrder memory a = appOrder();
        a.volume = type(uint256).max;
        Orders.AppOrderOperation memory close = Orders.AppOrderOperation(signed(a), Orders.OrderOperationEnum.CLOSE, "");
        vm.prank(appOwner);
        hub.manageAppOrder(close);
        _expectNoVolume(signed(a), signed(workerpoolOrder()), signed(requestOrder()));
    }

    function test_forgedDealFields_rejected() public {
        vm.recordLogs();
        hub.matchOrdersFast(signed(appOrder()), noDatasetOrder(), signed(workerpoolOrder()), signed(requestOrder()));
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        deal.workerReward += 1;
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.FastDealMismatch.selector, dealid));
        _push(deal, dealid, 0);
    }
}
