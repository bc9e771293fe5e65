//! Online scenarios: live ingest throughput into the hot store (HTTP push source, and Kafka
//! when a broker is given), freshness (push -> visible in a lookup), and lookup latency under a
//! fixed request rate with an open-loop load generator on loopback.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};
use volga::config::Config;
use volga::sample::{SampleSpec, write_sample};
use volga::server::Embedded;

use crate::lookup_client::{Connection, Pool};
use crate::report::{Report, Target};

/// What to run.
pub struct OnlineSpec {
    pub orders: usize,
    pub users: usize,
    pub workers: Option<usize>,
    /// A tansu binary: when given, the Kafka scenario runs against a fresh in-memory broker.
    pub tansu: Option<std::path::PathBuf>,
    pub lookup_rate: u64,
    /// Requests/s of the 100-key latency run.
    pub batch_lookup_rate: u64,
    /// Requests/s of the 100-key run at issue 6's target rate.
    pub batch_lookup_target_rate: u64,
    pub lookup_secs: u64,
}

const TOKEN: &str = "bench";
const DATASET: &str = "OnSaleUserSpentInfo";

fn config(dir: &Path, orders: &str, workers: Option<usize>) -> Result<Config> {
    let workers = workers.map(|w| format!("[runtime]\nworkers = {w}\n")).unwrap_or_default();
    let text = format!(
        "[storage]\ncold = \"sqlite:./cold.db\"\nhot = \"sled:./hot\"\n{workers}[server]\ntoken = \"{TOKEN}\"\n\
         [connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n[connectors.kafka]\n{orders}\ndisorder = \"0s\"\nidleness = \"off\"\n"
    );
    std::fs::write(dir.join("volga.toml"), text)?;
    Ok(Config::load(Some(&dir.join("volga.toml")))?)
}

/// Orders with strictly increasing event times from `start`, one ms apart.
fn orders(count: usize, users: usize, start: i64, seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            json!({
                "buyer_id": format!("u{}", rng.random_range(0..users)),
                "product_id": format!("p{}", rng.random_range(0..100)),
                "product_type": if rng.random_bool(0.6) { "ON_SALE" } else { "REGULAR" },
                "purchased_at": start + i as i64,
                "product_price": rng.random_range(100..100_000) as f64 / 100.0,
            })
        })
        .collect()
}

struct Running {
    url: String,
    client: reqwest::Client,
    server: Embedded,
    /// How long the deploy request took.
    deploy: Duration,
}

async fn start(config: Config, wasm: &Path) -> Result<Running> {
    let server = Embedded::start(config).await?;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let deploying = Instant::now();
    let response = client
        .post(format!("{url}/v1/pipelines"))
        .bearer_auth(TOKEN)
        .body(std::fs::read(wasm)?)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("deploy: {}", response.text().await?);
    }
    Ok(Running { url, client, server, deploy: deploying.elapsed() })
}

impl Running {
    async fn lookup(&self, keys: &[Value]) -> Result<Value> {
        let body = json!({"dataset": DATASET, "keys": keys});
        Ok(self.client.post(format!("{}/v1/lookup", self.url)).json(&body).send().await?.json().await?)
    }

