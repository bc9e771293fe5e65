//! `group_by(..).first()` and `.latest()`: keyed datasets of each key's first / latest row.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct FirstEvent {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub region: String,
    pub amount: Option<f64>,
    pub qty: i64,
}

#[derive(Dataset)]
pub struct LatestEvent {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub region: String,
    pub amount: Option<f64>,
    pub qty: i64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<FirstEvent>(inputs.events.group_by(["user"]).first());
    app.pipeline::<LatestEvent>(inputs.events.group_by(["user"]).latest());
}
