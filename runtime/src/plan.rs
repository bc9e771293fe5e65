//! The validated plan of a pipeline component.
//!
//! A guest's raw [`PipelineSpec`] is checked once, here, into a [`Plan`]: dataset schemas,
//! sources, operator graphs with the schema of every node, lambda signatures, aggregate types
//! and windows. Errors name the pipeline, dataset, operator and field. Nothing downstream
//! re-checks what a `Plan` guarantees.

mod aggregate;
mod graph;

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::schema::{Field, Schema};
use crate::value::{FieldType, ScalarType};
use crate::wasm::spec::{self, PipelineSpec};

pub use aggregate::{AggregateFn, AggregatePlan, Window};
pub use graph::{Graph, JoinHow, Node, Op, Pick};

/// A plan that failed validation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A problem with the component as a whole.
    #[error("pipeline `{pipeline}`: {message}")]
    Pipeline {
        /// The component's name.
        pipeline: String,
        /// What is wrong.
        message: String,
    },
    /// A problem with a dataset's declaration.
    #[error("pipeline `{pipeline}`: dataset `{dataset}`: {message}")]
    Dataset {
        /// The component's name.
        pipeline: String,
        /// The dataset.
        dataset: String,
        /// What is wrong.
        message: String,
    },
    /// A problem with one operator of a dataset's pipeline.
    #[error("pipeline `{pipeline}`: dataset `{dataset}`: {operator}: {message}")]
    Operator {
        /// The component's name.
        pipeline: String,
        /// The dataset whose pipeline holds the operator.
        dataset: String,
        /// The operator, e.g. `join #2`.
        operator: String,
        /// What is wrong.
        message: String,
    },
}

/// Where a source dataset's rows come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRef {
    /// The connector's name in the config.
    pub connector: String,
    /// The table or topic.
    pub name: String,
    /// The tag that selects it, if any.
    pub tag: Option<String>,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.connector, self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, " [{tag}]")?;
        }
        Ok(())
    }
}

/// How a dataset is produced.
#[derive(Clone, Debug)]
pub enum DatasetBody {
    /// Read from one of these sources.
    Source(Vec<SourceRef>),
    /// Computed by an operator graph.
    Derived(Graph),
}

/// A validated dataset.
#[derive(Clone, Debug)]
pub struct DatasetPlan {
    /// The dataset's name.
    pub name: String,
    /// Its declared schema.
    pub schema: Schema,
    /// How it is produced.
    pub body: DatasetBody,
}

impl DatasetPlan {
    /// Whether the dataset is computed by a pipeline.
    pub fn is_derived(&self) -> bool {
        matches!(self.body, DatasetBody::Derived(_))
    }

    /// Whether the dataset is an event stream (sources, and pipelines without aggregation)
    /// rather than a keyed changelog (aggregated datasets).
    pub fn is_event_stream(&self) -> bool {
        match &self.body {
            DatasetBody::Source(_) => true,
            DatasetBody::Derived(graph) => graph.nodes[graph.output].events,
        }
    }
}

/// What a lambda does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LambdaKind {
    /// Keeps or drops rows.
    Filter,
    /// Maps rows to rows of another type.
    Transform,
    /// Computes one field's value per row.
    Assign,
}

/// A validated lambda declaration.
#[derive(Clone, Debug)]
pub struct LambdaPlan {
    /// Its id in calls.
    pub id: u32,
    /// Its name for messages and metrics.
    pub name: String,
    /// Filter or transform.
    pub kind: LambdaKind,
    /// The fields it reads; `None` for all fields of its input.
    pub input: Option<Vec<Field>>,
    /// The row type a transform emits; for an assign, the one field it computes (a schema
    /// without a timestamp).
    pub output: Option<Schema>,
}

/// A validated pipeline component.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The component's name.
    pub name: String,
    /// The SDK that built it.
    pub sdk: String,
    /// Datasets in declaration order: every pipeline's inputs precede it.
    pub datasets: Vec<DatasetPlan>,
    /// Lambdas by id.
    pub lambdas: Vec<LambdaPlan>,
    by_name: HashMap<String, usize>,
}

impl Plan {
    /// Validates a guest's description.
    pub fn from_spec(spec: &PipelineSpec) -> Result<Plan, PlanError> {
        let pipeline = spec.name.clone();
        let err = |message: String| PlanError::Pipeline { pipeline: pipeline.clone(), message };
        if !is_identifier(&spec.name) {
            return Err(err(format!("`{}` is not a valid pipeline name (letters, digits, _)", spec.name)));
        }
        let lambdas = spec
            .lambdas
            .iter()
            .enumerate()
            .map(|(index, l)| lambda_plan(&pipeline, index, l))
            .collect::<Result<Vec<_>, _>>()?;
        let mut plan = Plan {
            name: spec.name.clone(),
            sdk: spec.sdk.clone(),
            datasets: Vec::new(),
            lambdas,
            by_name: HashMap::new(),
        };
        if spec.datasets.is_empty() {
            return Err(err("declares no datasets".into()));
        }
        for def in &spec.datasets {
            let dataset = plan.dataset_plan(def)?;
            if plan.by_name.insert(dataset.name.clone(), plan.datasets.len()).is_some() {
                return Err(err(format!("dataset `{}` is declared twice", dataset.name)));
            }
            plan.datasets.push(dataset);
        }
        Ok(plan)
    }

    /// The dataset `name`.
    pub fn dataset(&self, name: &str) -> Option<&DatasetPlan> {
        self.by_name.get(name).map(|&i| &self.datasets[i])
    }

