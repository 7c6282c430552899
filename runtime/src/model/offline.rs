//! The offline model: a deterministic responder for development, tests and benchmarks.
//!
//! It answers with what it received — the persona's first line, how many turns of history,
//! the user's message — so tests can see the prompt through the public API. `config`
//! refuses it outside ENVIRONMENT=local.

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{ChatModel, ModelError, TokenStream};
use crate::prompt::Prompt;

#[derive(Debug, Default, Clone)]
pub struct OfflineModel;

impl OfflineModel {
    pub fn reply(prompt: &Prompt) -> String {
        let persona_first_line = prompt
            .system
            .strip_prefix(crate::prompt::SYSTEM_PREAMBLE)
            .unwrap_or(&prompt.system)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        format!(
            "[offline twin] persona: {persona_first_line} | history turns: {} | you said: {}",
            prompt.history_turns(),
            prompt.user_message
        )
    }
}

#[async_trait]
impl ChatModel for OfflineModel {
    async fn complete(&self, prompt: &Prompt) -> Result<String, ModelError> {
        Ok(Self::reply(prompt))
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TokenStream, ModelError> {
        let reply = Self::reply(prompt);
        // Word by word, keeping the separators, so the deltas concatenate to the reply.
        let deltas: Vec<Result<String, ModelError>> =
            reply.split_inclusive(' ').map(|word| Ok(word.to_owned())).collect();
        Ok(futures_util::stream::iter(deltas).boxed())
    }

    async fn check(&self) -> Result<(), ModelError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "offline".to_owned()
    }
}
