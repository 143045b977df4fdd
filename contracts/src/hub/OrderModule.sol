// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MatchingBase} from "./MatchingBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";

/// @title Orders: presigning and closing, signature checks, and classic matching.
contract OrderModule is MatchingBase {
    using Orders for Orders.AppOrder;
    using Orders for Orders.DatasetOrder;
    using Orders for Orders.WorkerpoolOrder;
    using Orders for Orders.RequestOrder;
    using Orders for Orders.AppOrderOperation;
    using Orders for Orders.DatasetOrderOperation;
    using Orders for Orders.WorkerpoolOrderOperation;
    using Orders for Orders.RequestOrderOperation;

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](9);
        s[0] = this.manageAppOrder.selector;
        s[1] = this.manageDatasetOrder.selector;
        s[2] = this.manageWorkerpoolOrder.selector;
        s[3] = this.manageRequestOrder.selector;
        s[4] = this.matchOrders.selector;
        s[5] = this.sponsorMatchOrders.selector;
        s[6] = this.computeDealVolume.selector;
        s[7] = this.verifySignature.selector;
        s[8] = this.verifyPresignature.selector;
    }

    // ------------------------------------------------------------------ signatures

    /// @notice True if `signature` over `hash` is valid for `account` (EOA 65/64-byte or ERC-1271).
    function verifySignature(address account, bytes32 hash, bytes calldata signature) external view returns (bool) {
        if (account.code.length == 0 && signature.length != 65 && signature.length != 64) {
            revert InvalidSignatureFormat(signature.length);
        }
        return _isValidSignature(account, hash, signature);
    }

    /// @notice True if `hash` was presigned on chain by `account`.
    function verifyPresignature(address account, bytes32 hash) external view returns (bool) {
        return account != address(0) && PocoStorage.get().presigned[hash] == account;
    }

    // ------------------------------------------------------------------ presign / close

    function manageAppOrder(Orders.AppOrderOperation calldata op) external {
        address owner_ = _assetOwner(PocoStorage.get().appRegistry, op.order.app);
        bytes32 orderHash = _orderHash(op.order.hash());
        _authorizeOperation(owner_, op.hash(), op.sign);
        if (op.operation == Orders.OrderOperationEnum.SIGN) {
            PocoStorage.get().presigned[orderHash] = owner_;
            emit SignedAppOrder(orderHash);
        } else {
            PocoStorage.get().consumed[orderHash] = op.order.volume;
            emit ClosedAppOrder(orderHash);
        }
    }

    function manageDatasetOrder(Orders.DatasetOrderOperation calldata op) external {
        address owner_ = _assetOwner(PocoStorage.get().datasetRegistry, op.order.dataset);
        bytes32 orderHash = _orderHash(op.order.hash());
        _authorizeOperation(owner_, op.hash(), op.sign);
        if (op.operation == Orders.OrderOperationEnum.SIGN) {
            PocoStorage.get().presigned[orderHash] = owner_;
            emit SignedDatasetOrder(orderHash);
        } else {
            PocoStorage.get().consumed[orderHash] = op.order.volume;
            emit ClosedDatasetOrder(orderHash);
        }
    }

    function manageWorkerpoolOrder(Orders.WorkerpoolOrderOperation calldata op) external {
        address owner_ = _assetOwner(PocoStorage.get().workerpoolRegistry, op.order.workerpool);
        bytes32 orderHash = _orderHash(op.order.hash());
        _authorizeOperation(owner_, op.hash(), op.sign);
        if (op.operation == Orders.OrderOperationEnum.SIGN) {
            PocoStorage.get().presigned[orderHash] = owner_;
            emit SignedWorkerpoolOrder(orderHash);
        } else {
            PocoStorage.get().consumed[orderHash] = op.order.volume;
            emit ClosedWorkerpoolOrder(orderHash);
        }
    }

    function manageRequestOrder(Orders.RequestOrderOperation calldata op) external {
        address owner_ = op.order.requester;
        bytes32 orderHash = _orderHash(op.order.hash());
        _authorizeOperation(owner_, op.hash(), op.sign);
        if (op.operation == Orders.OrderOperationEnum.SIGN) {
            PocoStorage.get().presigned[orderHash] = owner_;
            emit SignedRequestOrder(orderHash);
        } else {
            PocoStorage.get().consumed[orderHash] = op.order.volume;
            emit ClosedRequestOrder(orderHash);
        }
    }

    function _orderHash(bytes32 structHash) private view returns (bytes32) {
        return Orders.toTypedDataHash(PocoStorage.get().domainSeparator, structHash);
    }

    function _assetOwner(address registry, address asset) private view returns (address) {
        (bool ok, bytes memory ret) = registry.staticcall(abi.encodeWithSignature("ownerOfAsset(address)", asset));
        return ok && ret.length == 32 ? abi.decode(ret, (address)) : address(0);
    }

    /// The owner calls, or anyone relays the owner's signature over the operation.
    function _authorizeOperation(address owner_, bytes32 operationStructHash, bytes calldata sign) private view {
        if (owner_ != address(0) && msg.sender == owner_) return;
        if (owner_ != address(0) && _isValidSignature(owner_, _orderHash(operationStructHash), sign)) return;
        revert InvalidSenderOrSignature(msg.sender, owner_);
    }

    // ------------------------------------------------------------------ matching

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

    /// @notice The volume a match of these orders would have now (0 if it cannot happen).
    function computeDealVolume(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external view returns (uint256) {
        return _dealVolume(appOrder, datasetOrder, workerpoolOrder, requestOrder);
    }

    function _matchClassic(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder,
        address sponsor
    ) private returns (bytes32) {
        Match memory m = _match(appOrder, datasetOrder, workerpoolOrder, requestOrder, sponsor);
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
