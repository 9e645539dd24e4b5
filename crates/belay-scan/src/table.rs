//! The report for a person: one row per finding (severity in colour, server, object, rule,
//! field and the matched text), its explanation under it, a diff for a changed pin, then a
//! summary line. Colours are ANSI escapes; the caller's stream drops them where the output
//! is no terminal. Everything a server wrote is shown through [`clean`], so a hostile name
//! or description cannot drive the terminal.

use std::fmt::Write;

use anstyle::{AnsiColor, Color, Style};
use belay_client::terminal::clean;
use belay_guard::Severity;

use crate::report::{Outcome, Report};

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

fn colour(severity: Severity) -> Style {
    let c = |c: AnsiColor| Style::new().fg_color(Some(Color::Ansi(c)));
    match severity {
        Severity::Critical => c(AnsiColor::Magenta).bold(),
        Severity::High => c(AnsiColor::Red).bold(),
        Severity::Medium => c(AnsiColor::Yellow).bold(),
        Severity::Low => c(AnsiColor::Blue),
        Severity::Info => DIM,
    }
}

/// The widest a name column gets; longer names are cut with `…`.
const NAME_CHARS: usize = 28;
/// The most characters of a matched span shown.
const EXCERPT_CHARS: usize = 72;

/// `text` cleaned, on one line, at most `limit` characters.
fn cell(text: &str, limit: usize) -> String {
    let text = clean(text).replace(['\n', '\t'], " ");
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

/// The report as text for a terminal.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 5]> = report
        .findings
        .iter()
        .map(|f| {
            [
                f.severity.as_str().to_uppercase(),
                cell(&f.server, NAME_CHARS),
                cell(&f.name, NAME_CHARS),
                cell(&f.rule, NAME_CHARS + 8),
                cell(f.field.trim_start_matches('/'), NAME_CHARS + 12),
            ]
        })
        .collect();
    let headers = ["SEVERITY", "SERVER", "NAME", "RULE", "FIELD"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    if !rows.is_empty() {
        let line: Vec<String> = headers.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
        let _ = writeln!(out, "{BOLD}{}{BOLD:#}", line.join("  ").trim_end());
    }
    let indent = " ".repeat(widths[0] + 2);
    for (f, row) in report.findings.iter().zip(&rows) {
        let style = colour(f.severity);
        let _ = write!(out, "{style}{}{style:#}  ", pad(&row[0], widths[0]));
        let rest: Vec<String> = row[1..]
            .iter()
            .zip(&widths[1..])
            .map(|(c, w)| pad(c, *w))
            .collect();
        let _ = writeln!(out, "{}", rest.join("  ").trim_end());
        let _ = writeln!(out, "{indent}{}", cell(&f.explanation, 200));
        if let Some(span) = f.span.as_ref().filter(|s| !s.excerpt.is_empty()) {
            let _ = writeln!(
                out,
                "{indent}{DIM}matched:{DIM:#} \"{}\"",
                cell(&span.excerpt, EXCERPT_CHARS)
            );
        }
        if let Some(diff) = &f.diff {
            for line in diff.lines() {
                let line = clean(line);
                let style = match line.chars().next() {
                    Some('+') => Style::new().fg_color(Some(Color::Ansi(AnsiColor::Green))),
                    Some('-') => Style::new().fg_color(Some(Color::Ansi(AnsiColor::Red))),
                    _ => DIM,
                };
                let _ = writeln!(out, "{indent}{style}{line}{style:#}");
            }
        }
    }
    for failure in &report.failures {
        let style = colour(Severity::High);
        let _ = writeln!(
            out,
            "{style}error:{style:#} {}: {}",
            cell(&failure.server, NAME_CHARS),
            clean(&failure.reason)
        );
    }
    if !report.findings.is_empty() || !report.failures.is_empty() {
        out.push('\n');
    }
    let totals = report.servers.iter().fold([0; 4], |mut t, s| {
        t[0] += s.tools;
        t[1] += s.prompts;
        t[2] += s.resources;
        t[3] += s.resource_templates;
        t
    });
    let _ = writeln!(
        out,
        "{DIM}scanned {} of {} servers: {} tools, {} prompts, {} resources, {} resource templates{DIM:#}",
        report.servers.len(),
        report.servers.len() + report.failures.len(),
        totals[0],
        totals[1],
        totals[2],
        totals[3],
    );
    if let Some((file, pinned)) = &report.pins {
        let _ = writeln!(out, "{DIM}pins: {pinned} tools in {}{DIM:#}", clean(file));
    }
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| {
            let style = colour(*s);
            format!("{style}{n} {s}{style:#}")
        })
        .collect();
    let found = if counts.is_empty() {
        "no findings".to_owned()
    } else {
        format!("{} findings ({})", report.findings.len(), counts.join(", "))
    };
    let failing = report.failing().count();
    let verdict = match report.outcome() {
        Outcome::Clean => format!(
            "{}passed{:#}: nothing at or above {}",
            colour_ok(),
            colour_ok(),
            report.fail_on
        ),
        Outcome::Findings => format!(
            "{}failed{:#}: {failing} at or above {}",
            colour(Severity::High),
            colour(Severity::High),
            report.fail_on
        ),
        Outcome::Failed => format!(
            "{}scan failed{:#}: {} of the servers could not be scanned",
            colour(Severity::High),
            colour(Severity::High),
            report.failures.len()
        ),
    };
    let _ = writeln!(out, "{found}; {verdict}");
    out
}

fn colour_ok() -> Style {
    Style::new()
        .fg_color(Some(Color::Ansi(AnsiColor::Green)))
        .bold()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        Failure,
        tests::{finding, report},
    };

    fn plain(text: &str) -> String {
        // Drop ANSI escapes to read the words.
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn rows_name_the_server_tool_rule_and_match() {
        let mut hostile = finding(Severity::High, "poisoning.conceal_from_user");
        hostile.name = "evil\u{1b}[2J".into();
        let text = table(&report(vec![hostile], vec![]));
        assert!(
            !text.contains("\u{1b}[2J"),
            "a server's escape reaches the terminal"
        );
        let text = plain(&text);
        assert!(text.contains("HIGH"), "{text}");
        assert!(text.contains("calc") && text.contains("poisoning.conceal_from_user"));
        assert!(text.contains("matched: \"do not tell the user\""), "{text}");
        assert!(
            text.contains("1 findings (1 high); failed: 1 at or above high"),
            "{text}"
        );
    }

    #[test]
    fn a_clean_and_a_failed_scan_say_so() {
        let text = plain(&table(&report(vec![], vec![])));
        assert!(text.contains("no findings; passed"), "{text}");
        let failed = report(
            vec![],
            vec![Failure {
                server: "gone".into(),
                reason: "cannot start `gone`".into(),
            }],
        );
        let text = plain(&table(&failed));
        assert!(text.contains("error: gone: cannot start"), "{text}");
        assert!(text.contains("scan failed"), "{text}");
        assert!(text.contains("scanned 1 of 2 servers"), "{text}");
    }
}
