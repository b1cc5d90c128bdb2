//! The simulator's data: a few organizations and deployments, with deterministic line
//! items for every UTC day and exact decimal costs.
//!
//! A day's lines belong to a range when the day's start (midnight UTC) is in
//! `[from, to)`, so any split of a range into adjacent windows sees each day once and
//! the totals of the windows add up to the total of the range.

use std::ops::RangeInclusive;

use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use rust_decimal::Decimal;

/// One line of a day's costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A resource line.
    Resource {
        /// `elasticsearch`, `kibana`, ...
        kind: &'static str,
        /// Display name.
        name: String,
        /// Stock keeping unit.
        sku: &'static str,
        /// Hours of use.
        hours: i64,
        /// Instances.
        instance_count: i32,
        /// Start of the period (the day's midnight).
        start: Timestamp,
        /// End of the period (the next midnight).
        end: Timestamp,
        /// Price per hour per instance.
        price_per_hour: Decimal,
        /// `hours × instance_count × price_per_hour`.
        cost: Decimal,
    },
    /// A data-transfer-and-storage line.
    Dts {
        /// Display name.
        name: String,
        /// Stock keeping unit.
        sku: &'static str,
        /// Usage type, also its billing dimension: `data_out`, `storage_bytes`.
        usage_type: &'static str,
        /// Raw quantity in bytes.
        quantity: i64,
        /// Human-readable quantity.
        quantity_formatted: String,
        /// ECU per GB.
        rate: Decimal,
        /// Human-readable rate.
        rate_formatted: String,
        /// `GB × rate`.
        cost: Decimal,
    },
}

impl Line {
    /// The line's cost.
    pub fn cost(&self) -> Decimal {
        match self {
            Self::Resource { cost, .. } | Self::Dts { cost, .. } => *cost,
        }
    }

    /// The billing dimension the line counts toward.
    pub fn dimension(&self) -> &'static str {
        match self {
            Self::Resource { .. } => "capacity",
            Self::Dts { usage_type, .. } => usage_type,
        }
    }
}

/// A deployment's shape: what it runs and how much traffic it has.
#[derive(Clone, Debug)]
struct Profile {
    id: String,
    region: &'static str,
    es_instances: i32,
    es_sku: &'static str,
    es_memory: &'static str,
    /// ECU per instance-hour, in ten-thousandths.
    es_price: i64,
    kibana_price: i64,
    /// Mean GB of data out per day.
    data_out_gb: i64,
    /// GB of snapshots kept.
    snapshot_gb: i64,
}

