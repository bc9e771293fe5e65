//! The pipeline builder: datasets, sources and the operator graph.

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;

use crate::aggregate::Aggregate;
use crate::bindings::volga::pipeline::description as wit;
use crate::lambda::{Lambda, LambdaFn};
use crate::row::{Columns, FieldDef, FieldValue, Row};

/// Where a source dataset's rows come from: a connector named in the host's config and a table
/// or topic within it.
#[derive(Clone, Debug)]
pub struct Source {
    connector: String,
    name: String,
    tag: Option<String>,
}

impl Source {
    /// A table of a database or file connector, e.g. `Source::table("mysql", "users")`.
    pub fn table(connector: &str, table: &str) -> Self {
        Source { connector: connector.to_string(), name: table.to_string(), tag: None }
    }

    /// A topic of a streaming connector, e.g. `Source::topic("kafka", "orders")`.
    pub fn topic(connector: &str, topic: &str) -> Self {
        Self::table(connector, topic)
    }

    /// Tags the source, so that a job can pick it among several: `"online"`, `"offline"`.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_string());
        self
    }
}

/// How a join matches left rows to right rows.
#[derive(Clone, Debug)]
pub struct Join {
    left_on: Vec<String>,
    right_on: Vec<String>,
    how: wit::JoinHow,
    within: Option<(String, String)>,
}

impl Join {
    /// Join on fields that have the same names on both sides.
    pub fn on<const N: usize>(fields: [&str; N]) -> Self {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        Join { left_on: fields.clone(), right_on: fields, how: wit::JoinHow::Inner, within: None }
    }

    /// Join on these left fields; name the right fields with [`Join::right_on`].
    pub fn left_on<const N: usize>(fields: [&str; N]) -> Self {
        Join {
            left_on: fields.iter().map(|f| f.to_string()).collect(),
            right_on: Vec::new(),
            how: wit::JoinHow::Inner,
            within: None,
        }
    }

    /// The right side's key fields, matched in order with the left fields.
    pub fn right_on<const N: usize>(mut self, fields: [&str; N]) -> Self {
        self.right_on = fields.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Keep left rows without a match, with the right side's fields null.
    pub fn left(mut self) -> Self {
        self.how = wit::JoinHow::Left;
        self
    }

    /// Bounds the match in time: a left row at `t` meets the right side as of `t + forward`
    /// (it is emitted once the right side is known up to then), and only a right row at least
    /// as recent as `t - back` matches. `back` may be `"forever"`; the default is
    /// `("forever", "0s")`.
    pub fn within(mut self, back: &str, forward: &str) -> Self {
        self.within = Some((back.to_string(), forward.to_string()));
        self
    }
}

#[derive(Clone, Debug)]
enum Node {
    Input(String),
    Filter { input: u32, lambda: u32 },
    Transform { input: u32, lambda: u32 },
    Assign { input: u32, lambda: u32 },
    Changelog { input: u32, deleted: String },
    Explode { input: u32, field: String },
    Join { left: u32, right: u32, join: Join },
    Aggregate { input: u32, keys: Vec<String>, aggregates: Vec<Aggregate> },
    Project { input: u32, select: Option<Vec<String>>, drop: Vec<String>, rename: Vec<(String, String)> },
    DropNull { input: u32, fields: Vec<String> },
    Union(Vec<u32>),
    First { input: u32, keys: Vec<String> },
    Latest { input: u32, keys: Vec<String> },
    Dedup { input: u32, by: Vec<String>, window: wit::Window },
}

impl Node {
    fn inputs(&self) -> Vec<u32> {
        match self {
            Node::Input(_) => vec![],
            Node::Filter { input, .. }
            | Node::Transform { input, .. }
            | Node::Assign { input, .. }
            | Node::Changelog { input, .. }
            | Node::Explode { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Project { input, .. }
            | Node::DropNull { input, .. }
            | Node::First { input, .. }
            | Node::Latest { input, .. }
            | Node::Dedup { input, .. } => vec![*input],
            Node::Join { left, right, .. } => vec![*left, *right],
            Node::Union(inputs) => inputs.clone(),
        }
    }
}

#[derive(Default)]
struct Graph {
    nodes: Vec<Node>,
    lambdas: Vec<Lambda>,
}

impl Graph {
    fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }
}

/// A pipeline component under construction: its datasets and their operator graphs.
pub struct App {
    name: String,
    datasets: Vec<wit::DatasetDef>,
    graph: Rc<RefCell<Graph>>,
}

impl App {
    /// A new component named `name`.
    pub fn new(name: &str) -> Self {
        App { name: name.to_string(), datasets: Vec::new(), graph: Rc::default() }
    }

