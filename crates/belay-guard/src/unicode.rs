//! Characters that hide text from a person but not from a model: invisible, bidirectional
//! controls and Unicode tags; look-alike letters from other scripts; and the [`View`] the text
//! rules read, with those tricks undone.
//!
//! Hand-written rather than taken from a crate: the confusables we fold are the handful of
//! Cyrillic and Greek letters that pass for Latin ones in identifiers, and the hidden sets are
//! a few fixed ranges; a full UTS #39 table would be larger than the rest of the guard.

use crate::finding::{Finding, Kind, Span};

/// Unicode tag characters (U+E0000..=U+E007F): invisible, and U+E0020..=U+E007E spell ASCII.
fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Bidirectional embedding, override and isolate controls.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width and other invisible formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
    )
}

/// Whether `c` is a character a person does not see (shown escaped in excerpts).
pub fn is_hidden(c: char) -> bool {
    is_tag(c) || is_bidi(c) || is_invisible(c)
}

/// The Latin letter a Cyrillic or Greek look-alike passes for.
pub(crate) fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'с' | 'ϲ' => 'c',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'ս' => 'u',
        'ν' => 'v',
        'ԝ' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'У' | 'Υ' => 'Y',
        _ => return None,
    })
}

/// A name folded for comparison: confusables to Latin, lowercase, separators dropped
/// (`Reаd-File` with a Cyrillic `а` and `read_file` share the skeleton `readfile`).
pub fn skeleton(name: &str) -> String {
    name.chars()
        .filter(|c| !is_hidden(*c) && !matches!(c, '_' | '-' | '.' | ' '))
        .map(|c| confusable(c).unwrap_or(c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `word` mixes Latin letters with Cyrillic or Greek ones.
pub fn mixes_scripts(word: &str) -> bool {
    let latin = word.chars().any(|c| c.is_ascii_alphabetic());
    let other = word
        .chars()
        .any(|c| matches!(c, '\u{0370}'..='\u{03FF}' | '\u{0400}'..='\u{052F}' | '\u{0530}'..='\u{058F}'));
    latin && other
}

/// The text the rules read: tags spelled out, invisible and bidi characters dropped,
/// look-alike letters inside mixed-script words folded to Latin, with the byte in the
/// original text each byte came from, so spans point at what the person sees.
#[derive(Debug)]
pub(crate) struct View<'a> {
    pub(crate) text: std::borrow::Cow<'a, str>,
    origin: Option<Vec<usize>>,
    original_len: usize,
}

impl<'a> View<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let plain = text.is_ascii()
            || !text
                .chars()
                .any(|c| is_hidden(c) || confusable(c).is_some());
        if plain {
            return Self {
                text: std::borrow::Cow::Borrowed(text),
                origin: None,
                original_len: text.len(),
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        let push = |out: &mut String, origin: &mut Vec<usize>, c: char, at: usize| {
            let before = out.len();
            out.push(c);
            origin.extend(std::iter::repeat_n(at, out.len() - before));
        };
        let mut word_start = 0;
        for (i, c) in text.char_indices() {
            if !c.is_alphanumeric() {
                word_start = i + c.len_utf8();
            }
            if is_tag(c) {
                let ascii = c as u32 - 0xE0000;
                if (0x20..0x7F).contains(&ascii) {
                    push(&mut out, &mut origin, char::from(ascii as u8), i);
                }
            } else if is_hidden(c) {
                continue;
            } else if let Some(latin) = confusable(c).filter(|_| {
                let end = text[i..]
                    .find(|ch: char| !ch.is_alphanumeric())
                    .map_or(text.len(), |n| i + n);
                mixes_scripts(&text[word_start..end])
            }) {
                push(&mut out, &mut origin, latin, i);
            } else {
                push(&mut out, &mut origin, c, i);
            }
        }
        Self {
            text: std::borrow::Cow::Owned(out),
            origin: Some(origin),
            original_len: text.len(),
        }
    }

    /// The byte range in the original text that `start..end` of the view came from.
    pub(crate) fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        match &self.origin {
            None => (start, end),
            Some(origin) => {
                let s = origin.get(start).copied().unwrap_or(self.original_len);
                let e = if end == 0 {
                    s
                } else {
                    origin
                        .get(end - 1)
                        .map_or(self.original_len, |o| o + 1)
                        .max(s)
                };
                (s, e)
            }
        }
    }
}

/// Findings for hidden characters and mixed-script words in `text`.
pub(crate) fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if text.is_ascii() {
        return out;
    }
    let mut tags = Vec::new();
    let (mut bidi, mut invisible) = (Vec::new(), Vec::new());
    for (i, c) in text.char_indices() {
        if is_tag(c) {
            tags.push(i);
        } else if is_bidi(c) {
            bidi.push((i, c));
        } else if is_invisible(c) && c != '\u{200D}' && !(c == '\u{FEFF}' && i == 0) {
            // A zero-width joiner builds emoji sequences and a leading BOM is an encoding
            // mark: both common and harmless, so neither counts.
            invisible.push(i);
        }
    }
    if let (Some(first), Some(last)) = (tags.first(), tags.last()) {
        let hidden: String = text[*first..last + 4]
            .chars()
            .filter(|c| is_tag(*c))
            .filter_map(|c| char::from_u32(c as u32 - 0xE0000))
            .filter(|c| !c.is_control())
            .collect();
        out.push(Finding::new(
            "unicode.tag_characters",
            Kind::InvisibleUnicode,
            0.9,
            Span::of(text, *first, last + 4),
            format!(
                "{} invisible Unicode tag characters spell hidden text: {:?}",
                tags.len(),
                crate::finding::excerpt(&hidden)
            ),
        ));
    }
    if let Some((i, _)) = bidi.first() {
        let overrides = bidi
            .iter()
            .any(|(_, c)| matches!(c, '\u{202D}' | '\u{202E}'));
        out.push(Finding::new(
            "unicode.bidi_control",
            Kind::InvisibleUnicode,
            if overrides { 0.85 } else { 0.5 },
            Span::of(text, *i, i + 3),
            format!(
                "{} bidirectional control character(s){}: the text shown differs from the text read",
                bidi.len(),
                if overrides { ", including an override" } else { "" }
            ),
        ));
    }
    if invisible.len() >= 2 {
        let inside_words = invisible
            .iter()
            .filter(|&&i| {
                let before = text[..i].chars().next_back();
                let after = text[i..].chars().nth(1);
                before.is_some_and(char::is_alphanumeric)
                    && after.is_some_and(char::is_alphanumeric)
            })
            .count();
        let score = if inside_words >= 3 { 0.8 } else { 0.4 };
        out.push(Finding::new(
            "unicode.invisible_characters",
            Kind::InvisibleUnicode,
            score,
            Span::of(text, invisible[0], invisible[invisible.len() - 1] + 3),
            format!(
                "{} zero-width or invisible characters ({inside_words} inside words, which splits words so filters miss them)",
                invisible.len()
            ),
        ));
    }
    for (start, word) in words(text) {
        if mixes_scripts(word) {
            out.push(Finding::new(
                "unicode.mixed_script_word",
                Kind::Homoglyph,
                0.6,
                Span::of(text, start, start + word.len()),
                format!(
                    "{word:?} mixes Latin with Cyrillic or Greek letters that look alike (reads as {:?})",
                    skeleton(word)
                ),
            ));
            break;
        }
    }
    out
}

/// The words of `text` (alphanumeric runs) with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}
