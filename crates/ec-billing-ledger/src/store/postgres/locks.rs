//! The advisory locks that keep two syncs of one deployment apart: taken on a
//! connection of their own, let go when it closes.

use std::{collections::BTreeSet, fmt, time::Duration};

use deadpool_postgres::ClientWrapper;

use super::error::failed;
use crate::error::{Error, Result};

/// Held by a sync: an advisory lock per deployment, on a connection of its own that is
/// closed (letting go of them) when this is dropped. The sync writes its windows
/// through that same connection, so that no window is written by a sync that has lost
/// its lock (its connection cut, say): that write fails instead.
pub(crate) struct DeploymentLocks {
    pub(super) connection: tokio::sync::Mutex<ClientWrapper>,
}

impl fmt::Debug for DeploymentLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentLocks")
    }
}

/// Takes an advisory lock per deployment of `organization` in `deployments`, on a
/// connection of its own, waiting at most `wait` for other syncs to let go.
pub(super) async fn take(
    connection: ClientWrapper,
    shown: &str,
    organization: &str,
    deployments: &[String],
    wait: Duration,
) -> Result<DeploymentLocks> {
    let keys: BTreeSet<(i64, &str)> = deployments
        .iter()
        .map(|d| (lock_key(organization, d), d.as_str()))
        .collect();
    let started = std::time::Instant::now();
    loop {
        let mut busy = None;
        for (key, deployment) in &keys {
            let taken: bool = connection
                .query_one("SELECT pg_try_advisory_lock($1)", &[key])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|e| failed(shown, e))?;
            if !taken {
                busy = Some(*deployment);
                break;
            }
        }
        let Some(deployment) = busy else {
            // An idle connection must not be closed under the lock by the server's
            // own timeouts (each setting is left as it is where the server has none).
            for setting in [
                "idle_session_timeout",
                "idle_in_transaction_session_timeout",
            ] {
                let _ = connection
                    .batch_execute(&format!("SET {setting} = 0"))
                    .await;
            }
            return Ok(DeploymentLocks {
                connection: tokio::sync::Mutex::new(connection),
            });
        };
        connection
            .execute("SELECT pg_advisory_unlock_all()", &[])
            .await
            .map_err(|e| failed(shown, e))?;
        if started.elapsed() >= wait {
            return Err(Error::Busy {
                path: format!(
                    "{} (deployment \"{}\")",
                    shown,
                    ec_billing::text::escape(deployment).truncate(80)
                )
                .into(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50).min(wait)).await;
    }
}

/// The advisory lock of one deployment of one organization: 64 bits of FNV-1a over
/// both, apart.
fn lock_key(organization: &str, deployment: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in organization.bytes().chain([0]).chain(deployment.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