    /// Declares the source dataset `T`, read from `sources`.
    pub fn source<T: Row>(&mut self, sources: impl IntoIterator<Item = Source>) -> Stream {
        let sources = sources
            .into_iter()
            .map(|s| wit::SourceDef { connector: s.connector, name: s.name, tag: s.tag })
            .collect();
        self.declare::<T>(sources, None)
    }

    /// Declares the derived dataset `T`, computed by `stream`.
    pub fn pipeline<T: Row>(&mut self, stream: Stream) -> Stream {
        let pipeline = self.extract(stream.node);
        self.declare::<T>(Vec::new(), Some(pipeline))
    }

    fn declare<T: Row>(
        &mut self,
        sources: Vec<wit::SourceDef>,
        pipeline: Option<wit::PipelineDef>,
    ) -> Stream {
        self.datasets.push(wit::DatasetDef {
            name: T::DATASET.to_string(),
            fields: T::fields().iter().map(FieldDef::to_wit).collect(),
            sources,
            pipeline,
        });
        let node = self.graph.borrow_mut().push(Node::Input(T::DATASET.to_string()));
        Stream { graph: self.graph.clone(), node }
    }

    /// The sub-graph that computes `output`, renumbered densely in topological order.
    fn extract(&self, output: u32) -> wit::PipelineDef {
        let graph = self.graph.borrow();
        let mut used = vec![false; graph.nodes.len()];
        let mut stack = vec![output];
        while let Some(node) = stack.pop() {
            if !std::mem::replace(&mut used[node as usize], true) {
                stack.extend(graph.nodes[node as usize].inputs());
            }
        }
        // Inputs always precede their users, so ascending order is topological.
        let mut renumber = vec![u32::MAX; graph.nodes.len()];
        let mut nodes = Vec::new();
        let mut inputs = Vec::new();
        for (index, node) in graph.nodes.iter().enumerate() {
            if !used[index] {
                continue;
            }
            renumber[index] = nodes.len() as u32;
            let at = |i: &u32| renumber[*i as usize];
            nodes.push(match node {
                Node::Input(name) => {
                    if !inputs.contains(name) {
                        inputs.push(name.clone());
                    }
                    wit::Node::Input(name.clone())
                }
                Node::Filter { input, lambda } => {
                    wit::Node::Filter(wit::LambdaNode { input: at(input), lambda: *lambda })
                }
                Node::Transform { input, lambda } => {
                    wit::Node::Transform(wit::LambdaNode { input: at(input), lambda: *lambda })
                }
                Node::Assign { input, lambda } => {
                    wit::Node::Assign(wit::LambdaNode { input: at(input), lambda: *lambda })
                }
                Node::Changelog { input, deleted } => {
                    wit::Node::Changelog(wit::ChangelogNode { input: at(input), deleted: deleted.clone() })
                }
                Node::Explode { input, field } => {
                    wit::Node::Explode(wit::ExplodeNode { input: at(input), field: field.clone() })
                }
                Node::Join { left, right, join } => wit::Node::Join(wit::JoinNode {
                    left: at(left),
                    right: at(right),
                    left_on: join.left_on.clone(),
                    right_on: join.right_on.clone(),
                    how: join.how,
                    within: join.within.clone(),
                }),
                Node::Aggregate { input, keys, aggregates } => wit::Node::Aggregate(wit::AggregateNode {
                    input: at(input),
                    keys: keys.clone(),
                    aggregates: aggregates.iter().map(Aggregate::to_wit).collect(),
                }),
                Node::Project { input, select, drop, rename } => wit::Node::Project(wit::ProjectNode {
                    input: at(input),
                    select: select.clone(),
                    drop: drop.clone(),
                    rename: rename.clone(),
                }),
                Node::Union(inputs) => wit::Node::Union(inputs.iter().map(at).collect()),
                Node::First { input, keys } => {
                    wit::Node::First(wit::GroupNode { input: at(input), keys: keys.clone() })
                }
                Node::Dedup { input, by, window } => wit::Node::Dedup(wit::DedupNode {
                    input: at(input),
                    by: by.clone(),
                    window: window.clone(),
                }),
                Node::Latest { input, keys } => {
                    wit::Node::Latest(wit::GroupNode { input: at(input), keys: keys.clone() })
                }
                Node::DropNull { input, fields } => {
                    wit::Node::Dropnull(wit::DropnullNode { input: at(input), fields: fields.clone() })
                }
            });
        }
        wit::PipelineDef { inputs, nodes, output: renumber[output as usize] }
    }

    pub(crate) fn describe(&self) -> wit::PipelineSpec {
        wit::PipelineSpec {
            name: self.name.clone(),
            sdk: concat!("volga-guest-rust ", env!("CARGO_PKG_VERSION")).to_string(),
            datasets: self.datasets.clone(),
            lambdas: self.graph.borrow().lambdas.iter().map(|l| l.def.clone()).collect(),
        }
    }

