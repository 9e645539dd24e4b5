//! Garbage, random and huge input never panics any guard.

use belay_guard::{ArgumentGuard, InjectionGuard, LinkGuard, MetadataGuard, SecretScanner, Tool};
use rand::{Rng, SeedableRng};

/// Characters that stress the text handling: hidden ones, confusables, combining marks,
/// CJK, surrogates' neighbours, and the bytes the patterns key on.
const SPICE: &[char] = &[
    '\u{E0041}',
    '\u{E007F}',
    '\u{202E}',
    '\u{200B}',
    '\u{FEFF}',
    'а',
    'ο',
    '\u{0301}',
    '中',
    '😀',
    '\u{10FFFF}',
    '%',
    '=',
    '/',
    '.',
    ' ',
    '\n',
    '<',
    '|',
    '`',
    '$',
    '(',
];

fn random_text(rng: &mut rand::rngs::StdRng, len: usize) -> String {
    (0..len)
        .map(|_| match rng.gen_range(0..4) {
            0 => SPICE[rng.gen_range(0..SPICE.len())],
            1 => char::from_u32(rng.gen_range(0..0x11_0000)).unwrap_or('?'),
            _ => char::from(rng.gen_range(0x20u8..0x7f)),
        })
        .collect()
}

#[test]
fn random_and_huge_input_never_panics() -> anyhow::Result<()> {
    let meta = MetadataGuard::new()?;
    let inj = InjectionGuard::new()?;
    let secrets = SecretScanner::new()?;
    let links = LinkGuard::new(&["example.com"])?;
    let args = ArgumentGuard::new(&serde_json::json!({"type": "object"}))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let mut inputs: Vec<String> = (0..300).map(|i| random_text(&mut rng, i * 7)).collect();
    for _ in 0..100 {
        let bytes: Vec<u8> = (0..rng.gen_range(0..600)).map(|_| rng.r#gen()).collect();
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    inputs.push("a".repeat(1 << 20));
    inputs.push("\u{E0041}".repeat(50_000));
    inputs.push("%41".repeat(100_000));
    inputs.push("QUJD".repeat(100_000));
    inputs.push("ignore ".repeat(100_000));
    for text in &inputs {
        let tool = Tool {
            name: text.chars().take(40).collect(),
            description: Some(text.clone()),
            input_schema: serde_json::json!({"properties": {"p": {"description": text}}}),
            annotations: Some(serde_json::json!({"title": text})),
            ..Default::default()
        };
        for f in meta.scan_tool(&tool) {
            assert!(
                f.span.start <= f.span.end && (0.0..=1.0).contains(&f.score),
                "{f:?}"
            );
        }
        let report = inj.scan(text);
        assert!((0.0..=1.0).contains(&report.score));
        let _ = inj.redact(text, &report);
        let _ = inj.annotate(text);
        let _ = secrets.redact(text);
        let _ = links.scan(text);
        let _ = args.check(&serde_json::json!({"path": text, "command": text}));
    }
    Ok(())
}

#[test]
fn every_guard_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<MetadataGuard>();
    shared::<InjectionGuard>();
    shared::<SecretScanner>();
    shared::<LinkGuard>();
    shared::<ArgumentGuard>();
}
