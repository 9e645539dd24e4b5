//! `belay gateway pins`: the pinned tool definitions and the changes waiting for approval,
//! for a person (a table, each pending change as a coloured diff) or a program (`--json`).

use anstyle::{AnsiColor, Style};
use belay_gateway::{pins::Pin, spec::GuardSpec};

/// Prints `pins`; `json`: one JSON document with each pending change's diff.
pub(crate) fn print(pins: &[Pin], json: bool) -> anyhow::Result<()> {
    if json {
        let items: Vec<serde_json::Value> = pins
            .iter()
            .map(|p| {
                let mut item = serde_json::to_value(p).unwrap_or_default();
                if let (Some(diff), serde_json::Value::Object(map)) = (diff(p), &mut item) {
                    map.insert("diff".into(), diff.into());
                }
                item
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if pins.is_empty() {
        println!("no pinned tools");
        return Ok(());
    }
    let bold = Style::new().bold();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    anstream::println!(
        "{bold}{:<16} {:<32} {:<14} STATE{bold:#}",
        "UPSTREAM",
        "TOOL",
        "PINNED"
    );
    for pin in pins {
        let state = match &pin.pending {
            Some(_) => format!("{yellow}changed, waiting for approval{yellow:#}"),
            None => format!("{green}approved{green:#}"),
        };
        anstream::println!(
            "{:<16} {:<32} {:<14} {state}",
            pin.upstream,
            pin.tool,
            &pin.fingerprint[..pin.fingerprint.len().min(12)]
        );
    }
    for pin in pins {
        let Some(diff) = diff(pin) else { continue };
        anstream::println!("\n{bold}{} {}{bold:#}", pin.upstream, pin.tool);
        for line in diff.lines() {
            let style = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => green,
                Some(b'-') if !line.starts_with("---") => red,
                _ => Style::new(),
            };
            anstream::println!("{style}{line}{style:#}");
        }
        anstream::println!(
            "approve with: belay gateway approve {} {}",
            pin.upstream,
            pin.tool
        );
    }
    Ok(())
}

/// The pending change of `pin` as a unified diff, if it has one.
fn diff(pin: &Pin) -> Option<String> {
    let pending = pin.pending.as_ref()?;
    let old: belay_guard::Tool = serde_json::from_str(&pin.definition).ok()?;
    let new: belay_guard::Tool = serde_json::from_str(&pending.definition).ok()?;
    Some(belay_guard::describe_change(&old, &new))
}

/// One line naming the checks `spec` turns on, for `belay gateway check`.
pub(crate) fn guards_line(spec: &GuardSpec) -> String {
    if spec.is_off() {
        return "off".into();
    }
    let mut on = Vec::new();
    let name = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    if name(&spec.metadata) != "off" {
        on.push(format!(
            "metadata {} at {}",
            name(&spec.metadata),
            spec.hide_at
        ));
    }
    if spec.pin {
        on.push("pinning".into());
    }
    for (check, action) in [
        ("arguments", name(&spec.arguments)),
        ("injection", name(&spec.injection)),
        ("secrets", name(&spec.secrets)),
        ("links", name(&spec.links)),
    ] {
        if action != "off" {
            on.push(format!("{check} {action}"));
        }
    }
    on.join(", ")
}
