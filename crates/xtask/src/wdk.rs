//! The windows-drivers-rs crates as the project names them: every `wdk_sys::`, `wdk::`,
//! `wdk_build::`, `wdk_panic::` and `wdk_alloc::` path in the project's sources (and the
//! wdk-build tasks and variables `Makefile.toml` relies on) must exist in those crates at the
//! versions `Cargo.lock` pins.
//!
//! wdk-sys cannot be built here: its build script runs bindgen over the WDK's headers. So each
//! path is decided one of three ways.
//!
//! 1. **source**: what the crates write by hand (modules, functions, types, macros, re-exports,
//!    and the `$crate::` paths a macro expands to) is looked up in their source text in the
//!    cargo registry (`cargo fetch --locked` first if a version is missing), following `pub use`
//!    re-exports, with the `#[cfg]` gates on the way checked against the driver's
//!    `driver-type` (wdk-build turns it into `driver_model__driver_type`).
//! 2. **header**: what bindgen generates (a module that `include!`s a file from wdk-sys's
//!    `OUT_DIR`) is looked up in the mingw-w64 DDK headers (`/usr/share/mingw-w64/include`,
//!    Debian's mingw-w64-common): an independent stand-in for the WDK's, not the WDK itself. The
//!    headers searched are those wdk-build hands bindgen for a WDM driver (`ntifs.h`, `ntddk.h`,
//!    `ntstrsafe.h`) and what they include; the name must have the kind the generated file holds
//!    (`types.rs`: a struct/union/enum tag or typedef; `constants.rs`: an object-like `#define`
//!    or a variable; `ntddk.rs`: a function declaration; `_ENUM::Name`: an enumerator of that
//!    enum, since wdk-build generates enums as modules). Names mingw-w64 declares but the WDK's
//!    headers do not, in the configuration wdk-build uses, are refused ([`NOT_IN_WDK`]).
//! 3. **undecided**: what neither settles (a `#define` bindgen may or may not evaluate, a
//!    function mingw-w64 defines inline where the WDK may declare it, ...). [`check`] returns
//!    these, for the README's list of what only a Windows build confirms.
//!
//! Two more tests run with it (`cargo test -p xtask -- --ignored wdk::`, a step of
//! `cargo xtask test`): wrong names (`_ETHREAD`, an enumerator outside its enum module, a KMDF-only
//! module, ...) must be refused, and the `wdk` configuration of portcls-sys, portcls and the
//! driver must pass clippy (`-D warnings`) for both Windows kernel targets in a scratch copy of
//! the workspace (`target/wdk-stand-in`) whose wdk crates are patched to stand-ins declaring
//! what the project names. That compile catches unused or unresolved imports under `wdk`; it
//! says nothing about the WDK's real layouts, which only a Windows build checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates, by the name code uses and the name Cargo.lock uses.
const CRATES: [(&str, &str); 5] = [
    ("wdk", "wdk"),
    ("wdk_sys", "wdk-sys"),
    ("wdk_build", "wdk-build"),
    ("wdk_panic", "wdk-panic"),
    ("wdk_alloc", "wdk-alloc"),
];

/// The mingw-w64 include directory (its `ddk/` holds the kernel headers).
const MINGW_INCLUDE: &str = "/usr/share/mingw-w64/include";

/// The headers wdk-build's bindgen input includes for a WDM driver, in order (wdk-build 0.6.0,
/// `src/lib.rs`, `base_headers`: `vec!["ntifs.h", "ntddk.h", "ntstrsafe.h"]`).
const BASE_HEADERS: [&str; 3] = ["ntifs.h", "ntddk.h", "ntstrsafe.h"];

/// Names the mingw-w64 headers declare but the WDK's, as wdk-build includes them, do not.
pub const NOT_IN_WDK: [(&str, &str); 1] = [(
    "_ETHREAD",
    "ntifs.h defines _NTIFS_INCLUDED_ before it includes ntddk.h, and the WDK's wdm.h then \
     declares `typedef struct _KTHREAD *PETHREAD` (ntifs.h itself: `typedef struct _KTHREAD \
     *PKTHREAD, *PRKTHREAD, *PETHREAD`), so `struct _ETHREAD` is never named and wdk-sys has no \
     `_ETHREAD`; mingw-w64's wdm.h declares `typedef struct _ETHREAD *PETHREAD`",
)];

/// Where the project's sources are searched, relative to the workspace root.
const SOURCE_DIRS: [&str; 2] = ["crates", "driver"];

/// This file names the crates in its own text; it is not a user of them.
const SELF_PATH: &str = "crates/xtask/src/wdk.rs";

/// How deep re-exports and macro expansions are followed.
const MAX_DEPTH: usize = 8;

/// A path into one of the crates, as written in the project.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ItemPath {
    krate: String,
    segments: Vec<String>,
    is_macro: bool,
}

impl ItemPath {
    fn display(&self) -> String {
        let mut text = self.krate.clone();
        for segment in &self.segments {
            text.push_str("::");
            text.push_str(segment);
        }
        if self.is_macro {
            text.push('!');
        }
        text
    }
}

/// A leaf of a use tree: its path, whether it is a macro invocation, and its `as` name.
#[derive(Clone, Debug)]
struct Leaf {
    segments: Vec<String>,
    is_macro: bool,
    alias: Option<String>,
}

/// What a path resolved to.
#[derive(Debug)]
enum Verdict {
    /// Found in hand-written source: where, and what else it names (a macro's `$crate` paths).
    Source { at: String, names: Vec<ItemPath> },
    /// Found in the mingw-w64 headers with the kind the generated file needs.
    Header { at: String },
    /// Neither confirmed nor refuted here.
    Undecided { reason: String },
    /// Does not exist (or not for this driver type).
    Missing { reason: String },
}

/// Runs the check, printing one line per item; returns what could not be decided.
///
/// # Errors
/// If the crate sources cannot be found (or fetched), or any item does not exist.
pub fn check() -> Result<Vec<String>, String> {
    let (root, driver_type, crates, headers) = inputs()?;
    println!(
        "wdk names: {} (Cargo.lock), driver-type {driver_type}; generated names against the \
         mingw-w64 headers {} (with what they include: {} files)",
        crates.summary(),
        BASE_HEADERS.map(|h| format!("ddk/{h}")).join(", "),
        headers.files.len()
    );

    let mut uses: BTreeMap<ItemPath, Vec<String>> = BTreeMap::new();
    let names: Vec<&str> = CRATES.iter().map(|(name, _)| *name).collect();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files)?;
    }
    files.push(root.join("Makefile.toml"));
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file).to_string_lossy();
        if relative == SELF_PATH {
            continue;
        }
        let text = read(file)?;
        for (offset, path) in paths_in(&text, &names) {
            let line = text[..offset].matches('\n').count() + 1;
            uses.entry(path)
                .or_default()
                .push(format!("{relative}:{line}"));
        }
    }

    let context = Context {
        crates: &crates,
        headers: &headers,
        driver_type: &driver_type,
    };
    let mut missing = Vec::new();
    let mut undecided = Vec::new();
    for places in uses.values_mut() {
        places.dedup();
    }
    for (path, places) in &uses {
        let mut shown = places
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if places.len() > 3 {
            let _ = write!(shown, " and {} more", places.len() - 3);
        }
        report(
            &context,
            path,
            &format!("({shown})"),
            0,
            &mut missing,
            &mut undecided,
        );
    }
    makefile(&root, &crates, &mut missing)?;

    println!(
        "wdk names: {} paths, {} missing, {} undecided",
        uses.len(),
        missing.len(),
        undecided.len()
    );
    if missing.is_empty() {
        Ok(undecided)
    } else {
        Err(format!("not in the locked crates: {}", missing.join("; ")))
    }
}

/// The workspace root, the driver's type, the locked crates' sources and the header set.
fn inputs() -> Result<(PathBuf, String, Crates, Headers), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .map_err(|e| format!("workspace root: {e}"))?;
    let driver_type = driver_type(&root)?;
    let crates = Crates::locate(&root)?;
    let headers = Headers::load()?;
    Ok((root, driver_type, crates, headers))
}

/// The registry source directory of the locked version of one of the wdk crates, by the name
/// code uses for it (`wdk_build`, `wdk_sys`, ...), fetched first if it is missing.
pub(crate) fn locked_source(name: &str) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crates = Crates::locate(&root)?;
    crates
        .get(name)
        .map(|krate| krate.dir.clone())
        .ok_or_else(|| format!("{name} is not one of the wdk crates"))
}

/// What resolution needs.
struct Context<'a> {
    crates: &'a Crates,
    headers: &'a Headers,
    driver_type: &'a str,
}

