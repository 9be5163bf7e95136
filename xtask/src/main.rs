//! Build helper: compiles the browser bundle without cargo-leptos (which takes ~26 minutes to
//! install on this toolchain). `cargo run -p xtask -- site [--release]` builds `app` for
//! `wasm32-unknown-unknown` with `hydrate`, runs wasm-bindgen (linked in, at the exact version of
//! the `wasm-bindgen` crate in Cargo.lock), optionally wasm-opt, and copies the stylesheet and
//! public assets into `<target>/site`, the layout the server and leptos' `HydrationScripts` expect.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const OUTPUT_NAME: &str = "sendback";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("site") => {
            let release = args.iter().any(|a| a == "--release");
            build_site(release)
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- site [--release]");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root.join(dir) }
        }
        _ => root.join("target"),
    }
}

fn build_site(release: bool) -> Result<()> {
    let root = workspace_root();
    let target = target_dir(&root);
    let (profile, profile_dir) = if release { ("wasm-release", "wasm-release") } else { ("dev", "debug") };

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "app",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--no-default-features",
            "--features",
            "hydrate",
            "--profile",
            profile,
        ])
        .status()
        .context("running cargo for the wasm build")?;
    if !status.success() {
        bail!("the wasm build failed");
    }
    let wasm = target.join("wasm32-unknown-unknown").join(profile_dir).join("app.wasm");

    let site = target.join("site");
    let pkg = site.join("pkg");
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).with_context(|| format!("clearing {}", pkg.display()))?;
    }
    std::fs::create_dir_all(&pkg)?;

    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .out_name(OUTPUT_NAME)
        .web(true)?
        .typescript(false)
        .keep_debug(!release)
        .generate(&pkg)
        .with_context(|| format!("running wasm-bindgen on {}", wasm.display()))?;
    // leptos' HydrationScripts loads `<name>.wasm` when LEPTOS_OUTPUT_NAME is set at compile time.
    let bg = pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let out_wasm = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(&bg, &out_wasm)?;

    if release {
        wasm_opt(&root, &out_wasm)?;
    }

    std::fs::copy(root.join("style/main.css"), pkg.join(format!("{OUTPUT_NAME}.css")))
        .context("copying style/main.css")?;
    copy_dir(&root.join("public"), &site)?;

    let size = std::fs::metadata(&out_wasm)?.len();
    println!("site built in {} ({OUTPUT_NAME}.wasm: {size} bytes)", site.display());
    Ok(())
}

/// Shrinks the release wasm with binaryen's wasm-opt: `$WASM_OPT`, the npm copy under
/// `end2end/node_modules`, or one on PATH. Debian's binaryen 108 is refused: its output breaks
/// hydration.
fn wasm_opt(root: &Path, wasm: &Path) -> Result<()> {
    let local = root.join("end2end/node_modules/.bin/wasm-opt");
    let program = match std::env::var_os("WASM_OPT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ if local.exists() => local,
        _ => PathBuf::from("wasm-opt"),
    };
    let version = Command::new(&program)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} (install it with `make tools`)", program.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    let major: u32 = version.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or(0);
    if major < 116 {
        bail!(
            "{} is `{}`; binaryen 116 or newer is needed (older ones break hydration)",
            program.display(),
            version.trim()
        );
    }
    let status = Command::new(&program)
        .arg(wasm)
        .args(["-Oz", "-o"])
        .arg(wasm)
        .args([
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .status()
        .context("running wasm-opt")?;
    if !status.success() {
        bail!("wasm-opt failed");
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}
