//! HTTP and HTTPS announce (BEP 3, BEP 23): one GET with our query, the
//! bencoded answer parsed by `wire::tracker_http`.

use std::time::Duration;

use super::{
    clamp_interval, AnnounceRequest, AnnounceResponse, Event, TrackerError, DEFAULT_INTERVAL,
};
use crate::net::http_client::{self, GetOptions, HttpError};
use crate::net::url::Url;
use crate::wire::tracker_http::{self as wire, AnnounceQuery, HttpAnnounceError};

/// Bound on one HTTP announce, DNS and TLS included.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) async fn announce(
    url: &str,
    parsed: &Url,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, TrackerError> {
    let shown = http_client::redact(parsed);
    let event = match req.event {
        Event::None => None,
        Event::Started => Some("started"),
        Event::Completed => Some("completed"),
        Event::Stopped => Some("stopped"),
    };
    let full = wire::announce_url(
        url.trim(),
        &AnnounceQuery {
            info_hash: &req.info_hash.0,
            peer_id: &req.peer_id,
            port: req.port,
            uploaded: req.uploaded,
            downloaded: req.downloaded,
            left: req.left,
            event,
            num_want: req.num_want,
            key: req.key(),
        },
    );
    let mut opts = GetOptions::new(wire::MAX_RESPONSE_LEN, HTTP_TIMEOUT);
    opts.local_ip = req.local_ip;
    let resp = http_client::get_with(&full, &opts)
        .await
        .map_err(|e| from_http(&shown, e))?;
    let parsed_body = wire::parse_announce_response(&resp.body);
    // A refusal often comes with a 4xx status: its reason is the useful part.
    if let Err(HttpAnnounceError::Failure(reason)) = parsed_body {
        return Err(TrackerError::Failure { url: shown, reason });
    }
    if resp.status != 200 {
        return Err(TrackerError::HttpStatus {
            url: shown,
            status: resp.status,
        });
    }
    let a = parsed_body.map_err(|e| TrackerError::Malformed {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    log::debug!(
        "tracker {shown}: {} peers, {:?} seeders, {:?} leechers",
        a.peers.len(),
        a.complete,
        a.incomplete
    );
    Ok(AnnounceResponse {
        interval: a.interval.map_or(DEFAULT_INTERVAL, clamp_interval),
        min_interval: a.min_interval.map(clamp_interval),
        peers: a.peers,
        seeders: a.complete,
        leechers: a.incomplete,
        warning: a.warning,
    })
}

fn from_http(url: &str, e: HttpError) -> TrackerError {
    let url = url.to_string();
    match e {
        HttpError::InvalidUrl(e) => TrackerError::InvalidUrl {
            url,
            reason: e.reason,
        },
        HttpError::Resolve { cause, .. } => TrackerError::Connect {
            url,
            cause: format!("cannot resolve the host name: {cause}"),
        },
        HttpError::Connect { addr, cause, .. } => TrackerError::Connect {
            url,
            cause: format!("{addr}: {cause}"),
        },
        HttpError::Io { cause, .. } => TrackerError::Connect {
            url,
            cause: format!("connection failed during the exchange: {cause}"),
        },
        HttpError::Tls { cause, .. } => TrackerError::Tls { url, cause },
        HttpError::Timeout { after, .. } => TrackerError::Timeout { url, after },
        HttpError::BadResponse { cause, .. } => TrackerError::Malformed {
            url,
            reason: cause.to_string(),
        },
        HttpError::BodyTooLarge { limit, .. } => TrackerError::Malformed {
            url,
            reason: format!("answer larger than {limit} bytes"),
        },
        HttpError::TooManyRedirects { .. } | HttpError::BadRedirect { .. } => {
            TrackerError::Malformed {
                url,
                reason: e.to_string(),
            }
        }
    }
}
