//! Native `union` of two filtered streams, with rows in both at the same time.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
#[dataset(name = "Event")]
pub struct Region {
    pub region: String,
}

#[derive(Dataset)]
#[dataset(name = "Event")]
pub struct Qty {
    pub qty: i64,
}

#[derive(Dataset)]
pub struct EuOrBulk {
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
    // A row both in the EU and bulk appears twice.
    let eu = inputs.events.filter(|e: &Region| e.region == "eu");
    let bulk = inputs.events.filter(|e: &Qty| e.qty >= 2);
    app.pipeline::<EuOrBulk>(eu.union(&[&bulk]));
}
