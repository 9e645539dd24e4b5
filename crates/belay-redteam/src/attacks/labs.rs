//! Every `belay lab` exploit, run against the targets as they are (`LabName::ALL`: a new lab
//! is attacked here without a change). An exploit whose tool the targets do not offer is not
//! applicable: shown, not counted.

use belay_client::Target;
use belay_labs::{LabName, agent::Answer};

use crate::{Attempt, Options, Outcome, Risk};

pub(crate) async fn run(label: &str, targets: &[Target], options: &Options) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    if targets.is_empty() {
        return LabName::ALL
            .iter()
            .map(|&lab| {
                Attempt::new(
                    lab.lab()
                        .risks
                        .first()
                        .copied()
                        .unwrap_or(Risk::PromptInjection),
                    format!("lab exploit: {lab}"),
                    label,
                    Outcome::NotApplicable,
                    "every target asks for a sign-in that was not given",
                )
            })
            .collect();
    }
    for &lab in LabName::ALL {
        let risk = lab
            .lab()
            .risks
            .first()
            .copied()
            .unwrap_or(Risk::PromptInjection);
        let attack = format!("lab exploit: {lab}");
        let exploit = tokio::time::timeout(
            options.call_timeout * 6,
            lab.exploit(targets, &options.connect),
        )
        .await;
        let attempt = match exploit {
            Err(_) => Attempt::new(
                risk,
                attack,
                label,
                Outcome::NotApplicable,
                format!(
                    "the exploit did not finish within {} s",
                    (options.call_timeout * 6).as_secs()
                ),
            ),
            Ok(Err(e)) => Attempt::new(
                risk,
                attack,
                label,
                Outcome::NotApplicable,
                format!("the exploit could not run: {e}"),
            ),
            Ok(Ok(report)) if report.succeeded => {
                Attempt::new(risk, attack, label, Outcome::Succeeded, report.summary)
            }
            Ok(Ok(report)) if report.steps.iter().all(|s| s.answer == Answer::NotOffered) => {
                Attempt::new(
                    risk,
                    attack,
                    label,
                    Outcome::NotApplicable,
                    "the tool it attacks is not offered",
                )
            }
            Ok(Ok(report)) => {
                let evidence = match &report.stopped_by {
                    Some(defence) => format!("{} (stopped by {defence})", report.summary),
                    None => report.summary,
                };
                Attempt::new(risk, attack, label, Outcome::Blocked, evidence)
            }
        };
        attempts.push(attempt);
    }
    attempts
}
