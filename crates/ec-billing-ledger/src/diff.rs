//! What changed between two fetches of one window: old lines against new, pure.
//!
//! Lines are matched under their key without its ordinal (what they are a cost of), and
//! among the lines of one key by their values before their place: the same lines in
//! another order, or fetched through another transport (CSV carries no formatted
//! texts), are unchanged.

use std::collections::{BTreeMap, HashMap, VecDeque};

use ec_billing::Decimal;

use crate::{
    query::Change,
    record::{Amounts, AnswerLine, LineKey, LineType, canonical, renumber},
};

/// Old lines against new.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    /// The lines to keep: the new ones, numbered, each with the formatted texts its
    /// fetch lacked kept from the same line fetched before.
    pub(crate) lines: Vec<AnswerLine>,
    /// Each line added, changed or removed, with its costs before and after.
    pub(crate) changes: Vec<LineChange>,
    /// New lines no old line matches.
    pub(crate) added: u64,
    /// New lines paired with an old line of the same key whose values differ.
    pub(crate) changed: u64,
    /// Old lines no new line matches.
    pub(crate) removed: u64,
    /// New lines equal to an old line of the same key.
    pub(crate) unchanged: u64,
}

/// One line added, changed or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineChange {
    pub(crate) change: Change,
    /// The new line's key (the old one's, for a removed line).
    pub(crate) key: LineKey,
    pub(crate) old_cost: Option<Decimal>,
    pub(crate) new_cost: Option<Decimal>,
}

impl LineChange {
    /// The new cost less the old; `None` when it overflows.
    pub(crate) fn delta(&self) -> Option<Decimal> {
        self.new_cost
            .unwrap_or_default()
            .checked_sub(self.old_cost.unwrap_or_default())
    }
}

type Group<'a> = (
    LineType,
    &'a str,
    &'a str,
    &'a str,
    jiff::Timestamp,
    jiff::Timestamp,
);

/// What a new line is, against the old ones: equal to one (its index), or a change.
#[derive(Clone, Copy, Debug)]
enum Match {
    Equal(usize),
    Changed(Decimal),
    Added,
}

