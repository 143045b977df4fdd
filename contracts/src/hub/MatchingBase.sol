// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubBase} from "./HubBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";
import {IAssetRegistry, IWorkerpoolTerms} from "../interfaces/IExternal.sol";

/// @title The matching rules shared by the classic path and the fast path.
/// @notice Checks run in the PoCo order (category, trust, prices, tags, identities,
/// restrictions, registration and signatures, volume), then the orders are consumed and the
/// payer's and the scheduler's funds are locked.
abstract contract MatchingBase is HubBase {
    using Orders for Orders.AppOrder;
    using Orders for Orders.DatasetOrder;
    using Orders for Orders.WorkerpoolOrder;
    using Orders for Orders.RequestOrder;

    bytes32 private constant TEE_BIT = bytes32(uint256(1));

    struct Match {
        bytes32 dealid;
        bytes32 appHash;
        bytes32 datasetHash;
        bytes32 workerpoolHash;
        bytes32 requestHash;
        uint256 volume;
        uint256 botFirst;
        uint256 datasetPrice;
        address appOwner;
        address datasetOwner;
        address workerpoolOwner;
        uint256 workerStakeRatio;
        uint256 schedulerRewardRatio;
        bytes32 tag;
        uint256 timeref;
    }

    function _match(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder,
        address payer,
        bool transferEvents
    ) internal returns (Match memory m) {
        (m.tag, m.timeref) = _checkCompatibility(appOrder, datasetOrder, workerpoolOrder, requestOrder);
        _checkRestrictions(appOrder, datasetOrder, workerpoolOrder, requestOrder);
        _authenticate(m, appOrder, datasetOrder, workerpoolOrder, requestOrder);
        _consume(m, appOrder.volume, datasetOrder, workerpoolOrder.volume, requestOrder.volume);
        m.datasetPrice = datasetOrder.dataset == address(0) ? 0 : datasetOrder.datasetprice;
        uint256 workerpoolPrice = workerpoolOrder.workerpoolprice;
        _lock(payer, (appOrder.appprice + m.datasetPrice + workerpoolPrice) * m.volume, transferEvents);
        _lock(m.workerpoolOwner, workerpoolPrice * PocoStorage.WORKERPOOL_STAKE_RATIO / 100 * m.volume, transferEvents);
    }

    /// The volume a match would have (0 when any order is exhausted or closed).
    function _dealVolume(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) internal view returns (uint256 volume) {
        PocoStorage.Layout storage l = PocoStorage.get();
        bytes32 ds = _domainSeparator();
        volume = _remaining(l, Orders.toTypedDataHash(ds, requestOrder.hash()), requestOrder.volume);
        volume = _min(volume, _remaining(l, Orders.toTypedDataHash(ds, appOrder.hash()), appOrder.volume));
        volume = _min(volume, _remaining(l, Orders.toTypedDataHash(ds, workerpoolOrder.hash()), workerpoolOrder.volume));
        if (datasetOrder.dataset != address(0)) {
            volume = _min(volume, _remaining(l, Orders.toTypedDataHash(ds, datasetOrder.hash()), datasetOrder.volume));
        }
    }

    function _checkCompatibility(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) private view returns (bytes32 tag, uint256 timeref) {
        if (requestOrder.category != workerpoolOrder.category) {
            revert CategoryMismatch(requestOrder.category, workerpoolOrder.category);
        }
        timeref = _timeref(requestOrder.category);
        if (requestOrder.trust > workerpoolOrder.trust) revert TrustTooHigh(requestOrder.trust, workerpoolOrder.trust);
        if (requestOrder.appmaxprice < appOrder.appprice) {
            revert AppPriceTooHigh(appOrder.appprice, requestOrder.appmaxprice);
        }
        if (requestOrder.datasetmaxprice < datasetOrder.datasetprice) {
            revert DatasetPriceTooHigh(datasetOrder.datasetprice, requestOrder.datasetmaxprice);
        }
        if (requestOrder.workerpoolmaxprice < workerpoolOrder.workerpoolprice) {
            revert WorkerpoolPriceTooHigh(workerpoolOrder.workerpoolprice, requestOrder.workerpoolmaxprice);
        }
        tag = appOrder.tag | datasetOrder.tag | requestOrder.tag;
        bytes32 missing = tag & ~workerpoolOrder.tag;
        if (missing != 0) revert TagNotOffered(missing);
        if ((tag ^ appOrder.tag) & TEE_BIT != 0) revert TeeTagMissingInAppOrder();
        if (requestOrder.app != appOrder.app) revert AppMismatch(requestOrder.app, appOrder.app);
        if (requestOrder.dataset != datasetOrder.dataset) {
            revert DatasetMismatch(requestOrder.dataset, datasetOrder.dataset);
        }
    }

    function _checkRestrictions(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) private view {
        address app = appOrder.app;
        address dataset = datasetOrder.dataset;
        address workerpool = workerpoolOrder.workerpool;
        address requester = requestOrder.requester;
        if (!_isAllowed(requestOrder.workerpool, workerpool)) {
            revert RequestWorkerpoolRestriction(requestOrder.workerpool, workerpool);
        }
        if (!_isAllowed(appOrder.datasetrestrict, dataset)) {
            revert AppDatasetRestriction(appOrder.datasetrestrict, dataset);
        }
        if (!_isAllowed(appOrder.workerpoolrestrict, workerpool)) {
            revert AppWorkerpoolRestriction(appOrder.workerpoolrestrict, workerpool);
        }
        if (!_isAllowed(appOrder.requesterrestrict, requester)) {
            revert AppRequesterRestriction(appOrder.requesterrestrict, requester);
        }
        if (!_isAllowed(datasetOrder.apprestrict, app)) revert DatasetAppRestriction(datasetOrder.apprestrict, app);
        if (!_isAllowed(datasetOrder.workerpoolrestrict, workerpool)) {
            revert DatasetWorkerpoolRestriction(datasetOrder.workerpoolrestrict, workerpool);
        }
        if (!_isAllowed(datasetOrder.requesterrestrict, requester)) {
            revert DatasetRequesterRestriction(datasetOrder.requesterrestrict, requester);
        }
        if (!_isAllowed(workerpoolOrder.apprestrict, app)) {
            revert WorkerpoolAppRestriction(workerpoolOrder.apprestrict, app);
        }
        if (!_isAllowed(workerpoolOrder.datasetrestrict, dataset)) {
            revert WorkerpoolDatasetRestriction(workerpoolOrder.datasetrestrict, dataset);
        }
        if (!_isAllowed(workerpoolOrder.requesterrestrict, requester)) {
            revert WorkerpoolRequesterRestriction(workerpoolOrder.requesterrestrict, requester);
        }
    }

    function _authenticate(
        Match memory m,
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) private view {
        PocoStorage.Layout storage l = PocoStorage.get();
        bytes32 ds = _domainSeparator();

        m.appOwner = IAssetRegistry(l.appRegistry).ownerOfAsset(appOrder.app);
        if (m.appOwner == address(0)) revert AppNotRegistered(appOrder.app);
        m.appHash = Orders.toTypedDataHash(ds, appOrder.hash());
        if (!_isOrderAuthentic(m.appOwner, m.appHash, appOrder.sign)) revert InvalidAppOrderSignature(m.appOwner);

        if (datasetOrder.dataset != address(0)) {
            m.datasetOwner = IAssetRegistry(l.datasetRegistry).ownerOfAsset(datasetOrder.dataset);
            if (m.datasetOwner == address(0)) revert DatasetNotRegistered(datasetOrder.dataset);
            m.datasetHash = Orders.toTypedDataHash(ds, datasetOrder.hash());
            if (!_isOrderAuthentic(m.datasetOwner, m.datasetHash, datasetOrder.sign)) {
                revert InvalidDatasetOrderSignature(m.datasetOwner);
            }
        }

        (m.workerpoolOwner, m.workerStakeRatio, m.schedulerRewardRatio) =
            IWorkerpoolTerms(l.workerpoolRegistry).workerpoolTerms(workerpoolOrder.workerpool);
        if (m.workerpoolOwner == address(0)) revert WorkerpoolNotRegistered(workerpoolOrder.workerpool);
        m.workerpoolHash = Orders.toTypedDataHash(ds, workerpoolOrder.hash());
        if (!_isOrderAuthentic(m.workerpoolOwner, m.workerpoolHash, workerpoolOrder.sign)) {
            revert InvalidWorkerpoolOrderSignature(m.workerpoolOwner);
        }

        m.requestHash = Orders.toTypedDataHash(ds, requestOrder.hash());
        if (!_isOrderAuthentic(requestOrder.requester, m.requestHash, requestOrder.sign)) {
            revert InvalidRequestOrderSignature(requestOrder.requester);
        }
    }

    function _consume(
        Match memory m,
        uint256 appVolume,
        Orders.DatasetOrder calldata datasetOrder,
        uint256 workerpoolVolume,
        uint256 requestVolume
    ) private {
        PocoStorage.Layout storage l = PocoStorage.get();
        uint256 requestConsumed = PocoStorage.consumedOf(l.consumed[m.requestHash]);
        uint256 appConsumed = l.consumed[m.appHash];
        uint256 workerpoolConsumed = l.consumed[m.workerpoolHash];
        uint256 volume = _min(
            _min(_sub0(requestVolume, requestConsumed), _sub0(appVolume, appConsumed)),
            _sub0(workerpoolVolume, workerpoolConsumed)
        );
        bool hasDataset = datasetOrder.dataset != address(0);
        uint256 datasetConsumed;
        if (hasDataset) {
            datasetConsumed = l.consumed[m.datasetHash];
            volume = _min(volume, _sub0(datasetOrder.volume, datasetConsumed));
        }
        if (volume == 0) revert NoVolumeLeft();

        m.volume = volume;
        m.botFirst = requestConsumed;
        m.dealid = keccak256(abi.encodePacked(m.requestHash, requestConsumed));
        // Sums cannot overflow: each stays at most its order's volume.
        unchecked {
            l.consumed[m.requestHash] = requestConsumed + volume;
            l.consumed[m.appHash] = appConsumed + volume;
            l.consumed[m.workerpoolHash] = workerpoolConsumed + volume;
            if (hasDataset) l.consumed[m.datasetHash] = datasetConsumed + volume;
        }
    }

    function _remaining(PocoStorage.Layout storage l, bytes32 orderHash, uint256 volume)
        private
        view
        returns (uint256)
    {
        return _sub0(volume, PocoStorage.consumedOf(l.consumed[orderHash]));
    }

    /// What is left of an order of `volume` after `consumed` (volumes count up to
    /// PocoStorage.MAX_VOLUME).
    function _sub0(uint256 volume, uint256 consumed) private pure returns (uint256) {
        volume = PocoStorage.effectiveVolume(volume);
        return volume > consumed ? volume - consumed : 0;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
