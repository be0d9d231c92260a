//! The OCC endpoints Storelink uses, as typed methods (occ-admin-api.md).

use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::request::{Body, Call, ReplyLimit};
use crate::types::{LoginResponse, shipping_items};
use crate::{AccessToken, ListParams, OccClient, OccError, Page, Resource, ShippingMethod, SiteInfo, Webhook};

const GRANT: &str = "grant_type=client_credentials";

fn decode<T: DeserializeOwned>(body: &[u8], path: &str) -> Result<T, OccError> {
    serde_json::from_slice(body).map_err(|e| OccError::Decode { path: path.to_owned(), detail: e.to_string() })
}

/// A list page of `resource` (`list_body`'s answer).
pub fn decode_page<T: DeserializeOwned>(body: &[u8], resource: Resource) -> Result<Page<T>, OccError> {
    decode(body, resource.path())
}

/// The `x-ccsite` header picking a site of a multi-site store, when one is chosen.
fn site_header(site: Option<&str>) -> Vec<(&'static str, String)> {
    site.map(|site| vec![("x-ccsite", site.to_owned())]).unwrap_or_default()
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('/').split('/').collect()
}

/// A token-authenticated JSON call.
struct Spec<'a> {
    method: Method,
    segments: &'a [&'a str],
    query: Vec<(String, String)>,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    limit: ReplyLimit,
}

impl<'a> Spec<'a> {
    fn new(method: Method, segments: &'a [&'a str]) -> Self {
        Self { method, segments, query: Vec::new(), body: None, headers: Vec::new(), limit: ReplyLimit::Document }
    }

    fn limit(self, limit: ReplyLimit) -> Self {
        Self { limit, ..self }
    }

    fn query(self, query: Vec<(String, String)>) -> Self {
        Self { query, ..self }
    }

    fn body(self, body: Value) -> Self {
        Self { body: Some(body), ..self }
    }

    fn headers(self, headers: Vec<(&'static str, String)>) -> Self {
        Self { headers, ..self }
    }
}

impl OccClient {
    async fn json_call(&self, store: &Url, token: &SecretString, spec: Spec<'_>) -> Result<Vec<u8>, OccError> {
        let Spec { method, segments, query, body, headers, limit } = spec;
        let idempotent = method != Method::POST;
        let body = body.map_or(Body::Empty, Body::Json);
        let call =
            Call { method, store, segments, query, bearer: token, body, headers, idempotent, login: false, limit };
        self.send(call).await
    }

    async fn login_at(&self, store: &Url, key: &SecretString, path: &str) -> Result<AccessToken, OccError> {
        let segs = segments(path);
        let call = Call {
            method: Method::POST,
            store,
            segments: &segs,
            query: Vec::new(),
            bearer: key,
            body: Body::Form(GRANT),
            headers: Vec::new(),
            idempotent: true,
            login: true,
            limit: ReplyLimit::Login,
        };
        let body = self.send(call).await?;
        // A 200 without a token (a custom domain answering every path with its home page) is not
        // an OCC login endpoint either.
        let login: LoginResponse = decode(&body, path).map_err(|_| OccError::NoLoginEndpoint { status: 200 })?;
        Ok(AccessToken {
            token: SecretString::from(login.access_token),
            expires_in: Duration::from_secs(login.expires_in.unwrap_or(300)),
        })
    }

    /// Exchange the application key for an access token (`POST /ccadmin/v1/login`).
    pub async fn login(&self, store: &Url, key: &SecretString) -> Result<AccessToken, OccError> {
        self.login_at(store, key, "/ccadmin/v1/login").await
    }

    /// The same exchange for the Store Extension Agent API, at `url` (the full
    /// `.../ccappagent/v1/login` URL: the agent API may live on another host than the admin API).
    pub async fn agent_login(&self, url: &Url, key: &SecretString) -> Result<AccessToken, OccError> {
        self.login_at(url, key, url.path()).await
    }

    pub async fn list<T: DeserializeOwned>(
        &self,
        store: &Url,
        token: &SecretString,
        resource: Resource,
        params: &ListParams,
    ) -> Result<Page<T>, OccError> {
        let body = self.list_body(store, token, resource, params).await?;
        decode_page(&body, resource)
    }

