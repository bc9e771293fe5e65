//! JavaScript guests: jco (`componentize`, StarlingMonkey) bundling the user's module with the
//! JavaScript SDK, against the WIT interface; SDK and WIT are carried inside this binary so that
//! a component always matches the host that builds it.
//!
//! The module is `main` in `package.json` (default `app.js`). The component's name is
//! `volga.name`, else `name` (dashes become underscores), else the folder's name. `VOLGA_JCO`
//! names the jco executable (default: `jco` on the PATH). Install it with
//! `npm install @bytecodealliance/jco@1.35.0 @bytecodealliance/componentize-js@0.23.0`, pinning
//! `@bytecodealliance/preview2-shim` to 0.25.0 in `overrides` (0.26 fails to componentize).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    BuildError, BuildReport, Route, WIT, compiler_tail, component_name, work_dir, write_files, write_output,
};

/// The jco and componentize-js versions the SDK is tested with.
pub const JCO_VERSION: &str = "1.35.0";
/// See [`JCO_VERSION`].
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The JavaScript SDK's files, as `(path under the package folder, contents)`.
const SDK: &[(&str, &str)] = &[
    ("package.json", include_str!("../../../guest-sdk/js/package.json")),
    ("src/index.js", include_str!("../../../guest-sdk/js/src/index.js")),
    ("src/index.d.ts", include_str!("../../../guest-sdk/js/src/index.d.ts")),
];

/// The module and name of a JavaScript project.
#[derive(Debug)]
struct Project {
    main: String,
    name: String,
}

fn project(dir: &Path) -> Result<Project, BuildError> {
    let not_a_guest = |message: String| BuildError::NotAGuest { dir: dir.display().to_string(), message };
    let text = std::fs::read_to_string(dir.join("package.json"))
        .map_err(|e| not_a_guest(format!("cannot read package.json: {e}")))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_guest(format!("invalid package.json: {e}")))?;
    let main = manifest["main"].as_str().unwrap_or("app.js").trim_start_matches("./").to_string();
    if !dir.join(&main).exists() {
        return Err(not_a_guest(format!(
            "no {main}: the module that declares the datasets (set `main` in package.json to use another)"
        )));
    }
    let declared = manifest["volga"]["name"].as_str().or(manifest["name"].as_str());
    Ok(Project { main, name: component_name(dir, declared) })
}

fn jco() -> PathBuf {
    std::env::var_os("VOLGA_JCO").map(PathBuf::from).unwrap_or_else(|| "jco".into())
}

/// Copies the guest's files (not `node_modules`) into `to`.
fn copy_guest(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_guest(&entry.path(), &to.join(&name))?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// Builds the JavaScript guest in `dir`.
pub(super) fn build(
    dir: &Path,
    output: &Path,
    cache: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<BuildReport, BuildError> {
    let project = project(dir)?;
    let dir_name = dir.display().to_string();
    let work = work_dir(cache, "js-build-")?;
    let io = |source| BuildError::Output { path: work.path().display().to_string(), source };
    write_files(&work.path().join("wit"), WIT).map_err(io)?;
    write_files(&work.path().join("node_modules/volga"), SDK).map_err(io)?;
    // The app goes next to node_modules, so that `import ... from "volga"` finds the SDK.
    copy_guest(dir, &work.path().join("app")).map_err(io)?;
    let entry = format!(
        "import {{ setName }} from \"volga\";\nimport \"./app/{main}\";\nexport {{ guest }} from \"volga\";\n\nsetName({name:?});\n",
        main = project.main,
        name = project.name,
    );
    write_files(work.path(), &[("volga_entry.js", &entry)]).map_err(io)?;
    log(&format!("building with jco componentize (module `{}`, ~20-30 s)", project.main));
    let tool = jco();
    let result = Command::new(&tool)
        .current_dir(work.path())
        .args(["componentize", "volga_entry.js", "--wit", "wit", "-n", "pipeline", "-o", "component.wasm"])
        .args(["--bundle", "-d", "http", "fetch-event"])
        .output()
        .map_err(|e| BuildError::Compile {
            dir: dir_name.clone(),
            status: format!("could not run {}", tool.display()),
            output: format!(
                "{e}: install jco with `npm install @bytecodealliance/jco@{JCO_VERSION} @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}` (pin @bytecodealliance/preview2-shim to 0.25.0), or set VOLGA_JCO"
            ),
        })?;
    let built = work.path().join("component.wasm");
    if !result.status.success() || !built.exists() {
        let mut output = compiler_tail(&result.stderr);
        if output.trim().is_empty() {
            output = compiler_tail(&result.stdout);
        }
        return Err(BuildError::Compile { dir: dir_name, status: result.status.to_string(), output });
    }
    let bytes = write_output(&built, output)?;
    Ok(BuildReport { output: output.to_path_buf(), bytes, route: Route::ComponentizeJs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_file_is_carried() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/js");
        let mut files: Vec<String> = std::fs::read_dir(root.join("src"))
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        files.push("package.json".into());
        files.sort();
        let mut carried: Vec<String> = SDK.iter().map(|(p, _)| p.to_string()).collect();
        carried.sort();
        assert_eq!(files, carried);
    }

    #[test]
    fn the_package_names_module_and_component() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), r#"{"name": "on-sale", "main": "./main.js"}"#)
            .unwrap();
        assert!(project(dir.path()).unwrap_err().to_string().contains("no main.js"));
        std::fs::write(dir.path().join("main.js"), "").unwrap();
        let p = project(dir.path()).unwrap();
        assert_eq!((p.main.as_str(), p.name.as_str()), ("main.js", "on_sale"));
    }
}
