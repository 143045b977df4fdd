//! Deal and task identifiers.

use alloy_primitives::{keccak256, B256, U256};

/// `dealid = keccak256(abi.encodePacked(requestOrderHash, consumed))` where `consumed` is the
/// request order's consumed volume **before** the match (`viewConsumed` just before
/// `matchOrders`). The deal's tasks are then `consumed .. consumed + volume`.
pub fn deal_id(request_order_hash: B256, consumed_before: U256) -> B256 {
    hash_b256_u256(request_order_hash, consumed_before)
}

/// `taskid = keccak256(abi.encodePacked(dealid, uint256 idx))`, with `idx` the absolute task
/// index in `[botFirst, botFirst + botSize)`.
pub fn task_id(deal_id: B256, idx: U256) -> B256 {
    hash_b256_u256(deal_id, idx)
}

fn hash_b256_u256(a: B256, b: U256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(a.as_slice());
    buf[32..].copy_from_slice(&b.to_be_bytes::<32>());
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolValue;

    #[test]
    fn packed_encoding() {
        let hash = keccak256(b"request");
        // For two 32-byte words, abi.encodePacked equals abi.encode.
        assert_eq!(
            deal_id(hash, U256::from(7)),
            keccak256((hash, U256::from(7)).abi_encode_packed())
        );
        assert_eq!(
            task_id(hash, U256::MAX),
            keccak256((hash, U256::MAX).abi_encode())
        );
        assert_ne!(task_id(hash, U256::ZERO), task_id(hash, U256::from(1)));
    }
}
