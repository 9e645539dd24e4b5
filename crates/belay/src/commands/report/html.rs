//! The report as one self-contained HTML file: inline style, charts as inline SVG (no
//! script, nothing fetched), every value escaped (audit content is attacker-controlled).

use std::fmt::Write as _;

use belay_core::html::escape;

use super::model::{Count, Report};

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #8884}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #8884}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(8rem,1fr));gap:.5rem}\
.card{border:1px solid #8884;border-radius:.4rem;padding:.4rem .6rem}.card b{display:block;font-size:1.4rem}\
.risk{border:1px solid #8884;border-radius:.4rem;padding:.5rem 1rem;margin:.6rem 0}.seen{color:#b91c1c}\
svg text{font:11px system-ui,sans-serif}";

/// A horizontal bar chart of `rows`.
fn bars(title: &str, rows: &[Count]) -> String {
    if rows.is_empty() {
        return format!("<p>{}: none.</p>", escape(title));
    }
    let max = rows.iter().map(|c| c.count).max().unwrap_or(1).max(1) as f64;
    let (row_h, label_w, bar_w) = (20, 220, 420);
    let height = rows.len() * row_h + 10;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{t}\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\"><title>{t}</title>",
        t = escape(title),
        w = label_w + bar_w + 60,
    );
    for (i, c) in rows.iter().enumerate() {
        let y = i * row_h + 5;
        let len = (c.count as f64 / max * bar_w as f64).round().max(1.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\">{label}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{len}\" height=\"{h}\" fill=\"#2563eb\"/>\
<text x=\"{tx}\" y=\"{ty}\">{count}</text>",
            ty = y + 13,
            label = escape(&shorten(&c.label)),
            h = row_h - 6,
            tx = label_w as f64 + len + 6.0,
            count = c.count,
        );
    }
    svg.push_str("</svg>");
    format!(
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(title)
    )
}

fn shorten(label: &str) -> String {
    if label.chars().count() > 34 {
        format!("{}…", label.chars().take(33).collect::<String>())
    } else {
        label.to_owned()
    }
}

fn table(head: [&str; 2], rows: &[Count]) -> String {
    let mut out = format!("<table><tr><th>{}</th><th>{}</th></tr>", head[0], head[1]);
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"2\">none</td></tr>");
    }
    for c in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&c.label),
            c.count
        );
    }
    out.push_str("</table>");
    out
}

/// The whole page.
pub(crate) fn render(r: &Report) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Belay security report</title>\
<style>{STYLE}</style></head><body><h1>Belay security report</h1><p>{} to {}. {}</p><div class=\"cards\">",
        escape(&r.since),
        escape(&r.until),
        escape(&r.chain)
    );
    for (label, value) in [
        ("Requests", r.requests),
        ("Users", r.users),
        ("Allowed", r.allowed),
        ("Denied", r.denied),
        ("Rate-limited", r.rate_limited),
        ("Unauthenticated", r.unauthenticated),
        ("Errors", r.errors),
        ("Detections", r.detections),
    ] {
        let _ = write!(out, "<div class=\"card\">{label}<b>{value}</b></div>");
    }
    out.push_str("</div><h2>Traffic</h2>");
    out.push_str(&bars("Requests per day", &r.per_day));
    out.push_str("<h2>Top users and tools</h2>");
    out.push_str(&bars("Top users", &r.top_users));
    out.push_str(&bars("Top tools", &r.top_tools));
    out.push_str("<h2>Denials and detections</h2>");
    out.push_str(&table(["Rule", "Denials"], &r.denials_by_rule));
    out.push_str(&bars(
        "Guard detections by kind (action)",
        &r.detections_by_kind,
    ));
    out.push_str("<h2>Changes and approvals</h2>");
    out.push_str(&table(["Approved tool", "Times"], &r.approvals));
    let pending: Vec<Count> = r
        .pending_changes
        .iter()
        .map(|p| Count {
            label: p.clone(),
            count: 1,
        })
        .collect();
    out.push_str(&table(["Changed tool waiting for approval", ""], &pending));
    out.push_str("<h2>Alerts</h2>");
    out.push_str(&table(["Rule", "Incidents"], &r.alerts));
    out.push_str("<h2>OWASP MCP Top 10</h2>");
    for risk in &r.owasp {
        let _ = write!(
            out,
            "<section class=\"risk\" id=\"{id}\"><h3>{id} {title}</h3><p class=\"{class}\">Seen: {saw}</p><p>Control: {control}</p></section>",
            id = risk.id,
            title = escape(risk.title),
            class = if risk.seen > 0 { "seen" } else { "quiet" },
            saw = escape(&risk.saw),
            control = escape(risk.control),
        );
    }
    out.push_str("</body></html>\n");
    out
}
