//! BEP 12 tracker tiers: shuffle each tier once, try the tiers in order and
//! the trackers of a tier in order, and move a tracker that answered to
//! the front of its tier so the next announce starts there.

use super::{announce, AnnounceRequest, AnnounceResponse, TrackerError};
use crate::random::{seed, XorShift};

/// BEP 12 tiers: try trackers tier by tier, promote the one that answered
/// to the front of its tier.
pub struct TrackerTiers {
    pub tiers: Vec<Vec<String>>,
}

impl TrackerTiers {
    /// Takes the torrent's `announce-list` (or its single `announce` as one
    /// tier); empty tiers are dropped and each tier is shuffled once.
    pub fn new(tiers: Vec<Vec<String>>) -> TrackerTiers {
        let mut rng = XorShift::new(seed());
        let tiers = tiers
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(|mut t| {
                rng.shuffle(&mut t);
                t
            })
            .collect();
        TrackerTiers { tiers }
    }

    /// Announce following BEP 12; the answer of the first tracker that answers.
    pub async fn announce(
        &mut self,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let mut tried = 0;
        let mut last = None;
        for t in 0..self.tiers.len() {
            let len = self.tiers.get(t).map_or(0, Vec::len);
            for i in 0..len {
                let Some(url) = self.tiers.get(t).and_then(|tier| tier.get(i)).cloned() else {
                    continue;
                };
                tried += 1;
                match announce(&url, req).await {
                    Ok(resp) => {
                        self.promote(t, i);
                        return Ok(resp);
                    }
                    Err(e) => {
                        log::info!("{e}; trying the next tracker");
                        last = Some(Box::new(e));
                    }
                }
            }
        }
        Err(TrackerError::AllFailed { tried, last })
    }

    /// Move tracker `i` of tier `t` to the front of that tier.
    fn promote(&mut self, t: usize, i: usize) {
        if let Some(tier) = self.tiers.get_mut(t) {
            if i < tier.len() {
                let url = tier.remove(i);
                tier.insert(0, url);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("udp://t{i}.example:1")).collect()
    }

    #[test]
    fn new_shuffles_within_tiers_only() {
        let mut moved = false;
        for _ in 0..50 {
            let t = TrackerTiers::new(vec![urls(6), vec![], vec!["http://only/".into()]]);
            assert_eq!(t.tiers.len(), 2);
            let mut first = t.tiers[0].clone();
            moved |= first != urls(6);
            first.sort();
            assert_eq!(first, urls(6));
            assert_eq!(t.tiers[1], vec!["http://only/".to_string()]);
        }
        assert!(moved, "50 shuffles of 6 never changed the order");
    }

    #[test]
    fn promote_moves_to_front_of_its_tier() {
        let mut t = TrackerTiers {
            tiers: vec![urls(3), urls(2)],
        };
        t.promote(0, 2);
        assert_eq!(
            t.tiers[0],
            vec![urls(3)[2].clone(), urls(3)[0].clone(), urls(3)[1].clone()]
        );
        assert_eq!(t.tiers[1], urls(2));
        t.promote(5, 0);
        t.promote(1, 9);
        assert_eq!(t.tiers[1], urls(2));
    }

    #[test]
    fn no_trackers_is_an_error() {
        let mut t = TrackerTiers::new(vec![vec![]]);
        let req = AnnounceRequest {
            info_hash: crate::torrent::InfoHash([0; 20]),
            peer_id: [0; 20],
            port: 1,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: super::super::Event::None,
            num_want: 0,
            local_ip: None,
        };
        let e = smol::block_on(t.announce(&req)).err();
        assert!(
            matches!(
                e,
                Some(TrackerError::AllFailed {
                    tried: 0,
                    last: None
                })
            ),
            "{e:?}"
        );
    }
}
