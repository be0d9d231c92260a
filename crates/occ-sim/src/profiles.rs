//! Shopper profiles in the simulator: the Admin API's list (`GET /ccadmin/v1/profiles` with a SCIM
//! `q`) and create (`POST /ccadmin/v1/profiles`), read as strictly as OCC's reference allows
//! (docs/occ.md, "Shopper profiles"). Profiles `sp1`..`sp5` exist from the start; created ones
//! are numbered from `sp100001`. Agent createOrder accepts any profile held here.

use actix_web::HttpResponse;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::routes::error;
use crate::state::State;

/// The profiles a new store holds: `sp1`..`sp5`, `shopper1@example.com`...
pub(crate) fn seed() -> Vec<Value> {
    (1..=5)
        .map(|n| {
            json!({"id": format!("sp{n}"), "email": format!("shopper{n}@example.com"), "login": format!("shopper{n}@example.com"),
                   "firstName": "Shopper", "lastName": format!("{n}"), "active": true, "receiveEmail": "no"})
        })
        .collect()
}

pub(crate) fn exists(state: &State, id: &str) -> bool {
    state.lock().profiles.iter().any(|p| p["id"] == id)
}

/// `GET /ccadmin/v1/profiles?q=...`: `q` is SCIM [C: listProfiles, "Query string built as per the
/// SCIM standards ... across ... 'email'"]; an unparsable `q` is a 400, as for other lists. Email
/// comparisons ignore case [A]. Passwords are never listed.
pub(crate) fn list(state: &State, q: &HashMap<String, String>) -> HttpResponse {
    let filter = match q.get("q").map(|q| crate::scim::parse(q)) {
        Some(Err(why)) => return error(400, "200103", &format!("Invalid query: {why}")),
        Some(Ok(mut filter)) => {
            for term in filter.terms.iter_mut().filter(|t| t.attr == "email") {
                if let Value::String(email) = &mut term.value {
                    *email = email.to_ascii_lowercase();
                }
            }
            Some(filter)
        }
        None => None,
    };
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(250).min(250);
    let offset = q.get("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    let inner = state.lock();
    let matching: Vec<Value> = inner
        .profiles
        .iter()
        .filter(|p| filter.as_ref().is_none_or(|f| f.matches(&lowercase_email(p))))
        .map(|p| {
            let mut p = p.clone();
            p.as_object_mut().map(|o| o.remove("password"));
            p
        })
        .collect();
    let total = matching.len();
    let items: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "totalResults": total, "offset": offset, "limit": limit}))
}

fn lowercase_email(profile: &Value) -> Value {
    let mut p = profile.clone();
    if let Some(email) = p["email"].as_str().map(str::to_ascii_lowercase) {
        p["email"] = json!(email);
    }
    p
}

/// `POST /ccadmin/v1/profiles`: `email`, `firstName`, `lastName` and `receiveEmail` ("yes"/"no") are
/// required [C: createProfile_request, Cloud 10-17 reference]; an empty email is 22003 [C]; a
/// `password` is required too, the stricter of the two readings (22c: "When
/// enableProfileRegistrationEmailCheck ... password is optional otherwise it is required"); an
/// email or login another profile holds is refused [A: code 22001]. Answers `{"id": ...}` [C].
pub(crate) fn create(body: &Bytes, state: &State) -> HttpResponse {
    let Some(profile) = serde_json::from_slice::<Value>(body).ok().filter(Value::is_object) else {
        return error(400, "200104", "The body must be a JSON object");
    };
    let text = |k: &str| profile[k].as_str().map(str::trim).filter(|v| !v.is_empty());
    let Some(email) = text("email") else {
        return error(400, "22003", "The email is null or empty");
    };
    if let Some(missing) = ["firstName", "lastName", "password"].into_iter().find(|k| text(k).is_none()) {
        return error(400, "22004", &format!("{missing} is required"));
    }
    if !matches!(text("receiveEmail"), Some("yes" | "no")) {
        return error(400, "22005", "receiveEmail must be yes or no");
    }
    let login = text("login").unwrap_or(email).to_ascii_lowercase();
    let email = email.to_ascii_lowercase();
    let mut inner = state.lock();
    let taken = |p: &Value, v: &str| {
        ["email", "login"].iter().any(|k| p[*k].as_str().is_some_and(|t| t.eq_ignore_ascii_case(v)))
    };
    if inner.profiles.iter().any(|p| taken(p, &email) || taken(p, &login)) {
        return error(400, "22001", &format!("A profile with login {login} already exists"));
    }
    let id = format!("sp{}", 100_000 + inner.profiles.len() - 4);
    let mut stored = profile.clone();
    stored["id"] = json!(id);
    stored["email"] = json!(email);
    stored["login"] = json!(login);
    stored["active"] = json!(true);
    inner.profiles.push(stored);
    HttpResponse::Ok().json(json!({"id": id, "links": [{"rel": "self", "href": "/ccadmin/v1/profiles"}]}))
}
