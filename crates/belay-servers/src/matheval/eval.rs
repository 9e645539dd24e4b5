//! The evaluator: a pure function from text to number, with no I/O and no way to run
//! code. It tokenizes, compiles to a postfix program, then runs that program on a value
//! stack, so evaluation never recurses however the expression is shaped.

use super::{lexer, parser};

/// The longest expression accepted, in characters.
pub const MAX_LEN: usize = 1000;
/// The deepest nesting of parentheses (groups and function calls) accepted.
pub const MAX_DEPTH: usize = 64;

/// Every function [`evaluate`] knows, as listed in error messages.
pub const FUNCTIONS: &str = "sqrt, abs, min, max, sin, cos, log";
/// Every constant [`evaluate`] knows.
pub const CONSTANTS: &str = "pi, e";

/// Why an expression could not be evaluated. Every error points at a 1-based character
/// column (see [`EvalError::column`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The expression is longer than [`MAX_LEN`] characters.
    #[error("expression too long: {length} characters, the limit is {max}")]
    TooLong {
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The text does not follow the grammar.
    #[error("syntax error at column {column}: expected {expected}, found {found}")]
    Syntax {
        /// Where.
        column: usize,
        /// What would have been valid there.
        expected: String,
        /// What was there instead.
        found: String,
    },
    /// Parentheses nest deeper than [`MAX_DEPTH`].
    #[error("nesting too deep at column {column}: at most {max} levels of parentheses")]
    TooDeep {
        /// The `(` that went one level too deep.
        column: usize,
        /// The limit.
        max: usize,
    },
    /// A call to a function that does not exist.
    #[error("unknown function `{name}` at column {column}; known functions: {FUNCTIONS}")]
    UnknownFunction {
        /// Where the name starts.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// A name that is neither a constant nor a function.
    #[error(
        "unknown identifier `{name}` at column {column}; known constants: {CONSTANTS}; known functions: {FUNCTIONS}"
    )]
    UnknownIdentifier {
        /// Where the name starts.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("`{name}` at column {column} takes {expected}, got {found}")]
    Arity {
        /// Where the function name starts.
        column: usize,
        /// The function.
        name: &'static str,
        /// How many it takes, in words.
        expected: &'static str,
        /// How many it got.
        found: usize,
    },
    /// `/` or `%` with a zero right-hand side.
    #[error("division by zero at column {column}")]
    DivisionByZero {
        /// The operator.
        column: usize,
    },
    /// `sqrt` of a negative number.
    #[error("sqrt of a negative number at column {column}")]
    SqrtNegative {
        /// The call.
        column: usize,
    },
    /// `log` of zero or a negative number.
    #[error("log of a non-positive number at column {column}")]
    LogDomain {
        /// The call.
        column: usize,
    },
    /// `log(x, base)` with a base that is not positive or is 1.
    #[error("log base must be positive and not 1, at column {column}")]
    LogBase {
        /// The call.
        column: usize,
    },
    /// A literal or an operation whose value is infinite or not a number.
    #[error("{what} at column {column} is not a finite number")]
    NotFinite {
        /// The literal or operator.
        column: usize,
        /// What produced it, e.g. "result of `^`".
        what: String,
    },
}

impl EvalError {
    /// The 1-based character column the error points at.
    pub fn column(&self) -> usize {
        match self {
            EvalError::TooLong { max, .. } => max + 1,
            EvalError::Syntax { column, .. }
            | EvalError::TooDeep { column, .. }
            | EvalError::UnknownFunction { column, .. }
            | EvalError::UnknownIdentifier { column, .. }
            | EvalError::Arity { column, .. }
            | EvalError::DivisionByZero { column }
            | EvalError::SqrtNegative { column }
            | EvalError::LogDomain { column }
            | EvalError::LogBase { column }
            | EvalError::NotFinite { column, .. } => *column,
        }
    }
}

