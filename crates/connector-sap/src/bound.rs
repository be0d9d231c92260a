//! What a SAP session's secret holds: the `Authorization` value every call sends and the merchant's
//! integration object names, both taken from its credentials at login. The platform-neutral crates
//! hand list, read, order and webhook calls only the session, so the names the merchant gave on the
//! connect form travel with it (sealed by the token cache like any session secret).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use storelink_connector::Session;

use crate::credentials::Objects;

#[derive(Serialize, Deserialize)]
struct Sealed {
    authorization: String,
    objects: Objects,
}

pub(crate) struct Bound {
    pub authorization: SecretString,
    pub objects: Objects,
}

/// The session secret for `authorization` (`Bearer ...` or `Basic ...`) on the merchant's `objects`.
pub(crate) fn token(authorization: String, objects: &Objects) -> SecretString {
    let sealed = Sealed { authorization, objects: objects.clone() };
    SecretString::from(serde_json::to_string(&sealed).unwrap_or_default())
}

/// The session's parts. A bare `Authorization` value (a session made before object names travelled
/// with it) reads the objects under their default names.
pub(crate) fn open(session: &Session) -> Bound {
    match serde_json::from_str::<Sealed>(session.token.expose_secret()) {
        Ok(Sealed { authorization, objects }) => Bound { authorization: SecretString::from(authorization), objects },
        Err(_) => Bound { authorization: session.token.clone(), objects: Objects::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_session_carries_the_merchants_object_names() {
        let store = Arc::new(url::Url::parse("https://api.example.com").expect("url"));
        let objects = Objects { order: "MyOrders".into(), ..Objects::default() };
        let session = Session { store: store.clone(), storefront: store, token: token("Bearer t0k".into(), &objects) };
        let bound = open(&session);
        assert_eq!(bound.authorization.expose_secret(), "Bearer t0k");
        assert_eq!(bound.objects, objects);
        let bare = Session { token: SecretString::from("Basic dXNlcjpwdw=="), ..session };
        assert_eq!(open(&bare).authorization.expose_secret(), "Basic dXNlcjpwdw==");
        assert_eq!(open(&bare).objects, Objects::default());
    }
}
