//! Operator graphs of derived datasets, with the schema of every node.

use std::fmt;

use super::{AggregatePlan, LambdaKind, Plan, PlanError, Window};
use crate::duration::parse_bound_millis;
use crate::schema::{Field, Schema};
use crate::value::{FieldType, ScalarType};
use crate::wasm::spec;

/// How a join treats left rows with no match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinHow {
    /// Drop them.
    Inner,
    /// Keep them with the right side's fields null.
    Left,
}

/// Which row per key `first` / `latest` keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The first row (earliest time, least row among ties); never replaced.
    First,
    /// The latest row (latest time, greatest row among ties).
    Latest,
}

/// An operator with its inputs (indexes of earlier nodes).
#[derive(Clone, Debug)]
pub enum Op {
    /// An input dataset.
    Input {
        /// Its name.
        dataset: String,
    },
    /// A Wasm filter.
    Filter {
        /// The input node.
        input: usize,
        /// The lambda's id.
        lambda: u32,
        /// The input fields sent to the lambda.
        projection: Vec<usize>,
    },
    /// A Wasm assign: the lambda's value per row goes to column `column` (an existing column it
    /// replaces, or one past the input's last, which it appends).
    Assign {
        /// The input node.
        input: usize,
        /// The lambda's id.
        lambda: u32,
        /// The input fields sent to the lambda.
        projection: Vec<usize>,
        /// The output column.
        column: usize,
    },
    /// The changes of a keyed dataset as an event stream: each inserted row with `false`
    /// appended, each retracted row with its timestamp set to the retraction time and `true`.
    Changelog {
        /// The input node (not an event stream).
        input: usize,
        /// The input's timestamp column.
        time: usize,
    },
    /// One row per item of a list column (a null for an empty list).
    Explode {
        /// The input node.
        input: usize,
        /// The list column.
        column: usize,
    },
    /// A Wasm transform; the node's schema is the lambda's output type.
    Transform {
        /// The input node.
        input: usize,
        /// The lambda's id.
        lambda: u32,
        /// The input fields sent to the lambda.
        projection: Vec<usize>,
    },
    /// As-of join of an event stream with a keyed dataset.
    Join {
        /// The event stream.
        left: usize,
        /// The keyed dataset.
        right: usize,
        /// Left fields matched with the right's key fields, in `right_keys` order.
        left_keys: Vec<usize>,
        /// The right's key fields, in its schema order.
        right_keys: Vec<usize>,
        /// Left key fields appended again under the right key's name, for right keys whose
        /// names the left side lacks (`left_on=[buyer_id], right_on=[user_id]` adds `user_id`).
        key_copies: Vec<usize>,
        /// Right fields appended to each left row, after the key copies.
        right_values: Vec<usize>,
        /// Inner or left.
        how: JoinHow,
        /// A right row older than `t - back` does not match a left row at `t`; none: any age.
        back: Option<i64>,
        /// A left row at `t` meets the right side as of `t + forward`.
        forward: i64,
    },
    /// Native projection: output column `i` is input column `columns[i]` (renamed per the
    /// node's schema).
    Project {
        /// The input node.
        input: usize,
        /// Input column of each output column.
        columns: Vec<usize>,
    },
    /// Native filter: rows whose `fields` are all non-null.
    DropNull {
        /// The input node.
        input: usize,
        /// The fields checked.
        fields: Vec<usize>,
    },
    /// Each key's first or latest row of an event stream, as a keyed dataset.
    FirstLatest {
        /// The input node.
        input: usize,
        /// The key fields.
        keys: Vec<usize>,
        /// First or latest.
        pick: Pick,
    },
    /// The first row of each combination of `by` values per window.
    Dedup {
        /// The input node.
        input: usize,
        /// The fields compared.
        by: Vec<usize>,
        /// `Forever`, `Tumbling` or `Session`.
        window: Window,
    },
    /// The rows of several event streams with the same schema.
    Union {
        /// The input nodes.
        inputs: Vec<usize>,
    },
    /// Windowed aggregation per key. Output: the keys, the timestamp, one field per aggregate.
    Aggregate {
        /// The input node.
        input: usize,
        /// Group key fields of the input.
        keys: Vec<usize>,
        /// The aggregates, in output order.
        aggregates: Vec<AggregatePlan>,
    },
}

