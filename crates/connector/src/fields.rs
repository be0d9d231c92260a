//! Reading a merchant's credentials from the connect form's fields (`Connector::credentials`): the
//! default for a platform whose one secret field is the whole credential, and the error a connector
//! names a field with.

use secrecy::SecretString;

use crate::FormField;

/// A form field's value by its input name (`None`: not sent).
pub type FieldValues<'a> = &'a dyn Fn(&str) -> Option<&'a str>;

/// A real credential is a few hundred bytes; anything far larger is a paste mistake.
pub const MAX_SECRET_LEN: usize = 16 * 1024;

/// Why the form's fields do not make credentials, beside which field. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A required field is empty.
    #[error("{field} is empty")]
    Missing { field: &'static str },
    /// A field's value is far longer than a real one.
    #[error("{field} is too long")]
    TooLong { field: &'static str },
    /// The connector's own words for the merchant.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
}

impl CredentialsError {
    /// The form field the message belongs beside.
    pub fn field(&self) -> &'static str {
        match self {
            CredentialsError::Missing { field }
            | CredentialsError::TooLong { field }
            | CredentialsError::Invalid { field, .. } => field,
        }
    }
}

/// The form's one secret field, whitespace removed (copy-paste brings line breaks and spaces into a
/// long key; none belong in one): the default `Connector::credentials`.
pub fn one_secret(form: &[FormField], values: FieldValues<'_>) -> Result<SecretString, CredentialsError> {
    let field = form.iter().find(|f| f.secret).map_or("", |f| f.name);
    let key: String = values(field).unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    if key.is_empty() {
        return Err(CredentialsError::Missing { field });
    }
    if key.len() > MAX_SECRET_LEN {
        return Err(CredentialsError::TooLong { field });
    }
    Ok(SecretString::from(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const FORM: &[FormField] =
        &[FormField { name: "app_key", label: "Key", help: "", secret: true, choices: &[], when: None }];

    #[test]
    fn the_secret_field_is_cleaned_and_emptiness_refused() {
        let given = |v: &'static str| move |name: &str| (name == "app_key").then_some(v);
        let pasted = given(" eyJ a.b\n.c ");
        let key = one_secret(FORM, &pasted).map(|k| k.expose_secret().to_owned());
        assert_eq!(key.ok().as_deref(), Some("eyJa.b.c"));
        let blank = given(" \n ");
        assert_eq!(one_secret(FORM, &blank).err(), Some(CredentialsError::Missing { field: "app_key" }));
        let long = given(Box::leak("x".repeat(MAX_SECRET_LEN + 1).into_boxed_str()));
        assert_eq!(one_secret(FORM, &long).err(), Some(CredentialsError::TooLong { field: "app_key" }));
    }
}
