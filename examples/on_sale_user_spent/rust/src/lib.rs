//! The reference pipeline: for each user, the average price of their on-sale purchases over the
//! last 7 days and the last hour, and their number of purchases over the last week.

use volga_guest::prelude::*;

/// A registered user.
#[derive(Dataset)]
pub struct User {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub registered_at: Timestamp,
    pub name: String,
}

/// A purchase.
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

/// The features: on-sale spend per user.
#[derive(Dataset)]
pub struct OnSaleUserSpentInfo {
    #[key]
    pub user_id: String,
    #[timestamp]
    pub timestamp: Timestamp,
    pub avg_spent_7d: Option<f64>,
    pub avg_spent_1h: Option<f64>,
    pub num_purchases_1w: i64,
}

/// The rows the on-sale filter reads.
#[derive(Dataset)]
#[dataset(name = "Order")]
pub struct OrderType {
    pub product_type: String,
}

fn pipeline() -> App {
    let mut app = App::new("on_sale_user_spent");
    let users = app.source::<User>([Source::table("mysql", "users")]);
    let orders = app.source::<Order>([
        Source::topic("kafka", "orders").tag("online"),
        Source::table("mysql", "orders").tag("offline"),
    ]);
    app.pipeline::<OnSaleUserSpentInfo>(
        orders
            .filter(|o: &OrderType| o.product_type == "ON_SALE")
            .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
            .group_by(["user_id"])
            .aggregate([
                Avg::on("product_price").window("7d").into("avg_spent_7d"),
                Avg::on("product_price").window("1h").into("avg_spent_1h"),
                Count::rows().window("1w").into("num_purchases_1w"),
            ]),
    );
    app
}

volga_guest::export_pipeline!(pipeline);
