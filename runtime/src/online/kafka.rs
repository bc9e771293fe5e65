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

/// The two stages of a Kafka source's consumer, for a thread each: the poller, which polls
/// until `stop` is set, and the decoder, which offers every batch the poller gave it and
/// finishes after the poller does.
pub(crate) fn stages(
    consumer: BaseConsumer,
    source: Arc<OnlineSource>,
    stop: Arc<AtomicBool>,
) -> (impl FnOnce() + Send + 'static, impl FnOnce() + Send + 'static) {
    // Batches to decode, and back to the poller, emptied, to be filled again.
    let (to_decode, polled) = std::sync::mpsc::sync_channel::<Polled>(DECODE_QUEUE);
    let (to_reuse, spare) = std::sync::mpsc::channel::<Polled>();
    let decoding = source.clone();
    let poll = move || {
        let mut poller = Poller { consumer, last_error: None };
        while !stop.load(Ordering::Acquire) {
            let mut batch = spare.try_recv().unwrap_or_default();
            poller.poll(&source, &mut batch);
            // A send fails only if the decoder is gone, when nothing polled could be offered.
            if !batch.messages.is_empty() && to_decode.send(batch).is_err() {
                return;
            }
        }
    };
    let decode = move || {
        // Shared strings of the source's string fields, for as long as the consumer runs.
        let mut interners: Vec<Interner> =
            decoding.schema.fields.iter().map(|_| Interner::default()).collect();
        for mut batch in polled {
            offer(&mut batch, &decoding, &mut interners);
            let _ = to_reuse.send(batch);
        }
    };
    (poll, decode)
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
            // Once something arrived, take only what is already there.
            timeout = Duration::ZERO;
        }
    }
}

/// Decodes the messages of `batch` into records and offers them to `source`, leaving `batch`
/// empty.
fn offer(batch: &mut Polled, source: &OnlineSource, interners: &mut [Interner]) {
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
