//! `volga build`: compiles a guest folder into a pipeline component.
//!
//! The language is detected from the folder: `Cargo.toml` is Rust, `pyproject.toml` or `app.py`
//! is Python. A Rust guest is built with the `wasm32-wasip2` rustup target when it is
//! installed, else with the offline toolchain ([`crate::toolchain`]);
//! `VOLGA_GUEST_TOOLCHAIN=rustup|offline` forces one route. A Python guest is built with
//! componentize-py ([`python`]), a JavaScript guest (`package.json`) with jco ([`js`]), both
//! against the SDK and WIT this binary carries.

mod js;
mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

use crate::toolchain::{OfflineToolchain, ToolchainError};

/// A guest that could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The folder is not a guest Volga can build.
    #[error("{dir}: {message}")]
    NotAGuest {
        /// The folder.
        dir: String,
        /// Why.
        message: String,
    },
    /// The toolchain is not available.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// The compiler failed.
    #[error("building {dir} failed ({status}); the compiler said:\n{output}")]
    Compile {
        /// The folder.
        dir: String,
        /// The exit status.
        status: String,
        /// The compiler's last lines.
        output: String,
    },
    /// The output could not be written.
    #[error("cannot write {path}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How a guest was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Rust, with the rustup `wasm32-wasip2` target.
    Rustup,
    /// Rust, with Debian's compiler and `-Zbuild-std`.
    Offline,
    /// Python, with componentize-py.
    ComponentizePy,
    /// JavaScript, with jco / componentize-js.
    ComponentizeJs,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Rustup => "Rust, rustup wasm32-wasip2 target",
            Route::Offline => "Rust, offline toolchain",
            Route::ComponentizePy => "Python, componentize-py",
            Route::ComponentizeJs => "JavaScript, jco componentize",
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_wit_file_is_carried() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".wit"))
            .collect();
        files.sort();
        assert_eq!(files, super::WIT.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>());
    }
}

/// The language of a guest folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// A crate: `Cargo.toml`.
    Rust,
    /// `pyproject.toml` or `app.py`.
    Python,
    /// `package.json`.
    JavaScript,
}

/// The language of the guest in `dir`, from the files it holds.
pub fn detect_language(dir: &Path) -> Option<Language> {
    if dir.join("Cargo.toml").exists() {
        Some(Language::Rust)
    } else if dir.join("pyproject.toml").exists() || dir.join("app.py").exists() {
        Some(Language::Python)
    } else if dir.join("package.json").exists() {
        Some(Language::JavaScript)
    } else {
        None
    }
}

/// The result of a build.
#[derive(Clone, Debug)]
pub struct BuildReport {
    /// The component written.
    pub output: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The route taken.
    pub route: Route,
}

/// Builds the guest in `dir` into the component `output`, caching toolchains and build
/// artifacts under `cache`, reporting steps to `log`.
pub fn build_guest(
    dir: &Path,
    output: &Path,
    cache: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<BuildReport, BuildError> {
    let not_a_guest =
        |message: &str| BuildError::NotAGuest { dir: dir.display().to_string(), message: message.into() };
    match detect_language(dir) {
        Some(Language::Rust) => build_rust(dir, output, cache, log),
        Some(Language::Python) => python::build(dir, output, cache, log),
        Some(Language::JavaScript) => js::build(dir, output, cache, log),
        None => Err(not_a_guest(
            "no guest here: a Rust crate (Cargo.toml), a Python project (pyproject.toml or app.py) or a JavaScript package (package.json)",
        )),
    }
}

/// The WIT interface's files, carried by the binary for the Python and JavaScript builds.
const WIT: &[(&str, &str)] = &[
    ("guest.wit", include_str!("../../wit/guest.wit")),
    ("pipeline.wit", include_str!("../../wit/pipeline.wit")),
    ("types.wit", include_str!("../../wit/types.wit")),
    ("world.wit", include_str!("../../wit/world.wit")),
];

/// Writes `files` (`(relative path, contents)`) under `root`.
fn write_files(root: &Path, files: &[(&str, &str)]) -> std::io::Result<()> {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// A scratch folder for one build, under the cache.
fn work_dir(cache: &Path, prefix: &str) -> Result<tempfile::TempDir, BuildError> {
    let io = |source| BuildError::Output { path: cache.display().to_string(), source };
    std::fs::create_dir_all(cache).map_err(io)?;
    tempfile::Builder::new().prefix(prefix).tempdir_in(cache).map_err(io)
}

/// The component name a project asks for (dashes and dots become underscores), else the
/// folder's name.
fn component_name(dir: &Path, declared: Option<&str>) -> String {
    let folder = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()));
    declared.map(str::to_string).or(folder).unwrap_or_else(|| "pipeline".into()).replace(['-', '.'], "_")
}

