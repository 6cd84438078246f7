//! G1–G3: machine translation behind one small trait. `AwsTranslator` calls
//! Amazon Translate's `TranslateText` (the endpoint from the SDK's own
//! variables: `AWS_ENDPOINT_URL_TRANSLATE` reaches the local stack's
//! emulator); `translate` cuts a long text into requests Amazon Translate
//! accepts and bounds the whole by a timeout.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_translate::error::ProvideErrorMetadata;
use aws_sdk_translate::operation::translate_text::TranslateTextError;

use crate::domain::translation::{self, MAX_REQUEST_BYTES, MAX_TRANSLATION_BYTES};

/// One `TranslateText` answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated {
    pub text: String,
    /// The source language: as given, or as detected (`auto`).
    pub source: String,
}

pub use crate::domain::translation::{Plan, TranslateError, Translation};

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

/// `text` as `plan` says: one request per part (`translation::split`),
/// the parts joined; the source is the first part's (detected, when the
/// plan leaves it open). The pair is checked before any request when the
/// source is known, and once detected. The whole is bounded by `timeout`.
/// Never fails: what went wrong is the translation's `error`.
pub async fn translate(translator: &dyn Translator, text: &str, plan: &Plan, timeout: Duration) -> Translation {
    let target = plan.target.as_str();
    let mut source = plan.source.clone();
    let checked = match &source {
        Some(s) => translation::check_pair(s, target),
        None if translation::is_supported(target) => Ok(()),
        None => Err(translation::PairRefused::Unsupported(target.to_string())),
    };
    let outcome = match checked {
        Err(refused) => Err(refused.into()),
        Ok(()) => {
            let work = async {
                let mut joined = String::with_capacity(text.len());
                for part in translation::split(text, MAX_REQUEST_BYTES) {
                    if part.trim().is_empty() {
                        joined.push_str(part);
                        continue;
                    }
                    // The later parts go from the language the first was found in.
                    let out = translator.translate_part(part, source.as_deref(), target).await?;
                    if source.is_none() {
                        source = Some(out.source.clone());
                        if out.source == target {
                            return Ok(None); // already in the target language
                        }
                        translation::check_pair(&out.source, target)?;
                    }
                    joined.push_str(&out.text);
                    if joined.len() > MAX_TRANSLATION_BYTES {
                        return Err(TranslateError::TextTooLong(format!(
                            "the translation is over {MAX_TRANSLATION_BYTES} bytes"
                        )));
                    }
                }
                Ok(Some(joined))
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(result) => result,
                Err(_) => Err(TranslateError::Unavailable(format!("no translation within {} ms", timeout.as_millis()))),
            }
        }
    };
    let (text, error) = match outcome {
        Ok(text) => (text, None),
        Err(e) => (None, Some(e)),
    };
    Translation { source, target: target.to_string(), text, error }
}

/// Amazon Translate, through the SDK.
pub struct AwsTranslator {
    client: aws_sdk_translate::Client,
}

impl AwsTranslator {
    /// A client of the SDK's configuration (region, credentials, endpoint),
    /// built once per cold start. It speaks the service's JSON protocol
    /// (`awsJson1_1`, `X-Amz-Target: AWSShineFrontendService_20170701.TranslateText`),
    /// which Amazon Translate serves beside the CBOR one this SDK defaults
    /// to: the requests stay readable, and the local emulator speaks it.
    ///
    /// A throttled or failed request is retried twice, after at most 100 ms
    /// then 200 ms (the SDK's default waits up to 20 s): a chat message
    /// cannot wait long, and `translate`'s timeout bounds the whole anyway.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(200));
        let config = aws_sdk_translate::config::Builder::from(sdk)
            .protocol(aws_smithy_json::protocol::aws_json_rpc::AwsJsonRpcProtocol::aws_json_1_1())
            .retry_config(retry)
            .build();
        AwsTranslator { client: aws_sdk_translate::Client::from_conf(config) }
    }

    /// As `new`, with the SDK's configuration loaded from the environment.
    pub async fn from_env() -> Self {
        Self::new(&crate::config::sdk().await)
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

    fn detect(target: &str) -> Plan {
        Plan { source: None, target: target.into() }
    }

    #[tokio::test]
    async fn a_long_text_goes_in_parts_from_the_language_the_first_was_found_in() {
        let fake = Fake::default();
        let text = "您好，您的订单已经发货。".repeat(600); // 21,600 bytes
        let out = translate(&fake, &text, &detect("en"), SECOND).await;
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|(len, _)| *len <= MAX_REQUEST_BYTES));
        assert_eq!(
            calls.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            [None, Some("zh".into()), Some("zh".into())]
        );
        assert_eq!(
            out,
            Translation {
                source: Some("zh".into()),
                target: "en".into(),
                text: Some("[en][en][en]".into()),
                error: None
            }
        );
    }

    #[tokio::test]
    async fn refused_pairs_cost_no_request_and_slow_answers_time_out() {
        let fake = Fake::default();
        let from_zh_tw = Plan { source: Some("zh-TW".into()), target: "en".into() };
        let out = translate(&fake, "嗨", &from_zh_tw, SECOND).await;
        assert!(matches!(out.error, Some(TranslateError::UnsupportedPair(_))) && out.text.is_none());
        assert!(fake.calls.lock().unwrap().is_empty());
        // Detected as a language that does not pair with the target: the
        // detected language is kept.
        let out = translate(&fake, "bonjour", &detect("mn"), SECOND).await;
        assert!(matches!(out.error, Some(TranslateError::UnsupportedPair(_))), "{out:?}");
        assert_eq!(out.source.as_deref(), Some("fr"));
        let slow = Fake { delay: Some(Duration::from_millis(200)), ..Fake::default() };
        let out = translate(&slow, "bonjour", &detect("en"), Duration::from_millis(50)).await;
        assert!(matches!(out.error, Some(TranslateError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_text_already_in_the_target_language_is_left_as_it_is() {
        let fake = Fake::default();
        let out = translate(&fake, "您好", &detect("zh"), SECOND).await;
        assert!(out.is_same_language() && out.text.is_none(), "{out:?}");
        assert_eq!(fake.calls.lock().unwrap().len(), 1, "detecting it took the one request");
    }
}
