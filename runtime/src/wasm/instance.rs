//! One instance of a pipeline component, owned by one worker.

use thiserror::Error;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::Pipeline;
use super::engine::LoadedComponent;
use super::spec::PipelineSpec;
use super::wire::{Batch, Column, TransformOutput};

/// How much of a guest's stderr is kept for error messages.
const STDERR_CAPACITY: usize = 64 << 10;

/// The data of a guest store: a WASI context that grants nothing (no files, network,
/// environment or arguments; stdout discarded, stderr captured for error messages) and the
/// store's limits.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A lambda call that failed.
#[derive(Debug, Error, Clone)]
pub enum LambdaError {
    /// The guest returned an error (an exception, a decoding failure).
    #[error("pipeline `{pipeline}`: lambda `{lambda}` failed: {message}")]
    Guest {
        /// The component's name.
        pipeline: String,
        /// The lambda's name.
        lambda: String,
        /// The guest's message.
        message: String,
    },
    /// The guest trapped: a panic, an out-of-bounds access, the memory limit or the deadline.
    #[error("pipeline `{pipeline}`: lambda `{lambda}` trapped: {message}")]
    Trap {
        /// The component's name.
        pipeline: String,
        /// The lambda's name.
        lambda: String,
        /// The trap and what the guest wrote to stderr.
        message: String,
    },
    /// The guest answered with data that does not fit the call.
    #[error("pipeline `{pipeline}`: lambda `{lambda}` returned a bad batch: {message}")]
    BadOutput {
        /// The component's name.
        pipeline: String,
        /// The lambda's name.
        lambda: String,
        /// What is wrong.
        message: String,
    },
}

/// A live instance of a pipeline component with its own store. Not shared between threads:
/// each worker instantiates its own from a [`LoadedComponent`].
pub struct GuestInstance {
    component: LoadedComponent,
    store: Store<GuestState>,
    bindings: Pipeline,
    stderr: MemoryOutputPipe,
    pipeline: String,
    lambda_names: Vec<String>,
    /// Set after a trap: the instance must not be entered again.
    poisoned: bool,
}

impl GuestInstance {
    /// Instantiates `component` in a fresh store.
    pub fn new(component: &LoadedComponent) -> wasmtime::Result<Self> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let state = GuestState {
            wasi: WasiCtxBuilder::new().stderr(stderr.clone()).build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(component.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&component.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(component.limits.deadline_ticks());
        let bindings = component.pre.instantiate(&mut store)?;
        Ok(GuestInstance {
            component: component.clone(),
            store,
            bindings,
            stderr,
            pipeline: String::from("?"),
            lambda_names: Vec::new(),
            poisoned: false,
        })
    }

    /// Names the pipeline and its lambdas in later error messages.
    pub fn set_names(&mut self, pipeline: &str, lambda_names: Vec<String>) {
        self.pipeline = pipeline.to_string();
        self.lambda_names = lambda_names;
    }

    /// Calls the guest's `describe`; a failure carries what the guest wrote to stderr (a
    /// Python traceback, a Rust panic message).
    pub fn describe(&mut self) -> wasmtime::Result<PipelineSpec> {
        self.store.set_epoch_deadline(self.component.limits.deadline_ticks());
        self.bindings.volga_pipeline_guest().call_describe(&mut self.store).map_err(|error| {
            let stderr = String::from_utf8_lossy(&self.stderr.contents()).trim().to_string();
            let error = match error.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => wasmtime::Error::msg(format!("the guest trapped: {trap}")),
                None => error,
            };
            if stderr.is_empty() { error } else { error.context(format!("the guest wrote: {stderr}")) }
        })
    }

    fn lambda_name(&self, lambda: u32) -> String {
        self.lambda_names.get(lambda as usize).cloned().unwrap_or_else(|| format!("#{lambda}"))
    }

    fn prepare(&mut self) -> Result<(), wasmtime::Error> {
        if self.poisoned {
            // A trapped instance cannot be re-entered; start over from the compiled component.
            let fresh = GuestInstance::new(&self.component)?;
            let (pipeline, names) =
                (std::mem::take(&mut self.pipeline), std::mem::take(&mut self.lambda_names));
            *self = fresh;
            self.set_names(&pipeline, names);
        }
        self.store.set_epoch_deadline(self.component.limits.deadline_ticks());
        Ok(())
    }

    fn trap(&mut self, lambda: u32, error: wasmtime::Error) -> LambdaError {
        self.poisoned = true;
        let stderr = String::from_utf8_lossy(&self.stderr.contents()).trim().to_string();
        let mut message = match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                format!("deadline of {:?} per batch exceeded", self.component.limits.call_timeout)
            }
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        if !stderr.is_empty() {
            message.push_str(": ");
            message.push_str(&stderr);
        }
        LambdaError::Trap { pipeline: self.pipeline.clone(), lambda: self.lambda_name(lambda), message }
    }

    /// Runs filter lambda `lambda` over `rows`: one verdict per row.
    pub fn filter(&mut self, lambda: u32, rows: &Batch) -> Result<Vec<bool>, LambdaError> {
        let len = rows.len as usize;
        self.prepare().map_err(|e| self.trap(lambda, e))?;
        let result = self.bindings.volga_pipeline_guest().call_filter(&mut self.store, lambda, rows);
        match result {
            Err(trap) => Err(self.trap(lambda, trap)),
            Ok(Err(message)) => Err(self.guest_error(lambda, message)),
            Ok(Ok(mask)) if mask.len() != len => {
                Err(self.bad_output(lambda, format!("{} verdicts for {len} rows", mask.len())))
            }
            Ok(Ok(mask)) => Ok(mask),
        }
    }

    /// Runs transform lambda `lambda` over `rows`.
    pub fn transform(&mut self, lambda: u32, rows: &Batch) -> Result<TransformOutput, LambdaError> {
        self.prepare().map_err(|e| self.trap(lambda, e))?;
        let result = self.bindings.volga_pipeline_guest().call_transform(&mut self.store, lambda, rows);
        match result {
            Err(trap) => Err(self.trap(lambda, trap)),
            Ok(Err(message)) => Err(self.guest_error(lambda, message)),
            Ok(Ok(output)) => {
                if output.input_index.len() != output.rows.len as usize {
                    return Err(
                        self.bad_output(lambda, "input-index length differs from the row count".into())
                    );
                }
                if let Some(bad) = output.input_index.iter().find(|&&i| i >= rows.len) {
                    return Err(self
                        .bad_output(lambda, format!("input index {bad} out of range ({} rows)", rows.len)));
                }
                Ok(output)
            }
        }
    }

    /// Runs assign lambda `lambda` over `rows`: one value per row.
    pub fn assign(&mut self, lambda: u32, rows: &Batch) -> Result<Column, LambdaError> {
        self.prepare().map_err(|e| self.trap(lambda, e))?;
        let result = self.bindings.volga_pipeline_guest().call_assign(&mut self.store, lambda, rows);
        match result {
            Err(trap) => Err(self.trap(lambda, trap)),
            Ok(Err(message)) => Err(self.guest_error(lambda, message)),
            Ok(Ok(column)) => Ok(column),
        }
    }

    fn guest_error(&self, lambda: u32, message: String) -> LambdaError {
        LambdaError::Guest { pipeline: self.pipeline.clone(), lambda: self.lambda_name(lambda), message }
    }

    pub(crate) fn bad_output(&self, lambda: u32, message: String) -> LambdaError {
        LambdaError::BadOutput { pipeline: self.pipeline.clone(), lambda: self.lambda_name(lambda), message }
    }
}
