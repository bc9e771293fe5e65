//! Turns the plan of a set of datasets into collections of one worker's dataflow.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use prometheus_client::metrics::counter::Counter;
use timely::dataflow::operators::vec::Map;

use super::StateRows;
use super::{
    AggregateSpec, AsOfJoin, Changes, CountRows, Dedup, Failure, FirstLatest, HistoryWriter, JoinSpec,
    LambdaCall, LambdaStats, RowCollection, WasmAssign, WasmFilter, WasmTransform, WindowAggregate,
};
use crate::metrics::{LambdaLabels, Metrics, OperatorLabels};
use crate::plan::{DatasetBody, Graph, Op, Plan};
use crate::value::{Row, Value};
use crate::wasm::GuestInstance;

/// A host-side filter that stands in for a guest lambda: it sees the filter's whole input row.
pub type NativeFilter = Arc<dyn Fn(&Row) -> bool + Send + Sync>;

/// What rendering needs besides the plan: this worker's guest instance and the failure slot.
pub struct RenderContext {
    /// This worker's instance of the component (lambdas run here).
    pub guest: Rc<RefCell<GuestInstance>>,
    /// Where operators report errors.
    pub failure: Failure,
    /// Filters run natively instead of in the guest, by lambda id. Empty in production; the
    /// benchmarks use it to measure what the Wasm boundary costs.
    pub native_filters: HashMap<u32, NativeFilter>,
    /// Where operators and lambdas count what they do (online), if anywhere.
    pub metrics: Option<Arc<Metrics>>,
    /// Rows held by the job's windows.
    pub state_rows: Arc<StateRows>,
    /// Source datasets whose one reader, a filter ([`sole_source_filters`]), ran as their rows
    /// were read: that filter passes its input through.
    pub filtered_sources: HashSet<String>,
    /// Where the caller writes targets' histories as they are made, by target (offline). A
    /// target whose last operator is an aggregation that only the store reads hands its new
    /// rows to its writer, and its collection carries nothing; other targets ignore theirs.
    pub history_writers: HashMap<String, HistoryWriter>,
}

/// A filter that is the only reader of a source dataset in a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFilter {
    /// The lambda.
    pub lambda: u32,
    /// The filter's label, for errors.
    pub label: String,
    /// The source's fields the lambda reads.
    pub projection: Vec<usize>,
}

impl RenderContext {
    fn operator_counter(
        &self,
        plan: &Plan,
        dataset: &str,
        operator: &str,
        direction: &str,
    ) -> Option<Counter> {
        let metrics = self.metrics.as_ref()?;
        Some(
            metrics
                .operator_rows
                .get_or_create(&OperatorLabels {
                    pipeline: plan.name.clone(),
                    dataset: dataset.into(),
                    operator: operator.into(),
                    direction: direction.into(),
                })
                .clone(),
        )
    }

    fn lambda_stats(&self, plan: &Plan, lambda: &str) -> Option<LambdaStats> {
        let metrics = self.metrics.as_ref()?;
        let labels = LambdaLabels { pipeline: plan.name.clone(), lambda: lambda.into() };
        Some(LambdaStats {
            calls: metrics.lambda_calls.get_or_create(&labels).clone(),
            rows: metrics.lambda_rows.get_or_create(&labels).clone(),
            seconds: metrics.lambda_seconds.get_or_create(&labels).clone(),
        })
    }
}

/// Renders `targets` and every dataset they depend on. `sources` holds a collection for each
/// source dataset needed. Returns a collection per rendered dataset, its rows in the dataset's
/// declared field order.
///
/// The caller stores the targets' insertions ([`super::insertions`]). A target no rendered
/// dataset reads may therefore come as its history rather than as a collection: where its
/// last operator is an aggregation, a key's new row comes without the retraction of the row
/// it replaces ([`Changes::Appending`]); the insertions are the same either way.
pub fn render_datasets<'scope>(
    plan: &Plan,
    targets: &[String],
    sources: &HashMap<String, RowCollection<'scope>>,
    context: &RenderContext,
) -> HashMap<String, RowCollection<'scope>> {
    let mut rendered: HashMap<String, RowCollection<'scope>> = sources.clone();
    let read = read_datasets(plan, targets);
    for target in targets {
        render_one(plan, target, &read, &mut rendered, context);
    }
    rendered
}

/// The derived datasets rendered for `targets`: the targets and every one they read.
fn job_graphs<'p>(plan: &'p Plan, targets: &'p [String]) -> Vec<&'p Graph> {
    let mut graphs = Vec::new();
    let mut to_visit: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut visited = HashSet::new();
    while let Some(name) = to_visit.pop() {
        if !visited.insert(name) {
            continue;
        }
        let Some(DatasetBody::Derived(graph)) = plan.dataset(name).map(|d| &d.body) else {
            continue;
        };
        for node in &graph.nodes {
            if let Op::Input { dataset } = &node.op {
                to_visit.push(dataset);
            }
        }
        graphs.push(graph);
    }
    graphs
}

