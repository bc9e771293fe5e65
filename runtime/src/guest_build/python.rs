//! Python guests: `componentize-py` over the user's app module, the Python SDK and the WIT
//! interface, the last two carried inside this binary so that a component always matches the
//! host that builds it.
//!
//! The app module is `app` (`app.py`), or `[tool.volga] module` in `pyproject.toml`. The
//! component's name is `[tool.volga] name`, else `[project] name` (dashes become underscores),
//! else the folder's name. `VOLGA_COMPONENTIZE_PY` names the componentize-py executable (default:
//! `componentize-py` on the PATH; `pip install componentize-py==0.25.1`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    BuildError, BuildReport, Route, WIT, compiler_tail, component_name, work_dir, write_files, write_output,
};

/// The componentize-py version the SDK is tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The Python SDK's files, as `(path under the SDK folder, contents)`.
const SDK: &[(&str, &str)] = &[
    ("volga/__init__.py", include_str!("../../../guest-sdk/python/volga/__init__.py")),
    ("volga/component.py", include_str!("../../../guest-sdk/python/volga/component.py")),
    ("volga/declare.py", include_str!("../../../guest-sdk/python/volga/declare.py")),
    ("volga/frame.py", include_str!("../../../guest-sdk/python/volga/frame.py")),
    ("volga/graph.py", include_str!("../../../guest-sdk/python/volga/graph.py")),
    ("volga/types.py", include_str!("../../../guest-sdk/python/volga/types.py")),
];

/// How the project names its module and component.
#[derive(Debug)]
struct Project {
    module: String,
    name: String,
}

fn project(dir: &Path) -> Result<Project, BuildError> {
    let not_a_guest = |message: String| BuildError::NotAGuest { dir: dir.display().to_string(), message };
    let manifest = dir.join("pyproject.toml");
    let table: toml::Table = if manifest.exists() {
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| not_a_guest(format!("cannot read pyproject.toml: {e}")))?;
        text.parse().map_err(|e| not_a_guest(format!("invalid pyproject.toml: {e}")))?
    } else {
        toml::Table::new()
    };
    let volga = table.get("tool").and_then(|t| t.get("volga"));
    let module = volga.and_then(|v| v.get("module")).and_then(|m| m.as_str()).unwrap_or("app").to_string();
    if !dir.join(format!("{module}.py")).exists() && !dir.join(&module).join("__init__.py").exists() {
        return Err(not_a_guest(format!(
            "no {module}.py: the app module holds the @dataset classes (set [tool.volga] module in pyproject.toml to use another)"
        )));
    }
    let declared = volga
        .and_then(|v| v.get("name"))
        .or_else(|| table.get("project").and_then(|p| p.get("name")))
        .and_then(|n| n.as_str());
    let name = component_name(dir, declared);
    Ok(Project { module, name })
}

fn componentize_py() -> PathBuf {
    std::env::var_os("VOLGA_COMPONENTIZE_PY").map(PathBuf::from).unwrap_or_else(|| "componentize-py".into())
}

/// Builds the Python guest in `dir`.
pub(super) fn build(
    dir: &Path,
    output: &Path,
    cache: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<BuildReport, BuildError> {
    let project = project(dir)?;
    let dir_name = dir.display().to_string();
    let work = work_dir(cache, "python-build-")?;
    let io = |source| BuildError::Output { path: work.path().display().to_string(), source };
    write_files(&work.path().join("wit"), WIT).map_err(io)?;
    write_files(&work.path().join("sdk"), SDK).map_err(io)?;
    let entry = format!(
        "import volga.component as _component\n\n_component.NAME = {name:?}\n\n\
         import {module}  # noqa: E402,F401  (its @dataset classes register)\n\
         from volga.component import Guest  # noqa: E402,F401\n",
        name = project.name,
        module = project.module,
    );
    write_files(&work.path().join("entry"), &[("volga_entry.py", &entry)]).map_err(io)?;
    let built = work.path().join("component.wasm");
    log(&format!("building with componentize-py (module `{}`, ~10-20 s)", project.module));
    let tool = componentize_py();
    let result = Command::new(&tool)
        .arg("-d")
        .arg(work.path().join("wit"))
        .args(["-w", "pipeline", "componentize", "volga_entry"])
        .arg("-p")
        .arg(work.path().join("entry"))
        .arg("-p")
        .arg(work.path().join("sdk"))
        .arg("-p")
        .arg(dir)
        .arg("-o")
        .arg(&built)
        .output()
        .map_err(|e| BuildError::Compile {
            dir: dir_name.clone(),
            status: format!("could not run {}", tool.display()),
            output: format!(
                "{e}: install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`, or set VOLGA_COMPONENTIZE_PY"
            ),
        })?;
    if !result.status.success() {
        // componentize-py prints the Python traceback first, then its own Rust backtrace.
        let stderr = String::from_utf8_lossy(&result.stderr);
        let useful: String = stderr.split("\nStack backtrace:").next().unwrap_or_default().trim().to_string();
        let output = if useful.is_empty() { compiler_tail(&result.stderr) } else { useful };
        return Err(BuildError::Compile { dir: dir_name, status: result.status.to_string(), output });
    }
    let bytes = write_output(&built, output)?;
    Ok(BuildReport { output: output.to_path_buf(), bytes, route: Route::ComponentizePy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_and_wit_file_is_carried() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let listed = |dir: &str, ext: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(ext))
                .collect();
            names.sort();
            names
        };
        let sdk: Vec<String> = SDK.iter().map(|(p, _)| p.trim_start_matches("volga/").to_string()).collect();
        assert_eq!(listed("guest-sdk/python/volga", ".py"), sdk);
    }

    #[test]
    fn the_project_names_module_and_component() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname = \"on-sale\"\n").unwrap();
        let p = project(dir.path()).unwrap();
        assert_eq!((p.module.as_str(), p.name.as_str()), ("app", "on_sale"));
        std::fs::remove_file(dir.path().join("app.py")).unwrap();
        assert!(project(dir.path()).unwrap_err().to_string().contains("no app.py"));
    }
}
