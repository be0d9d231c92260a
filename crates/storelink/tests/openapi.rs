//! The OpenAPI document matches the served routes exactly, and every documented route is served.

mod common;

use common::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let response = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.expect("get");
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1: {}", doc["openapi"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().expect("path item").keys().map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> =
        storelink_partner_api::routes().iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    served.sort();
    assert_eq!(documented, served, "the document and the route table differ");

    // Served: without a token a protected route answers 401 (an unknown route would be 404).
    for (method, path) in &documented {
        let url = format!("{}{}", app.base, path.replace('{', "x").replace('}', ""));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let status = app.http.request(method.clone(), &url).send().await.expect("send").status().as_u16();
        let public = storelink_partner_api::PUBLIC_ROUTES.contains(&path.as_str());
        if public {
            assert!(![404, 405].contains(&status), "{method} {path} is served (got {status})");
        } else {
            assert_eq!(status, 401, "{method} {path} is served and protected");
        }
    }
    let unknown = app.http.get(format!("{}/v1/nothing-here", app.base)).send().await.expect("send");
    assert_eq!(unknown.status(), 404, "the check above can tell a missing route");

    let page = app.http.get(format!("{}/v1/docs", app.base)).send().await.expect("docs");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    for (method, path) in &documented {
        assert!(html.contains(&format!("{method} {path}")), "docs page lists {method} {path}");
    }
    assert!(!html.contains("<script"), "no JavaScript needed");
    app.stop().await;
}
