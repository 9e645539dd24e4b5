//! The `belay` command; everything lives in the library so tests can drive it.

fn main() -> std::process::ExitCode {
    belay::main()
}
