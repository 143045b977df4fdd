// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoStorage} from "../libs/PocoStorage.sol";
import {FastPath} from "./FastPath.sol";
import {ClassicMatch} from "./ClassicMatch.sol";

interface IModule {
    function selectors() external pure returns (bytes4[] memory);
}

/// @title The hub: the one address clients use. It holds the storage, serves the fast path
/// itself, and routes every other call by selector to the module that implements it (a minimal
/// diamond).
contract Hub is FastPath, ClassicMatch {
    event ModuleSet(bytes4 indexed selector, address module);

    uint256 private immutable CACHED_CHAIN_ID;
    bytes32 private immutable CACHED_DOMAIN_SEPARATOR;

    struct Config {
        address owner;
        address token;
        address appRegistry;
        address datasetRegistry;
        address workerpoolRegistry;
        uint256 callbackgas;
    }

    constructor(Config memory config, address[] memory modules) {
        if (
            config.owner == address(0) || config.token == address(0) || config.appRegistry == address(0)
                || config.datasetRegistry == address(0) || config.workerpoolRegistry == address(0)
        ) revert ZeroAddress();
        PocoStorage.Layout storage l = PocoStorage.get();
        l.owner = config.owner;
        l.token = config.token;
        l.appRegistry = config.appRegistry;
        l.datasetRegistry = config.datasetRegistry;
        l.workerpoolRegistry = config.workerpoolRegistry;
        l.callbackgas = config.callbackgas;
        l.name = "Staked RLC";
        l.symbol = "SRLC";
        bytes32 separator = _computeDomainSeparator();
        l.domainSeparator = separator;
        CACHED_CHAIN_ID = block.chainid;
        CACHED_DOMAIN_SEPARATOR = separator;
        emit OwnershipTransferred(address(0), config.owner);
        for (uint256 i = 0; i < modules.length; ++i) {
            _install(modules[i]);
        }
    }

    /// @notice Installs (or upgrades) every function of `module`. Owner only.
    function setModule(address module) external {
        address o = PocoStorage.get().owner;
        if (msg.sender != o) revert NotHubOwner(msg.sender, o);
        _install(module);
    }

    /// @notice The module serving `selector`: the hub itself for the fast path and routing,
    /// zero if none.
    function moduleOf(bytes4 selector) external view returns (address) {
        if (
            selector == this.matchOrdersFast.selector || selector == this.sponsorMatchOrdersFast.selector
                || selector == this.pushResultFast.selector || selector == this.claimFast.selector
                || selector == this.viewTaskFast.selector || selector == this.setModule.selector
                || selector == this.moduleOf.selector || selector == this.matchOrders.selector
                || selector == this.sponsorMatchOrders.selector
        ) return address(this);
        return PocoStorage.get().modules[selector];
    }

    function _install(address module) private {
        bytes4[] memory s = IModule(module).selectors();
        mapping(bytes4 => address) storage m = PocoStorage.get().modules;
        for (uint256 i = 0; i < s.length; ++i) {
            m[s[i]] = module;
            emit ModuleSet(s[i], module);
        }
    }

    /// The separator cached at deployment while the chain id is unchanged; after a fork, the
    /// one of the new chain id, computed (never a stored copy that could name the old chain).
    function _domainSeparator() internal view override returns (bytes32) {
        return block.chainid == CACHED_CHAIN_ID ? CACHED_DOMAIN_SEPARATOR : _computeDomainSeparator();
    }

    fallback() external {
        address module = PocoStorage.get().modules[msg.sig];
        if (module == address(0)) revert UnknownFunction(msg.sig);
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
