//! A join on a two-field key, with `left_on` / `right_on` naming the fields.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct PricedEvent {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub product: String,
    pub market: String,
    pub qty: i64,
    pub item: String,
    pub region: String,
    pub price: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    let events = inputs
        .events
        .select(["user", "ts", "item", "region", "qty"])
        .rename([("item", "product"), ("region", "market")]);
    app.pipeline::<PricedEvent>(
        events.join(&inputs.prices, Join::left_on(["market", "product"]).right_on(["region", "item"]).left()),
    );
}
