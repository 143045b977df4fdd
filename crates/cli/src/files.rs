//! The iExec SDK's project files, kept in the current folder so projects move between the
//! two tools: `iexec.json` (order templates), `orders.json` (signed orders per chain id) and
//! `deployed.json` (the last deployed asset of each kind per chain id).

use std::{collections::BTreeMap, path::Path};

use alloy::primitives::Address;
use eyre::{Result, WrapErr};
use poco_types::{ChainOrders, OrdersFile, SignedWorkerpoolOrder};
use poco_wallet::{write_atomic, Access, Existing};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

/// The order templates file.
pub(crate) const IEXEC_JSON: &str = "iexec.json";
/// The signed orders file.
pub(crate) const ORDERS_JSON: &str = "orders.json";
/// The deployed assets file.
pub(crate) const DEPLOYED_JSON: &str = "deployed.json";

/// Reads a JSON file of the project; `None` when it does not exist.
pub(crate) fn read<T: DeserializeOwned>(name: &str) -> Result<Option<T>> {
    let path = Path::new(name);
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .wrap_err_with(|| format!("{name} is not valid: fix it or remove it")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).wrap_err_with(|| format!("cannot read {name}")),
    }
}

/// Writes a JSON file of the project (a temporary file renamed over it).
pub(crate) fn write<T: Serialize>(name: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    write_atomic(
        Path::new(name),
        text.as_bytes(),
        Access::Shared,
        Existing::Replace,
    )
    .wrap_err_with(|| format!("cannot write {name}"))
}

/// `deployed.json`: kind (`app`, `dataset`, `workerpool`) → chain id → address.
pub(crate) type Deployed = BTreeMap<String, BTreeMap<String, Address>>;

/// Records the last deployed asset of a kind on a chain.
pub(crate) fn record_deployed(kind: &str, chain_id: u64, address: Address) -> Result<()> {
    let mut deployed: Deployed = read(DEPLOYED_JSON)?.unwrap_or_default();
    deployed
        .entry(kind.into())
        .or_default()
        .insert(chain_id.to_string(), address);
    write(DEPLOYED_JSON, &deployed)
}

/// The last deployed asset of a kind on a chain.
pub(crate) fn last_deployed(kind: &str, chain_id: u64) -> Result<Option<Address>> {
    let deployed: Deployed = read(DEPLOYED_JSON)?.unwrap_or_default();
    Ok(deployed
        .get(kind)
        .and_then(|chains| chains.get(&chain_id.to_string()))
        .copied())
}

/// The signed orders of a chain.
pub(crate) fn chain_orders(chain_id: u64) -> Result<ChainOrders> {
    let file: OrdersFile = read(ORDERS_JSON)?.unwrap_or_default();
    Ok(file.get(&chain_id).cloned().unwrap_or_default())
}

/// Replaces the signed orders of a chain.
pub(crate) fn save_chain_orders(chain_id: u64, orders: ChainOrders) -> Result<()> {
    let mut file: OrdersFile = read(ORDERS_JSON)?.unwrap_or_default();
    file.insert(chain_id, orders);
    write(ORDERS_JSON, &file)
}

/// The `order` section of `iexec.json`.
pub(crate) fn order_templates() -> Result<Map<String, Value>> {
    let iexec: Value = read(IEXEC_JSON)?.unwrap_or(Value::Object(Map::new()));
    Ok(iexec
        .get("order")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

/// Writes templates into the `order` section of `iexec.json`, keeping everything else.
pub(crate) fn save_order_templates(templates: Map<String, Value>) -> Result<()> {
    let mut iexec: Value = read(IEXEC_JSON)?.unwrap_or(Value::Object(Map::new()));
    let Value::Object(root) = &mut iexec else {
        eyre::bail!("{IEXEC_JSON} is not a JSON object: fix it or remove it");
    };
    let order = root
        .entry("order")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(order) = order else {
        eyre::bail!("the \"order\" key of {IEXEC_JSON} is not an object: fix it or remove it");
    };
    order.extend(templates);
    write(IEXEC_JSON, &iexec)
}

/// The local order files `poco run` picks orders from: `./orders.json`, then every
/// `$POCO_HOME/orders/*.json` (where schedulers and `poco run` publish).
pub(crate) fn local_order_files() -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    if Path::new(ORDERS_JSON).is_file() {
        files.push(std::path::PathBuf::from(ORDERS_JSON));
    }
    let dir = crate::config::poco_home()?.join("orders");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut found: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Writes the orders of a chain into an order file of `$POCO_HOME/orders/`.
pub(crate) fn publish_orders(name: &str, chain_id: u64, orders: ChainOrders) -> Result<()> {
    update_order_file(name, chain_id, |entry| *entry = orders)
}

/// Writes a scheduler's signed workerpool order and its URL (`workerpoolApi`) into an order
/// file of `$POCO_HOME/orders/`, keeping the file's other orders.
pub(crate) fn publish_workerpool_order(
    name: &str,
    chain_id: u64,
    order: &SignedWorkerpoolOrder,
    api: &str,
) -> Result<()> {
    update_order_file(name, chain_id, |entry| {
        entry.workerpoolorder = Some(order.clone());
        entry.other.insert(
            poco_requester::local::WORKERPOOL_API_KEY.into(),
            Value::String(api.into()),
        );
    })
}

/// Changes the orders of a chain in an order file of `$POCO_HOME/orders/`.
fn update_order_file(
    name: &str,
    chain_id: u64,
    change: impl FnOnce(&mut ChainOrders),
) -> Result<()> {
    let dir = crate::config::poco_home()?.join("orders");
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let mut file: OrdersFile = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    change(file.entry(chain_id).or_default());
    let text = serde_json::to_string_pretty(&file)? + "\n";
    write_atomic(&path, text.as_bytes(), Access::Shared, Existing::Replace)
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}
