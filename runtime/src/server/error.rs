//! The API's errors: one closed enum, each a status and a message naming the problem.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to an API caller as `{"error": "..."}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed or does not fit.
    BadRequest(String),
    /// 401: no or a wrong bearer token.
    Unauthorized(String),
    /// 403: the server refuses the operation as configured.
    Forbidden(String),
    /// 404: no such dataset, source or route.
    NotFound(String),
    /// 405: the route exists, not with this method.
    MethodNotAllowed(String),
    /// 413 (or 400): the body could not be read, e.g. it is larger than the limit.
    Body(StatusCode, String),
    /// 409: the request conflicts with the current state (a value not final yet, a dataset
    /// another pipeline serves).
    Conflict(String),
    /// 500: our fault. The details go to the log, not to the caller.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            ApiError::Body(status, m) => (status, m),
            ApiError::Internal(m) => {
                eprintln!("volga: internal error: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the details".to_string(),
                )
            }
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        ApiError::Body(rejection.status(), format!("cannot read the request body: {}", rejection.body_text()))
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
