//! Idempotency keys: a request's key with the hash that tells its body apart.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::batch::IdempotencyKey;
use super::{MAX_IDEMPOTENCY_KEY_CHARS, Operation, Usage};
use crate::domain::{Error, Field, Result};

/// The idempotency key of a request, with the hash that tells its body apart.
pub(super) fn idempotency(
    tenant_id: Uuid,
    key: &str,
    usage: &Usage,
    operation: &Operation,
) -> Result<(IdempotencyKey, String)> {
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Error::Invalid {
            field: Field::Header("Idempotency-Key".into()),
            message: format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        });
    }
    // Every field is length-prefixed, so no value (whatever bytes it holds) can run into the next.
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(operation.name().as_bytes());
    field(usage.metric.as_bytes());
    field(&usage.amount.to_le_bytes());
    for (k, v) in usage.subject.pairs() {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    let hex = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((
        IdempotencyKey {
            tenant_id,
            key: key.to_owned(),
        },
        hex,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::limit::Subject;

    fn usage(pairs: &[(&str, &str)]) -> Usage {
        let pairs: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Usage {
            subject: Subject::trusted(pairs),
            metric: "m".into(),
            amount: 1,
        }
    }

    #[test]
    fn two_subjects_never_share_an_idempotency_hash_whatever_bytes_their_values_hold() {
        let hash = |u: &Usage| {
            idempotency(Uuid::nil(), "k", u, &Operation::Consume)
                .map(|(_, h)| h)
                .unwrap_or_default()
        };
        let two_pairs = usage(&[("a", "x"), ("b", "y")]);
        let one_pair = usage(&[("a", "x\0b\u{1}y")]);
        assert_ne!(hash(&two_pairs), hash(&one_pair));
        assert_eq!(hash(&two_pairs), hash(&usage(&[("a", "x"), ("b", "y")])));
    }
}
