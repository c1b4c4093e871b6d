//! Civil-protection alerts (CAP 1.2): create from CAP XML or JSON, read as
//! JSON or CAP, approve (two-person rule), update, end with an all-clear,
//! correct a false alarm in one request, and the drill report. Operators
//! and test audiences live here too.

pub(crate) mod json;
pub(crate) mod report;
pub(crate) mod send;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use crate::config::CANCEL;
use crate::domain::AlertId;
use crate::domain::auth::{ApiToken, Principal, Role};
use crate::domain::text::Text;
use crate::domain::{AlertId as Id, ResidentId};
use crate::store::{AlertListing, AlertRecord};
pub use report::report;
use send::{Options, operator, submit};

pub const CAP_MEDIA_TYPE: &str = "application/cap+xml";

/// Admins and civil-protection operators read alerts; executors do not.
fn may_read(p: &Principal) -> Result<(), ApiError> {
    match p.role {
        Role::Admin | Role::CivilProtection => Ok(()),
        Role::Executor => Err(ApiError::Forbidden(
            "alerts are for civil-protection operators and admins".to_owned(),
        )),
    }
}

fn created(code: StatusCode, alert: &AlertRecord) -> Response {
    (code, Json(view(alert))).into_response()
}

fn view(a: &AlertRecord) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    v["cap_url"] = json!(format!("/api/v1/alerts/{}.cap", a.id));
    // The gravest severity of its infos, so lists can say how grave it is
    // (read from the stored document, which was validated when written).
    v["severity"] = json!(
        tocsin_cap::parse(&a.cap)
            .ok()
            .and_then(|cap| crate::domain::alert::gravest(&cap))
            .map(|s| s.as_str())
    );
    v
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapQuery {
    audience: Option<String>,
    #[serde(default)]
    widen: bool,
}

/// `POST /api/v1/alerts/cap`: a CAP 1.2 document from another system.
pub async fn create_cap(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<CapQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let op = operator(&caller.0)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !matches!(
        media.as_str(),
        CAP_MEDIA_TYPE | "application/xml" | "text/xml"
    ) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send CAP 1.2 XML as {CAP_MEDIA_TYPE} or application/xml (got \"{media}\")"
        )));
    }
    let xml = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("alert", "the document is not UTF-8"))?;
    let cap = tocsin_cap::parse(xml).map_err(|e| ApiError::invalid(e.element, e.message))?;
    let opts = Options {
        audience: q.audience,
        widen: q.widen,
        template: None,
    };
    let (code, alert) = submit(&state, &op, cap, opts).await?;
    Ok(created(code, &alert))
}

/// `POST /api/v1/alerts`: the same fields as JSON, or a template.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<json::AlertIn>,
) -> Result<Response, ApiError> {
    let op = operator(&caller.0)?;
    let original = match body.references {
        Some(id) => Some(
            state
                .store
                .get_alert(AlertId(id))
                .await?
                .ok_or_else(|| ApiError::invalid("references", format!("no alert {id}")))?,
        ),
        None => None,
    };
    let cap = json::to_cap(&body, &state.config, original.as_ref())?;
    let opts = Options {
        audience: body.audience.clone(),
        widen: body.widen,
        template: body.template.clone(),
    };
    let (code, alert) = submit(&state, &op, cap, opts).await?;
    Ok(created(code, &alert))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    may_read(&caller.0)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let alerts = state
        .store
        .list_alerts(q.before.map(AlertId), AlertListing::All, limit)
        .await?;
    Ok(Json(
        json!({"alerts": alerts.iter().map(view).collect::<Vec<_>>()}),
    ))
}

/// `GET /api/v1/alerts/{id}` (JSON) or `/api/v1/alerts/{id}.cap` (CAP 1.2).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    may_read(&caller.0)?;
    let (id, as_cap) = match raw.strip_suffix(".cap") {
        Some(id) => (id, true),
        None => (raw.as_str(), false),
    };
    let alert = load(&state, id).await?;
    Ok(if as_cap {
        cap_response(&alert)
    } else {
        Json(view(&alert)).into_response()
    })
}

pub fn cap_response(alert: &AlertRecord) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            format!("{CAP_MEDIA_TYPE}; charset=utf-8"),
        )],
        alert.cap.clone(),
    )
        .into_response()
}

pub async fn load(state: &AppState, raw: &str) -> Result<AlertRecord, ApiError> {
    let id: i64 = raw
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no alert \"{raw}\"")))?;
    state
        .store
        .get_alert(Id(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("alert {id} not found")))
}

/// `POST /api/v1/alerts/{id}/approve`: the second operator's approval,
/// from a person signed in to the console.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = send::approver(&caller.0)?;
    let alert = load(&state, &id).await?;
    let approved = send::approve(&state, &op, &alert).await?;
    Ok(Json(view(&approved)))
}

/// `POST /api/v1/alerts/{id}/cancel`: the false-alarm correction in one
/// request, from the `cancel` template, to everyone the alert reached.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let op = operator(&caller.0)?;
    let original = load(&state, &id).await?;
    let note = format!("Cancels alert {} sent in error", original.identifier);
    let body = follow_up(&original, "Cancel", Some(CANCEL.to_owned()), note);
    send_follow_up(&state, &op, body, &original).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllClearIn {
    /// An ending template; unset: the `all_clear` of the alert's own
    /// template, else the built-in one.
    template: Option<String>,
    note: Option<String>,
}

