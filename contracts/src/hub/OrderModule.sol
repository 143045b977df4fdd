// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MatchingBase} from "./MatchingBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";

/// @title Orders: presigning and closing, signature checks, deal volume.
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
        s = new bytes4[](7);
        s[0] = this.manageAppOrder.selector;
        s[1] = this.manageDatasetOrder.selector;
        s[2] = this.manageWorkerpoolOrder.selector;
        s[3] = this.manageRequestOrder.selector;
        s[4] = this.computeDealVolume.selector;
        s[5] = this.verifySignature.selector;
        s[6] = this.verifyPresignature.selector;
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
            PocoStorage.get().consumed[orderHash] = PocoStorage.effectiveVolume(op.order.volume);
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
            PocoStorage.get().consumed[orderHash] = PocoStorage.effectiveVolume(op.order.volume);
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
            PocoStorage.get().consumed[orderHash] = PocoStorage.effectiveVolume(op.order.volume);
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
            // A request consumed whole by a fast deal is closed already and keeps that deal.
            uint256 word = PocoStorage.get().consumed[orderHash];
            if (word & PocoStorage.FAST_DEAL_FLAG == 0) {
                PocoStorage.get().consumed[orderHash] = PocoStorage.effectiveVolume(op.order.volume);
            }
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

    /// @notice The volume a match of these orders would have now (0 if it cannot happen).
    function computeDealVolume(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external view returns (uint256) {
        return _dealVolume(appOrder, datasetOrder, workerpoolOrder, requestOrder);
    }
}
