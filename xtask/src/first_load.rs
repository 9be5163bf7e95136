//! A page's first load in one download: for each split point, `bundle_<split>.wasm` holds the
//! split's own module and every chunk it needs, and the split loader reads its modules from it
//! the first time it loads a split.
//!
//! The splitter gives every set of pages that share code a chunk file of its own, so a page's
//! code comes in dozens of small files (Import Rejections: 99), and small files compress badly:
//! brotli learns nothing across files. Packed into one file, the same modules are about 35%
//! smaller. Later pages, opened in the browser, still load only the split and chunk files they
//! lack: the modules an earlier page brought are not downloaded twice.
//!
//! The bundle is `u32` (little-endian) header length, the header (JSON: `[[file name, length],
//! …]`), then the files in the header's order. Leptos preloads what the manifest lists for the
//! page being rendered, so the manifest lists the bundle alone.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The bundle of a split point, as the manifest and the loader name it (without `.wasm`).
fn bundle_name(split: &str) -> String {
    format!("bundle_{split}")
}

/// Writes the bundle of each split point of `groups` (split point → the files, without `.wasm`,
/// it needs: its chunks, then its own module) to `stage`, points leptos' preload manifest at the
/// bundles and teaches the loader (`loader`, in `stage`) to read them.
pub fn bundle_first_loads(stage: &Path, loader: &str, groups: &HashMap<String, Vec<String>>) -> Result<()> {
    let mut manifest = HashMap::new();
    for (split, files) in groups {
        let mut header = Vec::new();
        let mut parts = Vec::new();
        for file in files {
            let name = format!("{file}.wasm");
            let data = std::fs::read(stage.join(&name)).with_context(|| format!("reading {name}"))?;
            header.push((name, data.len()));
            parts.push(data);
        }
        let header = serde_json::to_vec(&header)?;
        let mut bundle = Vec::with_capacity(4 + header.len() + parts.iter().map(Vec::len).sum::<usize>());
        bundle.extend_from_slice(&u32::try_from(header.len())?.to_le_bytes());
        bundle.extend_from_slice(&header);
        parts.iter().for_each(|p| bundle.extend_from_slice(p));
        std::fs::write(stage.join(format!("{}.wasm", bundle_name(split))), bundle)?;
        manifest.insert(split.clone(), vec![bundle_name(split)]);
    }
    std::fs::write(stage.join("__wasm_split_manifest.json"), serde_json::to_string_pretty(&manifest)?)?;

    let path = stage.join(loader);
    let js = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let files: HashSet<&String> = groups.values().flatten().collect();
    std::fs::write(&path, patch_loader(&js, files.len())?)?;
    Ok(())
}

/// How `wasm_split_cli_support` 0.2.4's loader starts a load: its dependencies, then itself.
const LOAD_ORDER: &str = "        const parallelStuff = deps.map(d => d());
        const instantiate = fetcher();
";
/// A split's own file is asked for first, so that the first fetch names the split whose bundle
/// to take.
const OWN_FIRST: &str = "        const instantiate = fetcher();
        const parallelStuff = deps.map(d => d());
";
/// How the loader fetches each file.
const FETCH: &str = "fetch(new URL(";
/// The loader's one import, after which the bundle reader goes.
const IMPORT_END: &str = "\";\n";

/// Reads a split point's files from its bundle the first time the loader loads a split, and
/// from the network otherwise (and whenever the bundle could not be read).
const READ_BUNDLE: &str = r#"
// Added by Sendback's `xtask site`: the first split this page loads comes in one download,
// `bundle_<split>.wasm`, its own module and every chunk it needs (leptos preloads it). A later
// split loads the files it lacks one by one. A failed or unreadable bundle falls back to the files.
let firstLoad;
function fetchPart(url) {
    const name = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
    if (firstLoad === undefined) {
        firstLoad = null;
        if (name.startsWith("split_")) {
            const load = fetch(new URL(`./bundle_${name.slice("split_".length)}`, url)).then(readBundle);
            load.catch(() => { if (firstLoad === load) firstLoad = null; });
            firstLoad = load;
        }
    }
    if (firstLoad === null) return fetch(url);
    return firstLoad.then((parts) => {
        const part = parts.get(name);
        if (part === undefined) return fetch(url);
        // Each part is handed out once; the bundle is freed when all have been.
        parts.delete(name);
        return new Response(part, { headers: { "Content-Type": "application/wasm" } });
    }, () => fetch(url));
}
async function readBundle(response) {
    if (!response.ok) throw new Error(`${response.url}: ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const headerEnd = 4 + new DataView(bytes.buffer).getUint32(0, true);
    const parts = new Map();
    let at = headerEnd;
    for (const [name, length] of JSON.parse(new TextDecoder().decode(bytes.subarray(4, headerEnd)))) {
        parts.set(name, bytes.subarray(at, at + length));
        at += length;
    }
    if (at !== bytes.length) throw new Error(`${response.url}: ${bytes.length} bytes, not ${at}`);
    return parts;
}
"#;

/// The loader, made to read bundles: each of its `files` fetches goes through `fetchPart`, and
/// a load asks for its own file before its chunks'. Fails if the loader is not the one this
/// was written for (another `wasm_split_cli_support`).
fn patch_loader(js: &str, files: usize) -> Result<String> {
    let uses = |pattern: &str| js.matches(pattern).count();
    if uses(LOAD_ORDER) != 1 || uses(FETCH) != files {
        bail!(
            "the split loader is not the one `xtask site` knows ({} load orders, {} fetches of {files} files)",
            uses(LOAD_ORDER),
            uses(FETCH)
        );
    }
    let js = js.replacen(LOAD_ORDER, OWN_FIRST, 1).replace(FETCH, "fetchPart(new URL(");
    let Some((import, rest)) = js.split_once(IMPORT_END) else {
        bail!("the split loader has no import");
    };
    Ok(format!("{import}{IMPORT_END}{READ_BUNDLE}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOADER: &str = "import { initSync } from \"./sendback.js\";

function makeLoad(fetcher, deps) {
    const loader = async () => {
        const parallelStuff = deps.map(d => d());
        const instantiate = fetcher();
        await Promise.all(parallelStuff);
    };
}
const __chunk_1 = makeLoad(() => { const src = fetch(new URL(\"./chunk_1.wasm\", import.meta.url)); }, []);
export const __wasm_split_load_a = wrapAsyncCb(makeLoad(() => { const src = fetch(new URL(\"./split_a.wasm\", import.meta.url)); }, [__chunk_1]));
";

    #[test]
    fn the_loader_reads_bundles_and_asks_for_a_splits_own_file_first() {
        let js = patch_loader(LOADER, 2).unwrap();
        assert!(js.starts_with("import { initSync } from \"./sendback.js\";\n\n// Added by Sendback"));
        assert!(js.contains(OWN_FIRST));
        assert!(!js.contains(LOAD_ORDER));
        assert_eq!(js.matches("fetchPart(new URL(\"./").count(), 2);
        assert_eq!(js.matches(" fetch(new URL(\"./").count(), 0);
    }

    #[test]
    fn another_loader_is_refused() {
        assert!(patch_loader(LOADER, 3).is_err());
        assert!(patch_loader(&LOADER.replace("const instantiate", "let instantiate"), 2).is_err());
    }
}
