//! How the commands that fetch reach the API: the global flags checked into
//! [`ClientSettings`], then a [`Client`] for a real API or, with `--simulate` (cargo
//! feature `simulate`), for the embedded simulator started on loopback.

use ec_billing::{
    ApiKey, Client,
    policy::{Pacing, RetryPolicy},
};
use jiff::Timestamp;
use std::num::NonZeroUsize;

use crate::{args::GlobalArgs, exit::one_line};

/// What `--simulate` says in a binary built without the simulator.
const WITHOUT_SIMULATOR: &str = "--simulate: this ec-billing was built without the simulator \
     (cargo feature `simulate`); use a build with default features for --simulate";

/// How to reach the API, for the commands that do.
#[derive(Debug)]
pub(crate) struct ClientSettings {
    pub(crate) connection: Connection,
    pub(crate) concurrency: NonZeroUsize,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacing: Pacing,
    /// With `--simulate`: the simulator's clock (`--simulate-at`).
    pub(crate) simulate_at: Option<Timestamp>,
}

/// Where requests go. `Debug` shows the base URL only as it may be printed, and no key.
pub(crate) enum Connection {
    /// The embedded simulator.
    #[cfg(feature = "simulate")]
    Simulator,
    /// A real API (or anything that speaks it).
    Api {
        base_url: Option<String>,
        key: ApiKey,
    },
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "simulate")]
            Self::Simulator => f.write_str("Simulator"),
            Self::Api { base_url, key } => f
                .debug_struct("Api")
                .field(
                    "base_url",
                    &base_url.as_deref().map(ec_billing::text::redact_url),
                )
                .field("key", key)
                .finish(),
        }
    }
}

/// Refuses `--simulate` and `--simulate-at`, whatever the command, in a binary built
/// without the simulator.
///
/// # Errors
///
/// The one line that says so.
pub(crate) fn simulator_built(global: &GlobalArgs) -> Result<(), &'static str> {
    simulator_asked_of(global, cfg!(feature = "simulate"))
}

/// What [`simulator_built`] says of a binary that has the simulator (`built`) or not.
fn simulator_asked_of(global: &GlobalArgs, built: bool) -> Result<(), &'static str> {
    if built || !(global.simulate || global.simulate_at.is_some()) {
        Ok(())
    } else {
        Err(WITHOUT_SIMULATOR)
    }
}

impl ClientSettings {
    /// The global flags, checked; the key and base URL are taken out of `global`.
    ///
    /// # Errors
    ///
    /// The message for the user, quoting the bad input.
    pub(crate) fn from_flags(global: &mut GlobalArgs) -> Result<Self, Box<dyn std::error::Error>> {
        simulator_built(global)?;
        let pacing: Pacing = global.pacing.parse()?;
        let simulate_at = match (&global.simulate_at, global.simulate) {
            (None, _) => None,
            (Some(at), true) => Some(ec_billing::parse_instant(at)?),
            (Some(_), false) => return Err("--simulate-at goes with --simulate".into()),
        };
        let connection = if global.simulate {
            if global.base_url_on_command_line {
                return Err(
                    "--simulate serves its own base URL: drop --base-url, or --simulate".into(),
                );
            }
            simulator()?
        } else {
            let key = global
                .api_key
                .take()
                .ok_or("no API key: set EC_API_KEY, pass --api-key, or use --simulate")?;
            Connection::Api {
                base_url: global.base_url.take(),
                key: ApiKey::new(key)?,
            }
        };
        Ok(Self {
            connection,
            concurrency: global.concurrency,
            retry: RetryPolicy::default().with_max_attempts(global.max_attempts),
            pacing,
            simulate_at,
        })
    }

    /// The key, to be redacted from every line a run prints.
    pub(crate) fn key(&self) -> Option<&ApiKey> {
        match &self.connection {
            Connection::Api { key, .. } => Some(key),
            #[cfg(feature = "simulate")]
            Connection::Simulator => None,
        }
    }
}

/// The embedded simulator, as a connection.
#[cfg(feature = "simulate")]
fn simulator() -> Result<Connection, &'static str> {
    Ok(Connection::Simulator)
}

/// Never: this binary has no simulator.
#[cfg(not(feature = "simulate"))]
fn simulator() -> Result<Connection, &'static str> {
    Err(WITHOUT_SIMULATOR)
}

/// How long after a day ends the embedded simulator revises its costs.
#[cfg(feature = "simulate")]
const SIMULATED_REVISION_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(3 * 24);

/// What keeps the embedded simulator running until the end of the run.
#[cfg(feature = "simulate")]
pub(crate) type SimulatorGuard = ec_billing_sim::RunningSimulator;
/// Nothing: this binary has no simulator.
#[cfg(not(feature = "simulate"))]
pub(crate) type SimulatorGuard = std::convert::Infallible;

/// The client, and the simulator it talks to when `--simulate` (kept alive until the
/// end of the run).
///
/// # Errors
///
/// A base URL or key the client refuses; a simulator that cannot start.
pub(crate) async fn connect(
    settings: &ClientSettings,
) -> anyhow::Result<(Client, Option<SimulatorGuard>)> {
    let builder = Client::builder()
        .concurrency(settings.concurrency)
        .retry_policy(settings.retry.clone())
        .pacing(settings.pacing);
    match &settings.connection {
        #[cfg(feature = "simulate")]
        Connection::Simulator => {
            use anyhow::Context as _;

            // The standard data, revised three days after each day ends, as Elastic
            // revises recent costs.
            let data = ec_billing_sim::Dataset::standard().with_revisions(SIMULATED_REVISION_DELAY);
            let mut sim = ec_billing_sim::Simulator::new().dataset(data);
            if let Some(now) = settings.simulate_at {
                sim = sim.now(now);
            }
            let sim = sim.start().await.context("cannot start the simulator")?;
            let key = ApiKey::new(sim.api_key())?;
            let client = builder.base_url(sim.base_url()).api_key(key).build()?;
            Ok((client, Some(sim)))
        }
        Connection::Api { base_url, key } => {
            if let Some(url) = base_url
                && !url.trim().trim_end_matches('/').ends_with("/api/v1")
            {
                say!(
                    "warning: the base URL {} does not end with /api/v1: requests go to \
                     <it>/billing/costs/...",
                    one_line(&ec_billing::text::redact_url(url).to_string(), Some(key))
                );
            }
            let builder = builder.api_key(key.clone());
            let builder = match base_url {
                Some(url) => builder.base_url(url),
                None => builder,
            };
            Ok((builder.build()?, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::args::Cli;

    fn global(args: &[&str]) -> GlobalArgs {
        let line = ["ec-billing"]
            .iter()
            .chain(args)
            .chain(&["export", "--db", "costs.db", "--format", "csv"]);
        Cli::try_parse_from(line).unwrap().global
    }

    #[test]
    fn a_binary_without_the_simulator_refuses_simulate_in_one_line() {
        for flags in [&["--simulate"][..], &["--simulate-at", "2024-03-01"]] {
            let refused = simulator_asked_of(&global(flags), false).unwrap_err();
            assert!(refused.contains("built without the simulator"), "{refused}");
            assert!(!refused.contains('\n'), "{refused}");
            assert!(simulator_asked_of(&global(flags), true).is_ok());
        }
        assert!(simulator_asked_of(&global(&[]), false).is_ok());
    }
}
