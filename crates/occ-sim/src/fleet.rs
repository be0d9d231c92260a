//! Many simulated stores from one process, for the density benchmark: each store is its own state
//! (catalog, keys, orders), chosen by the first label of the request's host name, so store 17 is
//! `http://s17.localhost:PORT` (names under `localhost` resolve to loopback, RFC 6761) and ten
//! thousand stores need one port, not ten thousand.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;

use crate::routes::{dispatch, error};
use crate::server::OccSim;
use crate::state::{KeyInfo, State};
use crate::{Permissions, SimOptions};

type Stores = Arc<Vec<Arc<State>>>;

/// A running fleet of simulated stores on one listener (and one storefront listener).
pub struct OccFleet {
    stores: Stores,
    addr: SocketAddr,
    handle: Arc<Mutex<Option<actix_web::dev::ServerHandle>>>,
}

impl OccFleet {
    /// `count` stores on 127.0.0.1 with a free port; store `n` has its own catalog (seeded with
    /// `options.seed + n`) and the application key `fleet-key-<n>` with every permission.
    pub async fn spawn(count: usize, options: SimOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let storefront = TcpListener::bind(SocketAddr::new(addr.ip(), 0))?;
        let storefront_addr = storefront.local_addr()?;
        let stores: Stores = Arc::new(
            (0..count)
                .map(|n| {
                    let state =
                        State::new(&SimOptions { seed: options.seed.wrapping_add(n as u64), ..options.clone() });
                    let _ = state.storefront.set(storefront_addr);
                    state.lock().keys.insert(Self::key(n), KeyInfo { permissions: Permissions::all(), revoked: false });
                    Arc::new(state)
                })
                .collect(),
        );
        let handle = crate::server::serve(web::Data::new(stores.clone()), route, listener, storefront)?;
        Ok(Self { stores, addr, handle: Arc::new(Mutex::new(Some(handle))) })
    }

    pub fn len(&self) -> usize {
        self.stores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// Store `n`'s Store URL.
    pub fn store_url(&self, n: usize) -> String {
        format!("http://s{n}.localhost:{}", self.addr.port())
    }

    /// Store `n`'s application key.
    pub fn key(n: usize) -> String {
        format!("fleet-key-{n}")
    }

    /// A handle on store `n` alone (its data, faults and call log), as `OccSim` gives one store.
    pub fn store(&self, n: usize) -> Option<OccSim> {
        let state = self.stores.get(n)?.clone();
        Some(OccSim::member(state, self.addr, self.store_url(n)))
    }

    /// Calls received by every store since the last clear; clears the logs (a long run would
    /// otherwise keep every call).
    pub fn take_call_count(&self) -> usize {
        self.stores
            .iter()
            .map(|s| {
                let mut inner = s.lock();
                let n = inner.calls.len();
                inner.calls.clear();
                n
            })
            .sum()
    }

    /// Stop serving (idempotent).
    pub async fn stop(&self) {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.stop(true).await;
        }
    }
}

/// The store a request is for: `s<n>` as the first label of its host name.
fn store_of(req: &HttpRequest, stores: &Stores) -> Option<Arc<State>> {
    let host = req.headers().get("host").and_then(|h| h.to_str().ok())?;
    let label = host.split(['.', ':']).next()?;
    let n: usize = label.strip_prefix('s')?.parse().ok()?;
    stores.get(n).cloned()
}

async fn route(req: HttpRequest, body: Bytes, stores: web::Data<Stores>) -> HttpResponse {
    match store_of(&req, &stores) {
        Some(state) => dispatch(req, body, web::Data::new(state)).await,
        None => error(404, "404", "No such store in this fleet (the host name must be s<n>.localhost)"),
    }
}
