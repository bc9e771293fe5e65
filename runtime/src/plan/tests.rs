//! Validation errors name the pipeline, dataset, operator and field.

use super::*;
use crate::wasm::spec::{
    AggregateDef, AggregateKind, AggregateNode, DatasetDef, FieldDef, FieldType as WitType,
    JoinHow as WitHow, JoinNode, LambdaDef, LambdaKind as WitKind, LambdaNode, Node as WitNode, PipelineDef,
    ScalarType as S, SourceDef, Window as WitWindow,
};

fn field(name: &str, ty: WitType, key: bool, timestamp: bool) -> FieldDef {
    FieldDef { name: name.into(), ty, key, timestamp }
}

fn scalar(s: S) -> WitType {
    WitType::Scalar(s)
}

fn users() -> DatasetDef {
    DatasetDef {
        name: "User".into(),
        fields: vec![
            field("user_id", scalar(S::Str), true, false),
            field("registered_at", scalar(S::Timestamp), false, true),
            field("name", scalar(S::Str), false, false),
        ],
        sources: vec![SourceDef { connector: "mysql".into(), name: "users".into(), tag: None }],
        pipeline: None,
    }
}

fn orders() -> DatasetDef {
    DatasetDef {
        name: "Order".into(),
        fields: vec![
            field("buyer_id", scalar(S::Str), true, false),
            field("product_type", scalar(S::Str), false, false),
            field("purchased_at", scalar(S::Timestamp), false, true),
            field("product_price", scalar(S::Float), false, false),
        ],
        sources: vec![SourceDef { connector: "mysql".into(), name: "orders".into(), tag: None }],
        pipeline: None,
    }
}

fn avg(window: &str, into: &str) -> AggregateDef {
    AggregateDef {
        kind: AggregateKind::Avg,
        on: Some("product_price".into()),
        window: WitWindow::Sliding(window.into()),
        into: into.into(),
    }
}

/// The reference example with `avg_ty` as the declared type of `avg_7d` and `right_on`.
fn example(avg_ty: WitType, right_on: &str, filter_field: &str) -> PipelineSpec {
    let features = DatasetDef {
        name: "Features".into(),
        fields: vec![
            field("user_id", scalar(S::Str), true, false),
            field("ts", scalar(S::Timestamp), false, true),
            field("avg_7d", avg_ty, false, false),
        ],
        sources: vec![],
        pipeline: Some(PipelineDef {
            inputs: vec!["Order".into(), "User".into()],
            nodes: vec![
                WitNode::Input("Order".into()),
                WitNode::Filter(LambdaNode { input: 0, lambda: 0 }),
                WitNode::Input("User".into()),
                WitNode::Join(JoinNode {
                    left: 1,
                    right: 2,
                    left_on: vec!["buyer_id".into()],
                    right_on: vec![right_on.into()],
                    how: WitHow::Inner,
                    within: None,
                }),
                WitNode::Aggregate(AggregateNode {
                    input: 3,
                    keys: vec!["user_id".into()],
                    aggregates: vec![avg("7d", "avg_7d")],
                }),
            ],
            output: 4,
        }),
    };
    PipelineSpec {
        name: "example".into(),
        sdk: "test".into(),
        datasets: vec![users(), orders(), features],
        lambdas: vec![LambdaDef {
            id: 0,
            name: "filter at lib.rs:1".into(),
            kind: WitKind::Filter,
            input: Some(vec![field(filter_field, scalar(S::Str), false, false)]),
            output: None,
        }],
    }
}

#[test]
fn the_reference_example_validates() {
    let plan = Plan::from_spec(&example(WitType::Optional(S::Float), "user_id", "product_type")).unwrap();
    let features = plan.dataset("Features").unwrap();
    let DatasetBody::Derived(graph) = &features.body else { panic!("derived") };
    // The join adds the right key `user_id` the left side lacks, then the right's `name`.
    let join = &graph.nodes[3].schema;
    assert_eq!(
        join.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["buyer_id", "product_type", "purchased_at", "product_price", "user_id", "name"]
    );
    assert!(!features.is_event_stream());
    assert!(plan.dataset("Order").unwrap().is_event_stream());
}

