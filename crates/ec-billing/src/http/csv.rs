//! One attempt over CSV: the request is made here, with the same headers as the
//! generated client's, and its body is parsed as it streams in.

use std::io;

use ec_billing_api::{API_VERSION, operation_paths};
use reqwest::{
    Url,
    header::{ACCEPT, HeaderName},
};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::{
    Attempt, Connection, MAX_ERROR_BODY_BYTES,
    body::{BodyLimit, BoundHit, bounded, deadline, guarded},
    classify::{self, transport},
    observe,
};
use crate::{
    csv::ItemsCsvReader,
    error::{CsvErrorKind, Error, RequestContext, TransportKind},
    format::Format,
    model::Items,
    time::Window,
};

/// One attempt at the items of one window as CSV: the request is made here, with the
/// same headers as the generated client's, and its body is parsed as it streams in.
pub(super) async fn items(
    connection: &Connection,
    request: &RequestContext,
    window: Window,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    let shared = connection;
    let deadline = deadline(&*shared.clock, attempt.limit);
    let url = operation_url(
        &shared.base_url,
        request,
        operation_paths::GET_COSTS_ITEMS_BY_DEPLOYMENT,
    )?;
    let send = shared
        .http
        .get(url)
        .query(&[
            ("from", window.from().to_string()),
            ("to", window.to().to_string()),
        ])
        .headers(shared.headers.clone())
        .header(ACCEPT, "text/csv")
        .header(HeaderName::from_static("api-version"), API_VERSION)
        .send();
    let response = tokio::select! {
        biased;
        sent = send => match sent {
            Err(err) => return Err(classify::from_reqwest(request, err)),
            Ok(response) => response,
        },
        () = shared.clock.timer(shared.read_timeout) => {
            return Err(transport(
                request,
                TransportKind::Timeout,
                Some("no answer within the read timeout".into()),
            ));
        }
        () = deadline.clone() => {
            return Err(transport(
                request,
                TransportKind::Timeout,
                Some("the attempt timeout passed".into()),
            ));
        }
    };
    observe(connection, &response, attempt);
    let status = response.status();
    if !status.is_success() {
        let response = bounded(
            response,
            deadline,
            shared.clock.clone(),
            shared.read_timeout,
            BodyLimit::Truncate(MAX_ERROR_BODY_BYTES as u64),
        );
        return Err(classify::error_answer(connection, request, response).await);
    }
    // Kept lines are held whole, as a JSON answer is: bounded alike. Totals alone
    // stream in flat memory, at any size.
    let limit = if keep_lines {
        BodyLimit::Fail(shared.max_body_bytes)
    } else {
        BodyLimit::None
    };
    let chunks = guarded(
        response.bytes_stream(),
        deadline,
        shared.clock.clone(),
        shared.read_timeout,
        limit,
    );
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(chunks)));
    let parsed = match tokio::task::spawn_blocking(move || {
        ItemsCsvReader::new(reader)?.accumulate(keep_lines)
    })
    .await
    {
        Ok(parsed) => parsed,
        // A panic in the parser is a bug to report, not a network failure to retry.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => {
            return Err(transport(
                request,
                TransportKind::Other,
                Some(Box::new(join)),
            ));
        }
    };
    parsed.map_err(|err| csv_failure(connection, request, err))
}

/// The URL of an operation (its path template, from the spec, as the generated client
/// has it) for the request's ids, each one percent-encoded path segment.
fn operation_url(base_url: &str, request: &RequestContext, template: &str) -> Result<Url, Error> {
    // An encoded id holds no brace: it cannot be taken for the other placeholder.
    let path = template
        .replace(
            "{organization_id}",
            &ec_billing_api::encode_path(&request.organization),
        )
        .replace(
            "{deployment_id}",
            &ec_billing_api::encode_path(&request.deployment),
        );
    if path.contains('{') {
        let problem =
            format!("the path template {template} has a placeholder this client does not fill");
        return Err(transport(
            request,
            TransportKind::InvalidRequest,
            Some(problem.into()),
        ));
    }
    Url::parse(&format!("{base_url}{path}"))
        .map_err(|err| transport(request, TransportKind::InvalidRequest, Some(Box::new(err))))
}

/// A failure of the CSV reader: the body broke off or timed out (transport), a bound
/// was hit (the body's size or time, or one record's size), or the document is
/// malformed (decode).
fn csv_failure(connection: &Connection, request: &RequestContext, err: Error) -> Error {
    let io = match &err {
        Error::Csv(csv) => csv.io_error(),
        _ => None,
    };
    if let Some(io) = io {
        let kind = match classify::bound_in(io) {
            Some(BoundHit::TooLarge) => TransportKind::TooLarge,
            Some(BoundHit::Idle | BoundHit::Deadline) => TransportKind::Timeout,
            None if io.kind() == io::ErrorKind::TimedOut => TransportKind::Timeout,
            None => TransportKind::Body,
        };
        return transport(request, kind, Some(Box::new(err)));
    }
    match err {
        Error::Csv(csv) if csv.kind() == CsvErrorKind::TooLarge => {
            transport(request, TransportKind::TooLarge, Some(csv))
        }
        Error::Csv(csv) => classify::decode(connection, Some(request), Format::Csv, *csv),
        Error::Overflow(overflow) => overflow.in_request(request.clone()).into(),
        other => other,
    }
}
