//! Tool-metadata poisoning: instructions hidden in a tool's name, description, schema or
//! annotations that are aimed at the model rather than at the person reading them.
//!
//! Every string of the tool is read (after [`View`] undoes hidden characters, and again after
//! decoding base64, hex and URL-escaped runs). Each matching rule is a finding; matches of
//! different signal groups also combine (noisy-OR) into `poisoning.combined` when together
//! they are more severe than any one of them, so "read `~/.ssh`" plus "pass it as `notes`"
//! plus "before using this tool" is high even though each alone is not.

use serde::Deserialize;
use serde_json::Value;

use crate::decode::Decoder;
use crate::finding::{Finding, Kind, Severity, Span, excerpt};
use crate::metadata_rules::RULES;
use crate::rules::{Hit, RuleSet, combine};
use crate::unicode::{self, View};

/// A tool as a server lists it, as plain data (not tied to an MCP library).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// Display title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The description the model reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments.
    #[serde(default)]
    pub input_schema: Value,
    /// Annotations (hints such as `readOnlyHint`, and a title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// A description longer than this is reported (`poisoning.oversize`).
pub const OVERSIZE_BYTES: usize = 4096;

/// The compiled metadata rules; build once, share.
#[derive(Debug)]
pub struct MetadataGuard {
    rules: RuleSet,
    decoder: Decoder,
}

impl MetadataGuard {
    /// Compiles the rules (fails only on a bug in the built-in tables).
    pub fn new() -> Result<Self, crate::Error> {
        Ok(Self {
            rules: RuleSet::new(RULES)?,
            decoder: Decoder::new()?,
        })
    }

    /// The ids of the text rules (each has positive and negative tests).
    pub fn rule_ids() -> impl Iterator<Item = &'static str> {
        RULES.iter().map(|r| r.id)
    }

    /// Every finding in the tool's name, title, description, schema and annotations.
    pub fn scan_tool(&self, tool: &Tool) -> Vec<Finding> {
        let mut findings = name_findings(&tool.name);
        let mut hits = Vec::new();
        let mut fields: Vec<(String, &str)> = Vec::new();
        if let Some(t) = &tool.title {
            fields.push(("title".into(), t));
        }
        if let Some(d) = &tool.description {
            fields.push(("description".into(), d));
        }
        strings_in(&tool.input_schema, "/inputSchema", &mut fields, 0);
        if let Some(a) = &tool.annotations {
            strings_in(a, "/annotations", &mut fields, 0);
        }
        // One pass over all fields joined (a blank line between them) rather than one per
        // field: most fields are a few words, and a pass costs a fixed setup per regex.
        let mut joined = String::new();
        let mut starts = Vec::with_capacity(fields.len());
        for (_, text) in &fields {
            starts.push(joined.len());
            joined.push_str(text);
            joined.push_str("\n\n");
        }
        let mut found = Vec::new();
        self.scan_field("", &joined, &mut found, &mut hits);
        let locate = |at: usize| starts.partition_point(|s| *s <= at).saturating_sub(1);
        for f in found {
            let i = locate(f.span.start);
            let (field, text) = &fields[i];
            let (s, e) = (
                f.span.start - starts[i],
                f.span.end.saturating_sub(starts[i]).min(text.len()),
            );
            findings.push(Finding {
                span: Span::of(text, s, e),
                field: field.clone(),
                ..f
            });
        }
        for (field, hit, span) in &mut hits {
            let i = locate(span.start);
            let (name, text) = &fields[i];
            let (s, e) = (
                span.start - starts[i],
                span.end.saturating_sub(starts[i]).min(text.len()),
            );
            *span = Span::of(text, s, e);
            (hit.start, hit.end) = (s, e);
            name.clone_into(field);
        }
        if let Some(d) = &tool.description {
            findings.extend(
                size_findings(d)
                    .into_iter()
                    .map(|f| f.in_field("description")),
            );
        }
        add_combined(&mut findings, &hits);
        findings
    }

    /// Findings in one piece of metadata text (a prompt's or resource's description).
    pub fn scan_text(&self, field: &str, text: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut hits = Vec::new();
        self.scan_field(field, text, &mut findings, &mut hits);
        add_combined(&mut findings, &hits);
        findings
    }

    fn scan_field(
        &self,
        field: &str,
        text: &str,
        findings: &mut Vec<Finding>,
        all_hits: &mut Vec<(String, Hit, Span)>,
    ) {
        let view = View::new(text);
        for hit in self.rules.hits(&view.text) {
            let (s, e) = view.original_range(hit.start, hit.end);
            let span = Span::of(text, s, e);
            findings.push(
                Finding::new(
                    hit.rule.id,
                    hit.rule.kind,
                    hit.rule.weight,
                    span.clone(),
                    hit.rule.explain,
                )
                .in_field(field),
            );
            all_hits.push((field.to_owned(), hit, span));
        }
        findings.extend(unicode::scan(text).into_iter().map(|f| f.in_field(field)));
        for decoded in self.decoder.decode_all(text) {
            findings.push(self.decoded_finding(text, &decoded, 0).in_field(field));
        }
        if field == "description" {
            findings.extend(size_findings(text).into_iter().map(|f| f.in_field(field)));
        }
    }

    /// A finding for a decoded run: high when what it says is flagged, low otherwise.
    fn decoded_finding(
        &self,
        text: &str,
        decoded: &crate::decode::Decoded,
        depth: usize,
    ) -> Finding {
        let mut hits = self.rules.hits(&decoded.text);
        let mut inner = decoded.text.clone();
        if depth == 0 {
            // One more layer: base64 of URL escapes and the like.
            for d in self.decoder.decode_all(&decoded.text) {
                hits.extend(self.rules.hits(&d.text));
                inner = d.text;
            }
        }
        let score = combine(&hits);
        let span = Span::of(text, decoded.start, decoded.end);
        if score >= 0.45 {
            let rules: Vec<&str> = hits.iter().map(|h| h.rule.id).collect();
            Finding::new(
                "poisoning.encoded_payload",
                Kind::EncodedPayload,
                score.max(0.85),
                span,
                format!(
                    "{} text decodes to {:?}, which {}",
                    decoded.encoding,
                    excerpt(&inner),
                    rules.join(", ")
                ),
            )
        } else {
            Finding::new(
                "poisoning.encoded_text",
                Kind::EncodedPayload,
                0.3,
                span,
                format!(
                    "{} text decodes to readable text {:?}",
                    decoded.encoding,
                    excerpt(&inner)
                ),
            )
        }
    }
}