impl Op {
    /// The nodes this operator reads.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Op::Input { .. } => Vec::new(),
            Op::Filter { input, .. }
            | Op::Transform { input, .. }
            | Op::Assign { input, .. }
            | Op::Changelog { input, .. }
            | Op::Explode { input, .. }
            | Op::Aggregate { input, .. }
            | Op::Project { input, .. }
            | Op::DropNull { input, .. }
            | Op::FirstLatest { input, .. }
            | Op::Dedup { input, .. } => vec![*input],
            Op::Join { left, right, .. } => vec![*left, *right],
            Op::Union { inputs } => inputs.clone(),
        }
    }
}

/// A node: an operator and the schema of its output.
#[derive(Clone, Debug)]
pub struct Node {
    /// The operator.
    pub op: Op,
    /// Its output schema.
    pub schema: Schema,
    /// A short description for messages and lineage, e.g. `join #2 User on buyer_id=user_id`.
    pub label: String,
    /// Whether the node's output is an event stream (rows only ever inserted, at their event
    /// time) rather than a changelog of a keyed dataset (rows replaced over time).
    pub events: bool,
}

/// The validated operator graph of a derived dataset.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Input datasets.
    pub inputs: Vec<String>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// The node that produces the dataset.
    pub output: usize,
    /// For each declared field, its column in the output node's rows.
    pub projection: Vec<usize>,
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chain = Vec::new();
        lineage(self, self.output, &mut chain);
        f.write_str(&chain.join(" <- "))
    }
}

fn lineage(graph: &Graph, node: usize, out: &mut Vec<String>) {
    out.push(graph.nodes[node].label.clone());
    match &graph.nodes[node].op {
        Op::Input { .. } => {}
        Op::Filter { input, .. }
        | Op::Transform { input, .. }
        | Op::Assign { input, .. }
        | Op::Changelog { input, .. }
        | Op::Explode { input, .. }
        | Op::Aggregate { input, .. }
        | Op::Project { input, .. }
        | Op::DropNull { input, .. }
        | Op::FirstLatest { input, .. }
        | Op::Dedup { input, .. } => lineage(graph, *input, out),
        Op::Join { left, .. } => lineage(graph, *left, out),
        Op::Union { inputs } => lineage(graph, inputs[0], out),
    }
}

