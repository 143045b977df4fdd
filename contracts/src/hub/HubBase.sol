// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoStorage} from "../libs/PocoStorage.sol";
import {IPocoErrors} from "../interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../interfaces/IPocoEvents.sol";
import {IERC1271, IERC734, IOracleConsumer} from "../interfaces/IExternal.sol";

/// @title What every hub module shares: storage access, escrow primitives, signatures,
/// restrictions and callbacks. Modules run by delegatecall in the hub's context.
abstract contract HubBase is IPocoErrors, IPocoEvents {
    modifier onlyOwner() {
        address o = PocoStorage.get().owner;
        if (msg.sender != o) revert NotHubOwner(msg.sender, o);
        _;
    }

    // ------------------------------------------------------------------ escrow primitives
    // lock:   free -> frozen            (Transfer(a, hub), Lock)
    // unlock: frozen -> free            (Transfer(hub, a), Unlock)
    // seize:  frozen -> hub's pot       (Seize)  -- the tokens stay in the hub
    // reward: hub's pot -> free         (Transfer(hub, a), Reward)

    function _lock(address account, uint256 amount) internal {
        _lock(account, amount, true);
    }

    // Accounts are one word: balance | frozen << 96 | score << 192 (PocoStorage.Account). No
    // field can wrap: every balance and frozen amount is at most the escrow's total supply,
    // which minting caps below 2^96, so only the subtractions need checking.
    uint256 internal constant BALANCE_MASK = (1 << 96) - 1;

    function _loadAccount(address account) internal view returns (uint256 word) {
        PocoStorage.Account storage a = PocoStorage.get().accounts[account];
        assembly ("memory-safe") {
            word := sload(a.slot)
        }
    }

    function _storeAccount(address account, uint256 word) internal {
        PocoStorage.Account storage a = PocoStorage.get().accounts[account];
        assembly ("memory-safe") {
            sstore(a.slot, word)
        }
    }

    function _frozenOf(uint256 word) internal pure returns (uint256) {
        return (word >> 96) & BALANCE_MASK;
    }

    /// Locks without the ERC-20 Transfer event when `transferEvent` is false (the fast path,
    /// whose events carry the amounts).
    function _lock(address account, uint256 amount, bool transferEvent) internal {
        if (amount == 0) return;
        uint256 word = _loadAccount(account);
        uint256 free = word & BALANCE_MASK;
        if (free < amount) revert InsufficientFreeBalance(account, free, amount);
        _storeAccount(account, word - amount + (amount << 96));
        if (transferEvent) emit Transfer(account, address(this), amount);
        emit Lock(account, amount);
    }

    function _unlock(address account, uint256 amount) internal {
        if (amount == 0) return;
        uint256 word = _loadAccount(account);
        uint256 frozen = _frozenOf(word);
        if (frozen < amount) revert InsufficientFrozenBalance(account, frozen, amount);
        _storeAccount(account, word - (amount << 96) + amount);
        emit Transfer(address(this), account, amount);
        emit Unlock(account, amount);
    }

    function _seize(address account, uint256 amount, bytes32 ref) internal {
        if (amount == 0) return;
        uint256 word = _loadAccount(account);
        uint256 frozen = _frozenOf(word);
        if (frozen < amount) revert InsufficientFrozenBalance(account, frozen, amount);
        _storeAccount(account, word - (amount << 96));
        emit Seize(account, amount, ref);
    }

    function _reward(address account, uint256 amount, bytes32 ref) internal {
        if (amount == 0) return;
        _storeAccount(account, _loadAccount(account) + amount);
        emit Transfer(address(this), account, amount);
        emit Reward(account, amount, ref);
    }

    /// Unlocks `unlocked` and rewards `rewarded` to one account with a single storage write.
    function _unlockAndReward(address account, uint256 unlocked, uint256 rewarded, bytes32 ref) internal {
        uint256 word = _loadAccount(account);
        uint256 frozen = _frozenOf(word);
        if (frozen < unlocked) revert InsufficientFrozenBalance(account, frozen, unlocked);
        _storeAccount(account, word - (unlocked << 96) + unlocked + rewarded);
        if (unlocked + rewarded != 0) emit Transfer(address(this), account, unlocked + rewarded);
        if (unlocked != 0) emit Unlock(account, unlocked);
        if (rewarded != 0) emit Reward(account, rewarded, ref);
    }

    /// The kitty's share paid to a scheduler on success: 10 % of the kitty, at least 1 RLC,
    /// at most what the kitty holds, and at most `poolStake`, the stake the scheduler locked for
    /// this task (PoCo has no such cap). A task's share is thus tied to its own price, and a
    /// zero-price task earns nothing: without the cap anyone could empty the kitty for free by
    /// dealing with itself at price 0. Seized from the kitty here; the caller rewards it.
    function _takeKittyShare(bytes32 ref, uint256 poolStake) internal returns (uint256 share) {
        if (poolStake == 0) return 0;
        uint256 word = _loadAccount(PocoStorage.KITTY_ADDRESS);
        uint256 frozen = _frozenOf(word);
        if (frozen == 0) return 0;
        share = frozen * PocoStorage.KITTY_RATIO / 100;
        if (share < PocoStorage.KITTY_MIN) share = PocoStorage.KITTY_MIN;
        if (share > frozen) share = frozen;
        if (share > poolStake) share = poolStake;
        _storeAccount(PocoStorage.KITTY_ADDRESS, word - (share << 96));
        emit Seize(PocoStorage.KITTY_ADDRESS, share, ref);
    }

    /// A failed task's pool stake goes to the kitty (no token moves: it is already in the hub).
    function _feedKitty(uint256 amount, bytes32 ref) internal {
        if (amount == 0) return;
        _storeAccount(PocoStorage.KITTY_ADDRESS, _loadAccount(PocoStorage.KITTY_ADDRESS) + (amount << 96));
        emit Reward(PocoStorage.KITTY_ADDRESS, amount, ref);
        emit Lock(PocoStorage.KITTY_ADDRESS, amount);
    }

    // ------------------------------------------------------------------ signatures

    /// The EIP-712 domain separator of the current chain id. Computed on every use (cheaper than
    /// reading a stored copy), so after a chain fork each side checks signatures against its own
    /// chain id at once; the hub overrides this with a copy cached in its code.
    function _domainSeparator() internal view virtual returns (bytes32) {
        return _computeDomainSeparator();
    }

    function _computeDomainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("iExecODB"),
                keccak256("5.0.0"),
                block.chainid,
                address(this)
            )
        );
    }

    /// EOA (65-byte r,s,v or 64-byte EIP-2098) or ERC-1271 contract signature over `hash`.
    /// Returns false for a wrong signer or a malformed signature.
    function _isValidSignature(address account, bytes32 hash, bytes calldata sig) internal view returns (bool) {
        if (account == address(0)) return false;
        if (account.code.length != 0) {
            (bool ok, bytes memory ret) =
                account.staticcall(abi.encodeWithSelector(IERC1271.isValidSignature.selector, hash, sig));
            return ok && ret.length >= 32 && abi.decode(ret, (bytes4)) == IERC1271.isValidSignature.selector;
        }
        return _recover(hash, sig) == account;
    }

    function _recover(bytes32 hash, bytes calldata sig) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (sig.length == 65) {
            r = bytes32(sig[0:32]);
            s = bytes32(sig[32:64]);
            v = uint8(sig[64]);
        } else if (sig.length == 64) {
            r = bytes32(sig[0:32]);
            bytes32 vs = bytes32(sig[32:64]);
            s = vs & bytes32(0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff);
            v = uint8(uint256(vs) >> 255) + 27;
        } else {
            return address(0);
        }
        if (v < 27) v += 27;
        // Reject malleable signatures (upper half of s), as OpenZeppelin's ECDSA does.
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) return address(0);
        if (v != 27 && v != 28) return address(0);
        return ecrecover(hash, v, r, s);
    }

    /// Order authenticity: presigned by `account`, or signed by it.
    function _isOrderAuthentic(address account, bytes32 orderHash, bytes calldata sig) internal view returns (bool) {
        if (sig.length != 0 && _isValidSignature(account, orderHash, sig)) return true;
        return _isPresigned(account, orderHash);
    }

    /// True if `account` presigned `orderHash` on chain (manage*Order SIGN).
    function _isPresigned(address account, bytes32 orderHash) internal view returns (bool) {
        return account != address(0) && PocoStorage.get().presigned[orderHash] == account;
    }

    /// EIP-191 personal-sign hash of a 32-byte message hash.
    function _ethSignedHash(bytes32 messageHash) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            mstore(0x00, "\x19Ethereum Signed Message:\n32")
            mstore(0x1c, messageHash)
            digest := keccak256(0x00, 0x3c)
        }
    }

    /// The worker's authorization (scheduler or TEE broker over worker|taskid|enclave) and, for
    /// an enclave, its signature over `enclaveMessage`.
    function _checkAuthorization(
        address workerpoolOwner,
        address worker,
        bytes32 taskid,
        address enclaveChallenge,
        bytes calldata authorizationSign,
        bytes32 enclaveMessage,
        bytes calldata enclaveSign
    ) internal view {
        address teebroker = enclaveChallenge != address(0) ? PocoStorage.get().teebroker : address(0);
        address signer = teebroker != address(0) ? teebroker : workerpoolOwner;
        bytes32 auth = _ethSignedHash(keccak256(abi.encodePacked(worker, taskid, enclaveChallenge)));
        if (!_isValidSignature(signer, auth, authorizationSign)) revert InvalidAuthorization(worker, signer);
        if (enclaveChallenge != address(0)) {
            if (!_isValidSignature(enclaveChallenge, _ethSignedHash(enclaveMessage), enclaveSign)) {
                revert InvalidEnclaveSignature(enclaveChallenge);
            }
        }
    }

    // ------------------------------------------------------------------ restrictions

    /// A restriction passes when it is unset, equal to the account, or an ERC-734 identity
    /// contract in which the account holds a group-member key (purpose 4).
    function _isAllowed(address restriction, address account) internal view returns (bool) {
        if (restriction == address(0) || restriction == account) return true;
        if (restriction.code.length == 0) return false;
        try IERC734(restriction)
            .keyHasPurpose(bytes32(uint256(uint160(account))), PocoStorage.GROUPMEMBER_PURPOSE) returns (
            bool member
        ) {
            return member;
        } catch {
            return false;
        }
    }

    // ------------------------------------------------------------------ callbacks

    /// Calls the consumer with a fixed gas budget. Its outcome is ignored so that a failing
    /// consumer never blocks payment; the caller must leave enough gas for the call to run.
    function _callback(address callback, bytes32 taskid, bytes calldata resultsCallback) internal {
        if (callback == address(0)) return;
        uint256 callbackGas = PocoStorage.get().callbackgas;
        bytes memory data = abi.encodeCall(IOracleConsumer.receiveResult, (taskid, resultsCallback));
        // The return data is never copied, so a consumer cannot grief with a huge reply.
        assembly ("memory-safe") {
            pop(call(callbackGas, callback, 0, add(data, 0x20), mload(data), 0, 0))
        }
        if (gasleft() <= callbackGas / 63) revert NotEnoughGasAfterCallback();
    }

    // ------------------------------------------------------------------ categories

    function _timeref(uint256 category) internal view returns (uint256) {
        PocoStorage.Layout storage l = PocoStorage.get();
        uint256 timeref = l.timerefs[category];
        if (timeref == 0) revert UnknownCategory(category, l.categories.length);
        return timeref;
    }
}
