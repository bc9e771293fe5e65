//! The offline route for building Rust guests when the `wasm32-wasip2` rustup target cannot be
//! installed: Debian's `rustc-web` compiler with its library source, building `std` for the
//! wasm target from source (`-Zbuild-std`), linked with the linkers of the host's rustup
//! toolchain. Prepared once into the cache folder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// The Debian version of the compiler packages; compiler and library source must match exactly.
pub const RUST_WEB_VERSION: &str = "1.96.0+dfsg1-1~deb12u2";

/// Packages at [`RUST_WEB_VERSION`].
const RUST_PACKAGES: &[&str] =
    &["rustc-web", "cargo-web", "libstd-rust-web-1.96", "libstd-rust-web-dev", "rust-web-src"];
/// Libraries those link against, and the WASI libc, at the distribution's versions.
const SUPPORT_PACKAGES: &[&str] = &[
    "libllvm22",
    "libgit2-1.5",
    "libmbedtls14",
    "libmbedx509-1",
    "libmbedcrypto7",
    "libhttp-parser2.9",
    "wasi-libc",
];

/// The offline toolchain could not be prepared.
#[derive(Debug, Error)]
pub enum ToolchainError {
    /// A command failed.
    #[error("{step}: {message}")]
    Step {
        /// What was being done.
        step: String,
        /// The command's error output or what went wrong.
        message: String,
    },
}

fn step(step: &str, message: impl ToString) -> ToolchainError {
    ToolchainError::Step { step: step.to_string(), message: message.to_string() }
}

/// A prepared offline toolchain.
#[derive(Clone, Debug)]
pub struct OfflineToolchain {
    /// The unpacked packages.
    pub root: PathBuf,
    /// The host rustup toolchain's `bin` folder with `rust-lld`, `wasm-component-ld`, `gcc-ld/`.
    pub linkers: PathBuf,
}

impl OfflineToolchain {
    /// The folder this toolchain is (or will be) prepared in.
    pub fn dir(cache: &Path) -> PathBuf {
        cache.join("toolchain").join(format!("rust-web-{}", RUST_WEB_VERSION.replace(['+', '~'], "_")))
    }

    /// Prepares the toolchain in `cache` unless it is there, reporting each step to `log`.
    pub fn prepare(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<OfflineToolchain, ToolchainError> {
        let dir = Self::dir(cache);
        std::fs::create_dir_all(&dir).map_err(|e| step(&format!("creating {}", dir.display()), e))?;
        // One preparer at a time; the others wait and then find it ready.
        let lock = File::create(dir.join(".lock")).map_err(|e| step("locking the toolchain folder", e))?;
        lock.lock().map_err(|e| step("locking the toolchain folder", e))?;
        let root = dir.join("root");
        let linkers = host_linkers()?;
        if dir.join(".ready").exists() {
            return Ok(OfflineToolchain { root, linkers });
        }
        let debs = dir.join("debs");
        std::fs::create_dir_all(&debs).map_err(|e| step("creating the download folder", e))?;
        let mut packages: Vec<String> =
            RUST_PACKAGES.iter().map(|p| format!("{p}={RUST_WEB_VERSION}")).collect();
        packages.extend(SUPPORT_PACKAGES.iter().map(|p| p.to_string()));
        log(&format!(
            "offline guest toolchain: downloading {} Debian packages (rustc-web {RUST_WEB_VERSION}, ~140 MiB) into {}",
            packages.len(),
            debs.display()
        ));
        if let Err(first) = apt_download(&debs, &packages) {
            log(
                "offline guest toolchain: apt-get download failed; refreshing the package lists with apt-get update",
            );
            run(Command::new("apt-get").args(["update", "-qq"]), "apt-get update")
                .map_err(|e| step("apt-get update", format!("{e}; the first download error was: {first}")))?;
            apt_download(&debs, &packages).map_err(|e| {
                step(
                    "downloading the offline guest toolchain",
                    format!("{e}\nInstall the rustup target instead (`rustup target add wasm32-wasip2`), or make these Debian packages available: {}", packages.join(" ")),
                )
            })?;
        }
        log(&format!("offline guest toolchain: unpacking into {}", root.display()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| step("creating the unpack folder", e))?;
        let mut debs_found: Vec<PathBuf> = std::fs::read_dir(&debs)
            .map_err(|e| step("listing downloads", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        debs_found.sort();
        for deb in &debs_found {
            run(Command::new("dpkg").arg("-x").arg(deb).arg(&root), &format!("dpkg -x {}", deb.display()))?;
        }
        let wasi_libc = root.join("usr/lib/wasm32-wasi");
        for target in ["wasm32-wasip1", "wasm32-wasip2"] {
            let dest = root.join("usr/lib/rustlib").join(target).join("lib/self-contained");
            std::fs::create_dir_all(&dest).map_err(|e| step("installing the WASI libc", e))?;
            for file in ["crt1-command.o", "crt1-reactor.o", "libc.a"] {
                std::fs::copy(wasi_libc.join(file), dest.join(file))
                    .map_err(|e| step(&format!("copying {file} from wasi-libc"), e))?;
            }
        }
        for tool in ["usr/bin/rustc", "usr/bin/cargo"] {
            if !root.join(tool).exists() {
                return Err(step(
                    "unpacking",
                    format!("{tool} is missing after unpacking; delete {} and retry", dir.display()),
                ));
            }
        }
        std::fs::write(dir.join(".ready"), RUST_WEB_VERSION)
            .map_err(|e| step("marking the toolchain ready", e))?;
        log("offline guest toolchain: ready");
        Ok(OfflineToolchain { root, linkers })
    }

    /// A `cargo` command of this toolchain, with the environment it needs.
    pub fn cargo(&self, cargo_home: &Path) -> Command {
        let mut command = Command::new(self.root.join("usr/bin/cargo"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.linkers.join("gcc-ld")];
        paths.extend(std::env::split_paths(&path));
        command
            .env("RUSTC", self.root.join("usr/bin/rustc"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("LD_LIBRARY_PATH", self.root.join("usr/lib/x86_64-linux-gnu"))
            .env("PATH", std::env::join_paths(paths).expect("valid PATH"))
            .env("CARGO_TARGET_WASM32_WASIP2_LINKER", self.linkers.join("wasm-component-ld"))
            .env("CARGO_TARGET_WASM32_WASIP1_LINKER", self.linkers.join("rust-lld"))
            .env("CARGO_HOME", cargo_home)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        command
    }
}

fn apt_download(dir: &Path, packages: &[String]) -> Result<(), ToolchainError> {
    run(Command::new("apt-get").arg("download").args(packages).current_dir(dir), "apt-get download")
}

/// The linkers of the host's rustup toolchain.
fn host_linkers() -> Result<PathBuf, ToolchainError> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| step("finding the rustup toolchain (rustc --print sysroot)", e))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let bin = Path::new(&sysroot).join("lib/rustlib/x86_64-unknown-linux-gnu/bin");
    if !bin.join("wasm-component-ld").exists() || !bin.join("gcc-ld").exists() {
        return Err(step(
            "finding linkers",
            format!(
                "{} lacks wasm-component-ld or gcc-ld: the offline route needs a rustup stable toolchain (1.82 or newer)",
                bin.display()
            ),
        ));
    }
    Ok(bin)
}

/// Runs `command`, turning a failure into an error with its stderr.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<(), ToolchainError> {
    let output = command.output().map_err(|e| step(what, format!("cannot run: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        Err(step(what, format!("exited with {}:\n{}", output.status, tail.join("\n"))))
    }
}