/// `POST /api/v1/alerts/{id}/all-clear`: the threat is over. A Cancel with
/// the all-clear's own text, to everyone the alert reached; an Actual one
/// waits for a second person unless its template is pre-approved.
pub async fn all_clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let op = operator(&caller.0)?;
    // The body is optional: an empty one asks for the default all-clear.
    let bytes = super::extract::body_bytes(request, &state).await?;
    let body: AllClearIn = if bytes.iter().all(u8::is_ascii_whitespace) {
        AllClearIn::default()
    } else {
        super::extract::parse_json(&bytes)?
    };
    let original = load(&state, &id).await?;
    let template = body.template.unwrap_or_else(|| {
        state
            .config
            .alerts
            .all_clear_for(original.template.as_deref())
    });
    let note = body
        .note
        .unwrap_or_else(|| format!("All clear for alert {}", original.identifier));
    let request = follow_up(&original, "Cancel", Some(template), note);
    send_follow_up(&state, &op, request, &original).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateIn {
    template: Option<String>,
    #[serde(default)]
    infos: Vec<json::InfoIn>,
    /// With a template: the new area (the update also reaches everyone
    /// newly inside it); unset: the alert's own.
    #[serde(default)]
    areas: Vec<json::AreaIn>,
    expires: Option<chrono::DateTime<chrono::FixedOffset>>,
    note: Option<String>,
}

/// `POST /api/v1/alerts/{id}/update`: new text (and area) for an alert in
/// effect, under the same approval rules as the alert.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateIn>,
) -> Result<Response, ApiError> {
    let op = operator(&caller.0)?;
    let original = load(&state, &id).await?;
    if body.template.is_none() && body.infos.is_empty() {
        return Err(ApiError::invalid(
            "infos",
            "an update says something new: give infos or a template",
        ));
    }
    let note = body
        .note
        .unwrap_or_else(|| format!("Updates alert {}", original.identifier));
    let mut request = follow_up(&original, "Update", body.template, note);
    request.infos = body.infos;
    request.areas = body.areas;
    request.expires = body.expires;
    send_follow_up(&state, &op, request, &original).await
}

/// The request body of an Update or Cancel of `original`.
fn follow_up(
    original: &AlertRecord,
    msg_type: &str,
    template: Option<String>,
    note: String,
) -> json::AlertIn {
    json::AlertIn {
        status: original.status.clone(),
        msg_type: msg_type.to_owned(),
        scope: original.scope.clone(),
        restriction: None,
        addresses: None,
        note: Some(note),
        references: Some(original.id.0),
        template,
        infos: vec![],
        areas: vec![],
        expires: None,
        audience: None,
        widen: false,
    }
}

async fn send_follow_up(
    state: &AppState,
    op: &crate::store::Operator,
    body: json::AlertIn,
    original: &AlertRecord,
) -> Result<Response, ApiError> {
    let cap = json::to_cap(&body, &state.config, Some(original))?;
    let opts = Options {
        template: body.template.clone(),
        ..Options::default()
    };
    let (code, alert) = submit(state, op, cap, opts).await?;
    Ok(created(code, &alert))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorIn {
    name: String,
}

/// `POST /api/v1/operators` (admin): a civil-protection operator's token.
pub async fn create_operator(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<OperatorIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let name: Text<100> = Text::parse(&body.name).map_err(|e| ApiError::invalid("name", e))?;
    crate::domain::actor::check_name(name.as_str()).map_err(|e| ApiError::invalid("name", e))?;
    let token = ApiToken::generate();
    let id = state
        .store
        .create_operator(name.as_str(), &token.hash())
        .await?;
    super::journal::record(
        &state,
        super::journal::actor(&caller.0),
        "operator.created",
        format!("operator/{id}"),
        json!({"name": name.as_str(), "role": "civil_protection"}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "name": name.as_str(), "role": "civil_protection",
            "token": token.expose()}),
        ),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceIn {
    name: String,
    residents: Vec<i64>,
}

/// `POST /api/v1/audiences`: a named test audience (operators, admins).
pub async fn create_audience(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AudienceIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    may_read(&caller.0)?;
    let name: Text<100> = Text::parse(&body.name).map_err(|e| ApiError::invalid("name", e))?;
    if body.residents.is_empty() {
        return Err(ApiError::invalid("residents", "name at least one resident"));
    }
    let members: Vec<ResidentId> = body.residents.iter().copied().map(ResidentId).collect();
    let audience = state.store.create_audience(name.as_str(), &members).await?;
    super::journal::record(
        &state,
        super::journal::actor(&caller.0),
        "audience.created",
        format!("audience/{}", audience.id),
        json!({"name": audience.name, "members": audience.members}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(audience))))
}

pub async fn list_audiences(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    may_read(&caller.0)?;
    let audiences = state.store.list_audiences().await?;
    Ok(Json(json!({ "audiences": audiences })))
}
