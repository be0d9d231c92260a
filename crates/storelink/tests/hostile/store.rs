//! A merchant-controlled (or merely changing) store against the real server: answers too large to
//! hold, late webhooks that would turn a cancelled order back, and a catalog that changes while a
//! full sync pages through it. Nothing here may cost the platform memory or show partners a change
//! that did not happen.

use std::time::Duration;

use storelink_core::MerchantId;
use storelink_jobs::Mode;
use storelink_occ::ReplyLimit;
use storelink_occ_sim::{Fault, FaultKind};
use storelink_testkit::memory;

use crate::common::{count, merchant_id_from, spawn_app, wait_for};

/// What the hostile store streams: generated as it is sent, never held by the simulator.
const HUGE: u64 = 1 << 30;

/// A store that answers the connect login with 1 GiB: the merchant is told the answer was too large,
/// nothing is stored, and the server's RSS stays within tens of MB of idle (whole-body reads took a
/// web process from 22 MB to 5.8 GB). The same store answering a sync page with 1 GiB fails the run
/// with that error recorded, also without the memory.
#[tokio::test]
async fn a_store_answering_with_gigabytes_costs_no_memory() {
    let app = spawn_app().await;
    // Warm up the connect path once (a failed login: nothing is stored) so idle includes its code.
    let warm = app.connect_with(&app.sim.base_url(), "not-a-key").await;
    assert_eq!(warm.status(), 422);
    let idle = memory::rss();
    memory::reset_peak();

    let fault = app.sim.inject(Fault::new(Some("POST"), "/ccadmin/v1/login", FaultKind::HugeBody { bytes: HUGE }));
    let response = app.connect().await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("far larger answer than an OCC store sends"), "{page}");
    let login_peak = memory::peak();
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0, "nothing stored");
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 2, "the huge answer is not fetched again");
    app.sim.remove_fault(fault);

    // A connected merchant whose store then answers a catalog page with 1 GiB.
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("merchant id");
    app.wait_synced().await;
    memory::reset_peak();
    app.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::HugeBody { bytes: HUGE }));
    app.services.queue.enqueue(merchant, "catalog", Mode::Full).await.expect("enqueue");
    let pool = app.db.pool.clone();
    let expected = format!("larger than {} bytes", ReplyLimit::Page.bytes());
    let recorded = wait_for(Duration::from_secs(30), || {
        let (pool, expected) = (pool.clone(), expected.clone());
        async move {
            let error: Option<String> =
                sqlx::query_scalar("SELECT last_error FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
                    .bind(merchant)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(None);
            error.is_some_and(|e| e.contains(&expected))
        }
    })
    .await;
    assert!(recorded, "the sync records that the store's answer was too large");
    let sync_peak = memory::peak();
    eprintln!(
        "huge reply: RSS idle {:.1} MiB, peak during the connect {:.1} MiB, during the sync {:.1} MiB",
        memory::mib(idle),
        memory::mib(login_peak),
        memory::mib(sync_peak)
    );
    let bound = idle + 50 * 1024 * 1024;
    assert!(login_peak < bound && sync_peak < bound, "idle {idle}, peaks {login_peak} / {sync_peak}");
    app.stop().await;
}
