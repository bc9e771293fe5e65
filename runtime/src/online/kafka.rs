//! The consumer of a Kafka source: one thread polls messages in batches and copies their
//! payloads out, a second decodes each message value as a JSON row and offers the batch to the
//! source.
//!
//! Two stages, because one thread doing both was the serial stage of a Kafka ingest: polling
//! (librdkafka's queue, a clock read per message) and decoding each took about half of it, and
//! it was 60-85% busy while the machine had time to spare. Batches go from one to the other in
//! the order they were polled, so a partition's records reach the source in offset order.

use std::ops::Range;
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

/// Batches polled and not yet decoded, at most: enough for the poller to fetch while the
/// decoder works, few enough that a slow pipeline holds back the fetching (librdkafka keeps
/// its own queue of fetched messages).
const DECODE_QUEUE: usize = 4;

/// Messages polled, their payloads copied end to end into one buffer.
#[derive(Default)]
struct Polled {
    payloads: Vec<u8>,
    /// Each message's partition, origin and payload's place in `payloads`.
    messages: Vec<(usize, Origin, Range<usize>)>,
}

/// Consumes until `stop` is set: polls on this thread and decodes on one of its own, which
/// offers every batch polled before it stops.
pub(crate) fn consume(consumer: BaseConsumer, source: Arc<OnlineSource>, stop: Arc<AtomicBool>) {
    let mut poller = Poller { consumer, last_error: None };
    // Batches to decode, and back to the poller, emptied, to be filled again.
    let (to_decode, polled) = std::sync::mpsc::sync_channel::<Polled>(DECODE_QUEUE);
    let (to_reuse, spare) = std::sync::mpsc::channel::<Polled>();
    std::thread::scope(|scope| {
        let source = &source;
        let decoder = std::thread::Builder::new()
            .name(format!("volga decode {}", source.source.name))
            .spawn_scoped(scope, move || {
                let mut interners = interners(source);
                for mut batch in polled {
                    offer(&mut batch, source, &mut interners);
                    let _ = to_reuse.send(batch);
                }
            });
        if decoder.is_err() {
            // Without a second thread, this one does both.
            let mut interners = interners(source);
            let mut batch = Polled::default();
            while !stop.load(Ordering::Acquire) {
                poller.poll(source, &mut batch);
                offer(&mut batch, source, &mut interners);
            }
            return;
        }
        while !stop.load(Ordering::Acquire) {
            let mut batch = spare.try_recv().unwrap_or_default();
            poller.poll(source, &mut batch);
            // A send fails only if the decoder is gone, when nothing polled could be offered.
            if !batch.messages.is_empty() && to_decode.send(batch).is_err() {
                return;
            }
        }
        // Dropping the sender lets the decoder offer what it was given, then finish.
        drop(to_decode);
    });
}

struct Poller {
    consumer: BaseConsumer,
    /// The last error reported, not repeated while it persists.
    last_error: Option<String>,
}

impl Poller {
    /// Polls into `batch` (empty): up to [`BATCH`] messages, waiting up to 100 ms for the
    /// first, then taking only what is already there.
    fn poll(&mut self, source: &OnlineSource, batch: &mut Polled) {
        let mut timeout = Duration::from_millis(100);
        while batch.messages.len() < BATCH {
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(message)) => {
                    let origin = Origin::Kafka { partition: message.partition(), offset: message.offset() };
                    let start = batch.payloads.len();
                    batch.payloads.extend_from_slice(message.payload().unwrap_or_default());
                    let span = start..batch.payloads.len();
                    batch.messages.push((message.partition().max(0) as usize, origin, span));
                }
                Some(Err(e)) => {
                    let text = e.to_string();
                    if self.last_error.as_ref() != Some(&text) {
                        eprintln!(
                            "volga: pipeline `{}`: kafka source `{}`: {text}",
                            source.pipeline, source.source.name
                        );
                        self.last_error = Some(text);
                    }
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
    }
}

fn interners(source: &OnlineSource) -> Vec<Interner> {
    // Shared strings of the source's string fields, for as long as the consumer runs.
    source.schema.fields.iter().map(|_| Interner::default()).collect()
}

/// Decodes the messages of `batch` into records and offers them to `source`, leaving `batch`
/// empty.
fn offer(batch: &mut Polled, source: &OnlineSource, interners: &mut [Interner]) {
    if batch.messages.is_empty() {
        return;
    }
    let records = batch
        .messages
        .drain(..)
        .map(|(partition, origin, span)| {
            let payload = &batch.payloads[span];
            let row = row_from_json_bytes(&source.schema, payload, interners)
                .map_err(|reason| (reason, String::from_utf8_lossy(payload).into_owned()));
            Record { partition, origin, row }
        })
        .collect();
    batch.payloads.clear();
    source.offer(records);
}