/// Validates `def`, the pipeline of dataset `dataset` declared with `declared`.
pub(super) fn build(
    plan: &Plan,
    dataset: &str,
    declared: &Schema,
    def: &spec::PipelineDef,
) -> Result<Graph, PlanError> {
    let op_err = |operator: &str, message: String| PlanError::Operator {
        pipeline: plan.name.clone(),
        dataset: dataset.to_string(),
        operator: operator.to_string(),
        message,
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(def.nodes.len());
    for (index, node) in def.nodes.iter().enumerate() {
        let earlier = |i: u32, what: &str| -> Result<usize, PlanError> {
            if (i as usize) < index {
                Ok(i as usize)
            } else {
                Err(op_err(
                    &format!("node #{index}"),
                    format!("{what} refers to node #{i}, which is not an earlier node"),
                ))
            }
        };
        let built = match node {
            spec::Node::Input(name) => {
                let label = name.to_string();
                if !def.inputs.contains(name) {
                    return Err(op_err(&label, format!("`{name}` is not among the pipeline's inputs")));
                }
                let input = plan.dataset(name).ok_or_else(|| {
                    op_err(
                        &label,
                        format!(
                            "no dataset `{name}` is declared before `{dataset}` (declared: {})",
                            plan.dataset_names().join(", ")
                        ),
                    )
                })?;
                Node {
                    op: Op::Input { dataset: name.clone() },
                    schema: input.schema.clone(),
                    label,
                    events: input.is_event_stream(),
                }
            }
            spec::Node::Filter(l) | spec::Node::Transform(l) | spec::Node::Assign(l) => {
                let input = earlier(l.input, "its input")?;
                let lambda = plan
                    .lambdas
                    .get(l.lambda as usize)
                    .ok_or_else(|| op_err(&format!("node #{index}"), format!("no lambda {}", l.lambda)))?;
                let label = lambda.name.clone();
                let expected = match node {
                    spec::Node::Filter(_) => LambdaKind::Filter,
                    spec::Node::Transform(_) => LambdaKind::Transform,
                    _ => LambdaKind::Assign,
                };
                if lambda.kind != expected {
                    return Err(op_err(
                        &label,
                        format!("lambda is a {:?}, used as a {expected:?}", lambda.kind),
                    ));
                }
                let in_schema = &nodes[input].schema;
                let events = nodes[input].events;
                let projection = match &lambda.input {
                    None => (0..in_schema.fields.len()).collect(),
                    Some(fields) => fields
                        .iter()
                        .map(|want| match in_schema.index_of(&want.name) {
                            Some(i) if in_schema.fields[i].ty == want.ty => Ok(i),
                            Some(i) => Err(op_err(
                                &label,
                                format!(
                                    "reads field `{}` as {}, but it is {}",
                                    want.name, want.ty, in_schema.fields[i].ty
                                ),
                            )),
                            None => Err(op_err(
                                &label,
                                format!(
                                    "reads field `{}`, which its input does not have ({})",
                                    want.name,
                                    in_schema.describe()
                                ),
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                };
                match expected {
                    LambdaKind::Filter => Node {
                        op: Op::Filter { input, lambda: lambda.id, projection },
                        schema: in_schema.clone(),
                        label,
                        events,
                    },
                    LambdaKind::Transform => {
                        let schema = lambda.output.clone().expect("transform has an output type");
                        Node {
                            op: Op::Transform { input, lambda: lambda.id, projection },
                            schema,
                            label,
                            events,
                        }
                    }
                    LambdaKind::Assign => {
                        let field = &lambda.output.as_ref().expect("assign has an output field").fields[0];
                        let mut schema = in_schema.clone();
                        let column = match schema.index_of(&field.name) {
                            Some(i) if schema.fields[i].key || schema.fields[i].timestamp => {
                                return Err(op_err(
                                    &label,
                                    format!(
                                        "assigns `{}`, the input's {}: keys and the timestamp cannot be replaced",
                                        field.name,
                                        if schema.fields[i].key { "key" } else { "timestamp" }
                                    ),
                                ));
                            }
                            Some(i) => {
                                schema.fields[i].ty = field.ty;
                                i
                            }
                            None => {
                                schema.fields.push(field.clone());
                                schema.fields.len() - 1
                            }
                        };
                        Node {
                            op: Op::Assign { input, lambda: lambda.id, projection, column },
                            schema,
                            label,
                            events,
                        }
                    }
                }
            }
            spec::Node::Join(j) => {
                let (left, right) = (earlier(j.left, "its left side")?, earlier(j.right, "its right side")?);
                let label = format!(
                    "join #{index} {} on {}",
                    nodes[right].label,
                    j.left_on
                        .iter()
                        .zip(&j.right_on)
                        .map(|(l, r)| format!("{l}={r}"))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                if !nodes[left].events {
                    return Err(op_err(
                        &label,
                        format!(
                            "the left side ({}) is an aggregated dataset, not an event stream: join an event stream with it instead",
                            nodes[left].label
                        ),
                    ));
                }
                join_node(&nodes[left].schema, &nodes[right].schema, j, left, right)
                    .map(|(op, schema)| Node { op, schema, label: label.clone(), events: true })
                    .map_err(|m| op_err(&label, m))?
            }
            spec::Node::Aggregate(a) => {
                let input = earlier(a.input, "its input")?;
                let label = format!("group_by({}).aggregate", a.keys.join(","));
                if !nodes[input].events {
                    return Err(op_err(
                        &label,
                        format!(
                            "its input ({}) is an aggregated dataset, not an event stream: aggregating aggregates is not supported",
                            nodes[input].label
                        ),
                    ));
                }
                aggregate_node(&nodes[input].schema, a, input)
                    .map(|(op, schema)| Node { op, schema, label: label.clone(), events: false })
                    .map_err(|(op, m)| op_err(&op.unwrap_or(label.clone()), m))?
            }
            spec::Node::Project(p) => {
                let input = earlier(p.input, "its input")?;
                let label = project_label(p);
                let (columns, schema) = project_node(&nodes[input], p).map_err(|m| op_err(&label, m))?;
                Node { op: Op::Project { input, columns }, schema, label, events: nodes[input].events }
            }
            spec::Node::First(g) | spec::Node::Latest(g) => {
                let input = earlier(g.input, "its input")?;
                let pick = if matches!(node, spec::Node::First(_)) { Pick::First } else { Pick::Latest };
                let label = format!(
                    "group_by({}).{}()",
                    g.keys.join(","),
                    if pick == Pick::First { "first" } else { "latest" }
                );
                event_stream(&nodes[input]).map_err(|m| op_err(&label, m))?;
                let mut schema = nodes[input].schema.clone();
                let keys = field_indexes(&schema, &g.keys).map_err(|m| op_err(&label, m))?;
                if keys.is_empty() {
                    return Err(op_err(&label, "group_by needs at least one key field".into()));
                }
                for (i, field) in schema.fields.iter_mut().enumerate() {
                    field.key = keys.contains(&i);
                    if field.key && field.timestamp {
                        return Err(op_err(
                            &label,
                            format!("the timestamp `{}` cannot be a key", field.name),
                        ));
                    }
                }
                Node { op: Op::FirstLatest { input, keys, pick }, schema, label, events: false }
            }
            spec::Node::Dedup(d) => {
                let input = earlier(d.input, "its input")?;
                let label = format!("dedup({})", d.by.join(", "));
                event_stream(&nodes[input]).map_err(|m| op_err(&label, m))?;
                let schema = &nodes[input].schema;
                let by = field_indexes(schema, &d.by).map_err(|m| op_err(&label, m))?;
                let duration = |text: &str| {
                    crate::duration::parse_millis(text).map_err(|e| op_err(&label, e.to_string()))
                };
                let window = match &d.window {
                    spec::Window::Forever => Window::Forever,
                    spec::Window::Tumbling(width) => Window::Tumbling(duration(width)?),
                    spec::Window::Session(gap) => Window::Session(duration(gap)?),
                    other => {
                        return Err(op_err(
                            &label,
                            format!("dedup takes a forever, tumbling or session window, not {other:?}"),
                        ));
                    }
                };
                Node { op: Op::Dedup { input, by, window }, schema: schema.clone(), label, events: true }
            }
            spec::Node::Changelog(c) => {
                let input = earlier(c.input, "its input")?;
                let label = format!("changelog({})", c.deleted);
                if nodes[input].events {
                    return Err(op_err(
                        &label,
                        format!(
                            "its input ({}) is an event stream: changelog takes a keyed dataset (an aggregate, first or latest)",
                            nodes[input].label
                        ),
                    ));
                }
                let mut schema = nodes[input].schema.clone();
                if !super::is_identifier(&c.deleted) {
                    return Err(op_err(&label, format!("`{}` is not a valid field name", c.deleted)));
                }
                if schema.index_of(&c.deleted).is_some() {
                    return Err(op_err(&label, format!("its input already has a field `{}`", c.deleted)));
                }
                let time = schema.timestamp_index();
                schema.fields.push(Field {
                    name: c.deleted.clone(),
                    ty: FieldType::required(ScalarType::Bool),
                    key: false,
                    timestamp: false,
                });
                Node { op: Op::Changelog { input, time }, schema, label, events: true }
            }
            spec::Node::Explode(x) => {
                let input = earlier(x.input, "its input")?;
                let label = format!("explode({})", x.field);
                event_stream(&nodes[input]).map_err(|m| op_err(&label, m))?;
                let mut schema = nodes[input].schema.clone();
                let column =
                    field_indexes(&schema, std::slice::from_ref(&x.field)).map_err(|m| op_err(&label, m))?[0];
                let field = &mut schema.fields[column];
                if !field.ty.list {
                    return Err(op_err(&label, format!("`{}` is a {}, not a list", field.name, field.ty)));
                }
                field.ty = FieldType::optional(field.ty.scalar);
                Node { op: Op::Explode { input, column }, schema, label, events: true }
            }
            spec::Node::Union(parts) => {
                let inputs: Vec<usize> =
                    parts.iter().map(|&i| earlier(i, "an input of a union")).collect::<Result<_, _>>()?;
                let label = format!(
                    "union({})",
                    inputs.iter().map(|&i| nodes[i].label.as_str()).collect::<Vec<_>>().join(", ")
                );
                let Some(&first) = inputs.first() else {
                    return Err(op_err(&label, "a union needs at least one input".into()));
                };
                for &i in &inputs {
                    if !nodes[i].events {
                        return Err(op_err(
                            &label,
                            format!("{} is an aggregated dataset, not an event stream", nodes[i].label),
                        ));
                    }
                    let (a, b) = (&nodes[first].schema, &nodes[i].schema);
                    let same = a.fields.len() == b.fields.len()
                        && a.fields
                            .iter()
                            .zip(&b.fields)
                            .all(|(x, y)| x.name == y.name && x.ty == y.ty && x.timestamp == y.timestamp);
                    if !same {
                        return Err(op_err(
                            &label,
                            format!(
                                "its inputs differ: ({}) and ({}); select and rename fields to match",
                                a.describe(),
                                b.describe()
                            ),
                        ));
                    }
                }
                Node { op: Op::Union { inputs }, schema: nodes[first].schema.clone(), label, events: true }
            }
            spec::Node::Dropnull(d) => {
                let input = earlier(d.input, "its input")?;
                let label = format!("dropnull({})", d.fields.join(", "));
                let mut schema = nodes[input].schema.clone();
                let fields: Vec<usize> = if d.fields.is_empty() {
                    (0..schema.fields.len()).filter(|&i| schema.fields[i].ty.nullable).collect()
                } else {
                    field_indexes(&schema, &d.fields).map_err(|m| op_err(&label, m))?
                };
                for &i in &fields {
                    schema.fields[i].ty.nullable = false;
                }
                Node { op: Op::DropNull { input, fields }, schema, label, events: nodes[input].events }
            }
        };
        nodes.push(built);
    }
    let output = def.output as usize;
    if output >= nodes.len() {
        return Err(op_err("pipeline", format!("output node #{output} does not exist")));
    }
    let projection = match_declared(declared, &nodes[output])
        .map_err(|m| op_err(&format!("output of {}", nodes[output].label), m))?;
    Ok(Graph { inputs: def.inputs.clone(), nodes, output, projection })
}

/// The indexes of the fields `names` in `schema`, or which one it lacks.
fn field_indexes(schema: &Schema, names: &[String]) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|name| {
            schema
                .index_of(name)
                .ok_or_else(|| format!("no field `{name}` in its input ({})", schema.describe()))
        })
        .collect()
}

/// Fails unless `input` is an event stream (operators that take rows as events).
fn event_stream(input: &Node) -> Result<(), String> {
    if input.events {
        Ok(())
    } else {
        Err(format!("its input ({}) is an aggregated dataset, not an event stream", input.label))
    }
}

fn project_label(p: &spec::ProjectNode) -> String {
    let mut parts = Vec::new();
    if let Some(select) = &p.select {
        parts.push(format!("select({})", select.join(", ")));
    }
    if !p.drop.is_empty() {
        parts.push(format!("drop({})", p.drop.join(", ")));
    }
    if !p.rename.is_empty() {
        let pairs: Vec<String> = p.rename.iter().map(|(a, b)| format!("{a}->{b}")).collect();
        parts.push(format!("rename({})", pairs.join(", ")));
    }
    if parts.is_empty() { "select(*)".into() } else { parts.join(".") }
}

/// The input columns and schema of a projection; keys of a keyed dataset and the timestamp
/// must survive it.
fn project_node(input: &Node, p: &spec::ProjectNode) -> Result<(Vec<usize>, Schema), String> {
    let schema = &input.schema;
    let mut columns: Vec<usize> = match &p.select {
        Some(names) => field_indexes(schema, names)?,
        None => (0..schema.fields.len()).collect(),
    };
    for index in field_indexes(schema, &p.drop)? {
        columns.retain(|&c| c != index);
    }
    let mut fields: Vec<_> = columns.iter().map(|&c| schema.fields[c].clone()).collect();
    for (from, to) in &p.rename {
        let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        let field = fields.iter_mut().find(|f| &f.name == from).ok_or_else(|| {
            format!("renames `{from}`, which is not among its fields ({})", names.join(", "))
        })?;
        field.name = to.clone();
    }
    let out = Schema { fields };
    let mut names: Vec<&str> = out.fields.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("field `{}` appears twice in its output", pair[0]));
    }
    if !out.fields.iter().any(|f| f.timestamp) {
        return Err(format!(
            "removes the timestamp field `{}`: every dataset needs one",
            schema.timestamp_name()
        ));
    }
    if !input.events
        && let Some(key) = schema.fields.iter().enumerate().find(|(i, f)| f.key && !columns.contains(i))
    {
        return Err(format!("removes key field `{}` of a keyed dataset", key.1.name));
    }
    Ok((columns, out))
}

fn join_node(
    left: &Schema,
    right: &Schema,
    j: &spec::JoinNode,
    left_node: usize,
    right_node: usize,
) -> Result<(Op, Schema), String> {
    if j.left_on.is_empty() || j.left_on.len() != j.right_on.len() {
        return Err(format!(
            "left_on has {} fields and right_on {}: they must be the same non-zero number",
            j.left_on.len(),
            j.right_on.len()
        ));
    }
    let right_keys = right.key_indexes();
    let mut right_on_sorted: Vec<&str> = j.right_on.iter().map(String::as_str).collect();
    right_on_sorted.sort_unstable();
    let mut key_names = right.key_names();
    key_names.sort_unstable();
    if right_on_sorted != key_names {
        return Err(format!(
            "right_on [{}] must be exactly the right side's key fields [{}]",
            j.right_on.join(", "),
            right.key_names().join(", ")
        ));
    }
    // For each right key field (in schema order), the left field matched with it.
    let mut left_keys = Vec::new();
    for &rk in &right_keys {
        let name = &right.fields[rk].name;
        let pos = j.right_on.iter().position(|r| r == name).expect("checked above");
        let left_name = &j.left_on[pos];
        let li = left.index_of(left_name).ok_or_else(|| {
            format!("left_on field `{left_name}` is not in the left side ({})", left.describe())
        })?;
        if left.fields[li].ty.scalar != right.fields[rk].ty.scalar {
            return Err(format!(
                "`{left_name}` ({}) cannot match `{name}` ({})",
                left.fields[li].ty, right.fields[rk].ty
            ));
        }
        left_keys.push(li);
    }
    let how = match j.how {
        spec::JoinHow::Inner => JoinHow::Inner,
        spec::JoinHow::Left => JoinHow::Left,
    };
    let (back, forward) = match &j.within {
        None => (None, 0),
        Some((back, forward)) => {
            let back = match back.as_str() {
                "forever" => None,
                text => Some(parse_bound_millis(text).map_err(|e| format!("within back bound: {e}"))?),
            };
            let forward = parse_bound_millis(forward).map_err(|e| format!("within forward bound: {e}"))?;
            (back, forward)
        }
    };
    let mut fields = left.fields.clone();
    let mut key_copies = Vec::new();
    for (&rk, &lk) in right_keys.iter().zip(&left_keys) {
        let field = &right.fields[rk];
        if left.index_of(&field.name).is_none() {
            fields.push(Field {
                name: field.name.clone(),
                ty: left.fields[lk].ty,
                key: false,
                timestamp: false,
            });
            key_copies.push(lk);
        }
    }
    let mut right_values = Vec::new();
    for (i, field) in right.fields.iter().enumerate() {
        if field.key || field.timestamp {
            continue;
        }
        if fields.iter().any(|f| f.name == field.name) {
            return Err(format!(
                "both sides have a field `{}`: rename one of them before the join",
                field.name
            ));
        }
        // Without a match a left join fills scalars with null and lists with an empty list.
        let ty = if how == JoinHow::Left && !field.ty.list {
            FieldType::optional(field.ty.scalar)
        } else {
            field.ty
        };
        fields.push(Field { name: field.name.clone(), ty, key: false, timestamp: false });
        right_values.push(i);
    }
    let op = Op::Join {
        left: left_node,
        right: right_node,
        left_keys,
        right_keys,
        key_copies,
        right_values,
        how,
        back,
        forward,
    };
    Ok((op, Schema { fields }))
}

fn aggregate_node(
    input: &Schema,
    a: &spec::AggregateNode,
    input_node: usize,
) -> Result<(Op, Schema), (Option<String>, String)> {
    if a.keys.is_empty() {
        return Err((None, "group_by needs at least one key field".into()));
    }
    let mut fields = Vec::new();
    let mut keys = Vec::new();
    for key in &a.keys {
        let index = input.index_of(key).ok_or_else(|| {
            (None, format!("key `{key}` is not a field of its input ({})", input.describe()))
        })?;
        let field = &input.fields[index];
        if field.timestamp {
            return Err((None, format!("cannot group by the timestamp field `{key}`")));
        }
        keys.push(index);
        fields.push(Field { name: key.clone(), ty: field.ty, key: true, timestamp: false });
    }
    let ts = &input.fields[input.timestamp_index()];
    fields.push(Field {
        name: ts.name.clone(),
        ty: FieldType::required(ScalarType::Timestamp),
        key: false,
        timestamp: true,
    });
    if a.aggregates.is_empty() {
        return Err((None, "aggregate needs at least one aggregate".into()));
    }
    let mut aggregates = Vec::new();
    for def in &a.aggregates {
        let agg = AggregatePlan::new(input, def).map_err(|(label, m)| (Some(label), m))?;
        if fields.iter().any(|f| f.name == agg.into) {
            return Err((None, format!("two output fields are named `{}`", agg.into)));
        }
        if let Window::Sliding(w) = agg.window
            && w <= 0
        {
            return Err((None, format!("window of `{}` must be positive", agg.into)));
        }
        fields.push(Field { name: agg.into.clone(), ty: agg.ty, key: false, timestamp: false });
        aggregates.push(agg);
    }
    Ok((Op::Aggregate { input: input_node, keys, aggregates }, Schema { fields }))
}

/// Maps each declared field to the output node's column; the sets must agree.
fn match_declared(declared: &Schema, node: &Node) -> Result<Vec<usize>, String> {
    let computed = &node.schema;
    let is_aggregate = matches!(node.op, Op::Aggregate { .. } | Op::FirstLatest { .. });
    let mut projection = Vec::new();
    for field in &declared.fields {
        let index = if field.timestamp {
            computed.timestamp_index()
        } else {
            computed.index_of(&field.name).ok_or_else(|| {
                format!(
                    "declared field `{}` is not computed by the pipeline, which yields ({})",
                    field.name,
                    computed.describe()
                )
            })?
        };
        let found = &computed.fields[index];
        if found.timestamp != field.timestamp {
            return Err(format!("field `{}` is the timestamp on one side only", field.name));
        }
        if found.ty != field.ty {
            return Err(format!(
                "field `{}` is declared {} but the pipeline computes {}",
                field.name, field.ty, found.ty
            ));
        }
        if is_aggregate && found.key != field.key {
            return Err(format!(
                "field `{}` must {}be a key: the dataset is keyed by the group_by keys [{}]",
                field.name,
                if found.key { "" } else { "not " },
                computed.key_names().join(", ")
            ));
        }
        projection.push(index);
    }
    if let Some(missing) = computed.fields.iter().enumerate().find(|(i, _)| !projection.contains(i)) {
        return Err(format!(
            "the pipeline computes field `{}` ({}), which the dataset does not declare",
            missing.1.name, missing.1.ty
        ));
    }
    Ok(projection)
}
