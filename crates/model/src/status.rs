//! Every status a partner sees, as a closed enum. Each connector maps its platform's states into these
//! (docs/MODEL.md has the tables); a state a mapping does not know becomes `unknown`, never an error.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and serialized) name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value of a stored name; an unknown name is `Unknown`.
            pub fn parse(text: &str) -> Self {
                match text { $($text => $name::$variant,)+ _ => $name::Unknown }
            }
        }
    };
}

status_enum!(
    /// Where an order is in its life.
    OrderStatus {
        Pending => "pending",
        Submitted => "submitted",
        Processing => "processing",
        Completed => "completed",
        Cancelled => "cancelled",
        Unknown => "unknown",
    }
);

status_enum!(
    /// Whether an order is paid. No card data is ever carried.
    PaymentStatus {
        Pending => "pending",
        Authorized => "authorized",
        Paid => "paid",
        Failed => "failed",
        Refunded => "refunded",
        Unknown => "unknown",
    }
);

status_enum!(
    /// Where a shipment is.
    ShipmentStatus {
        Pending => "pending",
        Shipped => "shipped",
        Delivered => "delivered",
        Unknown => "unknown",
    }
);

status_enum!(
    /// Where a return is.
    ReturnStatus {
        Requested => "requested",
        AwaitingItems => "awaiting_items",
        PendingRefund => "pending_refund",
        Completed => "completed",
        Unknown => "unknown",
    }
);

status_enum!(
    /// A merchant's connection.
    MerchantStatus {
        Active => "active",
        Paused => "paused",
        CredentialsInvalid => "credentials_invalid",
        Revoked => "revoked",
        Unknown => "unknown",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialize_as_stored() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), *s);
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::from(s.as_str())));
        }
        for s in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(s.as_str()), *s);
        }
        assert_eq!(PaymentStatus::parse("nonsense"), PaymentStatus::Unknown);
    }
}