/// Matches `new` against `old` (see the module docs).
pub(crate) fn diff(old: &[AnswerLine], new: Vec<AnswerLine>) -> Diff {
    let mut matches: Vec<Option<Match>> = vec![None; new.len()];
    let mut removed: Vec<usize> = Vec::new();
    {
        // The old lines of each key, by their amounts, in their order: a line equal to
        // a new one is taken first.
        let mut by_amounts: HashMap<(Group<'_>, Amounts), VecDeque<usize>> = HashMap::new();
        for (index, line) in old.iter().enumerate() {
            by_amounts
                .entry((line.group(), line.amounts()))
                .or_default()
                .push_back(index);
        }
        let mut taken = vec![false; old.len()];
        for (index, line) in new.iter().enumerate() {
            let candidates = by_amounts.get_mut(&(line.group(), line.amounts()));
            let found = candidates.and_then(|candidates| {
                // The same texts first, then a line whose texts one transport lacks.
                let at = candidates
                    .iter()
                    .position(|&o| {
                        old[o].quantity_formatted == line.quantity_formatted
                            && old[o].rate_formatted == line.rate_formatted
                    })
                    .or_else(|| candidates.iter().position(|&o| old[o].same_values(line)))?;
                candidates.remove(at)
            });
            if let Some(o) = found {
                taken[o] = true;
                matches[index] = Some(Match::Equal(o));
            }
        }
        // What is left of each key is paired in order: a changed line; the rest of the
        // new ones were added, the rest of the old ones removed.
        let mut left: BTreeMap<Group<'_>, VecDeque<usize>> = BTreeMap::new();
        for (index, line) in old.iter().enumerate() {
            if !taken[index] {
                left.entry(line.group()).or_default().push_back(index);
            }
        }
        for (index, line) in new.iter().enumerate() {
            if matches[index].is_some() {
                continue;
            }
            let before = left.get_mut(&line.group()).and_then(VecDeque::pop_front);
            matches[index] = Some(match before {
                Some(o) => Match::Changed(old[o].cost),
                None => Match::Added,
            });
        }
        removed.extend(left.into_values().flatten());
    }
    let mut diff = Diff::default();
    let mut tagged: Vec<(AnswerLine, Option<Match>)> = new.into_iter().zip(matches).collect();
    for (line, tag) in &mut tagged {
        match tag {
            Some(Match::Equal(o)) => {
                line.keep_texts_of(&old[*o]);
                diff.unchanged += 1;
            }
            Some(Match::Changed(_)) => diff.changed += 1,
            Some(Match::Added) | None => diff.added += 1,
        }
    }
    // Texts kept from earlier fetches may move a line among those of equal amounts:
    // number them again.
    tagged.sort_by(|a, b| canonical(&a.0, &b.0));
    renumber(&mut tagged, |t| &mut t.0);
    for (line, tag) in &tagged {
        let old_cost = match tag {
            Some(Match::Equal(_)) => continue,
            Some(Match::Changed(cost)) => Some(*cost),
            Some(Match::Added) | None => None,
        };
        diff.changes.push(LineChange {
            change: if old_cost.is_some() {
                Change::Changed
            } else {
                Change::Added
            },
            key: line.key.clone(),
            old_cost,
            new_cost: Some(line.cost),
        });
    }
    let mut removed: Vec<&AnswerLine> = removed.into_iter().map(|o| &old[o]).collect();
    removed.sort_by(|a, b| a.key.cmp(&b.key));
    for line in removed {
        diff.removed += 1;
        diff.changes.push(LineChange {
            change: Change::Removed,
            key: line.key.clone(),
            old_cost: Some(line.cost),
            new_cost: None,
        });
    }
    diff.lines = tagged.into_iter().map(|(line, _)| line).collect();
    diff
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use proptest::prelude::*;

    use super::*;
    use crate::record::number;

    fn line(kind: &str, cost: i64, quantity: i64, formatted: Option<&str>) -> AnswerLine {
        AnswerLine {
            key: LineKey {
                line_type: LineType::Dts,
                kind: kind.to_string(),
                sku: "s".to_string(),
                name: "n".to_string(),
                period_start: Timestamp::UNIX_EPOCH,
                period_end: Timestamp::UNIX_EPOCH,
                ordinal: 0,
            },
            hours: None,
            instance_count: None,
            price_per_hour: None,
            quantity: Some(Decimal::from(quantity)),
            quantity_formatted: formatted.map(str::to_string),
            rate: Some(Decimal::ONE),
            rate_formatted: formatted.map(|_| "1 per GB".to_string()),
            cost: Decimal::new(cost, 2),
        }
    }

    fn numbered(mut lines: Vec<AnswerLine>) -> Vec<AnswerLine> {
        number(&mut lines);
        lines
    }

    #[test]
    fn the_same_lines_in_another_order_are_unchanged() {
        let old = numbered(vec![line("a", 25, 1, None), line("a", 75, 3, None)]);
        let new = numbered(vec![line("a", 75, 3, None), line("a", 25, 1, None)]);
        let diff = diff(&old, new);
        assert_eq!(diff.unchanged, 2);
        assert!(diff.changes.is_empty(), "{:?}", diff.changes);
    }

    #[test]
    fn a_text_one_transport_lacks_is_no_change_and_is_kept() {
        let old = numbered(vec![line("a", 25, 1, Some("1 GB"))]);
        let new = numbered(vec![line("a", 25, 1, None)]);
        let diff = diff(&old, new);
        assert!(diff.changes.is_empty());
        assert_eq!(diff.lines[0].quantity_formatted.as_deref(), Some("1 GB"));
    }

    #[test]
    fn a_line_of_two_of_one_key_that_changed_is_one_change() {
        let old = numbered(vec![line("a", 25, 1, None), line("a", 75, 3, None)]);
        let new = numbered(vec![line("a", 80, 3, None), line("a", 25, 1, None)]);
        let diff = diff(&old, new);
        assert_eq!((diff.unchanged, diff.changed), (1, 1));
        assert_eq!(diff.changes[0].old_cost, Some(Decimal::new(75, 2)));
        assert_eq!(diff.changes[0].new_cost, Some(Decimal::new(80, 2)));
    }

    fn lines() -> impl Strategy<Value = Vec<AnswerLine>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["a", "b"]),
                -3i64..6,
                0i64..3,
                prop::option::of(Just("1 GB")),
            ),
            0..8,
        )
        .prop_map(|specs| {
            numbered(
                specs
                    .into_iter()
                    .map(|(kind, cost, quantity, formatted)| line(kind, cost, quantity, formatted))
                    .collect(),
            )
        })
    }

    fn total(lines: &[AnswerLine]) -> Decimal {
        lines.iter().map(|l| l.cost).sum()
    }

    proptest! {
        #[test]
        fn the_four_sets_cover_both_answers_and_the_changes_sum_to_the_difference(
            old in lines(),
            new in lines(),
        ) {
            let new_total = total(&new);
            let new_count = new.len() as u64;
            let diff = diff(&old, new);
            prop_assert_eq!(diff.unchanged + diff.changed + diff.added, new_count);
            prop_assert_eq!(diff.unchanged + diff.changed + diff.removed, old.len() as u64);
            prop_assert_eq!(diff.changes.len() as u64, diff.changed + diff.added + diff.removed);
            let moved: Decimal = diff.changes.iter().map(|c| c.delta().unwrap()).sum();
            prop_assert_eq!(moved, new_total - total(&old));
            prop_assert_eq!(total(&diff.lines), new_total);
        }

        #[test]
        fn an_answer_against_itself_in_any_order_changes_nothing(
            old in lines(),
            seed in any::<u64>(),
        ) {
            let mut shuffled = old.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            let diff = diff(&old, numbered(shuffled));
            prop_assert!(diff.changes.is_empty());
            prop_assert_eq!(diff.lines, old);
        }
    }
}
