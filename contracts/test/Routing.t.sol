// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {ModuleMock, ApprovalReceiverMock} from "./utils/Mocks.sol";
import {IPoco} from "../src/interfaces/IPoco.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";
import {AssetRegistry, RegistryEntry} from "../src/registries/AssetRegistry.sol";
import {App} from "../src/registries/App.sol";
import {Dataset} from "../src/registries/Dataset.sol";
import {Workerpool} from "../src/registries/Workerpool.sol";
import {RLC} from "../src/token/RLC.sol";

interface IModuleSelectors {
    function selectors() external view returns (bytes4[] memory);
}

/// @notice The hub as one address: routing and administration, the asset registries, and the
/// escrow (deposits, withdrawals, the ERC-20 of the staked balance, approveAndCall).
contract RoutingTest is PocoTest {
    // ------------------------------------------------------------------ routing

    uint256 internal constant IPOCO_FUNCTIONS = 85;

    /// Every function of IPoco (the XOR of this list is checked against the interface id).
    function routedSelectors() internal pure returns (bytes4[] memory s) {
        s = new bytes4[](IPOCO_FUNCTIONS);
        uint256 i;
        // routing
        s[i++] = IPoco.setModule.selector;
        s[i++] = IPoco.moduleOf.selector;
        // escrow
        s[i++] = IPoco.deposit.selector;
        s[i++] = IPoco.depositFor.selector;
        s[i++] = IPoco.depositForArray.selector;
        s[i++] = IPoco.withdraw.selector;
        s[i++] = IPoco.withdrawTo.selector;
        s[i++] = IPoco.receiveApproval.selector;
        s[i++] = IPoco.recover.selector;
        s[i++] = IPoco.transfer.selector;
        s[i++] = IPoco.approve.selector;
        s[i++] = IPoco.transferFrom.selector;
        s[i++] = IPoco.increaseAllowance.selector;
        s[i++] = IPoco.decreaseAllowance.selector;
        s[i++] = IPoco.approveAndCall.selector;
        s[i++] = IPoco.balanceOf.selector;
        s[i++] = IPoco.frozenOf.selector;
        s[i++] = IPoco.viewAccount.selector;
        s[i++] = IPoco.allowance.selector;
        s[i++] = IPoco.totalSupply.selector;
        s[i++] = IPoco.name.selector;
        s[i++] = IPoco.symbol.selector;
        s[i++] = IPoco.decimals.selector;
        s[i++] = IPoco.token.selector;
        // administration and categories
        s[i++] = IPoco.createCategory.selector;
        s[i++] = IPoco.setCallbackGas.selector;
        s[i++] = IPoco.setTeeBroker.selector;
        s[i++] = IPoco.transferOwnership.selector;
        s[i++] = IPoco.acceptOwnership.selector;
        s[i++] = IPoco.updateDomainSeparator.selector;
        s[i++] = IPoco.countCategory.selector;
        s[i++] = IPoco.viewCategory.selector;
        // signatures and orders
        s[i++] = IPoco.verifySignature.selector;
        s[i++] = IPoco.verifyPresignature.selector;
        s[i++] = IPoco.manageAppOrder.selector;
        s[i++] = IPoco.manageDatasetOrder.selector;
        s[i++] = IPoco.manageWorkerpoolOrder.selector;
        s[i++] = IPoco.manageRequestOrder.selector;
        s[i++] = IPoco.viewConsumed.selector;
        s[i++] = IPoco.viewPresigned.selector;
        // matching
        s[i++] = IPoco.matchOrders.selector;
        s[i++] = IPoco.sponsorMatchOrders.selector;
        s[i++] = IPoco.computeDealVolume.selector;
        s[i++] = IPoco.viewDeal.selector;
        // classic tasks
        s[i++] = IPoco.initialize.selector;
        s[i++] = IPoco.contribute.selector;
        s[i++] = IPoco.initializeAndContribute.selector;
        s[i++] = IPoco.reveal.selector;
        s[i++] = IPoco.reopen.selector;
        s[i++] = IPoco.finalize.selector;
        s[i++] = IPoco.contributeAndFinalize.selector;
        s[i++] = IPoco.revealAndFinalize.selector;
        s[i++] = IPoco.claim.selector;
        s[i++] = IPoco.initializeArray.selector;
        s[i++] = IPoco.claimArray.selector;
        s[i++] = IPoco.initializeAndClaimArray.selector;
        s[i++] = IPoco.viewTask.selector;
        s[i++] = IPoco.viewContribution.selector;
        s[i++] = IPoco.viewScore.selector;
        s[i++] = IPoco.resultFor.selector;
        // fast path
        s[i++] = IPoco.matchOrdersFast.selector;
        s[i++] = IPoco.sponsorMatchOrdersFast.selector;
        s[i++] = IPoco.pushResultFast.selector;
        s[i++] = IPoco.claimFast.selector;
        s[i++] = IPoco.viewTaskFast.selector;
        // configuration views
        s[i++] = IPoco.owner.selector;
        s[i++] = IPoco.pendingOwner.selector;
        s[i++] = IPoco.appregistry.selector;
        s[i++] = IPoco.datasetregistry.selector;
        s[i++] = IPoco.workerpoolregistry.selector;
        s[i++] = IPoco.teebroker.selector;
        s[i++] = IPoco.callbackgas.selector;
        s[i++] = IPoco.contribution_deadline_ratio.selector;
        s[i++] = IPoco.reveal_deadline_ratio.selector;
        s[i++] = IPoco.final_deadline_ratio.selector;
        s[i++] = IPoco.workerpool_stake_ratio.selector;
        s[i++] = IPoco.kitty_ratio.selector;
        s[i++] = IPoco.kitty_min.selector;
        s[i++] = IPoco.kitty_address.selector;
        s[i++] = IPoco.groupmember_purpose.selector;
        s[i++] = IPoco.eip712domain_separator.selector;
        s[i++] = IPoco.domain.selector;
        s[i++] = IPoco.viewApp.selector;
        s[i++] = IPoco.viewDataset.selector;
        s[i++] = IPoco.viewWorkerpool.selector;
        assertEq(i, IPOCO_FUNCTIONS, "selector count");
    }

    function test_everyFunctionOfIPocoIsRouted() public view {
        bytes4[] memory s = routedSelectors();
        bytes4 xor;
        for (uint256 i = 0; i < s.length; ++i) {
            address m = hub.moduleOf(s[i]);
            bool hubOwn = s[i] == IPoco.setModule.selector || s[i] == IPoco.moduleOf.selector;
            // the hub's own routing functions may report the hub or nothing
            if (!hubOwn) {
                assertTrue(m != address(0), string.concat("not routed: ", vm.toString(bytes32(s[i]))));
            } else {
                assertTrue(m == address(0) || m == address(hub), "routing functions are the hub's");
            }
            assertTrue(m == address(0) || m.code.length > 0, "routed to code");
            xor ^= s[i];
            for (uint256 j = 0; j < i; ++j) {
                assertTrue(s[i] != s[j], "duplicate selector in the list");
            }
        }
        // the list is the whole interface: XOR of the selectors = ERC-165 interface id
        assertEq(bytes32(xor), bytes32(type(IPoco).interfaceId), "the list covers IPoco exactly");
    }

    /// No selector is claimed by two modules (each module's list maps back to that module), the
    /// modules route nothing outside IPoco, and modules plus the hub's own functions cover it.
    function test_modulesDoNotOverlap() public view {
        bytes4[] memory s = routedSelectors();
        uint256 moduleSelectors;
        uint256 servedByHub;
        address[] memory seen = new address[](s.length);
        uint256 n;
        for (uint256 i = 0; i < s.length; ++i) {
            address m = hub.moduleOf(s[i]);
            if (m == address(hub) || m == address(0)) {
                servedByHub++;
                continue;
            }
            bool known;
            for (uint256 k = 0; k < n; ++k) {
                if (seen[k] == m) known = true;
            }
            if (known) continue;
            seen[n++] = m;
            bytes4[] memory own = IModuleSelectors(m).selectors();
            for (uint256 j = 0; j < own.length; ++j) {
                assertEq(hub.moduleOf(own[j]), m, "selector routed to another module");
                bool inList;
                for (uint256 k = 0; k < s.length; ++k) {
                    if (s[k] == own[j]) inList = true;
                }
                assertTrue(inList, "module routes a selector outside IPoco");
            }
            moduleSelectors += own.length;
        }
        assertGt(n, 1, "several modules");
        assertEq(moduleSelectors + servedByHub, IPOCO_FUNCTIONS, "modules + hub cover IPoco once");
    }

    function test_unknownSelectorsRevert() public {
        (bool ok, bytes memory ret) = address(hub).call(abi.encodeWithSelector(bytes4(0xdeadbeef), uint256(1)));
        assertTrue(!ok, "unknown selector reverts");
        assertEq(ret, abi.encodeWithSelector(IPocoErrors.UnknownFunction.selector, bytes4(0xdeadbeef)), "reason");
        bytes4 renounce = bytes4(keccak256("renounceOwnership()"));
        (ok, ret) = address(hub).call(abi.encodeWithSelector(renounce));
        assertTrue(!ok, "renounceOwnership is not routed");
        assertEq(ret, abi.encodeWithSelector(IPocoErrors.UnknownFunction.selector, renounce), "reason");
        (ok, ret) = address(hub).call("");
        assertTrue(!ok, "empty calldata reverts");
        assertEq(ret, abi.encodeWithSelector(IPocoErrors.UnknownFunction.selector, bytes4(0)), "reason");
        vm.deal(address(this), 1 ether);
        (ok,) = address(hub).call{value: 1}("");
        assertTrue(!ok, "the hub takes no ether");
        (ok,) = address(hub).call{value: 1}(abi.encodeCall(hub.countCategory, ()));
        assertTrue(!ok, "nor with a routed call");
    }

    // ------------------------------------------------------------------ administration

    function test_onlyOwner_administration() public {
        address owner_ = address(this);
        assertEq(hub.owner(), owner_, "owner");
        bytes memory notOwner = abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, stranger, owner_);
        ModuleMock module = new ModuleMock(false);
        vm.startPrank(stranger);
        vm.expectRevert(notOwner);
        hub.setModule(address(module));
        vm.expectRevert(notOwner);
        hub.createCategory("X", "", 1);
        vm.expectRevert(notOwner);
        hub.setCallbackGas(1);
        vm.expectRevert(notOwner);
        hub.setTeeBroker(stranger);
        vm.expectRevert(notOwner);
        hub.transferOwnership(stranger);
        vm.expectRevert(notOwner);
        hub.recover();
        vm.stopPrank();

        hub.setCallbackGas(300_000);
        assertEq(hub.callbackgas(), 300_000, "callback gas");
        hub.setTeeBroker(address(0xB40CE4));
        assertEq(hub.teebroker(), address(0xB40CE4), "tee broker");

        // two steps (the details are in Security.t.sol, L11)
        hub.transferOwnership(stranger);
        assertEq(hub.owner(), owner_, "owner until accepted");
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.OwnershipTransferred(owner_, stranger);
        vm.prank(stranger);
        hub.acceptOwnership();
        assertEq(hub.owner(), stranger, "new owner");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, owner_, stranger));
        hub.setCallbackGas(1);
        vm.prank(stranger);
        hub.setCallbackGas(123);
        assertEq(hub.callbackgas(), 123, "new owner administers");
    }

    function test_setModule_addsAndUpgrades() public {
        (bool ok,) = address(hub).call(abi.encodeCall(ModuleMock.hello, ()));
        assertTrue(!ok, "not routed yet");
        ModuleMock module = new ModuleMock(false);
        vm.expectEmit(true, false, false, true, address(hub));
        emit ModuleSet(ModuleMock.hello.selector, address(module));
        hub.setModule(address(module));
        assertEq(hub.moduleOf(ModuleMock.hello.selector), address(module), "routed");
        assertEq(ModuleMock(address(hub)).hello(), 42, "served through the hub");
        assertEq(hub.countCategory(), 5, "others unchanged");

        ModuleMock upgrade = new ModuleMock(true);
        hub.setModule(address(upgrade));
        assertEq(hub.moduleOf(IPoco.countCategory.selector), address(upgrade), "upgraded selector");
        assertEq(hub.countCategory(), 777, "the new code serves countCategory");
    }

    event ModuleSet(bytes4 indexed selector, address module);

    function test_categories() public {
        assertEq(hub.countCategory(), 5, "default categories");
        string[5] memory names = ["XS", "S", "M", "L", "XL"];
        uint256[5] memory refs = [uint256(300), 1200, 3600, 10800, 36000];
        for (uint256 i = 0; i < 5; ++i) {
            Core.Category memory c = hub.viewCategory(i);
            assertEq(c.name, names[i], "name");
            assertEq(c.description, '""', "description");
            assertEq(c.workClockTimeRef, refs[i], "workClockTimeRef");
        }
        vm.expectEmit(false, false, false, true, address(hub));
        emit IPocoEvents.CreateCategory(5, "XXL", "{}", 100_000);
        assertEq(hub.createCategory("XXL", "{}", 100_000), 5, "new id");
        assertEq(hub.countCategory(), 6, "count");
        assertEq(hub.viewCategory(5).workClockTimeRef, 100_000, "stored");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.UnknownCategory.selector, 6, 6));
        hub.viewCategory(6);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidWorkClockTimeRef.selector, 0));
        hub.createCategory("zero", "", 0);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidWorkClockTimeRef.selector, uint256(1) << 32));
        hub.createCategory("huge", "", uint256(1) << 32);

        // a deal in the new category gets its deadlines from it
        OrderSet memory s = defaultOrders();
        s.w.category = 5;
        s.r.category = 5;
        bytes32 dealid = matchSet(s);
        Core.Task memory t = hub.viewTask(hub.initialize(dealid, 0));
        assertEq(t.timeref, 100_000, "timeref");
        assertEq(t.finalDeadline, block.timestamp + 1_000_000, "final deadline 10T");
    }

    function test_constantsAndConfigurationViews() public {
        assertEq(hub.contribution_deadline_ratio(), 7, "contribution ratio");
        assertEq(hub.reveal_deadline_ratio(), 2, "reveal ratio");
        assertEq(hub.final_deadline_ratio(), 10, "final ratio");
        assertEq(hub.workerpool_stake_ratio(), 30, "stake ratio");
        assertEq(hub.kitty_ratio(), 10, "kitty ratio");
        assertEq(hub.kitty_min(), 1e9, "kitty min");
        assertEq(hub.kitty_address(), KITTY, "kitty address");
        assertEq(hub.kitty_address(), address(uint160(uint256(keccak256("iExecKitty")) >> 96) - 1), "kitty = hash - 1");
        assertEq(hub.groupmember_purpose(), 4, "group member purpose");
        assertEq(hub.appregistry(), address(poco.appRegistry), "app registry");
        assertEq(hub.datasetregistry(), address(poco.datasetRegistry), "dataset registry");
        assertEq(hub.workerpoolregistry(), address(poco.workerpoolRegistry), "workerpool registry");
        assertEq(hub.token(), address(rlc), "token");
        assertEq(hub.callbackgas(), 200_000, "default callback gas");
        assertEq(hub.teebroker(), address(0), "no broker");
        assertEq(hub.name(), "Staked RLC", "name");
        assertEq(hub.symbol(), "SRLC", "symbol");
        assertEq(hub.decimals(), 9, "decimals");

        Orders.EIP712Domain memory d = hub.domain();
        assertEq(d.name, "iExecODB", "domain name");
        assertEq(d.version, "5.0.0", "domain version");
        assertEq(d.chainId, block.chainid, "domain chain");
        assertEq(d.verifyingContract, address(hub), "domain contract");
        assertEq(hub.eip712domain_separator(), Orders.hash(d), "separator = hash(domain())");

        // a chain id change: the separator follows at once (security review L3);
        // updateDomainSeparator, kept for compatibility, changes nothing
        bytes32 old = hub.eip712domain_separator();
        vm.chainId(42161);
        bytes32 updated = hub.eip712domain_separator();
        assertEq(
            updated, Orders.hash(Orders.EIP712Domain("iExecODB", "5.0.0", 42161, address(hub))), "new chain separator"
        );
        vm.prank(stranger);
        hub.updateDomainSeparator();
        assertEq(hub.eip712domain_separator(), updated, "unchanged by updateDomainSeparator");
        assertEq(hub.domain().chainId, 42161, "domain() follows the chain");
        assertTrue(updated != old, "changed");
    }

    // ------------------------------------------------------------------ registries

    function test_registries_createPredictDuplicate() public {
        bytes memory ma = bytes("docker.io/org/app:1.0");
        address predicted =
            address(poco.appRegistry.predictApp(appOwner, "app2", "DOCKER", ma, keccak256("img"), bytes("{}")));
        assertTrue(!poco.appRegistry.isRegistered(predicted), "not yet");
        vm.expectEmit(true, true, false, true, address(poco.appRegistry));
        emit AssetRegistry.AssetCreated(predicted, appOwner);
        vm.prank(stranger); // anyone creates, for any owner
        address created =
            address(poco.appRegistry.createApp(appOwner, "app2", "DOCKER", ma, keccak256("img"), bytes("{}")));
        assertEq(created, predicted, "CREATE2 address predicted");
        assertTrue(poco.appRegistry.isRegistered(created), "registered");
        assertEq(poco.appRegistry.ownerOf(uint256(uint160(created))), appOwner, "NFT id = address");
        assertEq(App(created).owner(), appOwner, "owner()");
        assertEq(App(created).registry(), address(poco.appRegistry), "registry");

        vm.expectRevert(abi.encodeWithSelector(AssetRegistry.AssetAlreadyExists.selector, predicted));
        poco.appRegistry.createApp(appOwner, "app2", "DOCKER", ma, keccak256("img"), bytes("{}"));
        // same arguments, another owner: another asset
        address other =
            address(poco.appRegistry.createApp(stranger, "app2", "DOCKER", ma, keccak256("img"), bytes("{}")));
        assertTrue(other != created, "owner is part of the salt");
        vm.expectRevert(err(AssetRegistry.InvalidAssetOwner.selector));
        poco.appRegistry.createApp(address(0), "x", "DOCKER", "", bytes32(0), "");
        vm.expectRevert(err(RegistryEntry.AlreadyInitialized.selector));
        App(created).initialize("again", "", "", bytes32(0), "");

        address ds =
            address(poco.datasetRegistry.predictDataset(datasetOwner, "d2", bytes("ipfs://d2"), keccak256("d2")));
        assertEq(
            address(poco.datasetRegistry.createDataset(datasetOwner, "d2", bytes("ipfs://d2"), keccak256("d2"))),
            ds,
            "dataset predicted"
        );
        vm.expectRevert(abi.encodeWithSelector(AssetRegistry.AssetAlreadyExists.selector, ds));
        poco.datasetRegistry.createDataset(datasetOwner, "d2", bytes("ipfs://d2"), keccak256("d2"));
        address wp = address(poco.workerpoolRegistry.predictWorkerpool(scheduler, "pool 2"));
        assertEq(address(poco.workerpoolRegistry.createWorkerpool(scheduler, "pool 2")), wp, "pool predicted");
        vm.expectRevert(abi.encodeWithSelector(AssetRegistry.AssetAlreadyExists.selector, wp));
        poco.workerpoolRegistry.createWorkerpool(scheduler, "pool 2");

        // registries are separate: an app is not a dataset
        assertTrue(!poco.datasetRegistry.isRegistered(app), "app not in dataset registry");
        assertTrue(!poco.workerpoolRegistry.isRegistered(dataset), "dataset not in pool registry");
        assertEq(poco.appRegistry.name(), "iExec Application Registry (V5)", "app registry name");
        assertEq(poco.appRegistry.symbol(), "iExecAppsV5", "app registry symbol");
        assertEq(poco.datasetRegistry.symbol(), "iExecDatasetsV5", "dataset registry symbol");
        assertEq(poco.workerpoolRegistry.symbol(), "iExecWorkerpoolV5", "pool registry symbol");
    }

    function test_registries_ownershipFollowsTheNft_andEnumeration() public {
        address app2 = address(poco.appRegistry.createApp(appOwner, "two", "DOCKER", "", bytes32(0), ""));
        address app3 = address(poco.appRegistry.createApp(appOwner, "three", "DOCKER", "", bytes32(0), ""));
        assertEq(poco.appRegistry.balanceOf(appOwner), 3, "three apps");
        assertEq(poco.appRegistry.totalSupply(), 3, "supply");
        assertEq(poco.appRegistry.tokenOfOwnerByIndex(appOwner, 0), uint256(uint160(app)), "index 0");
        assertEq(poco.appRegistry.tokenOfOwnerByIndex(appOwner, 1), uint256(uint160(app2)), "index 1");
        assertEq(poco.appRegistry.tokenOfOwnerByIndex(appOwner, 2), uint256(uint160(app3)), "index 2");
        assertEq(poco.appRegistry.tokenByIndex(1), uint256(uint160(app2)), "global index");

        vm.prank(appOwner);
        poco.appRegistry.transferFrom(appOwner, stranger, uint256(uint160(app2)));
        assertEq(App(app2).owner(), stranger, "owner follows the NFT");
        assertEq(hub.viewApp(app2).owner, stranger, "viewApp follows too");
        assertEq(poco.appRegistry.balanceOf(appOwner), 2, "two left");
        assertEq(poco.appRegistry.balanceOf(stranger), 1, "one moved");
        assertEq(poco.appRegistry.tokenOfOwnerByIndex(stranger, 0), uint256(uint160(app2)), "stranger's app");
        assertEq(poco.appRegistry.tokenOfOwnerByIndex(appOwner, 1), uint256(uint160(app3)), "re-indexed");

        vm.prank(scheduler);
        poco.workerpoolRegistry.transferFrom(scheduler, stranger, uint256(uint160(workerpool)));
        assertEq(Workerpool(workerpool).owner(), stranger, "pool owner follows the NFT");
        vm.expectRevert(abi.encodeWithSelector(RegistryEntry.NotAssetOwner.selector, scheduler, stranger));
        vm.prank(scheduler);
        Workerpool(workerpool).changePolicy(40, 2);
    }

    function test_registries_changePolicy() public {
        Workerpool pool = Workerpool(workerpool);
        assertEq(pool.m_workerStakeRatioPolicy(), 30, "default stake ratio");
        assertEq(pool.m_schedulerRewardRatioPolicy(), 1, "default scheduler ratio");
        vm.expectRevert(abi.encodeWithSelector(RegistryEntry.NotAssetOwner.selector, stranger, scheduler));
        vm.prank(stranger);
        pool.changePolicy(40, 2);
        vm.expectRevert(abi.encodeWithSelector(Workerpool.InvalidSchedulerRewardRatio.selector, 101));
        vm.prank(scheduler);
        pool.changePolicy(40, 101);
        vm.expectRevert(abi.encodeWithSelector(Workerpool.InvalidWorkerStakeRatio.selector, uint256(1) << 32));
        vm.prank(scheduler);
        pool.changePolicy(uint256(1) << 32, 2);

        vm.expectEmit(false, false, false, true, workerpool);
        emit Workerpool.PolicyUpdate(30, 150, 1, 100);
        vm.prank(scheduler);
        pool.changePolicy(150, 100); // the worker ratio is unbounded by the protocol; 100 % is allowed
        assertEq(pool.m_workerStakeRatioPolicy(), 150, "stake ratio");
        assertEq(pool.m_schedulerRewardRatioPolicy(), 100, "scheduler ratio");
        (uint256 ws, uint256 sr) = pool.viewPolicies();
        assertEq(ws, 150, "viewPolicies stake");
        assertEq(sr, 100, "viewPolicies ratio");
        IPoco.WorkerpoolInfo memory info = hub.viewWorkerpool(workerpool);
        assertEq(info.m_workerStakeRatioPolicy, 150, "viewWorkerpool stake");
        assertEq(info.m_schedulerRewardRatioPolicy, 100, "viewWorkerpool ratio");

        // new deals use the new policy
        bytes32 dealid = matchSet(defaultOrders());
        assertEq(hub.viewDeal(dealid).workerStake, WORKERPOOL_PRICE * 150 / 100, "stake 150 %");
        assertEq(hub.viewDeal(dealid).schedulerRewardRatio, 100, "ratio 100");
    }

    function test_registries_viewAssets() public view {
        IPoco.AppInfo memory ai = hub.viewApp(app);
        assertEq(ai.owner, appOwner, "app owner");
        assertEq(ai.m_appName, "hello", "app name");
        assertEq(ai.m_appType, "WASM", "app type");
        assertEq(ai.m_appMultiaddr, bytes("file:///hello.wasm"), "app multiaddr");
        assertEq(ai.m_appChecksum, keccak256("wasm"), "app checksum");
        assertEq(ai.m_appMREnclave, bytes(""), "app mrenclave");
        IPoco.DatasetInfo memory di = hub.viewDataset(dataset);
        assertEq(di.owner, datasetOwner, "dataset owner");
        assertEq(di.m_datasetName, "words", "dataset name");
        assertEq(di.m_datasetMultiaddr, bytes("file:///words.txt"), "dataset multiaddr");
        assertEq(di.m_datasetChecksum, keccak256("data"), "dataset checksum");
        IPoco.WorkerpoolInfo memory wi = hub.viewWorkerpool(workerpool);
        assertEq(wi.owner, scheduler, "pool owner");
        assertEq(wi.m_workerpoolDescription, "pool", "pool description");
        assertEq(wi.m_workerStakeRatioPolicy, 30, "pool stake ratio");
        assertEq(wi.m_schedulerRewardRatioPolicy, 1, "pool scheduler ratio");
        assertEq(Dataset(dataset).m_datasetName(), "words", "direct read");
    }

    // ------------------------------------------------------------------ escrow

    function test_escrow_depositWithdraw() public {
        uint256 supply = hub.totalSupply();
        rlc.transfer(stranger, 100e9);
        vm.startPrank(stranger);
        rlc.approve(address(hub), 60e9);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.Transfer(address(0), stranger, 60e9);
        assertTrue(hub.deposit(60e9), "deposit returns true");
        vm.expectRevert(
            abi.encodeWithSelector(IPocoErrors.TokenTransferFailed.selector, address(rlc), stranger, address(hub), 1)
        );
        hub.deposit(1); // allowance used up
        vm.stopPrank();
        assertEq(rlc.balanceOf(stranger), 40e9, "RLC pulled");
        assertBal(stranger, 60e9, 0, "staked");
        assertEq(hub.totalSupply(), supply + 60e9, "minted");
        Core.Account memory acct = hub.viewAccount(stranger);
        assertEq(acct.stake, 60e9, "viewAccount stake");
        assertEq(acct.locked, 0, "viewAccount locked");

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, stranger, 60e9, 61e9));
        vm.prank(stranger);
        hub.withdraw(61e9);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.Transfer(stranger, address(0), 10e9);
        vm.prank(stranger);
        assertTrue(hub.withdraw(10e9), "withdraw returns true");
        assertEq(rlc.balanceOf(stranger), 50e9, "RLC back");
        vm.prank(stranger);
        hub.withdrawTo(5e9, sponsor);
        assertEq(rlc.balanceOf(sponsor), 5e9, "withdrawTo target");
        assertBal(stranger, 45e9, 0, "burnt");
        vm.expectRevert(err(IPocoErrors.ZeroAddress.selector));
        vm.prank(stranger);
        hub.withdrawTo(1, address(0));
        assertEq(hub.totalSupply(), supply + 45e9, "supply");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    function test_escrow_frozenFundsCannotLeave() public {
        matchSet(defaultOrders());
        uint256 free = INITIAL_DEPOSIT - APP_PRICE - WORKERPOOL_PRICE;
        assertBal(requester, free, APP_PRICE + WORKERPOOL_PRICE, "locked");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, requester, free, free + 1));
        vm.prank(requester);
        hub.withdraw(free + 1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InsufficientFreeBalance.selector, requester, free, free + 1));
        vm.prank(requester);
        hub.transfer(stranger, free + 1);
        vm.prank(requester);
        hub.withdraw(free);
        assertBal(requester, 0, APP_PRICE + WORKERPOOL_PRICE, "only the free part left");
    }

    function test_escrow_depositForAndArray() public {
        rlc.approve(address(hub), 100e9);
        assertTrue(hub.depositFor(10e9, stranger), "depositFor");
        assertBal(stranger, 10e9, 0, "credited to the target");
        vm.expectRevert(err(IPocoErrors.ZeroAddress.selector));
        hub.depositFor(1, address(0));

        uint256[] memory amounts = new uint256[](3);
        address[] memory targets = new address[](3);
        amounts[0] = 1e9;
        amounts[1] = 2e9;
        amounts[2] = 3e9;
        targets[0] = stranger;
        targets[1] = sponsor;
        targets[2] = stranger;
        address[] memory short = new address[](2);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ArrayLengthMismatch.selector, 3, 2));
        hub.depositForArray(amounts, short);
        uint256 before = rlc.balanceOf(address(this));
        assertTrue(hub.depositForArray(amounts, targets), "depositForArray");
        assertEq(rlc.balanceOf(address(this)), before - 6e9, "pulled from the caller");
        assertBal(stranger, 14e9, 0, "stranger credited twice");
        assertBal(sponsor, INITIAL_DEPOSIT + 2e9, 0, "sponsor credited");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    function test_escrow_approveAndCallDeposit() public {
        rlc.transfer(stranger, 50e9);
        vm.prank(stranger);
        assertTrue(rlc.approveAndCall(address(hub), 20e9, bytes("ignored payload")), "approveAndCall");
        assertBal(stranger, 20e9, 0, "deposited via receiveApproval");
        assertEq(rlc.balanceOf(stranger), 30e9, "RLC pulled");
        assertEq(rlc.allowance(stranger, address(hub)), 0, "allowance consumed");

        // receiveApproval only from the RLC contract, for the RLC token
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.WrongToken.selector, address(rlc), address(rlc)));
        vm.prank(stranger);
        hub.receiveApproval(stranger, 1, address(rlc), "");
        RLC fake = new RLC(address(this));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.WrongToken.selector, address(fake), address(rlc)));
        fake.approveAndCall(address(hub), 1, "");
        assertBal(address(this), 0, 0, "no deposit from the fake token");
    }

    function test_escrow_erc20OfTheStakedBalance() public {
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.Transfer(requester, stranger, 5e9);
        vm.prank(requester);
        assertTrue(hub.transfer(stranger, 5e9), "transfer");
        assertBal(stranger, 5e9, 0, "received");
        assertBal(requester, INITIAL_DEPOSIT - 5e9, 0, "sent");
        vm.expectRevert(err(IPocoErrors.ZeroAddress.selector));
        vm.prank(requester);
        hub.transfer(address(0), 1);

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.Approval(requester, sponsor, 7e9);
        vm.prank(requester);
        assertTrue(hub.approve(sponsor, 7e9), "approve");
        assertEq(hub.allowance(requester, sponsor), 7e9, "allowance");
        vm.expectRevert(
            abi.encodeWithSelector(IPocoErrors.InsufficientAllowance.selector, requester, sponsor, 7e9, 8e9)
        );
        vm.prank(sponsor);
        hub.transferFrom(requester, stranger, 8e9);
        vm.prank(sponsor);
        assertTrue(hub.transferFrom(requester, stranger, 3e9), "transferFrom");
        assertEq(hub.allowance(requester, sponsor), 4e9, "allowance spent");
        assertBal(stranger, 8e9, 0, "stranger");
        vm.prank(requester);
        hub.increaseAllowance(sponsor, 6e9);
        assertEq(hub.allowance(requester, sponsor), 10e9, "increased");
        vm.expectRevert(
            abi.encodeWithSelector(IPocoErrors.InsufficientAllowance.selector, requester, sponsor, 10e9, 11e9)
        );
        vm.prank(requester);
        hub.decreaseAllowance(sponsor, 11e9);
        vm.prank(requester);
        hub.decreaseAllowance(sponsor, 9e9);
        assertEq(hub.allowance(requester, sponsor), 1e9, "decreased");
        vm.expectRevert(err(IPocoErrors.ZeroAddress.selector));
        vm.prank(requester);
        hub.approve(address(0), 1);

        // an unlimited allowance is never spent
        vm.prank(requester);
        hub.approve(sponsor, type(uint256).max);
        vm.prank(sponsor);
        hub.transferFrom(requester, stranger, 1e9);
        assertEq(hub.allowance(requester, sponsor), type(uint256).max, "infinite allowance kept");
        assertEq(hub.totalSupply(), rlc.balanceOf(address(hub)), "transfers mint nothing");
    }

    function test_escrow_approveAndCallOnTheHub() public {
        ApprovalReceiverMock receiver = new ApprovalReceiverMock();
        vm.prank(requester);
        assertTrue(hub.approveAndCall(address(receiver), 3e9, bytes("hello")), "approveAndCall");
        assertEq(hub.allowance(requester, address(receiver)), 3e9, "approved");
        assertEq(receiver.lastSender(), requester, "sender");
        assertEq(receiver.lastAmount(), 3e9, "amount");
        assertEq(receiver.lastToken(), address(hub), "token = the hub (SRLC)");
        assertEq(receiver.lastData(), bytes("hello"), "data");
        receiver.setAnswer(false);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.ApproveAndCallRejected.selector, address(receiver)));
        vm.prank(requester);
        hub.approveAndCall(address(receiver), 1, "");
    }

    function test_escrow_recover() public {
        uint256 supply = hub.totalSupply();
        rlc.transfer(address(hub), 5e9); // sent without a deposit
        assertEq(rlc.balanceOf(address(hub)), supply + 5e9, "stray RLC");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, stranger, address(this)));
        vm.prank(stranger);
        hub.recover();
        assertEq(hub.recover(), 5e9, "recovered");
        assertBal(address(this), 5e9, 0, "minted to the owner");
        assertEq(hub.totalSupply(), rlc.balanceOf(address(hub)), "backing restored");
        assertEq(hub.recover(), 0, "nothing more");
    }
}
