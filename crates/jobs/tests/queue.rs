//! The job queue against real Postgres: uniqueness, leases and attempt tokens, retries, dead letters,
//! pausing, fairness through slices, and the worker loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storelink_core::MerchantId;
use storelink_jobs::{
    Handler, Job, JobContext, JobError, JobState, Mode, Outcome, Queue, RetryPolicy, Schedule, UnknownMode,
    UnknownState, Worker, WorkerConfig, enqueue_due,
};
use storelink_tenants::{MerchantStatus, NewPartner, merchants, partners};
use storelink_testkit::{TestDb, test_db};
use tokio_util::sync::CancellationToken;

async fn merchants_in(db: &TestDb, n: usize) -> Vec<MerchantId> {
    let uris = vec!["https://p.example/cb".to_owned()];
    let partner = partners::create(&db.pool, NewPartner { name: "P", redirect_uris: &uris }).await.expect("partner");
    let mut conn = db.pool.acquire().await.expect("conn");
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            merchants::upsert_connected(&mut conn, partner.partner_id, "occ", &format!("https://s{i}.example"))
                .await
                .expect("m"),
        );
    }
    ids
}

fn kinds() -> Vec<String> {
    vec!["catalog".to_owned()]
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn one_live_job_per_merchant_and_kind_and_full_upgrades_incremental() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    let a = q.enqueue(m, "catalog", Mode::Incremental).await.expect("enqueue");
    let b = q.enqueue(m, "catalog", Mode::Full).await.expect("enqueue");
    assert_eq!(a, b, "no duplicate job");
    let other = q.enqueue(m, "inventory", Mode::Incremental).await.expect("other kind");
    assert_ne!(a, other);
    let job = q.get(m, a).await.expect("get").expect("job");
    assert_eq!(job.mode, Mode::Full, "a queued incremental is upgraded");
    let (claimed, _) = q.claim(&kinds(), LEASE).await.expect("claim").expect("a job");
    assert_eq!(claimed.job_id, a);
    assert_eq!(q.enqueue(m, "catalog", Mode::Full).await.expect("while running"), a);
    assert!(q.claim(&kinds(), LEASE).await.expect("claim").is_none(), "the running job is not claimed twice");
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let db = test_db().await;
    let ms = merchants_in(&db, 20).await;
    let q = Queue::new(db.pool.clone());
    for m in &ms {
        q.enqueue(*m, "catalog", Mode::Full).await.expect("enqueue");
    }
    let claims = (0..40).map(|_| {
        let q = q.clone();
        tokio::spawn(async move { q.claim(&kinds(), LEASE).await.expect("claim").map(|(job, _)| job.job_id) })
    });
    let got: Vec<i64> = futures::future::join_all(claims).await.into_iter().filter_map(|r| r.expect("join")).collect();
    let unique: std::collections::HashSet<_> = got.iter().collect();
    assert_eq!(got.len(), 20);
    assert_eq!(unique.len(), 20);
}

#[tokio::test]
async fn an_expired_lease_cannot_write_over_the_next_attempt() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    q.enqueue(m, "catalog", Mode::Full).await.expect("enqueue");
    let (_, stale) = q.claim(&kinds(), Duration::from_millis(200)).await.expect("claim").expect("job");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(q.reap_expired().await.expect("reap"), 1);
    let (job, fresh) = q.claim(&kinds(), LEASE).await.expect("claim").expect("requeued job");
    assert_eq!(job.attempts, 1, "the expiry counted as an attempt");
    assert_ne!(stale.token, fresh.token);

    let mut tx = db.pool.begin().await.expect("tx");
    assert!(stale.verify(&mut tx).await.is_err(), "the stale attempt cannot write");
    drop(tx);
    assert!(!q.heartbeat(&stale, LEASE).await.expect("hb"));
    assert!(!q.complete(&stale).await.expect("complete"), "the stale attempt cannot finish the job");
    let mut tx = db.pool.begin().await.expect("tx");
    fresh.verify(&mut tx).await.expect("the current attempt can");
    drop(tx);
    assert!(q.complete(&fresh).await.expect("complete"));
    assert_eq!(q.get(m, job.job_id).await.expect("get").expect("job").state, JobState::Succeeded);
}

