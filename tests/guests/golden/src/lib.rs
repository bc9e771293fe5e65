//! The golden cases' pipelines in one component: each folder under `tests/golden/` holds a
//! `pipeline.rs` that declares its datasets over the source datasets below (read from
//! the case's own `data/` folder), and is listed in `cases!` below.

use volga_guest::prelude::*;

/// Events: several per user, with ties, exact window edges and null amounts.
#[derive(Dataset)]
pub struct Event {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub item: String,
    pub region: String,
    pub amount: Option<f64>,
    pub qty: i64,
}

/// A keyed dataset of user profiles, joined as of each event.
#[derive(Dataset)]
pub struct Profile {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub city: Option<String>,
    pub tier: i64,
}

/// A dataset keyed on two fields.
#[derive(Dataset)]
pub struct Price {
    #[key]
    pub item: String,
    #[key]
    pub region: String,
    #[timestamp]
    pub ts: Timestamp,
    pub price: f64,
}

/// Baskets: a list field in a source.
#[derive(Dataset)]
pub struct Basket {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub items: Vec<String>,
}

/// The source datasets every case can read.
pub struct Inputs {
    pub events: Stream,
    pub profiles: Stream,
    pub prices: Stream,
    pub baskets: Stream,
}

macro_rules! cases {
    ($($case:ident: $path:literal),* $(,)?) => {
        $(
            #[path = $path]
            mod $case;
        )*

        fn pipeline() -> App {
            let mut app = App::new("golden");
            let inputs = Inputs {
                events: app.source::<Event>([Source::table("golden", "events")]),
                profiles: app.source::<Profile>([Source::table("golden", "profiles")]),
                prices: app.source::<Price>([Source::table("golden", "prices")]),
                baskets: app.source::<Basket>([Source::table("golden", "baskets")]),
            };
            $($case::declare(&mut app, &inputs);)*
            app
        }
    };
}

cases!(
    sliding_edges: "../../../golden/sliding_edges/pipeline.rs",
    forever_aggregates: "../../../golden/forever_aggregates/pipeline.rs",
    tumbling_buckets: "../../../golden/tumbling_buckets/pipeline.rs",
    hopping_hops: "../../../golden/hopping_hops/pipeline.rs",
    session_gaps: "../../../golden/session_gaps/pipeline.rs",
    spread_aggregates: "../../../golden/spread_aggregates/pipeline.rs",
    filter_assign: "../../../golden/filter_assign/pipeline.rs",
    transform: "../../../golden/transform/pipeline.rs",
    join_modes: "../../../golden/join_modes/pipeline.rs",
    join_within: "../../../golden/join_within/pipeline.rs",
    join_multi_key: "../../../golden/join_multi_key/pipeline.rs",
    several_joins: "../../../golden/several_joins/pipeline.rs",
    project_dropnull: "../../../golden/project_dropnull/pipeline.rs",
    union: "../../../golden/union/pipeline.rs",
    dedup: "../../../golden/dedup/pipeline.rs",
    first_latest: "../../../golden/first_latest/pipeline.rs",
    changelog: "../../../golden/changelog/pipeline.rs",
    recent_values: "../../../golden/recent_values/pipeline.rs",
    lists: "../../../golden/lists/pipeline.rs",
    late_rows: "../../../golden/late_rows/pipeline.rs",
);

volga_guest::export_pipeline!(pipeline);
