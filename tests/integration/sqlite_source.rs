//! The `sqlite` connector reads the same rows as the `csv` one: same history.

use sqlx::Connection;

use crate::reference;
use crate::support::{guest, volga_ok, workspace, write_inputs};

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
}

#[test]
fn a_sqlite_source_gives_the_same_history_as_csv() {
    let wasm = guest("example");
    let (users, orders) = reference::generate(21, 12, 600);

    let csv_dir = workspace();
    write_inputs(csv_dir.path(), &users, &orders);
    volga_ok(csv_dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    let from_csv = volga_ok(csv_dir.path(), &["get-offline", "OnSaleUserSpentInfo"]);

    let sql_dir = workspace();
    let db = sql_dir.path().join("shop.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}?mode=rwc", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE users (user_id TEXT, registered_at TEXT, name TEXT)").execute(&mut conn).await.unwrap();
        sqlx::query("CREATE TABLE orders (buyer_id TEXT, product_id TEXT, product_type TEXT, purchased_at INTEGER, product_price REAL)")
            .execute(&mut conn)
            .await
            .unwrap();
        for u in &users {
            // Timestamps as RFC 3339 text here, integer milliseconds for orders.
            sqlx::query("INSERT INTO users VALUES (?, ?, ?)")
                .bind(&u.id)
                .bind(rfc3339(u.registered_at))
                .bind(&u.name)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        for o in &orders {
            sqlx::query("INSERT INTO orders VALUES (?, ?, ?, ?, ?)")
                .bind(&o.buyer)
                .bind(&o.product)
                .bind(&o.kind)
                .bind(o.ts)
                .bind(o.price)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    std::fs::write(
        sql_dir.path().join("volga.toml"),
        "[storage]\ncold = \"sqlite:./cold.db\"\n[connectors.mysql]\nkind = \"sqlite\"\npath = \"./shop.db\"\n",
    )
    .unwrap();
    volga_ok(sql_dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    let from_sqlite = volga_ok(sql_dir.path(), &["get-offline", "OnSaleUserSpentInfo"]);
    assert!(from_csv.lines().count() > 100);
    assert_eq!(from_csv, from_sqlite);
}