    /// The names of all datasets, for messages.
    pub fn dataset_names(&self) -> Vec<&str> {
        self.datasets.iter().map(|d| d.name.as_str()).collect()
    }

    fn dataset_plan(&self, def: &spec::DatasetDef) -> Result<DatasetPlan, PlanError> {
        let derr = |message: String| PlanError::Dataset {
            pipeline: self.name.clone(),
            dataset: def.name.clone(),
            message,
        };
        if !is_identifier(&def.name) {
            return Err(derr("the name must be letters, digits and _, not starting with a digit".into()));
        }
        let schema = schema_from_defs(&def.fields).map_err(derr)?;
        let body = match (&def.pipeline, def.sources.is_empty()) {
            (Some(_), false) => return Err(derr("has both sources and a pipeline".into())),
            (None, true) => return Err(derr("has neither a source nor a pipeline".into())),
            (None, false) => {
                if schema.key_indexes().iter().any(|&k| schema.fields[k].ty.nullable) {
                    return Err(derr("key fields of a source dataset cannot be optional".into()));
                }
                DatasetBody::Source(
                    def.sources
                        .iter()
                        .map(|s| SourceRef {
                            connector: s.connector.clone(),
                            name: s.name.clone(),
                            tag: s.tag.clone(),
                        })
                        .collect(),
                )
            }
            (Some(pipeline), true) => DatasetBody::Derived(graph::build(self, &def.name, &schema, pipeline)?),
        };
        Ok(DatasetPlan { name: def.name.clone(), schema, body })
    }
}

/// Whether `name` is usable as a dataset or field name (and so as a SQL identifier).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("_volga")
}

pub(crate) fn field_type(ty: &spec::FieldType) -> FieldType {
    let scalar = |s: &spec::ScalarType| match s {
        spec::ScalarType::Int => ScalarType::Int,
        spec::ScalarType::Float => ScalarType::Float,
        spec::ScalarType::Str => ScalarType::Str,
        spec::ScalarType::Boolean => ScalarType::Bool,
        spec::ScalarType::Timestamp => ScalarType::Timestamp,
    };
    match ty {
        spec::FieldType::Scalar(s) => FieldType::required(scalar(s)),
        spec::FieldType::Optional(s) => FieldType::optional(scalar(s)),
        spec::FieldType::List(s) => FieldType::list(scalar(s)),
    }
}

/// A schema from field declarations: unique identifier names, exactly one non-null timestamp.
fn schema_from_defs(defs: &[spec::FieldDef]) -> Result<Schema, String> {
    let mut fields: Vec<Field> = Vec::with_capacity(defs.len());
    for def in defs {
        if !is_identifier(&def.name) {
            return Err(format!("field `{}`: the name must be letters, digits and _", def.name));
        }
        if fields.iter().any(|f| f.name == def.name) {
            return Err(format!("field `{}` is declared twice", def.name));
        }
        let ty = field_type(&def.ty);
        if def.key && ty.list {
            return Err(format!("key field `{}` cannot be a list", def.name));
        }
        if def.timestamp && ty != FieldType::required(ScalarType::Timestamp) {
            return Err(format!("timestamp field `{}` must have type timestamp, not {ty}", def.name));
        }
        fields.push(Field { name: def.name.clone(), ty, key: def.key, timestamp: def.timestamp });
    }
    match fields.iter().filter(|f| f.timestamp).count() {
        1 => Ok(Schema { fields }),
        0 => Err("has no timestamp field (mark exactly one field #[timestamp])".into()),
        n => Err(format!("has {n} timestamp fields; exactly one is allowed")),
    }
}

fn lambda_plan(pipeline: &str, index: usize, def: &spec::LambdaDef) -> Result<LambdaPlan, PlanError> {
    let err = |message: String| PlanError::Pipeline {
        pipeline: pipeline.to_string(),
        message: format!("lambda `{}`: {message}", def.name),
    };
    if def.id as usize != index {
        return Err(err(format!("has id {} but is declared at position {index}", def.id)));
    }
    let kind = match def.kind {
        spec::LambdaKind::Filter => LambdaKind::Filter,
        spec::LambdaKind::Transform => LambdaKind::Transform,
        spec::LambdaKind::Assign => LambdaKind::Assign,
    };
    let input = def.input.as_ref().map(|fields| {
        fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                ty: field_type(&f.ty),
                key: f.key,
                timestamp: f.timestamp,
            })
            .collect()
    });
    let output = match (&def.output, kind) {
        (Some(fields), LambdaKind::Transform) => {
            Some(schema_from_defs(fields).map_err(|m| err(format!("output type {m}")))?)
        }
        (None, LambdaKind::Transform) => {
            return Err(err("a transform must declare its output type".into()));
        }
        (Some(fields), LambdaKind::Assign) => match fields.as_slice() {
            [field] if is_identifier(&field.name) && !field.key && !field.timestamp => Some(Schema {
                fields: vec![Field {
                    name: field.name.clone(),
                    ty: field_type(&field.ty),
                    key: false,
                    timestamp: false,
                }],
            }),
            [field] if !is_identifier(&field.name) => {
                return Err(err(format!("assigns `{}`, which is not a valid field name", field.name)));
            }
            [field] => {
                return Err(err(format!(
                    "assigns `{}` as a key or timestamp, which an assign cannot add",
                    field.name
                )));
            }
            other => return Err(err(format!("an assign computes one field, not {}", other.len()))),
        },
        (None, LambdaKind::Assign) => return Err(err("an assign must declare the field it computes".into())),
        (_, LambdaKind::Filter) => None,
    };
    Ok(LambdaPlan { id: def.id, name: def.name.clone(), kind, input, output })
}

#[cfg(test)]
mod tests;
