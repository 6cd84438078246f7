//! G1–G3: machine translation behind one small trait. `AwsTranslator` calls
//! Amazon Translate's `TranslateText` (the endpoint from the SDK's own
//! variables: `AWS_ENDPOINT_URL_TRANSLATE` reaches the local stack's
//! emulator); `translate` cuts a long text into requests Amazon Translate
//! accepts and bounds the whole by a timeout.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_translate::error::ProvideErrorMetadata;
use aws_sdk_translate::operation::translate_text::TranslateTextError;
use serde::Serialize;

use crate::domain::translation::{self, MAX_REQUEST_BYTES};

/// One `TranslateText` answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated {
    pub text: String,
    /// The source language: as given, or as detected (`auto`).
    pub source: String,
}

/// Why a text was not translated; the message it belongs to is stored and
/// delivered all the same, marked with this (its wire `code`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "code", content = "message")]
pub enum TranslateError {
    /// G3: a pair Kefu or Amazon Translate does not translate.
    UnsupportedPair(String),
    /// A part still over the request limit (Amazon Translate said so).
    TextTooLong(String),
    /// Amazon Translate throttled the request (after the SDK's retries).
    Throttled(String),
    /// Unavailable, failed, or slower than the timeout.
    Unavailable(String),
}

#[async_trait]
pub trait Translator: Send + Sync {
    /// One request: `text` (at most `MAX_REQUEST_BYTES`) into `target`,
    /// from `source` (`None`: detected, `auto`).
    async fn translate_part(
        &self,
        text: &str,
        source: Option<&str>,
        target: &str,
    ) -> Result<Translated, TranslateError>;
}

/// `text` into `target`: one request per part (`translation::split`), the
/// parts joined; the source is the first part's. The whole is bounded by
/// `timeout`. The pair is checked first when the source is known.
pub async fn translate(
    translator: &dyn Translator,
    text: &str,
    source: Option<&str>,
    target: &str,
    timeout: Duration,
) -> Result<Translated, TranslateError> {
    if let Some(s) = source {
        translation::check_pair(s, target).map_err(|e| TranslateError::UnsupportedPair(e.message()))?;
    } else if !translation::is_supported(target) {
        return Err(TranslateError::UnsupportedPair(format!("{target} is not a supported language")));
    }
    let work = async {
        let mut joined = String::with_capacity(text.len());
        let mut detected: Option<String> = source.map(str::to_string);
        for part in translation::split(text, MAX_REQUEST_BYTES) {
            if part.trim().is_empty() {
                joined.push_str(part);
                continue;
            }
            // The later parts go from the language the first was found in.
            let out = translator.translate_part(part, detected.as_deref(), target).await?;
            if detected.is_none() {
                translation::check_pair(&out.source, target)
                    .map_err(|e| TranslateError::UnsupportedPair(e.message()))?;
                detected = Some(out.source.clone());
            }
            joined.push_str(&out.text);
        }
        Ok(Translated { text: joined, source: detected.unwrap_or_else(|| target.to_string()) })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(TranslateError::Unavailable(format!("no translation within {} ms", timeout.as_millis()))),
    }
}

/// Amazon Translate, through the SDK.
pub struct AwsTranslator {
    client: aws_sdk_translate::Client,
}

impl AwsTranslator {
    /// A client from the environment (region, credentials, endpoint), built
    /// once per cold start. It speaks the service's JSON protocol
    /// (`awsJson1_1`, `X-Amz-Target: AWSShineFrontendService_20170701.TranslateText`),
    /// which Amazon Translate serves beside the CBOR one this SDK defaults
    /// to: the requests stay readable, and the local emulator speaks it.
    pub async fn from_env() -> Self {
        let shared = aws_config::load_from_env().await;
        let config = aws_sdk_translate::config::Builder::from(&shared)
            .protocol(aws_smithy_json::protocol::aws_json_rpc::AwsJsonRpcProtocol::aws_json_1_1())
            .build();
        AwsTranslator { client: aws_sdk_translate::Client::from_conf(config) }
    }
}

#[async_trait]
impl Translator for AwsTranslator {
    async fn translate_part(
        &self,
        text: &str,
        source: Option<&str>,
        target: &str,
    ) -> Result<Translated, TranslateError> {
        let sent = self
            .client
            .translate_text()
            .text(text)
            .source_language_code(source.unwrap_or("auto"))
            .target_language_code(target)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Translated {
                text: out.translated_text().to_string(),
                source: out.source_language_code().to_string(),
            }),
            Err(err) => {
                let message = err.message().unwrap_or("no message").to_string();
                Err(match err.as_service_error() {
                    Some(TranslateTextError::UnsupportedLanguagePairException(_))
                    | Some(TranslateTextError::DetectedLanguageLowConfidenceException(_)) => {
                        TranslateError::UnsupportedPair(message)
                    }
                    Some(TranslateTextError::TextSizeLimitExceededException(_)) => TranslateError::TextTooLong(message),
                    Some(TranslateTextError::TooManyRequestsException(_)) => TranslateError::Throttled(message),
                    _ => {
                        TranslateError::Unavailable(format!("{}", aws_sdk_translate::error::DisplayErrorContext(&err)))
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Tags each part with its target; detects Chinese by script.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<(usize, Option<String>)>>,
        delay: Option<Duration>,
    }

    #[async_trait]
    impl Translator for Fake {
        async fn translate_part(
            &self,
            text: &str,
            source: Option<&str>,
            target: &str,
        ) -> Result<Translated, TranslateError> {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            self.calls.lock().unwrap().push((text.len(), source.map(str::to_string)));
            let detected = if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) { "zh" } else { "fr" };
            Ok(Translated { text: format!("[{target}]"), source: source.unwrap_or(detected).to_string() })
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_long_text_goes_in_parts_from_the_language_the_first_was_found_in() {
        let fake = Fake::default();
        let text = "您好，您的订单已经发货。".repeat(600); // 21,600 bytes
        let out = translate(&fake, &text, None, "en", SECOND).await.unwrap();
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|(len, _)| *len <= MAX_REQUEST_BYTES));
        assert_eq!(
            calls.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            [None, Some("zh".into()), Some("zh".into())]
        );
        assert_eq!(out, Translated { text: "[en][en][en]".into(), source: "zh".into() });
    }

    #[tokio::test]
    async fn refused_pairs_cost_no_request_and_slow_answers_time_out() {
        let fake = Fake::default();
        let err = translate(&fake, "嗨", Some("zh-TW"), "en", SECOND).await.unwrap_err();
        assert!(matches!(err, TranslateError::UnsupportedPair(_)));
        assert!(fake.calls.lock().unwrap().is_empty());
        // Detected as a language that does not pair with the target.
        let err = translate(&fake, "bonjour", None, "mn", SECOND).await.unwrap_err();
        assert!(matches!(err, TranslateError::UnsupportedPair(_)), "{err:?}");
        let slow = Fake { delay: Some(Duration::from_millis(200)), ..Fake::default() };
        let err = translate(&slow, "bonjour", None, "en", Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, TranslateError::Unavailable(_)));
    }
}