/// A tool name that mixes scripts or hides characters passes for another tool.
fn name_findings(name: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if name.chars().any(unicode::is_hidden) || unicode::mixes_scripts(name) {
        out.push(
            Finding::new(
                "poisoning.lookalike_name",
                Kind::Homoglyph,
                0.9,
                Span::of(name, 0, name.len()),
                format!(
                    "the name mixes scripts or hides characters: it reads as {:?}",
                    unicode::skeleton(name)
                ),
            )
            .in_field("name"),
        );
    }
    out
}

/// Oversize descriptions and long blank runs that push text out of view.
fn size_findings(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if text.len() > OVERSIZE_BYTES {
        out.push(Finding::new(
            "poisoning.oversize",
            Kind::Oversize,
            if text.len() > 4 * OVERSIZE_BYTES {
                0.6
            } else {
                0.4
            },
            Span::of(text, OVERSIZE_BYTES, text.len()),
            format!(
                "the description is {} bytes, more than any tool needs ({OVERSIZE_BYTES})",
                text.len()
            ),
        ));
    }
    let mut run_start = None;
    let mut newlines = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            run_start.get_or_insert(i);
            newlines += usize::from(c == '\n');
            if newlines >= 12 {
                let s = run_start.unwrap_or(i);
                out.push(Finding::new(
                    "poisoning.padding",
                    Kind::Oversize,
                    0.5,
                    Span::of(text, s, i + 1),
                    "a long run of blank lines pushes the rest of the description out of view",
                ));
                break;
            }
        } else {
            run_start = None;
            newlines = 0;
        }
    }
    out
}

/// The combined finding when signals of different groups together outrank each alone.
fn add_combined(findings: &mut Vec<Finding>, hits: &[(String, Hit, Span)]) {
    if hits.len() < 2 {
        return;
    }
    let only: Vec<Hit> = hits.iter().map(|(_, h, _)| *h).collect();
    let score = combine(&only);
    let best = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info);
    if Severity::from_score(score) <= best {
        return;
    }
    let Some((field, strongest, span)) = hits
        .iter()
        .max_by(|a, b| a.1.rule.weight.total_cmp(&b.1.rule.weight))
    else {
        return;
    };
    let mut kinds: Vec<&str> = hits.iter().map(|(_, h, _)| h.rule.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    findings.push(
        Finding::new(
            "poisoning.combined",
            strongest.rule.kind,
            score,
            span.clone(),
            format!("several signals together: {}", kinds.join(", ")),
        )
        .in_field(field),
    );
}

/// Every string in a schema or annotations value that a model may read, with its pointer.
fn strings_in<'a>(value: &'a Value, at: &str, out: &mut Vec<(String, &'a str)>, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::String(s) => out.push((at.to_owned(), s)),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                strings_in(v, &format!("{at}/{i}"), out, depth + 1);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                // Structural keywords carry no prose.
                if matches!(
                    k.as_str(),
                    "type" | "format" | "$schema" | "$id" | "$ref" | "pattern" | "required"
                ) {
                    continue;
                }
                let key = k.replace('~', "~0").replace('/', "~1");
                strings_in(v, &format!("{at}/{key}"), out, depth + 1);
            }
        }
        _ => {}
    }
}
