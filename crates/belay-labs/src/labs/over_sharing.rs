//! `over-sharing`: a customer service whose `get_customer_email` returns the whole record
//! (payment card, US social security number, IBAN) where one field was asked, and answers for
//! any customer id it is given, not only the caller's. Everything it returns lands in the
//! model's context, and from there in transcripts, logs and the model provider's hands.
//!
//! Fixed twin: the same tool returns the e-mail address only, and only the signed-in
//! customer's. The lab has no sign-in, so "signed in" is a fixed customer
//! ([`SIGNED_IN`]) the fixed server is bound to, standing for the subject of a verified
//! token. Behind the gateway, belay up's secrets guard redacts the card, SSN and IBAN in
//! results; it does not check ownership.
//!
//! Every record is invented: card numbers are issuers' published test numbers (they pass
//! Luhn), the IBANs are the standard's examples (they pass mod 97), the SSNs are made up.

use belay_client::{ConnectOptions, Target};
use belay_guard::{SecretKind, SecretScanner};
use belay_mcp::{Parameters, Transport, schema::portable_tools};
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{CallToolResult, ContentBlock},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    ExploitError, Lab, LabName, Report,
    agent::{Agent, Answer, Step},
    owasp::Risk,
};

/// The lab.
pub const LAB: Lab = Lab {
    name: LabName::OverSharing,
    title: "A customer service that hands out whole records, anyone's",
    risks: &[Risk::OverSharing, Risk::PrivilegeEscalation],
    attack: "Asked for a customer's e-mail address, `get_customer_email` returns the whole \
             record (card, SSN, IBAN), and for any customer id, not only the caller's.",
    fix: "Return the field asked for, and only the signed-in customer's record.",
    defence: "The gateway's secrets guard redacts card numbers, SSNs and IBANs in results \
              (`[redacted:card]`, rule `pii.card` and others); ownership needs the fixed \
              server.",
    transports: &[Transport::Stdio, Transport::Http, Transport::Sse],
};

/// The customer the lab's user is, and the one the fixed twin serves.
pub const SIGNED_IN: &str = "c-1001";

/// Longest customer id accepted (ids are short; a long one is abuse, not a lookup).
const MOST_ID_CHARS: usize = 64;

/// One customer record, as the service stores it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Customer {
    /// Its id.
    pub id: &'static str,
    /// Full name.
    pub name: &'static str,
    /// E-mail address: the field the tool is for.
    pub email: &'static str,
    /// Phone number.
    pub phone: &'static str,
    /// Payment card number on file.
    pub card: &'static str,
    /// US social security number.
    pub ssn: &'static str,
    /// Bank account for refunds.
    pub iban: &'static str,
}

/// The service's customers (invented).
pub const CUSTOMERS: &[Customer] = &[
    Customer {
        id: SIGNED_IN,
        name: "Ada Lovelace",
        email: "ada@example.com",
        phone: "+1 415 555 0134",
        card: "4539 1488 0343 6467",
        ssn: "512-44-7810",
        iban: "GB82 WEST 1234 5698 7654 32",
    },
    Customer {
        id: "c-1002",
        name: "Grace Hopper",
        email: "grace@example.org",
        phone: "+1 212 555 0187",
        card: "5425 2334 3010 9903",
        ssn: "287-65-4321",
        iban: "DE89 3704 0044 0532 0130 00",
    },
    Customer {
        id: "c-1003",
        name: "Alan Turing",
        email: "alan@example.net",
        phone: "+44 20 7946 0321",
        card: "6011 0009 9990 0016",
        ssn: "423-18-9056",
        iban: "FR14 2004 1010 0505 0001 3M02 606",
    },
];

/// The kinds of data the exploit is after.
const SENSITIVE: &[SecretKind] = &[SecretKind::Card, SecretKind::Ssn, SecretKind::Iban];

/// Arguments of `get_customer_email`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailArgs {
    /// The customer's id, like `c-1001`.
    #[schemars(length(max = 64))]
    pub customer_id: String,
}

