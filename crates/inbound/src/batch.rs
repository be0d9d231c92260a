//! Group commit for inbound deliveries. Concurrent requests hand their row to one writer task, which
//! stores everything waiting in one multi-row INSERT and one commit, then answers each request. A
//! request is still acknowledged only after its row is committed; under a burst the cost of a commit
//! (and its fsync) is shared by the whole batch. After each batch is acknowledged the writer hands its
//! merchants to one waker task, which wakes each merchant's `inbound` job once however many batches
//! named it meanwhile (see `wake`), off the writer's path; should the process stop in between, the
//! workers' `enqueue_stale` finds the stored events. Rows of many merchants share a statement, so a
//! row Postgres refuses must not fail the others: such a batch is split until the row fails alone.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use storelink_core::{MerchantId, Slot};
use storelink_jobs::{Mode, Queue};
use storelink_tenants::{MerchantStatus, RowLock, merchants};
use tokio::sync::{mpsc, oneshot};

use crate::KIND;
use crate::process::EnqueueError;

const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;
/// Longest a batch may take (a commit takes milliseconds): a hung connection or a long lock wait
/// fails the batch (503, so OCC resends) instead of stalling all ingest behind the writer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest time between two rounds of the waker; the most a wake-up is delayed.
const WAKE_INTERVAL: Duration = Duration::from_millis(20);

struct Pending {
    merchant: MerchantId,
    slot: Slot,
    key: String,
    body: bytes::Bytes,
    /// The delivery's trace (its request span's `traceparent`): the job it wakes continues it.
    trace: Option<String>,
    done: oneshot::Sender<Result<bool, NotStored>>,
}

/// Why a delivery was not stored.
#[derive(Clone, Debug)]
pub(crate) enum NotStored {
    /// The database cannot be reached or did not answer in time; the sender should try again (503).
    Unavailable(String),
    /// Postgres refused this delivery's own row (it failed alone after its batch was split); sending it
    /// again cannot help (422).
    Refused(String),
}

/// What a batch write did: the (merchant, key) pairs newly stored, and those whose row failed alone.
#[derive(Default)]
struct Written {
    stored: HashSet<(MerchantId, String)>,
    failed: HashMap<(MerchantId, String), NotStored>,
}

