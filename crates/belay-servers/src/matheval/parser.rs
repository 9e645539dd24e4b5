//! Compiles tokens into a postfix program. Grammar, loosest binding first:
//!
//! ```text
//! expr  := term (('+' | '-') term)*
//! term  := unary (('*' | '/' | '%') unary)*
//! unary := ('+' | '-')* primary ('^' unary)?        (so -2^2 = -4 and 2^3^2 = 512)
//! primary := number | constant | function '(' args ')' | '(' expr ')'
//! ```
//!
//! Signs and `^` chains are parsed with loops, so the only recursion is through
//! parentheses, which [`MAX_DEPTH`] bounds: no input can overflow the stack.

use super::{
    eval::{BinOp, EvalError, Func, MAX_DEPTH, Op},
    lexer::{Kind, Token},
};

/// Turns a token list (ending in [`Kind::End`]) into a postfix program.
pub(crate) fn compile(tokens: &[Token]) -> Result<Vec<Op>, EvalError> {
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        ops: Vec::new(),
    };
    parser.expr()?;
    parser.expect_end()?;
    Ok(parser.ops)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
    ops: Vec<Op>,
}

/// Stands in for a token past the end; `tokenize` always ends with `End`, so this is only
/// reached if a caller hands in a list without one.
static END: Token = Token {
    kind: Kind::End,
    column: 1,
    text: String::new(),
};

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&END)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn error(&self, expected: &str) -> EvalError {
        let token = self.peek();
        EvalError::Syntax {
            column: token.column,
            expected: expected.to_owned(),
            found: token.describe(),
        }
    }

    fn expect_end(&self) -> Result<(), EvalError> {
        match self.peek().kind {
            Kind::End => Ok(()),
            _ => Err(self.error("an operator or end of input")),
        }
    }

    fn expr(&mut self) -> Result<(), EvalError> {
        self.term()?;
        loop {
            let op = match self.peek().kind {
                Kind::Plus => BinOp::Add,
                Kind::Minus => BinOp::Sub,
                _ => return Ok(()),
            };
            let column = self.next().column;
            self.term()?;
            self.ops.push(Op::Bin(op, column));
        }
    }

    fn term(&mut self) -> Result<(), EvalError> {
        self.unary()?;
        loop {
            let op = match self.peek().kind {
                Kind::Star => BinOp::Mul,
                Kind::Slash => BinOp::Div,
                Kind::Percent => BinOp::Rem,
                _ => return Ok(()),
            };
            let column = self.next().column;
            self.unary()?;
            self.ops.push(Op::Bin(op, column));
        }
    }

    /// Parses `s0 p0 ^ s1 p1 ^ … ^ sn pn` (each `s` a run of signs) and emits it as
    /// `s0(p0 ^ s1(p1 ^ … sn(pn)))`: right-associative, and a sign binds looser than the
    /// `^` to its right.
    fn unary(&mut self) -> Result<(), EvalError> {
        let mut negate = Vec::new();
        let mut carets = Vec::new();
        loop {
            let mut minus = false;
            loop {
                match self.peek().kind {
                    Kind::Plus => {}
                    Kind::Minus => minus = !minus,
                    _ => break,
                }
                self.pos += 1;
            }
            negate.push(minus);
            self.primary()?;
            if self.peek().kind != Kind::Caret {
                break;
            }
            carets.push(self.next().column);
        }
        for (i, &minus) in negate.iter().enumerate().rev() {
            if minus {
                self.ops.push(Op::Neg);
            }
            if let Some(&column) = i.checked_sub(1).and_then(|j| carets.get(j)) {
                self.ops.push(Op::Bin(BinOp::Pow, column));
            }
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<(), EvalError> {
        let token = self.peek().clone();
        match &token.kind {
            Kind::Number(value) => {
                self.pos += 1;
                self.ops.push(Op::Push(*value));
                Ok(())
            }
            Kind::LParen => {
                self.pos += 1;
                self.enter(token.column)?;
                self.expr()?;
                if self.peek().kind != Kind::RParen {
                    return Err(self.error("an operator or `)`"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(())
            }
            Kind::Ident(name) => {
                self.pos += 1;
                if self.peek().kind == Kind::LParen {
                    self.call(name, &token)
                } else if let Some(value) = constant(name) {
                    self.ops.push(Op::Push(value));
                    Ok(())
                } else if Func::from_name(name).is_some() {
                    Err(self.error(&format!("`(` after function `{}`", token.text)))
                } else {
                    Err(EvalError::UnknownIdentifier {
                        column: token.column,
                        name: token.text.clone(),
                    })
                }
            }
            _ => Err(self.error("a number, a name or `(`")),
        }
    }

    /// Parses `name(arg, …)`; the current token is the `(`.
    fn call(&mut self, name: &str, token: &Token) -> Result<(), EvalError> {
        let column = token.column;
        let Some(func) = Func::from_name(name) else {
            return Err(EvalError::UnknownFunction {
                column,
                name: token.text.clone(),
            });
        };
        let paren = self.next().column;
        self.enter(paren)?;
        let mut argc = 0;
        if self.peek().kind == Kind::RParen {
            self.pos += 1;
        } else {
            loop {
                self.expr()?;
                argc += 1;
                match self.peek().kind {
                    Kind::Comma => self.pos += 1,
                    Kind::RParen => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("an operator, `,` or `)`")),
                }
            }
        }
        self.depth -= 1;
        if !func.accepts(argc) {
            return Err(EvalError::Arity {
                column,
                name: func.name(),
                expected: func.arity_text(),
                found: argc,
            });
        }
        self.ops.push(Op::Call(func, argc, column));
        Ok(())
    }

    fn enter(&mut self, column: usize) -> Result<(), EvalError> {
        if self.depth >= MAX_DEPTH {
            return Err(EvalError::TooDeep {
                column,
                max: MAX_DEPTH,
            });
        }
        self.depth += 1;
        Ok(())
    }
}

fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        _ => None,
    }
}