    /// Waits until lookups answer `as_of >= time`.
    async fn wait_final(&self, time: i64, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let key = [json!({"user_id": "u0"})];
        loop {
            if self.lookup(&key).await?["as_of"].as_i64().is_some_and(|t| t >= time) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!("as_of did not reach {time} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The server's `host:port`.
    fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    async fn stop(self) -> Result<()> {
        Ok(self.server.stop().await?)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

/// Latencies of a load run, sorted.
struct LoadRun {
    /// From each request's scheduled start (includes the generator's own delays: no
    /// coordinated omission).
    from_schedule: Vec<Duration>,
    /// From the moment each request was sent.
    from_send: Vec<Duration>,
    /// Requests/s answered.
    achieved: f64,
    /// Requests not answered: failed, timed out, or not sent because too many were waiting.
    missed: usize,
}

/// The `p` quantile of `sorted` in ms, counting `missed` requests as infinitely late.
fn quantile_counting_missed(sorted: &[Duration], missed: usize, p: f64) -> f64 {
    let total = sorted.len() + missed;
    let index = ((total as f64 * p).ceil() as usize).clamp(1, total.max(1)) - 1;
    sorted.get(index).map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3)
}

/// Seconds of load at a latency run's rate before the run, not counted.
const LOOKUP_WARMUP_SECS: u64 = 1;

/// Requests a load run lets wait at once; beyond it the generator skips requests (counted as
/// missed) instead of queueing without bound behind an overloaded server.
const MAX_IN_FLIGHT: usize = 2_000;

/// Requests a load run has on the wire at once, so connections it keeps open: a serving
/// client's pool. A request scheduled while all are busy waits for one (counted from its
/// schedule, not from its send) instead of opening another connection mid-run, which a
/// burst would otherwise do by the hundred, each costing a handshake and a server task.
const CONNECTIONS: usize = 64;

/// Distinct request bodies a load run cycles through, written before its clock starts: the
/// generator shares the 2 cores with the server, so it should spend them sending, not encoding.
const BODIES: usize = 1_024;

/// `BODIES` lookup bodies of `keys_per_request` random users each.
fn lookup_bodies(keys_per_request: usize, users: usize, seed: u64) -> Vec<bytes::Bytes> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..BODIES)
        .map(|_| {
            let keys: Vec<Value> = (0..keys_per_request)
                .map(|_| json!({"user_id": format!("u{}", rng.random_range(0..users))}))
                .collect();
            bytes::Bytes::from(json!({"dataset": DATASET, "keys": keys}).to_string())
        })
        .collect()
}

/// What one request of a load run saw: whether it was answered, and its latency from its
/// schedule and from its send.
type Sent = (bool, Duration, Duration);

/// Open-loop load: `rate` requests/s for `secs` seconds over at most [`CONNECTIONS`]
/// connections. A request is timed until its whole answer has been read.
///
/// The requests are released by a thread of their own, each at its time to within the OS's
/// sleep precision (tens of microseconds): a tokio timer rounds to the millisecond, which
/// sent them in bursts of `rate / 1000`, each queueing behind the rest of its burst.
async fn load(running: &Running, rate: u64, secs: u64, keys_per_request: usize, users: usize) -> LoadRun {
    let total = rate * secs;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let bodies = lookup_bodies(keys_per_request, users, 9);
    let pool = match Pool::open(running.authority(), CONNECTIONS).await {
        Ok(pool) => Arc::new(pool),
        Err(e) => {
            eprintln!("  lookups not sent: {e:#}");
            return LoadRun {
                from_schedule: Vec::new(),
                from_send: Vec::new(),
                achieved: 0.0,
                missed: total as usize,
            };
        }
    };
    let runtime = tokio::runtime::Handle::current();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let pacer = tokio::task::spawn_blocking(move || {
        let mut tasks: Vec<tokio::task::JoinHandle<Sent>> = Vec::with_capacity(total as usize);
        let mut skipped = 0;
        for i in 0..total {
            let scheduled = started + interval * i as u32;
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                skipped += 1;
                continue;
            }
            let body = bodies[i as usize % BODIES].clone();
            let (in_flight, pool) = (in_flight.clone(), pool.clone());
            in_flight.fetch_add(1, Ordering::Relaxed);
            tasks.push(runtime.spawn(async move {
                let (ok, sent) = pool.lookup(body).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                (ok, scheduled.elapsed(), sent.elapsed())
            }));
        }
        (tasks, skipped)
    });
    let (tasks, skipped) = pacer.await.expect("the pacer does not panic");
    let mut run =
        LoadRun { from_schedule: Vec::new(), from_send: Vec::new(), achieved: 0.0, missed: skipped };
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok((true, scheduled, sent)) => {
                run.from_schedule.push(scheduled);
                run.from_send.push(sent);
            }
            _ => failed += 1,
        }
    }
    if failed > 0 {
        eprintln!("  {failed} lookups failed or timed out");
    }
    if skipped > 0 {
        eprintln!("  {skipped} lookups not sent: {MAX_IN_FLIGHT} were already waiting");
    }
    run.missed += failed;
    run.achieved = run.from_send.len() as f64 / started.elapsed().as_secs_f64();
    run.from_schedule.sort();
    run.from_send.sort();
    run
}

