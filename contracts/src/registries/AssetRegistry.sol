// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Enumerable} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Enumerable.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

/// @title An ERC-721 registry of assets (apps, datasets or workerpools).
/// @notice Each asset is a small contract (an ERC-1167 clone of the registry's master copy) created
/// with CREATE2; its NFT id is its address, and whoever holds the NFT owns the asset.
abstract contract AssetRegistry is ERC721Enumerable {
    /// The master copy every asset of this registry delegates to.
    address public immutable master;

    event AssetCreated(address indexed asset, address indexed owner);

    error AssetAlreadyExists(address asset);
    error AssetInitializationFailed(address asset);
    error InvalidAssetOwner();

    constructor(string memory name_, string memory symbol_, address master_) ERC721(name_, symbol_) {
        master = master_;
    }

    /// @notice True if `asset` was created by this registry.
    function isRegistered(address asset) external view returns (bool) {
        return _ownerOf(uint256(uint160(asset))) != address(0);
    }

    /// @notice The owner of `asset`, or the zero address when this registry did not create it.
    function ownerOfAsset(address asset) external view returns (address) {
        return _ownerOf(uint256(uint160(asset)));
    }

    function _salt(bytes memory initializer, address assetOwner) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(initializer, assetOwner));
    }

    function _predict(bytes memory initializer, address assetOwner) internal view returns (address) {
        return Clones.predictDeterministicAddress(master, _salt(initializer, assetOwner));
    }

    function _create(bytes memory initializer, address assetOwner) internal returns (address asset) {
        if (assetOwner == address(0)) revert InvalidAssetOwner();
        bytes32 salt = _salt(initializer, assetOwner);
        address predicted = Clones.predictDeterministicAddress(master, salt);
        if (predicted.code.length != 0) revert AssetAlreadyExists(predicted);
        asset = Clones.cloneDeterministic(master, salt);
        (bool ok,) = asset.call(initializer);
        if (!ok) revert AssetInitializationFailed(asset);
        _mint(assetOwner, uint256(uint160(asset)));
        emit AssetCreated(asset, assetOwner);
    }
}

/// @title The common part of assets: ownership follows the registry's NFT.
abstract contract RegistryEntry {
    /// The registry that created this asset (zero on the master copy until it is locked).
    address public registry;

    error AlreadyInitialized();
    error NotAssetOwner(address caller, address owner);

    constructor() {
        // Lock the master copy: only clones are initialized, by their registry.
        registry = address(0xdead);
    }

    modifier initializer() {
        if (registry != address(0)) revert AlreadyInitialized();
        registry = msg.sender;
        _;
    }

    modifier onlyOwner() {
        address o = owner();
        if (msg.sender != o) revert NotAssetOwner(msg.sender, o);
        _;
    }

    /// @notice The holder of this asset's NFT.
    function owner() public view returns (address) {
        return ERC721(registry).ownerOf(uint256(uint160(address(this))));
    }
}
