//! List fields: read from a source, passed to and returned by lambdas, and exploded.

use crate::{Basket, Inputs};
use volga_guest::prelude::*;

#[derive(Dataset)]
#[dataset(name = "Event")]
pub struct Priced {
    pub amount: Option<f64>,
    pub qty: i64,
}

#[derive(Dataset)]
pub struct BasketItem {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub items: Option<String>,
}

#[derive(Dataset)]
pub struct EventPart {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub parts: Option<i64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    // Baskets of fewer than four items, one row per item (a null for an empty basket).
    app.pipeline::<BasketItem>(inputs.baskets.filter(|b: &Basket| b.items.len() < 4).explode("items"));
    // Up to three parts per event with an amount, none (one null row) without.
    let parts = inputs.events.assign("parts", |e: &Priced| match e.amount {
        Some(_) => (1..=e.qty.min(3)).map(|i| i * 10).collect::<Vec<i64>>(),
        None => Vec::new(),
    });
    app.pipeline::<EventPart>(parts.select(["user", "ts", "parts"]).explode("parts"));
}
