// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MatchingBase} from "./MatchingBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";
import {IAssetRegistry} from "../interfaces/IExternal.sol";

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
        return _isPresigned(account, hash);
    }

    // ------------------------------------------------------------------ presign / close

    function manageAppOrder(Orders.AppOrderOperation calldata op) external {
        (bytes32 h, bool signed) = _manage(
            _assetOwner(PocoStorage.get().appRegistry, op.order.app),
            op.order.hash(),
            op.hash(),
            op.operation,
            op.order.volume,
            op.sign
        );
        if (signed) emit SignedAppOrder(h);
        else emit ClosedAppOrder(h);
    }

    function manageDatasetOrder(Orders.DatasetOrderOperation calldata op) external {
        (bytes32 h, bool signed) = _manage(
            _assetOwner(PocoStorage.get().datasetRegistry, op.order.dataset),
            op.order.hash(),
            op.hash(),
            op.operation,
            op.order.volume,
            op.sign
        );
        if (signed) emit SignedDatasetOrder(h);
        else emit ClosedDatasetOrder(h);
    }

    function manageWorkerpoolOrder(Orders.WorkerpoolOrderOperation calldata op) external {
        (bytes32 h, bool signed) = _manage(
            _assetOwner(PocoStorage.get().workerpoolRegistry, op.order.workerpool),
            op.order.hash(),
            op.hash(),
            op.operation,
            op.order.volume,
            op.sign
        );
        if (signed) emit SignedWorkerpoolOrder(h);
        else emit ClosedWorkerpoolOrder(h);
    }

    function manageRequestOrder(Orders.RequestOrderOperation calldata op) external {
        (bytes32 h, bool signed) =
            _manage(op.order.requester, op.order.hash(), op.hash(), op.operation, op.order.volume, op.sign);
        if (signed) emit SignedRequestOrder(h);
        else emit ClosedRequestOrder(h);
    }

    /// SIGN presigns the order for its owner; CLOSE exhausts its volume. The owner calls, or
    /// anyone relays the owner's signature over the operation. Returns the order hash and
    /// whether the operation was SIGN.
    function _manage(
        address owner_,
        bytes32 orderStructHash,
        bytes32 operationStructHash,
        Orders.OrderOperationEnum operation,
        uint256 volume,
        bytes calldata sign
    ) private returns (bytes32 orderHash, bool signed) {
        orderHash = _orderHash(orderStructHash);
        _authorizeOperation(owner_, operationStructHash, sign);
        signed = operation == Orders.OrderOperationEnum.SIGN;
        PocoStorage.Layout storage l = PocoStorage.get();
        if (signed) {
            l.presigned[orderHash] = owner_;
        } else if (l.consumed[orderHash] & PocoStorage.FAST_DEAL_FLAG == 0) {
            // (a request consumed whole by a fast deal is closed already and keeps that deal)
            l.consumed[orderHash] = PocoStorage.effectiveVolume(volume);
        }
    }

    function _orderHash(bytes32 structHash) private view returns (bytes32) {
        return Orders.toTypedDataHash(_domainSeparator(), structHash);
    }

    function _assetOwner(address registry, address asset) private view returns (address) {
        return IAssetRegistry(registry).ownerOfAsset(asset);
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
