use super::{EvalError, MAX_DEPTH, MAX_LEN, evaluate};

fn ok(expr: &str) -> f64 {
    match evaluate(expr) {
        Ok(value) => value,
        Err(err) => panic!("`{expr}` failed: {err}"),
    }
}

fn err(expr: &str) -> EvalError {
    match evaluate(expr) {
        Ok(value) => panic!("`{expr}` gave {value}, expected an error"),
        Err(err) => err,
    }
}

fn close(expr: &str, expected: f64) {
    let value = ok(expr);
    assert!(
        (value - expected).abs() < 1e-12,
        "`{expr}` = {value}, expected {expected}"
    );
}

#[test]
fn precedence() {
    assert_eq!(ok("2 + 3 * 4"), 14.0);
    assert_eq!(ok("(2 + 3) * 4"), 20.0);
    assert_eq!(ok("2 * 3 ^ 2"), 18.0);
    assert_eq!(ok("1 + 10 % 4 * 2"), 5.0);
    assert_eq!(ok("-2 ^ 2"), -4.0);
    assert_eq!(ok("(-2) ^ 2"), 4.0);
    assert_eq!(ok("2 ^ -1"), 0.5);
    assert_eq!(ok("2 * -3"), -6.0);
    assert_eq!(ok("-3 * -(2 + 1)"), 9.0);
}

#[test]
fn associativity() {
    assert_eq!(ok("10 - 4 - 3"), 3.0);
    assert_eq!(ok("100 / 10 / 5"), 2.0);
    assert_eq!(ok("20 % 7 % 4"), 2.0);
    assert_eq!(ok("2 ^ 3 ^ 2"), 512.0);
    assert_eq!(ok("2 ^ -1 ^ 2"), 0.5);
}

#[test]
fn unary_signs() {
    assert_eq!(ok("--3"), 3.0);
    assert_eq!(ok("+-+3"), -3.0);
    assert_eq!(ok("1 - -1"), 2.0);
    assert_eq!(ok("-0").to_string(), "0");
}

#[test]
fn numbers() {
    assert_eq!(ok("1e3"), 1000.0);
    assert_eq!(ok(".5 * 4"), 2.0);
    assert_eq!(ok("2.5E-1"), 0.25);
    assert_eq!(ok("7."), 7.0);
    assert_eq!(ok(" \t12\n"), 12.0);
    assert_eq!(ok("7 % -3"), 1.0);
    assert_eq!(ok("-7 % 3"), -1.0);
}

#[test]
fn every_function_and_constant() {
    assert_eq!(ok("sqrt(16)"), 4.0);
    assert_eq!(ok("abs(-3.5)"), 3.5);
    assert_eq!(ok("min(3, 1, 2)"), 1.0);
    assert_eq!(ok("min(-4)"), -4.0);
    assert_eq!(ok("max(3, 9, 2)"), 9.0);
    assert_eq!(ok("max(1, pi)"), std::f64::consts::PI);
    close("sin(pi / 2)", 1.0);
    close("cos(pi)", -1.0);
    assert_eq!(ok("log(e)"), 1.0);
    close("log(8, 2)", 3.0);
    close("log(1000, 10)", 3.0);
    assert_eq!(ok("e"), std::f64::consts::E);
    assert_eq!(ok("PI"), std::f64::consts::PI);
    assert_eq!(ok("SQRT(max(2, 4) ^ 2)"), 4.0);
}

/// Asserts the message and the column it reports.
fn fails(expr: &str, message: &str, column: usize) {
    let e = err(expr);
    assert_eq!(e.to_string(), message, "message for `{expr}`");
    assert_eq!(e.column(), column, "column for `{expr}`");
}

