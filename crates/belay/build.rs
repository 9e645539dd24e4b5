//! Links `belay` with `layout/hot.ld`, which puts the functions a server runs on every
//! request next to each other at the start of the code (see the script's header).
//!
//! Why: the kernel maps a binary's code into a process in 64 KiB blocks around each page
//! touched, so hot functions scattered over 25 MB of code cost a block each. Every other
//! function stays where the linker put it, and a name the script no longer matches is
//! simply not moved. Only optimised builds on linux-gnu are laid out: the list is made
//! from an optimised binary, a debug build gains nothing from it, and matching its many
//! sections against the script's patterns made a debug link 12x slower (3 s -> 37 s).
//! `BELAY_NO_LAYOUT=1` turns both off.

use std::{env, path::Path, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=layout/hot.ld");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BELAY_NO_LAYOUT");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let optimised = var("OPT_LEVEL") != "0";
    // `INSERT BEFORE .text` is understood by GNU ld and LLD (rustc's default linker on
    // x86_64 Linux); mold and gold would reject or misread the script.
    let rustflags = var("CARGO_ENCODED_RUSTFLAGS");
    let other_linker = rustflags.contains("mold") || rustflags.contains("gold");
    if !linux_gnu || !optimised || other_linker || env::var_os("BELAY_NO_LAYOUT").is_some() {
        return;
    }
    let script = Path::new(&var("CARGO_MANIFEST_DIR")).join("layout/hot.ld");
    if script.is_file() {
        println!("cargo:rustc-link-arg-bin=belay=-Wl,-T,{}", script.display());
    }
    if var("HOST") == var("TARGET") && host_glibc_has_relr() {
        // Relative relocations packed (DT_RELR): .rela.dyn, read (and so resident) at
        // every start, shrinks from ~0.8 MB to a few KiB. The binary then needs glibc
        // 2.36+, which the glibc it is linked against has, so only there.
        println!("cargo:rustc-link-arg-bin=belay=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc (the one the binary links against) loads DT_RELR (2.36+).
fn host_glibc_has_relr() -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let version = String::from_utf8_lossy(&output.stdout);
    let mut numbers = version
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
