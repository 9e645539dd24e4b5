//! What one record may hold (`max_field_bytes`, `max_record_bytes`).
//!
//! A text longer than the field limit keeps its first bytes and ends with
//! `…[cut: N bytes, sha256:HEX]`: N and HEX are the size and SHA-256 of the whole text (after
//! redaction, so the hash reveals nothing redaction removed; for a payload without secrets it
//! is the payload's own hash). Arguments that would still make the record longer than the
//! record limit are replaced by the start of their JSON text with the same marker. Each cut
//! is listed, as a JSON pointer, in the record's `cut`, which a caller cannot write: a marker
//! outside that list is text the caller sent. Without these limits ten calls carrying 3.9 MB
//! of arguments grew the data folder by 77 MB (file, SQLite row and its WAL).

use serde_json::Value;

use crate::{AuditEvent, AuditSpec, Error, Outcome, chain::sha256_hex};

/// What sealing adds to a record besides the event: `seq`, `dropped`, `prev`, `key`, `mac`.
const SEAL_BYTES: usize = 256;
/// The longest marker: `…[cut: ` + 20 digits + ` bytes, sha256:` + 64 hex + `]`.
const MARKER_BYTES: usize = 112;

/// The limits of one log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    field: usize,
    record: usize,
}

impl Limits {
    pub(crate) fn new(spec: &AuditSpec) -> Result<Self, Error> {
        if spec.max_field_bytes == 0 || spec.max_record_bytes == 0 {
            return Err(Error::Config(
                "audit max_field_bytes and max_record_bytes must be at least 1".into(),
            ));
        }
        Ok(Self {
            field: spec.max_field_bytes,
            record: spec.max_record_bytes,
        })
    }

    /// Cuts `event`'s text to the limits and returns the JSON pointers of what was cut.
    pub(crate) fn apply(&self, event: &mut AuditEvent) -> Vec<String> {
        let mut cut = Vec::new();
        let mut text = |pointer: &str, s: &mut String| {
            if cut_text(s, self.field) {
                cut.push(pointer.to_owned());
            }
        };
        text("/method", &mut event.method);
        for (pointer, field) in [
            ("/user", &mut event.user),
            ("/client", &mut event.client),
            ("/session", &mut event.session),
            ("/upstream", &mut event.upstream),
            ("/name", &mut event.name),
            ("/rule", &mut event.rule),
            ("/trace_id", &mut event.trace_id),
        ] {
            if let Some(s) = field {
                text(pointer, s);
            }
        }
        if let Outcome::Error { message, .. } = &mut event.outcome {
            text("/outcome/message", message);
        }
        let Some(mut args) = event.arguments.take() else {
            return cut;
        };
        let mut pointer = String::from("/arguments");
        cut_strings(&mut args, &mut pointer, self.field, &mut cut);
        // The rest of the record, to know what room the arguments have.
        let rest = json_len(&*event) + SEAL_BYTES + cut.iter().map(|p| p.len() + 3).sum::<usize>();
        if rest + json_len(&args) > self.record {
            let json = serde_json::to_string(&args).unwrap_or_default();
            let room = self
                .record
                .saturating_sub(rest + MARKER_BYTES + "/arguments".len());
            let kept = json_prefix(&json, room);
            args = Value::String(format!("{kept}{}", marker(&json)));
            cut.retain(|p| !p.starts_with("/arguments/"));
            cut.push("/arguments".into());
        }
        event.arguments = Some(args);
        cut
    }
}

/// The length of `value` as JSON, counted without building the text.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, nor can serialising an event or a JSON value.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn marker(whole: &str) -> String {
    format!(
        "…[cut: {} bytes, sha256:{}]",
        whole.len(),
        sha256_hex(whole.as_bytes())
    )
}

/// Cuts `s` to at most `max` bytes (on a character boundary) plus the marker; false if it
/// was short enough.
fn cut_text(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let marker = marker(s);
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&marker);
    true
}

/// Cuts every string inside `value`; `pointer` is its JSON pointer, restored on return.
fn cut_strings(value: &mut Value, pointer: &mut String, max: usize, cut: &mut Vec<String>) {
    let len = pointer.len();
    match value {
        Value::String(s) => cut.extend(cut_text(s, max).then(|| pointer.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                cut_strings(item, pointer, max, cut);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                pointer.push('/');
                // RFC 6901: `~` and `/` inside a key are escaped.
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                cut_strings(item, pointer, max, cut);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// The longest start of `text` whose JSON string encoding (escapes included) fits `room`.
fn json_prefix(text: &str, room: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > room {
            return &text[..i];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(field: usize, record: usize) -> Limits {
        Limits { field, record }
    }

    #[test]
    fn long_text_keeps_its_start_size_and_hash() {
        let mut s = "é".repeat(10);
        assert!(cut_text(&mut s, 5));
        // 5 bytes would split an `é`: 4 are kept.
        let expected = format!(
            "éé…[cut: 20 bytes, sha256:{}]",
            sha256_hex("é".repeat(10).as_bytes())
        );
        assert_eq!(s, expected);
        let mut short = "abc".to_owned();
        assert!(!cut_text(&mut short, 3));
        assert_eq!(short, "abc");
    }

    #[test]
    fn cuts_are_listed_by_pointer() {
        let mut event = AuditEvent {
            name: Some("n".repeat(50)),
            arguments: Some(serde_json::json!({
                "a/b": "x".repeat(50),
                "list": ["short", "y".repeat(50)],
                "n": 7,
            })),
            ..AuditEvent::new("tools/call")
        };
        let cut = limits(10, 100_000).apply(&mut event);
        assert_eq!(cut, ["/name", "/arguments/a~1b", "/arguments/list/1"]);
        let args = event.arguments.unwrap_or_default();
        assert_eq!(args["list"][0], "short");
        assert!(
            args["list"][1]
                .as_str()
                .unwrap_or_default()
                .starts_with("yyyyyyyyyy…[cut: 50 bytes")
        );
    }

    #[test]
    fn arguments_too_large_as_a_whole_become_the_start_of_their_json() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut event = AuditEvent {
            arguments: Some(serde_json::json!({ "items": items })),
            ..AuditEvent::new("tools/call")
        };
        let whole = serde_json::to_string(&event.arguments).unwrap_or_default();
        let cut = limits(4096, 2048).apply(&mut event);
        assert_eq!(cut, ["/arguments"]);
        let kept = event.arguments.clone().unwrap_or_default();
        let kept = kept.as_str().unwrap_or_default();
        assert!(kept.starts_with("{\"items\":[0,1,2,"), "{kept}");
        assert!(kept.ends_with(&format!("sha256:{}]", sha256_hex(whole.as_bytes()))));
        let line = serde_json::to_string(&event).unwrap_or_default();
        assert!(line.len() + SEAL_BYTES <= 2048, "{}", line.len());
    }
}