#[test]
fn a_declared_type_that_differs_names_dataset_field_and_operator() {
    let err = Plan::from_spec(&example(scalar(S::Float), "user_id", "product_type")).unwrap_err().to_string();
    assert!(err.contains("dataset `Features`"), "{err}");
    assert!(err.contains("group_by(user_id).aggregate"), "{err}");
    assert!(
        err.contains("field `avg_7d` is declared float but the pipeline computes optional<float>"),
        "{err}"
    );
}

#[test]
fn a_join_must_match_the_right_sides_key() {
    let err = Plan::from_spec(&example(WitType::Optional(S::Float), "name", "product_type"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("join #3") && err.contains("must be exactly the right side's key fields [user_id]"),
        "{err}"
    );
}

#[test]
fn a_lambda_reading_a_missing_field_is_rejected() {
    let err =
        Plan::from_spec(&example(WitType::Optional(S::Float), "user_id", "kind")).unwrap_err().to_string();
    assert!(err.contains("filter at lib.rs:1") && err.contains("reads field `kind`"), "{err}");
}

#[test]
fn bad_windows_and_fields_of_aggregates_are_named() {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    let pipeline = spec.datasets[2].pipeline.as_mut().unwrap();
    let WitNode::Aggregate(aggregate) = &mut pipeline.nodes[4] else { panic!() };
    aggregate.aggregates[0] = avg("7 days", "avg_7d");
    let err = Plan::from_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("into `avg_7d`") && err.contains("invalid duration `7 days`"), "{err}");
}

#[test]
fn datasets_need_exactly_one_timestamp() {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    spec.datasets[0].fields[1].timestamp = false;
    let err = Plan::from_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("dataset `User`") && err.contains("no timestamp field"), "{err}");
}

/// The example with a projection node between the join and the aggregate.
fn with_projection(project: crate::wasm::spec::ProjectNode) -> Result<Plan, PlanError> {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    let pipeline = spec.datasets[2].pipeline.as_mut().unwrap();
    pipeline.nodes.insert(4, WitNode::Project(project));
    let WitNode::Aggregate(aggregate) = &mut pipeline.nodes[5] else { panic!() };
    aggregate.input = 4;
    pipeline.output = 5;
    Plan::from_spec(&spec)
}

#[test]
fn projections_keep_the_timestamp_and_name_missing_fields() {
    use crate::wasm::spec::ProjectNode;
    let project = |select: Option<&[&str]>, drop: &[&str], rename: &[(&str, &str)]| ProjectNode {
        input: 3,
        select: select.map(|s| s.iter().map(|f| f.to_string()).collect()),
        drop: drop.iter().map(|f| f.to_string()).collect(),
        rename: rename.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
    };
    with_projection(project(Some(&["user_id", "purchased_at", "product_price"]), &[], &[])).unwrap();
    with_projection(project(None, &["name", "buyer_id"], &[("purchased_at", "at")])).unwrap();

    let err = with_projection(project(None, &["purchased_at"], &[])).unwrap_err().to_string();
    assert!(err.contains("drop(purchased_at)") && err.contains("removes the timestamp field"), "{err}");
    let err = with_projection(project(Some(&["user_id", "nope"]), &[], &[])).unwrap_err().to_string();
    assert!(err.contains("no field `nope` in its input"), "{err}");
    let err = with_projection(project(None, &[], &[("name", "user_id")])).unwrap_err().to_string();
    assert!(err.contains("field `user_id` appears twice"), "{err}");
    let err = with_projection(project(None, &[], &[("missing", "x")])).unwrap_err().to_string();
    assert!(err.contains("renames `missing`"), "{err}");
}

/// The example with `node` (reading the join, node 3) between the join and the aggregate.
fn with_node(node: WitNode, lambdas: Vec<LambdaDef>) -> Result<Plan, PlanError> {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    spec.lambdas.extend(lambdas);
    let pipeline = spec.datasets[2].pipeline.as_mut().unwrap();
    pipeline.nodes.insert(4, node);
    let WitNode::Aggregate(aggregate) = &mut pipeline.nodes[5] else { panic!() };
    aggregate.input = 4;
    pipeline.output = 5;
    Plan::from_spec(&spec)
}

