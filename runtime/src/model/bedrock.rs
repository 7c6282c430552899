//! Amazon Bedrock through the Converse API, authenticated by the function's IAM role.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput, InferenceConfiguration,
    Message, SystemContentBlock,
};
use futures_util::StreamExt;

use super::{ChatModel, ModelError, TokenStream};
use crate::prompt::Prompt;
use crate::store::Role;

#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    max_output_tokens: u32,
}

impl BedrockModel {
    pub fn new(client: Client, model_id: impl Into<String>, max_output_tokens: u32) -> Self {
        Self { client, model_id: model_id.into(), max_output_tokens }
    }

    /// The system block (preamble + whole persona), then history and the new message.
    pub fn converse_input(prompt: &Prompt) -> Result<(Vec<SystemContentBlock>, Vec<Message>), ModelError> {
        let mut messages = Vec::with_capacity(prompt.history.len() + 1);
        let turns = prompt
            .history
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .chain(std::iter::once((Role::User, prompt.user_message.as_str())));
        for (role, text) in turns {
            let role = match role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let message = Message::builder()
                .role(role)
                .content(ContentBlock::Text(text.to_owned()))
                .build()
                .map_err(|e| ModelError::Permanent(e.into()))?;
            messages.push(message);
        }
        Ok((vec![SystemContentBlock::Text(prompt.system.clone())], messages))
    }

    fn inference(&self, max_tokens: u32) -> InferenceConfiguration {
        InferenceConfiguration::builder().max_tokens(i32::try_from(max_tokens).unwrap_or(i32::MAX)).build()
    }
}

/// Throttling, timeouts and 5xx are worth a retry; access and validation errors are not.
fn classify<E, R>(error: SdkError<E, R>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "ServiceUnavailableException"
                    | "InternalServerException"
                    | "ModelTimeoutException"
                    | "ModelNotReadyException"
            )
        ),
        _ => false,
    };
    let detail = anyhow::anyhow!("{}", DisplayErrorContext(error));
    if transient { ModelError::Transient(detail) } else { ModelError::Permanent(detail) }
}

#[async_trait]
impl ChatModel for BedrockModel {
    async fn complete(&self, prompt: &Prompt) -> Result<String, ModelError> {
        let (system, messages) = Self::converse_input(prompt)?;
        let output = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_system(Some(system))
            .set_messages(Some(messages))
            .inference_config(self.inference(self.max_output_tokens))
            .send()
            .await
            .map_err(classify)?;
        match output.output {
            Some(ConverseOutput::Message(message)) => {
                Ok(message.content.iter().filter_map(|block| block.as_text().ok().map(String::as_str)).collect())
            }
            _ => Err(ModelError::Permanent(anyhow::anyhow!("Bedrock answered without a message"))),
        }
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TokenStream, ModelError> {
        let (system, messages) = Self::converse_input(prompt)?;
        let output = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_system(Some(system))
            .set_messages(Some(messages))
            .inference_config(self.inference(self.max_output_tokens))
            .send()
            .await
            .map_err(classify)?;
        let deltas = futures_util::stream::unfold(output.stream, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(Some(ConverseStreamOutput::ContentBlockDelta(event))) => {
                        if let Some(ContentBlockDelta::Text(text)) = event.delta {
                            return Some((Ok(text), receiver));
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(e) => return Some((Err(classify(e)), receiver)),
                }
            }
        });
        Ok(deltas.boxed())
    }

    async fn check(&self) -> Result<(), ModelError> {
        // Bedrock's runtime API has no free ping: a one-token reply proves access and model.
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text("ping".to_owned()))
            .build()
            .map_err(|e| ModelError::Permanent(e.into()))?;
        self.client
            .converse()
            .model_id(&self.model_id)
            .messages(message)
            .inference_config(self.inference(1))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    fn describe(&self) -> String {
        format!("bedrock:{}", self.model_id)
    }
}
