//! Joins bounded in time: right rows at most 5 ms old; right rows up to 3 ms after the event.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct FreshProfile {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub city: Option<String>,
    pub tier: Option<i64>,
}

#[derive(Dataset)]
pub struct LookaheadProfile {
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
    app.pipeline::<FreshProfile>(
        events.join(&inputs.profiles, Join::on(["user"]).left().within("5ms", "0s")),
    );
    app.pipeline::<LookaheadProfile>(
        events.join(&inputs.profiles, Join::on(["user"]).within("forever", "3ms")),
    );
}
