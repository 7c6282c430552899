//! What the model receives: the persona, the conversation so far, the new message.
//!
//! Owns: the prompt's shape and its trimming. History is kept in chronological order and
//! trimmed oldest-first to a token budget; the persona and the new message are never
//! trimmed (Properties 2 and 3).
//! Must not: call a model or a store.

use crate::store::{Message, Role};

/// Instructions placed before the persona; the persona itself follows verbatim.
pub const SYSTEM_PREAMBLE: &str = "You are a digital twin: answer as the person described below, in their voice, \
using only what they would know. If asked something the description does not cover, say so honestly.\n\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The preamble followed by the whole persona text.
    pub system: String,
    /// The kept part of the history, oldest first.
    pub history: Vec<Message>,
    /// How many older messages the budget left out.
    pub trimmed: usize,
    pub user_message: String,
}

/// A cheap, deterministic token estimate (about four characters a token, plus a little per
/// message for role markers). Real tokenisers differ by model; the budget leaves headroom.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

/// Builds the prompt for one turn.
///
/// The history kept is the longest suffix of `history` whose estimated size fits in what the
/// budget leaves after the system prompt and the new message; when nothing is left, the
/// history is empty but the persona and message are still sent whole.
pub fn build_prompt(persona: &str, history: &[Message], user_message: &str, token_budget: usize) -> Prompt {
    let system = format!("{SYSTEM_PREAMBLE}{persona}");
    let fixed = estimate_tokens(&system) + estimate_tokens(user_message);
    let mut remaining = token_budget.saturating_sub(fixed);
    let mut keep_from = history.len();
    for (index, message) in history.iter().enumerate().rev() {
        let cost = estimate_tokens(&message.content);
        if cost > remaining {
            break;
        }
        remaining -= cost;
        keep_from = index;
    }
    // Chat APIs (Bedrock's Converse in particular) expect the history to open with a user turn.
    while history.get(keep_from).is_some_and(|m| m.role == Role::Assistant) {
        keep_from += 1;
    }
    Prompt { system, history: history[keep_from..].to_vec(), trimmed: keep_from, user_message: user_message.to_owned() }
}

impl Prompt {
    /// Completed turns (user + assistant pairs) in the kept history.
    pub fn history_turns(&self) -> usize {
        self.history.iter().filter(|m| m.role == Role::User).count()
    }
}