    pub(crate) fn with_lambda<R>(&self, id: u32, f: impl FnOnce(&Lambda) -> R) -> Option<R> {
        self.graph.borrow().lambdas.get(id as usize).map(f)
    }
}

/// The window of a [`Stream::dedup_in`].
#[derive(Clone, Copy, Debug)]
pub enum Dedup<'a> {
    /// One row per combination of values, ever.
    Forever,
    /// One per tumbling bucket of this width (`"1h"`).
    Tumbling(&'a str),
    /// One per session with this gap (`"30m"`).
    Session(&'a str),
}

/// A stream of rows inside a pipeline: a dataset, or the output of an operator.
#[derive(Clone)]
pub struct Stream {
    graph: Rc<RefCell<Graph>>,
    node: u32,
}

impl Stream {
    fn then(&self, node: Node) -> Stream {
        let node = self.graph.borrow_mut().push(node);
        Stream { graph: self.graph.clone(), node }
    }

    fn register(
        &self,
        kind: wit::LambdaKind,
        location: &Location,
        call: LambdaFn,
        input: Vec<FieldDef>,
        output: Option<Vec<FieldDef>>,
    ) -> u32 {
        let mut graph = self.graph.borrow_mut();
        let id = graph.lambdas.len() as u32;
        let verb = match kind {
            wit::LambdaKind::Filter => "filter",
            wit::LambdaKind::Transform => "transform",
            wit::LambdaKind::Assign => "assign",
        };
        graph.lambdas.push(Lambda {
            def: wit::LambdaDef {
                id,
                name: format!("{verb} at {}:{}", location.file(), location.line()),
                kind,
                input: Some(input.iter().map(FieldDef::to_wit).collect()),
                output: output.map(|fields| fields.iter().map(FieldDef::to_wit).collect()),
            },
            call,
        });
        id
    }

    /// Keeps the rows for which `predicate` returns true. `T` names the fields the predicate
    /// reads; the host checks them against the stream's schema and sends only those.
    #[track_caller]
    pub fn filter<T: Row>(&self, predicate: impl Fn(&T) -> bool + 'static) -> Stream {
        let call = LambdaFn::Filter(Box::new(move |mut columns: Columns| {
            let mut verdicts = Vec::with_capacity(columns.len());
            T::visit(&mut columns, |row| verdicts.push(predicate(row)))?;
            Ok(verdicts)
        }));
        let lambda = self.register(wit::LambdaKind::Filter, Location::caller(), call, T::fields(), None);
        self.then(Node::Filter { input: self.node, lambda })
    }

    /// Maps each row to zero or more rows of type `O`. Every output row keeps its input row's
    /// event time: its timestamp field must equal the input's.
    #[track_caller]
    pub fn transform<T: Row, O: Row, I: IntoIterator<Item = O>>(
        &self,
        map: impl Fn(&T) -> I + 'static,
    ) -> Stream {
        let call = LambdaFn::Transform(Box::new(move |mut columns: Columns| {
            let mut rows = Vec::new();
            let mut index = Vec::new();
            let mut i = 0u32;
            T::visit(&mut columns, |row| {
                for out in map(row) {
                    rows.push(out);
                    index.push(i);
                }
                i += 1;
            })?;
            Ok((crate::lambda::encode_batch::<O>(&rows), index))
        }));
        let lambda = self.register(
            wit::LambdaKind::Transform,
            Location::caller(),
            call,
            T::fields(),
            Some(O::fields()),
        );
        self.then(Node::Transform { input: self.node, lambda })
    }

    /// Adds the field `name` (or replaces a non-key field of that name) with `compute`'s value
    /// for each row. `T` names the fields it reads; `V` is the new field's type (`i64`, `f64`,
    /// `String`, `bool`, `Timestamp`, or an `Option` of one for an optional field).
    #[track_caller]
    pub fn assign<T: Row, V: FieldValue + 'static>(
        &self,
        name: &'static str,
        compute: impl Fn(&T) -> V + 'static,
    ) -> Stream {
        let call = LambdaFn::Assign(Box::new(move |mut columns: Columns| {
            let mut values: Vec<V> = Vec::with_capacity(columns.len());
            T::visit(&mut columns, |row| values.push(compute(row)))?;
            Ok(V::put_column(values.iter()))
        }));
        let field = FieldDef { name, ty: V::TYPE, key: false, timestamp: false };
        let lambda =
            self.register(wit::LambdaKind::Assign, Location::caller(), call, T::fields(), Some(vec![field]));
        self.then(Node::Assign { input: self.node, lambda })
    }

    /// The changes of a keyed dataset (an aggregate, `first` or `latest`) as an event stream
    /// with the boolean field `deleted` added: at each change of a key, the replaced row
    /// (its timestamp set to the change time, `deleted = true`) and the new row
    /// (`deleted = false`).
    pub fn changelog(&self, deleted: &str) -> Stream {
        self.then(Node::Changelog { input: self.node, deleted: deleted.to_string() })
    }

    /// One row per item of the list field `field` (`Vec<T>`), which becomes `Option<T>`: a row
    /// with an empty list gives one row with a null, like pandas' `explode`.
    pub fn explode(&self, field: &str) -> Stream {
        self.then(Node::Explode { input: self.node, field: field.to_string() })
    }

    /// The rows of this stream and of `others`, which must have the same fields (names, types,
    /// timestamp) in the same order.
    pub fn union(&self, others: &[&Stream]) -> Stream {
        let mut inputs = vec![self.node];
        inputs.extend(others.iter().map(|s| s.node));
        self.then(Node::Union(inputs))
    }

    /// Keeps the first row of each combination of `by` values, ever. Rows are taken in event
    /// time order, and by their values within a time.
    pub fn dedup<const N: usize>(&self, by: [&str; N]) -> Stream {
        self.dedup_in(by, Dedup::Forever)
    }

    /// Keeps the first row of each combination of `by` values per window: per tumbling bucket,
    /// or per session (a row `gap` or more after the previous one with its values starts one).
    pub fn dedup_in<const N: usize>(&self, by: [&str; N], window: Dedup) -> Stream {
        let window = match window {
            Dedup::Forever => wit::Window::Forever,
            Dedup::Tumbling(width) => wit::Window::Tumbling(width.to_string()),
            Dedup::Session(gap) => wit::Window::Session(gap.to_string()),
        };
        let by = by.iter().map(|f| f.to_string()).collect();
        self.then(Node::Dedup { input: self.node, by, window })
    }

    /// Keeps only `fields`, in that order (the timestamp field must be among them).
    pub fn select<const N: usize>(&self, fields: [&str; N]) -> Stream {
        let select = Some(fields.iter().map(|f| f.to_string()).collect());
        self.then(Node::Project { input: self.node, select, drop: Vec::new(), rename: Vec::new() })
    }

    /// Removes `fields` (not the timestamp field).
    pub fn drop<const N: usize>(&self, fields: [&str; N]) -> Stream {
        let drop = fields.iter().map(|f| f.to_string()).collect();
        self.then(Node::Project { input: self.node, select: None, drop, rename: Vec::new() })
    }

    /// Renames fields: `[("from", "to"), ...]`.
    pub fn rename<const N: usize>(&self, renames: [(&str, &str); N]) -> Stream {
        let rename = renames.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        self.then(Node::Project { input: self.node, select: None, drop: Vec::new(), rename })
    }

    /// Drops the rows with a null in any of `fields` (every optional field when empty); those
    /// fields become non-optional.
    pub fn dropnull<const N: usize>(&self, fields: [&str; N]) -> Stream {
        let fields = fields.iter().map(|f| f.to_string()).collect();
        self.then(Node::DropNull { input: self.node, fields })
    }

    /// Joins each row with `right` as of the row's event time (see [`Join`]). The output has the
    /// left fields plus the right's fields other than its key and timestamp.
    pub fn join(&self, right: &Stream, join: Join) -> Stream {
        self.then(Node::Join { left: self.node, right: right.node, join })
    }

    /// Groups rows by `keys`, for [`GroupBy::aggregate`].
    pub fn group_by<const N: usize>(&self, keys: [&str; N]) -> GroupBy {
        GroupBy { stream: self.clone(), keys: keys.iter().map(|k| k.to_string()).collect() }
    }
}

/// A stream grouped by key fields.
pub struct GroupBy {
    stream: Stream,
    keys: Vec<String>,
}

impl GroupBy {
    /// The dataset, keyed on the group's keys, of each key's first row (earliest time, least
    /// row among ties); it never changes once set.
    pub fn first(self) -> Stream {
        self.stream.then(Node::First { input: self.stream.node, keys: self.keys })
    }

    /// The dataset, keyed on the group's keys, of each key's latest row (latest time, greatest
    /// row among ties).
    pub fn latest(self) -> Stream {
        self.stream.then(Node::Latest { input: self.stream.node, keys: self.keys })
    }

    /// The dataset, keyed on the group's keys, of each aggregate over its window.
    pub fn aggregate(self, aggregates: impl IntoIterator<Item = Aggregate>) -> Stream {
        self.stream.then(Node::Aggregate {
            input: self.stream.node,
            keys: self.keys,
            aggregates: aggregates.into_iter().collect(),
        })
    }
}
