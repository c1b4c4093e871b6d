//! The release loop's rule for a waiting message whose time has come: a
//! notice that has ended expires it; a later cascade step is dropped when
//! an earlier channel already reached the resident; otherwise it goes.

use chrono::{DateTime, Utc};

use crate::domain::DeliveryState;
use crate::domain::cascade::Reached;
use crate::store::DueDelivery;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Release,
    Finish(DeliveryState, &'static str),
}

pub fn decide(d: &DueDelivery, now: DateTime<Utc>) -> Decision {
    if d.ends.is_some_and(|end| end <= now) {
        return Decision::Finish(
            DeliveryState::Expired,
            "the notice ended before the message could go out",
        );
    }
    let reached = matches!(
        (d.stop_if, d.reached),
        (Some(Reached::Delivered), Some(_))
            | (Some(Reached::Acknowledged), Some(Reached::Acknowledged))
    );
    if !d.held && reached {
        return Decision::Finish(
            DeliveryState::Suppressed,
            "not needed: an earlier channel already reached the resident",
        );
    }
    Decision::Release
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryId;
    use tocsin_channels::ChannelKind;

    fn due(stop_if: Option<Reached>, reached: Option<Reached>) -> DueDelivery {
        DueDelivery {
            id: DeliveryId(1),
            channel: ChannelKind::Sms,
            held: false,
            stop_if,
            reached,
            ends: None,
        }
    }

    #[test]
    fn a_step_goes_unless_its_condition_was_met() {
        let now = Utc::now();
        use Reached::*;
        assert_eq!(decide(&due(Some(Delivered), None), now), Decision::Release);
        assert!(matches!(
            decide(&due(Some(Delivered), Some(Delivered)), now),
            Decision::Finish(DeliveryState::Suppressed, _)
        ));
        assert!(matches!(
            decide(&due(Some(Delivered), Some(Acknowledged)), now),
            Decision::Finish(DeliveryState::Suppressed, _)
        ));
        // Delivered is not enough where an acknowledgement was asked for.
        assert_eq!(
            decide(&due(Some(Acknowledged), Some(Delivered)), now),
            Decision::Release
        );
        assert!(matches!(
            decide(&due(Some(Acknowledged), Some(Acknowledged)), now),
            Decision::Finish(DeliveryState::Suppressed, _)
        ));
    }

    #[test]
    fn an_ended_notice_expires_what_waited() {
        let now = Utc::now();
        let mut d = due(None, None);
        d.held = true;
        d.ends = Some(now - chrono::Duration::minutes(1));
        assert!(matches!(
            decide(&d, now),
            Decision::Finish(DeliveryState::Expired, _)
        ));
        d.ends = Some(now + chrono::Duration::minutes(1));
        assert_eq!(decide(&d, now), Decision::Release);
    }
}