#[tokio::test]
async fn failures_back_off_then_dead_letter() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    let id = q.enqueue(m, "catalog", Mode::Full).await.expect("enqueue");
    sqlx::query("UPDATE jobs SET max_attempts = 3").execute(&db.pool).await.expect("max");
    let retry = RetryPolicy { base: Duration::from_secs(60), cap: Duration::from_secs(600) };
    let (_, lease) = q.claim(&kinds(), LEASE).await.expect("claim").expect("job");
    assert!(q.fail(&lease, "boom", &retry, true).await.expect("fail"));
    let job = q.get(m, id).await.expect("get").expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1));
    let wait = (job.run_at - chrono::Utc::now()).num_seconds();
    assert!((40..=75).contains(&wait), "backed off about a minute, got {wait}s");
    assert!(q.claim(&kinds(), LEASE).await.expect("claim").is_none(), "not due yet");
    for _ in 0..2 {
        sqlx::query("UPDATE jobs SET run_at = now()").execute(&db.pool).await.expect("due");
        let (_, lease) = q.claim(&kinds(), LEASE).await.expect("claim").expect("job");
        q.fail(&lease, "boom", &retry, true).await.expect("fail");
    }
    let job = q.get(m, id).await.expect("get").expect("job");
    assert_eq!((job.state, job.attempts, job.last_error.as_deref()), (JobState::Dead, 3, Some("boom")));
    let again = q.enqueue(m, "catalog", Mode::Full).await.expect("a dead job does not block new work");
    assert_ne!(again, id);
}

#[test]
fn modes_parse_without_a_default() {
    for mode in [Mode::Full, Mode::Incremental] {
        assert_eq!(Mode::parse(mode.as_str()), Ok(mode));
    }
    for bad in ["repair", "Full", ""] {
        assert_eq!(Mode::parse(bad), Err(UnknownMode(bad.to_owned())), "{bad:?} is no mode");
    }
}

#[test]
fn states_parse_without_a_default() {
    use JobState::*;
    for state in [Queued, Running, Paused, Succeeded, Dead, Cancelled] {
        assert_eq!(JobState::parse(state.as_str()), Ok(state));
    }
    for bad in ["retrying", "Queued", ""] {
        assert_eq!(JobState::parse(bad), Err(UnknownState(bad.to_owned())), "{bad:?} is no state");
    }
}

/// A row in a state this build does not know (a newer release wrote it) reads as an error naming
/// the job, not as a queued job.
#[tokio::test]
async fn a_job_in_an_unknown_state_is_an_error_not_a_queued_job() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    sqlx::query("ALTER TABLE jobs DROP CONSTRAINT jobs_state_check").execute(&db.pool).await.expect("drop check");
    let id = q.enqueue(m, "catalog", Mode::Full).await.expect("enqueue");
    sqlx::query("UPDATE jobs SET state = 'retrying'").execute(&db.pool).await.expect("state");
    match q.get(m, id).await {
        Err(JobError::UnknownState { job_id, state }) => assert_eq!((job_id, state.as_str()), (id, "retrying")),
        other => panic!("read a job of unknown state: {other:?}"),
    }
}

/// A row whose mode this build does not know (a newer release wrote it) is not run as full or
/// incremental: claiming it dead-letters it with the mode in `last_error`, and the queue goes on.
#[tokio::test]
async fn a_job_with_an_unknown_mode_is_dead_lettered_not_guessed() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    // A newer schema that allows another mode.
    sqlx::query("ALTER TABLE jobs DROP CONSTRAINT jobs_mode_check").execute(&db.pool).await.expect("drop check");
    let id = q.enqueue(m, "catalog", Mode::Full).await.expect("enqueue");
    sqlx::query("UPDATE jobs SET mode = 'repair'").execute(&db.pool).await.expect("mode");
    match q.claim(&kinds(), LEASE).await {
        Err(JobError::UnknownMode { job_id, mode }) => assert_eq!((job_id, mode.as_str()), (id, "repair")),
        other => panic!("claimed a job of unknown mode: {other:?}"),
    }
    let (state, last_error): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM jobs WHERE job_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!(state, "dead");
    assert_eq!(last_error.as_deref(), Some(format!("job {id} has an unknown mode \"repair\"").as_str()));
    assert!(matches!(q.get(m, id).await, Err(JobError::UnknownMode { .. })), "reads say so too");
    assert!(q.claim(&kinds(), LEASE).await.expect("claim").is_none(), "never claimed again");
    let next = q.enqueue(m, "catalog", Mode::Incremental).await.expect("new work is not blocked");
    let (job, _) = q.claim(&kinds(), LEASE).await.expect("claim").expect("job");
    assert_eq!((job.job_id, job.mode), (next, Mode::Incremental));
}

