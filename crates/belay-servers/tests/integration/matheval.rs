//! The matheval server through real rmcp clients: over a pipe and over HTTP, in both eras.

use anyhow::Context as _;
use belay_servers::matheval::{Evaluation, MAX_LEN, MathEvalServer};
use rmcp::model::CallToolResult;
use serde_json::json;

use crate::common::{ScriptedClient, Session, open_all, text_of};

/// Every transport and era at once, so each test covers all four.
async fn connect_all() -> anyhow::Result<Vec<Session>> {
    Ok(open_all(MathEvalServer::new(), ScriptedClient::new).await?)
}

async fn evaluate(conn: &Session, expression: &str) -> anyhow::Result<CallToolResult> {
    Ok(conn
        .call("evaluate", json!({ "expression": expression }))
        .await?)
}

#[tokio::test]
async fn evaluate_is_listed_with_an_output_schema() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let tools = conn.client.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["evaluate"], "{}", conn.label);
        let schema = tools[0].output_schema.as_ref().context("output schema")?;
        assert_eq!(
            schema["properties"]["value"]["type"], "number",
            "{schema:?}"
        );
        assert_eq!(tools[0].input_schema["required"], json!(["expression"]));
        let annotations = tools[0].annotations.as_ref().context("annotations")?;
        assert_eq!(annotations.read_only_hint, Some(true));
    }
    Ok(())
}

#[tokio::test]
async fn values_come_back_structured_and_as_text() -> anyhow::Result<()> {
    let cases = [
        (
            "2 * (3 + sqrt(16)) ^ 2",
            98.0,
            "2 * (3 + sqrt(16)) ^ 2 = 98",
        ),
        ("  -2^2 + 10 % 4 ", -2.0, "-2^2 + 10 % 4 = -2"),
        ("2^3^2", 512.0, "2^3^2 = 512"),
        ("1.5e3 / 4", 375.0, "1.5e3 / 4 = 375"),
        (
            "max(1, 2, pi)",
            std::f64::consts::PI,
            "max(1, 2, pi) = 3.141592653589793",
        ),
        (
            "min(abs(-7), 3) - log(e) + cos(0)",
            3.0,
            "min(abs(-7), 3) - log(e) + cos(0) = 3",
        ),
        ("0.1 + 0.2", 0.1 + 0.2, "0.1 + 0.2 = 0.30000000000000004"),
    ];
    for conn in connect_all().await? {
        for (expression, value, text) in cases {
            let result = evaluate(&conn, expression).await?;
            assert_ne!(result.is_error, Some(true), "{}: {expression}", conn.label);
            let structured = result
                .structured_content
                .clone()
                .context("structuredContent")?;
            assert_eq!(
                structured,
                json!({ "value": value }),
                "{}: {expression}",
                conn.label
            );
            assert_eq!(
                serde_json::from_value::<Evaluation>(structured)?,
                Evaluation { value }
            );
            assert_eq!(text_of(&result), text);
        }
    }
    Ok(())
}

#[tokio::test]
async fn bad_expressions_are_tool_errors_with_columns() -> anyhow::Result<()> {
    let long = "1".repeat(MAX_LEN + 1);
    let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
    let cases = [
        ("1 / 0", "division by zero at column 3".to_owned()),
        (
            "sqrt(-1)",
            "sqrt of a negative number at column 1".to_owned(),
        ),
        (
            "log(0)",
            "log of a non-positive number at column 1".to_owned(),
        ),
        (
            "10 ^ 999",
            "result of `^` at column 4 is not a finite number".to_owned(),
        ),
        (
            "2 +",
            "syntax error at column 4: expected a number, a name or `(`, found end of input"
                .to_owned(),
        ),
        (
            "(1 + 2",
            "syntax error at column 7: expected an operator or `)`, found end of input".to_owned(),
        ),
        (
            "exec(1)",
            "unknown function `exec` at column 1; known functions: sqrt, abs, min, max, sin, \
             cos, log"
                .to_owned(),
        ),
        (
            "x + 1",
            "unknown identifier `x` at column 1; known constants: pi, e; known functions: \
             sqrt, abs, min, max, sin, cos, log"
                .to_owned(),
        ),
        (
            "sqrt(4, 9)",
            "`sqrt` at column 1 takes exactly 1 argument, got 2".to_owned(),
        ),
        (
            long.as_str(),
            format!(
                "expression too long: {} characters, the limit is {MAX_LEN}",
                MAX_LEN + 1
            ),
        ),
        (
            deep.as_str(),
            "nesting too deep at column 65: at most 64 levels of parentheses".to_owned(),
        ),
    ];
    for conn in connect_all().await? {
        for (expression, message) in &cases {
            let result = evaluate(&conn, expression).await?;
            assert_eq!(result.is_error, Some(true), "{}: {expression}", conn.label);
            assert_eq!(result.structured_content, None, "{expression}");
            assert_eq!(&text_of(&result), message, "{}", conn.label);
        }
    }
    Ok(())
}

#[tokio::test]
async fn malformed_arguments_are_tool_errors_too() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        // rmcp reports arguments that do not fit the input schema as a tool error, so the
        // model sees what was wrong instead of the call failing outright.
        for (args, why) in [
            (json!({}), "missing field `expression`"),
            (
                json!({ "expression": 42 }),
                "invalid type: integer `42`, expected a string",
            ),
        ] {
            let result = conn.call("evaluate", args).await?;
            assert_eq!(result.is_error, Some(true), "{}", conn.label);
            let text = text_of(&result);
            assert!(
                text.starts_with("failed to deserialize parameters: "),
                "{text}"
            );
            assert!(text.contains(why), "{text}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_server_keeps_working_after_errors() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        for junk in ["", ")))", "1e", "((((((", "\u{0}", "🦀 + 1", "--", "sin(,)"] {
            let result = evaluate(&conn, junk).await?;
            assert_eq!(result.is_error, Some(true), "{}: {junk:?}", conn.label);
        }
        let result = evaluate(&conn, "6 * 7").await?;
        assert_eq!(result.structured_content, Some(json!({ "value": 42.0 })));
    }
    Ok(())
}
