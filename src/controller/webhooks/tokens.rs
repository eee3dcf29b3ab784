//! A trigger's tokens: the keys of its Secret, read from the cache of Secrets of the
//! webhook-token type (the only Secrets the controller asks for).

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::planner::webhook::{TOKEN_SECRET_TYPE, Token};
use crate::resources::Trigger;

use crate::controller::Context;

/// The tokens of `trigger`'s Secret: every non-empty key (an empty token would let
/// anyone sign). A Secret of another type is never used, even if a cache held one.
pub fn tokens_of(tokens: &Store<Secret>, trigger: &Trigger) -> (Token, Vec<Vec<u8>>) {
    let (Some(namespace), Some(webhook)) = (trigger.namespace(), trigger.spec.webhook.as_ref())
    else {
        return (Token::Missing, Vec::new());
    };
    let key = ObjectRef::new(&webhook.secret_ref.name).within(&namespace);
    let Some(secret) = tokens.get(&key) else {
        return (Token::Missing, Vec::new());
    };
    if secret.type_.as_deref() != Some(TOKEN_SECRET_TYPE) {
        return (Token::Missing, Vec::new());
    }
    let keys: Vec<Vec<u8>> = (secret.data.iter().flatten())
        .map(|(_, value)| value.0.clone())
        .filter(|value| !value.is_empty())
        .collect();
    let state = if keys.is_empty() {
        Token::Empty
    } else {
        Token::Usable
    };
    (state, keys)
}

/// Whether `trigger`'s Secret is usable, for its Ready condition.
pub fn token_state(ctx: &Context, trigger: &Trigger) -> Token {
    tokens_of(&ctx.stores.webhook_tokens, trigger).0
}