/// Resolves `path`, prints its line (and those of what it names), and files the outcome.
fn report(
    context: &Context<'_>,
    path: &ItemPath,
    used_at: &str,
    depth: usize,
    missing: &mut Vec<String>,
    undecided: &mut Vec<String>,
) {
    let indent = "  ".repeat(depth + 1);
    match resolve(context, path) {
        Verdict::Source { at, names } => {
            println!("{indent}[source] {} {used_at}: {at}", path.display());
            for named in names {
                if depth < MAX_DEPTH {
                    report(
                        context,
                        &named,
                        &format!("(named by {})", path.display()),
                        depth + 1,
                        missing,
                        undecided,
                    );
                }
            }
        }
        Verdict::Header { at } => println!("{indent}[header] {} {used_at}: {at}", path.display()),
        Verdict::Undecided { reason } => {
            println!("{indent}[undecided] {} {used_at}: {reason}", path.display());
            undecided.push(format!("`{}`: {reason}", path.display()));
        }
        Verdict::Missing { reason } => {
            println!("{indent}[MISSING] {} {used_at}: {reason}", path.display());
            missing.push(format!("{}: {reason}", path.display()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The locked crates and their sources
// ---------------------------------------------------------------------------------------------

/// One crate's source at its locked version.
struct CrateSource {
    name: &'static str,
    package: &'static str,
    version: String,
    dir: PathBuf,
}

/// The five crates' sources.
struct Crates(Vec<CrateSource>);

impl Crates {
    /// Finds the locked versions' sources in the cargo registry, fetching them if missing.
    fn locate(root: &Path) -> Result<Self, String> {
        let lock = read(&root.join("Cargo.lock"))?;
        let versions = locked_versions(&lock);
        let mut wanted = Vec::new();
        for (name, package) in CRATES {
            match versions.get(package).map(Vec::as_slice) {
                Some([version]) => wanted.push((name, package, version.clone())),
                Some(several) => {
                    return Err(format!(
                        "Cargo.lock holds {package} at {} versions ({}); expected one",
                        several.len(),
                        several.join(", ")
                    ));
                }
                None => return Err(format!("Cargo.lock does not hold {package}")),
            }
        }
        let find = |wanted: &[(&'static str, &'static str, String)]| {
            wanted
                .iter()
                .map(|(name, package, version)| {
                    registry_source(package, version).map(|dir| CrateSource {
                        name,
                        package,
                        version: version.clone(),
                        dir,
                    })
                })
                .collect::<Option<Vec<_>>>()
        };
        if let Some(found) = find(&wanted) {
            return Ok(Self(found));
        }
        println!("wdk names: fetching the locked sources (cargo fetch --locked)");
        let status = Command::new("cargo")
            .args(["fetch", "--locked"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo fetch: {e}"))?;
        if !status.success() {
            return Err("cargo fetch --locked failed".to_owned());
        }
        find(&wanted).map(Self).ok_or_else(|| {
            format!(
                "after cargo fetch, no registry source for {}",
                wanted
                    .iter()
                    .map(|(_, package, version)| format!("{package} {version}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    fn get(&self, name: &str) -> Option<&CrateSource> {
        self.0.iter().find(|c| c.name == name)
    }

    fn summary(&self) -> String {
        self.0
            .iter()
            .map(|c| format!("{} {}", c.package, c.version))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Versions per package name in a Cargo.lock.
fn locked_versions(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = toml_string(line, "name") {
            name = Some(value);
        } else if let (Some(value), Some(package)) = (toml_string(line, "version"), &name) {
            versions.entry(package.clone()).or_default().push(value);
        }
    }
    versions
}

/// `value` of a line `key = "value"`.
fn toml_string(line: &str, key: &str) -> Option<String> {
    let rest = line
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_owned())
}

/// `$CARGO_HOME/registry/src/<index>/<package>-<version>`, if present.
fn registry_source(package: &str, version: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    let indexes = std::fs::read_dir(home.join("registry").join("src")).ok()?;
    indexes
        .filter_map(Result::ok)
        .map(|index| index.path().join(format!("{package}-{version}")))
        .find(|dir| dir.join("Cargo.toml").is_file())
}

/// The driver's `driver-type` (`[package.metadata.wdk.driver-model]` in driver/Cargo.toml).
fn driver_type(root: &Path) -> Result<String, String> {
    let manifest = read(&root.join("driver/Cargo.toml"))?;
    manifest
        .lines()
        .find_map(|line| toml_string(line.trim(), "driver-type"))
        .ok_or_else(|| "driver/Cargo.toml names no driver-type".to_owned())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, skipping `target` directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Paths in Rust text
// ---------------------------------------------------------------------------------------------

fn is_ident_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_ident(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

fn ident_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    end
}

/// Skips whitespace and `//` comments.
fn skip_space(bytes: &[u8], pos: &mut usize) {
    loop {
        while *pos < bytes.len() && bytes[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
        if bytes[*pos..].starts_with(b"//") {
            while *pos < bytes.len() && bytes[*pos] != b'\n' {
                *pos += 1;
            }
        } else {
            return;
        }
    }
}

/// Every path into one of `crates` in `text` (use trees expanded), with its byte offset.
fn paths_in(text: &str, crates: &[&str]) -> Vec<(usize, ItemPath)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident_start(bytes[i]) || (i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b'$'))
        {
            i += 1;
            continue;
        }
        let end = ident_end(bytes, i);
        let word = &text[i..end];
        // `crate::wdk::...`, `super::wdk::...`: a module of this workspace, not the crate.
        let in_a_path = text[..i].ends_with("::");
        if crates.contains(&word) && !in_a_path && bytes[end..].starts_with(b"::") {
            let mut pos = end + 2;
            let mut leaves = Vec::new();
            use_tree(text, &mut pos, &[], &mut leaves, false);
            for leaf in leaves.into_iter().filter(|l| !l.segments.is_empty()) {
                found.push((
                    i,
                    ItemPath {
                        krate: word.to_owned(),
                        segments: leaf.segments,
                        is_macro: leaf.is_macro,
                    },
                ));
            }
            i = pos.max(end);
        } else {
            i = end;
        }
    }
    found
}

/// Parses a use tree (or an expression path) at `pos`, after `prefix::`.
fn use_tree(text: &str, pos: &mut usize, prefix: &[String], out: &mut Vec<Leaf>, grouped: bool) {
    let bytes = text.as_bytes();
    if grouped {
        skip_space(bytes, pos);
    }
    match bytes.get(*pos) {
        Some(b'{') => {
            *pos += 1;
            loop {
                skip_space(bytes, pos);
                match bytes.get(*pos) {
                    None => return,
                    Some(b'}') => {
                        *pos += 1;
                        return;
                    }
                    Some(b',') => *pos += 1,
                    Some(_) => {
                        let before = *pos;
                        use_tree(text, pos, prefix, out, true);
                        if *pos == before {
                            *pos += 1;
                        }
                    }
                }
            }
        }
        Some(b'*') => {
            *pos += 1;
            let mut segments = prefix.to_vec();
            segments.push("*".to_owned());
            out.push(Leaf {
                segments,
                is_macro: false,
                alias: None,
            });
        }
        Some(&b) if is_ident_start(b) => {
            let end = ident_end(bytes, *pos);
            let name = &text[*pos..end];
            *pos = end;
            let mut segments = prefix.to_vec();
            if name != "self" {
                segments.push(name.to_owned());
            }
            if bytes[*pos..].starts_with(b"::") && bytes.get(*pos + 2) != Some(&b'<') {
                *pos += 2;
                use_tree(text, pos, &segments, out, grouped);
                return;
            }
            let is_macro = bytes.get(*pos) == Some(&b'!') && bytes.get(*pos + 1) != Some(&b'=');
            if is_macro {
                *pos += 1;
            }
            let mut after = *pos;
            skip_space(bytes, &mut after);
            let mut alias = None;
            if bytes[after..].starts_with(b"as")
                && bytes.get(after + 2).is_some_and(u8::is_ascii_whitespace)
            {
                after += 2;
                skip_space(bytes, &mut after);
                let end = ident_end(bytes, after);
                alias = Some(text[after..end].to_owned());
                *pos = end;
            }
            out.push(Leaf {
                segments,
                is_macro,
                alias,
            });
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution in the crates' source
// ---------------------------------------------------------------------------------------------

/// A module's text: a file, or the body of an inline `mod name { ... }`.
#[derive(Clone)]
struct Module {
    file: PathBuf,
    /// The whole file (line numbers and attributes are read from it).
    file_text: String,
    /// Where the module's own text starts and ends in `file_text`.
    span: (usize, usize),
    /// Where `mod child;` files live.
    child_dir: PathBuf,
}

impl Module {
    fn root(krate: &CrateSource) -> Result<Self, String> {
        let file = krate.dir.join("src/lib.rs");
        let file_text = read(&file)?;
        let span = (0, file_text.len());
        Ok(Self {
            file,
            file_text,
            span,
            child_dir: krate.dir.join("src"),
        })
    }

    fn text(&self) -> &str {
        &self.file_text[self.span.0..self.span.1]
    }

    /// `file:line` of an offset into [`Module::text`].
    fn place(&self, krate: &CrateSource, offset: usize) -> String {
        let absolute = self.span.0 + offset;
        let line = self.file_text[..absolute].matches('\n').count() + 1;
        let file = self.file.strip_prefix(&krate.dir).unwrap_or(&self.file);
        format!(
            "{}-{}/{}:{line}",
            krate.package,
            krate.version,
            file.display()
        )
    }

    /// The `#[cfg(...)]` attributes on the item starting at `offset` in [`Module::text`].
    fn gates(&self, offset: usize) -> Vec<String> {
        attributes_before(&self.file_text, self.span.0 + offset)
            .into_iter()
            .filter(|a| a.starts_with("#[cfg("))
            .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// The child module `name` (`mod name;` or `mod name { ... }`), with the declaration's
    /// offset.
    fn child(&self, name: &str, public: bool) -> Option<(Self, usize)> {
        let text = self.text();
        let level = top_level(text);
        for offset in word_offsets(text, name).filter(|&o| level[o]) {
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let before: Vec<&str> = text[line_start..offset].split_whitespace().collect();
            let declared = match before.as_slice() {
                ["pub", "mod"] => true,
                ["mod"] => !public,
                _ => false,
            };
            if !declared {
                continue;
            }
            let mut after = offset + name.len();
            skip_space(text.as_bytes(), &mut after);
            match text.as_bytes().get(after) {
                Some(b';') => {
                    let dir = &self.child_dir;
                    let file = [
                        dir.join(format!("{name}.rs")),
                        dir.join(name).join("mod.rs"),
                    ]
                    .into_iter()
                    .find(|f| f.is_file())?;
                    let file_text = std::fs::read_to_string(&file).ok()?;
                    let span = (0, file_text.len());
                    return Some((
                        Self {
                            file,
                            file_text,
                            span,
                            child_dir: dir.join(name),
                        },
                        offset,
                    ));
                }
                Some(b'{') => {
                    let open = self.span.0 + after;
                    let close = matching_brace(&self.file_text, open)?;
                    return Some((
                        Self {
                            file: self.file.clone(),
                            file_text: self.file_text.clone(),
                            span: (open + 1, close),
                            child_dir: self.child_dir.join(name),
                        },
                        offset,
                    ));
                }
                _ => {}
            }
        }
        None
    }

    /// The files this module `include!`s from `OUT_DIR` (generated code).
    fn generated(&self) -> Vec<String> {
        let text = self.text();
        let mut files = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("include!(") {
            let window = &rest[at..rest.len().min(at + 200)];
            if window.contains("env!(\"OUT_DIR\")")
                && let Some(name_at) = window.find("\"/")
            {
                let name = &window[name_at + 2..];
                if let Some(end) = name.find('"') {
                    files.push(name[..end].to_owned());
                }
            }
            rest = &rest[at + 9..];
        }
        files
    }
}

/// Offsets of `word` as a whole identifier in `text`.
fn word_offsets<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let bytes = text.as_bytes();
    text.match_indices(word).map(|(i, _)| i).filter(move |&i| {
        (i == 0 || !is_ident(bytes[i - 1]))
            && bytes.get(i + word.len()).is_none_or(|&b| !is_ident(b))
    })
}

/// For each byte of Rust `text`, whether it is outside every `{ ... }` (string and character
/// literals and comments skipped), i.e. at the module's own level.
fn top_level(text: &str) -> Vec<bool> {
    let bytes = text.as_bytes();
    let mut mask = vec![false; bytes.len()];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        mask[i] = depth == 0;
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                mask[i] = depth == 0;
                i += 1;
            }
            continue;
        }
        if rest.starts_with(b"/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            mask[i..end].fill(depth == 0);
            i = end;
            continue;
        }
        if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(bytes.len(), |e| start + e + close.len());
            mask[i..end].fill(depth == 0);
            i = end;
            continue;
        }
        match bytes[i] {
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(bytes.len());
                mask[i..end].fill(depth == 0);
                i = end;
                continue;
            }
            // A character literal ('{', '\''), not a lifetime ('a).
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                let from = if bytes[i + 1] == b'\\' { i + 3 } else { i + 2 };
                let end = text
                    .get(from..)
                    .and_then(|t| t.find('\''))
                    .map_or(bytes.len(), |e| from + e + 1);
                mask[i..end].fill(depth == 0);
                i = end;
                continue;
            }
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    mask
}

/// The offset of the `}` matching the `{` at `open`.
fn matching_brace(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The attributes (`#[...]`) directly above the line holding `offset`, comments skipped.
fn attributes_before(text: &str, offset: usize) -> Vec<String> {
    let mut end = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut attributes = Vec::new();
    loop {
        let head = text[..end].trim_end();
        if head.is_empty() {
            break;
        }
        let line_start = head.rfind('\n').map_or(0, |i| i + 1);
        if head[line_start..].trim_start().starts_with("//") {
            end = line_start;
            continue;
        }
        if !head.ends_with(']') {
            break;
        }
        let bytes = head.as_bytes();
        let mut depth = 0usize;
        let mut start = None;
        for k in (0..bytes.len()).rev() {
            match bytes[k] {
                b']' => depth += 1,
                b'[' => {
                    depth -= 1;
                    if depth == 0 {
                        if k > 0 && bytes[k - 1] == b'#' {
                            start = Some(k - 1);
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(start) = start else { break };
        attributes.push(head[start..].to_owned());
        end = start;
    }
    attributes
}

/// What a name resolved to inside a crate.
enum Found {
    /// A hand-written item: where, its gates, and what it names (a macro's `$crate` paths).
    Item {
        at: String,
        gates: Vec<String>,
        names: Vec<ItemPath>,
    },
    /// Not hand-written, but the module includes generated code (these files).
    Generated { files: BTreeSet<String> },
    /// Neither.
    Nothing,
}

/// Resolves a path the project writes.
fn resolve(context: &Context<'_>, path: &ItemPath) -> Verdict {
    let Some(krate) = context.crates.get(&path.krate) else {
        return Verdict::Missing {
            reason: format!("{} is not one of the locked crates", path.krate),
        };
    };
    if path.segments.last().is_some_and(|s| s == "*") {
        return Verdict::Undecided {
            reason: "a glob import: the names it brings in are not listed".to_owned(),
        };
    }
    let mut module = match Module::root(krate) {
        Ok(module) => module,
        Err(reason) => return Verdict::Missing { reason },
    };
    let mut gates = Vec::new();
    let (last, modules) = path.segments.split_last().expect("paths are not empty");
    for (i, segment) in modules.iter().enumerate() {
        if let Some((child, offset)) = module.child(segment, true) {
            gates.extend(module.gates(offset));
            module = child;
            continue;
        }
        return match find(context, krate, &module, segment, false, 0) {
            Found::Generated { files } => {
                header_verdict(context, &files, &path.segments[i..], &gates)
            }
            Found::Item { at, .. } => Verdict::Undecided {
                reason: format!("`{segment}` is an item ({at}), not a module, on the way"),
            },
            Found::Nothing => Verdict::Missing {
                reason: format!(
                    "no public module `{segment}` in {}-{}",
                    krate.package, krate.version
                ),
            },
        };
    }
    match find(context, krate, &module, last, path.is_macro, 0) {
        Found::Item {
            at,
            gates: item_gates,
            names,
        } => {
            gates.extend(item_gates);
            match gate_problem(&gates, context.driver_type) {
                Some(reason) => Verdict::Missing { reason },
                None => Verdict::Source {
                    at: with_gates(at, &gates),
                    names,
                },
            }
        }
        Found::Generated { files } => {
            header_verdict(context, &files, std::slice::from_ref(last), &gates)
        }
        Found::Nothing => Verdict::Missing {
            reason: format!(
                "no public {} `{last}` in {}-{}",
                if path.is_macro { "macro" } else { "item" },
                krate.package,
                krate.version
            ),
        },
    }
}

fn with_gates(at: String, gates: &[String]) -> String {
    let mut distinct: Vec<&String> = Vec::new();
    for gate in gates {
        if !distinct.contains(&gate) {
            distinct.push(gate);
        }
    }
    if distinct.is_empty() {
        at
    } else {
        let shown: Vec<&str> = distinct.iter().map(|g| g.as_str()).collect();
        format!("{at} [{}]", shown.join(", "))
    }
}

/// Why gates exclude this driver, if they do.
fn gate_problem(gates: &[String], driver_type: &str) -> Option<String> {
    let wanted = format!("driver_model__driver_type = \"{driver_type}\"");
    gates
        .iter()
        .find(|gate| gate.contains("driver_model__driver_type") && !gate.contains(&wanted))
        .map(|gate| format!("gated by {gate}, which excludes driver-type {driver_type}"))
}

/// Looks `name` up in `module`: a hand-written item, a re-export, or generated code.
fn find(
    context: &Context<'_>,
    krate: &CrateSource,
    module: &Module,
    name: &str,
    is_macro: bool,
    depth: usize,
) -> Found {
    if depth > MAX_DEPTH {
        return Found::Nothing;
    }
    if is_macro && let Some(found) = exported_macro(krate, name) {
        return found;
    }
    let text = module.text();
    let level = top_level(text);
    if !is_macro {
        for offset in word_offsets(text, name).filter(|&o| level[o]) {
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            if is_public_declaration(&text[line_start..offset]) {
                return Found::Item {
                    at: module.place(krate, offset),
                    gates: module.gates(offset),
                    names: Vec::new(),
                };
            }
        }
    }
    // `pub use` statements: an explicit leaf naming `name`, else the globs.
    let mut globs = Vec::new();
    for (offset, leaves) in pub_uses(text) {
        let gates = module.gates(offset);
        for leaf in leaves {
            let Some(exported) = leaf.alias.clone().or_else(|| leaf.segments.last().cloned())
            else {
                continue;
            };
            if exported == "*" {
                globs.push((
                    leaf.segments[..leaf.segments.len() - 1].to_vec(),
                    gates.clone(),
                ));
            } else if exported == name {
                let found = follow(context, krate, module, &leaf.segments, is_macro, depth);
                return match found {
                    Found::Item {
                        at,
                        gates: inner,
                        names,
                    } => Found::Item {
                        at: format!(
                            "{} `pub use {}{}` -> {at}",
                            module.place(krate, offset),
                            leaf.segments.join("::"),
                            leaf.alias.map(|a| format!(" as {a}")).unwrap_or_default()
                        ),
                        gates: gates.into_iter().chain(inner).collect(),
                        names,
                    },
                    other => other,
                };
            }
        }
    }
    let mut generated: BTreeSet<String> = module.generated().into_iter().collect();
    for (glob, gates) in globs {
        let Some(target) = local_module(krate, module, &glob) else {
            continue;
        };
        match find(context, krate, &target, name, is_macro, depth + 1) {
            Found::Item {
                at,
                gates: inner,
                names,
            } => {
                return Found::Item {
                    at,
                    gates: gates.into_iter().chain(inner).collect(),
                    names,
                };
            }
            Found::Generated { files } => generated.extend(files),
            Found::Nothing => {}
        }
    }
    if generated.is_empty() {
        Found::Nothing
    } else {
        Found::Generated { files: generated }
    }
}

/// Whether the text before a name on its line declares it as a public item.
fn is_public_declaration(before: &str) -> bool {
    let words: Vec<&str> = before.split_whitespace().collect();
    let Some((&"pub", rest)) = words.split_first() else {
        return false;
    };
    let Some((&kind, modifiers)) = rest.split_last() else {
        return false;
    };
    let kind_ok = matches!(
        kind,
        "fn" | "struct" | "enum" | "union" | "type" | "const" | "static" | "trait" | "mod"
    ) || (kind == "mut" && modifiers.last() == Some(&"static"));
    kind_ok
        && modifiers.iter().all(|m| {
            matches!(*m, "const" | "unsafe" | "async" | "extern" | "static")
                || (m.starts_with('"') && m.ends_with('"'))
        })
}

/// Every `pub use` statement in `text`: its offset and leaves (full paths).
fn pub_uses(text: &str) -> Vec<(usize, Vec<Leaf>)> {
    let mut statements = Vec::new();
    let level = top_level(text);
    for offset in word_offsets(text, "pub").filter(|&o| level[o]) {
        let rest = &text[offset + 3..];
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("use ") {
            continue;
        }
        let start = offset + 3 + (rest.len() - trimmed.len()) + 4;
        let Some(end) = text[start..].find(';') else {
            continue;
        };
        let statement = &text[start..start + end];
        let mut pos = 0;
        let mut leaves = Vec::new();
        use_tree(statement, &mut pos, &[], &mut leaves, true);
        statements.push((offset, leaves));
    }
    statements
}

/// Resolves a `pub use` path from `module`: in this crate, or in another of the crates.
fn follow(
    context: &Context<'_>,
    krate: &CrateSource,
    module: &Module,
    segments: &[String],
    is_macro: bool,
    depth: usize,
) -> Found {
    let Some((last, modules)) = segments.split_last() else {
        return Found::Nothing;
    };
    if let Some(first) = modules.first()
        && let Some(other) = context.crates.get(first)
        && other.name != krate.name
    {
        let Ok(root) = Module::root(other) else {
            return Found::Nothing;
        };
        let Some(target) = local_module(other, &root, &modules[1..]) else {
            return Found::Nothing;
        };
        return find(context, other, &target, last, is_macro, depth + 1);
    }
    match local_module(krate, module, modules) {
        Some(target) => find(context, krate, &target, last, is_macro, depth + 1),
        None => Found::Nothing,
    }
}

/// The module a relative path (`crate::a`, `self::a`, `a`) names from `module`.
fn local_module(krate: &CrateSource, module: &Module, segments: &[String]) -> Option<Module> {
    let mut current = module.clone();
    for (i, segment) in segments.iter().enumerate() {
        current = match segment.as_str() {
            "crate" if i == 0 => Module::root(krate).ok()?,
            "self" if i == 0 => current,
            _ => current.child(segment, false)?.0,
        };
    }
    Some(current)
}

/// A `#[macro_export] macro_rules! name` anywhere in the crate, with the `$crate::` paths of
/// its body.
fn exported_macro(krate: &CrateSource, name: &str) -> Option<Found> {
    let mut files = Vec::new();
    rust_files(&krate.dir.join("src"), &mut files).ok()?;
    for file in files {
        let text = std::fs::read_to_string(&file).ok()?;
        for offset in word_offsets(&text, name) {
            if !text[..offset].trim_end().ends_with("macro_rules!") {
                continue;
            }
            let macro_at = text[..offset].rfind("macro_rules!")?;
            let attributes = attributes_before(&text, macro_at);
            if !attributes.iter().any(|a| a.contains("macro_export")) {
                continue;
            }
            let open = offset + text[offset..].find('{')?;
            let close = matching_brace(&text, open)?;
            let body = &text[open..close];
            let mut names = Vec::new();
            let mut rest = body;
            while let Some(at) = rest.find("$crate::") {
                let mut pos = at + "$crate::".len();
                let mut leaves = Vec::new();
                use_tree(rest, &mut pos, &[], &mut leaves, false);
                names.extend(leaves.into_iter().map(|leaf| ItemPath {
                    krate: krate.name.to_owned(),
                    segments: leaf.segments,
                    is_macro: leaf.is_macro,
                }));
                rest = &rest[pos..];
            }
            names.sort();
            names.dedup();
            let module = Module {
                file: file.clone(),
                file_text: text.clone(),
                span: (0, text.len()),
                child_dir: PathBuf::new(),
            };
            let gates = attributes
                .iter()
                .filter(|a| a.starts_with("#[cfg("))
                .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            return Some(Found::Item {
                at: format!("{} macro_rules! {name}", module.place(krate, macro_at)),
                gates,
                names,
            });
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Generated names against the mingw-w64 headers
// ---------------------------------------------------------------------------------------------

/// What a generated file holds (wdk-sys 0.5.2 `build.rs`: `generate_types` uses
/// `CodegenConfig::TYPES`, `generate_constants` `CodegenConfig::VARS`, `generate_base` (ntddk.rs)
/// and the API subsets `(TYPES | VARS).complement()`, i.e. functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holds {
    Types,
    Vars,
    Functions,
}

fn holds(file: &str) -> Holds {
    match file {
        "types.rs" => Holds::Types,
        "constants.rs" => Holds::Vars,
        _ => Holds::Functions,
    }
}

/// The kind of a name at one place in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `struct`/`union`/`enum` tag (the keyword's first letter).
    Tag(u8),
    Typedef,
    /// `#define` without parameters; whether its value is a plain literal.
    Define(bool),
    /// `#define name(...)`.
    FunctionMacro,
    FunctionDeclaration,
    InlineFunction,
    /// An enumerator, with the tag of its enum (if it has one).
    Enumerator,
    Variable,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Tag(b's') => "struct tag",
            Kind::Tag(b'u') => "union tag",
            Kind::Tag(_) => "enum tag",
            Kind::Typedef => "typedef",
            Kind::Define(true) => "#define of a literal",
            Kind::Define(false) => "#define",
            Kind::FunctionMacro => "function-like macro",
            Kind::FunctionDeclaration => "function declaration",
            Kind::InlineFunction => "inline function definition",
            Kind::Enumerator => "enumerator",
            Kind::Variable => "variable",
        }
    }
}

/// The header set: (path relative to the include directory, text with comments blanked).
struct Headers {
    files: Vec<(String, String)>,
}

impl Headers {
    fn load() -> Result<Self, String> {
        let include = Path::new(MINGW_INCLUDE);
        if !include.join("ddk").is_dir() {
            return Err(format!(
                "{MINGW_INCLUDE}/ddk not found: install mingw-w64-common (apt-get install \
                 mingw-w64-common)"
            ));
        }
        let mut files = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue: Vec<PathBuf> = BASE_HEADERS
            .iter()
            .map(|h| include.join("ddk").join(h))
            .collect();
        queue.reverse();
        while let Some(file) = queue.pop() {
            if !seen.insert(file.clone()) {
                continue;
            }
            let Ok(raw) = std::fs::read_to_string(&file) else {
                continue;
            };
            let text = blank_comments(&raw);
            let mut includes = Vec::new();
            for line in text.lines() {
                let line = line.trim_start();
                let Some(rest) = line.strip_prefix('#') else {
                    continue;
                };
                let Some(rest) = rest.trim_start().strip_prefix("include") else {
                    continue;
                };
                let rest = rest.trim();
                let name = rest
                    .strip_prefix('<')
                    .and_then(|r| r.split('>').next())
                    .or_else(|| rest.strip_prefix('"').and_then(|r| r.split('"').next()));
                let Some(name) = name else { continue };
                let here = file.parent().unwrap_or(include);
                if let Some(found) = [
                    here.join(name),
                    include.join("ddk").join(name),
                    include.join(name),
                ]
                .into_iter()
                .find(|f| f.is_file())
                {
                    includes.push(found);
                }
            }
            let shown = file
                .strip_prefix(include)
                .unwrap_or(&file)
                .display()
                .to_string();
            files.push((shown, text));
            includes.reverse();
            queue.extend(includes);
        }
        Ok(Self { files })
    }

    /// Every place `name` is declared, with its kind.
    fn kinds(&self, name: &str) -> Vec<(Kind, String)> {
        let mut found = Vec::new();
        for (file, text) in &self.files {
            for offset in word_offsets(text, name) {
                if let Some(kind) = classify(text, offset, name) {
                    let line = text[..offset].matches('\n').count() + 1;
                    found.push((kind, format!("{file}:{line}")));
                }
            }
        }
        found
    }

    /// Whether `enumerator` is declared inside the body of `enum tag`.
    fn enumerator_of(&self, tag: &str, enumerator: &str) -> Option<String> {
        for (file, text) in &self.files {
            for offset in word_offsets(text, enumerator) {
                if classify(text, offset, enumerator) == Some(Kind::Enumerator)
                    && enclosing_tag(text, offset).as_deref() == Some(tag)
                {
                    let line = text[..offset].matches('\n').count() + 1;
                    return Some(format!("{file}:{line}"));
                }
            }
        }
        None
    }
}

/// `text` with C comments replaced by spaces (newlines kept, so line numbers hold).
fn blank_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            out.extend(
                bytes[i..end]
                    .iter()
                    .map(|&b| if b == b'\n' { b'\n' } else { b' ' }),
            );
            i = end;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if bytes[i] == b'"' {
            // Copy string literals whole (they may hold comment markers).
            out.push(b'"');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    out.push(bytes[i]);
                    i += 1;
                }
                out.push(bytes[i]);
                i += 1;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token before `offset` (skipping whitespace): its text and start.
fn token_before(text: &str, offset: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut end = offset;
    while end > 0 && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    if is_ident(bytes[end - 1]) {
        let mut start = end - 1;
        while start > 0 && is_ident(bytes[start - 1]) {
            start -= 1;
        }
        Some((&text[start..end], start))
    } else {
        Some((&text[end - 1..end], end - 1))
    }
}

/// The first non-space byte at or after `offset`, and its offset.
fn byte_after(text: &str, offset: usize) -> Option<(u8, usize)> {
    let bytes = text.as_bytes();
    let mut i = offset;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    bytes.get(i).map(|&b| (b, i))
}

/// The offset of the `(` matching the `)` at `close`, searching backwards.
fn matching_open(text: &str, close: usize, open_byte: u8, close_byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for i in (0..=close).rev() {
        if bytes[i] == close_byte {
            depth += 1;
        } else if bytes[i] == open_byte {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Skips a `DECLSPEC_...(...)`-style group backwards: returns the token before it.
fn before_declspec(text: &str, token: (&str, usize)) -> Option<(String, usize)> {
    let (word, start) = token;
    if word == ")" {
        let open = matching_open(text, start, b'(', b')')?;
        let (name, name_start) = token_before(text, open)?;
        if name.starts_with("DECLSPEC") || name.starts_with("__declspec") {
            return token_before(text, name_start).map(|(t, s)| (t.to_owned(), s));
        }
        return None;
    }
    Some((word.to_owned(), start))
}

/// The tag of the `struct`/`union`/`enum` whose body `{` is at `open`, with the keyword.
fn body_owner(text: &str, open: usize) -> Option<(Option<String>, String, usize)> {
    let before = token_before(text, open)?;
    let (word, start) = before_declspec(text, before)?;
    if matches!(word.as_str(), "struct" | "union" | "enum") {
        return Some((None, word, start));
    }
    if !word.bytes().next().is_some_and(is_ident_start) {
        return None;
    }
    let (keyword, keyword_start) = before_declspec(text, token_before(text, start)?)?;
    matches!(keyword.as_str(), "struct" | "union" | "enum").then_some((
        Some(word),
        keyword,
        keyword_start,
    ))
}

/// The tag of the enum whose body holds `offset`.
fn enclosing_tag(text: &str, offset: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for i in (0..offset).rev() {
        match bytes[i] {
            b'}' => depth += 1,
            b'{' if depth == 0 => {
                let (tag, keyword, _) = body_owner(text, i)?;
                return (keyword == "enum").then_some(tag).flatten();
            }
            b'{' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// What the identifier at `offset` declares, if anything.
fn classify(text: &str, offset: usize, name: &str) -> Option<Kind> {
    let end = offset + name.len();
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_head = text[line_start..offset].trim();
    if let Some(directive) = line_head.strip_prefix('#') {
        if directive.trim() != "define" {
            return None;
        }
        if text.as_bytes().get(end) == Some(&b'(') {
            return Some(Kind::FunctionMacro);
        }
        let value_end = text[end..].find('\n').map_or(text.len(), |e| end + e);
        return Some(Kind::Define(is_literal(&text[end..value_end])));
    }
    let previous = token_before(text, offset)?;
    if let Some((keyword, _)) = before_declspec(text, previous)
        && matches!(keyword.as_str(), "struct" | "union" | "enum")
    {
        return Some(Kind::Tag(keyword.as_bytes()[0]));
    }
    let (next, next_at) = byte_after(text, end)?;
    if matches!(next, b',' | b';' | b'[' | b')' | b'(') && is_typedef_declarator(text, offset) {
        return Some(Kind::Typedef);
    }
    if matches!(next, b'=' | b',' | b'}') && matches!(previous.0, "{" | ",") {
        let open = {
            let bytes = text.as_bytes();
            let mut depth = 0usize;
            (0..offset).rev().find(|&i| match bytes[i] {
                b'}' => {
                    depth += 1;
                    false
                }
                b'{' if depth == 0 => true,
                b'{' => {
                    depth -= 1;
                    false
                }
                _ => false,
            })?
        };
        if body_owner(text, open).is_some_and(|(_, keyword, _)| keyword == "enum") {
            return Some(Kind::Enumerator);
        }
        return None;
    }
    if next == b'(' {
        let (word, _) = previous;
        let declares = word == "*"
            || (word.bytes().next().is_some_and(is_ident_start)
                && !matches!(
                    word,
                    "return" | "if" | "while" | "for" | "switch" | "sizeof" | "defined" | "case"
                ));
        if !declares {
            return None;
        }
        let close = matching_brace_paren(text, next_at)?;
        let mut after = close + 1;
        // Skip trailing annotations such as `__attribute__((...))`.
        for _ in 0..3 {
            let (b, at) = byte_after(text, after)?;
            match b {
                b';' => return Some(Kind::FunctionDeclaration),
                b'{' => return Some(Kind::InlineFunction),
                _ if is_ident_start(b) => {
                    let word_end = ident_end(text.as_bytes(), at);
                    after = match byte_after(text, word_end) {
                        Some((b'(', paren)) => matching_brace_paren(text, paren)? + 1,
                        _ => word_end,
                    };
                }
                _ => return None,
            }
        }
        return None;
    }
    if matches!(next, b';' | b'[') {
        let statement_start = text[..offset].rfind([';', '{', '}']).map_or(0, |i| i + 1);
        if text[statement_start..offset]
            .trim_start()
            .starts_with("extern ")
        {
            return Some(Kind::Variable);
        }
    }
    None
}

/// The offset of the `)` matching the `(` at `open`.
fn matching_brace_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether the identifier at `offset` is a declarator of a `typedef`: walking back over
/// identifiers, `*`, `,` and one `(`, the statement starts with `typedef`, or reaches the `}`
/// closing a `typedef struct/union/enum` body.
fn is_typedef_declarator(text: &str, offset: usize) -> bool {
    let mut at = offset;
    let mut parens = 0;
    for _ in 0..64 {
        let Some((token, start)) = token_before(text, at) else {
            return false;
        };
        match token {
            "typedef" => return true,
            "}" => {
                let Some(open) = matching_open(text, start, b'{', b'}') else {
                    return false;
                };
                return body_owner(text, open).is_some_and(|(_, _, keyword_start)| {
                    token_before(text, keyword_start).is_some_and(|(t, _)| t == "typedef")
                });
            }
            "*" | "," => {}
            "(" if parens == 0 => parens += 1,
            _ if token.bytes().next().is_some_and(is_ident_start) => {}
            _ => return false,
        }
        at = start;
    }
    false
}

/// Whether a `#define` value is a plain integer or string literal (what bindgen's macro
/// evaluation certainly turns into a constant).
fn is_literal(value: &str) -> bool {
    let value = value.trim();
    if value.ends_with('\\') || value.is_empty() {
        return false;
    }
    let mut inner = value;
    while let Some(stripped) = inner.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
        inner = stripped.trim();
    }
    if inner.starts_with('"') && inner.ends_with('"') {
        return true;
    }
    let digits = inner.strip_prefix('-').unwrap_or(inner);
    let digits = digits.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Decides a generated name (`rest`: the path from the module that includes generated code).
fn header_verdict(
    context: &Context<'_>,
    files: &BTreeSet<String>,
    rest: &[String],
    gates: &[String],
) -> Verdict {
    if let Some(reason) = gate_problem(gates, context.driver_type) {
        return Verdict::Missing { reason };
    }
    let generated = files.iter().cloned().collect::<Vec<_>>().join(", ");
    let wants: BTreeSet<_> = files.iter().map(|f| format!("{:?}", holds(f))).collect();
    let headers = context.headers;
    match rest {
        [name] => {
            if let Some((_, why)) = NOT_IN_WDK.iter().find(|(n, _)| n == name) {
                return Verdict::Missing {
                    reason: format!("generated ({generated}), but not in the WDK: {why}"),
                };
            }
            let kinds = headers.kinds(name);
            let fits = |kind: Kind| match kind {
                Kind::Tag(_) | Kind::Typedef => wants.contains("Types"),
                Kind::Define(true) | Kind::Variable => wants.contains("Vars"),
                Kind::FunctionDeclaration => wants.contains("Functions"),
                _ => false,
            };
            if let Some((kind, at)) = kinds.iter().find(|(kind, _)| fits(*kind)) {
                return Verdict::Header {
                    at: format!("generated ({generated}); {} in {at}", kind.describe()),
                };
            }
            let near = |kind: Kind| kinds.iter().find(|(k, _)| *k == kind).map(|(_, at)| at);
            if wants.contains("Vars")
                && let Some(at) = near(Kind::Define(false))
            {
                return Verdict::Undecided {
                    reason: format!(
                        "a #define with a computed value ({at}): wdk-sys has it only if \
                         bindgen evaluates the expression"
                    ),
                };
            }
            if wants.contains("Functions")
                && let Some(at) = near(Kind::InlineFunction)
            {
                return Verdict::Undecided {
                    reason: format!(
                        "mingw-w64 defines it inline ({at}); bindgen generates declarations \
                         only, so wdk-sys has it only if the WDK's headers declare it (not \
                         inline) for the target"
                    ),
                };
            }
            match kinds.first() {
                Some((Kind::Enumerator, at)) => Verdict::Missing {
                    reason: format!(
                        "an enumerator ({at}): wdk-build generates enums as modules \
                         (`default_enum_style(ModuleConsts)`, wdk-build src/bindgen.rs), so \
                         it is `wdk_sys::<enum tag>::{name}`"
                    ),
                },
                Some((kind, at)) => Verdict::Missing {
                    reason: format!(
                        "a {} in {at}, but the generated {generated} holds {}",
                        kind.describe(),
                        wants.into_iter().collect::<Vec<_>>().join("/")
                    ),
                },
                None => Verdict::Missing {
                    reason: format!(
                        "generated ({generated}), and not declared in the mingw-w64 headers"
                    ),
                },
            }
        }
        [tag, member] => {
            let is_enum = headers
                .kinds(tag)
                .into_iter()
                .find(|(kind, _)| *kind == Kind::Tag(b'e'));
            match is_enum {
                None => Verdict::Missing {
                    reason: format!(
                        "no public module `{tag}`, and no enum tag `{tag}` in the mingw-w64 \
                         headers"
                    ),
                },
                Some((_, at)) if member == "Type" => Verdict::Header {
                    at: format!("the type of enum `{tag}` ({at}), as ModuleConsts generates it"),
                },
                Some(_) => headers.enumerator_of(tag, member).map_or_else(
                    || Verdict::Missing {
                        reason: format!("`{member}` is not an enumerator of enum `{tag}`"),
                    },
                    |at| Verdict::Header {
                        at: format!("enumerator of enum `{tag}` in {at}"),
                    },
                ),
            }
        }
        _ => Verdict::Undecided {
            reason: format!("a path into generated code ({generated}) this check cannot follow"),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Makefile.toml against wdk-build's rust-driver-makefile.toml
// ---------------------------------------------------------------------------------------------

/// The wdk-build tasks and variables `Makefile.toml` uses without defining them must exist in
/// the locked wdk-build's `rust-driver-makefile.toml` (or be set by its `cargo_make` module);
/// the tasks it overrides with `clear = true` must exist there too.
fn makefile(root: &Path, crates: &Crates, missing: &mut Vec<String>) -> Result<(), String> {
    let ours = read(&root.join("Makefile.toml"))?;
    let wdk_build = crates.get("wdk_build").expect("wdk_build is in CRATES");
    let theirs_path = wdk_build.dir.join("rust-driver-makefile.toml");
    let theirs = read(&theirs_path)?;
    let cargo_make = read(&wdk_build.dir.join("src/cargo_make.rs"))?;
    let shown = format!(
        "{}-{}/rust-driver-makefile.toml",
        wdk_build.package, wdk_build.version
    );
    let defined = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("[tasks.")?.strip_suffix(']'))
            .map(|name| name.split('.').next().unwrap_or(name).to_owned())
            .collect()
    };
    let our_tasks = defined(&ours);
    let their_tasks = defined(&theirs);

    // The extension's file name is the one wdk-build links.
    let wanted = "RUST_DRIVER_MAKEFILE_NAME: &str = \"rust-driver-makefile.toml\"";
    if ours.contains("target/rust-driver-makefile.toml") && cargo_make.contains(wanted) {
        println!(
            "  [makefile] extends target/rust-driver-makefile.toml: the file wdk-build's load_rust_driver_makefile links"
        );
    } else {
        missing.push(
            "Makefile.toml: the extension is not the file wdk-build links (RUST_DRIVER_MAKEFILE_NAME)"
                .to_owned(),
        );
    }

    let mut used = BTreeSet::new();
    let mut cleared = BTreeSet::new();
    let mut section = String::new();
    for line in ours.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("[tasks.")
            .and_then(|l| l.strip_suffix(']'))
        {
            section = name.to_owned();
        } else if line.starts_with('[') {
            section.clear();
        }
        if line == "clear = true" && !section.is_empty() && !section.contains('.') {
            cleared.insert(section.clone());
        }
        for key in ["run_task", "alias", "dependencies"] {
            if let Some(value) = line.strip_prefix(key).map(str::trim_start)
                && let Some(value) = value.strip_prefix('=')
            {
                used.extend(value.split('"').skip(1).step_by(2).map(str::to_owned));
            }
        }
    }
    for task in used.iter().filter(|t| !our_tasks.contains(*t)) {
        if their_tasks.contains(task) {
            println!("  [makefile] task {task}: {shown}");
        } else {
            println!("  [MISSING] task {task}: not in Makefile.toml nor {shown}");
            missing.push(format!("Makefile.toml task {task}: not in {shown}"));
        }
    }
    for task in &cleared {
        if their_tasks.contains(task) {
            println!("  [makefile] override of task {task} (clear = true): {shown}");
        } else {
            println!("  [MISSING] override of task {task}: {shown} has no such task");
            missing.push(format!(
                "Makefile.toml overrides {task}, which {shown} does not define"
            ));
        }
    }
    let mut variables = BTreeSet::new();
    let mut rest = ours.as_str();
    while let Some(at) = rest.find("WDK_BUILD_") {
        let end = ident_end(rest.as_bytes(), at);
        variables.insert(rest[at..end].to_owned());
        rest = &rest[end..];
    }
    for variable in variables {
        if theirs.contains(&variable) || cargo_make.contains(&format!("\"{variable}\"")) {
            println!("  [makefile] variable {variable}: set by {shown} or its cargo_make module");
        } else {
            println!("  [MISSING] variable {variable}: wdk-build neither sets nor reads it");
            missing.push(format!(
                "Makefile.toml variable {variable}: unknown to wdk-build"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::{Headers, ItemPath, Kind, paths_in};

    /// The check itself, as `cargo xtask test` runs it (it may fetch sources).
    #[test]
    #[ignore = "needs the registry sources and mingw-w64-common: run by cargo xtask test"]
    fn every_wdk_item_exists() {
        match super::check() {
            Ok(undecided) => {
                println!("undecided (for the README):");
                for item in undecided {
                    println!("  - {item}");
                }
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// Names that must be refused (and a few that must pass), so the check is seen to bite:
    /// the first is the `_ETHREAD` km.rs once imported.
    #[test]
    #[ignore = "needs the registry sources and mingw-w64-common: run by cargo xtask test"]
    fn wrong_names_are_refused() {
        use super::{Context, Verdict, inputs, resolve};
        let (_, driver_type, crates, headers) = inputs().expect("inputs");
        let context = Context {
            crates: &crates,
            headers: &headers,
            driver_type: &driver_type,
        };
        let refused = [
            path("wdk_sys", &["_ETHREAD"], false),
            path("wdk_sys", &["ETHREAD"], false),
            path("wdk_sys", &["MmNonCached"], false),
            path("wdk_sys", &["ntddk", "DEVICE_OBJECT"], false),
            path("wdk_sys", &["ntkrnl", "KeGetCurrentIrql"], false),
            path("wdk", &["wdf"], false),
            path("wdk", &["paged_code_typo"], true),
            path("wdk_build", &["configure_wdk_driver_build"], false),
        ];
        let passed = [
            path("wdk_sys", &["_MEMORY_CACHING_TYPE", "MmNonCached"], false),
            path("wdk_sys", &["STATUS_SUCCESS"], false),
            path("wdk_sys", &["NT_SUCCESS"], false),
            path("wdk", &["dbg_break"], false),
        ];
        // Inline in mingw-w64 (and in the WDK): left for a Windows build to say.
        let undecided = path("wdk_sys", &["ntddk", "IoGetCurrentIrpStackLocation"], false);
        let verdict = resolve(&context, &undecided);
        println!("undecided? {}: {verdict:?}", undecided.display());
        assert!(matches!(verdict, Verdict::Undecided { .. }));
        for item in &refused {
            let verdict = resolve(&context, item);
            println!("refused? {}: {verdict:?}", item.display());
            assert!(
                matches!(verdict, Verdict::Missing { .. }),
                "{}",
                item.display()
            );
        }
        for item in &passed {
            let verdict = resolve(&context, item);
            println!("passes? {}: {verdict:?}", item.display());
            assert!(
                matches!(verdict, Verdict::Source { .. } | Verdict::Header { .. }),
                "{}",
                item.display()
            );
        }
    }

    /// The stand-in wdk-sys: only what the project names, with the headers' names and the
    /// shapes bindgen gives them (typedefs as aliases of `_TAG` structs, `extern "C"` callbacks,
    /// enums as `i32`), laid out as the x64 headers (mingw-w64 wdm.h) lay them out. It
    /// type-checks the `wdk` code paths; the WDK's own layouts only a Windows build checks.
    const STAND_IN_WDK_SYS: &str = r#"//! Stand-in for wdk-sys (see crates/xtask/src/wdk.rs).
#![no_std]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, missing_docs)]
use core::ffi::c_void;
pub type PVOID = *mut c_void;
pub type NTSTATUS = i32;
pub type ULONG = u32;
pub type CSHORT = i16;
pub const APC_LEVEL: u32 = 1;
#[repr(C)] pub struct _KTHREAD { _unused: [u8; 0] }
#[repr(C)] pub struct _KINTERRUPT { _unused: [u8; 0] }
pub type PETHREAD = *mut _KTHREAD;
pub type PKINTERRUPT = *mut _KINTERRUPT;
#[repr(C, align(16))]
pub struct _DEVICE_OBJECT {
    pub Type: CSHORT, pub Size: u16, pub ReferenceCount: i32,
    pub DriverObject: *mut _DRIVER_OBJECT, pub NextDevice: *mut _DEVICE_OBJECT,
    pub AttachedDevice: *mut _DEVICE_OBJECT, pub CurrentIrp: *mut _IRP, pub Timer: PVOID,
    pub Flags: ULONG, pub Characteristics: ULONG, pub Vpb: PVOID, pub DeviceExtension: PVOID,
    _rest: [u8; 0x150 - 0x48],
}
pub type DEVICE_OBJECT = _DEVICE_OBJECT;
pub type PDEVICE_OBJECT = *mut _DEVICE_OBJECT;
#[repr(C)] pub struct _IO_INTERRUPT_MESSAGE_INFO { pub UnifiedIrql: u8, pub MessageCount: ULONG, _rest: [u64; 5] }
pub type IO_INTERRUPT_MESSAGE_INFO = _IO_INTERRUPT_MESSAGE_INFO;
pub type PIO_INTERRUPT_MESSAGE_INFO = *mut _IO_INTERRUPT_MESSAGE_INFO;
#[repr(C, align(16))] pub struct _IRP { _data: [u8; 0xD0] }
pub type IRP = _IRP;
pub type PIRP = *mut _IRP;
#[repr(C)] pub struct _IO_STACK_LOCATION { _data: [u64; 9] }
pub type IO_STACK_LOCATION = _IO_STACK_LOCATION;
#[repr(C)] pub struct _MDL { _data: [u64; 6] }
pub type MDL = _MDL;
pub type PMDL = *mut _MDL;
#[repr(C)] pub struct _DMA_OPERATIONS {
    pub Size: ULONG, pub PutDmaAdapter: usize, pub AllocateCommonBuffer: usize,
    pub FreeCommonBuffer: usize, pub AllocateAdapterChannel: usize, pub FlushAdapterBuffers: usize,
    pub FreeAdapterChannel: usize, pub FreeMapRegisters: usize, pub MapTransfer: usize,
    pub GetDmaAlignment: usize, pub ReadDmaCounter: usize, pub GetScatterGatherList: usize,
    pub PutScatterGatherList: usize, pub CalculateScatterGatherList: usize,
    pub BuildScatterGatherList: usize, pub BuildMdlFromScatterGatherList: usize,
    _version3: [usize; 14],
}
pub type DMA_OPERATIONS = _DMA_OPERATIONS;
#[repr(C)] pub struct _DMA_ADAPTER { pub Version: u16, pub Size: u16, pub DmaOperations: *mut _DMA_OPERATIONS }
pub type DMA_ADAPTER = _DMA_ADAPTER;
#[repr(C)] pub struct _SCATTER_GATHER_LIST { pub NumberOfElements: ULONG, pub Reserved: usize, pub Elements: [[u64; 3]; 0] }
pub type SCATTER_GATHER_LIST = _SCATTER_GATHER_LIST;
#[repr(C)] pub struct _KEVENT { _data: [u64; 3] }
pub type KEVENT = _KEVENT;
pub type PKEVENT = *mut _KEVENT;
#[repr(C)] pub struct _OBJECT_ATTRIBUTES { _data: [u64; 6] }
pub type OBJECT_ATTRIBUTES = _OBJECT_ATTRIBUTES;
pub type POBJECT_ATTRIBUTES = *mut _OBJECT_ATTRIBUTES;
#[repr(C)] pub struct _UNICODE_STRING { pub Length: u16, pub MaximumLength: u16, pub Buffer: *mut u16 }
pub type UNICODE_STRING = _UNICODE_STRING;
#[repr(C)] #[derive(Clone, Copy)] pub struct _LARGE_INTEGER__bindgen_ty_1 { pub LowPart: u32, pub HighPart: i32 }
#[repr(C)] pub union _LARGE_INTEGER { pub u: _LARGE_INTEGER__bindgen_ty_1, pub QuadPart: i64 }
pub type LARGE_INTEGER = _LARGE_INTEGER;
#[repr(C)]
pub struct _DEVICE_DESCRIPTION {
    pub Version: ULONG, pub Master: u8, pub ScatterGather: u8, pub DemandMode: u8,
    pub AutoInitialize: u8, pub Dma32BitAddresses: u8, pub IgnoreCount: u8, pub Reserved1: u8,
    pub Dma64BitAddresses: u8, pub BusNumber: ULONG, pub DmaChannel: ULONG,
    pub InterfaceType: i32, pub DmaWidth: i32, pub DmaSpeed: i32, pub MaximumLength: ULONG,
    pub DmaPort: ULONG, pub DmaAddressWidth: ULONG, pub DmaControllerInstance: ULONG,
    pub DmaRequestLine: ULONG, pub DeviceAddress: LARGE_INTEGER,
}
pub type DEVICE_DESCRIPTION = _DEVICE_DESCRIPTION;
#[repr(C)] pub union _IO_DISCONNECT_INTERRUPT_PARAMETERS__bindgen_ty_1 { pub Generic: PVOID, pub InterruptObject: PKINTERRUPT }
#[repr(C)] pub struct _IO_DISCONNECT_INTERRUPT_PARAMETERS { pub Version: ULONG, pub ConnectionContext: _IO_DISCONNECT_INTERRUPT_PARAMETERS__bindgen_ty_1 }
pub type IO_DISCONNECT_INTERRUPT_PARAMETERS = _IO_DISCONNECT_INTERRUPT_PARAMETERS;
#[repr(C)] pub union _POWER_STATE { pub SystemState: i32, pub DeviceState: i32 }
pub type POWER_STATE = _POWER_STATE;
pub type PDRIVER_DISPATCH = Option<unsafe extern "C" fn(*mut _DEVICE_OBJECT, *mut _IRP) -> NTSTATUS>;
#[repr(C)]
pub struct _DRIVER_OBJECT {
    pub Type: CSHORT, pub Size: CSHORT, pub DeviceObject: PDEVICE_OBJECT, pub Flags: ULONG,
    pub DriverStart: PVOID, pub DriverSize: ULONG, pub DriverSection: PVOID,
    pub DriverExtension: PVOID, pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: *mut UNICODE_STRING, pub FastIoDispatch: PVOID,
    pub DriverInit: Option<unsafe extern "C" fn(*mut _DRIVER_OBJECT, *mut UNICODE_STRING) -> NTSTATUS>,
    pub DriverStartIo: Option<unsafe extern "C" fn(*mut _DEVICE_OBJECT, *mut _IRP)>,
    pub DriverUnload: Option<unsafe extern "C" fn(*mut _DRIVER_OBJECT)>,
    pub MajorFunction: [PDRIVER_DISPATCH; 28],
}
pub type DRIVER_OBJECT = _DRIVER_OBJECT;
pub mod ntddk {
    unsafe extern "C" {
        pub fn KeGetCurrentIrql() -> u8;
    }
}
// As wdk-sys 0.5.2 src/lib.rs defines it.
#[macro_export]
#[allow(non_snake_case)]
macro_rules! PAGED_CODE {
    () => {
        debug_assert!(unsafe { $crate::ntddk::KeGetCurrentIrql() <= $crate::APC_LEVEL as u8 });
    };
}
"#;

    /// The other stand-ins: (package, version, dependencies, src/lib.rs).
    const STAND_INS: [(&str, &str, &str, &str); 4] = [
        (
            "wdk",
            "0.5.0",
            "wdk-sys = { path = \"../wdk-sys\" }",
            "#![no_std]\npub use wdk_sys::PAGED_CODE as paged_code;\n",
        ),
        ("wdk-panic", "0.5.0", "", "#![no_std]\n"),
        (
            "wdk-build",
            "0.6.0",
            "",
            "pub fn configure_wdk_binary_build() -> Result<(), String> { Ok(()) }\n",
        ),
        (
            "wdk-alloc",
            "0.4.2",
            "",
            "#![no_std]\npub struct WdkAllocator;\n\
             unsafe impl core::alloc::GlobalAlloc for WdkAllocator {\n\
             unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 { core::ptr::null_mut() }\n\
             unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}\n}\n",
        ),
    ];

    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("create dir");
        for entry in std::fs::read_dir(from)
            .expect("read dir")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" {
                    copy_tree(&path, &to.join(&name));
                }
            } else {
                std::fs::copy(&path, to.join(&name)).expect("copy");
            }
        }
    }

    /// The `wdk` configuration of portcls-sys, portcls and the driver (every `#[cfg(feature =
    /// "wdk")]` line) type-checks and is clippy-clean (`-D warnings`) for both Windows kernel
    /// targets, in a scratch copy of the workspace whose wdk crates are patched to stand-ins.
    /// This is what catches an unused or wrong import under `wdk` without the WDK.
    #[test]
    #[ignore = "builds a scratch workspace for the Windows targets: run by cargo xtask test"]
    fn wdk_code_type_checks_against_stand_ins() {
        // The scratch workspace resolves offline: make sure every locked package is in the
        // cache (the name check's `cargo fetch --locked`, if it has not run yet).
        super::inputs().expect("the locked sources");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("workspace root");
        let scratch = root.join("target/wdk-stand-in");
        for dir in ["crates", "driver", "tests", ".cargo"] {
            let _ = std::fs::remove_dir_all(scratch.join(dir));
            copy_tree(&root.join(dir), &scratch.join(dir));
        }
        for file in ["Cargo.lock", "rust-toolchain.toml", "clippy.toml"] {
            std::fs::copy(root.join(file), scratch.join(file)).expect("copy");
        }
        let mut manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest");
        manifest.push_str("\n[patch.crates-io]\n");
        let mut write = |package: &str, version: &str, dependencies: &str, lib: &str| {
            let dir = scratch.join("stand-ins").join(package);
            std::fs::create_dir_all(dir.join("src")).expect("create dir");
            let cargo_toml = format!(
                "[package]\nname = \"{package}\"\nversion = \"{version}\"\nedition = \
                 \"2024\"\n\n[dependencies]\n{dependencies}\n"
            );
            std::fs::write(dir.join("Cargo.toml"), cargo_toml).expect("write");
            std::fs::write(dir.join("src/lib.rs"), lib).expect("write");
            let _ = writeln!(manifest, "{package} = {{ path = \"stand-ins/{package}\" }}");
        };
        write("wdk-sys", "0.5.2", "", STAND_IN_WDK_SYS);
        for (package, version, dependencies, lib) in STAND_INS {
            write(package, version, dependencies, lib);
        }
        std::fs::write(scratch.join("Cargo.toml"), manifest).expect("write");

        let cargo = |args: &[&str]| {
            println!("stand-in workspace: cargo {}", args.join(" "));
            let status = std::process::Command::new("cargo")
                .args(args)
                .current_dir(&scratch)
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .expect("run cargo");
            assert!(status.success(), "cargo {} failed", args.join(" "));
        };
        let mut update = vec!["update", "--offline"];
        for (_, package) in super::CRATES {
            update.extend(["-p", package]);
        }
        cargo(&update);
        for target in ["x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc"] {
            cargo(&[
                "clippy",
                "--offline",
                "-p",
                "portcls",
                "-p",
                "wavert-sample",
                "--features",
                "wavert-sample/wdk-alloc-2004,portcls/wdk",
                "--target",
                target,
                "--",
                "-D",
                "warnings",
            ]);
        }
    }

    fn path(krate: &str, segments: &[&str], is_macro: bool) -> ItemPath {
        ItemPath {
            krate: krate.to_owned(),
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            is_macro,
        }
    }

    #[test]
    fn use_trees_and_expression_paths_are_expanded() {
        let text = "use wdk_sys::{_KTHREAD as ETHREAD, ntddk::{KeGetCurrentIrql, self}};\n\
                    wdk::paged_code!(); let x = wdk_sys::APC_LEVEL as u8;\n\
                    size_of::<wdk_sys::DRIVER_OBJECT>(); portcls_wdk::x; $wdk::y;";
        let found: Vec<ItemPath> = paths_in(text, &["wdk", "wdk_sys"])
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            found,
            [
                path("wdk_sys", &["_KTHREAD"], false),
                path("wdk_sys", &["ntddk", "KeGetCurrentIrql"], false),
                path("wdk_sys", &["ntddk"], false),
                path("wdk", &["paged_code"], true),
                path("wdk_sys", &["APC_LEVEL"], false),
                path("wdk_sys", &["DRIVER_OBJECT"], false),
            ]
        );
    }

    #[test]
    fn header_kinds_are_told_apart() {
        let text = super::blank_comments(
            "typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD; /* struct _X */\n\
             typedef struct DECLSPEC_ALIGN(16) _DEVICE_OBJECT {\n  PVOID DeviceExtension;\n\
             } DEVICE_OBJECT, *PDEVICE_OBJECT;\n\
             #define APC_LEVEL 1\n#define STATUS_X ((NTSTATUS)0xC0000001L)\n\
             typedef enum _MEMORY_CACHING_TYPE { MmNonCached = 0, MmCached } MEMORY_CACHING_TYPE;\n\
             NTHALAPI KIRQL NTAPI KeGetCurrentIrql(VOID);\n\
             FORCEINLINE KIRQL KeRaiseIrqlToDpcLevel(VOID) { return KeGetCurrentIrql(); }\n\
             typedef VOID (NTAPI *PDRIVER_UNLOAD)(struct _DRIVER_OBJECT *DriverObject);\n",
        );
        let headers = Headers {
            files: vec![("test.h".to_owned(), text)],
        };
        let kind = |name: &str| {
            headers
                .kinds(name)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(kind("_KTHREAD"), [Kind::Tag(b's')]);
        assert_eq!(kind("PRKTHREAD"), [Kind::Typedef]);
        assert_eq!(kind("_X"), []);
        assert_eq!(kind("_DEVICE_OBJECT"), [Kind::Tag(b's')]);
        assert_eq!(kind("PDEVICE_OBJECT"), [Kind::Typedef]);
        assert_eq!(kind("DeviceExtension"), []);
        assert_eq!(kind("APC_LEVEL"), [Kind::Define(true)]);
        assert_eq!(kind("STATUS_X"), [Kind::Define(false)]);
        assert_eq!(kind("MmCached"), [Kind::Enumerator]);
        assert_eq!(kind("MEMORY_CACHING_TYPE"), [Kind::Typedef]);
        assert_eq!(kind("KeGetCurrentIrql"), [Kind::FunctionDeclaration]);
        assert_eq!(kind("KeRaiseIrqlToDpcLevel"), [Kind::InlineFunction]);
        assert_eq!(kind("PDRIVER_UNLOAD"), [Kind::Typedef]);
        assert_eq!(
            headers.enumerator_of("_MEMORY_CACHING_TYPE", "MmCached"),
            Some("test.h:7".to_owned())
        );
    }
}
