//! One timely worker of a running pipeline: its dataflow, fed from its channel, and its sinks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use differential_dataflow::AsCollection;
use timely::dataflow::InputHandleVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::publish::PublishEvent;
use super::source::{Feed, Feeds};
use crate::dataflow::{
    Failure, RenderContext, StateRows, Time, Update, insertions, key_hash, render_datasets,
};
use crate::metrics::Metrics;
use crate::pipeline::LoadedPipeline;

/// What every worker shares.
pub(crate) struct WorkerShared {
    pub pipeline: LoadedPipeline,
    /// Source datasets, in input order.
    pub inputs: Vec<String>,
    /// Datasets to publish, in target order.
    pub targets: Vec<String>,
    pub feeds: Arc<Feeds>,
    pub receivers: Mutex<Vec<Option<Receiver<Feed>>>>,
    pub publisher: Mutex<Sender<PublishEvent>>,
    pub stop: Arc<AtomicBool>,
    pub failure: Failure,
    pub metrics: Arc<Metrics>,
    pub state_rows: Arc<StateRows>,
}

/// Runs worker `worker` until the pipeline stops or fails.
pub(crate) fn run(worker: &mut timely::worker::Worker, shared: &WorkerShared) {
    let index = worker.index();
    shared.feeds.register(index);
    let receiver = shared.receivers.lock().expect("receivers")[index].take().expect("one worker per index");
    let publisher = shared.publisher.lock().expect("publisher").clone();
    let guest = match shared.pipeline.instantiate() {
        Ok(guest) => Rc::new(RefCell::new(guest)),
        Err(e) => {
            shared.failure.fail(e);
            return;
        }
    };
    let context = RenderContext {
        guest,
        failure: shared.failure.clone(),
        native_filters: HashMap::new(),
        metrics: Some(shared.metrics.clone()),
        state_rows: shared.state_rows.clone(),
        // Live sources are not read ahead: every filter runs in the dataflow.
        filtered_sources: Default::default(),
        // The publisher writes a live history, a batch at a time, as the frontier passes it.
        history_writers: HashMap::new(),
    };
    let plan = shared.pipeline.plan.clone();
    let mut inputs: Vec<Option<InputHandleVec<Time, Update>>> =
        shared.inputs.iter().map(|_| Some(InputHandleVec::new())).collect();
    worker.dataflow::<Time, _, _>(|scope| {
        let mut collections = HashMap::new();
        for (name, input) in shared.inputs.iter().zip(inputs.iter_mut()) {
            let input = input.as_mut().expect("open");
            collections.insert(name.clone(), input.to_stream(scope).as_collection());
        }
        let rendered = render_datasets(&plan, &shared.targets, &collections, &context);
        for (target, name) in shared.targets.iter().enumerate() {
            let keys = plan.dataset(name).expect("validated").schema.key_indexes();
            let route = move |(row, _, _): &Update| key_hash(keys.iter().map(|&k| &row[k]));
            let publisher = publisher.clone();
            let mut reported: Option<Option<Time>> = None;
            rendered[name].inner.clone().sink(Exchange::new(route), "Publish", move |(input, frontier)| {
                input.for_each(|_, data| {
                    let rows: Vec<_> = data
                        .drain(..)
                        .flat_map(|(row, time, diff)| insertions(row, diff).map(move |r| (r, time)))
                        .collect();
                    if !rows.is_empty() {
                        let _ = publisher.send(PublishEvent::Rows { target, rows });
                    }
                });
                let now = frontier.frontier().iter().next().copied();
                if reported != Some(now) {
                    reported = Some(now);
                    let _ = publisher.send(PublishEvent::Frontier { target, worker: index, frontier: now });
                }
            });
        }
    });

    let park = Some(Duration::from_millis(100));
    loop {
        loop {
            match receiver.try_recv() {
                Ok(Feed::Rows { input, mut updates }) => {
                    if let Some(handle) = inputs[input].as_mut() {
                        // Sources only send rows at or past the time they last advanced to.
                        debug_assert!(updates.iter().all(|(_, t, _)| *t >= *handle.time()));
                        handle.send_batch(&mut updates);
                    }
                }
                Ok(Feed::Advance { input, to }) => {
                    if let Some(handle) = inputs[input].as_mut()
                        && to > *handle.time()
                    {
                        handle.advance_to(to);
                    }
                }
                Ok(Feed::Close { input }) => inputs[input] = None,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if shared.stop.load(Ordering::Acquire) || shared.failure.is_set() {
            return;
        }
        worker.step_or_park(park);
    }
}
