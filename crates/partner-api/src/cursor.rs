//! Opaque keyset cursors: base64url of the last row's sort key. Clients must not build them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

pub(crate) fn encode<T: Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub(crate) fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
}

#[cfg(test)]
mod properties {
    //! Bounded property tests: any text is a valid cursor or `bad_request`, never a panic; every
    //! cursor the API hands out decodes to the key it was made from.

    use super::*;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use storelink_core::MerchantId;

    fn config() -> ProptestConfig {
        ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() }
    }

    fn refused_cleanly<T: DeserializeOwned>(text: &str) -> bool {
        match decode::<T>(text) {
            Ok(_) => true,
            Err(ApiError::BadRequest(detail)) => detail == "invalid cursor",
            Err(_) => false,
        }
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap_or_default())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_text_is_a_cursor_or_bad_request(text in "\\PC{0,64}|[A-Za-z0-9_-]{0,96}") {
            prop_assert!(refused_cleanly::<MerchantId>(&text));
            prop_assert!(refused_cleanly::<i64>(&text));
            prop_assert!(refused_cleanly::<(DateTime<Utc>, String)>(&text));
            prop_assert!(refused_cleanly::<(DateTime<Utc>, String, String)>(&text));
        }

        #[test]
        fn any_bytes_behind_valid_base64_are_a_cursor_or_bad_request(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert!(refused_cleanly::<(DateTime<Utc>, String, String)>(&text));
            prop_assert!(refused_cleanly::<MerchantId>(&text));
        }

        #[test]
        fn cursors_round_trip(
            id in any::<u128>(),
            n in any::<i64>(),
            at in time(),
            a in "\\PC{0,40}",
            b in "\\PC{0,40}",
        ) {
            let merchant = MerchantId(uuid::Uuid::from_u128(id));
            prop_assert_eq!(decode::<MerchantId>(&encode(&merchant)).ok(), Some(merchant));
            prop_assert_eq!(decode::<i64>(&encode(&n)).ok(), Some(n));
            let key = (at, a.clone());
            prop_assert_eq!(decode::<(DateTime<Utc>, String)>(&encode(&key)).ok(), Some(key));
            let key = (at, a, b);
            prop_assert_eq!(decode::<(DateTime<Utc>, String, String)>(&encode(&key)).ok(), Some(key));
        }
    }
}
