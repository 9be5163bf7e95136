//! Build helper: compiles the browser bundle without cargo-leptos (which takes ~26 minutes to
//! install on this toolchain). `cargo run -p xtask -- site [--release]` builds `app` for
//! `wasm32-unknown-unknown` with `hydrate`, runs wasm-bindgen (linked in, at the exact version of
//! the `wasm-bindgen` crate in Cargo.lock), optionally wasm-opt, and copies the stylesheet and
//! public assets into `<target>/site`, the layout the server and leptos' `HydrationScripts` expect.
//! The code of each lazily loaded page (`#[lazy_route]`) is split into a file of its own with
//! `wasm_split_cli_support`, as `cargo leptos --split` does, and a page's first load gets them
//! packed in one file (`first_load`). A release build also puts the bundle
//! in a directory named by its content (`pkg/<hash>/`, the hash written to `pkg/release.txt` for
//! the server) and compresses each file once, here, with brotli (quality 11) and gzip (level 9),
//! so the server sends `.br`/`.gz` files as they are and browsers may cache them for good.

mod first_load;

use std::collections::HashMap;
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
    // Everything is built here, then a release build moves it to `pkg/<hash>/`.
    let stage = if release { site.join("pkg-stage") } else { pkg.clone() };
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    std::fs::create_dir_all(&stage)?;

    // Each lazily loaded page's code (and code only lazily loaded pages share) goes to a file of
    // its own; the rest, the main module, goes through wasm-bindgen.
    let input = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let main_wasm = target.join("wasm32-unknown-unknown").join(profile_dir).join("app_split.wasm");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&input);
        opts.output_dir = stage.as_path();
        opts.main_out_path = main_wasm.as_path();
        // The names leptos' `HydrationScripts` expects without cargo-leptos's file hashing:
        // the directory is named by its content instead (below).
        opts.main_module = MAIN_MODULE;
        opts.link_name = SPLIT_LOADER;
        opts
    })
    .map_err(|e| anyhow::anyhow!("splitting the wasm: {e:?}"))?;

    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&main_wasm)
        .out_name(OUTPUT_NAME)
        .web(true)?
        .typescript(false)
        .keep_lld_exports(true)
        .demangle(false)
        .keep_debug(!release)
        .generate(&stage)
        .with_context(|| format!("running wasm-bindgen on {}", main_wasm.display()))?;
    // leptos' HydrationScripts loads `<name>.wasm` when LEPTOS_OUTPUT_NAME is set at compile time.
    std::fs::rename(stage.join(format!("{OUTPUT_NAME}_bg.wasm")), stage.join(format!("{OUTPUT_NAME}.wasm")))?;

    if release {
        wasm_opt(&root, &files_with_extension(&stage, "wasm")?)?;
    }
    first_load::bundle_first_loads(&stage, SPLIT_LOADER, &split.prefetch_map)?;

    std::fs::copy(root.join("style/main.css"), stage.join(format!("{OUTPUT_NAME}.css")))
        .context("copying style/main.css")?;
    copy_dir(&root.join("public"), &site)?;

    if release {
        let dir = hash_and_compress(&stage, &pkg, &split.prefetch_map)?;
        println!("site built in {} (bundle pkg/{dir})", site.display());
    } else {
        let size = std::fs::metadata(stage.join(format!("{OUTPUT_NAME}.wasm")))?.len();
        println!(
            "site built in {} ({OUTPUT_NAME}.wasm: {size} bytes, {} split files)",
            site.display(),
            split.split_modules.len()
        );
    }
    Ok(())
}