/// Merchants to wake, each with the trace of the first delivery that named it.
type ToWake = HashMap<MerchantId, Option<String>>;

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the writer task and the waker on the current runtime. One writer, measured
    /// (docs/BENCHMARKS.md): ingest is CPU-bound on the cores it shares with Postgres, and a commit
    /// costs Postgres about as much as several rows, so the one writer that makes the largest batches
    /// (about 11 rows per commit at 32 clients, against 7 with two) is fastest.
    pub fn start(pool: PgPool, queue: Queue) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (woken, to_wake) = mpsc::unbounded_channel();
        tokio::spawn(wake_loop(queue, to_wake));
        tokio::spawn(write_loop(pool, rx, woken));
        Self { tx }
    }

    /// Store one delivery; `Ok(false)` for a redelivery already stored. Returns once committed.
    pub(crate) async fn insert(
        &self,
        merchant: MerchantId,
        slot: Slot,
        key: String,
        body: bytes::Bytes,
    ) -> Result<bool, NotStored> {
        let stopped = || NotStored::Unavailable("the inbound writer stopped".to_owned());
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Pending { merchant, slot, key, body, trace: storelink_core::trace::current_traceparent(), done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Each writer keeps one connection (replaced after an error): going through the pool per batch
/// would add a round trip for sqlx's check on every acquire and release.
async fn write_loop(pool: PgPool, mut rx: mpsc::Receiver<Pending>, woken: mpsc::UnboundedSender<ToWake>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut conn: Option<PoolConnection<Postgres>> = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let on_held = match conn.as_mut() {
            Some(held) => write(held, &batch)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "inbound batch failed; retrying on a fresh connection"))
                .ok(),
            None => None,
        };
        // No connection yet, or the held one failed (it may have gone stale when Postgres restarted):
        // write on a fresh one. The insert is idempotent, so a batch that did commit is then
        // answered as duplicates.
        let result = match on_held {
            Some(stored) => Ok(stored),
            None => {
                discard(&mut conn);
                match pool.acquire().await {
                    Ok(fresh) => write(conn.insert(fresh), &batch).await,
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(Written { mut stored, failed }) => {
                let mut merchants = ToWake::new();
                for pending in &batch {
                    merchants.entry(pending.merchant).or_insert_with(|| pending.trace.clone());
                }
                // A key stored once answers `stored` to its first delivery in the batch; a copy of it
                // in the same batch is a duplicate.
                for pending in batch.drain(..) {
                    let key = (pending.merchant, pending.key.clone());
                    let answer = match failed.get(&key) {
                        Some(why) => Err(why.clone()),
                        None => Ok(stored.remove(&key)),
                    };
                    let _ = pending.done.send(answer);
                }
                let _ = woken.send(merchants);
            }
            Err(e) => {
                discard(&mut conn);
                let message = e.to_string();
                for pending in batch.drain(..) {
                    let _ = pending.done.send(Err(NotStored::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// Closes the held connection after an error rather than returning it to the pool: a batch cut off by
/// the timeout leaves it mid-statement.
fn discard(conn: &mut Option<PoolConnection<Postgres>>) {
    if let Some(conn) = conn.take() {
        drop(conn.detach());
    }
}

/// One statement for the whole batch (more only when a row fails), within `WRITE_TIMEOUT`.
async fn write(conn: &mut PgConnection, batch: &[Pending]) -> Result<Written, sqlx::Error> {
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "the inbound batch did not commit in time");
    tokio::time::timeout(WRITE_TIMEOUT, insert(conn, batch)).await.unwrap_or_else(|_| Err(sqlx::Error::Io(timed_out())))
}

/// A plain insert first: `ON CONFLICT` would make every row a speculative insertion, which costs
/// Postgres about a fifth more per row (docs/BENCHMARKS.md) for the sake of the rare redelivery. A
/// batch that holds one fails whole on the unique key, with nothing stored, and is written again
/// with `ON CONFLICT DO NOTHING`, which also absorbs a key repeated within the batch.
///
/// Any other error about the rows (one merchant's delivery that Postgres cannot store) would fail
/// every merchant's delivery in the batch, so the batch is split in halves, each written the same way,
/// until the row fails alone: k bad rows among n cost about 2k log2(n) more statements, and none when
/// nothing fails. Errors that are not about the rows (connection, shutdown, resources) fail the batch.
async fn insert(conn: &mut PgConnection, batch: &[Pending]) -> Result<Written, sqlx::Error> {
    const PLAIN: &str = "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[])
         RETURNING merchant_id, dedupe_key";
    const DEDUPING: &str = "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[])
         ON CONFLICT (merchant_id, dedupe_key) DO NOTHING
         RETURNING merchant_id, dedupe_key";
    // Rows in key order, so writers in several processes inserting overlapping keys lock them in the same
    // order and cannot deadlock.
    let mut rows: Vec<&Pending> = batch.iter().collect();
    rows.sort_by(|a, b| (a.merchant, &a.key).cmp(&(b.merchant, &b.key)));
    let mut written = Written::default();
    // Parts still to write, the next on top; halves keep the key order.
    let mut parts: Vec<&[&Pending]> = vec![&rows];
    while let Some(part) = parts.pop() {
        let result = match insert_rows(conn, PLAIN, part).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => insert_rows(conn, DEDUPING, part).await,
            result => result,
        };
        match result {
            Ok(stored) => written.stored.extend(stored),
            Err(sqlx::Error::Database(e)) if about_the_rows(e.code().as_deref()) => match part {
                [row] => {
                    tracing::warn!(merchant = %row.merchant, slot = %row.slot, error = %e, "inbound delivery refused by the database");
                    written.failed.insert((row.merchant, row.key.clone()), refusal(e.code().as_deref(), e.message()));
                }
                _ => {
                    let (first, second) = part.split_at(part.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
            },
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Whether an error with this SQLSTATE may come from the rows written, so that writing fewer rows may
/// succeed. Not for connection exceptions (08), invalid transaction state such as a read-only
/// database (25), insufficient resources (53), operator intervention such as a shutdown or a
/// cancel (57) and system errors (58): those fail whatever the rows.
fn about_the_rows(code: Option<&str>) -> bool {
    !matches!(code.and_then(|c| c.get(..2)), Some("08" | "25" | "53" | "57" | "58"))
}

/// A row that fails alone: a data exception (22), an integrity violation (23) or a limit such as an
/// index row too large (54) is the delivery's own and is refused; anything else (a deadlock, a
/// serialization failure) may pass when sent again.
fn refusal(code: Option<&str>, message: &str) -> NotStored {
    match code.and_then(|c| c.get(..2)) {
        Some("22" | "23" | "54") => NotStored::Refused(message.to_owned()),
        _ => NotStored::Unavailable(message.to_owned()),
    }
}

/// Runs one of `insert`'s statements over `rows`; returns the (merchant, key) pairs it stored.
async fn insert_rows(
    conn: &mut PgConnection,
    sql: &'static str,
    rows: &[&Pending],
) -> Result<HashSet<(MerchantId, String)>, sqlx::Error> {
    let merchants: Vec<MerchantId> = rows.iter().map(|p| p.merchant).collect();
    let slots: Vec<&str> = rows.iter().map(|p| p.slot.as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|p| p.key.as_str()).collect();
    let bodies: Vec<&[u8]> = rows.iter().map(|p| p.body.as_ref()).collect();
    let stored: Vec<(MerchantId, String)> =
        sqlx::query_as(sql).bind(&merchants).bind(&slots).bind(&keys).bind(&bodies).fetch_all(conn).await?;
    Ok(stored.into_iter().collect())
}

/// Wakes the merchants the writer names, each once per round however many batches named it. A
/// round is at most every `WAKE_INTERVAL`: under a burst, one check per merchant per interval rather
/// than one per batch (which cost as many queries as commits).
async fn wake_loop(queue: Queue, mut to_wake: mpsc::UnboundedReceiver<ToWake>) {
    let mut named = Vec::new();
    while to_wake.recv_many(&mut named, MAX_BATCH).await > 0 {
        let mut merchants = ToWake::new();
        for (merchant, trace) in named.drain(..).flatten() {
            merchants.entry(merchant).or_insert(trace);
        }
        for (merchant, trace) in merchants {
            match trace {
                Some(traceparent) => {
                    let span = tracing::info_span!("inbound_wake", %merchant);
                    storelink_core::trace::continue_remote(&span, Some(&traceparent));
                    tracing::Instrument::instrument(wake(&queue, merchant), span).await;
                }
                None => wake(&queue, merchant).await,
            }
        }
        tokio::time::sleep(WAKE_INTERVAL).await;
    }
}

/// Make sure the merchant's `inbound` job will see the committed events. A job still queued (not yet
/// started) reads them when it starts, so nothing is written; otherwise enqueue (which also asks a
/// running job to run again). A revoked merchant gets no job, which would never run: its deliveries
/// that slipped in are dropped by `enqueue_stale`. A failure only delays processing until the next
/// delivery or job.
async fn wake(queue: &Queue, merchant: MerchantId) {
    let woken = match queue.has_queued(merchant, KIND).await {
        Ok(true) => Ok(()),
        Ok(false) => enqueue_unless_revoked(queue, merchant).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = woken {
        tracing::warn!(%merchant, error = %e, "inbound processing not enqueued");
    }
}

/// Enqueues the merchant's `inbound` job while holding its row `FOR SHARE`: a revoke (which holds the
/// row `FOR NO KEY UPDATE` while it cancels the merchant's jobs) either commits first, and is seen
/// here, or waits for this job and then cancels it. Checked and inserted separately, a job enqueued
/// as the revoke committed would stay queued for a merchant that never runs again.
async fn enqueue_unless_revoked(queue: &Queue, merchant: MerchantId) -> Result<(), EnqueueError> {
    let mut tx = queue.pool().begin().await?;
    let status = merchants::lock_status(&mut tx, merchant, RowLock::Share).await?;
    if status.is_some_and(|s| s != MerchantStatus::Revoked) {
        Queue::enqueue_in(&mut tx, merchant, KIND, Mode::Incremental).await?;
    }
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(merchant: MerchantId, key: &str) -> Pending {
        let (done, _) = oneshot::channel();
        let body = bytes::Bytes::from(format!(r#"{{"key":{}}}"#, serde_json::json!(key)));
        Pending { merchant, slot: Slot::OrderSubmit, key: key.to_owned(), body, trace: None, done }
    }

    /// Rows Postgres refuses (keys that skipped the route's checks: a NUL, one over the btree limit)
    /// fail alone; every other row of the batch, another merchant's or their own, is stored, and a
    /// redelivery in the same batch is still answered duplicate.
    #[tokio::test]
    async fn a_row_postgres_refuses_fails_alone() {
        let db = storelink_testkit::test_db().await;
        let victim = storelink_testkit::insert_merchant(&db.pool, "https://victim.example").await;
        let attacker = storelink_testkit::insert_merchant(&db.pool, "https://attacker.example").await;
        let mut conn = db.pool.acquire().await.expect("connection");
        let written = insert(&mut conn, &[pending(victim, "old")]).await.expect("first write");
        assert_eq!(written.stored.len(), 1);
        // Over the btree limit even compressed: hex of a hash chain does not compress.
        let long: String =
            (0..100u32).map(|n| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(n.to_le_bytes()))).collect();
        let mut batch: Vec<Pending> = (0..40).map(|n| pending(victim, &format!("v{n}"))).collect();
        batch.push(pending(victim, "old"));
        batch.push(pending(attacker, "nul\0key"));
        batch.push(pending(attacker, &long));
        batch.push(pending(attacker, "fine"));
        let written = insert(&mut conn, &batch).await.expect("the batch is written");
        let victim_stored = written.stored.iter().filter(|(m, _)| *m == victim).count();
        assert_eq!(victim_stored, 40, "every new victim row is stored");
        assert!(!written.stored.contains(&(victim, "old".to_owned())), "the redelivery is a duplicate");
        assert!(written.stored.contains(&(attacker, "fine".to_owned())), "the attacker's good row is stored");
        let failed: HashSet<(MerchantId, usize)> = written.failed.keys().map(|(m, key)| (*m, key.len())).collect();
        assert_eq!(failed, HashSet::from([(attacker, 7), (attacker, long.len())]), "only the two bad rows failed");
        assert!(written.failed.values().all(|why| matches!(why, NotStored::Refused(_))), "refused, not unavailable");
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM inbound_events").fetch_one(&db.pool).await.expect("count");
        assert_eq!(stored, 1 + 40 + 1);
    }

    #[test]
    fn which_errors_split_and_which_refuse() {
        for (code, splits) in [(Some("22021"), true), (Some("54000"), true), (Some("40P01"), true), (None, true)] {
            assert_eq!(about_the_rows(code), splits, "{code:?}");
        }
        for code in ["08006", "25006", "53300", "57P01", "57014", "58030"] {
            assert!(!about_the_rows(Some(code)), "{code}");
        }
        assert!(matches!(refusal(Some("22021"), "m"), NotStored::Refused(_)));
        assert!(matches!(refusal(Some("54000"), "m"), NotStored::Refused(_)));
        assert!(matches!(refusal(Some("23503"), "m"), NotStored::Refused(_)));
        assert!(matches!(refusal(Some("40P01"), "m"), NotStored::Unavailable(_)));
        assert!(matches!(refusal(None, "m"), NotStored::Unavailable(_)));
    }
}