impl Profile {
    /// A deployment shaped by `seed`: one of a few regions and instance sizes, traffic
    /// and snapshots of some size.
    fn seeded(id: String, seed: u64) -> Self {
        const REGIONS: [&str; 6] = [
            "gcp-us-central1",
            "gcp-europe-west1",
            "aws-us-east-1",
            "aws-eu-west-1",
            "azure-westeurope",
            "azure-eastus2",
        ];
        // (SKU, memory, ECU per instance-hour in ten-thousandths)
        const SIZES: [(&str, &str, i64); 4] = [
            ("gcp.es.datahot.n2.68x10x45", "2 GB RAM", 1700),
            ("gcp.es.datahot.n2.68x10x45", "4 GB RAM", 3400),
            ("gcp.es.datahot.n2.68x10x45", "8 GB RAM", 6800),
            ("gcp.es.datahot.n2.68x10x45", "16 GB RAM", 13600),
        ];
        let dice = |salt: u64, sides: u64| {
            splitmix(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % sides
        };
        let (es_sku, es_memory, es_price) = SIZES[dice(1, SIZES.len() as u64) as usize];
        Self {
            id,
            region: REGIONS[dice(2, REGIONS.len() as u64) as usize],
            es_instances: 1 + dice(3, 3) as i32,
            es_sku,
            es_memory,
            es_price,
            kibana_price: 1199,
            data_out_gb: 1 + dice(4, 200) as i64,
            snapshot_gb: 10 + dice(5, 4000) as i64,
        }
    }
}

/// SplitMix64: a well-mixed number from a seed.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An organization and its deployments.
#[derive(Clone, Debug)]
struct Organization {
    id: String,
    deployments: Vec<Profile>,
}

/// The simulator's organizations, deployments and their costs.
#[derive(Clone, Debug)]
pub struct Dataset {
    organizations: Vec<Organization>,
    /// How many times each line of a day is repeated.
    copies: u32,
    /// How long after a day ends its costs are revised, if they are.
    revision_delay: Option<SignedDuration>,
}

impl Default for Dataset {
    fn default() -> Self {
        Self::standard()
    }
}

impl Dataset {
    /// The standard data set: organization `acme` with deployments `prod`, `staging`
    /// and `we/ird id` (reserved characters in an id), and organization `globex` with
    /// `search`.
    pub fn standard() -> Self {
        let profile = |id: &str,
                       region,
                       es_instances,
                       es_sku,
                       es_memory,
                       es_price,
                       data_out_gb,
                       snapshot_gb| {
            Profile {
                id: id.to_string(),
                region,
                es_instances,
                es_sku,
                es_memory,
                es_price,
                kibana_price: 1199,
                data_out_gb,
                snapshot_gb,
            }
        };
        Self {
            organizations: vec![
                Organization {
                    id: "acme".to_string(),
                    deployments: vec![
                        profile(
                            "prod",
                            "gcp-us-central1",
                            3,
                            "gcp.es.datahot.n2.68x10x45",
                            "8 GB RAM",
                            6800,
                            40,
                            900,
                        ),
                        profile(
                            "staging",
                            "gcp-us-central1",
                            1,
                            "gcp.es.datahot.n2.68x10x45",
                            "4 GB RAM",
                            3400,
                            3,
                            120,
                        ),
                        profile(
                            "we/ird id",
                            "aws-eu-west-1",
                            2,
                            "aws.es.datahot.c6gd",
                            "2 GB RAM",
                            1700,
                            1,
                            30,
                        ),
                    ],
                },
                Organization {
                    id: "globex".to_string(),
                    deployments: vec![profile(
                        "search",
                        "azure-westeurope",
                        2,
                        "azure.es.datahot.edsv4",
                        "16 GB RAM",
                        13600,
                        120,
                        4000,
                    )],
                },
            ],
            copies: 1,
            revision_delay: None,
        }
    }

    /// The standard data set and an organization `fleet` of `count` deployments,
    /// `d000`, `d001`, ..., shaped like the standard ones in turn: for runs over many
    /// distinct deployments.
    pub fn with_fleet(mut self, count: usize) -> Self {
        let shapes: Vec<Profile> = self
            .organizations
            .iter()
            .flat_map(|o| o.deployments.iter().cloned())
            .collect();
        let deployments = (0..count)
            .map(|i| Profile {
                id: format!("d{i:03}"),
                ..shapes[i % shapes.len()].clone()
            })
            .collect();
        self.organizations.push(Organization {
            id: "fleet".to_string(),
            deployments,
        });
        self
    }

    /// A data set with no organization: declare what a test needs with
    /// [`organization`](Self::organization) and [`deployment`](Self::deployment).
    ///
    /// ```
    /// use ec_billing_sim::Dataset;
    ///
    /// let data = Dataset::empty()
    ///     .deployment("my-org", "eu-search", 1)
    ///     .deployment("my-org", "us-logs", 2)
    ///     .organization("empty-org");
    /// let (from, to) = ("2024-01-01T00:00:00Z".parse()?, "2025-01-01T00:00:00Z".parse()?);
    /// let total = data.items_total("my-org", "eu-search", from, to).expect("declared");
    /// assert!(total > ec_billing_sim::Decimal::ZERO);
    /// assert_eq!(data.items_total("empty-org", "eu-search", from, to), None);
    /// # Ok::<(), jiff::Error>(())
    /// ```
    pub fn empty() -> Self {
        Self {
            organizations: Vec::new(),
            copies: 1,
            revision_delay: None,
        }
    }

    /// Declares `organization`, with no deployment unless others declare some: a
    /// request for any of its deployments is answered 404 as an unknown deployment.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization_mut(organization.into());
        self
    }

    /// Declares `deployment` of `organization` (declaring the organization too), or
    /// redeclares it: every UTC day it serves an Elasticsearch and a Kibana line and
    /// data-out and snapshot-storage lines, shaped by `seed` (region, instances, prices,
    /// traffic), exact and the same on every run. [`items_total`](Self::items_total)
    /// gives the exact total of any range.
    pub fn deployment(
        mut self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
        seed: u64,
    ) -> Self {
        let profile = Profile::seeded(deployment.into(), seed);
        let deployments = &mut self.organization_mut(organization.into()).deployments;
        match deployments.iter_mut().find(|d| d.id == profile.id) {
            Some(existing) => *existing = profile,
            None => deployments.push(profile),
        }
        self
    }

