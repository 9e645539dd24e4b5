//! Encoded payloads: base64, hex and URL-escaped runs inside a text, decoded so the rules can
//! read what they say. Only decodings that are readable text (valid UTF-8, mostly printable,
//! with spaces between words) are kept: a hash or an ID decodes to noise and is dropped.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::Regex;

/// At most this many runs are decoded per text, so a text full of IDs costs little.
const MAX_CANDIDATES: usize = 16;
/// Runs longer than this are not decoded (a guard never inflates a huge blob).
const MAX_RUN: usize = 64 * 1024;

/// A decoded run: where it was and what it says.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) encoding: &'static str,
    pub(crate) text: String,
}

/// The compiled run patterns and base64 engines.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Runs of the base64 alphabet (hex digits are a subset: a run of only those is hex).
    run: Regex,
    escaped_hex_run: Regex,
    url_run: Regex,
    standard: GeneralPurpose,
    url_safe: GeneralPurpose,
}

impl Decoder {
    pub(crate) fn new() -> Result<Self, regex::Error> {
        let config = GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true);
        Ok(Self {
            run: Regex::new(r"[A-Za-z0-9+/_-]{24,}={0,2}")?,
            escaped_hex_run: Regex::new(r"(?:\\x[0-9a-fA-F]{2}){6,}")?,
            url_run: Regex::new(r"\S*(?:%[0-9a-fA-F]{2}\S*){3,}")?,
            standard: GeneralPurpose::new(&base64::alphabet::STANDARD, config),
            url_safe: GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
        })
    }

    /// Every readable decoding of a run in `text`.
    pub(crate) fn decode_all(&self, text: &str) -> Vec<Decoded> {
        let mut out = Vec::new();
        let mut tried = 0;
        let mut consider =
            |start: usize, end: usize, encoding: &'static str, bytes: Option<Vec<u8>>| {
                if let Some(text) = bytes.and_then(readable) {
                    out.push(Decoded {
                        start,
                        end,
                        encoding,
                        text,
                    });
                }
            };
        for m in self.run.find_iter(text) {
            if tried >= MAX_CANDIDATES {
                break;
            }
            let run = m.as_str();
            if run.len() > MAX_RUN {
                continue;
            }
            if run.len() % 2 == 0 && run.bytes().all(|b| b.is_ascii_hexdigit()) {
                tried += 1;
                consider(m.start(), m.end(), "hex", hex(run));
            } else if looks_base64(run) {
                // Identifiers (snake_case names, paths) are base64-alphabet too: a real
                // payload has both cases and digits or symbols.
                tried += 1;
                let engine = if run.contains(['-', '_']) {
                    &self.url_safe
                } else {
                    &self.standard
                };
                consider(
                    m.start(),
                    m.end(),
                    "base64",
                    engine.decode(run.trim_end_matches('=')).ok(),
                );
            }
        }
        // Cheap byte checks first: most text has neither escapes nor `%`.
        if !text.contains("\\x") && !text.contains('%') {
            return out;
        }
        for m in self.escaped_hex_run.find_iter(text).take(MAX_CANDIDATES) {
            if m.len() <= MAX_RUN {
                consider(
                    m.start(),
                    m.end(),
                    "hex",
                    hex(&m.as_str().replace("\\x", "")),
                );
            }
        }
        for m in self.url_run.find_iter(text).take(MAX_CANDIDATES) {
            if m.len() <= MAX_RUN {
                let bytes: Vec<u8> = percent_encoding::percent_decode_str(m.as_str()).collect();
                consider(m.start(), m.end(), "URL escapes", Some(bytes));
            }
        }
        out
    }
}

fn looks_base64(run: &str) -> bool {
    let upper = run.bytes().any(|b| b.is_ascii_uppercase());
    let lower = run.bytes().any(|b| b.is_ascii_lowercase());
    let digit_or_sym = run
        .bytes()
        .any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'='));
    upper && lower && digit_or_sym
}

fn hex(run: &str) -> Option<Vec<u8>> {
    run.as_bytes()
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// The bytes as text when they read like words: valid UTF-8, at least 90% printable and with
/// at least one space.
fn readable(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    // Words are split by spaces, except in scripts that write none (Chinese, Japanese).
    let wordy = text.contains(' ')
        || text
            .chars()
            .filter(|c| !c.is_ascii() && c.is_alphabetic())
            .count()
            >= 4;
    if total < 12 || !wordy {
        return None;
    }
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .count();
    (printable * 10 >= total * 9).then_some(text)
}