#[test]
fn syntax_errors_name_the_column() {
    let start = "expected a number, a name or `(`";
    fails(
        "",
        &format!("syntax error at column 1: {start}, found end of input"),
        1,
    );
    fails(
        "1 +",
        &format!("syntax error at column 4: {start}, found end of input"),
        4,
    );
    fails(
        "1 * )",
        &format!("syntax error at column 5: {start}, found `)`"),
        5,
    );
    fails(
        "(1 + 2",
        "syntax error at column 7: expected an operator or `)`, found end of input",
        7,
    );
    fails(
        "1 2",
        "syntax error at column 3: expected an operator or end of input, found number `2`",
        3,
    );
    fails(
        "2 * # 3",
        "syntax error at column 5: expected a number, a name, an operator or a parenthesis, \
         found character `#`",
        5,
    );
    fails(
        "max(1; 2)",
        "syntax error at column 6: expected a number, a name, an operator or a parenthesis, \
         found character `;`",
        6,
    );
    fails(
        "max(1 2)",
        "syntax error at column 7: expected an operator, `,` or `)`, found number `2`",
        7,
    );
    fails(
        "1 + sqrt",
        "syntax error at column 9: expected `(` after function `sqrt`, found end of input",
        9,
    );
    fails(
        "2e",
        "syntax error at column 2: expected an operator or end of input, found name `e`",
        2,
    );
}

#[test]
fn name_errors_list_what_is_known() {
    fails(
        "1 + Foo(2)",
        "unknown function `Foo` at column 5; known functions: sqrt, abs, min, max, sin, cos, log",
        5,
    );
    // A constant is not callable; there is no implicit multiplication.
    fails(
        "pi(2)",
        "unknown function `pi` at column 1; known functions: sqrt, abs, min, max, sin, cos, log",
        1,
    );
    fails(
        "2 * x",
        "unknown identifier `x` at column 5; known constants: pi, e; \
         known functions: sqrt, abs, min, max, sin, cos, log",
        5,
    );
}

#[test]
fn arity_errors() {
    fails(
        "sqrt(1, 2)",
        "`sqrt` at column 1 takes exactly 1 argument, got 2",
        1,
    );
    fails(
        "1 + min()",
        "`min` at column 5 takes at least 1 argument, got 0",
        5,
    );
    fails(
        "max()",
        "`max` at column 1 takes at least 1 argument, got 0",
        1,
    );
    fails(
        "log(1, 2, 3)",
        "`log` at column 1 takes 1 or 2 arguments, got 3",
        1,
    );
    for f in ["abs", "sin", "cos"] {
        fails(
            &format!("{f}()"),
            &format!("`{f}` at column 1 takes exactly 1 argument, got 0"),
            1,
        );
    }
}

#[test]
fn math_errors() {
    fails("1 / 0", "division by zero at column 3", 3);
    fails("5 % (2 - 2)", "division by zero at column 3", 3);
    fails("1 / (1 / 0)", "division by zero at column 8", 8);
    fails("2 + sqrt(-4)", "sqrt of a negative number at column 5", 5);
    fails("log(0)", "log of a non-positive number at column 1", 1);
    fails("log(-1, 10)", "log of a non-positive number at column 1", 1);
    fails(
        "log(8, 1)",
        "log base must be positive and not 1, at column 1",
        1,
    );
    fails(
        "log(8, -2)",
        "log base must be positive and not 1, at column 1",
        1,
    );
    fails(
        "10 ^ 400",
        "result of `^` at column 4 is not a finite number",
        4,
    );
    fails(
        "(-8) ^ (1 / 3)",
        "result of `^` at column 6 is not a finite number",
        6,
    );
    fails(
        "0 ^ -1",
        "result of `^` at column 3 is not a finite number",
        3,
    );
    fails(
        "1e308 * 10",
        "result of `*` at column 7 is not a finite number",
        7,
    );
    fails(
        "1e308 + 1e308",
        "result of `+` at column 7 is not a finite number",
        7,
    );
    fails(
        "2 - 1e999",
        "number `1e999` at column 5 is not a finite number",
        5,
    );
}

