//! The HTTP API's answers to bad requests: each a 4xx whose `{"error"}` names the problem.

use std::time::Duration;

use serde_json::{Value, json};

use crate::live::{Server, wait_for};
use crate::support::guest;

const CONFIG: &str = "[storage]\ncold = \"sqlite:./cold.db\"\nhot = \"sled:./hot\"\n\n[server]\ntoken = \"right\"\n\n\
    [connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n\n[connectors.kafka]\nkind = \"http\"\n";

fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_else(|| panic!("no error message in {body}"))
}

fn server(config: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/users.csv"), "user_id,registered_at,name\nu1,0,Ann\n").unwrap();
    std::fs::write(dir.path().join("volga.toml"), config).unwrap();
    let server = Server::start(dir.path());
    (dir, server)
}

#[test]
fn deploys_need_the_right_token_and_a_component() {
    let (_dir, server) = server(CONFIG);
    let wasm = std::fs::read(guest("example")).unwrap();
    let (status, body) = server.post_bytes("/v1/pipelines", wasm.clone(), None);
    assert_eq!(status, 401, "{body}");
    assert!(error(&body).contains("Authorization"), "{body}");
    let (status, body) = server.post_bytes("/v1/pipelines", wasm.clone(), Some("wrong"));
    assert_eq!((status, error(&body)), (401, "wrong bearer token"));
    let (status, body) = server.post_bytes("/v1/pipelines", b"<html>".to_vec(), Some("right"));
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("not WebAssembly"), "{body}");
    let (status, body) = server.post_bytes("/v1/pipelines", Vec::new(), Some("right"));
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("empty body"), "{body}");

    let (status, first) = server.post_bytes("/v1/pipelines", wasm.clone(), Some("right"));
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["name"], "on_sale_user_spent");
    assert_eq!(first["datasets"], json!(["OnSaleUserSpentInfo"]));
    // The same bytes again: nothing changes.
    let (status, again) = server.post_bytes("/v1/pipelines", wasm, Some("right"));
    assert_eq!((status, &again["hash"]), (200, &first["hash"]));
    let (status, text) = server.get_text("/v1/pipelines");
    assert_eq!(status, 200);
    assert!(text.contains("\"running\""), "{text}");
}

#[test]
fn a_server_without_a_token_refuses_deploys_and_says_why() {
    let (_dir, server) = server(&CONFIG.replace("token = \"right\"\n", ""));
    let (status, body) =
        server.post_bytes("/v1/pipelines", std::fs::read(guest("example")).unwrap(), Some("x"));
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("no token configured"), "{body}");
}

#[test]
fn lookups_and_ingest_name_what_is_wrong() {
    let (_dir, server) = server(CONFIG);
    server.deploy(&guest("example"), "right");
    let lookup = |body: Value| server.post("/v1/lookup", &body);

    let (status, body) = lookup(json!({"dataset": "Nope", "keys": [{"user_id": "u1"}]}));
    assert_eq!(status, 404, "{body}");
    assert!(error(&body).contains("`Nope` is not served (served: OnSaleUserSpentInfo)"), "{body}");
    let (status, body) =
        lookup(json!({"dataset": "OnSaleUserSpentInfo", "keys": [{"user_id": "u1"}, {"id": "u2"}]}));
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("keys[1]: missing key field `user_id`"), "{body}");
    let (status, body) = lookup(json!({"dataset": "OnSaleUserSpentInfo", "keys": [{"user_id": 7}]}));
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("expected a string"), "{body}");
    let (status, body) = lookup(json!({"keys": []}));
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("missing field `dataset`"), "{body}");
    let (status, body) =
        lookup(json!({"dataset": "OnSaleUserSpentInfo", "keys": [{"user_id": "u1"}], "as_of": 1}));
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).contains("not final yet"), "{body}");

    // Before any order, latest lookups answer nulls and no as_of.
    let (status, body) = lookup(json!({"dataset": "OnSaleUserSpentInfo", "keys": [{"user_id": "u1"}]}));
    assert_eq!((status, &body["rows"], &body["as_of"]), (200, &json!([null]), &Value::Null));
    // The body as text, fields in any order: keys before the dataset read the same; an
    // unknown or repeated field is named.
    let text = |body: &str| server.post_bytes("/v1/lookup", body.as_bytes().to_vec(), None);
    let (status, body) =
        text(r#"{"keys": [{"user_id": "u1"}, {"user_id": "u2"}], "dataset": "OnSaleUserSpentInfo"}"#);
    assert_eq!((status, &body["rows"]), (200, &json!([null, null])), "{body}");
    let (status, body) = text(r#"{"dataset": "OnSaleUserSpentInfo", "keys": [], "at": 1}"#);
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("unknown field `at`"), "{body}");
    let (status, body) = text(r#"{"dataset": "OnSaleUserSpentInfo", "keys": [], "keys": []}"#);
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("duplicate field `keys`"), "{body}");

    let (status, body) = server.post_bytes("/v1/ingest/orders", b"{oops".to_vec(), None);
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("invalid JSON"), "{body}");
    let (status, body) = server.post("/v1/ingest/payments", &json!([]));
    assert_eq!(status, 404, "{body}");
    assert!(error(&body).contains("http sources: orders"), "{body}");
    let (status, body) = server.get_text("/v1/datasets/Nope/offline");
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get_text("/v1/datasets/OnSaleUserSpentInfo/offline?format=xml");
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.get_text("/v2/anything");
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get_text("/v1/lookup");
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("GET is not allowed on /v1/lookup"), "{body}");
}

#[test]
fn openapi_metrics_and_health_are_served() {
    let (_dir, server) = server(CONFIG);
    let (status, text) = server.get_text("/v1/openapi.json");
    assert_eq!(status, 200);
    let document: Value = serde_json::from_str(&text).unwrap();
    for path in ["/v1/pipelines", "/v1/lookup", "/v1/datasets/{name}/offline", "/v1/ingest/{source}"] {
        assert!(document["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let (status, text) = server.get_text("/healthz");
    assert_eq!(status, 200);
    assert!(text.contains("\"ok\""), "{text}");
    server.deploy(&guest("example"), "right");
    let (status, body) = server.post("/v1/ingest/orders", &json!({"buyer_id": "u1", "product_id": "p", "product_type": "ON_SALE", "purchased_at": 10, "product_price": 2.5}));
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");
    // The worker applies the row after the request returns.
    wait_for("the filter to run", Duration::from_secs(20), || {
        server.metric("volga_lambda_calls_total") >= 1.0
    });
    let (status, text) = server.get_text("/metrics");
    assert_eq!(status, 200);
    for name in [
        "volga_source_rows_in_total",
        "volga_operator_rows_total",
        "volga_lambda_calls_total",
        "volga_source_watermark_ms",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}
