//! As-of joins, inner and left, with right rows at the left row's exact time and null values.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct EventWithProfile {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub city: Option<String>,
    pub tier: Option<i64>,
}

#[derive(Dataset)]
pub struct EventOfKnownUser {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub city: Option<String>,
    pub tier: i64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    let events = inputs.events.select(["user", "ts", "item"]);
    app.pipeline::<EventWithProfile>(events.join(&inputs.profiles, Join::on(["user"]).left()));
    app.pipeline::<EventOfKnownUser>(events.join(&inputs.profiles, Join::on(["user"])));
}
