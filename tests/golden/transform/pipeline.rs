//! A transform lambda emitting zero, one or several rows per input row.

use crate::{Event, Inputs};
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct Unit {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub unit: i64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    // One row per unit bought, for up to three units; none for events without an amount.
    app.pipeline::<Unit>(inputs.events.transform(|e: &Event| {
        let units = if e.amount.is_some() { e.qty.min(3) } else { 0 };
        (1..=units)
            .map(|unit| Unit { user: e.user.clone(), ts: e.ts, item: e.item.clone(), unit })
            .collect::<Vec<_>>()
    }));
}
