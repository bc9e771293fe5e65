//! A test pipeline over the reference example's sources that uses a transform, every
//! aggregate function, a `forever` window, and a filter that misbehaves on demand: it panics on
//! product type `BOOM`, spins forever on `LOOP`, and allocates 1 GiB on `BOMB`.

use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct User {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub registered_at: Timestamp,
    pub name: String,
}

#[derive(Dataset)]
pub struct Order {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// The field the panicking filter reads.
#[derive(Dataset)]
#[dataset(name = "Order")]
pub struct OrderType {
    pub product_type: String,
}

/// Orders of at least 500, in cents: one output row per input row that qualifies.
#[derive(Dataset)]
pub struct LargeOrder {
    #[key]
    pub buyer_id: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub price_cents: i64,
}

/// Every order with its buyer's name as of the order (null when unknown then): a left join.
#[derive(Dataset)]
pub struct OrderWithUser {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
    pub user_id: String,
    pub name: Option<String>,
}

/// Every aggregate over every window kind the slice supports.
#[derive(Dataset)]
pub struct SpendTotals {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub ts: Timestamp,
    pub total: f64,
    pub orders_2h: i64,
    pub max_1h: Option<f64>,
    pub min_1d: Option<f64>,
    pub avg_forever: Option<f64>,
}

/// Aggregates over the last closed bucket or hop.
#[derive(Dataset)]
pub struct BucketTotals {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub ts: Timestamp,
    pub total_1h_bucket: f64,
    pub orders_2h_hop_30m: i64,
    pub avg_1d_bucket: Option<f64>,
    pub max_1h_hop_2h: Option<f64>,
}

/// Aggregates that need every value of the window.
#[derive(Dataset)]
pub struct SpreadStats {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub ts: Timestamp,
    pub stddev_1d: Option<f64>,
    pub products_forever: i64,
    pub median_2h: Option<f64>,
    pub p90_1d_bucket: Option<f64>,
}

/// Aggregates over the last closed session of each user.
#[derive(Dataset)]
pub struct SessionTotals {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub ts: Timestamp,
    pub orders_1h_session: i64,
    pub spent_1h_session: f64,
    pub avg_3h_session: Option<f64>,
}

/// One sliding hour: the state-size test's dataset.
#[derive(Dataset)]
pub struct HourCounts {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub ts: Timestamp,
    pub orders_1h: i64,
}

/// Orders of known buyers with the buyer's name, under new field names: native `dropnull`,
/// `drop`, `rename` and `select` after a left join.
#[derive(Dataset)]
pub struct NamedOrder {
    #[key]
    pub buyer: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub price: f64,
    pub name: String,
}

/// On-sale orders and regular orders, filtered apart and put back together: a native `union`.
#[derive(Dataset)]
pub struct ReunitedOrder {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// Each buyer's latest order: a keyed dataset from an event stream.
#[derive(Dataset)]
pub struct LatestOrder {
    #[key]
    pub user_id: String,
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// Each buyer's first order.
#[derive(Dataset)]
pub struct FirstOrder {
    #[key]
    pub user_id: String,
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// The first order of each (buyer, product), ever: `dedup`.
#[derive(Dataset)]
pub struct FirstPurchase {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// Each buyer's first order of every hour bucket: `dedup` in a tumbling window.
#[derive(Dataset)]
pub struct HourlyFirstOrder {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

/// The orders that start a buyer's session (2 hours without orders before them).
#[derive(Dataset)]
pub struct SessionStart {
    #[key]
    pub buyer_id: String,
    #[key]
    pub product_id: String,
    pub product_type: String,
    #[timestamp]
    pub purchased_at: Timestamp,
    pub product_price: f64,
}

fn pipeline() -> App {
    let mut app = App::new("test_lambdas");
    let users = app.source::<User>([Source::table("mysql", "users")]);
    let orders = app.source::<Order>([Source::table("mysql", "orders")]);
    app.pipeline::<LargeOrder>(
        orders
            .filter(|o: &OrderType| match o.product_type.as_str() {
                "BOOM" => panic!("boom: product type BOOM is not allowed"),
                "LOOP" => {
                    let mut spins = 0u64;
                    loop {
                        spins = std::hint::black_box(spins.wrapping_add(1));
                    }
                }
                "BOMB" => {
                    let mut hoard = std::hint::black_box(vec![0u8; 1 << 30]);
                    hoard[(1 << 30) - 1] = 1;
                    std::hint::black_box(&hoard)[(1 << 30) - 1] == 1
                }
                _ => true,
            })
            .transform(|o: &Order| {
                (o.product_price >= 500.0).then(|| LargeOrder {
                    buyer_id: o.buyer_id.clone(),
                    purchased_at: o.purchased_at,
                    price_cents: (o.product_price * 100.0).round() as i64,
                })
            }),
    );
    app.pipeline::<OrderWithUser>(
        orders.join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]).left()),
    );
    app.pipeline::<SpendTotals>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([
                Sum::on("product_price").window("forever").into("total"),
                Count::rows().window("2h").into("orders_2h"),
                Max::on("product_price").window("1h").into("max_1h"),
                Min::on("product_price").window("1d").into("min_1d"),
                Avg::on("product_price").window("forever").into("avg_forever"),
            ]),
    );
    app.pipeline::<BucketTotals>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([
                Sum::on("product_price").tumbling("1h").into("total_1h_bucket"),
                Count::rows().hopping("2h", "30m").into("orders_2h_hop_30m"),
                Avg::on("product_price").tumbling("1d").into("avg_1d_bucket"),
                Max::on("product_price").hopping("1h", "2h").into("max_1h_hop_2h"),
            ]),
    );
    app.pipeline::<SpreadStats>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([
                Stddev::on("product_price").window("1d").into("stddev_1d"),
                Distinct::on("product_id").window("forever").into("products_forever"),
                Quantile::on("product_price", 0.5).window("2h").into("median_2h"),
                Quantile::on("product_price", 0.9).tumbling("1d").into("p90_1d_bucket"),
            ]),
    );
    app.pipeline::<SessionTotals>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([
                Count::rows().session("1h").into("orders_1h_session"),
                Sum::on("product_price").session("1h").into("spent_1h_session"),
                Avg::on("product_price").session("3h").into("avg_3h_session"),
            ]),
    );
    app.pipeline::<HourCounts>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([Count::rows().window("1h").into("orders_1h")]),
    );
    app.pipeline::<NamedOrder>(
        orders
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]).left())
            .dropnull(["name"])
            .drop(["product_type", "user_id"])
            .rename([("buyer_id", "buyer"), ("product_price", "price")])
            .select(["buyer", "purchased_at", "price", "name"]),
    );
    let on_sale = orders.filter(|o: &OrderType| o.product_type == "ON_SALE");
    let regular = orders.filter(|o: &OrderType| o.product_type == "REGULAR");
    app.pipeline::<ReunitedOrder>(on_sale.union(&[&regular]));
    app.pipeline::<FirstPurchase>(orders.dedup(["buyer_id", "product_id"]));
    app.pipeline::<HourlyFirstOrder>(orders.dedup_in(["buyer_id"], Dedup::Tumbling("1h")));
    app.pipeline::<SessionStart>(orders.dedup_in(["buyer_id"], Dedup::Session("2h")));
    let by_user = orders.rename([("buyer_id", "user_id")]);
    app.pipeline::<LatestOrder>(by_user.group_by(["user_id"]).latest());
    app.pipeline::<FirstOrder>(by_user.group_by(["user_id"]).first());
    app
}

volga_guest::export_pipeline!(pipeline);