/// Evaluates an arithmetic expression such as `2 * (3 + sqrt(16)) ^ 2`.
///
/// Supports numbers (`12`, `3.5`, `.5`, `1e-3`), `+ - * / % ^` (power binds tightest and
/// is right-associative; unary signs bind looser than `^`, so `-2^2` is -4), parentheses,
/// the functions in [`FUNCTIONS`] (`log(x)` is natural, `log(x, base)` takes a base; `min`
/// and `max` take one or more arguments) and the constants `pi` and `e`. Names are
/// case-insensitive. Never panics; any non-finite result is an error.
pub fn evaluate(expr: &str) -> Result<f64, EvalError> {
    let length = expr.chars().count();
    if length > MAX_LEN {
        return Err(EvalError::TooLong {
            length,
            max: MAX_LEN,
        });
    }
    let tokens = lexer::tokenize(expr)?;
    let program = parser::compile(&tokens)?;
    let value = run(&program)?;
    // -0 is an artefact of the arithmetic, not something a person means.
    Ok(if value == 0.0 { 0.0 } else { value })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

impl BinOp {
    fn result_label(self) -> &'static str {
        match self {
            BinOp::Add => "result of `+`",
            BinOp::Sub => "result of `-`",
            BinOp::Mul => "result of `*`",
            BinOp::Div => "result of `/`",
            BinOp::Rem => "result of `%`",
            BinOp::Pow => "result of `^`",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Sqrt,
    Abs,
    Min,
    Max,
    Sin,
    Cos,
    Log,
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sqrt" => Func::Sqrt,
            "abs" => Func::Abs,
            "min" => Func::Min,
            "max" => Func::Max,
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "log" => Func::Log,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Min => "min",
            Func::Max => "max",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Log => "log",
        }
    }

    fn result_label(self) -> &'static str {
        match self {
            Func::Sqrt => "result of `sqrt`",
            Func::Abs => "result of `abs`",
            Func::Min => "result of `min`",
            Func::Max => "result of `max`",
            Func::Sin => "result of `sin`",
            Func::Cos => "result of `cos`",
            Func::Log => "result of `log`",
        }
    }

    pub(crate) fn accepts(self, argc: usize) -> bool {
        match self {
            Func::Min | Func::Max => argc >= 1,
            Func::Log => argc == 1 || argc == 2,
            _ => argc == 1,
        }
    }

    pub(crate) fn arity_text(self) -> &'static str {
        match self {
            Func::Min | Func::Max => "at least 1 argument",
            Func::Log => "1 or 2 arguments",
            _ => "exactly 1 argument",
        }
    }

    fn apply(self, args: &[f64], column: usize) -> Result<f64, EvalError> {
        let first = args.first().copied().unwrap_or(f64::NAN);
        Ok(match self {
            Func::Sqrt if first < 0.0 => return Err(EvalError::SqrtNegative { column }),
            Func::Sqrt => first.sqrt(),
            Func::Abs => first.abs(),
            Func::Min => args.iter().copied().fold(f64::INFINITY, f64::min),
            Func::Max => args.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Func::Sin => first.sin(),
            Func::Cos => first.cos(),
            Func::Log if first <= 0.0 => return Err(EvalError::LogDomain { column }),
            Func::Log => match args.get(1) {
                None => first.ln(),
                Some(&base) if base <= 0.0 || base == 1.0 => {
                    return Err(EvalError::LogBase { column });
                }
                Some(&base) => first.ln() / base.ln(),
            },
        })
    }
}

/// One step of a compiled program; columns say where to point if the step fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Push(f64),
    Neg,
    Bin(BinOp, usize),
    Call(Func, usize, usize),
}

fn run(program: &[Op]) -> Result<f64, EvalError> {
    let mut stack: Vec<f64> = Vec::with_capacity(16);
    // The compiler only emits balanced programs; should one ever not be, the NaN this
    // yields is reported as a non-finite result rather than a panic.
    let pop = |stack: &mut Vec<f64>| stack.pop().unwrap_or(f64::NAN);
    for op in program {
        let (value, column, what) = match *op {
            Op::Push(value) => {
                stack.push(value);
                continue;
            }
            Op::Neg => {
                let value = -pop(&mut stack);
                stack.push(value);
                continue;
            }
            Op::Bin(op, column) => {
                let right = pop(&mut stack);
                let left = pop(&mut stack);
                let value = match op {
                    BinOp::Div | BinOp::Rem if right == 0.0 => {
                        return Err(EvalError::DivisionByZero { column });
                    }
                    BinOp::Add => left + right,
                    BinOp::Sub => left - right,
                    BinOp::Mul => left * right,
                    BinOp::Div => left / right,
                    BinOp::Rem => left % right,
                    BinOp::Pow => left.powf(right),
                };
                (value, column, op.result_label())
            }
            Op::Call(func, argc, column) => {
                let args = stack.split_off(stack.len().saturating_sub(argc));
                let value = func.apply(&args, column)?;
                (value, column, func.result_label())
            }
        };
        if !value.is_finite() {
            return Err(EvalError::NotFinite {
                column,
                what: what.to_owned(),
            });
        }
        stack.push(value);
    }
    let value = pop(&mut stack);
    if value.is_finite() {
        Ok(value)
    } else {
        Err(EvalError::NotFinite {
            column: 1,
            what: "the expression".to_owned(),
        })
    }
}
