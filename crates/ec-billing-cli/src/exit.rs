//! How a run ends: its [`Outcome`], the one line on stderr that describes a failure
//! (the key redacted, server text escaped), and the exit status.

use std::process::ExitCode;

/// How a run that printed what it could ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every deployment answered.
    Complete,
    /// With `--keep-going`, some deployments failed; each said so on stderr.
    Partial,
}

/// The exit status of a run that ended with `outcome`, after its error (if any) is
/// said on stderr: 0, 1, or 2 for bad input (refused before any request, wherever it
/// is found). A closed stdout is not a failure.
pub(crate) fn exit_status(
    outcome: anyhow::Result<Outcome>,
    key: Option<&ec_billing::ApiKey>,
) -> ExitCode {
    match outcome {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::FAILURE,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            say!("error: {}", one_line(&describe(&err), key));
            let invalid = matches!(
                err.downcast_ref::<ec_billing::Error>(),
                Some(ec_billing::Error::InvalidInput(_))
            ) || matches!(
                err.downcast_ref::<ec_billing_ledger::Error>(),
                Some(
                    ec_billing_ledger::Error::InvalidInput(_)
                        | ec_billing_ledger::Error::Api(ec_billing::Error::InvalidInput(_))
                )
            );
            if invalid {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether stdout was closed by its reader (`ec-billing ... | head`): not a failure.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            // `csv::Error` does not give its I/O error as its source.
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if broken(io)))
            // Nor does `serde_json::Error`.
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// The most characters of an error line.
const MAX_LINE: usize = 1000;

/// `text` as one line of stderr: the key redacted, control characters escaped, cut to
/// [`MAX_LINE`] characters.
pub(crate) fn one_line(text: &str, key: Option<&ec_billing::ApiKey>) -> String {
    let text = match key {
        Some(key) => key.redact(text),
        None => text.into(),
    };
    ec_billing::text::escape(&text)
        .truncate(MAX_LINE)
        .to_string()
}

/// A failure, described. An API error's `Display` already names its status, code,
/// deployment and window; other errors add their causes.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let deployment = err.downcast_ref::<Deployment>();
    let failure = err.downcast_ref::<ec_billing::Error>().or_else(|| match err
        .downcast_ref::<ec_billing_ledger::Error>(
    ) {
        Some(ec_billing_ledger::Error::Api(failure)) => Some(failure),
        _ => None,
    });
    let Some(failure) = failure else {
        return format!("{err:#}");
    };
    let mut line = failure.to_string();
    if let (None, Some(deployment)) = (failure.deployment(), deployment) {
        line.push_str(&format!(
            " for deployment \"{}\"",
            ec_billing::text::escape(&deployment.0)
        ));
    }
    if failure.status().is_none() {
        let mut source = std::error::Error::source(failure);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
    }
    if failure.attempts() > 1 {
        line.push_str(&format!(" (after {} attempts)", failure.attempts()));
    }
    if failure.is_auth() {
        line.push_str(": check the API key and its access to the organization");
    } else if failure.is_not_found() {
        line.push_str(": check --org and --deployment");
    }
    line
}

/// The deployment an error belongs to, as context for errors that do not say.
#[derive(Debug)]
pub(crate) struct Deployment(pub(crate) String);

impl std::fmt::Display for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment \"{}\"", ec_billing::text::escape(&self.0))
    }
}