/// The datasets that a dataset rendered for `targets` reads.
fn read_datasets(plan: &Plan, targets: &[String]) -> HashSet<String> {
    let inputs = job_graphs(plan, targets).into_iter().flat_map(|graph| &graph.nodes);
    inputs
        .filter_map(|node| match &node.op {
            Op::Input { dataset } => Some(dataset.clone()),
            _ => None,
        })
        .collect()
}

/// The source datasets that, of everything rendered for `targets`, a single filter reads, with
/// that filter. The offline job runs such a filter as it reads the source, so that the rows it
/// drops are never held ([`RenderContext::filtered_sources`]): a filter judges each row alone,
/// so the rows that reach the rest of the dataflow are the same.
pub fn sole_source_filters(plan: &Plan, targets: &[String]) -> HashMap<String, SourceFilter> {
    // Per source dataset: each node reading it (a filter, or `None` for anything else).
    let mut readers: HashMap<&str, Vec<Option<SourceFilter>>> = HashMap::new();
    for graph in job_graphs(plan, targets) {
        for (index, node) in graph.nodes.iter().enumerate() {
            let Op::Input { dataset } = &node.op else {
                continue;
            };
            if !matches!(plan.dataset(dataset).map(|d| &d.body), Some(DatasetBody::Source(_))) {
                continue;
            }
            let readers = readers.entry(dataset).or_default();
            if index == graph.output {
                readers.push(None);
            }
            for reader in graph.nodes.iter().filter(|n| n.op.inputs().contains(&index)) {
                readers.push(match &reader.op {
                    Op::Filter { lambda, projection, .. } => Some(SourceFilter {
                        lambda: *lambda,
                        label: reader.label.clone(),
                        projection: projection.clone(),
                    }),
                    _ => None,
                });
            }
        }
    }
    readers
        .into_iter()
        .filter_map(|(dataset, mut readers)| match (readers.pop(), readers.is_empty()) {
            (Some(Some(filter)), true) => Some((dataset.to_string(), filter)),
            _ => None,
        })
        .collect()
}

