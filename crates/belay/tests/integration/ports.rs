//! A port another program holds: every command that listens says so once, naming the
//! address and what to do, and exits non-zero.

use crate::support::*;

#[test]
fn a_taken_port_is_reported_once_with_what_to_do() -> anyhow::Result<()> {
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = holder.local_addr()?.port().to_string();
    let address = format!("127.0.0.1:{port}");
    let data = fresh_dir("taken-port")?;
    let data_dir = data.display().to_string();
    let config = data.join("belay.toml");
    std::fs::write(&config, "[gateway]\n")?;
    let config = config.display().to_string();
    let runs: [&[&str]; 5] = [
        &["serve", "stock", "--transport", "http", "--port", &port],
        &["serve", "stock", "--transport", "sse", "--port", &port],
        &["up", "--port", &port, "--data-dir", &data_dir],
        &["auth", "serve", "--port", &port, "--data-dir", &data_dir],
        &[
            "--config",
            &config,
            "gateway",
            "serve",
            "--port",
            &port,
            "--data-dir",
            &data_dir,
        ],
    ];
    for args in runs {
        let mut child = Reaper(
            belay()
                .args(args)
                .env_remove("BELAY_CONFIG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let status = wait_with_timeout(&mut child.0, Duration::from_secs(30));
        let mut stderr = String::new();
        if let Some(mut pipe) = child.0.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr)?;
        }
        let command = args.join(" ");
        assert_eq!(
            status.map(|s| s.success()),
            Some(false),
            "belay {command} should fail at once: {stderr}"
        );
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "belay {command}: {stderr}");
        assert!(
            errors[0].contains(&address)
                && errors[0].contains("another --port")
                && errors[0].contains("--port 0"),
            "belay {command}: {}",
            errors[0]
        );
        assert_eq!(
            stderr.matches("in use").count(),
            1,
            "belay {command} says it more than once: {stderr}"
        );
    }
    drop(holder);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
