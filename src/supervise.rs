//! Panics in long-lived tasks. A panic costs the one piece of work it
//! happened in (a job, a scheduler tick, a batch of outcomes) and is
//! logged with its message; the task goes on with the next piece. A task
//! spawned once and left to die would otherwise stop for good: a
//! channel's worker would send nothing more, or the scheduler would stop
//! checking, until someone restarted the process.
//!
//! HTTP handlers are covered separately, by the API's `CatchPanicLayer`.

use futures::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest wait before a task that keeps panicking is started again.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The message a panic was raised with.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// Runs `work`; a panic inside it is logged, naming `task`, and gives
/// `None`. The tasks that use it keep no state across pieces of work that a
/// half-done piece could break: guards (permits, busy counts) are released
/// while unwinding and the store's transactions roll back.
pub async fn catch<F: Future>(task: &str, work: F) -> Option<F::Output> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(out) => Some(out),
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(task, panic = %message, "a task panicked; it carries on with its next piece of work");
            None
        }
    }
}

/// Spawns the task `start` makes and makes it again whenever it panics,
/// after a pause (1 s, doubling while it keeps panicking, at most 30 s),
/// until it returns or `stop` is cancelled.
pub fn spawn_supervised<F, Fut>(
    task: &'static str,
    stop: CancellationToken,
    mut start: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            if catch(task, start()).await.is_some() {
                return;
            }
            if started.elapsed() > MAX_PAUSE {
                pause = Duration::from_secs(1);
            }
            tracing::warn!(
                task,
                pause_ms = pause.as_millis() as u64,
                "starting the task again after its panic"
            );
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => return,
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panic_becomes_none_and_keeps_its_message() {
        assert_eq!(catch("t", async { 7 }).await, Some(7));
        assert_eq!(catch("t", async { panic!("boom {}", 1) }).await, None::<()>);
        let payload = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "plain");
        let payload = std::panic::catch_unwind(|| panic!("with {}", "args")).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "with args");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_until_it_returns() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let task = spawn_supervised("test", CancellationToken::new(), move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(run >= 2, "run {run} panics");
            }
        });
        task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_ends_the_pause_before_a_restart() {
        let stop = CancellationToken::new();
        let task = spawn_supervised("test", stop.clone(), || async { panic!("always") });
        tokio::task::yield_now().await;
        stop.cancel();
        tokio::time::timeout(Duration::from_millis(10), task)
            .await
            .expect("stopped without waiting out the pause")
            .unwrap();
    }
}
