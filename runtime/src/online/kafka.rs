//! The consumer thread of a Kafka source: polls in batches, decodes each message value as a
//! JSON row, and offers the batch to the source.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::BaseConsumer;

use super::decode::row_from_json_bytes;
use super::source::{OnlineSource, Origin, Record};
use crate::connector::Interner;

/// Messages taken per batch at most.
const BATCH: usize = 4096;

/// Consumes until `stop` is set.
pub(crate) fn consume(consumer: BaseConsumer, source: Arc<OnlineSource>, stop: Arc<AtomicBool>) {
    let mut records = Vec::with_capacity(BATCH);
    let mut last_error: Option<String> = None;
    // Shared strings of the source's string fields, for as long as the consumer runs.
    let mut interners: Vec<Interner> = source.schema.fields.iter().map(|_| Interner::default()).collect();
    while !stop.load(Ordering::Acquire) {
        let mut timeout = Duration::from_millis(100);
        while records.len() < BATCH {
            match consumer.poll(timeout) {
                None => break,
                Some(Ok(message)) => {
                    let origin = Origin::Kafka { partition: message.partition(), offset: message.offset() };
                    let payload = message.payload().unwrap_or_default();
                    let row = row_from_json_bytes(&source.schema, payload, &mut interners)
                        .map_err(|reason| (reason, String::from_utf8_lossy(payload).into_owned()));
                    records.push(Record { partition: message.partition().max(0) as usize, origin, row });
                }
                Some(Err(e)) => {
                    let text = e.to_string();
                    if last_error.as_ref() != Some(&text) {
                        eprintln!(
                            "volga: pipeline `{}`: kafka source `{}`: {text}",
                            source.pipeline, source.source.name
                        );
                        last_error = Some(text);
                    }
                    break;
                }
            }
            // Once something arrived, take only what is already there.
            timeout = Duration::ZERO;
        }
        if !records.is_empty() {
            source.offer(std::mem::replace(&mut records, Vec::with_capacity(BATCH)));
        }
    }
}
