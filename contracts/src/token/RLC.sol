// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IApprovalReceiver} from "../interfaces/IExternal.sol";

/// @title RLC for local chains and tests: ERC-20, 9 decimals, `approveAndCall`.
/// @notice Real deployments point the hub at the existing RLC token instead.
contract RLC is ERC20 {
    /// 87 million RLC, iExec's fixed supply, all minted to the deployer.
    uint256 public constant INITIAL_SUPPLY = 87_000_000 * 1e9;

    error ApproveAndCallRejected(address spender);

    constructor(address holder) ERC20("iExec RLC Token", "RLC") {
        _mint(holder, INITIAL_SUPPLY);
    }

    function decimals() public pure override returns (uint8) {
        return 9;
    }

    /// @notice Approves `spender` and notifies it in the same transaction; the spender must
    /// return true from `receiveApproval`.
    function approveAndCall(address spender, uint256 value, bytes calldata extraData) external returns (bool) {
        _approve(msg.sender, spender, value);
        if (!IApprovalReceiver(spender).receiveApproval(msg.sender, value, address(this), extraData)) {
            revert ApproveAndCallRejected(spender);
        }
        return true;
    }
}
