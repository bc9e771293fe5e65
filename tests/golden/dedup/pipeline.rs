//! `dedup` forever, per tumbling bucket and per session; ties at one time keep the least row.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct FirstItem {
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
pub struct FirstIn10ms {
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
pub struct SessionOpener {
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
    app.pipeline::<FirstItem>(inputs.events.dedup(["user", "item"]));
    app.pipeline::<FirstIn10ms>(inputs.events.dedup_in(["user"], Dedup::Tumbling("10ms")));
    app.pipeline::<SessionOpener>(inputs.events.dedup_in(["user"], Dedup::Session("5ms")));
}