#[test]
fn length_limit() {
    // 999 characters of "1+1+…+1", then one space: exactly the limit.
    let sum = format!("1{}", "+1".repeat(499));
    let at_limit = format!("{sum} ");
    assert_eq!(at_limit.chars().count(), MAX_LEN);
    assert_eq!(ok(&at_limit), 500.0);
    assert_eq!(
        err(&format!("{at_limit} ")),
        EvalError::TooLong {
            length: MAX_LEN + 1,
            max: MAX_LEN
        }
    );
    // The limit counts characters, not bytes: 1000 two-byte characters are within it, so
    // the error is about the first character rather than the length.
    assert_eq!(err(&"é".repeat(MAX_LEN)).column(), 1);
    assert_eq!(err(&"9".repeat(1_000_000)).column(), MAX_LEN + 1);
}

#[test]
fn depth_limit() {
    let nest = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(ok(&nest(MAX_DEPTH)), 1.0);
    fails(
        &nest(MAX_DEPTH + 1),
        "nesting too deep at column 65: at most 64 levels of parentheses",
        MAX_DEPTH + 1,
    );
    let calls = |n: usize| format!("{}4{}", "sqrt(".repeat(n), ")".repeat(n));
    close(&calls(MAX_DEPTH), 1.0);
    assert_eq!(err(&calls(MAX_DEPTH + 1)).column(), 5 * MAX_DEPTH + 5);
    // Unclosed parentheses hit the depth limit before the missing `)`.
    assert_eq!(err(&"(".repeat(MAX_LEN)).column(), MAX_DEPTH + 1);
}

#[test]
fn long_chains_need_no_recursion() {
    // Signs and powers are parsed in loops, so these are not limited by depth.
    assert_eq!(ok(&format!("{}1", "-".repeat(MAX_LEN - 1))), -1.0);
    assert_eq!(ok(&format!("1{}", "^1".repeat((MAX_LEN - 1) / 2))), 1.0);
    assert_eq!(ok(&format!("1{}", "*-1".repeat((MAX_LEN - 1) / 3))), -1.0);
}

/// splitmix64: a tiny deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments weighted towards things the grammar cares about, plus junk.
const PIECES: &[&str] = &[
    "0", "1", "2", "9", "42", "3.5", ".5", "1e3", "1e", "2E-4", "1e400", ".", "+", "-", "*", "/",
    "%", "^", "(", ")", "((", "))", ",", " ", "\t", "sqrt(", "abs(", "min(", "max(", "sin(",
    "cos(", "log(", "pi", "e", "x", "foo(", "é", "π", "#", "\u{0}", "\u{202e}", "🦀", "_", "--",
    "^-", "0)", "/0", "%0",
];

#[test]
fn random_junk_never_panics_and_errors_point_inside() {
    let mut rng = Rng(0x00C0_FFEE);
    let mut successes = 0;
    for _ in 0..20_000 {
        let pieces = 1 + rng.below(40);
        let expr: String = (0..pieces)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        let length = expr.chars().count();
        match evaluate(&expr) {
            Ok(value) => {
                successes += 1;
                assert!(value.is_finite(), "`{expr}` gave {value}");
                // Wrapping in parentheses must not change a value.
                if length + 2 <= MAX_LEN {
                    assert_eq!(evaluate(&format!("({expr})")), Ok(value), "`({expr})`");
                }
            }
            Err(e) => assert!(
                (1..=length + 1).contains(&e.column()) || length > MAX_LEN,
                "`{expr}`: column {} outside 1..={}: {e}",
                e.column(),
                length + 1
            ),
        }
    }
    // The generator must reach valid expressions too, or the wrapping check is idle.
    assert!(successes > 100, "only {successes} valid expressions");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = evaluate(&text) {
            let columns = 1..=text.chars().count() + 1;
            assert!(columns.contains(&e.column()), "`{text}`: {e}");
        }
    }
}
