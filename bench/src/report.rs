//! The figures a run measured, each against its target, printed as one table at the end.

use std::fmt::Write;

/// What a figure should be.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// At least this much (throughputs, speed-ups).
    AtLeast(f64),
    /// At most this much (latencies, costs, ratios against a baseline).
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(bound) => value >= bound,
            Target::AtMost(bound) => value <= bound,
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    /// What was measured, and on what.
    pub name: String,
    pub value: f64,
    /// The unit, as printed after the value (`events/s`, `ms`, `x`).
    pub unit: &'static str,
    pub target: Option<Target>,
}

/// The figures of a run, in the order they were measured.
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// Records a figure with a target.
    pub fn target(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: Target) {
        self.figures.push(Figure { name: name.into(), value, unit, target: Some(target) });
    }

    /// Records a figure without a target (context for the others).
    pub fn info(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.figures.push(Figure { name: name.into(), value, unit, target: None });
    }

    /// The table: figure, value, target, met or not.
    pub fn table(&self) -> String {
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(6).max(6);
        let mut out = String::new();
        let _ = writeln!(out, "{:<width$}  {:>16}  {:>16}  status", "figure", "value", "target");
        for figure in &self.figures {
            let value = format!("{} {}", number(figure.value), figure.unit);
            let (target, status) = match figure.target {
                Some(Target::AtLeast(bound)) => {
                    (format!(">= {} {}", number(bound), figure.unit), met(figure.target, figure.value))
                }
                Some(Target::AtMost(bound)) => {
                    (format!("<= {} {}", number(bound), figure.unit), met(figure.target, figure.value))
                }
                None => (String::new(), ""),
            };
            let _ = writeln!(out, "{:<width$}  {value:>16}  {target:>16}  {status}", figure.name);
        }
        out
    }

    /// Prints the table under a heading, if there is anything to print.
    pub fn print(&self, heading: &str) {
        if !self.figures.is_empty() {
            println!("\n{heading}\n{}", self.table());
        }
    }
}

fn met(target: Option<Target>, value: f64) -> &'static str {
    match target {
        Some(_) if value.is_nan() => "not measured",
        Some(t) if t.met(value) => "met",
        Some(_) => "NOT MET",
        None => "",
    }
}

/// A figure for the table: thousands separated above 1,000, three significant digits below.
fn number(value: f64) -> String {
    if value.is_nan() {
        return "-".into();
    }
    if value.abs() >= 1000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if value < 0.0 { format!("-{grouped}") } else { grouped }
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(number(2_345_678.4), "2,345,678");
        assert_eq!(number(1000.0), "1,000");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(f64::NAN), "-");
    }

    #[test]
    fn the_table_says_which_targets_are_met() {
        let mut report = Report::default();
        report.target("throughput", 2_500_000.0, "events/s", Target::AtLeast(2_000_000.0));
        report.target("p99", 4.0, "ms", Target::AtMost(3.0));
        report.info("rows", 10.0, "rows");
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("throughput") && lines[1].ends_with("  met"), "{table}");
        assert!(lines[2].ends_with("NOT MET"), "{table}");
        assert!(lines[3].trim_end().ends_with("10.0 rows"), "{table}");
    }
}
