//! A filter lambda, then `assign`: one new field and one replaced field, computed in the guest.

use crate::Inputs;
use volga_guest::prelude::*;

/// The fields the lambdas read.
#[derive(Dataset)]
#[dataset(name = "Event")]
pub struct Priced {
    pub amount: Option<f64>,
    pub qty: i64,
}

#[derive(Dataset)]
#[dataset(name = "Event")]
pub struct Named {
    pub item: String,
}

#[derive(Dataset)]
pub struct AssignedEvent {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub region: String,
    pub amount: Option<f64>,
    pub qty: i64,
    pub total: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<AssignedEvent>(
        inputs
            .events
            .filter(|e: &Priced| e.qty >= 2 || e.amount.is_none())
            .assign("total", |e: &Priced| e.amount.map(|a| a * e.qty as f64))
            .assign("item", |e: &Named| e.item.to_uppercase()),
    );
}
