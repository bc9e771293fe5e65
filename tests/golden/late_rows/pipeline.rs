//! Late rows (online only): events pushed in the order of `data/events.csv` with a disorder of
//! 5 ms; a row more than 5 ms behind the newest event time seen before it is late, and neither
//! the event stream nor the aggregate sees it.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct OnTimeEvent {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub qty: i64,
}

#[derive(Dataset)]
pub struct OnTimeTotals {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows: i64,
    pub sum_10ms: f64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<OnTimeEvent>(inputs.events.select(["user", "ts", "qty"]));
    app.pipeline::<OnTimeTotals>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().window("forever").into("rows"),
        Sum::on("amount").window("10ms").into("sum_10ms"),
    ]));
}
