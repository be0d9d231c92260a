//! Connecting a SAP Commerce Cloud store through the real form over HTTP against the SAP simulator:
//! the platform choice, the SAP form and its ImpEx, OAuth2 client credentials and Basic, refused
//! credentials and each missing field named beside it; and ops rotating a SAP tenant's credentials,
//! validated before they replace the old.

mod common;

use common::{FormSession, TestApp, count, merchant_id_from, spawn_app};
use storelink_connector_sap::{Auth, SapCredentials};
use storelink_sap_sim::{InboundAuth, SapSim, SimOptions, TOKEN_PATH};

const SECRET: &str = "sap-secret-for-tests-0123456789";

async fn sap_store(auth: InboundAuth) -> SapSim {
    let sim =
        SapSim::spawn(SimOptions { products: 5, inbound_auth: auth, ..SimOptions::default() }).await.expect("sim");
    storelink::demo::add_sap_access(&sim, SECRET);
    sim
}

/// The SAP form's fields for `auth` (`"oauth"` or `"basic"`) with the ImpEx's client or user.
fn sap_fields(sim: &SapSim, auth: &str, secret: &str) -> Vec<(&'static str, String)> {
    let mut fields = vec![("platform", "sap".to_owned()), ("store_url", sim.base_url()), ("sap_auth", auth.to_owned())];
    if auth == "oauth" {
        fields.extend([("sap_client_id", "storelink-client".to_owned()), ("sap_client_secret", secret.to_owned())]);
    } else {
        fields.extend([("sap_user", "storelink".to_owned()), ("sap_password", secret.to_owned())]);
    }
    fields
}

async fn connect_sap(app: &TestApp, fields: &[(&str, String)]) -> reqwest::Response {
    let session: FormSession = app.open_form().await;
    app.post_connect(&session, fields).await
}

async fn sealed(app: &TestApp, merchant: &str) -> SapCredentials {
    let opened = app
        .services
        .vault
        .open_string(merchant.parse().expect("uuid"), storelink_connector_sap::CREDENTIALS_PURPOSE)
        .await
        .expect("open")
        .expect("sealed credentials");
    SapCredentials::parse(&opened).expect("SapCredentials")
}

async fn merchants(app: &TestApp) -> i64 {
    count(&app.db.pool, "SELECT count(*) FROM merchants").await
}

