//! The delivery state machine. Every state change in the store is checked
//! against `can_become`, so an out-of-order provider callback (a late
//! "sent" after "delivered") can never move a delivery backwards.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where one message to one contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Written at fan-out, not yet handed to the queue.
    Pending,
    /// Handed to the queue.
    Queued,
    /// A worker has claimed it and is talking to the provider.
    Sending,
    /// The provider accepted it. Final for channels without receipts
    /// (FCM, APNs, SMTP) unless the resident acknowledges.
    Sent,
    /// The provider confirmed delivery (SMS receipt, answered call).
    Delivered,
    /// Gave up: permanent error, invalid address, or retries exhausted.
    Failed,
    /// The notice ended before the message could go out.
    Expired,
    /// Deliberately not sent (caps, superseded, deleted recipient), or held
    /// through quiet hours: a held one has a release time and goes back
    /// to `pending` then.
    Suppressed,
    /// The resident confirmed they got it.
    Acknowledged,
}

use DeliveryState::*;

impl DeliveryState {
    pub const ALL: [DeliveryState; 9] = [
        Pending,
        Queued,
        Sending,
        Sent,
        Delivered,
        Failed,
        Expired,
        Suppressed,
        Acknowledged,
    ];

    /// States a worker still has to act on; re-queued after a restart.
    pub const UNFINISHED: [DeliveryState; 3] = [Pending, Queued, Sending];

    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "pending",
            Queued => "queued",
            Sending => "sending",
            Sent => "sent",
            Delivered => "delivered",
            Failed => "failed",
            Expired => "expired",
            Suppressed => "suppressed",
            Acknowledged => "acknowledged",
        }
    }

    /// The allowed transitions. `Sending → Queued` is a retry; `Sending →
    /// Delivered` happens when a receipt overtakes our own record of the
    /// provider's answer; `Sending → Pending` when a claim's lease ran out
    /// (its worker is gone) and the delivery is to be published again.
    pub fn can_become(self, next: DeliveryState) -> bool {
        matches!(
            (self, next),
            (Pending, Queued | Sending | Failed | Expired | Suppressed)
                | (Queued, Sending | Failed | Expired | Suppressed)
                | (
                    Sending,
                    Pending | Queued | Sent | Delivered | Failed | Expired | Acknowledged
                )
                | (Sent, Delivered | Failed | Acknowledged)
                | (Suppressed, Pending | Expired)
                | (Delivered, Acknowledged)
        )
    }

    /// The states from which `next` may be reached, for conditional SQL updates.
    pub fn predecessors(next: DeliveryState) -> Vec<DeliveryState> {
        Self::ALL
            .into_iter()
            .filter(|s| s.can_become(next))
            .collect()
    }

    pub fn is_unfinished(self) -> bool {
        Self::UNFINISHED.contains(&self)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = super::notice::UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| super::notice::UnknownValue {
                what: "delivery state",
                found: s.to_owned(),
                expected: Self::ALL.map(|v| v.as_str()).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_paths_are_allowed() {
        for path in [
            &[Pending, Queued, Sending, Sent, Delivered, Acknowledged][..],
            &[Pending, Queued, Sending, Failed][..],
            &[Pending, Queued, Sending, Queued, Sending, Sent][..],
            &[Pending, Expired][..],
            &[Queued, Suppressed][..],
        ] {
            for pair in path.windows(2) {
                assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn nothing_moves_backwards_or_out_of_a_final_state() {
        assert!(!Delivered.can_become(Sent));
        assert!(!Sent.can_become(Sending));
        assert!(!Acknowledged.can_become(Delivered));
        for final_state in [Failed, Expired, Acknowledged] {
            for next in DeliveryState::ALL {
                assert!(!final_state.can_become(next), "{final_state} -> {next}");
            }
        }
        for s in DeliveryState::ALL {
            assert!(!s.can_become(s), "{s} -> itself");
            // Only a message held through quiet hours, or one whose claim's
            // lease ran out, goes back to pending.
            assert_eq!(
                s.can_become(Pending),
                matches!(s, Suppressed | Sending),
                "{s} -> pending"
            );
        }
    }

    #[test]
    fn predecessors_match_transitions() {
        assert_eq!(DeliveryState::predecessors(Sent), vec![Sending]);
        assert_eq!(
            DeliveryState::predecessors(Acknowledged),
            vec![Sending, Sent, Delivered]
        );
        assert_eq!(DeliveryState::predecessors(Sending), vec![Pending, Queued]);
    }

    #[test]
    fn parses_its_own_names() {
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>().unwrap(), s);
        }
        assert!("lost".parse::<DeliveryState>().is_err());
    }
}
