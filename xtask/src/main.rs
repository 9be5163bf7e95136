//! Build helper: compiles the browser bundle without cargo-leptos (which takes ~26 minutes to
//! install on this toolchain). `cargo run -p xtask -- site [--release]` builds `app` for
//! `wasm32-unknown-unknown` with `hydrate`, runs wasm-bindgen (linked in, at the exact version of
//! the `wasm-bindgen` crate in Cargo.lock), optionally wasm-opt, and copies the stylesheet and
//! public assets into `<target>/site`, the layout the server and leptos' `HydrationScripts` expect.
//! A release build also names the bundle by its content (`sendback.<hash>.{js,wasm,css}`, the
//! name written to `pkg/output-name.txt` for the server) and compresses each file once, here,
//! with brotli (quality 11) and gzip (level 9), so the server sends `.br`/`.gz` files as they are
//! and browsers may cache them for good.

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
    if release {
        let name = hash_and_compress(&pkg)?;
        println!("site built in {} (bundle {name})", site.display());
    } else {
        println!("site built in {} ({OUTPUT_NAME}.wasm: {size} bytes)", site.display());
    }
    Ok(())
}

/// Renames the bundle to `sendback.<hash>.{js,wasm,css}` (the hash of the three files'
/// contents, so any change gives new names), writes that name to `output-name.txt`, writes a
/// brotli and a gzip copy of each, and prints the sizes. Returns the name.
fn hash_and_compress(pkg: &Path) -> Result<String> {
    use sha2::Digest as _;
    let kinds = ["js", "wasm", "css"];
    let mut hasher = sha2::Sha256::new();
    for kind in kinds {
        hasher.update(std::fs::read(pkg.join(format!("{OUTPUT_NAME}.{kind}")))?);
    }
    let digest = hasher.finalize();
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let name = format!("{OUTPUT_NAME}.{hash}");
    for kind in kinds {
        let from = pkg.join(format!("{OUTPUT_NAME}.{kind}"));
        let to = pkg.join(format!("{name}.{kind}"));
        std::fs::rename(&from, &to)?;
        let raw = std::fs::read(&to)?;
        let br = brotli_11(&raw)?;
        let gz = gzip_9(&raw)?;
        std::fs::write(pkg.join(format!("{name}.{kind}.br")), &br)?;
        std::fs::write(pkg.join(format!("{name}.{kind}.gz")), &gz)?;
        println!("  {name}.{kind}: {} bytes, brotli {} bytes, gzip {} bytes", raw.len(), br.len(), gz.len());
    }
    std::fs::write(pkg.join("output-name.txt"), format!("{name}\n"))?;
    Ok(name)
}

fn brotli_11(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
    brotli::BrotliCompress(&mut std::io::Cursor::new(data), &mut out, &params)?;
    Ok(out)
}

fn gzip_9(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
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
