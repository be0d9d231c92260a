//! The ops console over HTTP: login (rate-limited, HttpOnly SameSite cookie), the tenants list with
//! search and filters, roles (a viewer cannot act), CSRF on every form, audited actions.

mod common;

use common::{merchant_id_from, spawn_app};
use secrecy::SecretString;
use storelink_ops::OpsAction;
use storelink_ops_console::users::{self, Role};

async fn sign_in(app: &common::TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/ops/login", app.base))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .expect("login")
}

fn session_cookie(response: &reqwest::Response) -> String {
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().expect("pair").to_owned()
}

async fn page(app: &common::TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = app.http.get(format!("{}{path}", app.base)).header("cookie", cookie).send().await.expect("get");
    (r.status().as_u16(), r.text().await.expect("text"))
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf_token\" value=\"").expect("csrf field") + "name=\"csrf_token\" value=\"".len();
    html[at..].split('"').next().expect("value").to_owned()
}

async fn post(app: &common::TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r =
        app.http.post(format!("{}{path}", app.base)).header("cookie", cookie).form(form).send().await.expect("post");
    (r.status().as_u16(), r.text().await.expect("text"))
}

#[tokio::test]
async fn console_login_roles_csrf_and_audited_actions() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let pool = &app.db.pool;
    users::add(pool, "ada", &SecretString::from("correct horse battery".to_owned()), Role::Admin).await.expect("admin");
    users::add(pool, "vic", &SecretString::from("viewer password 1".to_owned()), Role::Viewer).await.expect("viewer");
    assert!(users::add(pool, "short", &SecretString::from("short".to_owned()), Role::Admin).await.is_err());

    let anonymous = app.http.get(format!("{}/ops", app.base)).send().await.expect("get");
    assert_eq!(anonymous.status(), 303, "sign in first");
    assert_eq!(sign_in(&app, "ada", "wrong password!!").await.status(), 401);
    let admin = session_cookie(&sign_in(&app, "ada", "correct horse battery").await);
    let viewer = session_cookie(&sign_in(&app, "vic", "viewer password 1").await);

    let (status, list) = page(&app, &admin, "/ops").await;
    assert_eq!(status, 200);
    assert!(list.contains(&merchant) && list.contains("1 tenant(s) match"), "{list}");
    let (_, filtered) = page(&app, &admin, "/ops?status=revoked").await;
    assert!(filtered.contains("0 tenant(s) match"));
    let (_, searched) = page(&app, &admin, "/ops?q=127.0.0.1").await;
    assert!(searched.contains(&format!("/ops/tenants/{merchant}\"")), "a host search finds it: {searched}");
    let (_, missed) = page(&app, &admin, "/ops?q=no-such-store.example").await;
    assert!(missed.contains("id=\"no-tenants\""), "{missed}");
    let (_, by_id) = page(&app, &admin, &format!("/ops?q={merchant}")).await;
    assert!(by_id.contains(&format!("/ops/tenants/{merchant}\"")), "an id search finds it");
    // A failed slot (the registrar's) or sync (sync's) flags the tenant, through the health triggers.
    let (_, healthy) = page(&app, &admin, "/ops?status=needs_attention").await;
    assert!(healthy.contains("0 tenant(s) match"), "{healthy}");
    for (set, reset, reason) in [
        (
            "UPDATE webhook_slots SET status = 'failed' WHERE merchant_id = $1::uuid",
            "UPDATE webhook_slots SET status = 'registered' WHERE merchant_id = $1::uuid",
            "failed slots",
        ),
        (
            "UPDATE sync_state SET state = 'failed' WHERE merchant_id = $1::uuid AND kind = 'catalog'",
            "UPDATE sync_state SET state = 'idle' WHERE merchant_id = $1::uuid AND kind = 'catalog'",
            "1 failed sync",
        ),
    ] {
        sqlx::query(set).bind(&merchant).execute(pool).await.expect(set);
        // "warning" is the filter's old name.
        for filter in ["needs_attention", "warning"] {
            let (_, flagged) = page(&app, &admin, &format!("/ops?status={filter}")).await;
            assert!(flagged.contains("1 tenant(s) match") && flagged.contains(reason), "{set}: {flagged}");
        }
        sqlx::query(reset).bind(&merchant).execute(pool).await.expect(reset);
    }
    let (status, tenant) = page(&app, &admin, &format!("/ops/tenants/{merchant}")).await;
    assert_eq!(status, 200);
    for heading in [
        "Last 24 hours",
        "Connection checklist",
        "Webhook slots",
        "OCC token",
        "Syncs",
        "Recent inbound webhooks",
        "Audit trail",
    ] {
        assert!(tenant.contains(heading), "{heading}");
    }
    // The sections' rows come from the crates that own them: slots, syncs, the connect's checks.
    for cell in ["<td>order-submit</td>", "<td>catalog</td>", "<td>shipping_methods</td><td>true</td>"] {
        assert!(tenant.contains(cell), "the tenant page lacks {cell}:\n{tenant}");
    }
    assert!(!tenant.contains(&app.key), "no secrets on the page");
    // Every action form posts to an OpsAction, and every OpsAction has its form.
    let prefix = format!("action=\"/ops/tenants/{merchant}/");
    let forms: Vec<&str> = tenant.split(prefix.as_str()).skip(1).filter_map(|rest| rest.split('"').next()).collect();
    let mut offered: Vec<OpsAction> = forms
        .iter()
        .map(|form| OpsAction::parse(form).unwrap_or_else(|| panic!("the form posts to {form:?}, no OpsAction")))
        .collect();
    assert_eq!(offered.len(), forms.len());
    offered.sort_by_key(|a| a.as_str());
    offered.dedup();
    assert_eq!(offered.len(), OpsAction::ALL.len(), "one form per action: {forms:?}");
    let admin_csrf = csrf_of(&tenant);
    let (_, viewer_page) = page(&app, &viewer, &format!("/ops/tenants/{merchant}")).await;
    assert!(!viewer_page.contains("action-revoke"), "viewers see no action buttons");
    let viewer_csrf = csrf_of(&viewer_page);

    let pause = format!("/ops/tenants/{merchant}/pause");
    assert_eq!(post(&app, &viewer, &pause, &[("csrf_token", &viewer_csrf)]).await.0, 403, "viewer cannot act");
    assert_eq!(post(&app, &admin, &pause, &[]).await.0, 403, "no CSRF token");
    assert_eq!(post(&app, &admin, &pause, &[("csrf_token", &viewer_csrf)]).await.0, 403, "another session's token");
    let (status, paused) = post(&app, &admin, &pause, &[("csrf_token", &admin_csrf)]).await;
    assert_eq!(status, 200, "{paused}");
    assert!(paused.contains("id=\"tenant-status\">paused<"));
    let (_, list) = page(&app, &admin, "/ops?status=paused").await;
    assert!(list.contains("1 tenant(s) match") && list.contains("badge-paused"), "{list}");
    assert!(paused.contains("<td>pause</td><td>ok</td>"), "the audit trail shows it");
    let (status, resync) =
        post(&app, &admin, &format!("/ops/tenants/{merchant}/resync_inventory"), &[("csrf_token", &admin_csrf)]).await;
    assert_eq!(status, 200, "{resync}");
    assert!(resync.contains("A full inventory sync is queued."));
    for unknown in ["rotate", "retry-slots", "resync", "reindex"] {
        let path = format!("/ops/tenants/{merchant}/{unknown}");
        assert_eq!(post(&app, &admin, &path, &[("csrf_token", &admin_csrf)]).await.0, 404, "{unknown}");
    }
    let (status, refused) = post(
        &app,
        &admin,
        &format!("/ops/tenants/{merchant}/rotate_key"),
        &[("csrf_token", &admin_csrf), ("new_key", "nope-not-a-key")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(refused.contains("current ones were kept") && !refused.contains("nope-not-a-key"));
    let revoke = format!("/ops/tenants/{merchant}/revoke");
    assert_eq!(post(&app, &admin, &revoke, &[("csrf_token", &admin_csrf), ("confirm", "wrong")]).await.0, 400);
    let store = app.sim.base_url();
    let (status, revoked) = post(&app, &admin, &revoke, &[("csrf_token", &admin_csrf), ("confirm", &store)]).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked.contains("id=\"tenant-status\">revoked<"));

    let trail = storelink_ops::recent(pool, merchant.parse().ok(), 10).await.expect("audit");
    let actions: Vec<(&str, &str, &str)> =
        trail.iter().rev().map(|e| (e.actor.as_str(), e.action.as_str(), e.outcome.as_str())).collect();
    assert_eq!(
        actions,
        vec![
            ("ada", "pause", "ok"),
            ("ada", "resync_inventory", "ok"),
            ("ada", "rotate_key", "refused"),
            ("ada", "revoke", "ok")
        ]
    );
    assert!(trail.iter().all(|e| OpsAction::parse(&e.action).is_some()), "every audit value is an OpsAction");
    assert_eq!(trail[0].source, "127.0.0.1");

    // Sign-in attempts are rate-limited per client.
    let mut last = 0;
    for _ in 0..12 {
        last = sign_in(&app, "mallory", "guess guess guess").await.status().as_u16();
    }
    assert_eq!(last, 429);
    app.stop().await;
}
