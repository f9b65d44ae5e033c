//! `GET /__admin/coverage`: per vendor, which of its outcomes, scenarios and documented
//! error statuses have been answered, and which never were; also read back by
//! `vendor-mock coverage`, which prints it as a table.
//!
//! Totals count only the vendors that answered at least once: a suite that never calls a
//! vendor does not integrate it, and its untested paths are not that suite's gap.

use serde::{Deserialize, Serialize};

use crate::app::App;

/// The coverage of one instance (at the root: of the whole server, sandboxes included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub vendors: Vec<VendorReport>,
    /// Items answered, over the vendors that answered at all.
    pub covered: usize,
    pub total: usize,
    /// `covered / total` in percent, one decimal; 0 when nothing was answered.
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorReport {
    pub vendor: String,
    /// Whether the vendor answered anything.
    pub used: bool,
    pub outcomes: Split<String>,
    pub scenarios: Split<String>,
    /// The error statuses the vendor documents.
    pub error_statuses: Split<u16>,
    /// Statuses answered that are not documented errors (200, 202, …).
    pub other_statuses: Vec<u16>,
    pub covered: usize,
    pub total: usize,
    pub percent: f64,
}

/// Items answered, and items never answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split<T> {
    pub answered: Vec<T>,
    pub never: Vec<T>,
}

impl<T> Split<T> {
    fn len(&self) -> usize {
        self.answered.len() + self.never.len()
    }
}

fn percent(covered: usize, total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (covered as f64 * 1000.0 / total as f64).round() / 10.0
}

/// The coverage `app` has recorded.
pub fn report(app: &App) -> Report {
    let mut vendors = Vec::new();
    for (index, v) in app.registry().iter().enumerate() {
        let seen = app.coverage.answered(index);
        let split_names = |names: Vec<&str>, seen: &[usize]| {
            let mut s = Split {
                answered: Vec::new(),
                never: Vec::new(),
            };
            for (i, n) in names.into_iter().enumerate() {
                if seen.contains(&i) {
                    s.answered.push(n.to_string());
                } else {
                    s.never.push(n.to_string());
                }
            }
            s
        };
        let outcomes = split_names(v.outcomes().to_vec(), &seen.outcomes);
        let scenario_names: Vec<&str> = app
            .catalog
            .vendor(v.name())
            .map(|set| set.scenarios.iter().map(|s| &*s.name).collect())
            .unwrap_or_default();
        let mut scenarios = split_names(scenario_names, &seen.scenarios);
        scenarios.answered.sort();
        scenarios.never.sort();
        let documented = v.error_statuses();
        let error_statuses = Split {
            answered: documented
                .iter()
                .copied()
                .filter(|s| seen.statuses.contains(s))
                .collect(),
            never: documented
                .iter()
                .copied()
                .filter(|s| !seen.statuses.contains(s))
                .collect(),
        };
        let other_statuses = seen
            .statuses
            .iter()
            .copied()
            .filter(|s| !documented.contains(s))
            .collect();
        let covered =
            outcomes.answered.len() + scenarios.answered.len() + error_statuses.answered.len();
        let total = outcomes.len() + scenarios.len() + error_statuses.len();
        vendors.push(VendorReport {
            vendor: v.name().to_string(),
            used: !seen.statuses.is_empty(),
            outcomes,
            scenarios,
            error_statuses,
            other_statuses,
            covered,
            total,
            percent: percent(covered, total),
        });
    }
    let used = vendors.iter().filter(|v| v.used);
    let covered = used.clone().map(|v| v.covered).sum();
    let total = used.map(|v| v.total).sum();
    Report {
        vendors,
        covered,
        total,
        percent: percent(covered, total),
    }
}

/// The report as the table `vendor-mock coverage` prints: one row per vendor, then what
/// each used vendor never answered.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let ratio = |s: &Split<String>| format!("{}/{}", s.answered.len(), s.len());
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>10} {:>15} {:>16}",
        "vendor", "outcomes", "scenarios", "error statuses", "covered"
    );
    for v in &r.vendors {
        if !v.used {
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>10} {:>15} {:>16}",
                v.vendor, "-", "-", "-", "not used"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "{:<14} {:>9} {:>10} {:>15} {:>16}",
            v.vendor,
            ratio(&v.outcomes),
            ratio(&v.scenarios),
            format!(
                "{}/{}",
                v.error_statuses.answered.len(),
                v.error_statuses.len()
            ),
            format!("{}/{} ({:.1}%)", v.covered, v.total, v.percent),
        );
    }
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>10} {:>15} {:>16}",
        "total",
        "",
        "",
        "",
        format!("{}/{} ({:.1}%)", r.covered, r.total, r.percent)
    );
    let never: Vec<&VendorReport> = r
        .vendors
        .iter()
        .filter(|v| v.used && v.covered < v.total)
        .collect();
    if !never.is_empty() {
        let _ = writeln!(out, "\nnever answered:");
        for v in never {
            let statuses: Vec<String> = v.error_statuses.never.iter().map(u16::to_string).collect();
            for (what, list) in [
                ("outcomes", v.outcomes.never.join(", ")),
                ("scenarios", v.scenarios.never.join(", ")),
                ("error statuses", statuses.join(", ")),
            ] {
                if !list.is_empty() {
                    let _ = writeln!(out, "  {:<14} {what}: {list}", v.vendor);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_have_one_decimal_and_nothing_is_zero_percent() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(5, 5), 100.0);
    }
}
