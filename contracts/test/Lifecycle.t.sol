// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";

contract LifecycleTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");

    function test_trustOne_contributeAndFinalize() public {
        bytes32 dealid = matchSigned(appOrder(), noDatasetOrder(), workerpoolOrder(), requestOrder());
        uint256 price = APP_PRICE + WORKERPOOL_PRICE;
        assertEq(hub.frozenOf(requester), price, "requester locked");
        assertEq(hub.frozenOf(scheduler), WORKERPOOL_PRICE * 30 / 100, "scheduler stake locked");

        bytes32 taskid = hub.initialize(dealid, 0);
        vm.prank(workers[0]);
        hub.contributeAndFinalize(
            taskid, DIGEST, bytes("ipfs://result"), "", address(0), "", authorization(workers[0], taskid, address(0))
        );
        Core.Task memory t = hub.viewTask(taskid);
        assertEq(uint256(t.status), uint256(Core.TaskStatusEnum.COMPLETED), "completed");
        assertEq(t.resultDigest, DIGEST, "digest");
        assertEq(hub.frozenOf(requester), 0, "requester paid");
        assertEq(hub.balanceOf(appOwner), INITIAL_DEPOSIT + APP_PRICE, "app owner paid");
        uint256 workerReward = WORKERPOOL_PRICE * 99 / 100;
        assertEq(hub.balanceOf(workers[0]), INITIAL_DEPOSIT + workerReward, "worker paid");
        assertEq(
            hub.balanceOf(scheduler), INITIAL_DEPOSIT + WORKERPOOL_PRICE - workerReward, "scheduler paid, stake back"
        );
    }

    function test_fastPath_push() public {
        vm.recordLogs();
        Orders.RequestOrder memory r = requestOrder();
        hub.matchOrdersFast(signed(appOrder()), noDatasetOrder(), signed(workerpoolOrder()), signed(r));
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        bytes32 taskid = taskId(dealid, 0);
        vm.prank(workers[0]);
        hub.pushResultFast(
            deal,
            dealid,
            0,
            DIGEST,
            bytes("ipfs://r"),
            "",
            address(0),
            "",
            authorization(workers[0], taskid, address(0))
        );
        assertEq(hub.viewTaskFast(deal, dealid, 0), 3, "completed");
        assertEq(hub.frozenOf(requester), 0, "requester paid");
        assertEq(hub.balanceOf(workers[0]), INITIAL_DEPOSIT + WORKERPOOL_PRICE * 99 / 100, "worker paid");
    }
}