#[tokio::test]
async fn paused_and_inactive_merchants_are_skipped() {
    let db = test_db().await;
    let ms = merchants_in(&db, 2).await;
    let q = Queue::new(db.pool.clone());
    q.enqueue(ms[0], "catalog", Mode::Full).await.expect("enqueue");
    q.enqueue(ms[1], "catalog", Mode::Full).await.expect("enqueue");
    assert_eq!(q.pause_merchant(ms[0]).await.expect("pause"), 1);
    merchants::set_status(&db.pool, ms[1], MerchantStatus::CredentialsInvalid).await.expect("status");
    assert!(q.claim(&kinds(), LEASE).await.expect("claim").is_none());
    q.resume_merchant(ms[0]).await.expect("resume");
    let (job, _) = q.claim(&kinds(), LEASE).await.expect("claim").expect("job");
    assert_eq!(job.merchant_id, ms[0]);
    assert_eq!(q.cancel_merchant(ms[0]).await.expect("cancel"), 1);
}

#[tokio::test]
async fn scheduler_enqueues_due_kinds_once() {
    let db = test_db().await;
    let ms = merchants_in(&db, 3).await;
    let schedules = vec![
        Schedule { kind: "catalog".into(), every: Duration::from_secs(900), full_every: Duration::from_secs(86400) },
        Schedule { kind: "orders".into(), every: Duration::from_secs(300), full_every: Duration::from_secs(86400) },
    ];
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 6);
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 0, "live jobs are not duplicated");
    let q = Queue::new(db.pool.clone());
    let (job, lease) = q.claim(&["orders".to_owned()], LEASE).await.expect("claim").expect("job");
    assert_eq!(job.mode, Mode::Full, "first run is full");
    q.complete(&lease).await.expect("complete");
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 0, "succeeded recently");
    assert!(ms.contains(&job.merchant_id));
}

/// Each (merchant, kind) carries when it is next due: a merchant connected after the kind was
/// registered is due at once (trigger), a success makes it due one interval later, and an inactive
/// merchant's due row is looked at again one interval later instead of on every tick.
#[tokio::test]
async fn the_scheduler_follows_each_rows_due_time() {
    let db = test_db().await;
    let ms = merchants_in(&db, 2).await;
    let every = Duration::from_secs(300);
    let schedules = vec![Schedule { kind: "orders".into(), every, full_every: Duration::from_secs(86400) }];
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 2, "backfilled at registration");
    let later = merchants_in(&db, 1).await[0];
    let due_now: bool = sqlx::query_scalar(
        "SELECT next_due_at <= now() FROM job_schedule_state WHERE merchant_id = $1 AND kind = 'orders'",
    )
    .bind(later)
    .fetch_one(&db.pool)
    .await
    .expect("row written by the trigger");
    assert!(due_now);
    merchants::set_status(&db.pool, later, MerchantStatus::Paused).await.expect("pause");
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 0, "paused: no job");
    let postponed: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM next_due_at - now())::float8 FROM job_schedule_state
         WHERE merchant_id = $1 AND kind = 'orders'",
    )
    .bind(later)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert!(postponed > 290.0, "an inactive merchant is looked at one interval later: {postponed}");

    let q = Queue::new(db.pool.clone());
    let (job, lease) = q.claim(&["orders".to_owned()], LEASE).await.expect("claim").expect("job");
    assert!(q.complete(&lease).await.expect("complete"));
    let (_, other) = q.claim(&["orders".to_owned()], LEASE).await.expect("claim").expect("second job");
    assert!(q.complete(&other).await.expect("complete"));
    let next: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM next_due_at - last_succeeded_at)::float8 FROM job_schedule_state
         WHERE merchant_id = $1 AND kind = 'orders'",
    )
    .bind(job.merchant_id)
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert_eq!(next, every.as_secs_f64(), "next due one interval after the success");
    // Made due again (as time would): the next tick enqueues it, as an incremental run.
    sqlx::query("UPDATE job_schedule_state SET next_due_at = now() - interval '1 second' WHERE merchant_id = $1")
        .bind(job.merchant_id)
        .execute(&db.pool)
        .await
        .expect("due");
    assert_eq!(enqueue_due(&db.pool, &schedules).await.expect("schedule"), 1);
    let (again, _) = q.claim(&["orders".to_owned()], LEASE).await.expect("claim").expect("job");
    assert_eq!((again.merchant_id, again.mode), (job.merchant_id, Mode::Incremental));
    assert!(ms.contains(&job.merchant_id));
}

