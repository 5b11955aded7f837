//! `GET /.well-known/jwks.json`: the public keys SETs are signed with.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::events::keys;

use crate::error::ScimError;
use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the keys SETs are signed with (RFC 7517), no authentication.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ScimError> {
    // The first key is made here if none exists yet, so a receiver set up before the first
    // event already has it.
    state.events.keys.signing(&state.db).await?;
    let keys = keys::published(&state.db, state.events.key_grace).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=60")],
        Json(json!({ "keys": keys })),
    )
        .into_response())
}