/// The record for `id`, or the tool error a caller gets.
fn lookup(id: &str) -> Result<&'static Customer, CallToolResult> {
    if id.chars().count() > MOST_ID_CHARS {
        return Err(tool_error(format!(
            "`customer_id` is too long ({} characters, at most {MOST_ID_CHARS})",
            id.chars().count()
        )));
    }
    CUSTOMERS.iter().find(|c| c.id == id).ok_or_else(|| {
        // Quote the id as JSON so control characters in it stay visible and inert.
        tool_error(format!("no customer {}", json!(id)))
    })
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The vulnerable service.
#[derive(Debug, Clone)]
pub struct OverSharing {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl OverSharing {
    /// A new server.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    #[tool(description = "The e-mail address on file for a customer.")]
    async fn get_customer_email(&self, Parameters(args): Parameters<EmailArgs>) -> CallToolResult {
        // The flaws: the whole record (the ORM row, serialised as is), for whoever asks.
        match lookup(&args.customer_id) {
            Ok(customer) => match serde_json::to_string_pretty(customer) {
                Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
                Err(e) => tool_error(format!("cannot write the record: {e}")),
            },
            Err(refused) => refused,
        }
    }
}

impl Default for OverSharing {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-over-sharing")]
impl ServerHandler for OverSharing {}

/// The fixed twin, bound to one signed-in customer.
#[derive(Debug, Clone)]
pub struct Minimal {
    caller: &'static str,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Minimal {
    /// A server for the customer [`SIGNED_IN`].
    pub fn new() -> Self {
        Self {
            caller: SIGNED_IN,
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    #[tool(description = "Your e-mail address on file (only your own record can be read).")]
    async fn get_customer_email(&self, Parameters(args): Parameters<EmailArgs>) -> CallToolResult {
        let customer = match lookup(&args.customer_id) {
            Ok(customer) => customer,
            Err(refused) => return refused,
        };
        if customer.id != self.caller {
            // The same answer for an existing and a missing id would hide which ids exist;
            // here ids are not secret, so say plainly why.
            return tool_error(format!(
                "you are signed in as {}: only your own record can be read",
                self.caller
            ));
        }
        CallToolResult::success(vec![ContentBlock::text(customer.email)])
    }
}

impl Default for Minimal {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-over-sharing-fixed")]
impl ServerHandler for Minimal {}

/// The user (customer [`SIGNED_IN`]) asks for their e-mail address on file, then for
/// another customer's.
pub async fn exploit(targets: &[Target], options: &ConnectOptions) -> Result<Report, ExploitError> {
    let other = &CUSTOMERS[1];
    let mut agent = Agent::connect(targets, options).await?;
    agent
        .task(
            "get_customer_email",
            json!({"customer_id": SIGNED_IN}),
            &format!("the user (customer {SIGNED_IN}) asked which e-mail address is on file"),
        )
        .await;
    agent
        .task(
            "get_customer_email",
            json!({"customer_id": other.id}),
            &format!(
                "the user asked for customer {}'s e-mail address, an account not theirs",
                other.id
            ),
        )
        .await;
    let steps = agent.close().await;
    Ok(judge(&steps, other))
}

/// What the answers in `steps` gave away; `other`: a customer who is not the user.
fn judge(steps: &[Step], other: &Customer) -> Report {
    let lab = LabName::OverSharing;
    let scanner = SecretScanner::builder().kinds(SENSITIVE).build();
    let texts: Vec<&str> = steps
        .iter()
        .filter_map(|s| match &s.answer {
            Answer::Answered {
                text,
                is_error: false,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let mut found: Vec<String> = Vec::new();
    if let Ok(scanner) = &scanner {
        for text in &texts {
            for finding in scanner.find(text) {
                let label = finding.rule.trim_start_matches("pii.").to_owned();
                if !found.contains(&label) {
                    found.push(label);
                }
            }
        }
    }
    let redacted = redaction_labels(&texts);
    let others_record = texts.iter().any(|t| t.contains(other.email));
    let whose = if others_record {
        format!(
            ", including customer {} ({}), whose record the user has no right to",
            other.id, other.name
        )
    } else {
        String::new()
    };
    if !found.is_empty() {
        return Report::succeeded(
            lab,
            format!(
                "asked for an e-mail address, the assistant received {} numbers{whose}",
                found.join(", ")
            ),
            steps.to_vec(),
        );
    }
    if !redacted.is_empty() {
        let markers: Vec<String> = redacted.iter().map(|l| format!("[redacted:{l}]")).collect();
        let leftover = if others_record {
            format!(
                "; the server still answered for customer {} (name and e-mail came through): \
                 redaction does not check ownership, the fixed server does",
                other.id
            )
        } else {
            String::new()
        };
        return Report::failed(
            lab,
            format!(
                "the server returned whole records, but every card, SSN and IBAN in them \
                 arrived as {}{leftover}",
                markers.join(", ")
            ),
            Some(format!(
                "the gateway's secrets guard, which redacted {} in the results",
                redacted.join(", ")
            )),
            steps.to_vec(),
        );
    }
    if others_record {
        return Report::succeeded(
            lab,
            format!(
                "the assistant read customer {}'s record ({}), which is not the user's",
                other.id, other.name
            ),
            steps.to_vec(),
        );
    }
    let refusal = steps.iter().find_map(|s| match &s.answer {
        Answer::Answered {
            text,
            is_error: true,
        } => Some(format!("the server's own check: {text}")),
        other => other.defence(),
    });
    Report::failed(
        lab,
        "the assistant got the one field it asked for, and only the user's own",
        refusal,
        steps.to_vec(),
    )
}

/// The labels of the `[redacted:LABEL]` markers a gateway wrote into `texts`, in order.
fn redaction_labels(texts: &[&str]) -> Vec<String> {
    const OPEN: &str = "[redacted:";
    let mut labels: Vec<String> = Vec::new();
    for text in texts {
        for (at, _) in text.match_indices(OPEN) {
            let rest = &text[at + OPEN.len()..];
            let Some(end) = rest.find(']') else { continue };
            let label = &rest[..end];
            let plain = !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if plain && !labels.iter().any(|l| l == label) {
                labels.push(label.to_owned());
            }
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;
    use crate::Variant;
    use crate::labs::testing::{exploit_against, listed_tool, serve_http, target};

    fn arguments(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn answered(tool: &str, id: &str, text: &str, is_error: bool) -> Step {
        Step {
            tool: tool.into(),
            arguments: arguments(json!({"customer_id": id})),
            because: "test".into(),
            answer: Answer::Answered {
                text: text.into(),
                is_error,
            },
        }
    }

    #[tokio::test]
    async fn the_exploit_gets_whole_records_and_another_customers_from_the_vulnerable_server() {
        let report = exploit_against(LabName::OverSharing, Variant::Vulnerable).await;
        assert!(report.succeeded, "{report:#?}");
        for kind in ["card", "ssn", "iban", "c-1002"] {
            assert!(report.summary.contains(kind), "{}", report.summary);
        }
        assert_eq!(report.steps.len(), 2);
    }

    #[tokio::test]
    async fn the_exploit_fails_against_the_fixed_twin() {
        let report = exploit_against(LabName::OverSharing, Variant::Fixed).await;
        assert!(!report.succeeded, "{report:#?}");
        assert_eq!(report.steps[0].answer.text(), Some(CUSTOMERS[0].email));
        let refused = &report.steps[1].answer;
        assert!(
            matches!(refused, Answer::Answered { is_error: true, text } if text.contains("only your own")),
            "{refused:?}"
        );
        assert!(
            report
                .stopped_by
                .as_deref()
                .is_some_and(|s| s.contains("own check")),
            "{report:#?}"
        );
    }

    #[test]
    fn every_record_holds_data_the_scanner_recognises() {
        let Ok(scanner) = SecretScanner::builder().kinds(SENSITIVE).build() else {
            panic!("the scanner builds")
        };
        for customer in CUSTOMERS {
            let text = serde_json::to_string(customer).unwrap_or_default();
            let rules: Vec<&str> = scanner.find(&text).iter().map(|f| f.rule).collect();
            assert_eq!(
                rules,
                ["pii.card", "pii.ssn", "pii.iban"],
                "{}",
                customer.id
            );
        }
    }

    #[test]
    fn redacted_results_are_a_failed_attack_credited_to_the_gateway() {
        let Ok(scanner) = SecretScanner::builder().kinds(SENSITIVE).build() else {
            panic!("the scanner builds")
        };
        let record = |c: &Customer| {
            scanner
                .redact(&serde_json::to_string_pretty(c).unwrap_or_default())
                .into_owned()
        };
        let steps = [
            answered(
                "get_customer_email",
                "c-1001",
                &record(&CUSTOMERS[0]),
                false,
            ),
            answered(
                "get_customer_email",
                "c-1002",
                &record(&CUSTOMERS[1]),
                false,
            ),
        ];
        let report = judge(&steps, &CUSTOMERS[1]);
        assert!(!report.succeeded, "{report:#?}");
        assert_eq!(
            report.stopped_by.as_deref(),
            Some("the gateway's secrets guard, which redacted card, ssn, iban in the results")
        );
        // Honest about what redaction leaves: the other customer's record still came back.
        assert!(report.summary.contains("ownership"), "{}", report.summary);
    }

    #[test]
    fn another_customers_field_alone_is_a_success() {
        // A server that returns one field but checks no ownership still leaks.
        let steps = [
            answered("get_customer_email", "c-1001", CUSTOMERS[0].email, false),
            answered("get_customer_email", "c-1002", CUSTOMERS[1].email, false),
        ];
        let report = judge(&steps, &CUSTOMERS[1]);
        assert!(report.succeeded, "{report:#?}");
        assert!(
            report.summary.contains("Grace Hopper"),
            "{}",
            report.summary
        );
    }

    #[test]
    fn a_tool_error_that_quotes_a_card_is_not_counted() {
        // Only delivered results count: an error message is the server's, not the data.
        let steps = [answered(
            "get_customer_email",
            "4539 1488 0343 6467",
            "no customer \"4539 1488 0343 6467\"",
            true,
        )];
        assert!(!judge(&steps, &CUSTOMERS[1]).succeeded);
    }

    #[test]
    fn redaction_markers_are_read_strictly() {
        let labels = redaction_labels(&[
            "a [redacted:card] b [redacted:card] [redacted:] [redacted:x y] [redacted:ssn",
        ]);
        assert_eq!(labels, ["card"]);
    }

    #[tokio::test]
    async fn the_fixed_twin_refuses_other_unknown_and_oversize_ids() {
        let (url, _served) = serve_http(LabName::OverSharing, Variant::Fixed).await;
        let mut agent = match Agent::connect(&[target(&url)], &ConnectOptions::default()).await {
            Ok(agent) => agent,
            Err(e) => panic!("cannot connect: {e}"),
        };
        let long = "c".repeat(10_000);
        for (id, expected) in [
            ("c-1002", "only your own record"),
            ("c-9999", "no customer \"c-9999\""),
            ("c-1001\u{0}\n", "no customer \"c-1001\\u0000\\n\""),
            (long.as_str(), "too long (10000 characters"),
        ] {
            let step = agent
                .call(
                    "get_customer_email",
                    arguments(json!({"customer_id": id})),
                    "test".into(),
                )
                .await;
            assert!(
                matches!(&step.answer, Answer::Answered { is_error: true, text } if text.contains(expected)),
                "{id:.20}: {:?}",
                step.answer
            );
        }
        // Unknown arguments are refused, not ignored.
        let extra = agent
            .call(
                "get_customer_email",
                arguments(json!({"customer_id": SIGNED_IN, "fields": "*"})),
                "test".into(),
            )
            .await;
        assert!(
            matches!(&extra.answer, Answer::Answered { is_error: true, text } if text.contains("unknown field `fields`")),
            "{extra:?}"
        );
        agent.close().await;
    }

    #[tokio::test]
    async fn the_schema_caps_the_id_so_a_gateway_can_refuse_it() {
        let tool = listed_tool(
            LabName::OverSharing,
            Variant::Vulnerable,
            "get_customer_email",
        )
        .await;
        let id = tool
            .input_schema
            .get("properties")
            .and_then(|p| p.get("customer_id"));
        assert_eq!(
            id.and_then(|s| s.get("maxLength")),
            Some(&json!(MOST_ID_CHARS))
        );
    }
}
