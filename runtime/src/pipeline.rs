//! A pipeline component loaded and validated: the compiled component plus its [`Plan`].

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::plan::{DatasetBody, Plan, PlanError, SourceRef};
use crate::wasm::{GuestInstance, LoadError, LoadedComponent, WasmHost};

/// A component that cannot be used as a pipeline.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// It could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its description does not validate.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The engine could not start or the guest failed while describing itself.
    #[error("{context}: {message}")]
    Guest {
        /// What was being done.
        context: String,
        /// The error.
        message: String,
    },
    /// A request that does not fit the pipeline (unknown dataset, missing tag, ...).
    #[error("{0}")]
    Usage(String),
}

/// A validated pipeline, ready to run on any number of workers.
#[derive(Clone)]
pub struct LoadedPipeline {
    /// The validated description.
    pub plan: Arc<Plan>,
    /// The compiled component.
    pub component: LoadedComponent,
}

impl LoadedPipeline {
    /// Loads the component at `path` with the config's cache and limits, and validates it.
    pub fn load(config: &Config, path: &Path) -> Result<(WasmHost, LoadedPipeline), PipelineError> {
        let host = WasmHost::new(Some(config.cache_dir().join("components")), config.wasm_limits()).map_err(
            |e| PipelineError::Guest {
                context: "starting the wasm engine".into(),
                message: format!("{e:#}"),
            },
        )?;
        let component = host.load_file(path)?;
        let pipeline = Self::describe(&path.display().to_string(), component)?;
        Ok((host, pipeline))
    }

    /// Instantiates `component` once to read and validate its description.
    pub fn describe(name: &str, component: LoadedComponent) -> Result<LoadedPipeline, PipelineError> {
        let guest_error = |e: wasmtime::Error| {
            let mut message = format!("{e:#}");
            if message.contains("type mismatch") {
                message.push_str(
                    "; the component was built against another version of the volga:pipeline interface: rebuild it with this version's guest SDK",
                );
            }
            PipelineError::Guest { context: format!("{name}: describing the pipeline"), message }
        };
        let mut guest = GuestInstance::new(&component).map_err(guest_error)?;
        let spec = guest.describe().map_err(guest_error)?;
        let plan = Plan::from_spec(&spec)?;
        Ok(LoadedPipeline { plan: Arc::new(plan), component })
    }

    /// A fresh guest instance for one worker, with names for error messages.
    pub fn instantiate(&self) -> Result<GuestInstance, PipelineError> {
        let mut guest = GuestInstance::new(&self.component).map_err(|e| PipelineError::Guest {
            context: format!("pipeline `{}`: instantiating", self.plan.name),
            message: format!("{e:#}"),
        })?;
        guest.set_names(&self.plan.name, self.plan.lambdas.iter().map(|l| l.name.clone()).collect());
        Ok(guest)
    }

    /// `targets`, or every derived dataset when empty; each checked to exist.
    pub fn targets(&self, targets: &[String]) -> Result<Vec<String>, PipelineError> {
        if targets.is_empty() {
            return Ok(self
                .plan
                .datasets
                .iter()
                .filter(|d| d.is_derived())
                .map(|d| d.name.clone())
                .collect());
        }
        for target in targets {
            if self.plan.dataset(target).is_none() {
                return Err(PipelineError::Usage(format!(
                    "pipeline `{}` has no dataset `{target}` (datasets: {})",
                    self.plan.name,
                    self.plan.dataset_names().join(", ")
                )));
            }
        }
        Ok(targets.to_vec())
    }

    /// The source datasets that `targets` read, directly or through other datasets, in
    /// declaration order.
    pub fn source_datasets(&self, targets: &[String]) -> Vec<String> {
        let mut needed = vec![false; self.plan.datasets.len()];
        let mut stack: Vec<&str> = targets.iter().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            let index = self.plan.datasets.iter().position(|d| d.name == name).expect("validated");
            if std::mem::replace(&mut needed[index], true) {
                continue;
            }
            if let DatasetBody::Derived(graph) = &self.plan.datasets[index].body {
                stack.extend(graph.inputs.iter().map(String::as_str));
            }
        }
        self.plan
            .datasets
            .iter()
            .zip(needed)
            .filter(|(d, needed)| *needed && !d.is_derived())
            .map(|(d, _)| d.name.clone())
            .collect()
    }

    /// The source of `dataset` to read: the one tagged `tags[dataset]` if given, the only one,
    /// or the one tagged `default_tag`.
    pub fn choose_source(
        &self,
        dataset: &str,
        tags: &[(String, String)],
        default_tag: &str,
    ) -> Result<SourceRef, PipelineError> {
        let plan = self.plan.dataset(dataset).expect("validated");
        let DatasetBody::Source(sources) = &plan.body else {
            return Err(PipelineError::Usage(format!("dataset `{dataset}` is not a source dataset")));
        };
        let listed = || sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        if let Some((_, tag)) = tags.iter().find(|(d, _)| d == dataset) {
            return sources.iter().find(|s| s.tag.as_deref() == Some(tag)).cloned().ok_or_else(|| {
                PipelineError::Usage(format!(
                    "dataset `{dataset}` has no source tagged `{tag}` (sources: {})",
                    listed()
                ))
            });
        }
        if let [only] = sources.as_slice() {
            return Ok(only.clone());
        }
        sources.iter().find(|s| s.tag.as_deref() == Some(default_tag)).cloned().ok_or_else(|| {
            PipelineError::Usage(format!(
                "dataset `{dataset}` has several sources ({}) and none is tagged `{default_tag}`: pass --source-tag {dataset}=TAG",
                listed()
            ))
        })
    }
}