    fn organization_mut(&mut self, id: String) -> &mut Organization {
        let index = match self.organizations.iter().position(|o| o.id == id) {
            Some(index) => index,
            None => {
                self.organizations.push(Organization {
                    id,
                    deployments: Vec::new(),
                });
                self.organizations.len() - 1
            }
        };
        &mut self.organizations[index]
    }

    /// Every organization, with its deployments, in the order declared.
    pub fn organizations(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.organizations.iter().map(|o| {
            (
                o.id.as_str(),
                o.deployments.iter().map(|d| d.id.as_str()).collect(),
            )
        })
    }

    /// Every line of every day repeated `copies` times (with the copy number in its
    /// name): a large organization, for benchmarks. At least 1.
    pub fn with_copies(mut self, copies: u32) -> Self {
        self.copies = copies.max(1);
        self
    }

    /// Costs are revised once, `after` the end of each day, as Elastic revises costs
    /// after first publishing them: asked before then, a day's data-out line has its
    /// first-published quantity and cost; from then on, 10% more, and a data
    /// inter-node line appears. Which a request sees depends on the simulator's clock
    /// ([`Simulator::now`](crate::Simulator::now)); the `_as_of` methods say what was
    /// published at an instant, the others what is published in the end.
    ///
    /// ```
    /// use ec_billing_sim::Dataset;
    /// use jiff::SignedDuration;
    ///
    /// let data = Dataset::standard().with_revisions(SignedDuration::from_hours(72));
    /// let (from, to) = ("2024-03-01T00:00:00Z".parse()?, "2024-03-02T00:00:00Z".parse()?);
    /// let first = data.items_total_as_of("acme", "prod", from, to, "2024-03-03T00:00:00Z".parse()?);
    /// let revised = data.items_total_as_of("acme", "prod", from, to, "2024-03-05T00:00:00Z".parse()?);
    /// assert!(first < revised);
    /// assert_eq!(revised, data.items_total("acme", "prod", from, to));
    /// # Ok::<(), jiff::Error>(())
    /// ```
    pub fn with_revisions(mut self, after: SignedDuration) -> Self {
        self.revision_delay = Some(after);
        self
    }

    /// Whether the costs of `day` are revised as of `at`.
    fn revised(&self, day: Date, at: Timestamp) -> bool {
        self.revision_delay.is_some_and(|delay| {
            let end = day.tomorrow().map_or(Timestamp::MAX, midnight);
            end.checked_add(delay)
                .is_ok_and(|revised_at| revised_at <= at)
        })
    }

    /// Whether the organization exists.
    pub fn has_organization(&self, organization: &str) -> bool {
        self.organizations.iter().any(|o| o.id == organization)
    }

    /// Whether the deployment exists in the organization.
    pub fn has_deployment(&self, organization: &str, deployment: &str) -> bool {
        self.profile(organization, deployment).is_some()
    }

    /// Every `(organization, deployment)` pair.
    pub fn deployments(&self) -> Vec<(&str, &str)> {
        self.organizations
            .iter()
            .flat_map(|o| o.deployments.iter().map(|d| (o.id.as_str(), d.id.as_str())))
            .collect()
    }

    fn profile(&self, organization: &str, deployment: &str) -> Option<&Profile> {
        self.organizations
            .iter()
            .find(|o| o.id == organization)?
            .deployments
            .iter()
            .find(|d| d.id == deployment)
    }

