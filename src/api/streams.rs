//! A cap on the console's live streams (`api/live.rs`), in total and per
//! token. Each open stream holds memory and a share of the counting
//! (about 80 KB each): one token opening thousands would starve `/healthz`
//! and the file limit of the process, so past the cap a stream is
//! answered 429 until one closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::error::ApiError;

/// The open streams, by the token (`api_tokens` row) that opened them.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_token: HashMap<i64, usize>,
}

/// One open stream; closing it (dropping the stream) frees its slot.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    token: i64,
}

impl StreamSlots {
    /// A slot for one more stream of `token`, unless that passes either cap.
    pub fn take(
        self: &Arc<Self>,
        token: i64,
        total: usize,
        per_token: usize,
    ) -> Result<StreamSlot, ApiError> {
        let mut open = self.lock();
        let mine = open.by_token.get(&token).copied().unwrap_or(0);
        if mine >= per_token {
            return Err(ApiError::TooManyRequests(format!(
                "{mine} live streams are open for this token, the most allowed; close one (or wait for it to end) and try again"
            )));
        }
        if open.total >= total {
            return Err(ApiError::TooManyRequests(
                "the service has as many live streams open as it allows; try again shortly".into(),
            ));
        }
        open.total += 1;
        *open.by_token.entry(token).or_default() += 1;
        Ok(StreamSlot {
            slots: Arc::clone(self),
            token,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                open.by_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_token_and_in_total_and_free_on_close() {
        let slots = Arc::new(StreamSlots::default());
        let a1 = slots.take(1, 3, 2).unwrap();
        let _a2 = slots.take(1, 3, 2).unwrap();
        assert!(slots.take(1, 3, 2).is_err(), "a third for one token");
        let _b1 = slots.take(2, 3, 2).unwrap();
        assert!(slots.take(3, 3, 2).is_err(), "a fourth in total");
        drop(a1);
        assert!(
            slots.take(3, 3, 2).is_ok(),
            "a closed stream frees its slot"
        );
    }
}
