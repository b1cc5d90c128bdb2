//! Answers and failures mapped to this crate's [`Error`]: the API's error answers
//! (codes from the header and the body, redacted and kept whatever the body's format),
//! the generated client's errors, and `reqwest`'s, each classified as retryable or not.

use std::{error::Error as StdError, fmt, io};

use ec_billing_api::{CallHooks, types::BasicFailedReply};
use reqwest::{StatusCode, header::HeaderMap};

use super::{
    Connection,
    body::{BodyBound, BoundHit},
};
use crate::{
    error::{
        ApiError, DecodeError, Error, ErrorCode, InvalidInput, RequestContext, TransportError,
        TransportKind, causes,
    },
    format::Format,
    model::json_field_error,
    policy::retry_after,
};

/// The header carrying the API's error codes.
const ERROR_CODES: &str = "x-cloud-error-codes";

/// Headers that may carry a request id, in order of preference.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-request-id", "x-cloud-request-id"];

/// Maps an error of the generated client, with the head its hooks recorded.
pub(super) async fn generated_error<T: serde::de::DeserializeOwned>(
    connection: &Connection,
    request: &RequestContext,
    err: ec_billing_api::Error<BasicFailedReply>,
    hooks: &CallHooks,
) -> Error {
    use ec_billing_api::Error as E;
    match err {
        E::ErrorResponse(reply) => {
            let (status, headers) = (reply.status(), reply.headers().clone());
            api_error(
                connection,
                request,
                status,
                &headers,
                Some(reply.into_inner()),
            )
        }
        E::InvalidResponsePayload(bytes, _) => match hooks.last_response() {
            // A documented error status whose body is not JSON (or was cut at the
            // error-body cap): keep the status and headers.
            Some(head) if !head.status.is_success() => {
                api_error(connection, request, head.status, &head.headers, None)
            }
            // A success whose body is not the documented JSON: name the field.
            _ => decode(
                connection,
                Some(request),
                Format::Json,
                json_field_error::<T>(&bytes),
            ),
        },
        E::UnexpectedResponse(response) => error_answer(connection, request, response).await,
        E::CommunicationError(err) => from_reqwest(request, err),
        E::ResponseBodyError(err) => {
            let kind = bound_in(&err).map_or(TransportKind::Body, bound_kind);
            transport(request, kind, Some(Box::new(err.without_url())))
        }
        // The generated client refused to send it (a path parameter would change the
        // path): refused before any request.
        E::InvalidRequest(message) => InvalidInput::new(message).into(),
        // reqwest's error names the request's URL: never printed.
        E::InvalidUpgrade(err) => transport(
            request,
            TransportKind::Other,
            Some(Box::new(err.without_url())),
        ),
        other => transport(
            request,
            TransportKind::Other,
            Some(other.to_string().into()),
        ),
    }
}

/// An [`ApiError`] from an error answer whose body is still to be read (already
/// bounded by the caller): the body counts when it is the documented JSON.
pub(super) async fn error_answer(
    connection: &Connection,
    request: &RequestContext,
    response: reqwest::Response,
) -> Error {
    let (status, headers) = (response.status(), response.headers().clone());
    let reply = response
        .bytes()
        .await
        .ok()
        .and_then(|body| serde_json::from_slice(&body).ok());
    api_error(connection, request, status, &headers, reply)
}

/// An [`ApiError`] from a status, its headers and, when it decoded, its body. Every
/// text from the server has the client's key redacted.
pub(super) fn api_error(
    connection: &Connection,
    request: &RequestContext,
    status: StatusCode,
    headers: &HeaderMap,
    reply: Option<BasicFailedReply>,
) -> Error {
    let key = &connection.key;
    let mut codes: Vec<ErrorCode> = headers
        .get_all(ERROR_CODES)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| ErrorCode::from(key.redact(c).as_ref()))
        .collect();
    let mut messages = Vec::new();
    for element in reply.map(|r| r.errors).unwrap_or_default() {
        codes.push(ErrorCode::from(key.redact(&element.code).as_ref()));
        messages.push(key.redact(&element.message).into_owned());
    }
    let mut seen = Vec::with_capacity(codes.len());
    codes.retain(|c| {
        !seen.contains(c) && {
            seen.push(c.clone());
            true
        }
    });
    let request_id = REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|id| key.redact(id).into_owned());
    ApiError {
        request: request.clone(),
        status: status.as_u16(),
        codes,
        messages,
        request_id,
        retry_after: retry_after(headers, connection.clock.now()),
    }
    .into()
}

/// A `reqwest` failure: what the same request would meet again (a redirect loop or a
/// disallowed redirect, a request that cannot be built) is not retried.
pub(super) fn from_reqwest(request: &RequestContext, err: reqwest::Error) -> Error {
    let kind = if let Some(hit) = bound_in(&err) {
        bound_kind(hit)
    } else if err.is_builder() {
        TransportKind::InvalidRequest
    } else if err.is_redirect() {
        TransportKind::Redirect
    } else if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if err.is_body() || err.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    };
    transport(request, kind, Some(Box::new(err.without_url())))
}

fn bound_kind(hit: BoundHit) -> TransportKind {
    match hit {
        BoundHit::TooLarge => TransportKind::TooLarge,
        BoundHit::Idle | BoundHit::Deadline => TransportKind::Timeout,
    }
}

/// The body bound an error's causes hit, if any (an `io::Error` hides the error it
/// wraps from `source()`: it is reached through `get_ref`).
pub(super) fn bound_in(err: &(dyn StdError + 'static)) -> Option<BoundHit> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(bound) = err.downcast_ref::<BodyBound>() {
            return Some(bound.hit);
        }
        if let Some(bound) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<BodyBound>())
        {
            return Some(bound.hit);
        }
        current = err.source();
    }
    None
}

pub(super) fn transport(
    request: &RequestContext,
    kind: TransportKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
) -> Error {
    TransportError {
        request: request.clone(),
        kind,
        source,
    }
    .into()
}

/// A body that did not decode. Its cause may quote the server's text: when that holds
/// the client's key, the cause is replaced by its redacted message.
pub(super) fn decode(
    connection: &Connection,
    request: Option<&RequestContext>,
    format: Format,
    source: impl Into<Box<dyn StdError + Send + Sync>>,
) -> Error {
    let source: Box<dyn StdError + Send + Sync> = source.into();
    let text = causes(&*source);
    let key = &connection.key;
    let source = match key.redact(&text) {
        std::borrow::Cow::Owned(redacted) => Box::new(Redacted(redacted)) as _,
        std::borrow::Cow::Borrowed(_) => source,
    };
    DecodeError {
        request: request.cloned(),
        format,
        source,
    }
    .into()
}

/// A cause whose text had the client's key in it, with the key redacted.
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Redacted {}
