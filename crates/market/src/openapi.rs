//! The OpenAPI 3.1 document served at `/openapi.json` (the prose reference is `API.md`).

use serde_json::{json, Map, Value};

/// Query parameters of the order lists, per type.
const ORDER_PARAMS: [(&str, &[&str]); 4] = [
    (
        "apporder",
        &[
            "app",
            "appOwner",
            "dataset",
            "isDatasetStrict",
            "workerpool",
            "isWorkerpoolStrict",
            "requester",
            "isRequesterStrict",
            "minTag",
            "maxTag",
            "minVolume",
        ],
    ),
    (
        "datasetorder",
        &[
            "dataset",
            "datasetOwner",
            "app",
            "isAppStrict",
            "workerpool",
            "isWorkerpoolStrict",
            "requester",
            "isRequesterStrict",
            "minTag",
            "maxTag",
            "minVolume",
        ],
    ),
    (
        "workerpoolorder",
        &[
            "workerpool",
            "workerpoolOwner",
            "category",
            "app",
            "isAppStrict",
            "dataset",
            "isDatasetStrict",
            "requester",
            "isRequesterStrict",
            "minTag",
            "maxTag",
            "minTrust",
            "minVolume",
        ],
    ),
    (
        "requestorder",
        &[
            "app",
            "dataset",
            "requester",
            "beneficiary",
            "category",
            "minTag",
            "maxTag",
            "maxTrust",
            "minVolume",
            "workerpool",
            "isWorkerpoolStrict",
        ],
    ),
];

const DEAL_PARAMS: &[&str] = &[
    "category",
    "requester",
    "beneficiary",
    "app",
    "dataset",
    "workerpool",
    "appOwner",
    "datasetOwner",
    "workerpoolOwner",
    "apporderHash",
    "datasetorderHash",
    "workerpoolorderHash",
    "requestorderHash",
];

const FILL_PARAMS: &[&str] = &[
    "app",
    "dataset",
    "workerpool",
    "category",
    "trust",
    "tag",
    "volume",
    "requester",
    "args",
    "inputFiles",
];

fn query(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .chain(["chainId"].iter())
        .map(|n| {
            let schema = match *n {
                "category" | "minTrust" | "maxTrust" | "minVolume" | "pageIndex" | "pageSize"
                | "chainId" | "trust" | "volume" => json!({"type": "integer", "minimum": 0}),
                n if n.starts_with("is") => json!({"type": "boolean"}),
                _ => json!({"type": "string"}),
            };
            json!({"name": n, "in": "query", "required": false, "schema": schema})
        })
        .collect()
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn op(summary: &str, params: Vec<Value>) -> Value {
    json!({
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {"description": "`{\"ok\": true, …}`", "content": {"application/json": {"schema": {"type": "object"}}}},
            "4XX": {"$ref": "#/components/responses/Error"},
        },
    })
}

fn with_body(mut operation: Value, description: &str) -> Value {
    operation["requestBody"] = json!({
        "required": true,
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    });
    operation["parameters"]
        .as_array_mut()
        .expect("parameters")
        .push(
            json!({"name": "authorization", "in": "header", "required": true,
                     "schema": {"type": "string"},
                     "description": "`<challenge hash>_<signature>_<address>`; a challenge \
                                     bound to an action authorizes that action only"}),
        );
    operation
}

/// The document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    let page = ["pageIndex", "pageSize"];
    for (key, params) in ORDER_PARAMS {
        let mut list: Vec<&str> = params.to_vec();
        list.extend(page);
        paths.insert(
            format!("/{key}s"),
            json!({
                "get": op(&format!("Open {key}s, best price first"), query(&list)),
                "post": with_body(op(&format!("Publish a signed {key}"), vec![]),
                                  "`{\"order\": signedOrder}`; unknown fields are refused by name"),
                "put": with_body(op(&format!("Unpublish {key}s"), vec![]),
                                 "`{\"target\": \"unpublish_orderHash\"|\"unpublish_last\"|\"unpublish_all\", …}`"),
            }),
        );
        paths.insert(
            format!("/{key}s/{{orderHash}}"),
            json!({"get": op(&format!("One {key} (any status)"), vec![path_param("orderHash")])}),
        );
    }
    let mut deal_params = DEAL_PARAMS.to_vec();
    deal_params.extend(page);
    let simple: [(&str, &str, Vec<Value>); 18] = [
        (
            "/version",
            "The service version, chain id and hub (the orders' EIP-712 domain)",
            vec![],
        ),
        ("/metrics", "Last block read and open order counts", vec![]),
        ("/openapi.json", "This document", vec![]),
        (
            "/challenge",
            "An EIP-712 sign-in challenge, bound to one action when `action` is given \
             (publish:<orderHash>, unpublish:<orderHash>, unpublish_last:<type>, \
             unpublish_all:<type>); one live challenge per address, a newer one (for \
             another action) replaces the older",
            query(&["address", "action"]),
        ),
        (
            "/categories",
            "The categories",
            query(&["minWorkClockTimeRef", "maxWorkClockTimeRef"]),
        ),
        (
            "/categories/{catid}",
            "One category",
            vec![path_param("catid")],
        ),
        ("/deals", "Deals, newest first", query(&deal_params)),
        ("/deals/{dealid}", "One deal", vec![path_param("dealid")]),
        (
            "/ohlc",
            "The last 100 trades of a category",
            query(&["category"]),
        ),
        (
            "/tasks/{taskid}",
            "A task's state and result (poco)",
            vec![path_param("taskid")],
        ),
        (
            "/apps/{address}",
            "An app, its orders and deals (poco)",
            vec![path_param("address")],
        ),
        (
            "/datasets/{address}",
            "A dataset, its orders and deals (poco)",
            vec![path_param("address")],
        ),
        (
            "/workerpools/{address}",
            "A workerpool, its orders and deals (poco)",
            vec![path_param("address")],
        ),
        (
            "/addresses/{address}",
            "An account: stake, assets, orders, deals (poco)",
            vec![path_param("address")],
        ),
        (
            "/fill",
            "The best offer for a run and the request to sign (poco)",
            query(FILL_PARAMS),
        ),
        (
            "/ws",
            "WebSocket live feed: orders and deals events (poco)",
            query(&["topics"]),
        ),
        ("/", "The marketplace web UI", vec![]),
        (
            "/web/{file}",
            "A file of the web UI (scripts, styles)",
            vec![path_param("file")],
        ),
    ];
    for (path, summary, params) in simple {
        paths.insert(path.to_owned(), json!({"get": op(summary, params)}));
    }
    let mut fill_tx = op(
        "The matchOrders transaction of four signed orders (poco)",
        vec![],
    );
    fill_tx["requestBody"] =
        json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
    paths.insert("/fill/transaction".into(), json!({"post": fill_tx}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "poco market API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Order book of the poco marketplace, compatible with the iExec market API. See API.md.",
        },
        "paths": paths,
        "components": {
            "responses": {
                "Error": {
                    "description": "`{\"ok\": false, \"error\": message naming the failed check}`",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"ok": {"const": false}, "error": {"type": "string"}},
                        "required": ["ok", "error"],
                    }}},
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_path_has_an_operation() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 26, "{}", paths.len());
        for (path, item) in paths {
            assert!(
                item.as_object().is_some_and(|m| !m.is_empty()),
                "{path} has no operation"
            );
        }
        assert!(paths["/workerpoolorders"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "minTrust"));
    }
}
