// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IexecLibOrders_v5 as Orders} from "../../src/libs/IexecLibOrders_v5.sol";

/// @notice A minimal ERC-734 identity: keys (bytes32 of an address) with purposes.
contract IdentityMock {
    mapping(bytes32 => mapping(uint256 => bool)) private purposes;

    function addKey(address account, uint256 purpose) external {
        purposes[bytes32(uint256(uint160(account)))][purpose] = true;
    }

    function keyHasPurpose(bytes32 key, uint256 purpose) external view returns (bool) {
        return purposes[key][purpose];
    }
}

/// @notice An identity whose lookup always reverts (must count as "not a member").
contract RevertingIdentity {
    function keyHasPurpose(bytes32, uint256) external pure returns (bool) {
        revert("identity down");
    }
}

/// @notice An ERC-1271 smart wallet controlled by one EOA key: a signature is valid when it is
/// the controller's 65-byte ECDSA signature over the hash.
contract WalletMock {
    address public immutable controller;

    constructor(address controller_) {
        controller = controller_;
    }

    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        if (sig.length != 65) return 0xffffffff;
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        return ecrecover(hash, v, r, s) == controller ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }

    /// Lets the controller act as the wallet (e.g. presign orders with manage*Order).
    function exec(address target, bytes calldata data) external returns (bytes memory ret) {
        require(msg.sender == controller, "not controller");
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @notice An ERC-1271 contract that answers the magic value with a revert or garbage.
contract BrokenWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        revert("broken");
    }
}

/// @notice A callback consumer that records what it receives.
contract RecordingConsumer {
    bytes32 public lastTaskId;
    bytes public lastData;
    uint256 public calls;

    function receiveResult(bytes32 taskId, bytes calldata data) external {
        lastTaskId = taskId;
        lastData = data;
        calls += 1;
    }
}

/// @notice A callback consumer that always reverts.
contract RevertingConsumer {
    function receiveResult(bytes32, bytes calldata) external pure {
        revert("consumer failed");
    }
}

/// @notice A callback consumer that burns all the gas it is given.
contract GasBurnerConsumer {
    uint256 public counter;

    function receiveResult(bytes32, bytes calldata) external {
        while (true) {
            counter += 1;
        }
    }
}

/// @notice The receiving side of the hub's (SRLC) approveAndCall.
contract ApprovalReceiverMock {
    address public lastSender;
    uint256 public lastAmount;
    address public lastToken;
    bytes public lastData;
    bool public answer = true;

    function setAnswer(bool a) external {
        answer = a;
    }

    function receiveApproval(address sender, uint256 amount, address token, bytes calldata data)
        external
        returns (bool)
    {
        lastSender = sender;
        lastAmount = amount;
        lastToken = token;
        lastData = data;
        return answer;
    }
}

/// @notice A hub module adding one function, and (optionally) overriding countCategory.
contract ModuleMock {
    bool private immutable overrideCount;

    constructor(bool overrideCount_) {
        overrideCount = overrideCount_;
    }

    function selectors() external view returns (bytes4[] memory s) {
        s = new bytes4[](overrideCount ? 2 : 1);
        s[0] = this.hello.selector;
        if (overrideCount) s[1] = this.countCategory.selector;
    }

    function hello() external pure returns (uint256) {
        return 42;
    }

    function countCategory() external pure returns (uint256) {
        return 777;
    }
}

/// @notice Exposes the contracts' own EIP-712 hashing (IexecLibOrders_v5) to the tests.
contract OrderHasher {
    function domainSeparator(Orders.EIP712Domain calldata d) external pure returns (bytes32) {
        return Orders.hash(d);
    }

    function appStructHash(Orders.AppOrder calldata o) external pure returns (bytes32) {
        return Orders.hash(o);
    }

    function datasetStructHash(Orders.DatasetOrder calldata o) external pure returns (bytes32) {
        return Orders.hash(o);
    }

    function workerpoolStructHash(Orders.WorkerpoolOrder calldata o) external pure returns (bytes32) {
        return Orders.hash(o);
    }

    function requestStructHash(Orders.RequestOrder calldata o) external pure returns (bytes32) {
        return Orders.hash(o);
    }

    function appOperationStructHash(Orders.AppOrderOperation calldata op) external pure returns (bytes32) {
        return Orders.hash(op);
    }

    function datasetOperationStructHash(Orders.DatasetOrderOperation calldata op) external pure returns (bytes32) {
        return Orders.hash(op);
    }

    function workerpoolOperationStructHash(Orders.WorkerpoolOrderOperation calldata op)
        external
        pure
        returns (bytes32)
    {
        return Orders.hash(op);
    }

    function requestOperationStructHash(Orders.RequestOrderOperation calldata op) external pure returns (bytes32) {
        return Orders.hash(op);
    }

    function typedDataHash(bytes32 separator, bytes32 structHash) external pure returns (bytes32) {
        return Orders.toTypedDataHash(separator, structHash);
    }
}