#[test]
fn assign_explode_and_changelog_name_operator_and_field() {
    use crate::wasm::spec::{ChangelogNode, ExplodeNode};
    let assign = |name: &str, ty: WitType| LambdaDef {
        id: 1,
        name: "assign at lib.rs:9".into(),
        kind: WitKind::Assign,
        input: None,
        output: Some(vec![field(name, ty, false, false)]),
    };
    with_node(WitNode::Assign(LambdaNode { input: 3, lambda: 1 }), vec![assign("cents", scalar(S::Int))])
        .unwrap();
    let err = with_node(
        WitNode::Assign(LambdaNode { input: 3, lambda: 1 }),
        vec![assign("buyer_id", scalar(S::Int))],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("assign at lib.rs:9") && err.contains("assigns `buyer_id`, the input's key"),
        "{err}"
    );

    let err = with_node(WitNode::Explode(ExplodeNode { input: 3, field: "name".into() }), vec![])
        .unwrap_err()
        .to_string();
    assert!(err.contains("explode(name)") && err.contains("`name` is a string, not a list"), "{err}");

    let err = with_node(WitNode::Changelog(ChangelogNode { input: 3, deleted: "deleted".into() }), vec![])
        .unwrap_err()
        .to_string();
    assert!(err.contains("changelog(deleted)") && err.contains("is an event stream"), "{err}");
}

#[test]
fn join_bounds_list_aggregates_and_list_keys_are_checked() {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    let pipeline = spec.datasets[2].pipeline.as_mut().unwrap();
    let WitNode::Join(join) = &mut pipeline.nodes[3] else { panic!() };
    join.within = Some(("an hour".into(), "0s".into()));
    let err = Plan::from_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("join #3") && err.contains("within back bound"), "{err}");

    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    let pipeline = spec.datasets[2].pipeline.as_mut().unwrap();
    let WitNode::Aggregate(aggregate) = &mut pipeline.nodes[4] else { panic!() };
    aggregate.aggregates[0].kind = AggregateKind::LastK(0);
    let err = Plan::from_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("into `avg_7d`") && err.contains("k must be at least 1"), "{err}");

    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    spec.datasets[0].fields[0].ty = WitType::List(S::Str);
    let err = Plan::from_spec(&spec).unwrap_err().to_string();
    assert!(err.contains("dataset `User`") && err.contains("key field `user_id` cannot be a list"), "{err}");
}

#[test]
fn a_filter_is_run_as_its_source_is_read_only_when_it_is_the_sources_one_reader() {
    let mut spec = example(WitType::Optional(S::Float), "user_id", "product_type");
    // A second dataset reading the orders without a filter.
    let mut spend = spec.datasets[2].clone();
    spend.name = "AllSpend".into();
    let pipeline = spend.pipeline.as_mut().unwrap();
    pipeline.nodes.remove(1);
    pipeline.nodes[2] = WitNode::Join(JoinNode {
        left: 0,
        right: 1,
        left_on: vec!["buyer_id".into()],
        right_on: vec!["user_id".into()],
        how: WitHow::Inner,
        within: None,
    });
    pipeline.nodes[3] = WitNode::Aggregate(AggregateNode {
        input: 2,
        keys: vec!["user_id".into()],
        aggregates: vec![avg("7d", "avg_7d")],
    });
    pipeline.output = 3;
    spec.datasets.push(spend);
    let plan = Plan::from_spec(&spec).unwrap();
    let filters = |targets: &[&str]| {
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        crate::dataflow::sole_source_filters(&plan, &targets)
    };

    let alone = filters(&["Features"]);
    assert_eq!(alone.keys().collect::<Vec<_>>(), ["Order"], "users are read by a join");
    assert_eq!(alone["Order"].lambda, 0);
    assert_eq!(alone["Order"].projection, [1], "the filter reads product_type");
    assert!(filters(&["Features", "AllSpend"]).is_empty(), "the orders have a second reader");
    assert!(filters(&["AllSpend"]).is_empty());
}