/// Records which merchant ran each slice; the "big" merchant needs many slices.
struct Recorder {
    order: Arc<Mutex<Vec<MerchantId>>>,
    remaining: Arc<Mutex<HashMap<MerchantId, u32>>>,
}

impl Handler for Recorder {
    async fn run(&self, job: Job, _ctx: JobContext) -> Outcome {
        self.order.lock().expect("lock").push(job.merchant_id);
        let mut remaining = self.remaining.lock().expect("lock");
        let left = remaining.entry(job.merchant_id).or_insert(1);
        *left -= 1;
        if *left == 0 { Outcome::Done } else { Outcome::MoreWork }
    }
}

#[tokio::test]
async fn a_big_merchant_yields_to_small_ones_and_shutdown_is_clean() {
    let db = test_db().await;
    let ms = merchants_in(&db, 11).await;
    let (big, small) = (ms[0], &ms[1..]);
    let q = Queue::new(db.pool.clone());
    q.enqueue(big, "catalog", Mode::Full).await.expect("enqueue");
    for m in small {
        q.enqueue(*m, "catalog", Mode::Full).await.expect("enqueue");
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let remaining = Arc::new(Mutex::new(HashMap::from([(big, 30u32)])));
    let handler = Recorder { order: order.clone(), remaining };
    let config = WorkerConfig { concurrency: 1, poll: Duration::from_millis(50), ..WorkerConfig::new(kinds()) };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(q.clone(), handler, config).run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while order.lock().expect("lock").len() < 40 {
        assert!(tokio::time::Instant::now() < deadline, "worker too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker).await.expect("stops").expect("join").expect("run");
    let order = order.lock().expect("lock").clone();
    let last_small = order.iter().rposition(|m| *m != big).expect("small ones ran");
    assert!(last_small <= 11, "every small merchant ran within the first rounds: {last_small}");
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'running'").fetch_one(&db.pool).await.expect("q");
    assert_eq!(live, 0, "no job left leased after shutdown");
}

#[tokio::test]
async fn a_job_asked_for_while_running_runs_again() {
    let db = test_db().await;
    let m = merchants_in(&db, 1).await[0];
    let q = Queue::new(db.pool.clone());
    let id = q.enqueue(m, "catalog", Mode::Incremental).await.expect("enqueue");
    let (_, lease) = q.claim(&kinds(), LEASE).await.expect("claim").expect("job");
    assert_eq!(q.enqueue(m, "catalog", Mode::Incremental).await.expect("again"), id, "no second live job");
    assert!(q.complete(&lease).await.expect("complete"));
    assert_eq!(q.get(m, id).await.expect("get").expect("job").state, JobState::Queued, "runs once more");
    let (_, lease) = q.claim(&kinds(), LEASE).await.expect("claim").expect("requeued");
    assert!(q.complete(&lease).await.expect("complete"));
    assert_eq!(q.get(m, id).await.expect("get").expect("job").state, JobState::Succeeded);
}
