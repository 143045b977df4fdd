// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MatchingBase} from "./MatchingBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";

/// @title Classic matching: the deal is stored in full (packed) for the PoCo views and the
/// replicated task lifecycle. Served by the hub itself, without a module hop.
abstract contract ClassicMatch is MatchingBase {
    /// @notice Matches the four orders into a deal paid by the requester.
    function matchOrders(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32) {
        return _matchClassic(appOrder, datasetOrder, workerpoolOrder, requestOrder, requestOrder.requester);
    }

    /// @notice Same as matchOrders, paid by the caller.
    function sponsorMatchOrders(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32 dealid) {
        dealid = _matchClassic(appOrder, datasetOrder, workerpoolOrder, requestOrder, msg.sender);
        emit DealSponsored(dealid, msg.sender);
    }

    function _matchClassic(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder,
        address sponsor
    ) private returns (bytes32) {
        Match memory m = _match(appOrder, datasetOrder, workerpoolOrder, requestOrder, sponsor, true);
        _storeDeal(m, appOrder, datasetOrder, workerpoolOrder, requestOrder, sponsor);
        emit SchedulerNotice(workerpoolOrder.workerpool, m.dealid);
        emit OrdersMatched(m.dealid, m.appHash, m.datasetHash, m.workerpoolHash, m.requestHash, m.volume);
        return m.dealid;
    }

    function _storeDeal(
        Match memory m,
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder,
        address sponsor
    ) private {
        PocoStorage.DealRecord storage d = PocoStorage.get().deals[m.dealid];
        uint256 workerpoolPrice = workerpoolOrder.workerpoolprice;
        uint256 workerStake = workerpoolPrice * m.workerStakeRatio / 100;
        uint256 trust = requestOrder.trust == 0 ? 1 : requestOrder.trust;
        _fits(appOrder.appprice, 96, "appprice");
        _fits(m.datasetPrice, 96, "datasetprice");
        _fits(workerpoolPrice, 96, "workerpoolprice");
        _fits(workerStake, 96, "workerStake");
        _fits(trust, 32, "trust");
        _fits(m.botFirst + m.volume, 40, "volume");

        d.app = uint160(appOrder.app) | appOrder.appprice << 160;
        d.appOwner = uint160(m.appOwner) | workerpoolPrice << 160;
        d.workerpool = uint160(workerpoolOrder.workerpool) | workerStake << 160;
        d.pool = uint160(m.workerpoolOwner) | block.timestamp << 160 | requestOrder.category << 200
            | m.schedulerRewardRatio << 216 | (uint256(m.tag) & 1) << 223 | trust << 224;
        uint256 flags;
        if (requestOrder.beneficiary != requestOrder.requester) {
            flags |= PocoStorage.FLAG_BENEFICIARY;
            d.beneficiary = requestOrder.beneficiary;
        }
        if (sponsor != requestOrder.requester) {
            flags |= PocoStorage.FLAG_SPONSOR;
            d.sponsor = sponsor;
        }
        d.requester = uint160(requestOrder.requester) | m.botFirst << 160 | m.volume << 200 | flags << 240;
        if (datasetOrder.dataset != address(0)) {
            d.dataset = uint160(datasetOrder.dataset) | m.datasetPrice << 160;
            d.datasetOwner = m.datasetOwner;
        }
        if (requestOrder.callback != address(0)) d.callback = requestOrder.callback;
        if (m.tag != 0) d.tag = m.tag;
        if (bytes(requestOrder.params).length != 0) d.params = requestOrder.params;
    }

    function _fits(uint256 value, uint256 bits, string memory field) private pure {
        if (value >> bits != 0) revert DealFieldTooLarge(field);
    }
}
