//! The `kafka` connector: one JSON object per message value, fields by name.
//!
//! Volga owns the consumer offsets: it assigns every partition of the topic itself (no consumer
//! group rebalancing, nothing auto-committed) and reads from the beginning, rebuilding the
//! pipeline's state; the offsets applied are reported with the pipeline.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::ConnectorError;
use super::stream::WatermarkPolicy;
use crate::duration::DurationError;

/// librdkafka's `fetch.queue.backoff.ms` unless the config sets it: how long the client stops
/// fetching once its local queue holds `queued.min.messages`. librdkafka's default, a second,
/// idles a consumer that decodes slower than it fetches, as one catching up on a topic does: it
/// held ingest of a pre-filled topic at 168-174k events/s (409k with this), a burst of work
/// then a second of nothing.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// `[connectors.NAME] kind = "kafka"`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Allowed disorder of event times, e.g. `"5s"` (default `"0s"`).
    pub disorder: Option<String>,
    /// Idle time after which the watermark follows the wall clock, or `"off"` (default `"5s"`).
    pub idleness: Option<String>,
    /// Extra librdkafka consumer properties (`"security.protocol" = "ssl"`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// The source's watermark policy.
    pub fn watermark(&self) -> Result<WatermarkPolicy, DurationError> {
        WatermarkPolicy::parse(self.disorder.as_deref(), self.idleness.as_deref())
    }

    /// The consumer's librdkafka settings: Volga's, then the config's `properties` over them.
    fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", client_id)
            .set("client.id", client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// A consumer of `topic`, assigned every partition from the beginning. Returns it with
    /// the number of partitions.
    pub fn open_topic(&self, topic: &str, client_id: &str) -> Result<(BaseConsumer, usize), ConnectorError> {
        let err = |message: String| ConnectorError::Io {
            file: format!("kafka {} topic `{topic}`", self.brokers),
            message,
        };
        let consumer: BaseConsumer =
            self.client_config(client_id).create().map_err(|e| err(e.to_string()))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| err(format!("cannot read metadata: {e}")))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if partitions == 0 {
            return Err(err(
                "the topic does not exist (create it first; brokers may not auto-create topics)".into(),
            ));
        }
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(|e| err(e.to_string()))?;
        }
        consumer.assign(&assignment).map_err(|e| err(e.to_string()))?;
        Ok((consumer, partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(properties: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            disorder: None,
            idleness: None,
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn a_consumer_backs_off_a_full_queue_briefly_unless_the_config_says_otherwise() {
        let ours = config(&[("fetch.min.bytes", "1000")]).client_config("volga-test");
        assert_eq!(ours.get("fetch.queue.backoff.ms"), Some(FETCH_QUEUE_BACKOFF_MS));
        assert_eq!(ours.get("fetch.min.bytes"), Some("1000"));
        assert_eq!(ours.get("enable.auto.commit"), Some("false"));
        let theirs = config(&[("fetch.queue.backoff.ms", "1000")]).client_config("volga-test");
        assert_eq!(theirs.get("fetch.queue.backoff.ms"), Some("1000"));
    }
}
