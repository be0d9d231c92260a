//! Which database a partner's read runs on: a streaming standby when one is configured, usable and
//! past the partner's own last write (read-your-writes), else the primary. A write answers with
//! `Storelink-Read-After: <WAL position>`; a read that sends it back is served only by a standby that
//! has replayed that far. Without the header, this process remembers each partner's last write for a
//! short window (`Sticky`). Reads answer `Storelink-Read-Source: replica | primary`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use sqlx::PgPool;
use storelink_core::{Lsn, PartnerId};

use crate::ApiError;
use crate::routes::PartnerApi;

/// Sent with every answer to a partner's write; sent back on reads that must see that write.
pub const READ_AFTER: &str = "storelink-read-after";
/// On every read: `replica` or `primary`.
pub const READ_SOURCE: &str = "storelink-read-source";

/// Partners remembered at most; past it, expired entries are dropped, then the oldest.
const MAX_STICKY: usize = 100_000;

/// Each partner's last write in this process, for reads that come without `Storelink-Read-After`.
/// An entry lasts twice the lag bound plus five seconds: after that every standby in use is within
/// the bound and so has replayed the write anyway.
#[derive(Clone)]
pub struct Sticky {
    window: Duration,
    last: Arc<Mutex<HashMap<PartnerId, (Lsn, Instant)>>>,
}

impl Sticky {
    pub fn new(max_lag: Duration) -> Self {
        Self { window: max_lag * 2 + Duration::from_secs(5), last: Arc::default() }
    }

    fn remember(&self, partner: PartnerId, lsn: Lsn) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.len() >= MAX_STICKY {
            last.retain(|_, (_, at)| now.duration_since(*at) < self.window);
            if last.len() >= MAX_STICKY
                && let Some(oldest) = last.iter().min_by_key(|(_, (_, at))| *at).map(|(p, _)| *p)
            {
                last.remove(&oldest);
            }
        }
        let entry = last.entry(partner).or_insert((lsn, now));
        *entry = (entry.0.max(lsn), now);
    }

    fn recall(&self, partner: PartnerId) -> Option<Lsn> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.get(&partner) {
            Some(&(lsn, at)) if at.elapsed() < self.window => Some(lsn),
            Some(_) => {
                last.remove(&partner);
                None
            }
            None => None,
        }
    }
}

/// The position a partner's read must see: the header's, the remembered write's, whichever is later.
/// A header that is not a WAL position sends the read to the primary (never wrong, never refused).
fn read_after(req: &HttpRequest, sticky: &Sticky, partner: PartnerId) -> Option<Lsn> {
    let sent =
        req.headers().get(READ_AFTER).map(|v| v.to_str().ok().and_then(|v| v.parse().ok()).unwrap_or(Lsn(u64::MAX)));
    sent.max(sticky.recall(partner))
}

impl PartnerApi {
    /// Runs a read route's body on the pool `ReadPools` picks for this partner (again on the primary
    /// if the standby fails it) and says which in `Storelink-Read-Source`.
    pub(crate) async fn read(
        &self,
        req: &HttpRequest,
        partner: PartnerId,
        body: impl AsyncFn(&PgPool) -> Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        let after = read_after(req, &self.sticky, partner);
        let (result, source) = self.reads.run(after, |e| matches!(e, ApiError::Unavailable), body).await;
        // A refusal says where it was read too (a 404 from a standby may only be not replayed yet);
        // a failure stays an error, for the request span.
        let mut response = match result {
            Ok(response) => response,
            Err(e) if !e.status_code().is_server_error() => e.error_response(),
            Err(e) => return Err(e),
        };
        response.headers_mut().insert(HeaderName::from_static(READ_SOURCE), HeaderValue::from_static(source.pool()));
        Ok(response)
    }
}

/// Wraps every partner write route: once the handler has answered a partner (whatever the outcome:
/// a refused write may have written too), reads the primary's WAL position, answers it in
/// `Storelink-Read-After` and remembers it for the partner. Without standbys it does nothing.
pub(crate) async fn after_write(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = req.app_data::<web::Data<PartnerApi>>().cloned();
    let mut response = next.call(req).await?;
    let partner = response.request().extensions().get::<PartnerId>().copied();
    let (Some(api), Some(partner)) = (api, partner) else { return Ok(response) };
    match api.reads.write_position().await {
        Ok(Some(lsn)) => {
            api.sticky.remember(partner, lsn);
            if let Ok(value) = HeaderValue::from_str(&lsn.to_string()) {
                response.headers_mut().insert(HeaderName::from_static(READ_AFTER), value);
            }
        }
        Ok(None) => {}
        Err(e) => {
            // Not knowing the position, the partner's reads stay on the primary for the window.
            tracing::warn!(error = %e, "reading the WAL position after a partner's write");
            api.sticky.remember(partner, Lsn(u64::MAX));
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sticky_window_keeps_the_latest_write_and_forgets_it_later() {
        let sticky = Sticky { window: Duration::from_millis(50), last: Arc::default() };
        let partner = PartnerId::new();
        assert_eq!(sticky.recall(partner), None);
        sticky.remember(partner, Lsn(20));
        sticky.remember(partner, Lsn(10));
        assert_eq!(sticky.recall(partner), Some(Lsn(20)), "a later, lower position does not lower it");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sticky.recall(partner), None);
        assert!(sticky.last.lock().expect("lock").is_empty(), "an expired entry is dropped when read");
    }

    #[test]
    fn the_header_names_a_position_or_sends_the_read_to_the_primary() {
        let sticky = Sticky::new(Duration::from_secs(5));
        let partner = PartnerId::new();
        let with =
            |value: &str| actix_web::test::TestRequest::default().insert_header((READ_AFTER, value)).to_http_request();
        assert_eq!(read_after(&with("0/1A"), &sticky, partner), Some(Lsn(0x1A)));
        assert_eq!(read_after(&with("not a position"), &sticky, partner), Some(Lsn(u64::MAX)));
        let none = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(read_after(&none, &sticky, partner), None);
        sticky.remember(partner, Lsn(0x30));
        assert_eq!(read_after(&none, &sticky, partner), Some(Lsn(0x30)));
        assert_eq!(read_after(&with("0/1A"), &sticky, partner), Some(Lsn(0x30)), "the later of the two");
    }
}
