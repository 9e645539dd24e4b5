//! The pattern engine shared by the text guards: a table of [`Rule`]s compiled once into a few
//! [`regex::RegexSet`]s (a pass each finds which rules match a short text) plus each rule's own
//! regex (for the spans of the rules that matched, and for long texts; see [`RuleSet::hits`]).

use regex::{Regex, RegexSet, RegexSetBuilder};

use crate::finding::Kind;

/// One pattern: what it means, how much it weighs and what it says to a person.
#[derive(Debug)]
pub(crate) struct Rule {
    /// Stable id (`poisoning.conceal_from_user`).
    pub(crate) id: &'static str,
    /// The kind of its findings.
    pub(crate) kind: Kind,
    /// The signal group: matches in one group count once towards a combined score.
    pub(crate) signal: Signal,
    /// Weight in `0.0..=1.0` of one match on its own.
    pub(crate) weight: f32,
    /// The regular expression (Rust `regex` syntax).
    pub(crate) pattern: &'static str,
    /// The one-line explanation shown with a finding.
    pub(crate) explain: &'static str,
}

/// Independent kinds of evidence, combined by a noisy-OR: two weak signals of different
/// groups make a stronger case than one, two matches of the same group do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Signal {
    /// Keep something from the user.
    Conceal,
    /// Override earlier instructions or rules.
    Override,
    /// A new role or persona for the model.
    Role,
    /// Text addressed to the model rather than to a person.
    AddressModel,
    /// Prompt-format delimiters (`<system>`, `<|im_start|>`, `[INST]`).
    Delimiter,
    /// A secret or sensitive file is named.
    SecretNamed,
    /// A secret or file is to be read.
    SecretRead,
    /// Data is to be put into a parameter.
    SideChannel,
    /// Conversation or personal data is asked for.
    ConversationData,
    /// Data is to be sent to an address or URL.
    Send,
    /// Another tool is to be called, changed or replaced.
    ToolControl,
    /// The model is steered away from other tools or onto this one.
    ToolRedirect,
    /// A shell command is to be run.
    Command,
    /// Confirmation or safety is to be skipped.
    Bypass,
    /// The user is to be lied to.
    Deceive,
    /// A precondition on using the tool ("before using this tool").
    Precondition,
}

/// A compiled [`Rule`] table.
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: &'static [Rule],
    /// The table in chunks of [`SET_CHUNK`] rules, one `RegexSet` each, for texts up to
    /// [`LONG_TEXT`] bytes (see [`Self::hits`]).
    sets: Vec<RegexSet>,
    each: Vec<Regex>,
}

/// One rule's match in a text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) rule: &'static Rule,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Rules per `RegexSet` (see [`RuleSet::hits`]).
const SET_CHUNK: usize = 24;

/// Texts longer than this are searched rule by rule (see [`RuleSet::hits`]).
const LONG_TEXT: usize = 2048;

/// Generous limits: the tables are fixed, so a limit hit is a bug the unit tests catch.
const SIZE_LIMIT: usize = 64 << 20;

impl RuleSet {
    /// Compiles `rules`; an error names the broken rule (a programming error, caught by tests).
    pub(crate) fn new(rules: &'static [Rule]) -> Result<Self, regex::Error> {
        let patterns: Vec<String> = rules.iter().map(|r| compiled(r.pattern)).collect();
        let sets = patterns
            .chunks(SET_CHUNK)
            .map(|chunk| {
                RegexSetBuilder::new(chunk)
                    .size_limit(SIZE_LIMIT)
                    .dfa_size_limit(SIZE_LIMIT)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let each = rules
            .iter()
            .zip(&patterns)
            .map(|(r, pattern)| {
                regex::RegexBuilder::new(pattern)
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .map_err(|e| match e {
                        regex::Error::Syntax(s) => regex::Error::Syntax(format!("{}: {s}", r.id)),
                        other => other,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules, sets, each })
    }

    /// Every rule that matches `text`, with the span of its first match.
    pub(crate) fn hits(&self, text: &str) -> Vec<Hit> {
        let text = fold_case(text);
        // A set's lazy DFA state combines every one of its rules' live positions. With all of
        // this many free-word patterns in one set, texts that wake many rules at once (even
        // 120 bytes of a poisoned description) make so many states that the DFA gives up for
        // the slow engine: tens of milliseconds per text. Two sets of two dozen rules stay
        // fast; more sets cost a pass each (measured: benign descriptions at 20 µs per KiB
        // with two sets, 40 with four). Long texts are searched rule by rule (each rule's
        // literal prefilter, stopping at its first match), which beats every set there.
        let candidates: Vec<usize> = if text.len() <= LONG_TEXT {
            self.sets
                .iter()
                .enumerate()
                .flat_map(|(c, set)| {
                    set.matches(&text)
                        .into_iter()
                        .map(move |i| c * SET_CHUNK + i)
                })
                .collect()
        } else {
            (0..self.each.len()).collect()
        };
        candidates
            .into_iter()
            .filter_map(|i| {
                let m = self.each[i].find(&text)?;
                Some(Hit {
                    rule: &self.rules[i],
                    start: m.start(),
                    end: m.end(),
                })
            })
            .collect()
    }
}

/// `text` with ASCII and Latin-1 capitals lowercased, byte for byte (so offsets stay valid):
/// matching lowercase patterns against it is much cheaper than `(?i)`, whose Unicode case
/// classes multiply the automaton's states. Other scripts' capitals are left as they are; no
/// pattern needs them.
pub(crate) fn fold_case(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| b.is_ascii_uppercase() || *b == 0xC3) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < out.len() {
        let b = out[i];
        if b.is_ascii_uppercase() {
            out[i] = b.to_ascii_lowercase();
        } else if b == 0xC3 {
            // U+00C0..=U+00DE (À..Þ, but not × U+00D7) is 0xC3 0x80..=0x9E; +0x20 is its
            // lowercase, still 0xC3 0xA0..=0xBE.
            if let Some(next) = out.get_mut(i + 1)
                && (0x80..=0x9E).contains(next)
                && *next != 0x97
            {
                *next += 0x20;
            }
            i += 1;
        }
        i += 1;
    }
    // Only ASCII letters and second bytes of two-byte sequences changed: still UTF-8.
    String::from_utf8(out).map_or_else(
        |_| std::borrow::Cow::Owned(text.to_ascii_lowercase()),
        std::borrow::Cow::Owned,
    )
}

/// A table pattern as compiled: `^` at line starts, and `\b` as an ASCII word boundary (a
/// Unicode one makes the lazy DFA give up on non-ASCII text; the words the boundaries guard
/// are ASCII or followed by spaces, so nothing is lost). Case is folded in the text instead.
pub(crate) fn compiled(pattern: &str) -> String {
    let flags = if pattern.contains('^') { "(?m)" } else { "" };
    format!("{flags}{}", pattern.replace(r"\b", r"(?-u:\b)"))
}

/// Noisy-OR over signal groups: each group contributes its strongest match once.
pub(crate) fn combine(hits: &[Hit]) -> f32 {
    let mut best: Vec<(Signal, f32)> = Vec::new();
    for h in hits {
        match best.iter_mut().find(|(s, _)| *s == h.rule.signal) {
            Some((_, w)) => *w = w.max(h.rule.weight),
            None => best.push((h.rule.signal, h.rule.weight)),
        }
    }
    1.0 - best.iter().map(|(_, w)| 1.0 - w).product::<f32>()
}