/// Copies a built component to `output`, creating its folder.
fn write_output(built: &Path, output: &Path) -> Result<u64, BuildError> {
    if let Some(parent) = output.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|source| BuildError::Output { path: output.display().to_string(), source })?;
    }
    std::fs::copy(built, output)
        .map_err(|source| BuildError::Output { path: output.display().to_string(), source })
}

/// The last lines of a compiler's error output, without progress lines.
fn compiler_tail(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim_start().starts_with("Compiling")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn build_rust(
    dir: &Path,
    output: &Path,
    cache: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<BuildReport, BuildError> {
    let dir_name = dir.display().to_string();
    let not_a_guest = |message: String| BuildError::NotAGuest { dir: dir_name.clone(), message };
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| not_a_guest(format!("cannot read Cargo.toml: {e}")))?;
    let parsed: toml::Table = text.parse().map_err(|e| not_a_guest(format!("invalid Cargo.toml: {e}")))?;
    let package = parsed
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| not_a_guest("Cargo.toml has no [package] name".into()))?;
    let lib_name = parsed
        .get("lib")
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or(package)
        .replace('-', "_");
    let cdylib = parsed
        .get("lib")
        .and_then(|l| l.get("crate-type"))
        .and_then(|t| t.as_array())
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
    if !cdylib {
        return Err(not_a_guest(
            "the crate must be a cdylib: add `[lib] crate-type = [\"cdylib\"]` to Cargo.toml".into(),
        ));
    }

    let rustup = rustup_target_installed();
    let route = if rustup { Route::Rustup } else { Route::Offline };
    let target_dir = cache.join("guest-target");
    let mut command = if rustup {
        log("building with the rustup wasm32-wasip2 target");
        let mut c = Command::new("cargo");
        c.args(["build", "--release", "--target", "wasm32-wasip2"]);
        c
    } else {
        let toolchain = OfflineToolchain::prepare(cache, log)?;
        log("building with the offline toolchain (std is built from source the first time, ~2 min)");
        let mut c = toolchain.cargo(&cache.join("cargo-home"));
        c.args(["build", "--release", "-Zbuild-std=std,panic_abort", "--target", "wasm32-wasip2"]);
        c
    };
    command
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let result = command.output().map_err(|e| BuildError::Compile {
        dir: dir_name.clone(),
        status: "could not start cargo".into(),
        output: e.to_string(),
    })?;
    if !result.status.success() {
        let output = compiler_tail(&result.stderr);
        return Err(BuildError::Compile { dir: dir_name, status: result.status.to_string(), output });
    }
    let built = target_dir.join("wasm32-wasip2/release").join(format!("{lib_name}.wasm"));
    let bytes = write_output(&built, output)?;
    Ok(BuildReport { output: output.to_path_buf(), bytes, route })
}

/// Whether Rust guests build with the rustup `wasm32-wasip2` target (else the offline route):
/// `VOLGA_GUEST_TOOLCHAIN=rustup|offline`, else whether the target is installed.
fn rustup_target_installed() -> bool {
    match std::env::var("VOLGA_GUEST_TOOLCHAIN").as_deref() {
        Ok("offline") => return false,
        Ok("rustup") => return true,
        _ => {}
    }
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2"))
        .unwrap_or(false)
}
