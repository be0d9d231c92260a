//! The SAP simulator over real HTTP: metadata against the ImpEx, paging, filters, expansion, both
//! authentication types with expiring tokens, the WebhookService with deliveries to a local
//! receiver, order creation, faults and the call log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};
use storelink_sap_sim::{Fault, FaultKind, GROUP_ADMIN, GROUP_STORELINK, InboundAuth, SapSim, SimOptions, TOKEN_PATH};

const IMPEX: &str = include_str!("../impex/storelink-integration-objects.impex");

struct Client {
    http: reqwest::Client,
    base: String,
}

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
    None,
}

impl Client {
    fn new(sim: &SapSim) -> Self {
        Self { http: reqwest::Client::new(), base: sim.base_url() }
    }

    async fn token_raw(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(format!("{}{TOKEN_PATH}", self.base)).form(form).send().await.expect("token")
    }

    async fn token(&self, id: &str, secret: &str) -> String {
        let r =
            self.token_raw(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)]).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned()
    }

    fn request(&self, method: reqwest::Method, path: &str, auth: &Auth<'_>) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let builder = self.http.request(method, url).header("accept", "application/json");
        match auth {
            Auth::Bearer(t) => builder.bearer_auth(t),
            Auth::Basic(u, p) => builder.basic_auth(u, Some(p)),
            Auth::None => builder,
        }
    }

    async fn get(&self, path: &str, auth: &Auth<'_>) -> (u16, Value) {
        let r = self.request(reqwest::Method::GET, path, auth).send().await.expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn text(&self, path: &str, auth: &Auth<'_>) -> (u16, String) {
        let r = self.request(reqwest::Method::GET, path, auth).send().await.expect("get");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, auth: &Auth<'_>, body: Value) -> (u16, Value) {
        let r = self.request(reqwest::Method::POST, path, auth).json(&body).send().await.expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str, auth: &Auth<'_>) -> u16 {
        self.request(reqwest::Method::DELETE, path, auth).send().await.expect("delete").status().as_u16()
    }
}

/// A simulator with Storelink's user (`storelink`, OAuth client `storelink-client`) and an admin.
async fn sim_with(options: SimOptions) -> (SapSim, Client) {
    let sim = SapSim::spawn(options).await.expect("spawn");
    sim.add_user("storelink", "pw", &[GROUP_STORELINK]);
    sim.add_oauth_client("storelink-client", "secret", "storelink");
    sim.add_user("admin", "nimda", &[GROUP_ADMIN]);
    sim.add_oauth_client("admin-client", "admin-secret", "admin");
    let client = Client::new(&sim);
    (sim, client)
}

fn segment(set: &str, key: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    format!("{set}('{encoded}')")
}

/// `(object, item, attribute)` for each attribute row of the ImpEx, read here independently of the
/// simulator's own parser.
fn impex_attributes() -> Vec<(String, String, String)> {
    let mut in_block = false;
    let mut rows = Vec::new();
    for line in IMPEX.lines().map(str::trim) {
        if line.starts_with("INSERT_UPDATE") {
            in_block = line.starts_with("INSERT_UPDATE IntegrationObjectItemAttribute;");
            continue;
        }
        if !in_block || !line.starts_with(';') {
            continue;
        }
        let cols: Vec<&str> = line.split(';').map(str::trim).collect();
        let (object, item) = cols[1].split_once(':').expect("object:item");
        rows.push((object.to_owned(), item.to_owned(), cols[2].to_owned()));
    }
    rows
}

fn entity_type<'a>(edmx: &'a str, name: &str) -> &'a str {
    let start = edmx.find(&format!("<EntityType Name=\"{name}\">")).unwrap_or_else(|| panic!("entity type {name}"));
    let end = edmx[start..].find("</EntityType>").expect("end") + start;
    &edmx[start..end]
}