    /// The lines of every day whose start is in `[from, to)`, day by day, or `None`
    /// for an unknown deployment; revised where revisions are on.
    pub fn lines(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Vec<(Date, Vec<Line>)>> {
        self.lines_as_of(organization, deployment, from, to, Timestamp::MAX)
    }

    /// As [`lines`](Self::lines), as published at `at` (see
    /// [`with_revisions`](Self::with_revisions)).
    pub fn lines_as_of(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
        at: Timestamp,
    ) -> Option<Vec<(Date, Vec<Line>)>> {
        days_starting_in(from, to)
            .map(|day| {
                let lines =
                    self.day_lines_of_copies(organization, deployment, day, 1..=self.copies, at)?;
                Some((day, lines))
            })
            .collect()
    }

    /// The days whose start is in `[from, to)`.
    pub fn days(&self, from: Timestamp, to: Timestamp) -> Vec<Date> {
        days_starting_in(from, to).collect()
    }

    /// The lines of one day, or `None` for an unknown deployment; revised where
    /// revisions are on.
    pub fn day_lines(&self, organization: &str, deployment: &str, day: Date) -> Option<Vec<Line>> {
        self.day_lines_of_copies(
            organization,
            deployment,
            day,
            1..=self.copies,
            Timestamp::MAX,
        )
    }

    /// The copies of a day's lines numbered in `copies` (see [`Dataset::with_copies`]),
    /// as published at `at`.
    pub fn day_lines_of_copies(
        &self,
        organization: &str,
        deployment: &str,
        day: Date,
        copies: RangeInclusive<u32>,
        at: Timestamp,
    ) -> Option<Vec<Line>> {
        let revised = self.revised(day, at);
        let lines = day_lines(self.profile(organization, deployment)?, day, revised);
        if self.copies == 1 {
            return Some(lines);
        }
        Some(
            copies
                .flat_map(|copy| {
                    lines.iter().cloned().map(move |mut line| {
                        match &mut line {
                            Line::Resource { name, .. } | Line::Dts { name, .. } => {
                                name.push_str(&format!(" #{copy}"));
                            }
                        }
                        line
                    })
                })
                .collect(),
        )
    }

    /// The copy numbers `1..=copies` in runs of at most `per_batch`.
    pub fn copy_batches(&self, per_batch: u32) -> Vec<RangeInclusive<u32>> {
        let per_batch = per_batch.max(1);
        (0..self.copies.div_ceil(per_batch))
            .map(|i| (i * per_batch + 1)..=((i + 1) * per_batch).min(self.copies))
            .collect()
    }

    /// The exact total the simulator serves for `[from, to)` (revised, where revisions
    /// are on), or `None` for an unknown deployment. Any split of the range into
    /// adjacent windows adds up to it.
    pub fn items_total(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Decimal> {
        self.items_total_as_of(organization, deployment, from, to, Timestamp::MAX)
    }

    /// As [`items_total`](Self::items_total), as published at `at`.
    pub fn items_total_as_of(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
        at: Timestamp,
    ) -> Option<Decimal> {
        let profile = self.profile(organization, deployment)?;
        // A day's lines are a few ECU: no sum of them, nor its product with a `u32`
        // number of copies, comes near `Decimal`'s 7.9e28.
        let one_copy: Decimal = days_starting_in(from, to)
            .flat_map(|day| day_lines(profile, day, self.revised(day, at)))
            .map(|l| l.cost())
            .sum();
        Some(one_copy * Decimal::from(self.copies))
    }
}

/// Midnight UTC of `date`; past either end of the time scale (the midnight of
/// 9999-12-31 is not an instant jiff holds), the end it passed.
pub(crate) fn midnight(date: Date) -> Timestamp {
    match date.to_zoned_datetime(TimeZone::UTC) {
        Ok(zoned) => zoned.timestamp(),
        Err(_) if date.year() < 0 => Timestamp::MIN,
        Err(_) => Timestamp::MAX,
    }
}

/// The UTC date of an instant.
pub(crate) fn utc_date(at: Timestamp) -> Date {
    at.to_zoned_datetime(TimeZone::UTC).date()
}

/// Every date whose midnight is in `[from, to)`.
fn days_starting_in(from: Timestamp, to: Timestamp) -> impl Iterator<Item = Date> {
    let date = utc_date(from);
    let first = if midnight(date) < from {
        date.tomorrow().ok()
    } else {
        Some(date)
    };
    std::iter::successors(first, |d| d.tomorrow().ok()).take_while(move |d| midnight(*d) < to)
}

/// A stable pseudo-random number for a deployment and day.
fn mix(id: &str, day: Date, salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for b in id.bytes().chain(day.to_string().bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (h >> 29)
}

fn ten_thousandths(value: i64) -> Decimal {
    Decimal::new(value, 4)
}

/// The lines of one day of one deployment, first published or `revised`.
fn day_lines(p: &Profile, day: Date, revised: bool) -> Vec<Line> {
    let start = midnight(day);
    let end = day.tomorrow().map_or(Timestamp::MAX, midnight);
    let es_price = ten_thousandths(p.es_price);
    let kibana_price = ten_thousandths(p.kibana_price);
    let es_cost = Decimal::from(24 * i64::from(p.es_instances)) * es_price;
    let kibana_cost = Decimal::from(24) * kibana_price;
    // Data out varies by day: between half and one and a half times the mean, in
    // hundredths of a GB.
    let mut out_centi_gb =
        p.data_out_gb * 50 + (mix(&p.id, day, 1) % (p.data_out_gb as u64 * 100 + 1)) as i64;
    if revised {
        // Traffic accounted late: 10% more, rounded to a hundredth of a GB.
        out_centi_gb += out_centi_gb / 10;
    }
    let out_gb = Decimal::new(out_centi_gb, 2);
    let out_rate = ten_thousandths(320);
    let snapshot_centi_gb = p.snapshot_gb * 100 + (mix(&p.id, day, 2) % 5000) as i64;
    let snapshot_gb = Decimal::new(snapshot_centi_gb, 2);
    let snapshot_rate = ten_thousandths(11);
    let mut lines = vec![
        Line::Resource {
            kind: "elasticsearch",
            name: format!(
                "{} in {} ({}, {} zones)",
                p.es_sku.to_uppercase(),
                p.region,
                p.es_memory,
                p.es_instances
            ),
            sku: p.es_sku,
            hours: 24,
            instance_count: p.es_instances,
            start,
            end,
            price_per_hour: es_price,
            cost: es_cost,
        },
        Line::Resource {
            kind: "kibana",
            name: format!("KIBANA in {} (1 GB RAM, 1 zone)", p.region),
            sku: "kibana.n2.68x32x45",
            hours: 24,
            instance_count: 1,
            start,
            end,
            price_per_hour: kibana_price,
            cost: kibana_cost,
        },
        Line::Dts {
            name: format!("Data out ({})", p.region),
            sku: "data-out",
            usage_type: "data_out",
            quantity: out_centi_gb * 10_000_000,
            quantity_formatted: format!("{out_gb} GB"),
            rate: out_rate,
            rate_formatted: format!("{out_rate} per GB"),
            cost: out_gb * out_rate,
        },
        Line::Dts {
            name: format!("Snapshot storage ({})", p.region),
            sku: "snapshot-storage",
            usage_type: "storage_bytes",
            quantity: snapshot_centi_gb * 10_000_000,
            quantity_formatted: format!("{snapshot_gb} GB"),
            rate: snapshot_rate,
            rate_formatted: format!("{snapshot_rate} per GB-day"),
            cost: snapshot_gb * snapshot_rate,
        },
    ];
    if revised {
        // Inter-node traffic, first published only with the revision: a tenth of the
        // data out, at a third of its rate.
        let internode_gb = Decimal::new(out_centi_gb / 10, 2);
        let internode_rate = ten_thousandths(100);
        lines.push(Line::Dts {
            name: format!("Data inter-node ({})", p.region),
            sku: "data-internode",
            usage_type: "data_internode",
            quantity: out_centi_gb / 10 * 10_000_000,
            quantity_formatted: format!("{internode_gb} GB"),
            rate: internode_rate,
            rate_formatted: format!("{internode_rate} per GB"),
            cost: internode_gb * internode_rate,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn any_split_of_a_range_adds_up_to_its_total() {
        let data = Dataset::standard();
        let (from, mid, to) = (
            at("2024-01-01T00:00:00Z"),
            at("2024-02-17T13:00:00Z"),
            at("2024-04-01T00:00:00Z"),
        );
        let whole = data.items_total("acme", "prod", from, to).unwrap();
        let parts = data.items_total("acme", "prod", from, mid).unwrap()
            + data.items_total("acme", "prod", mid, to).unwrap();
        assert_eq!(whole, parts);
        assert_eq!(data.lines("acme", "prod", from, to).unwrap().len(), 91);
    }

    #[test]
    fn the_same_day_always_has_the_same_costs() {
        let data = Dataset::standard();
        let day = (at("2024-03-01T00:00:00Z"), at("2024-03-02T00:00:00Z"));
        assert_eq!(
            data.items_total("globex", "search", day.0, day.1),
            data.items_total("globex", "search", day.0, day.1)
        );
        assert!(data.items_total("acme", "nope", day.0, day.1).is_none());
    }
}
