//! Fixtures for online tests: a `volga serve` process, a Kafka broker (tansu), HTTP calls.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `volga serve`, stopped on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Server {
    /// Starts `volga serve` in `dir` (which holds `volga.toml`) on a free port.
    pub fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_volga"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("VOLGA_CONFIG")
            .env_remove("VOLGA_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start volga serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("volga serve printed no address: {line:?}"))
            .to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Server { child, url, runtime, client: reqwest::Client::new() }
    }

    /// POSTs `body` (bytes) with an optional bearer token: status and JSON body.
    pub fn post_bytes(&self, path: &str, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.url)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request)
    }

    /// POSTs a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.client.post(format!("{}{path}", self.url)).json(body))
    }

    /// GETs `path`: status and text.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let response = self.client.get(format!("{}{path}", self.url)).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }

    /// Deploys the component at `wasm` with `token`, expecting success.
    pub fn deploy(&self, wasm: &Path, token: &str) -> Value {
        let (status, body) = self.post_bytes("/v1/pipelines", std::fs::read(wasm).unwrap(), Some(token));
        assert!(status == 201 || status == 200, "deploy: {status} {body}");
        body
    }

    /// The value of a metric line starting with `prefix` (labels included), 0 if absent.
    pub fn metric(&self, prefix: &str) -> f64 {
        let (_, text) = self.get_text("/metrics");
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `condition` holds, failing with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tansu binary: `$VOLGA_TANSU`, else `tansu` on the PATH. Tests that need a broker fail
/// here, loudly, when there is none.
fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("VOLGA_TANSU") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "this test needs a Kafka broker: install tansu (cargo install tansu --version 0.6.0 --locked --features dynostore) and put it on the PATH or in VOLGA_TANSU; .ci/run does this"
        )
    })
}

/// A tansu broker on a free loopback port, with in-memory storage; stopped on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    binary: PathBuf,
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Broker {
        let binary = tansu();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let address = format!("127.0.0.1:{port}");
        wait_for("the broker to accept connections", Duration::from_secs(20), || {
            TcpStream::connect(&address).is_ok()
        });
        Broker { child, address, binary }
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: usize) {
        let output = Command::new(&self.binary)
            .args(["topic", "create", "--broker", &format!("tcp://{}", self.address)])
            .args(["--partitions", &partitions.to_string(), topic])
            .output()
            .unwrap();
        assert!(output.status.success(), "tansu topic create: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