#[tokio::test]
async fn metadata_matches_the_impex_attributes() {
    let (sim, c) = sim_with(SimOptions::default()).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let rows = impex_attributes();
    assert!(rows.len() > 80, "the ImpEx lists every attribute: {}", rows.len());
    let objects: std::collections::BTreeSet<&str> = rows.iter().map(|(o, _, _)| o.as_str()).collect();
    assert_eq!(objects.len(), 4);
    for object in objects {
        let (status, edmx) = c.text(&format!("/odata2webservices/{object}/$metadata"), &auth).await;
        assert_eq!(status, 200, "{object}");
        assert!(edmx.contains("Namespace=\"HybrisCommerceOData\""));
        for (_, item, attribute) in rows.iter().filter(|(o, _, _)| o == object) {
            let block = entity_type(&edmx, item);
            let property = format!("<Property Name=\"{attribute}\" ");
            let navigation = format!("<NavigationProperty Name=\"{attribute}\" ");
            assert!(block.contains(&property) || block.contains(&navigation), "{object}.{item}.{attribute}");
            assert!(block.contains("<PropertyRef Name=\"integrationKey\"/>"), "{item} is keyed by integrationKey");
        }
    }
    let (_, product) = c.text("/odata2webservices/StorelinkProduct/$metadata", &auth).await;
    let block = entity_type(&product, "Product");
    assert!(block.contains(r#"<Property Name="modifiedtime" Nullable="true" Type="Edm.DateTime"/>"#));
    assert!(block.contains(r#"<Property Name="code" Nullable="false" Type="Edm.String" s:IsUnique="true"/>"#));
    assert!(product.contains(r#"<EntitySet EntityType="HybrisCommerceOData.Product" Name="Products"/>"#));
    assert!(product.contains(r#"<EntitySet EntityType="HybrisCommerceOData.Category" Name="Categories"/>"#));

    let (status, body) = c.get("/odata2webservices/NoSuchObject/$metadata", &auth).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"]["lang"], "en");
    let (status, body) = c.get("/odata2webservices/WebhookService/$metadata", &auth).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "webhooks need the admin group");
    let admin = c.token("admin-client", "admin-secret").await;
    let (status, edmx) = c.text("/odata2webservices/WebhookService/$metadata", &Auth::Bearer(&admin)).await;
    assert_eq!(status, 200);
    assert!(entity_type(&edmx, "ConsumedDestination").contains("<NavigationProperty Name=\"credentialBasic\" "));
    sim.stop().await;
}

async fn all_pages(c: &Client, auth: &Auth<'_>, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let (status, page) = c.get(&url, auth).await;
        assert_eq!(status, 200, "{url}: {page}");
        items.extend(page["d"]["results"].as_array().expect("results").iter().cloned());
        next = page["d"]["__next"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 100, "paging ends");
    }
    (items, pages)
}

#[tokio::test]
async fn pages_count_and_next_links_cover_every_item_once() {
    let (sim, c) = sim_with(SimOptions { products: 37, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let products = "/odata2webservices/StorelinkProduct/Products";

    let (_, first) = c.get(&format!("{products}?$top=10&$inlinecount=allpages"), &auth).await;
    assert_eq!(first["d"]["__count"], "37", "__count is a string, for every page");
    assert!(first["d"]["__next"].as_str().expect("next").contains("%24skip=10"));
    let (items, pages) = all_pages(&c, &auth, &format!("{products}?$top=10&$inlinecount=allpages")).await;
    assert_eq!(pages, 4);
    let keys: std::collections::BTreeSet<String> =
        items.iter().map(|i| i["integrationKey"].as_str().expect("key").to_owned()).collect();
    assert_eq!(keys.len(), 37, "no duplicates, none missing");
    assert!(keys.contains("Online|storelinkProductCatalog|P00001"), "key = catalog version, catalog, code");
    let product = &items[0];
    assert!(product["modifiedtime"].as_str().expect("date").starts_with("/Date("));
    assert!(product["catalogVersion"]["__deferred"]["uri"].as_str().expect("deferred").ends_with("/catalogVersion"));
    assert_eq!(product["__metadata"]["type"], "HybrisCommerceOData.Product");

    let (_, default_page) = c.get(products, &auth).await;
    assert_eq!(default_page["d"]["results"].as_array().expect("results").len(), 10, "default page size");
    assert!(default_page["d"].get("__count").is_none(), "no count unless asked");
    let (_, last) = c.get(&format!("{products}?$skip=30&$top=10"), &auth).await;
    assert_eq!(last["d"]["results"].as_array().expect("results").len(), 7);
    assert!(last["d"].get("__next").is_none());
    let (status, body) = c.get(&format!("{products}?$top=abc"), &auth).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_query")));
    let (status, _) = c.get(&format!("{products}?$inlinecount=sometimes"), &auth).await;
    assert_eq!(status, 400);
    let r = c.http.get(format!("{}{products}", c.base)).bearer_auth(&token).send().await.expect("get");
    assert_eq!(r.status(), 406, "JSON must be asked for");
    let (status, _) = c.get(&format!("{}{products}?$format=json", c.base), &auth).await;
    assert_eq!(status, 200);
    sim.stop().await;

    let (sim, c) = sim_with(SimOptions { products: 1005, variants_per_product: 0, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let (_, big) = c.get(&format!("{products}?$top=5000&$inlinecount=allpages"), &Auth::Bearer(&token)).await;
    assert_eq!(big["d"]["results"].as_array().expect("results").len(), 1000, "clamped to the maximum page");
    assert_eq!(big["d"]["__count"], "1005");
    assert!(big["d"]["__next"].as_str().expect("next").contains("%24skip=1000"));
    sim.stop().await;
}

fn date_ms(value: &Value) -> i64 {
    let s = value.as_str().expect("date");
    s.trim_start_matches("/Date(").trim_end_matches(")/").parse().expect("ms")
}

fn literal(ms: i64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(ms).expect("time");
    format!("datetime'{}'", at.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

#[tokio::test]
async fn a_filter_on_modified_time_returns_only_later_changes() {
    let (sim, c) = sim_with(SimOptions { products: 12, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let products = "/odata2webservices/StorelinkProduct/Products";
    let (_, latest) = c.get(&format!("{products}?$orderby=modifiedtime%20desc&$top=1"), &auth).await;
    let since = date_ms(&latest["d"]["results"][0]["modifiedtime"]);

    let filter = |op: &str, ms: i64| {
        let f: String =
            url::form_urlencoded::byte_serialize(format!("modifiedtime {op} {}", literal(ms)).as_bytes()).collect();
        format!("{products}?$filter={f}&$inlinecount=allpages")
    };
    let (status, none) = c.get(&filter("gt", since), &auth).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["d"]["__count"], "0", "nothing changed since");
    sim.update_product("P00003").await.expect("product");
    sim.set_stock("P00005-S", 3).await.expect("stock");
    let (_, changed) = c.get(&filter("gt", since), &auth).await;
    let results = changed["d"]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["code"], "P00003");
    let changed_at = date_ms(&results[0]["modifiedtime"]);
    assert!(changed_at > since);
    let (_, inclusive) = c.get(&filter("ge", changed_at), &auth).await;
    assert_eq!(inclusive["d"]["__count"], "1", "ge includes the bound");
    let (_, exclusive) = c.get(&filter("gt", changed_at), &auth).await;
    assert_eq!(exclusive["d"]["__count"], "0", "gt excludes it");
    let (_, stock) =
        c.get(&filter("gt", since).replace("StorelinkProduct/Products", "StorelinkStock/StockLevels"), &auth).await;
    assert_eq!(stock["d"]["results"][0]["productCode"], "P00005-S");
    assert_eq!(stock["d"]["results"][0]["available"], 3, "Int32 as a JSON number");

    let (_, by_code) = c.get(&format!("{products}?$filter=code%20eq%20'P00007'"), &auth).await;
    assert_eq!(by_code["d"]["results"].as_array().expect("results").len(), 1);
    let (_, by_nav) = c.get(&format!("{products}?$filter=catalogVersion/version%20eq%20'Staged'"), &auth).await;
    assert_eq!(by_nav["d"]["results"].as_array().expect("results").len(), 0);
    let (_, ordered) = c.get(&format!("{products}?$orderby=code%20desc&$top=2"), &auth).await;
    assert_eq!(ordered["d"]["results"][0]["code"], "P00012");
    for refused in [
        "$filter=modifiedtime%20gt%20'yesterday'",
        "$filter=modifiedtime%20between%20datetime'2026-01-01T00:00:00'",
        "$filter=nosuch%20eq%20'x'",
        "$orderby=integrationKey",
    ] {
        let (status, body) = c.get(&format!("{products}?{refused}"), &auth).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(body["error"]["message"]["lang"], "en");
        assert!(!body["error"]["message"]["value"].as_str().unwrap_or_default().is_empty());
    }
    sim.stop().await;
}

#[tokio::test]
async fn expand_and_point_reads_by_integration_key() {
    let (sim, c) = sim_with(SimOptions { products: 3, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let key = "Online|storelinkProductCatalog|P00002";
    let path = format!(
        "/odata2webservices/StorelinkProduct/{}?$expand=europe1Prices/currency,variants/europe1Prices,supercategories,picture,normal",
        segment("Products", key)
    );
    let (status, body) = c.get(&path, &auth).await;
    assert_eq!(status, 200, "{body}");
    let product = &body["d"];
    assert_eq!(product["integrationKey"], key);
    assert_eq!(product["europe1Prices"]["results"][0]["currency"]["isocode"], "USD");
    assert!(product["europe1Prices"]["results"][0]["price"].as_str().expect("Double as string").parse::<f64>().is_ok());
    let variants = product["variants"]["results"].as_array().expect("variants");
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[0]["code"], "P00002-S");
    assert!(variants[0]["europe1Prices"]["results"].is_array());
    assert!(variants[0]["supercategories"]["__deferred"].is_object(), "only what was expanded");
    assert!(product["picture"]["URL"].as_str().expect("url").starts_with("/medias/"));
    assert_eq!(product["normal"]["results"].as_array().expect("images").len(), 2);
    assert!(product["catalogVersion"]["__deferred"].is_object());

    let (status, body) =
        c.get(&format!("/odata2webservices/StorelinkProduct/{}", segment("Products", "Online|x|nope")), &auth).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = c.get("/odata2webservices/StorelinkProduct/Products?$expand=nosuch", &auth).await;
    assert_eq!(status, 400);
    let (_, orders) = c
        .get(
            "/odata2webservices/StorelinkOrder/Orders?$expand=entries/product,deliveryAddress/country,status&$top=1",
            &auth,
        )
        .await;
    let order = &orders["d"]["results"][0];
    assert_eq!(order["status"]["code"], "CREATED");
    assert_eq!(order["deliveryAddress"]["country"]["isocode"], "US");
    assert!(order["entries"]["results"][0]["product"]["code"].as_str().expect("product").starts_with('P'));
    assert_eq!(
        order["entries"]["results"][0]["quantity"].as_str().map(|q| q.parse::<i64>().is_ok()),
        Some(true),
        "Int64 as a string"
    );
    let (_, modes) = c
        .get("/odata2webservices/StorelinkDeliveryMode/ZoneDeliveryModes?$expand=values/zone,values/currency", &auth)
        .await;
    assert_eq!(modes["d"]["results"][0]["values"]["results"][0]["zone"]["code"], "usa");
    sim.stop().await;
}

#[tokio::test]
async fn tokens_expire_and_each_object_takes_its_channels_authentication() {
    let (sim, c) = sim_with(SimOptions::default()).await;
    let products = "/odata2webservices/StorelinkProduct/Products?$top=1";
    let r = c
        .token_raw(&[
            ("grant_type", "client_credentials"),
            ("client_id", "storelink-client"),
            ("client_secret", "secret"),
        ])
        .await;
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().expect("token").to_owned();
    let bad = c
        .token_raw(&[
            ("grant_type", "client_credentials"),
            ("client_id", "storelink-client"),
            ("client_secret", "nope"),
        ])
        .await;
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().await.expect("json")["error"], "invalid_client");
    let wrong_grant = c
        .token_raw(&[("grant_type", "password"), ("client_id", "storelink-client"), ("client_secret", "secret")])
        .await;
    assert_eq!(wrong_grant.status(), 400);
    let in_header = c
        .http
        .post(format!("{}{TOKEN_PATH}", c.base))
        .basic_auth("storelink-client", Some("secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(in_header.status(), 200, "the client may authenticate with a Basic header");

    assert_eq!(c.get(products, &Auth::Bearer(&token)).await.0, 200);
    assert_eq!(c.get(products, &Auth::None).await.0, 401);
    assert_eq!(c.get(products, &Auth::Bearer("garbage")).await.0, 401);
    assert_eq!(c.get(products, &Auth::Basic("storelink", "pw")).await.0, 401, "the channel is OAUTH");
    sim.expire_tokens();
    let (status, body) = c.get(products, &Auth::Bearer(&token)).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_token")), "expired");

    sim.set_token_ttl(Duration::from_secs(1));
    let short = c.token("storelink-client", "secret").await;
    assert_eq!(c.get(products, &Auth::Bearer(&short)).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if c.get(products, &Auth::Bearer(&short)).await.0 == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a token outlived its expires_in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.issued_tokens(), 3, "refused requests mint nothing");
    let logged = sim.calls();
    assert!(
        logged.iter().all(|call| !call.body.contains("secret") && !call.query.contains("secret")),
        "secrets are not logged"
    );
    assert!(logged.iter().any(|call| call.auth == "bearer" && call.status == 200));
    sim.stop().await;

    let (sim, c) = sim_with(SimOptions { inbound_auth: InboundAuth::Basic, ..SimOptions::default() }).await;
    assert_eq!(c.get(products, &Auth::Basic("storelink", "pw")).await.0, 200);
    let (status, body) = c.get(products, &Auth::Basic("storelink", "wrong")).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")));
    let token = c.token("storelink-client", "secret").await;
    assert_eq!(c.get(products, &Auth::Bearer(&token)).await.0, 401, "the channel is BASIC");
    sim.add_user("outsider", "pw", &["customergroup"]);
    let (status, body) = c.get(products, &Auth::Basic("outsider", "pw")).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "not in storelinkgroup");
    assert_eq!(sim.calls().last().map(|c| c.auth.clone()), Some("basic:outsider".to_owned()));
    sim.stop().await;
}

type Received = Arc<Mutex<Vec<(HttpHeaders, Value)>>>;
type HttpHeaders = Vec<(String, String)>;

/// A webhook receiver on loopback that records each request and answers `status` (with a token).
async fn receiver(status: u16) -> (String, Received, actix_web::dev::ServerHandle) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let data = web::Data::new((received.clone(), status));
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            |req: HttpRequest, body: web::Bytes, data: web::Data<(Received, u16)>| async move {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                data.0.lock().expect("lock").push((headers, json));
                // Every answer carries a token, so the receiver doubles as an OAuth token endpoint.
                HttpResponse::build(actix_web::http::StatusCode::from_u16(data.1).expect("status"))
                    .json(json!({"access_token": "receiver-token", "token_type": "bearer", "expires_in": 60}))
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/webhooks/sap/m1"), received, handle)
}

fn header<'a>(headers: &'a HttpHeaders, name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn registered_webhooks_are_called_with_the_destinations_credentials() {
    let (sim, c) = sim_with(SimOptions { products: 5, ..SimOptions::default() }).await;
    let (url, received, handle) = receiver(200).await;
    let admin_token = c.token("admin-client", "admin-secret").await;
    let admin = Auth::Bearer(&admin_token);
    let service = "/odata2webservices/WebhookService";

    let destination = json!({
        "id": "storelink-m1", "url": url, "destinationTarget": {"id": "webhookServices"},
        "endpoint": {"id": "storelink-m1", "version": "unknown", "name": "Storelink", "specUrl": "https://storelink.example/docs"},
        "credentialBasic": {"id": "storelink-m1", "username": "sap-m1", "password": "s3cret-delivery"},
    });
    let token = c.token("storelink-client", "secret").await;
    let (status, _) =
        c.post(&format!("{service}/ConsumedDestinations"), &Auth::Bearer(&token), destination.clone()).await;
    assert_eq!(status, 403, "registration needs integrationadmingroup");
    let mut wrong_target = destination.clone();
    wrong_target["destinationTarget"]["id"] = json!("Default_Template");
    assert_eq!(c.post(&format!("{service}/ConsumedDestinations"), &admin, wrong_target).await.0, 400);
    let (status, created) = c.post(&format!("{service}/ConsumedDestinations"), &admin, destination).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["d"]["integrationKey"], "storelink-m1|webhookServices");
    assert_eq!(created["d"]["credentialBasic"]["password"], Value::Null, "secrets are not read back");

    let mut keys = Vec::new();
    for (io, event) in [
        ("StorelinkProduct", "ItemSavedEvent"),
        ("StorelinkProduct", "ItemDeletedEvent"),
        ("StorelinkStock", "ItemUpdatedEvent"),
        ("StorelinkOrder", "ItemCreatedEvent"),
    ] {
        let webhook = json!({
            "eventType": format!("de.hybris.platform.webhookservices.event.{event}"),
            "integrationObject": {"code": io},
            "destination": {"id": "storelink-m1", "destinationTarget": {"id": "webhookServices"}},
        });
        let (status, body) = c.post(&format!("{service}/WebhookConfigurations"), &admin, webhook).await;
        assert_eq!(status, 201, "{body}");
        keys.push(body["d"]["integrationKey"].as_str().expect("key").to_owned());
    }
    let unknown = json!({"integrationObject": {"code": "NoSuchIO"}, "destination": {"id": "storelink-m1", "destinationTarget": {"id": "webhookServices"}}});
    assert_eq!(c.post(&format!("{service}/WebhookConfigurations"), &admin, unknown).await.0, 400);
    let (_, listed) = c
        .get(
            &format!("{service}/WebhookConfigurations?$inlinecount=allpages&$expand=destination/credentialBasic"),
            &admin,
        )
        .await;
    assert_eq!(listed["d"]["__count"], "4");
    assert_eq!(listed["d"]["results"][0]["destination"]["credentialBasic"]["password"], Value::Null);
    let ours =
        format!("{service}/WebhookConfigurations?$filter=destination/id%20eq%20'storelink-m1'&$inlinecount=allpages");
    assert_eq!(c.get(&ours, &admin).await.1["d"]["__count"], "4", "ours are found by destination");
    let others = format!("{service}/WebhookConfigurations?$filter=destination/id%20eq%20'erp'&$inlinecount=allpages");
    assert_eq!(c.get(&others, &admin).await.1["d"]["__count"], "0");

    let deliveries = sim.update_product("P00002").await.expect("product");
    assert_eq!(deliveries.len(), 1, "ItemSavedEvent covers an update; ItemDeletedEvent does not");
    assert_eq!(deliveries[0].result, Ok(200));
    let (headers, body) = received.lock().expect("lock")[0].clone();
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("sap-m1:s3cret-delivery"));
    assert_eq!(header(&headers, "authorization"), Some(expected.as_str()));
    assert_eq!(header(&headers, "ce-type"), Some("sap.cx.commerce.StorelinkProduct.Updated.v1"));
    assert_eq!(header(&headers, "ce-subject"), Some("Online|storelinkProductCatalog|P00002"));
    assert_eq!(header(&headers, "ce-specversion"), Some("1.0"));
    assert_eq!(body["integrationKey"], "Online|storelinkProductCatalog|P00002");
    assert_eq!(body["code"], "P00002");
    assert!(body["variants"].as_array().expect("variants inline").len() == 2);
    assert!(body["modifiedtime"].as_str().expect("iso").ends_with('Z'));

    let deleted = sim.delete_product("P00004").await.expect("product");
    assert_eq!(deleted.len(), 1, "ItemDeletedEvent only: ItemSavedEvent excludes deletes");
    assert!(deleted.iter().all(|d| d.event_type == "sap.cx.commerce.StorelinkProduct.Deleted.v1"));
    assert!(!sim.keys("StorelinkProduct").contains(&"Online|storelinkProductCatalog|P00004".to_owned()));
    let stock = sim.set_stock("P00001-M", 0).await.expect("stock");
    assert_eq!(stock.len(), 1);
    assert_eq!(received.lock().expect("lock").last().expect("stock delivery").1["available"], 0);

    // An order placed over the API is delivered too, after the 201.
    let before = received.lock().expect("lock").len();
    let (status, _) =
        c.post("/odata2webservices/StorelinkOrder/Orders", &Auth::Bearer(&token), order_body("SL-1")).await;
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(5);
    while received.lock().expect("lock").len() == before {
        assert!(Instant::now() < deadline, "the order's webhook never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (headers, body) = received.lock().expect("lock").last().cloned().expect("order");
    assert_eq!(header(&headers, "ce-type"), Some("sap.cx.commerce.StorelinkOrder.Created.v1"));
    assert_eq!(body["code"], "SL-1");
    assert_eq!(body["entries"][0]["order"]["integrationKey"], "SL-1");

    // Unregistering: the destination in use cannot go first; configurations, then the destination.
    let destination_path = format!("{service}/{}", segment("ConsumedDestinations", "storelink-m1|webhookServices"));
    assert_eq!(c.delete(&destination_path, &admin).await, 400);
    for key in &keys {
        assert_eq!(c.delete(&format!("{service}/{}", segment("WebhookConfigurations", key)), &admin).await, 204);
    }
    assert_eq!(c.delete(&format!("{service}/{}", segment("WebhookConfigurations", &keys[0])), &admin).await, 404);
    assert_eq!(c.delete(&destination_path, &admin).await, 204);
    assert!(sim.update_product("P00001").await.expect("product").is_empty(), "nothing registered any more");
    assert!(sim.consumed_destinations().is_empty() && sim.webhook_configurations().is_empty());
    handle.stop(true).await;
    sim.stop().await;
}

fn order_body(code: &str) -> Value {
    json!({
        "code": code,
        "currency": {"isocode": "USD"},
        "user": {"uid": "partner-buyer@example.com", "name": "Partner Buyer"},
        "deliveryMode": {"code": "standard-gross"},
        "date": "/Date(1764547200000)/",
        "deliveryAddress": {"line1": "1 Partner Way", "postalcode": "10001", "town": "New York", "country": {"isocode": "US"}},
        "entries": {"results": [
            {"entryNumber": 0, "quantity": "2",
             "product": {"code": "P00001-S", "catalogVersion": {"version": "Online", "catalog": {"id": "storelinkProductCatalog"}}},
             "basePrice": "12.50", "totalPrice": "25.00"}
        ]},
        "subtotal": "25.00", "totalPrice": "25.00",
    })
}

#[tokio::test]
async fn orders_are_created_validated_and_upserted_by_code() {
    let (sim, c) = sim_with(SimOptions { products: 3, orders: 2, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let orders = "/odata2webservices/StorelinkOrder/Orders";
    let (status, created) = c.post(orders, &auth, order_body("SL-7")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["d"]["integrationKey"], "SL-7");
    assert_eq!(created["d"]["entries"]["results"][0]["integrationKey"], "SL-7|0");
    let (status, _) = c.post(orders, &auth, order_body("SL-7")).await;
    assert_eq!(status, 201, "a second POST with the same code updates");
    assert_eq!(sim.keys("StorelinkOrder").iter().filter(|k| *k == "SL-7").count(), 1);
    let (_, found) = c.get(&format!("{orders}?$filter=code%20eq%20'SL-7'&$expand=status,entries"), &auth).await;
    assert_eq!(found["d"]["results"][0]["status"]["code"], "CREATED");

    let mut unknown_product = order_body("SL-8");
    unknown_product["entries"]["results"][0]["product"]["code"] = json!("NOPE");
    let (status, body) = c.post(orders, &auth, unknown_product).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("missing_nav_property")));
    let mut no_currency = order_body("SL-9");
    no_currency.as_object_mut().expect("object").remove("currency");
    assert_eq!(c.post(orders, &auth, no_currency).await.0, 400);
    let mut stray = order_body("SL-10");
    stray["cardNumber"] = json!("4111111111111111");
    let (status, body) = c.post(orders, &auth, stray).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_property")));
    assert_eq!(c.post("/odata2webservices/StorelinkProduct/Products", &auth, json!({"code": "X"})).await.0, 405);
    assert_eq!(sim.keys("StorelinkOrder").len(), 3);
    sim.stop().await;
}

#[tokio::test]
async fn faults_are_injected_and_every_call_is_logged() {
    let (sim, c) = sim_with(SimOptions::default()).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let path = "/odata2webservices/StorelinkProduct/Products";
    sim.inject(Fault::new(Some("GET"), path, FaultKind::Status(500)).times(1));
    let (status, body) = c.get(path, &auth).await;
    assert_eq!((status, &body["error"]["code"]), (500, &json!("internal_server_error")));
    assert_eq!(c.get(path, &auth).await.0, 200, "once only");

    let id = sim.inject(Fault::new(None, "/odata2webservices/*", FaultKind::RateLimited { retry_after_secs: 7 }));
    let r = c.request(reqwest::Method::GET, path, &auth).send().await.expect("get");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    sim.remove_fault(id);

    sim.inject(Fault::new(None, path, FaultKind::HugeBody { bytes: 3 * 1024 * 1024 }).times(1));
    let r = c.request(reqwest::Method::GET, path, &auth).send().await.expect("get");
    let bytes = r.bytes().await.expect("body");
    assert_eq!(bytes.len(), 3 * 1024 * 1024);
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());

    sim.inject(Fault::new(None, path, FaultKind::Delay(Duration::from_millis(300))).times(1));
    let started = Instant::now();
    assert_eq!(c.get(path, &auth).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.inject(Fault::new(None, TOKEN_PATH, FaultKind::Drop).times(1));
    let dropped = c
        .http
        .post(format!("{}{TOKEN_PATH}", c.base))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let failed = match dropped {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection is not an answer");

    let calls = sim.calls();
    let statuses: Vec<u16> = calls.iter().filter(|c| c.path == path).map(|c| c.status).collect();
    assert_eq!(statuses, vec![500, 200, 429, 200, 200]);
    assert_eq!(sim.count("GET", path), 5);
    assert!(calls.iter().filter(|c| c.path == path).all(|c| c.auth == "bearer"));
    sim.clear_calls();
    assert!(sim.calls().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn deliveries_leave_loopback_only_when_allowed() {
    let (sim, c) = sim_with(SimOptions { products: 2, ..SimOptions::default() }).await;
    let admin_token = c.token("admin-client", "admin-secret").await;
    let admin = Auth::Bearer(&admin_token);
    let service = "/odata2webservices/WebhookService";
    let destination = json!({"id": "far", "url": "https://storelink.example/webhooks/sap/m1/orders",
        "destinationTarget": {"id": "webhookServices"}, "credentialBasic": {"id": "far", "username": "u", "password": "p"}});
    assert_eq!(c.post(&format!("{service}/ConsumedDestinations"), &admin, destination).await.0, 201);
    let webhook = json!({"integrationObject": {"code": "StorelinkOrder"}, "destination": {"id": "far", "destinationTarget": {"id": "webhookServices"}}});
    let (status, body) = c.post(&format!("{service}/WebhookConfigurations"), &admin, webhook).await;
    assert_eq!(status, 201);
    assert_eq!(
        body["d"]["eventType"], "de.hybris.platform.webhookservices.event.ItemSavedEvent",
        "the default event type"
    );
    let (code, _) = sim.add_order().await;
    let deliveries = sim.set_order_status(&code, "COMPLETED").await.expect("order");
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].result.as_ref().is_err_and(|e| e.contains("loopback")), "{:?}", deliveries[0].result);
    assert_eq!(sim.deliveries().len(), 2, "the creation and the update, both refused and recorded");
    sim.stop().await;
}

#[tokio::test]
async fn a_store_can_lack_an_object_or_an_attribute() {
    let options = SimOptions {
        products: 2,
        hidden_objects: vec!["StorelinkOrder".to_owned()],
        hidden_attributes: vec![
            "StorelinkProduct:Product:ean".to_owned(),
            "StorelinkProduct:PriceRow:price".to_owned(),
        ],
        ..SimOptions::default()
    };
    let (sim, c) = sim_with(options).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let (status, body) = c.get("/odata2webservices/StorelinkOrder/$metadata", &auth).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "an object the merchant did not import");
    let (status, edmx) = c.text("/odata2webservices/StorelinkProduct/$metadata", &auth).await;
    assert_eq!(status, 200);
    assert!(!entity_type(&edmx, "Product").contains("Name=\"ean\""));
    assert!(entity_type(&edmx, "Product").contains("Name=\"code\""));
    assert!(!entity_type(&edmx, "PriceRow").contains("Name=\"price\""));
    let (_, page) = c.get("/odata2webservices/StorelinkProduct/Products?$top=1&$expand=europe1Prices", &auth).await;
    let product = &page["d"]["results"][0];
    assert!(product.get("ean").is_none() && product.get("code").is_some());
    assert!(product["europe1Prices"]["results"][0].get("price").is_none());
    assert_eq!(c.get("/odata2webservices/StorelinkStock/$metadata", &auth).await.0, 200, "the others are there");
    sim.stop().await;
}

#[tokio::test]
async fn an_oauth_destination_gets_a_token_first() {
    let (sim, c) = sim_with(SimOptions { products: 2, ..SimOptions::default() }).await;
    let (url, received, handle) = receiver(200).await;
    let token_url = url.replace("/webhooks/sap/m1", "/token");
    let admin_token = c.token("admin-client", "admin-secret").await;
    let admin = Auth::Bearer(&admin_token);
    let service = "/odata2webservices/WebhookService";
    let destination = json!({"id": "oauth", "url": url, "destinationTarget": {"id": "webhookServices"},
        "credentialConsumedOAuth": {"id": "oauth", "clientId": "sap", "clientSecret": "shh", "oAuthUrl": token_url}});
    assert_eq!(c.post(&format!("{service}/ConsumedDestinations"), &admin, destination).await.0, 201);
    let webhook = json!({"eventType": "de.hybris.platform.webhookservices.event.ItemUpdatedEvent",
        "integrationObject": {"code": "StorelinkStock"}, "destination": {"id": "oauth", "destinationTarget": {"id": "webhookServices"}}});
    assert_eq!(c.post(&format!("{service}/WebhookConfigurations"), &admin, webhook).await.0, 201);
    let deliveries = sim.set_stock("P00001-S", 9).await.expect("stock");
    assert_eq!(deliveries[0].result, Ok(200));
    let requests = received.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "the token request, then the delivery");
    assert_eq!(header(&requests[0].0, "content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(header(&requests[1].0, "authorization"), Some("Bearer receiver-token"));
    assert_eq!(requests[1].1["productCode"], "P00001-S");
    handle.stop(true).await;
    sim.stop().await;
}

/// The reads docs/sap.md ("For the connector") lists, exactly as written there, work.
#[tokio::test]
async fn the_connector_calls_in_docs_sap_md_are_served() {
    let (sim, c) = sim_with(SimOptions { products: 4, orders: 3, ..SimOptions::default() }).await;
    let token = c.token("storelink-client", "secret").await;
    let auth = Auth::Bearer(&token);
    let q = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let calls = [
        format!(
            "/odata2webservices/StorelinkProduct/Products?$top=1000&$skip=0&$inlinecount=allpages&$orderby=code&$filter={}&$expand={}",
            q("catalogVersion/version eq 'Online'"),
            q("europe1Prices,picture,normal,supercategories,variants/europe1Prices,variants/supercategories")
        ),
        format!(
            "/odata2webservices/StorelinkStock/StockLevels?$top=1000&$skip=0&$inlinecount=allpages&$orderby=productCode&$expand={}",
            q("warehouse,inStockStatus")
        ),
        format!(
            "/odata2webservices/StorelinkDeliveryMode/ZoneDeliveryModes?$top=1000&$skip=0&$inlinecount=allpages&$orderby=code&$expand={}",
            q("values/zone,values/currency")
        ),
        format!(
            "/odata2webservices/StorelinkOrder/Orders?$top=1000&$skip=0&$inlinecount=allpages&$orderby=code&$expand={}",
            q(
                "status,paymentStatus,deliveryStatus,currency,user,store,deliveryMode,deliveryAddress/country,paymentAddress/country,entries/product"
            )
        ),
        format!(
            "/odata2webservices/StorelinkOrder/Orders?$filter={}&$orderby=modifiedtime",
            q("modifiedtime gt datetime'2020-01-01T00:00:00.000'")
        ),
    ];
    for call in &calls {
        let (status, body) = c.get(call, &auth).await;
        assert_eq!(status, 200, "{call}: {body}");
        assert!(!body["d"]["results"].as_array().expect("results").is_empty(), "{call}");
    }
    let (_, products) = c.get(&calls[0], &auth).await;
    let product = &products["d"]["results"][0];
    assert_eq!(products["d"]["__count"], "4");
    let price = &product["variants"]["results"][0]["europe1Prices"]["results"][0];
    assert!(price["price"].is_string() && price["currency"]["__deferred"]["uri"].is_string(), "{price}");
    assert_eq!(product["variants"]["results"][0]["supercategories"]["results"][0]["code"], "size-S");
    assert!(product["catalogVersion"]["__deferred"]["uri"].is_string(), "{product}");
    let (_, orders) = c.get(&calls[3], &auth).await;
    assert_eq!(orders["d"]["results"][0]["user"]["uid"], "buyer0@example.com");
    sim.stop().await;
}
