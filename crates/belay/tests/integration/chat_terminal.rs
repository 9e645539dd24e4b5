//! `belay chat` in a real terminal, driven the way a person would: tmux types with
//! `send-keys` and the test reads the screen with `capture-pane`. tmux comes from the
//! system's packages (`scripts/setup` installs it).

use crate::support::*;

/// A tmux server of this test's own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> anyhow::Result<Self> {
        let found = Command::new("tmux").arg("-V").output();
        anyhow::ensure!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is missing: run scripts/setup (it installs tmux from the system's packages)"
        );
        let tmux = Self {
            socket: format!("belay-{name}-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "50",
            command,
        ])?;
        Ok(tmux)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) -> anyhow::Result<()> {
        self.run(&["send-keys", "-t", "t", "-l", text])?;
        self.run(&["send-keys", "-t", "t", "Enter"])?;
        Ok(())
    }

    /// Types `text` literally, then Tab.
    fn type_tab(&self, text: &str) -> anyhow::Result<()> {
        if !text.is_empty() {
            self.run(&["send-keys", "-t", "t", "-l", text])?;
        }
        self.run(&["send-keys", "-t", "t", "Tab"])?;
        Ok(())
    }

    fn screen(&self) -> anyhow::Result<String> {
        self.run(&["capture-pane", "-t", "t", "-p", "-S", "-200"])
    }

    /// Waits until the screen shows `text` (appearing `times` times in all), and returns it.
    fn wait_for(&self, text: &str, times: usize) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen()?;
            if screen.matches(text).count() >= times {
                return Ok(screen);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the session (the console) has ended.
    fn ended(&self) -> bool {
        self.run(&["has-session", "-t", "t"]).is_err()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn a_person_answers_a_form_and_uses_slash_commands_in_a_terminal() -> anyhow::Result<()> {
    let dir = fresh_dir("chat-terminal")?;
    let command = format!(
        "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u AZURE_OPENAI_ENDPOINT BELAY_DATA_DIR={} {} chat stock",
        dir.display(),
        env!("CARGO_BIN_EXE_belay")
    );
    let tmux = Tmux::start("chat", &command)?;
    tmux.wait_for("/help lists the commands", 1)?;
    tmux.type_line("/tools")?;
    tmux.wait_for("stock_headline_sampling", 1)?;

    // Tab completes the command, then the tool's name.
    tmux.run(&["send-keys", "-t", "t", "-l", "/ca"])?;
    tmux.run(&["send-keys", "-t", "t", "Tab"])?;
    tmux.run(&["send-keys", "-t", "t", "-l", "get_stock_p"])?;
    tmux.run(&["send-keys", "-t", "t", "Tab"])?;
    tmux.type_line(r#" {"symbol":"NVDA"}"#)?;
    tmux.wait_for(r#"stock.get_stock_price({"symbol":"NVDA"}) →"#, 1)?;

    // The form of get_investment_advice: answer, a wrong risk level, then good ones.
    tmux.type_line(r#"/call get_investment_advice {"symbol":"TSLA"}"#)?;
    tmux.wait_for("[a]nswer, [d]ecline or [c]ancel?", 1)?;
    tmux.type_line("a")?;
    let screen = tmux.wait_for("Risk level [", 1)?;
    assert!(screen.contains("1) low  2) medium  3) high"), "{screen}");
    tmux.type_line("extreme")?;
    tmux.wait_for("expected one of", 1)?;
    tmux.type_line("low")?;
    tmux.wait_for("Time horizon [", 1)?;
    tmux.type_line("3")?;
    let screen = tmux.wait_for("low risk tolerance", 1)?;
    assert!(screen.contains("stock.get_investment_advice"), "{screen}");

    // Declining the same form: the server says it got no profile.
    tmux.type_line(r#"/call get_investment_advice {"symbol":"AAPL"}"#)?;
    tmux.wait_for("[a]nswer, [d]ecline or [c]ancel?", 2)?;
    tmux.type_line("d")?;
    tmux.wait_for("not personalised", 1)?;

    // What a server says cannot drive the terminal: the unknown ticker the server echoes
    // holds an escape sequence that would retitle the window; it is shown, not obeyed.
    tmux.type_line(r#"/call get_stock_price {"symbol":"\u001b]2;pwned\u0007"}"#)?;
    let screen = tmux.wait_for("Unknown ticker", 1)?;
    assert!(screen.contains(r"\u{1b}]2;"), "{screen}");
    let title = tmux.run(&["display-message", "-p", "-t", "t", "#{pane_title}"])?;
    assert!(
        !title.to_lowercase().contains("pwned"),
        "the server retitled the terminal: {title}"
    );

    // A line for the model without one says how to configure it; unknown commands are named.
    tmux.type_line("what is AAPL at?")?;
    tmux.wait_for("no model configured", 2)?;
    tmux.type_line("/nope")?;
    tmux.wait_for("unknown command `/nope`", 1)?;

    tmux.type_line("/quit")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !tmux.ended() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "/quit did not end the console"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The lines typed at the prompt are kept for the next run, the form's answers are not.
    let history_file = dir.join("chat_history");
    // What the person typed is theirs: no other local user may read it.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&history_file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "history file mode {mode:o}");
    }
    let history = std::fs::read_to_string(&history_file)?;
    assert!(
        history.contains("/tools") && history.contains("/quit"),
        "{history}"
    );
    assert!(!history.lines().any(|l| l == "extreme"), "{history}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn tab_completes_prompt_arguments_through_the_server() -> anyhow::Result<()> {
    let dir = fresh_dir("chat-complete")?;
    let command = format!(
        "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u AZURE_OPENAI_ENDPOINT BELAY_DATA_DIR={} {} chat stock",
        dir.display(),
        env!("CARGO_BIN_EXE_belay")
    );
    let tmux = Tmux::start("complete", &command)?;
    tmux.wait_for("/help lists the commands", 1)?;
    // The argument's name from the prompt's list, its value from the server's
    // completion/complete (NV has one ticker), then the period given the symbol.
    tmux.type_tab("/prompt stock_analysis_prompt sy")?;
    tmux.wait_for("stock_analysis_prompt symbol=", 1)?;
    tmux.type_tab("NV")?;
    tmux.wait_for("symbol=NVDA", 1)?;
    tmux.type_tab(" period=3")?;
    tmux.wait_for("period=3mo", 1)?;
    tmux.type_line("")?;
    let screen = tmux.wait_for("over the last 3mo", 1)?;
    assert!(
        screen.contains("/prompt stock_analysis_prompt symbol=NVDA period=3mo"),
        "{screen}"
    );
    assert!(screen.contains("Analyze NVIDIA"), "{screen}");
    tmux.type_line("/quit")?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn progress_is_drawn_as_a_bar_in_a_terminal() -> anyhow::Result<()> {
    let dir = fresh_dir("chat-progress")?;
    let belay = env!("CARGO_BIN_EXE_belay");
    let command = format!(
        "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u AZURE_OPENAI_ENDPOINT BELAY_DATA_DIR={} {belay} chat -- {belay} serve conformance",
        dir.display(),
    );
    let tmux = Tmux::start("progress", &command)?;
    tmux.wait_for("/help lists the commands", 1)?;
    // The call carries a progress token; the server's 0, 50 and 100 of 100 move one bar,
    // left on the screen as it ended, above the call's line.
    tmux.type_line("/call test_tool_with_progress {}")?;
    let screen = tmux.wait_for("conformance.test_tool_with_progress({}) →", 1)?;
    let bar = screen
        .lines()
        .find(|l| l.contains("conformance [") && l.contains('%'))
        .ok_or_else(|| anyhow::anyhow!("no progress bar on the screen:\n{screen}"))?;
    assert!(bar.contains("████████████████████] 100% Complete"), "{bar}");
    // One bar for the call, not one line per notification.
    assert_eq!(screen.matches("conformance [").count(), 1, "{screen}");
    tmux.type_line("/quit")?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
