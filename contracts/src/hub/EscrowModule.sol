// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubBase} from "./HubBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibCore_v5} from "../libs/IexecLibCore_v5.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IApprovalReceiver} from "../interfaces/IExternal.sol";

/// @title The RLC escrow (an ERC-20 of staked RLC, 1:1 with RLC), categories and administration.
contract EscrowModule is HubBase {
    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](28);
        s[0] = this.deposit.selector;
        s[1] = this.depositFor.selector;
        s[2] = this.depositForArray.selector;
        s[3] = this.withdraw.selector;
        s[4] = this.withdrawTo.selector;
        s[5] = this.receiveApproval.selector;
        s[6] = this.recover.selector;
        s[7] = this.transfer.selector;
        s[8] = this.approve.selector;
        s[9] = this.transferFrom.selector;
        s[10] = this.increaseAllowance.selector;
        s[11] = this.decreaseAllowance.selector;
        s[12] = this.approveAndCall.selector;
        s[13] = this.balanceOf.selector;
        s[14] = this.frozenOf.selector;
        s[15] = this.viewAccount.selector;
        s[16] = this.allowance.selector;
        s[17] = this.totalSupply.selector;
        s[18] = this.name.selector;
        s[19] = this.symbol.selector;
        s[20] = this.decimals.selector;
        s[21] = this.token.selector;
        s[22] = this.createCategory.selector;
        s[23] = this.setCallbackGas.selector;
        s[24] = this.setTeeBroker.selector;
        s[25] = this.transferOwnership.selector;
        s[26] = this.updateDomainSeparator.selector;
        s[27] = this.acceptOwnership.selector;
    }

    // ------------------------------------------------------------------ deposits and withdrawals

    function deposit(uint256 amount) external returns (bool) {
        _deposit(msg.sender, amount, msg.sender);
        return true;
    }

    function depositFor(uint256 amount, address target) external returns (bool) {
        _deposit(msg.sender, amount, target);
        return true;
    }

    function depositForArray(uint256[] calldata amounts, address[] calldata targets) external returns (bool) {
        if (amounts.length != targets.length) revert ArrayLengthMismatch(amounts.length, targets.length);
        for (uint256 i = 0; i < amounts.length; ++i) {
            _deposit(msg.sender, amounts[i], targets[i]);
        }
        return true;
    }

    function withdraw(uint256 amount) external returns (bool) {
        _withdraw(amount, msg.sender);
        return true;
    }

    function withdrawTo(uint256 amount, address target) external returns (bool) {
        _withdraw(amount, target);
        return true;
    }

    /// @notice The hook of `RLC.approveAndCall(hub, amount, data)`: deposits for `sender`.
    function receiveApproval(address sender, uint256 amount, address token_, bytes calldata) external returns (bool) {
        address rlc = PocoStorage.get().token;
        if (token_ != rlc || msg.sender != rlc) revert WrongToken(token_, rlc);
        _deposit(sender, amount, sender);
        return true;
    }

    /// @notice Mints to the owner any RLC sent to the hub without a deposit.
    function recover() external onlyOwner returns (uint256 delta) {
        PocoStorage.Layout storage l = PocoStorage.get();
        delta = IERC20(l.token).balanceOf(address(this)) - l.totalSupply;
        _mint(l.owner, delta);
    }

    function _deposit(address from, uint256 amount, address target) private {
        if (target == address(0)) revert ZeroAddress();
        address rlc = PocoStorage.get().token;
        if (!_safeTransferFrom(rlc, from, address(this), amount)) {
            revert TokenTransferFailed(rlc, from, address(this), amount);
        }
        _mint(target, amount);
    }

    function _withdraw(uint256 amount, address target) private {
        if (target == address(0)) revert ZeroAddress();
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.Account storage a = l.accounts[msg.sender];
        uint256 free = a.balance;
        if (free < amount) revert InsufficientFreeBalance(msg.sender, free, amount);
        unchecked {
            a.balance = uint96(free - amount);
            l.totalSupply -= amount;
        }
        emit Transfer(msg.sender, address(0), amount);
        address rlc = l.token;
        (bool ok, bytes memory ret) = rlc.call(abi.encodeCall(IERC20.transfer, (target, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) {
            revert TokenTransferFailed(rlc, address(this), target, amount);
        }
    }

    function _mint(address to, uint256 amount) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        uint256 supply = l.totalSupply + amount;
        if (supply > type(uint96).max) revert AmountTooLarge(amount);
        l.totalSupply = supply;
        l.accounts[to].balance += uint96(amount);
        emit Transfer(address(0), to, amount);
    }

    function _safeTransferFrom(address token_, address from, address to, uint256 amount) private returns (bool) {
        (bool ok, bytes memory ret) = token_.call(abi.encodeCall(IERC20.transferFrom, (from, to, amount)));
        return ok && (ret.length == 0 || abi.decode(ret, (bool)));
    }

    // ------------------------------------------------------------------ ERC-20 of the free balance

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spendAllowance(from, msg.sender, amount);
        _transfer(from, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    function increaseAllowance(address spender, uint256 added) external returns (bool) {
        _approve(msg.sender, spender, PocoStorage.get().allowances[msg.sender][spender] + added);
        return true;
    }

    function decreaseAllowance(address spender, uint256 subtracted) external returns (bool) {
        uint256 current = PocoStorage.get().allowances[msg.sender][spender];
        if (current < subtracted) revert InsufficientAllowance(msg.sender, spender, current, subtracted);
        unchecked {
            _approve(msg.sender, spender, current - subtracted);
        }
        return true;
    }

    function approveAndCall(address spender, uint256 amount, bytes calldata extraData) external returns (bool) {
        _approve(msg.sender, spender, amount);
        if (!IApprovalReceiver(spender).receiveApproval(msg.sender, amount, address(this), extraData)) {
            revert ApproveAndCallRejected(spender);
        }
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        if (to == address(0)) revert ZeroAddress();
        PocoStorage.Layout storage l = PocoStorage.get();
        uint256 free = l.accounts[from].balance;
        if (free < amount) revert InsufficientFreeBalance(from, free, amount);
        unchecked {
            l.accounts[from].balance = uint96(free - amount);
        }
        l.accounts[to].balance += uint96(amount);
        emit Transfer(from, to, amount);
    }

    function _approve(address owner_, address spender, uint256 amount) private {
        if (spender == address(0)) revert ZeroAddress();
        PocoStorage.get().allowances[owner_][spender] = amount;
        emit Approval(owner_, spender, amount);
    }

    function _spendAllowance(address owner_, address spender, uint256 amount) private {
        uint256 current = PocoStorage.get().allowances[owner_][spender];
        if (current == type(uint256).max) return;
        if (current < amount) revert InsufficientAllowance(owner_, spender, current, amount);
        unchecked {
            PocoStorage.get().allowances[owner_][spender] = current - amount;
        }
    }

    // ------------------------------------------------------------------ views

    function balanceOf(address account) external view returns (uint256) {
        return PocoStorage.get().accounts[account].balance;
    }

    function frozenOf(address account) external view returns (uint256) {
        return PocoStorage.get().accounts[account].frozen;
    }

    function viewAccount(address account) external view returns (IexecLibCore_v5.Account memory) {
        PocoStorage.Account memory a = PocoStorage.get().accounts[account];
        return IexecLibCore_v5.Account(a.balance, a.frozen);
    }

    function allowance(address owner_, address spender) external view returns (uint256) {
        return PocoStorage.get().allowances[owner_][spender];
    }

    function totalSupply() external view returns (uint256) {
        return PocoStorage.get().totalSupply;
    }

    function name() external view returns (string memory) {
        return PocoStorage.get().name;
    }

    function symbol() external view returns (string memory) {
        return PocoStorage.get().symbol;
    }

    function decimals() external pure returns (uint8) {
        return 9;
    }

    function token() external view returns (address) {
        return PocoStorage.get().token;
    }

    // ------------------------------------------------------------------ administration

    /// @notice Appends a category (categories are never changed or removed).
    function createCategory(string calldata name_, string calldata description, uint256 workClockTimeRef)
        external
        onlyOwner
        returns (uint256 catid)
    {
        if (workClockTimeRef == 0 || workClockTimeRef > type(uint32).max) {
            revert InvalidWorkClockTimeRef(workClockTimeRef);
        }
        PocoStorage.Layout storage l = PocoStorage.get();
        catid = l.categories.length;
        if (catid > type(uint16).max) revert AmountTooLarge(catid);
        l.categories.push(IexecLibCore_v5.Category(name_, description, workClockTimeRef));
        l.timerefs[catid] = workClockTimeRef;
        emit CreateCategory(catid, name_, description, workClockTimeRef);
    }

    function setCallbackGas(uint256 gas) external onlyOwner {
        PocoStorage.get().callbackgas = gas;
    }

    function setTeeBroker(address broker) external onlyOwner {
        PocoStorage.get().teebroker = broker;
    }

    /// @notice First step of an ownership transfer: names `newOwner` as the pending owner
    /// (zero cancels a pending transfer). `owner()` does not change until `newOwner` calls
    /// `acceptOwnership`, so a mistyped address cannot take the hub out of anyone's hands.
    function transferOwnership(address newOwner) external onlyOwner {
        PocoStorage.Layout storage l = PocoStorage.get();
        l.pendingOwner = newOwner;
        emit OwnershipTransferStarted(l.owner, newOwner);
    }

    /// @notice Second step: the pending owner takes the ownership.
    function acceptOwnership() external {
        PocoStorage.Layout storage l = PocoStorage.get();
        address pending = l.pendingOwner;
        if (msg.sender != pending || pending == address(0)) revert NotPendingOwner(msg.sender, pending);
        emit OwnershipTransferred(l.owner, pending);
        l.owner = pending;
        l.pendingOwner = address(0);
    }

    /// @notice Stores the separator of the current chain id. Kept for iExec compatibility: the
    /// hub checks signatures against the current chain id's separator whether or not this is
    /// called (the stored copy is informational).
    function updateDomainSeparator() external {
        PocoStorage.get().domainSeparator = _domainSeparator();
    }
}
