//! Schemas: the named, typed fields of a dataset or stream, with its keys and event time.

use serde::{Deserialize, Serialize};

use crate::value::FieldType;

/// One field of a schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Part of the key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key: bool,
    /// The event-time field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timestamp: bool,
}

/// The fields of a dataset or of a stream between operators. A valid schema has unique names
/// and exactly one timestamp field; [`crate::plan`] checks that when it builds one from a guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The fields, in row order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// The index of the field `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The index of the event-time field.
    pub fn timestamp_index(&self) -> usize {
        self.fields.iter().position(|f| f.timestamp).expect("validated schema has a timestamp field")
    }

    /// The name of the event-time field.
    pub fn timestamp_name(&self) -> &str {
        &self.fields[self.timestamp_index()].name
    }

    /// The indexes of the key fields, in schema order.
    pub fn key_indexes(&self) -> Vec<usize> {
        self.fields.iter().enumerate().filter(|(_, f)| f.key).map(|(i, _)| i).collect()
    }

    /// The names of the key fields, in schema order.
    pub fn key_names(&self) -> Vec<&str> {
        self.fields.iter().filter(|f| f.key).map(|f| f.name.as_str()).collect()
    }

    /// The indexes of the feature fields: neither key nor timestamp.
    pub fn value_indexes(&self) -> Vec<usize> {
        self.fields.iter().enumerate().filter(|(_, f)| !f.key && !f.timestamp).map(|(i, _)| i).collect()
    }

    /// `name: type` pairs, for messages.
    pub fn describe(&self) -> String {
        self.fields.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect::<Vec<_>>().join(", ")
    }
}
