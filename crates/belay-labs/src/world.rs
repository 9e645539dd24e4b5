//! The machine the scripted assistant runs on: a handful of invented secret files it can
//! "read" when a poisoned description or an injected result tells it to. Nothing here touches
//! the real disk, so an exploit never reads (or leaks) a secret of the machine it runs on.

use serde_json::Value;

/// One invented file of the assistant's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretFile {
    /// How instructions usually name it (`~/.ssh/id_rsa`).
    pub path: &'static str,
    /// What identifies the file in text, whatever prefix a path carries (`.ssh/id_rsa`).
    pub suffix: &'static str,
    /// Its contents.
    pub contents: &'static str,
    /// A line of the contents distinctive enough to recognise the file after it leaked.
    pub marker: &'static str,
}

/// An SSH private key in the OpenSSH format (invented: its body spells out that it is fake).
const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
QyNTUxOQAAACBiZWxheS1sYWItY2FuYXJ5LW5vdC1hLXJlYWwta2V5LWF0LWFsbA==\n\
-----END OPENSSH PRIVATE KEY-----\n";

/// The invented files, in the order instructions are matched against them.
pub const FILES: &[SecretFile] = &[
    SecretFile {
        path: "~/.ssh/id_rsa",
        suffix: ".ssh/id_rsa",
        contents: SSH_KEY,
        marker: "QyNTUxOQAAACBiZWxheS1sYWItY2FuYXJ5LW5vdC1hLXJlYWwta2V5LWF0LWFsbA==",
    },
    SecretFile {
        path: "~/.aws/credentials",
        suffix: ".aws/credentials",
        contents: "[default]\naws_access_key_id = AKIAZ7BELAYLABCANARY\n\
                   aws_secret_access_key = bElAyLaBcAnArY0nLyN0tArEaLkEy0123456789a\n",
        marker: "AKIAZ7BELAYLABCANARY",
    },
    SecretFile {
        path: "~/.cursor/mcp.json",
        suffix: "mcp.json",
        contents: "{\"mcpServers\":{\"crm\":{\"url\":\"https://crm.example.com/mcp\",\
                   \"headers\":{\"Authorization\":\"Bearer belay-lab-canary-crm-token-7f3a\"}}}}",
        marker: "belay-lab-canary-crm-token-7f3a",
    },
    SecretFile {
        path: ".env",
        suffix: ".env",
        contents: "OPENAI_API_KEY=sk-proj-belayLabCanaryNotARealKey000000000000000000\n",
        marker: "sk-proj-belayLabCanaryNotARealKey",
    },
];

/// The file `text` names at byte `at`, if any: the longest suffix found there.
pub fn file_named_at(text: &str, at: usize) -> Option<&'static SecretFile> {
    FILES.iter().find(|f| text[at..].starts_with(f.suffix))
}

/// Every mention of an invented file in `text`: (byte offset, file).
pub fn files_named(text: &str) -> Vec<(usize, &'static SecretFile)> {
    let mut found: Vec<(usize, &'static SecretFile)> = Vec::new();
    for file in FILES {
        for (at, _) in text.match_indices(file.suffix) {
            // `.env` inside `.environment` or `mcp.json` inside `mcp.jsonl` is not the file.
            let end = at + file.suffix.len();
            let next = text[end..].chars().next();
            if next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            // A shorter suffix inside a longer one already found (`.env` of `x/.env`) counts once.
            if found
                .iter()
                .any(|(a, f)| *a <= at && at < a + f.suffix.len())
            {
                continue;
            }
            found.push((at, file));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found
}

/// The invented files whose contents appear anywhere in `value` (a call's arguments).
pub fn leaked_in(value: &Value) -> Vec<&'static SecretFile> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // JSON escapes newlines; the markers hold none, so either form matches.
    FILES.iter().filter(|f| text.contains(f.marker)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_files_under_any_prefix_once() {
        let text = "read $HOME/.ssh/id_rsa, then /home/u/.cursor/mcp.json and .environment";
        let named: Vec<_> = files_named(text).iter().map(|(_, f)| f.path).collect();
        assert_eq!(named, ["~/.ssh/id_rsa", "~/.cursor/mcp.json"]);
    }

    #[test]
    fn recognises_leaked_contents_in_json() {
        let args = serde_json::json!({"a": 1, "sidenote": FILES[0].contents});
        assert_eq!(leaked_in(&args), [&FILES[0]]);
        assert!(leaked_in(&serde_json::json!({"a": "nothing"})).is_empty());
    }

    #[test]
    fn every_marker_is_in_its_file() {
        for file in FILES {
            assert!(file.contents.contains(file.marker), "{}", file.path);
        }
    }
}
