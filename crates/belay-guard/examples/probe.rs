//! Scratch probe (not committed).
fn main() -> anyhow::Result<()> {
    let g = belay_guard::MetadataGuard::new()?;
    let inj = belay_guard::InjectionGuard::new()?;
    let mut counts = std::collections::BTreeMap::new();
    for (file, expect, is_tool) in [
        ("/tmp/probe/poison2.txt", true, true),
        ("/tmp/probe/benign2.txt", false, true),
        ("/tmp/probe/inj2.txt", true, false),
        ("/tmp/probe/benres2.txt", false, false),
    ] {
        for line in std::fs::read_to_string(file)?.lines() {
            let (hit, rules): (bool, Vec<(&str, f32)>) = if is_tool {
                let t = belay_guard::Tool {
                    name: "x_tool".into(),
                    description: Some(line.into()),
                    ..Default::default()
                };
                let f = g.scan_tool(&t);
                (
                    f.iter().any(|f| f.severity >= belay_guard::Severity::High),
                    f.iter().map(|f| (f.rule, f.score)).collect(),
                )
            } else {
                let r = inj.scan(line);
                (
                    r.score >= 0.5,
                    r.findings.iter().map(|f| (f.rule, f.score)).collect(),
                )
            };
            let e = counts.entry(file).or_insert((0, 0));
            e.1 += 1;
            if hit == expect {
                e.0 += 1
            } else {
                println!(
                    "{} {line}\n    {rules:?}",
                    if expect { "MISS" } else { "FP  " }
                );
            }
        }
    }
    println!("{counts:?}");
    Ok(())
}