    /// A list page's body, for a caller that decodes it elsewhere (`decode_page`): a page is up to
    /// `ReplyLimit::Page` bytes, tens of milliseconds of parsing.
    pub async fn list_body(
        &self,
        store: &Url,
        token: &SecretString,
        resource: Resource,
        params: &ListParams,
    ) -> Result<Vec<u8>, OccError> {
        let segs = segments(resource.path());
        let spec = Spec::new(Method::GET, &segs)
            .query(params.query(resource))
            .headers(site_header(params.site.as_deref()))
            .limit(ReplyLimit::Page);
        self.json_call(store, token, spec).await
    }

    pub async fn shipping_methods(
        &self,
        store: &Url,
        token: &SecretString,
        enabled_only: bool,
        site: Option<&str>,
    ) -> Result<Vec<ShippingMethod>, OccError> {
        let path = "/ccadmin/v1/shippingMethods";
        let query = vec![("enabledOnly".to_owned(), enabled_only.to_string())];
        let segs = segments(path);
        let spec = Spec::new(Method::GET, &segs).query(query).headers(site_header(site));
        let body = self.json_call(store, token, spec).await?;
        let value: Value = decode(&body, path)?;
        shipping_items(value).map_err(|e| OccError::Decode { path: path.to_owned(), detail: e.to_string() })
    }

    /// The store's sites (`GET /ccadmin/v1/sites`); `items` as documented, all in one answer.
    pub async fn sites(&self, store: &Url, token: &SecretString) -> Result<Vec<SiteInfo>, OccError> {
        #[derive(serde::Deserialize)]
        struct Sites {
            #[serde(default)]
            items: Vec<SiteInfo>,
        }
        let path = "/ccadmin/v1/sites";
        let body = self.json_call(store, token, Spec::new(Method::GET, &segments(path))).await?;
        Ok(decode::<Sites>(&body, path)?.items)
    }

    pub async fn get_webhook(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        include_secrets: bool,
    ) -> Result<Webhook, OccError> {
        let query =
            if include_secrets { vec![("includeSecretKeys".to_owned(), "true".to_owned())] } else { Vec::new() };
        let body = self
            .json_call(store, token, Spec::new(Method::GET, &["ccadmin", "v1", "webhooks", id]).query(query))
            .await?;
        decode(&body, "/ccadmin/v1/webhooks/{id}")
    }

    /// Replace the webhook's URL list (callers merge first: the list is shared with other integrations).
    pub async fn put_webhook_urls(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        urls: &[String],
    ) -> Result<Webhook, OccError> {
        let body = json!({ "urls": urls });
        let segs = ["ccadmin", "v1", "webhooks", id];
        let body = self.json_call(store, token, Spec::new(Method::PUT, &segs).body(body)).await?;
        decode(&body, "/ccadmin/v1/webhooks/{id}")
    }

    /// The store's event webhooks of one server type (`GET /ccadmin/v1/webhooks?serverType=...`), with
    /// their secrets when asked: discovery reads them all in one call.
    pub async fn list_webhooks(
        &self,
        store: &Url,
        token: &SecretString,
        server_type: &str,
        include_secrets: bool,
    ) -> Result<Vec<Webhook>, OccError> {
        let path = "/ccadmin/v1/webhooks";
        let mut query = vec![("serverType".to_owned(), server_type.to_owned())];
        if include_secrets {
            query.push(("includeSecretKeys".to_owned(), "true".to_owned()));
        }
        let body = self.json_call(store, token, Spec::new(Method::GET, &segments(path)).query(query)).await?;
        let value: Value = decode(&body, path)?;
        let items = match value {
            Value::Object(mut map) => map.remove("items").unwrap_or(Value::Array(Vec::new())),
            other => other,
        };
        serde_json::from_value(items).map_err(|e| OccError::Decode { path: path.to_owned(), detail: e.to_string() })
    }

    /// Write a whole webhook (`PUT /ccadmin/v1/webhooks/{id}`): callers send back every field they read
    /// with their change, since a PUT may reset the fields it leaves out (docs/occ.md).
    pub async fn put_webhook(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        doc: &Value,
    ) -> Result<Webhook, OccError> {
        let segs = ["ccadmin", "v1", "webhooks", id];
        let body = self.json_call(store, token, Spec::new(Method::PUT, &segs).body(doc.clone())).await?;
        decode(&body, "/ccadmin/v1/webhooks/{id}")
    }

