//! Splits an expression into tokens, each tagged with its 1-based character column so
//! every later error can point at the offending spot.

use super::eval::EvalError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Number(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    /// 1-based, counted in characters (not bytes) so columns match what a person sees.
    pub(crate) column: usize,
    /// The source text, kept so "found …" in errors quotes what the user typed.
    pub(crate) text: String,
}

impl Token {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Number(_) => format!("number `{}`", self.text),
            Kind::Ident(_) => format!("name `{}`", self.text),
            Kind::End => "end of input".to_owned(),
            _ => format!("`{}`", self.text),
        }
    }
}

/// Tokenizes `src`; always ends with a [`Kind::End`] token at one past the last column.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, EvalError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let at = |j: usize| chars.get(j).copied();
        let digit_at = |j: usize| at(j).is_some_and(|c| c.is_ascii_digit());
        if c.is_ascii_digit() || (c == '.' && digit_at(i + 1)) {
            let start = i;
            while digit_at(i) {
                i += 1;
            }
            if at(i) == Some('.') {
                i += 1;
                while digit_at(i) {
                    i += 1;
                }
            }
            // Only an `e` followed by digits is an exponent; otherwise `2e` would swallow
            // the constant `e` and the error would point at the wrong thing.
            if matches!(at(i), Some('e' | 'E')) {
                let sign = usize::from(matches!(at(i + 1), Some('+' | '-')));
                if digit_at(i + 1 + sign) {
                    i += 1 + sign;
                    while digit_at(i) {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value = text.parse::<f64>().map_err(|_| EvalError::Syntax {
                column,
                expected: "a number".to_owned(),
                found: format!("`{text}`"),
            })?;
            if !value.is_finite() {
                return Err(EvalError::NotFinite {
                    column,
                    what: format!("number `{text}`"),
                });
            }
            tokens.push(Token {
                kind: Kind::Number(value),
                column,
                text,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token {
                kind: Kind::Ident(text.to_ascii_lowercase()),
                column,
                text,
            });
            continue;
        }
        let kind = match c {
            '+' => Kind::Plus,
            '-' => Kind::Minus,
            '*' => Kind::Star,
            '/' => Kind::Slash,
            '%' => Kind::Percent,
            '^' => Kind::Caret,
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            other => {
                return Err(EvalError::Syntax {
                    column,
                    expected: "a number, a name, an operator or a parenthesis".to_owned(),
                    found: format!("character `{}`", other.escape_debug()),
                });
            }
        };
        tokens.push(Token {
            kind,
            column,
            text: c.to_string(),
        });
        i += 1;
    }
    tokens.push(Token {
        kind: Kind::End,
        column: chars.len() + 1,
        text: String::new(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        tokenize(src)
            .map(|t| t.into_iter().map(|t| t.kind).collect())
            .unwrap_or_default()
    }

    #[test]
    fn numbers_in_every_notation() {
        assert_eq!(
            kinds("12 3.5 .25 7. 1e3 2.5E-2 4e+1"),
            [12.0, 3.5, 0.25, 7.0, 1000.0, 0.025, 40.0]
                .into_iter()
                .map(Kind::Number)
                .chain([Kind::End])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn e_without_digits_is_the_constant() {
        assert_eq!(
            kinds("2e"),
            vec![Kind::Number(2.0), Kind::Ident("e".into()), Kind::End]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() -> Result<(), EvalError> {
        let tokens = tokenize("  1 +\t(x)")?;
        let columns: Vec<usize> = tokens.iter().map(|t| t.column).collect();
        assert_eq!(columns, vec![3, 5, 7, 8, 9, 10]);
        let err = tokenize("1 + π").err();
        assert_eq!(err.map(|e| e.column()), Some(5));
        Ok(())
    }

    #[test]
    fn identifiers_are_case_insensitive() {
        assert_eq!(kinds("PI"), vec![Kind::Ident("pi".into()), Kind::End]);
    }

    #[test]
    fn overflowing_literal_is_rejected() {
        let err = tokenize("1 + 1e999").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("number `1e999` at column 5 is not a finite number".to_owned())
        );
    }
}
