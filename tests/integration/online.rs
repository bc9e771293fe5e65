//! Online == offline: every value `volga serve` serves during a live run — from the HTTP push
//! source and from Kafka, with random batching, arrival out of order within `disorder`, late and
//! malformed records, 1 and 2 workers — equals an offline point-in-time query at its `as_of`
//! over the rows the run applied, bit for bit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use crate::live::{Broker, Server, wait_for};
use crate::offline_reference::{cell, training_set};
use crate::reference::{self, Order};
use crate::support::guest;

const DATASET: &str = "OnSaleUserSpentInfo";
const FEATURES: [&str; 3] = ["avg_spent_7d", "avg_spent_1h", "num_purchases_1w"];
const DISORDER: i64 = 2 * reference::HOUR;
const TOKEN: &str = "test-token";

/// How orders reach the server.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Http,
    Kafka { partitions: usize },
}

fn order_json(o: &Order) -> Value {
    json!({
        "buyer_id": o.buyer, "product_id": o.product, "product_type": o.kind,
        "purchased_at": o.ts, "product_price": o.price,
    })
}

/// A feature value compared bit for bit: `None` for null (or no row).
type Bits = Option<u64>;

/// `(user, as_of)` -> the features served.
type Served = BTreeMap<(String, i64), Vec<Bits>>;

fn cells(row: &Value) -> Vec<Bits> {
    FEATURES.iter().map(|f| row[f].as_f64().map(f64::to_bits)).collect()
}

/// Looks up every user, latest; records what was served. Returns the lookup's `as_of`.
fn record_latest(server: &Server, users: &[String], served: &mut Served) -> Option<i64> {
    let keys: Vec<Value> = users.iter().map(|u| json!({"user_id": u})).collect();
    let (status, body) = server.post("/v1/lookup", &json!({"dataset": DATASET, "keys": keys}));
    assert_eq!(status, 200, "{body}");
    let as_of = body["as_of"].as_i64()?;
    for (user, row) in users.iter().zip(body["rows"].as_array().unwrap()) {
        let features = if row.is_null() { vec![None; 3] } else { cells(row) };
        served.insert((user.clone(), as_of), features);
    }
    Some(as_of)
}

/// Point-in-time lookups at `times` (all final), recorded.
fn record_point_in_time(server: &Server, users: &[String], times: &[i64], served: &mut Served) {
    for &time in times {
        let keys: Vec<Value> = users.iter().map(|u| json!({"user_id": u})).collect();
        let (status, body) =
            server.post("/v1/lookup", &json!({"dataset": DATASET, "keys": keys, "as_of": time}));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["as_of"], json!(time));
        for (user, row) in users.iter().zip(body["rows"].as_array().unwrap()) {
            let features = if row.is_null() { vec![None; 3] } else { cells(row) };
            served.insert((user.clone(), time), features);
        }
    }
}

/// Arrival order: by event time plus a random delay below `DISORDER`, so nothing is late.
fn arrival_order(orders: &mut [Order], rng: &mut StdRng) {
    let mut keyed: Vec<(i64, Order)> =
        orders.iter().map(|o| (o.ts + rng.random_range(0..DISORDER), o.clone())).collect();
    keyed.sort_by_key(|(k, _)| *k);
    for (slot, (_, order)) in orders.iter_mut().zip(keyed) {
        *slot = order;
    }
}

fn config(transport: Transport, broker: Option<&Broker>, workers: usize) -> String {
    let orders = match transport {
        Transport::Http => "kind = \"http\"".to_string(),
        Transport::Kafka { .. } => format!("kind = \"kafka\"\nbrokers = \"{}\"", broker.unwrap().address),
    };
    format!(
        "[storage]\ncold = \"sqlite:./cold.db\"\nhot = \"sled:./hot\"\n\n[runtime]\nworkers = {workers}\n\n\
         [server]\ntoken = \"{TOKEN}\"\n\n[connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n\n\
         [connectors.kafka]\n{orders}\ndisorder = \"2h\"\nidleness = \"off\"\n"
    )
}

