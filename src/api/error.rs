//! The one place where errors become HTTP responses.
//!
//! Clients get a stable `code`, a message that says what was wrong, and
//! for input errors the `field` (a JSON path such as `area.zones[1]`).
//! Internal details are logged, never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::dispatch::DispatchError;
use crate::domain::auth::NotAnApprover;
use crate::planner::PlanError;
use crate::store::StoreError;

/// One problem with one input field (or NDJSON line).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            line: None,
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("{message}")]
    InvalidMany {
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("missing or invalid bearer token or session; sign in again")]
    Unauthorized,
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many tries of a secret (a password, a one-time code).
    #[error("{0}")]
    TooManyAttempts(String),
    /// More of something costly at once than the service allows.
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A one-time link that was used, replaced or has expired.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than the {0}-byte limit")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    /// Stored data the request needs no longer reads back (a hand-edited
    /// row); the message names it.
    #[error("{0}")]
    Unreadable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl ToString) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            Self::InvalidMany { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::WrongCredentials => (StatusCode::UNAUTHORIZED, "wrong_credentials"),
            Self::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Gone(_) => (StatusCode::GONE, "link_used_or_expired"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Unreadable(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unreadable_data"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let (field, errors) = match &self {
            Self::Invalid(e) => (Some(e.field.as_str()), None),
            Self::InvalidMany { errors, .. } => (None, Some(errors.as_slice())),
            _ => (None, None),
        };
        let message = match &self {
            Self::Invalid(e) => e.message.clone(),
            other => other.to_string(),
        };
        let body = Body {
            error: Detail {
                code,
                message,
                field,
                errors,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::Invalid { field, message } => Self::invalid(field, message),
            StoreError::Unreadable(m) => Self::Unreadable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<NotAnApprover> for ApiError {
    fn from(e: NotAnApprover) -> Self {
        Self::Forbidden(e.to_string())
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::UnknownZone { index, id } => Self::invalid(
                format!("area.zones[{index}]"),
                format!("zone {id} does not exist"),
            ),
            PlanError::UnreadableZone { index, id } => Self::Unreadable(format!(
                "area.zones[{index}]: zone {id} cannot be read back from the database, so \
                 nothing was published; an administrator must delete it and upload it again"
            )),
            PlanError::Area(e) => Self::invalid("area", e),
            PlanError::Store(e) => e.into(),
        }
    }
}