    /// The store's failed webhook messages (`GET /ccadmin/v1/webhookFailedMessages`): events whose
    /// delivery failed after every attempt, with the URLs still to reach (`remainingTargetUrls`).
    pub async fn failed_webhook_messages(&self, store: &Url, token: &SecretString) -> Result<Vec<Value>, OccError> {
        let path = "/ccadmin/v1/webhookFailedMessages";
        let segs = segments(path);
        let spec = Spec::new(Method::GET, &segs).limit(ReplyLimit::Page);
        let body = self.json_call(store, token, spec).await?;
        let value: Value = decode(&body, path)?;
        Ok(match value {
            Value::Object(mut map) => map.remove("items").and_then(|v| v.as_array().cloned()).unwrap_or_default(),
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }

    /// Ask the store to send a failed message again, to the URLs that failed only
    /// (`PUT /ccadmin/v1/webhookFailedMessages/{id}` with `{"resend": true}`).
    pub async fn resend_webhook_message(&self, store: &Url, token: &SecretString, id: &str) -> Result<(), OccError> {
        let segs = ["ccadmin", "v1", "webhookFailedMessages", id];
        self.json_call(store, token, Spec::new(Method::PUT, &segs).body(json!({"resend": true}))).await.map(drop)
    }

    /// One product by id (`GET /ccadmin/v1/products/{id}`): the point read that confirms a product
    /// missing from a full run is really gone (`NotFound`) before it is deleted.
    /// On `site` (`x-ccsite`) when given.
    pub async fn get_product(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        site: Option<&str>,
    ) -> Result<Value, OccError> {
        let segs = ["ccadmin", "v1", "products", id];
        let spec = Spec::new(Method::GET, &segs).headers(site_header(site));
        let body = self.json_call(store, token, spec).await?;
        decode(&body, "/ccadmin/v1/products/{id}")
    }

    /// One product's stock (`GET /ccadmin/v1/inventories/{id}?type=product`), in the list's item shape.
    pub async fn get_inventory(
        &self,
        store: &Url,
        token: &SecretString,
        product_id: &str,
        site: Option<&str>,
    ) -> Result<Value, OccError> {
        let segs = ["ccadmin", "v1", "inventories", product_id];
        let query = vec![("type".to_owned(), "product".to_owned())];
        let spec = Spec::new(Method::GET, &segs).query(query).headers(site_header(site));
        let body = self.json_call(store, token, spec).await?;
        decode(&body, "/ccadmin/v1/inventories/{id}")
    }

    pub async fn get_order(&self, store: &Url, token: &SecretString, id: &str) -> Result<Value, OccError> {
        let body = self.json_call(store, token, Spec::new(Method::GET, &["ccadmin", "v1", "orders", id])).await?;
        decode(&body, "/ccadmin/v1/orders/{id}")
    }

    /// Partial update (`PUT /ccadmin/v1/orders/{id}`). A list sent must hold all its members.
    pub async fn update_order(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        patch: &Value,
    ) -> Result<Value, OccError> {
        let headers = vec![("x-ccasset-language", "en".to_owned())];
        let segs = ["ccadmin", "v1", "orders", id];
        let body =
            self.json_call(store, token, Spec::new(Method::PUT, &segs).body(patch.clone()).headers(headers)).await?;
        decode(&body, "/ccadmin/v1/orders/{id}")
    }

    /// Create an order through the agent API (`POST .../ccappagent/v1/orders`, the full URL in `url`)
    /// on `site_id` (`x-ccsite`; without it OCC uses the default site). Never retried: not idempotent.
    pub async fn create_order_agent(
        &self,
        url: &Url,
        agent_token: &SecretString,
        site_id: Option<&str>,
        body: &Value,
    ) -> Result<Value, OccError> {
        let headers = site_header(site_id);
        let segs = segments(url.path());
        let body = self
            .json_call(url, agent_token, Spec::new(Method::POST, &segs).body(body.clone()).headers(headers))
            .await?;
        decode(&body, "/ccappagent/v1/orders")
    }

    /// Shopper profiles holding `email` (`GET /ccadmin/v1/profiles?q=email eq "..."`, SCIM, with the
    /// advanced parser the reference recommends); at most `limit`.
    pub async fn find_profiles(
        &self,
        store: &Url,
        token: &SecretString,
        email: &str,
        limit: u32,
    ) -> Result<Vec<Value>, OccError> {
        let query = vec![
            ("q".to_owned(), crate::profile_email_query(email)),
            ("useAdvancedQParser".to_owned(), "true".to_owned()),
            ("limit".to_owned(), limit.to_string()),
            ("fields".to_owned(), "id,email,active".to_owned()),
        ];
        let segs = ["ccadmin", "v1", "profiles"];
        let body = self.json_call(store, token, Spec::new(Method::GET, &segs).query(query)).await?;
        let page: Value = decode(&body, "/ccadmin/v1/profiles")?;
        Ok(page.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// Create a shopper profile (`POST /ccadmin/v1/profiles`); answers its id. Never retried.
    pub async fn create_profile(&self, store: &Url, token: &SecretString, profile: &Value) -> Result<String, OccError> {
        let segs = ["ccadmin", "v1", "profiles"];
        let body = self.json_call(store, token, Spec::new(Method::POST, &segs).body(profile.clone())).await?;
        let created: Value = decode(&body, "/ccadmin/v1/profiles")?;
        created.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| OccError::Decode {
            path: "/ccadmin/v1/profiles".into(),
            detail: "the created profile has no id".into(),
        })
    }

    /// A function webhook with its secrets (`GET /ccadmin/v1/functionWebhooks/{id}?includeSecretKeys=true`).
    pub async fn get_function_webhook(&self, store: &Url, token: &SecretString, id: &str) -> Result<Value, OccError> {
        let segs = ["ccadmin", "v1", "functionWebhooks", id];
        let query = vec![("includeSecretKeys".to_owned(), "true".to_owned())];
        let body = self.json_call(store, token, Spec::new(Method::GET, &segs).query(query)).await?;
        decode(&body, "/ccadmin/v1/functionWebhooks/{id}")
    }

    /// `PUT /ccadmin/v1/functionWebhooks/{id}` with the whole document (every field read is sent back).
    pub async fn put_function_webhook(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        doc: &Value,
    ) -> Result<Value, OccError> {
        let segs = ["ccadmin", "v1", "functionWebhooks", id];
        let body = self.json_call(store, token, Spec::new(Method::PUT, &segs).body(doc.clone())).await?;
        decode(&body, "/ccadmin/v1/functionWebhooks/{id}")
    }

    /// Open a return request through the agent API (`POST /ccappagent/v1/returnRequests`). Never
    /// retried: not idempotent.
    pub async fn create_return_agent(
        &self,
        store: &Url,
        agent_token: &SecretString,
        body: &Value,
    ) -> Result<Value, OccError> {
        let segs = ["ccappagent", "v1", "returnRequests"];
        let body = self.json_call(store, agent_token, Spec::new(Method::POST, &segs).body(body.clone())).await?;
        decode(&body, "/ccappagent/v1/returnRequests")
    }

    /// One return request (`GET /ccadmin/v1/returnRequests/{id}`).
    pub async fn get_return_request(&self, store: &Url, token: &SecretString, id: &str) -> Result<Value, OccError> {
        let segs = ["ccadmin", "v1", "returnRequests", id];
        let body = self.json_call(store, token, Spec::new(Method::GET, &segs)).await?;
        decode(&body, "/ccadmin/v1/returnRequests/{id}")
    }

    /// `PUT /ccadmin/v1/returnRequests/{id}`: needs `op` and `returnItems`, which must list every
    /// item to keep (the PUT list rule).
    pub async fn update_return_request(
        &self,
        store: &Url,
        token: &SecretString,
        id: &str,
        body: &Value,
    ) -> Result<Value, OccError> {
        let headers = vec![("x-ccasset-language", "en".to_owned())];
        let segs = ["ccadmin", "v1", "returnRequests", id];
        let body =
            self.json_call(store, token, Spec::new(Method::PUT, &segs).body(body.clone()).headers(headers)).await?;
        decode(&body, "/ccadmin/v1/returnRequests/{id}")
    }

    /// Any other admin GET, for diagnostics. A filtered orders list still says `queryFormat=SCIM`
    /// (order filters belong in `list` with `ListParams::orders`).
    pub async fn get_json(
        &self,
        store: &Url,
        token: &SecretString,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, OccError> {
        let mut query: Vec<(String, String)> = query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let orders = path.trim_end_matches('/') == Resource::Orders.path();
        if orders && !query.iter().any(|(k, _)| k == "queryFormat") {
            query.push(("queryFormat".into(), "SCIM".into()));
        }
        let body = self.json_call(store, token, Spec::new(Method::GET, &segments(path)).query(query)).await?;
        decode(&body, path)
    }
}
