//! The DHT's lines of `GET /metrics` (Prometheus text format): routing
//! table size, queries in and out, timeouts, rate-limited and malformed
//! datagrams, stored peers, lookups and the peers they found.

use std::fmt::Write;

use super::DhtSnapshot;

/// Append the DHT's metrics to `page`.
pub fn render(s: &DhtSnapshot, page: &mut String) {
    let rows: [(&str, &str, &str, u64); 12] = [
        (
            "rill_dht_nodes",
            "gauge",
            "Nodes in the DHT routing table.",
            s.nodes,
        ),
        (
            "rill_dht_good_nodes",
            "gauge",
            "Routing table nodes that answered within 15 minutes.",
            s.good_nodes,
        ),
        (
            "rill_dht_queries_received_total",
            "counter",
            "DHT queries received.",
            s.queries_in,
        ),
        (
            "rill_dht_queries_sent_total",
            "counter",
            "DHT queries sent.",
            s.queries_out,
        ),
        (
            "rill_dht_timeouts_total",
            "counter",
            "DHT queries of ours left unanswered.",
            s.timeouts,
        ),
        (
            "rill_dht_rate_limited_total",
            "counter",
            "DHT queries dropped by the per-IP rate limit.",
            s.rate_limited,
        ),
        (
            "rill_dht_malformed_total",
            "counter",
            "Datagrams that were not valid KRPC.",
            s.malformed,
        ),
        (
            "rill_dht_stored_peers",
            "gauge",
            "Peers other nodes announced to us (stored for others).",
            s.stored_peers,
        ),
        (
            "rill_dht_announces_received_total",
            "counter",
            "announce_peer queries stored.",
            s.announces_in,
        ),
        (
            "rill_dht_lookups_total",
            "counter",
            "Iterative DHT lookups run.",
            s.lookups,
        ),
        (
            "rill_dht_peers_found_total",
            "counter",
            "Peers in the answers to our DHT lookups.",
            s.peers_found,
        ),
        (
            "rill_udp_other_datagrams_total",
            "counter",
            "Datagrams on the peer UDP socket that are not DHT.",
            s.other_datagrams,
        ),
    ];
    for (name, kind, help, v) in rows {
        let _ = writeln!(
            page,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let mut page = String::new();
        let s = DhtSnapshot {
            nodes: 3,
            rate_limited: 7,
            ..DhtSnapshot::default()
        };
        render(&s, &mut page);
        assert!(page.contains("\nrill_dht_nodes 3\n"));
        assert!(page.contains("\nrill_dht_rate_limited_total 7\n"));
        assert_eq!(page.matches("# TYPE").count(), 12);
    }
}