/// One live run; returns the number of feature values compared.
fn live_run(transport: Transport, workers: usize, seed: u64) -> usize {
    let wasm = guest("example");
    let mut rng = StdRng::seed_from_u64(seed);
    let (users, mut orders) = reference::generate(seed, 20, 2000);
    arrival_order(&mut orders, &mut rng);
    let user_ids: Vec<String> = (0..23).map(|u| format!("u{u}")).collect();

    let broker = matches!(transport, Transport::Kafka { .. }).then(Broker::start);
    let dir = tempfile::tempdir().unwrap();
    crate::support::write_inputs(dir.path(), &users, &[]);
    std::fs::write(dir.path().join("volga.toml"), config(transport, broker.as_ref(), workers)).unwrap();
    let producer: Option<BaseProducer> = broker.as_ref().map(|b| {
        let Transport::Kafka { partitions } = transport else { unreachable!() };
        b.create_topic("orders", partitions);
        ClientConfig::new().set("bootstrap.servers", &b.address).create().unwrap()
    });
    let server = Server::start(dir.path());
    server.deploy(&wasm, TOKEN);

    let mut served = Served::new();
    let mut applied: Vec<Order> = Vec::new();
    let (mut late, mut malformed) = (0u64, 0u64);
    let mut newest = vec![
        i64::MIN;
        match transport {
            Transport::Kafka { partitions } => partitions,
            _ => 1,
        }
    ];
    let mut next = 0;
    let mut batch_number = 0;
    while next < orders.len() {
        let size = rng.random_range(1..=200).min(orders.len() - next);
        let mut batch: Vec<Order> = orders[next..next + size].to_vec();
        next += size;
        batch_number += 1;
        match transport {
            Transport::Http => {
                let mut body: Vec<Value> = batch.iter().map(order_json).collect();
                // Now and then a late row (behind the watermark by up to a day) and a malformed one.
                let watermark = newest[0].saturating_sub(DISORDER);
                if batch_number % 3 == 0 && newest[0] > i64::MIN {
                    let mut row = batch[0].clone();
                    row.ts = watermark - 1 - rng.random_range(0..reference::DAY);
                    body.insert(rng.random_range(0..=body.len()), order_json(&row));
                    late += 1;
                }
                if batch_number % 4 == 0 {
                    body.push(json!({"buyer_id": "u1", "product_id": "p1", "product_type": "ON_SALE", "purchased_at": 5}));
                    malformed += 1;
                }
                let (status, answer) = server.post("/v1/ingest/orders", &Value::Array(body));
                assert_eq!(status, 200, "{answer}");
                newest[0] = newest[0].max(batch.iter().map(|o| o.ts).max().unwrap());
                applied.append(&mut batch);
            }
            Transport::Kafka { partitions } => {
                let producer = producer.as_ref().unwrap();
                for (i, order) in batch.iter().enumerate() {
                    // The first rows go to every partition, so each has a watermark.
                    let partition = if next - size + i < partitions {
                        next - size + i
                    } else {
                        rng.random_range(0..partitions)
                    };
                    newest[partition] = newest[partition].max(order.ts);
                    let payload = order_json(order).to_string();
                    producer
                        .send(BaseRecord::<(), _>::to("orders").payload(&payload).partition(partition as i32))
                        .unwrap();
                }
                if batch_number % 4 == 0 {
                    let payload = "{not json";
                    producer.send(BaseRecord::<(), _>::to("orders").payload(payload).partition(0)).unwrap();
                    malformed += 1;
                }
                producer.flush(Duration::from_secs(10)).unwrap();
                applied.append(&mut batch);
            }
        }
        if matches!(transport, Transport::Http) && batch_number % 2 == 0 {
            // Every other batch, wait until it is published: lookups then see every watermark.
            let expected = newest[0] - DISORDER - 1;
            wait_for("the batch's watermark", Duration::from_secs(30), || {
                record_latest(&server, &user_ids, &mut served) == Some(expected)
            });
        } else {
            record_latest(&server, &user_ids, &mut served);
        }
    }

    // Wait for the final watermark, then look up once more, latest and at past final times.
    let final_watermark = newest.iter().copied().min().unwrap() - DISORDER;
    wait_for("the final watermark to be published", Duration::from_secs(60), || {
        record_latest(&server, &user_ids, &mut served) == Some(final_watermark - 1)
    });
    let times: Vec<i64> = (0..20)
        .map(|_| {
            applied[rng.random_range(0..applied.len())].ts + [0, -1, reference::HOUR][rng.random_range(0..3)]
        })
        .filter(|&t| t < final_watermark)
        .collect();
    record_point_in_time(&server, &user_ids, &times, &mut served);

    // Nothing was lost: every record is applied, late or dead-lettered.
    let rows_in = server.metric("volga_source_rows_in_total");
    let rows_applied = server.metric("volga_source_rows_applied_total");
    let late_seen = server.metric("volga_source_late_rows_total");
    let malformed_seen = server.metric(
        "volga_dead_letters_total{pipeline=\"on_sale_user_spent\",dataset=\"Order\",reason=\"malformed\"}",
    );
    assert_eq!(rows_applied as usize, applied.len());
    assert_eq!((late_seen as u64, malformed_seen as u64), (late, malformed));
    assert_eq!(rows_in, rows_applied + late_seen + malformed_seen);
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len() as u64, late + malformed);
    drop(server);

    // Offline over exactly the applied rows, queried at every served (user, as_of).
    let spine: Vec<(String, i64)> = served.keys().cloned().collect();
    let (header, rows) = training_set(&wasm, DATASET, &users, &applied, &spine);
    assert_eq!(&header[2..], FEATURES);
    let mut compared = 0;
    for (row, ((user, as_of), online)) in rows.iter().zip(&served) {
        assert_eq!((&row[0], row[1].parse::<i64>().unwrap()), (user, *as_of));
        let offline: Vec<Bits> = row[2..].iter().map(|c| cell(c)).collect();
        assert_eq!(offline, *online, "{user} as of {as_of}: offline {:?}, served {online:?}", &row[2..]);
        compared += online.len();
    }
    println!(
        "{transport:?}, {workers} worker(s): {compared} served values equal offline ({} lookups of {} users, {late} late and {malformed} malformed records dead-lettered)",
        served.len() / user_ids.len(),
        user_ids.len()
    );
    compared
}

fn dead_letters(dir: &Path) -> Vec<volga::store::DeadLetter> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = volga::store::ColdStore::open_existing(&dir.join("cold.db")).await.unwrap();
        store.dead_letters("on_sale_user_spent").await.unwrap()
    })
}

#[test]
fn http_lookups_equal_offline_point_in_time_queries() {
    let mut seeds = [11u64, 12];
    seeds.shuffle(&mut StdRng::seed_from_u64(0));
    assert!(live_run(Transport::Http, 1, seeds[0]) > 0);
    assert!(live_run(Transport::Http, 2, seeds[1]) > 0);
}

#[test]
fn kafka_lookups_equal_offline_point_in_time_queries() {
    assert!(live_run(Transport::Kafka { partitions: 3 }, 1, 21) > 0);
    assert!(live_run(Transport::Kafka { partitions: 2 }, 2, 22) > 0);
}
