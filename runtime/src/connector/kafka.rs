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

    /// A consumer of `topic`, assigned every partition from the beginning. Returns it with
    /// the number of partitions.
    pub fn open_topic(&self, topic: &str, client_id: &str) -> Result<(BaseConsumer, usize), ConnectorError> {
        let err = |message: String| ConnectorError::Io {
            file: format!("kafka {} topic `{topic}`", self.brokers),
            message,
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", client_id)
            .set("client.id", client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        let consumer: BaseConsumer = config.create().map_err(|e| err(e.to_string()))?;
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