#[tokio::test]
async fn the_form_asks_for_the_platform_and_the_sap_form_links_its_impex() {
    let app = spawn_app().await;
    // Neither the link nor the form names a platform: the form asks, without JavaScript.
    let chooser = app.http.get(format!("{}/connect", app.base)).query(&app.link_query()).send().await.expect("GET");
    assert_eq!(chooser.status(), 200);
    let cookie = chooser.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("c").to_owned();
    let html = chooser.text().await.expect("page");
    assert!(html.contains(r#"id="platform-sap""#) && html.contains(r#"id="platform-occ""#), "{html}");
    assert!(!html.contains("<script"), "no script needed");
    let session = FormSession { cookie, token: storelink_testkit::extract_csrf_token(&html).expect("token") };
    let chosen = app.post_connect(&session, &[("platform", "sap".into()), ("choose", "1".into())]).await;
    assert_eq!(chosen.status(), 200);
    let form = chosen.text().await.expect("SAP form");
    assert!(form.contains("Connect your SAP Commerce Cloud store"), "{form}");
    assert!(form.contains(">API base URL</label>") && form.contains("/odata2webservices"), "{form}");
    for field in ["sap_auth-oauth", "sap_auth-basic", "sap_client_id", "sap_client_secret", "sap_token_url"] {
        assert!(form.contains(&format!(r#"id="{field}""#)), "{field} in {form}");
    }
    for field in ["sap_user", "sap_password", "sap_object_product", "sap_object_order"] {
        assert!(form.contains(&format!(r#"id="{field}""#)), "{field} in {form}");
    }
    assert!(form.contains(r#"name="platform" value="sap""#) && !form.contains(r#"name="app_key""#));
    assert!(!form.contains("OCC") && !form.contains("Application Key"), "no OCC words on the SAP form");
    // The ImpEx the merchant imports once, served by the product itself.
    let link = "/connect/sap/storelink-integration-objects.impex";
    assert!(form.contains(&format!(r#"href="{link}""#)), "{form}");
    assert!(form.contains("Backoffice (System &#62; Tools &#62; Import)"), "{form}");
    let impex = app.http.get(format!("{}{link}", app.base)).send().await.expect("impex");
    assert_eq!(impex.status(), 200);
    assert!(impex.headers()["content-disposition"].to_str().expect("header").contains("attachment"));
    let body = impex.text().await.expect("impex body");
    assert_eq!(body, include_str!("../../sap-sim/impex/storelink-integration-objects.impex"));
    let missing = app.http.get(format!("{}/connect/sap/other.impex", app.base)).send().await.expect("404");
    assert_eq!(missing.status(), 404);

    // A partner link naming a platform goes straight to its form; the OCC form is as it was.
    let mut query = app.link_query();
    query.push(("platform", "sap".to_owned()));
    let sap = app.http.get(format!("{}/connect", app.base)).query(&query).send().await.expect("GET sap");
    assert!(sap.text().await.expect("page").contains(r#"id="sap_client_id""#));
    query.retain(|(k, _)| *k != "platform");
    query.push(("platform", "occ".to_owned()));
    let occ = app.http.get(format!("{}/connect", app.base)).query(&query).send().await.expect("GET occ");
    let occ = occ.text().await.expect("page");
    assert!(occ.contains(r#"name="app_key""#) && occ.contains(">Store URL</label>") && !occ.contains("sap_"), "{occ}");
    // Choosing nothing asks again.
    let none = app.post_connect(&session, &[("choose", "1".into())]).await;
    assert_eq!(none.status(), 422);
    assert!(none.text().await.expect("page").contains("Choose the platform"));
    app.stop().await;
}

#[tokio::test]
async fn a_sap_store_connects_with_oauth_client_credentials() {
    let app = spawn_app().await;
    let sim = sap_store(InboundAuth::OAuth).await;
    let response = connect_sap(&app, &sap_fields(&sim, "oauth", SECRET)).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let merchant = merchant_id_from(&response);
    let found = storelink_tenants::merchants::get(&app.db.pool, merchant.parse().expect("uuid")).await.expect("get");
    assert_eq!(found.expect("merchant").platform, "sap");
    assert!(sim.count("POST", TOKEN_PATH) >= 1, "the test login asked for a token");
    let credentials = sealed(&app, &merchant).await;
    assert!(matches!(&credentials.auth, Auth::OAuth { client_id, client_secret, token_url: None }
        if client_id == "storelink-client" && client_secret == SECRET));
    assert_eq!(credentials.objects, storelink_connector_sap::Objects::default(), "the default object names");
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT t::text FROM merchants t").fetch_all(&app.db.pool).await.expect("rows");
    assert!(stored.iter().all(|r| !r.contains(SECRET)), "the secret is sealed, never stored in clear");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_sap_store_connects_with_basic_and_its_own_object_names() {
    let app = spawn_app().await;
    let sim = sap_store(InboundAuth::Basic).await;
    let mut fields = sap_fields(&sim, "basic", SECRET);
    // OAuth fields left over from the other choice are ignored.
    fields.push(("sap_client_id", "ignored".to_owned()));
    fields.push(("sap_object_order", " StorelinkOrder ".to_owned()));
    let response = connect_sap(&app, &fields).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let merchant = merchant_id_from(&response);
    let credentials = sealed(&app, &merchant).await;
    assert!(matches!(&credentials.auth, Auth::Basic { user, password } if user == "storelink" && password == SECRET));
    assert_eq!(credentials.objects.order, "StorelinkOrder");
    assert_eq!(sim.count("POST", TOKEN_PATH), 0, "Basic asks for no token");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn refused_sap_credentials_are_named_for_sap_and_nothing_is_saved() {
    let app = spawn_app().await;
    let sim = sap_store(InboundAuth::Both).await;
    for (auth, field) in [("oauth", "sap_client_secret"), ("basic", "sap_password")] {
        let wrong = "not-the-secret-at-all";
        let response = connect_sap(&app, &sap_fields(&sim, auth, wrong)).await;
        assert_eq!(response.status(), 422, "{auth}");
        let page = response.text().await.expect("page");
        assert!(page.contains("Your SAP Commerce Cloud store refused these credentials"), "{page}");
        assert!(page.contains(&format!(r#"id="{field}-error""#)), "the message is beside {field}: {page}");
        assert!(!page.contains(wrong), "the secret is not echoed");
        assert!(!page.contains("OCC"), "{page}");
        assert!(page.contains(&sim.base_url()), "the API URL is kept");
    }
    assert_eq!(merchants(&app).await, 0);

    // An address that answers but serves no token endpoint (here: the OCC simulator) is not refused
    // credentials: the merchant is told which address to enter.
    let mut fields = sap_fields(&sim, "oauth", SECRET);
    fields.retain(|(k, _)| *k != "store_url");
    fields.push(("store_url", app.sim.base_url()));
    let response = connect_sap(&app, &fields).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("serves neither the Integration API nor an OAuth token endpoint"), "{page}");
    assert!(page.contains(r#"id="store_url-error""#), "{page}");
    assert_eq!(merchants(&app).await, 0);
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn each_missing_sap_field_is_named_beside_it() {
    let app = spawn_app().await;
    let sim = sap_store(InboundAuth::Both).await;
    let cases = [
        ("oauth", "sap_client_id", "Enter the OAuth client id"),
        ("oauth", "sap_client_secret", "Enter the secret of the OAuth client"),
        ("basic", "sap_user", "Enter the user"),
        ("basic", "sap_password", "Enter the password of the user"),
    ];
    for (auth, missing, message) in cases {
        let mut fields = sap_fields(&sim, auth, SECRET);
        fields.retain(|(k, _)| *k != missing);
        let response = connect_sap(&app, &fields).await;
        assert_eq!(response.status(), 422, "{missing}");
        let page = response.text().await.expect("page");
        assert!(page.contains(&format!(r#"id="{missing}-error""#)), "beside {missing}: {page}");
        assert!(page.contains(message), "{message}: {page}");
        assert!(!page.contains(SECRET), "the other secret is not echoed either");
    }
    // A token endpoint that is not a URL, an object name that is not a code.
    let mut fields = sap_fields(&sim, "oauth", SECRET);
    fields.push(("sap_token_url", "not a url".to_owned()));
    let page = connect_sap(&app, &fields).await.text().await.expect("page");
    assert!(page.contains(r#"id="sap_token_url-error""#) && page.contains("full https:// address"), "{page}");
    let mut fields = sap_fields(&sim, "oauth", SECRET);
    fields.push(("sap_object_product", "Storelink Product".to_owned()));
    let page = connect_sap(&app, &fields).await.text().await.expect("page");
    assert!(page.contains(r#"id="sap_object_product-error""#), "{page}");
    assert!(page.contains(r#"value="Storelink Product""#), "what the merchant typed is kept");
    assert_eq!(sim.calls().len(), 0, "nothing was sent to the store");
    assert_eq!(merchants(&app).await, 0);
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn ops_rotates_a_sap_tenants_credentials_only_once_they_pass() {
    let app = spawn_app().await;
    let sim = sap_store(InboundAuth::OAuth).await;
    let response = connect_sap(&app, &sap_fields(&sim, "oauth", SECRET)).await;
    assert_eq!(response.status(), 200);
    let merchant = merchant_id_from(&response);
    let id = merchant.parse().expect("uuid");
    let ops = app.services.ops();
    let actor = storelink_ops::Actor::cli();
    let form = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();

    // Refused credentials keep the old ones.
    let wrong = form(&[("sap_auth", "oauth"), ("sap_client_id", "storelink-client"), ("sap_client_secret", "wrong")]);
    let refused = ops.rotate_fields(&actor, id, &wrong).await;
    assert!(matches!(refused, Err(storelink_ops::OpsError::KeyRejected(_))), "{refused:?}");
    // Fields that do not make credentials are refused before the store is asked.
    let incomplete = form(&[("sap_auth", "basic"), ("sap_user", "storelink")]);
    let refused = ops.rotate_fields(&actor, id, &incomplete).await;
    assert!(matches!(&refused, Err(storelink_ops::OpsError::Invalid(m)) if m.contains("password")), "{refused:?}");
    assert!(matches!(sealed(&app, &merchant).await.auth, Auth::OAuth { client_secret, .. } if client_secret == SECRET));

    // A new client that passes replaces the old.
    sim.add_oauth_client("storelink-client-2", "second-secret", "storelink");
    let new =
        form(&[("sap_auth", "oauth"), ("sap_client_id", "storelink-client-2"), ("sap_client_secret", "second-secret")]);
    ops.rotate_fields(&actor, id, &new).await.expect("rotated");
    assert!(
        matches!(sealed(&app, &merchant).await.auth, Auth::OAuth { client_id, .. } if client_id == "storelink-client-2")
    );
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM audit_log WHERE action = 'rotate_key' ORDER BY audit_id")
            .fetch_all(&app.db.pool)
            .await
            .expect("audit");
    assert_eq!(outcomes, ["refused", "refused", "ok"], "every attempt audited");

    // The ops console asks for the SAP fields and rotates with them.
    let password = secrecy::SecretString::from("correct horse battery".to_owned());
    storelink_ops_console::users::add(&app.db.pool, "ada", &password, storelink_ops_console::users::Role::Admin)
        .await
        .expect("ops user");
    let signed_in = app
        .http
        .post(format!("{}/ops/login", app.base))
        .form(&[("username", "ada"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("sign in");
    let cookie = signed_in.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("c").to_owned();
    let tenant = format!("{}/ops/tenants/{merchant}", app.base);
    let page =
        app.http.get(&tenant).header("cookie", &cookie).send().await.expect("tenant").text().await.expect("page");
    for field in ["rotate-sap_auth-basic", "rotate-sap_client_id", "rotate-sap_client_secret", "rotate-sap_password"] {
        assert!(page.contains(&format!(r#"id="{field}""#)), "{field}: {page}");
    }
    let csrf = storelink_testkit::extract_csrf_token(&page).expect("csrf");
    sim.add_oauth_client("storelink-client-3", "third-secret", "storelink");
    let rotate = |secret: &'static str| {
        let fields = [
            ("csrf_token", csrf.clone()),
            ("sap_auth", "oauth".to_owned()),
            ("sap_client_id", "storelink-client-3".to_owned()),
            ("sap_client_secret", secret.to_owned()),
        ];
        app.http.post(format!("{tenant}/rotate_key")).header("cookie", &cookie).form(&fields).send()
    };
    let refused = rotate("not-it").await.expect("rotate");
    assert_eq!(refused.status(), 422);
    assert!(!refused.text().await.expect("page").contains("not-it"), "the secret is not echoed");
    let rotated = rotate("third-secret").await.expect("rotate");
    assert_eq!(rotated.status(), 200);
    assert!(rotated.text().await.expect("page").contains("Key rotated"));
    assert!(
        matches!(sealed(&app, &merchant).await.auth, Auth::OAuth { client_id, .. } if client_id == "storelink-client-3")
    );

    // The other actions work for the SAP tenant too.
    ops.pause(&actor, id).await.expect("pause");
    ops.resume(&actor, id).await.expect("resume");
    ops.resync(&actor, id, storelink_core::SyncKind::Catalog).await.expect("resync");
    ops.retry_slots(&actor, id).await.expect("retry slots");
    ops.revoke(&actor, id, false).await.expect("revoke");
    let status: String = sqlx::query_scalar("SELECT status::text FROM merchants WHERE merchant_id = $1::uuid")
        .bind(&merchant)
        .fetch_one(&app.db.pool)
        .await
        .expect("status");
    assert_eq!(status, "revoked");
    let opened = app.services.vault.open_string(id, storelink_connector_sap::CREDENTIALS_PURPOSE).await;
    assert!(!matches!(opened, Ok(Some(_))), "crypto-shredded");
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_store_without_an_object_or_an_attribute_is_told_what_to_import() {
    let app = spawn_app().await;
    let cases = [
        (
            SimOptions { hidden_objects: vec!["StorelinkStock".into()], ..SimOptions::default() },
            "the integration object StorelinkStock is missing: import the Storelink ImpEx",
        ),
        (
            SimOptions { hidden_attributes: vec!["StorelinkProduct:Product:ean".into()], ..SimOptions::default() },
            "the integration object StorelinkProduct lacks StorelinkProduct:Product:ean",
        ),
    ];
    for (options, message) in cases {
        let sim = SapSim::spawn(SimOptions { products: 5, ..options }).await.expect("sim");
        storelink::demo::add_sap_access(&sim, SECRET);
        let response = connect_sap(&app, &sap_fields(&sim, "oauth", SECRET)).await;
        assert_eq!(response.status(), 422, "{message}");
        let page = response.text().await.expect("page");
        assert!(page.contains("Your SAP Commerce Cloud store is not set up for Storelink yet"), "{page}");
        assert!(page.contains(message), "{message}: {page}");
        assert!(page.contains(r#"id="form-error""#), "{page}");
        assert!(
            page.contains(r#"value="storelink-client""#) && !page.contains(SECRET),
            "the client id is kept, not the secret"
        );
        assert_eq!(merchants(&app).await, 0);
        sim.stop().await;
    }
    app.stop().await;
}