/// Closed loop: `clients` concurrent callers for `secs` seconds, `keys` keys a request;
/// requests/s.
async fn peak(running: &Running, clients: usize, secs: u64, users: usize, keys: usize) -> f64 {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        match Connection::open(running.authority()).await {
            Ok(connection) => connections.push(connection),
            Err(e) => {
                eprintln!("  peak not measured: {e:#}");
                return 0.0;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (c, mut connection) in connections.into_iter().enumerate() {
        let bodies = lookup_bodies(keys, users, c as u64);
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline && connection.is_open() {
                if connection.lookup(bodies[done as usize % BODIES].clone()).await {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    total as f64 / secs as f64
}

pub fn run(spec: &OnlineSpec, dir: &Path, wasm: &Path, report: &mut Report) -> Result<()> {
    let sample = SampleSpec { users: spec.users, orders: 0, ..SampleSpec::default() };
    write_sample(&dir.join("data"), &sample)?;
    let start_ms = sample.start_ms;
    let all = orders(spec.orders, spec.users, start_ms, 1);
    // Compile the component into the artifact cache first: deploys below load it from there.
    volga::pipeline::LoadedPipeline::load(&config(dir, "kind = \"http\"", spec.workers)?, wasm)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // 1. HTTP push source: ingest throughput into the hot store.
        let _ = std::fs::remove_dir_all(dir.join("hot"));
        let _ = std::fs::remove_file(dir.join("cold.db"));
        let running = start(config(dir, "kind = \"http\"", spec.workers)?, wasm).await?;
        // The request bodies are written before the clock starts: the client's JSON encoding
        // is not the server's work (it shares the 2 cores, though).
        let bodies: Vec<(usize, Vec<u8>)> =
            all.chunks(10_000).map(|chunk| Ok((chunk.len(), serde_json::to_vec(chunk)?))).collect::<Result<_>>()?;
        let started = Instant::now();
        for (rows, body) in bodies {
            let answer: Value = running
                .client
                .post(format!("{}/v1/ingest/orders", running.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?
                .json()
                .await?;
            if answer["accepted"].as_u64() != Some(rows as u64) {
                bail!("ingest: {answer}");
            }
        }
        let pushed = started.elapsed();
        let last = start_ms + spec.orders as i64 - 1;
        running.wait_final(last - 1, Duration::from_secs(600)).await?;
        let visible = started.elapsed();
        println!("\nonline, reference example, {} orders, {} users", spec.orders, spec.users);
        println!("deploy (precompiled artifact cached): {:.3}s", running.deploy.as_secs_f64());
        report.target("deploy of a cached pipeline", running.deploy.as_secs_f64(), "s", Target::AtMost(1.0));
        println!(
            "http ingest: pushed in {:.2}s, all final in the hot store after {:.2}s: {:.0} events/s",
            pushed.as_secs_f64(),
            visible.as_secs_f64(),
            spec.orders as f64 / visible.as_secs_f64()
        );
        report.target(
            format!("live ingest, HTTP push, {} orders", spec.orders),
            spec.orders as f64 / visible.as_secs_f64(),
            "events/s",
            Target::AtLeast(1_000_000.0),
        );

        // 2. Freshness: one row per request every 5 ms; push -> its watermark published.
        let mut fresh = Vec::new();
        for (i, row) in orders(400, spec.users, last + 1, 2).into_iter().enumerate() {
            let sent = Instant::now();
            running.client.post(format!("{}/v1/ingest/orders", running.url)).json(&row).send().await?;
            running.wait_final(last + i as i64, Duration::from_secs(10)).await?;
            fresh.push(sent.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fresh.sort();
        println!(
            "freshness (http push -> visible in a lookup), {} rows: p50 {:.2} ms, p99 {:.2} ms",
            fresh.len(),
            percentile(&fresh, 0.5),
            percentile(&fresh, 0.99)
        );
        report.target("freshness p99, HTTP push -> visible", percentile(&fresh, 0.99), "ms", Target::AtMost(100.0));

        // 3. Lookups: peak closed-loop rate, then open-loop latency at a fixed rate.
        let rate = peak(&running, 32, 3, spec.users, 1).await;
        println!("lookup peak (32 concurrent clients, 1 key): {rate:.0} requests/s");
        report.target("lookup peak, 1 key", rate, "requests/s", Target::AtLeast(50_000.0));
        // What the 100-key runs below ask of the server, as a share of what it can answer.
        let rate = peak(&running, 32, 3, spec.users, 100).await;
        println!("lookup peak (32 concurrent clients, 100 keys): {rate:.0} requests/s");
        report.info("lookup peak, 100 keys", rate, "requests/s");
        let runs = [(1, spec.lookup_rate), (100, spec.batch_lookup_rate), (100, spec.batch_lookup_target_rate)];
        for (i, (keys, rate)) in runs.into_iter().enumerate() {
            if i == 2 && rate == spec.batch_lookup_rate {
                continue;
            }
            // A second at the same rate first, not counted: the client opens the connections
            // the rate needs and the server's caches fill (otherwise the first few hundred
            // milliseconds, a ramp from idle, dominate the tail).
            load(&running, rate, LOOKUP_WARMUP_SECS, keys, spec.users).await;
            let run = load(&running, rate, spec.lookup_secs, keys, spec.users).await;
            println!(
                "lookup at {} requests/s after {LOOKUP_WARMUP_SECS} s of warm-up ({:.0} achieved, {} missed), {keys} key(s): from send p50 {:.3} ms, p99 {:.3} ms; from schedule p50 {:.3} ms, p99 {:.3} ms",
                rate,
                run.achieved,
                run.missed,
                percentile(&run.from_send, 0.5),
                quantile_counting_missed(&run.from_send, run.missed, 0.99),
                percentile(&run.from_schedule, 0.5),
                quantile_counting_missed(&run.from_schedule, run.missed, 0.99)
            );
            let bound = if keys == 1 { 1.0 } else { 3.0 };
            let what = format!("lookup p99 at {rate} requests/s, {keys} key(s)");
            if rate == 20_000 {
                report.target(format!("{what}, from send"), quantile_counting_missed(&run.from_send, run.missed, 0.99), "ms", Target::AtMost(bound));
            } else {
                report.info(format!("{what}, from send"), quantile_counting_missed(&run.from_send, run.missed, 0.99), "ms");
            }
            report.info(format!("{what}, from schedule"), quantile_counting_missed(&run.from_schedule, run.missed, 0.99), "ms");
        }
        running.stop().await?;

        // 4. Kafka: the topic filled first, then the time to consume it into the hot store.
        if let Some(tansu) = &spec.tansu {
            let broker = Broker::start(tansu)?;
            let brokers = &broker.address;
            let topic = "orders";
            let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
            admin
                .create_topics(&[NewTopic::new(topic, 2, TopicReplication::Fixed(1))], &AdminOptions::new())
                .await?;
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", brokers)
                .set("linger.ms", "5")
                .set("queue.buffering.max.messages", "1000000")
                .create()?;
            for (i, order) in all.iter().enumerate() {
                let payload = order.to_string();
                let mut record = BaseRecord::<(), _>::to(topic).payload(&payload).partition((i % 2) as i32);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((e, back)) => {
                            if !matches!(e.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)) {
                                bail!("produce: {e}");
                            }
                            record = back;
                            producer.poll(Duration::from_millis(10));
                        }
                    }
                }
            }
            producer.flush(Duration::from_secs(60))?;
            // The broker's own ceiling: a bare consumer that only reads the topic.
            let ceiling = bare_consume_rate(brokers, topic, all.len())?;
            println!("kafka broker ceiling: a bare consumer reads the topic at {ceiling:.0} messages/s");
            let _ = std::fs::remove_dir_all(dir.join("hot"));
            let _ = std::fs::remove_file(dir.join("cold.db"));
            let properties: Vec<String> = FETCH_PROPERTIES.iter().map(|(k, v)| format!("\"{k}\" = \"{v}\"")).collect();
            let kafka = format!(
                "kind = \"kafka\"\nbrokers = \"{brokers}\"\nproperties = {{ {} }}",
                properties.join(", ")
            );
            let config = config(dir, &kafka, spec.workers)?;
            let started = Instant::now();
            let running = start(config, wasm).await.context("kafka scenario")?;
            // Partition minimum: the last order of partition 0 or 1.
            running.wait_final(last - 2, Duration::from_secs(600)).await?;
            let visible = started.elapsed();
            println!(
                "kafka ingest (2 partitions, pre-filled): all final in the hot store after {:.2}s: {:.0} events/s",
                visible.as_secs_f64(),
                spec.orders as f64 / visible.as_secs_f64()
            );
            report.target(
                format!("live ingest, Kafka, {} orders", spec.orders),
                spec.orders as f64 / visible.as_secs_f64(),
                "events/s",
                Target::AtLeast(1_000_000.0),
            );
            report.info("Kafka broker ceiling (a bare consumer reading the topic)", ceiling, "events/s");
            running.stop().await?;
        }
        anyhow::Ok(())
    })
}

/// Consumer properties for the tansu broker, for Volga's consumer and the bare one alike. With
/// librdkafka's defaults (`fetch.wait.max.ms` 500, `fetch.min.bytes` 1) a bare consumer read
/// 130-150k messages/s from it; with a 10 ms wait and 1 MB minimum, 0.8-0.97M/s. (Volga's
/// connector also sets `fetch.queue.backoff.ms` itself; the bare consumer never fills its queue.)
const FETCH_PROPERTIES: [(&str, &str); 2] = [("fetch.wait.max.ms", "10"), ("fetch.min.bytes", "1000000")];

/// A tansu broker with in-memory storage on a free loopback port, stopped on drop.
struct Broker {
    child: std::process::Child,
    address: String,
}

impl Broker {
    fn start(binary: &Path) -> Result<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the broker did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Broker { child, address })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages per second a consumer that does nothing else reads `messages` messages of `topic`
/// (both partitions, from the start) at: what the broker serves, whoever consumes.
fn bare_consume_rate(brokers: &str, topic: &str, messages: usize) -> Result<f64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", "volga-bench-bare")
        .set("enable.auto.commit", "false");
    for (key, value) in FETCH_PROPERTIES {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create()?;
    let mut partitions = TopicPartitionList::new();
    for partition in 0..2 {
        partitions.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&partitions)?;
    let started = Instant::now();
    let mut read = 0;
    while read < messages {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => bail!("bare consumer: {e}"),
            None => bail!("bare consumer: nothing for 10 s after {read} of {messages} messages"),
        }
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}
