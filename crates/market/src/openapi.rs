//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the API's types
//! (`poco-market-api` with its `openapi` feature) and the handlers' `#[utoipa::path]`
//! attributes; the order routes, served by one handler per method for the four kinds, are added
//! here from the kinds' typed filters. The prose reference is `API.md`.

use poco_types::OrderKind;
use utoipa::{
    openapi::{
        path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        schema::{ObjectBuilder, Type},
        ContentBuilder, HttpMethod, Ref, Required, ResponseBuilder,
    },
    IntoParams, OpenApi,
};

use crate::{
    api::{
        OrderEntry, OrderPage, OrderQuery, Page, PublishRequest, Published, Refusal,
        UnpublishRequest, Unpublished,
    },
    http,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "poco market API",
        description = "Order book of the poco marketplace, compatible with the iExec market API. \
                       See API.md."
    ),
    paths(
        http::index_page,
        http::web_file,
        http::version,
        http::metrics,
        http::openapi,
        http::challenge,
        http::categories,
        http::category,
        http::deals,
        http::deal,
        http::ohlc,
        http::task,
        http::asset_app,
        http::asset_dataset,
        http::asset_workerpool,
        http::address_page,
        http::fill,
        http::fill_transaction,
        http::ws,
    ),
    components(schemas(
        OrderEntry,
        OrderPage,
        PublishRequest,
        UnpublishRequest,
        Published,
        Unpublished,
        Refusal
    ))
)]
struct ApiDoc;

/// A JSON answer of `schema` (a component name), described by `description`.
fn json_response(schema: &str, description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

/// The operations of `/{kind}s` and `/{kind}s/{orderHash}`.
fn order_operations(kind: OrderKind) -> [(String, HttpMethod, Operation); 4] {
    let key = kind.key();
    let ok = "`{\"ok\": true, …}` and these fields";
    let list = OperationBuilder::new()
        .summary(Some(format!("Open {key}s, best price first")))
        .parameters(Some(
            OrderQuery::parameters(kind)
                .into_iter()
                .chain(Page::into_params(|| Some(ParameterIn::Query))),
        ))
        .response("200", json_response("OrderPage", ok))
        .build();
    let authorization = ParameterBuilder::new()
        .name("authorization")
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "`<challenge hash>_<signature>_<address>`; a challenge bound to an action \
             authorizes that action only",
        ))
        .build();
    // A signed call: the authorization header, a JSON body of `schema`, a JSON answer.
    let signed = |summary: String, schema: &str, description: &str, answer: &str| {
        OperationBuilder::new()
            .summary(Some(summary))
            .parameter(authorization.clone())
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .description(Some(description))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(schema)))
                            .build(),
                    )
                    .build(),
            ))
            .response("200", json_response(answer, ok))
            .build()
    };
    let publish = signed(
        format!("Publish a signed {key}"),
        "PublishRequest",
        "the signed order; unknown fields are refused by name",
        "Published",
    );
    let unpublish = signed(
        format!("Unpublish {key}s"),
        "UnpublishRequest",
        "what to take out: one order by hash, the last one or all of a resource",
        "Unpublished",
    );
    let one = OperationBuilder::new()
        .summary(Some(format!("One {key} (any status)")))
        .parameter(
            ParameterBuilder::new()
                .name("orderHash")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        )
        .response("200", json_response("OrderEntry", ok))
        .build();
    let path = format!("/{key}s");
    [
        (path.clone(), HttpMethod::Get, list),
        (path.clone(), HttpMethod::Post, publish),
        (path, HttpMethod::Put, unpublish),
        (format!("/{key}s/{{orderHash}}"), HttpMethod::Get, one),
    ]
}

/// The document.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    for kind in OrderKind::ALL {
        for (path, method, operation) in order_operations(kind) {
            doc.paths.add_path_operation(path, vec![method], operation);
        }
    }
    // Every route takes `chainId` (another chain than the market's is a 400) and refuses in
    // the same envelope.
    let chain_id = ParameterBuilder::new()
        .name("chainId")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("the market's chain; another one is refused"))
        .build();
    let refused = json_response(
        "Refusal",
        "`{\"ok\": false, \"error\": message naming the failed check}`",
    );
    for item in doc.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post, &mut item.put]
            .into_iter()
            .flatten()
        {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(chain_id.clone());
            operation
                .responses
                .responses
                .insert("4XX".into(), refused.clone().into());
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_path_has_an_operation() {
        let doc = serde_json::to_value(super::document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 26, "{}", paths.len());
        for (path, item) in paths {
            assert!(
                item.as_object().is_some_and(|m| !m.is_empty()),
                "{path} has no operation"
            );
        }
        let params: Vec<_> = paths["/workerpoolorders"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in ["minTrust", "isRequesterStrict", "pageSize", "chainId"] {
            assert!(params.contains(&name), "{name} in {params:?}");
        }
        for schema in ["OrderPage", "Deal", "FillOffer", "VersionInfo", "Refusal"] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{schema} is not in the components"
            );
        }
    }
}