/// The main module's script, as the split loader imports it.
const MAIN_MODULE: &str = "./sendback.js";
/// The split loader's name, as leptos' `HydrationScripts` preloads it when files are not hashed.
const SPLIT_LOADER: &str = "./__wasm_split.______________________.js";

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Moves the bundle built in `stage` to `pkg/<hash>/` (the hash of every file's name and
/// content, so any change gives a new directory and no name is ever reused for other content),
/// writes that hash to `pkg/release.txt` for the server, writes a brotli and a gzip copy of each
/// script, WebAssembly file and stylesheet, and prints the sizes: of each file, and of what a
/// first page of each split point downloads (`groups`: the split's files by name, without
/// `.wasm`). Returns the hash.
fn hash_and_compress(stage: &Path, pkg: &Path, groups: &HashMap<String, Vec<String>>) -> Result<String> {
    use sha2::Digest as _;
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(stage)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.sort();
    let mut hasher = sha2::Sha256::new();
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        let data = std::fs::read(file)?;
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(&data);
    }
    let hash: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let dir = pkg.join(&hash);
    std::fs::create_dir_all(pkg)?;
    std::fs::rename(stage, &dir)?;
    // (files, raw bytes, brotli bytes) of all files and of the shared chunks; first loads'
    // bundles are counted apart, as they repeat the other files.
    let (mut all, mut chunks) = ((0, 0, 0), (0, 0, 0));
    let mut sizes = HashMap::new();
    for file in files.iter().filter_map(|f| f.file_name()) {
        let path = dir.join(file);
        let name = file.to_string_lossy();
        if !(name.ends_with(".js") || name.ends_with(".wasm") || name.ends_with(".css")) {
            continue;
        }
        let raw = std::fs::read(&path)?;
        let br = brotli_11(&raw)?;
        let gz = gzip_9(&raw)?;
        std::fs::write(dir.join(format!("{name}.br")), &br)?;
        sizes.insert(name.to_string(), (raw.len(), br.len()));
        std::fs::write(dir.join(format!("{name}.gz")), &gz)?;
        if name.starts_with("bundle_") {
            continue;
        }
        for total in [&mut all].into_iter().chain(name.starts_with("chunk_").then_some(&mut chunks)) {
            *total = (total.0 + 1, total.1 + raw.len(), total.2 + br.len());
        }
        if !name.starts_with("chunk_") {
            println!("  {name}: {} bytes, brotli {} bytes, gzip {} bytes", raw.len(), br.len(), gz.len());
        }
    }
    println!(
        "  chunk_*.wasm (code pages share): {} files, {} bytes, brotli {} bytes",
        chunks.0, chunks.1, chunks.2
    );
    println!("  all {} files (without the bundles): {} bytes, brotli {} bytes", all.0, all.1, all.2);
    print_first_pages(&sizes, groups);
    std::fs::write(pkg.join("release.txt"), format!("{hash}\n"))?;
    Ok(hash)
}

/// What the first page of each split point downloads, brotli: the shell (the main module, its
/// script, the stylesheet, the split loader) plus the split's bundle; and, for comparison, what
/// the split's files weigh one by one (`sizes`: raw and brotli bytes by file name).
fn print_first_pages(sizes: &HashMap<String, (usize, usize)>, groups: &HashMap<String, Vec<String>>) {
    let is_split = |name: &str| ["split_", "chunk_", "bundle_"].iter().any(|p| name.starts_with(p));
    let (mut shell, mut shell_files) = (0, 0);
    for (_, (_, size)) in sizes.iter().filter(|(name, _)| !is_split(name)) {
        (shell, shell_files) = (shell + size, shell_files + 1);
    }
    println!(
        "  first page of each split point (the shell: {shell_files} files, {shell} bytes brotli; plus the split's bundle):"
    );
    let mut groups: Vec<_> = groups.iter().collect();
    groups.sort();
    for (group, files) in groups {
        let (raw, bundle) = sizes.get(&format!("bundle_{group}.wasm")).copied().unwrap_or_default();
        let apart: usize = files.iter().filter_map(|f| sizes.get(&format!("{f}.wasm"))).map(|s| s.1).sum();
        // The splitter names a split point `<name>_<hash of where it is>`.
        let name = group.rsplit_once('_').filter(|(_, hash)| hash.bytes().all(|b| b.is_ascii_digit()));
        let name = name.map_or(group.as_str(), |(name, _)| name);
        println!(
            "    {name}: {} bytes brotli (bundle {raw} bytes, brotli {bundle}; its {} files apart: {apart})",
            shell + bundle,
            files.len()
        );
    }
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

/// Shrinks the release wasm files with binaryen's wasm-opt: `$WASM_OPT`, the npm copy under
/// `end2end/node_modules`, or one on PATH. Debian's binaryen 108 is refused: its output breaks
/// hydration.
fn wasm_opt(root: &Path, files: &[PathBuf]) -> Result<()> {
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
    for wasm in files {
        let status = Command::new(&program)
            .arg(wasm)
            .args(["-Oz", "-o"])
            .arg(wasm)
            .args([
                // The names section: wasm-bindgen leaves one in the split modules, which only
                // debugging needs.
                "--strip-debug",
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
            bail!("wasm-opt failed on {}", wasm.display());
        }
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
