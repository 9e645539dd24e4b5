//! Text from a server made safe to print on a terminal.

/// `text` from a server or a model, made safe to print: control characters (escape
/// sequences that could move the cursor, clear or retitle the screen, hide what follows)
/// and bidirectional overrides (which reorder what the person reads) are shown as `\u{…}`
/// instead of acting on the terminal. Newlines and tabs stay.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}
