//! The operations a client offers, on top of everything else: one deployment's items
//! or charts over a range (`items`, `charts`), many deployments' (`fleet`), and what
//! they share (`plan`).

mod charts;
mod fleet;
mod items;
mod plan;

pub use charts::{ChartsReport, ChartsRequest};
pub use fleet::{ChartsOf, DeploymentFailure, DeploymentResult, FleetReport, ItemsOf};
pub use items::{ItemsReport, ItemsRequest, ItemsTotals};
pub use plan::WindowDone;

use crate::client::Client;

impl Client {
    /// Itemized costs of one deployment: configure, then [`send`](ItemsRequest::send)
    /// or [`stream`](ItemsRequest::stream).
    ///
    /// The ids travel as one percent-encoded path segment each; an empty or blank id,
    /// `.`, `..`, or one over 256 bytes is refused before any request.
    pub fn items(
        &self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
    ) -> ItemsRequest {
        ItemsRequest::new(self, organization.into(), deployment.into())
    }

    /// Usage charts of one deployment: configure, then [`send`](ChartsRequest::send)
    /// or [`stream`](ChartsRequest::stream). Ids as for [`items`](Self::items).
    pub fn charts(
        &self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
    ) -> ChartsRequest {
        ChartsRequest::new(self, organization.into(), deployment.into())
    }

    /// Itemized costs of several deployments of one organization through this client
    /// (its concurrency, pacing and retries shared by all): configure, then
    /// [`send`](ItemsOf::send) for every report and every failure, or
    /// [`stream`](ItemsOf::stream) for each as it completes. Repeated ids count once.
    pub fn items_of(
        &self,
        organization: impl Into<String>,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> ItemsOf {
        ItemsOf::new(self, organization.into(), deployments)
    }

    /// Usage charts of several deployments of one organization; as
    /// [`items_of`](Self::items_of).
    pub fn charts_of(
        &self,
        organization: impl Into<String>,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> ChartsOf {
        ChartsOf::new(self, organization.into(), deployments)
    }
}
