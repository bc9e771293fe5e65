//! The OpenAPI 3.1 document of the HTTP API, served at `/v1/openapi.json`.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn json_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Volga",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time features: deploy pipelines, push rows, look up features online and as of any final time."
        },
        "paths": {
            "/v1/pipelines": {
                "post": {
                    "summary": "Deploy a pipeline component; re-deploying the same bytes changes nothing",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}}},
                    "responses": {
                        "201": json_response("Deployed: name, datasets, sources"),
                        "200": json_response("Already deployed with these bytes"),
                        "400": error_response("Not a pipeline component, or its sources do not fit the server's connectors"),
                        "401": error_response("Missing or wrong bearer token"),
                        "403": error_response("No token configured: deploys are refused"),
                        "409": error_response("A dataset is served by another pipeline")
                    }
                },
                "get": {"summary": "Running pipelines", "responses": {"200": json_response("Pipelines")}}
            },
            "/v1/datasets": {"get": {"summary": "Datasets with their schemas", "responses": {"200": json_response("Datasets")}}},
            "/v1/datasets/{name}/offline": {
                "get": {
                    "summary": "History rows with start <= ts < end",
                    "parameters": [
                        {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "start", "in": "query", "schema": {"type": "integer"}},
                        {"name": "end", "in": "query", "schema": {"type": "integer"}},
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "arrow"]}}
                    ],
                    "responses": {
                        "200": {"description": "Rows as JSON, CSV or an Arrow IPC stream"},
                        "400": error_response("Bad query"),
                        "404": error_response("Unknown dataset")
                    }
                }
            },
            "/v1/lookup": {
                "post": {
                    "summary": "Rows for a batch of keys: latest (hot store) or as of a final time (cold store)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LookupRequest"}}}},
                    "responses": {
                        "200": {"description": "One row or null per key, in key order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LookupResponse"}}}},
                        "400": error_response("Malformed request or a missing key field"),
                        "404": error_response("Unknown dataset"),
                        "409": error_response("as_of is not final yet")
                    }
                }
            },
            "/v1/ingest/{source}": {
                "post": {
                    "summary": "Rows for an http source: a JSON object, an array of objects, or newline-delimited objects",
                    "parameters": [{"name": "source", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {
                        "200": json_response("Counts of accepted, late and malformed rows, with the first reasons"),
                        "400": error_response("Invalid JSON, or the source is not an http source"),
                        "404": error_response("No running pipeline reads this source")
                    }
                }
            },
            "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics text)", "responses": {"200": {"description": "Metrics"}}}},
            "/healthz": {"get": {"summary": "Liveness, with each pipeline's status", "responses": {"200": json_response("Healthy")}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_response("OpenAPI")}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "LookupRequest": {
                    "type": "object",
                    "required": ["dataset", "keys"],
                    "properties": {
                        "dataset": {"type": "string"},
                        "keys": {"type": "array", "items": {"type": "object"}},
                        "as_of": {"type": "integer", "description": "Event time in ms; must be final (<= the latest as_of)"}
                    }
                },
                "LookupResponse": {
                    "type": "object",
                    "properties": {
                        "dataset": {"type": "string"},
                        "as_of": {"type": ["integer", "null"], "description": "The time the rows are the values as of"},
                        "watermark": {"type": ["integer", "null"], "description": "Rows with times below it are final"},
                        "rows": {"type": "array", "items": {"type": ["object", "null"]}}
                    }
                }
            }
        }
    })
}