fn render_one<'scope>(
    plan: &Plan,
    name: &str,
    read: &HashSet<String>,
    rendered: &mut HashMap<String, RowCollection<'scope>>,
    context: &RenderContext,
) -> RowCollection<'scope> {
    if let Some(collection) = rendered.get(name) {
        return collection.clone();
    }
    let dataset = plan.dataset(name).expect("targets and inputs are validated datasets");
    let DatasetBody::Derived(graph) = &dataset.body else {
        panic!("source dataset `{name}` was not given a collection");
    };
    let mut nodes: Vec<RowCollection<'scope>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let index = nodes.len();
        let filtered_at_source = match &node.op {
            Op::Filter { input, .. } => matches!(
                &graph.nodes[*input].op,
                Op::Input { dataset } if context.filtered_sources.contains(dataset)
            ),
            _ => false,
        };
        // Only the store reads this node's output: the dataset's last node, which neither
        // another node nor another dataset reads.
        let stored_only = index == graph.output
            && !read.contains(name)
            && !graph.nodes.iter().any(|n| n.op.inputs().contains(&index));
        // The node's rows are the dataset's as they are, uncounted: they may go to a writer.
        let as_stored = stored_only
            && context.metrics.is_none()
            && graph.projection.len() == node.schema.fields.len()
            && graph.projection.iter().enumerate().all(|(i, &j)| i == j);
        let collection = match &node.op {
            Op::Input { dataset } => render_one(plan, dataset, read, rendered, context),
            // The filter ran as the source was read: its rows all passed it.
            Op::Filter { input, .. } if filtered_at_source => nodes[*input].clone(),
            Op::Filter { input, lambda, projection }
            | Op::Transform { input, lambda, projection }
            | Op::Assign { input, lambda, projection, .. } => {
                let call = LambdaCall {
                    guest: context.guest.clone(),
                    lambda: *lambda,
                    name: node.label.clone(),
                    input: graph.nodes[*input].schema.clone(),
                    projection: projection.clone(),
                    failure: context.failure.clone(),
                    stats: context.lambda_stats(plan, &node.label),
                };
                let native =
                    context.native_filters.get(lambda).filter(|_| matches!(node.op, Op::Filter { .. }));
                if let Some(native) = native {
                    let native = native.clone();
                    nodes[*input].clone().filter(move |row| native(row))
                } else {
                    match node.op {
                        Op::Filter { .. } => nodes[*input].clone().wasm_filter(call),
                        Op::Assign { column, .. } => {
                            let field = node.schema.fields[column].clone();
                            nodes[*input].clone().wasm_assign(call, field, column)
                        }
                        _ => nodes[*input].clone().wasm_transform(call, node.schema.clone()),
                    }
                }
            }
            Op::Changelog { input, time } => {
                let time = *time;
                nodes[*input]
                    .inner
                    .clone()
                    .map(move |(mut row, at, diff)| {
                        let deleted = diff < 0;
                        if deleted {
                            row[time] = Value::Int(at);
                        }
                        row.push(Value::Bool(deleted));
                        (row, at, diff.abs())
                    })
                    .as_collection()
            }
            Op::Explode { input, column } => {
                let column = *column;
                nodes[*input].clone().flat_map(move |row| {
                    let items: Vec<Value> = match &row[column] {
                        Value::List(items) if !items.is_empty() => items.to_vec(),
                        _ => vec![Value::Null],
                    };
                    items.into_iter().map(move |item| {
                        let mut out = row.clone();
                        out[column] = item;
                        out
                    })
                })
            }
            Op::Join { left, right, left_keys, right_keys, key_copies, right_values, how, back, forward } => {
                let right_schema = &graph.nodes[*right].schema;
                let spec = JoinSpec {
                    left_keys: left_keys.clone(),
                    right_keys: right_keys.clone(),
                    key_copies: key_copies.clone(),
                    right_values: right_values.clone(),
                    missing: right_values
                        .iter()
                        .map(|&i| {
                            if right_schema.fields[i].ty.list {
                                Value::List(Vec::new().into())
                            } else {
                                Value::Null
                            }
                        })
                        .collect(),
                    right_time: right_schema.timestamp_index(),
                    how: *how,
                    back: *back,
                    forward: *forward,
                };
                nodes[*left].clone().join_as_of(nodes[*right].clone(), spec, &node.label)
            }
            Op::Project { input, columns } => {
                let columns = columns.clone();
                nodes[*input].clone().map(move |row| columns.iter().map(|&c| row[c].clone()).collect())
            }
            Op::FirstLatest { input, keys, pick } => {
                nodes[*input].clone().first_latest(keys.clone(), *pick, &format!("{name}: {}", node.label))
            }
            Op::Dedup { input, by, window } => {
                nodes[*input].clone().dedup(by.clone(), *window, &format!("{name}: {}", node.label))
            }
            Op::Union { inputs } => {
                let mut parts = inputs.iter().map(|&i| nodes[i].clone());
                let first = parts.next().expect("a union has inputs");
                parts.fold(first, |all, part| all.concat(part))
            }
            Op::DropNull { input, fields } => {
                let fields = fields.clone();
                nodes[*input].clone().filter(move |row| fields.iter().all(|&f| row[f] != Value::Null))
            }
            Op::Aggregate { input, keys, aggregates } => {
                let input_schema = &graph.nodes[*input].schema;
                let spec = AggregateSpec {
                    keys: keys.clone(),
                    aggregates: aggregates.clone(),
                    input_types: aggregates
                        .iter()
                        .map(|a| a.on.map(|i| input_schema.fields[i].ty.scalar))
                        .collect(),
                    state_rows: context.state_rows.clone(),
                    changes: if stored_only { Changes::Appending } else { Changes::Retracting },
                };
                let label = format!("{name}: {}", node.label);
                match context.history_writers.get(name).filter(|_| as_stored) {
                    Some(writer) => {
                        nodes[*input].clone().window_aggregate_written(spec, writer.clone(), &label)
                    }
                    None => nodes[*input].clone().window_aggregate(spec, &label),
                }
            }
        };
        // Count each node's output as its own `out` and as `in` of every node reading it.
        let counters: Vec<Counter> = std::iter::once((node, "out"))
            .chain(graph.nodes.iter().filter(|n| n.op.inputs().contains(&index)).map(|n| (n, "in")))
            .filter_map(|(n, direction)| context.operator_counter(plan, name, &n.label, direction))
            .collect();
        let collection = if counters.is_empty() { collection } else { collection.count_rows(counters) };
        nodes.push(collection);
    }
    let output = nodes[graph.output].clone();
    let identity = graph.projection.iter().enumerate().all(|(i, &j)| i == j);
    let collection = if identity {
        output
    } else {
        let projection = graph.projection.clone();
        output
            .inner
            .map(move |(row, time, diff)| (projection.iter().map(|&i| row[i].clone()).collect(), time, diff))
            .as_collection()
    };
    rendered.insert(name.to_string(), collection.clone());
    collection
}
