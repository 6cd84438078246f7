//! G1–G3: the languages Kefu translates between (every language Amazon
//! Translate supports), which pairs are allowed, and how a long text is cut
//! into requests Amazon Translate accepts.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Amazon Translate's limit on one `TranslateText` request: 10,000 bytes
/// of UTF-8 text.
pub const MAX_REQUEST_BYTES: usize = 10_000;

/// An agent's system language (G1): what visitors' messages are
/// translated into.
pub const AGENT_LANGUAGES: [&str; 2] = ["zh", "en"];

/// Every language Amazon Translate supports (its documented list of
/// language codes): code, English name, Chinese name.
pub const LANGUAGES: [(&str, &str, &str); 75] = [
    ("af", "Afrikaans", "南非荷兰语"),
    ("sq", "Albanian", "阿尔巴尼亚语"),
    ("am", "Amharic", "阿姆哈拉语"),
    ("ar", "Arabic", "阿拉伯语"),
    ("hy", "Armenian", "亚美尼亚语"),
    ("az", "Azerbaijani", "阿塞拜疆语"),
    ("bn", "Bengali", "孟加拉语"),
    ("bs", "Bosnian", "波斯尼亚语"),
    ("bg", "Bulgarian", "保加利亚语"),
    ("ca", "Catalan", "加泰罗尼亚语"),
    ("zh", "Chinese (Simplified)", "中文（简体）"),
    ("zh-TW", "Chinese (Traditional)", "中文（繁体）"),
    ("hr", "Croatian", "克罗地亚语"),
    ("cs", "Czech", "捷克语"),
    ("da", "Danish", "丹麦语"),
    ("fa-AF", "Dari", "达里语"),
    ("nl", "Dutch", "荷兰语"),
    ("en", "English", "英语"),
    ("et", "Estonian", "爱沙尼亚语"),
    ("fa", "Farsi (Persian)", "波斯语"),
    ("tl", "Filipino, Tagalog", "菲律宾语、塔加洛语"),
    ("fi", "Finnish", "芬兰语"),
    ("fr", "French", "法语"),
    ("fr-CA", "French (Canada)", "法语（加拿大）"),
    ("ka", "Georgian", "格鲁吉亚语"),
    ("de", "German", "德语"),
    ("el", "Greek", "希腊语"),
    ("gu", "Gujarati", "古吉拉特语"),
    ("ht", "Haitian Creole", "海地克里奥尔语"),
    ("ha", "Hausa", "豪萨语"),
    ("he", "Hebrew", "希伯来语"),
    ("hi", "Hindi", "印地语"),
    ("hu", "Hungarian", "匈牙利语"),
    ("is", "Icelandic", "冰岛语"),
    ("id", "Indonesian", "印度尼西亚语"),
    ("ga", "Irish", "爱尔兰语"),
    ("it", "Italian", "意大利语"),
    ("ja", "Japanese", "日语"),
    ("kn", "Kannada", "卡纳达语"),
    ("kk", "Kazakh", "哈萨克语"),
    ("ko", "Korean", "韩语"),
    ("lv", "Latvian", "拉脱维亚语"),
    ("lt", "Lithuanian", "立陶宛语"),
    ("mk", "Macedonian", "马其顿语"),
    ("ms", "Malay", "马来语"),
    ("ml", "Malayalam", "马来亚拉姆语"),
    ("mt", "Maltese", "马耳他语"),
    ("mr", "Marathi", "马拉地语"),
    ("mn", "Mongolian", "蒙古语"),
    ("no", "Norwegian (Bokmål)", "挪威语（布克莫尔语）"),
    ("ps", "Pashto", "普什图语"),
    ("pl", "Polish", "波兰语"),
    ("pt", "Portuguese (Brazil)", "葡萄牙语（巴西）"),
    ("pt-PT", "Portuguese (Portugal)", "葡萄牙语（葡萄牙）"),
    ("pa", "Punjabi", "旁遮普语"),
    ("ro", "Romanian", "罗马尼亚语"),
    ("ru", "Russian", "俄语"),
    ("sr", "Serbian", "塞尔维亚语"),
    ("si", "Sinhala", "僧伽罗语"),
    ("sk", "Slovak", "斯洛伐克语"),
    ("sl", "Slovenian", "斯洛文尼亚语"),
    ("so", "Somali", "索马里语"),
    ("es", "Spanish", "西班牙语"),
    ("es-MX", "Spanish (Mexico)", "西班牙语（墨西哥）"),
    ("sw", "Swahili", "斯瓦希里语"),
    ("sv", "Swedish", "瑞典语"),
    ("ta", "Tamil", "泰米尔语"),
    ("te", "Telugu", "泰卢固语"),
    ("th", "Thai", "泰语"),
    ("tr", "Turkish", "土耳其语"),
    ("uk", "Ukrainian", "乌克兰语"),
    ("ur", "Urdu", "乌尔都语"),
    ("uz", "Uzbek", "乌兹别克语"),
    ("vi", "Vietnamese", "越南语"),
    ("cy", "Welsh", "威尔士语"),
];

pub fn is_supported(code: &str) -> bool {
    LANGUAGES.iter().any(|(c, _, _)| *c == code)
}

/// One language as a client lists it, named in the reader's language.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Language {
    pub code: &'static str,
    pub name: &'static str,
}

/// Every supported language, named in `display` (`zh`, else English).
pub fn languages(display: &str) -> Vec<Language> {
    LANGUAGES.iter().map(|(code, en, zh)| Language { code, name: if display == "zh" { zh } else { en } }).collect()
}

/// Why a pair is not translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairRefused {
    /// A code Amazon Translate does not know.
    Unsupported(String),
    /// G3: Traditional Chinese and Mongolian go only to and from Chinese.
    OnlyWithChinese(&'static str),
}

impl PairRefused {
    pub fn message(&self) -> String {
        match self {
            PairRefused::Unsupported(code) => format!("{code} is not a supported language"),
            PairRefused::OnlyWithChinese(code) => format!("{code} is translated only to and from Chinese (zh)"),
        }
    }
}

/// G3: languages translated only to and from Chinese (`zh`).
pub const ONLY_WITH_CHINESE: [&str; 2] = ["zh-TW", "mn"];

/// G3: may `source` be translated into `target`? Both must be supported;
/// `zh-TW` and `mn` pair only with `zh`.
pub fn check_pair(source: &str, target: &str) -> Result<(), PairRefused> {
    for code in [source, target] {
        if !is_supported(code) {
            return Err(PairRefused::Unsupported(code.to_string()));
        }
    }
    for restricted in ONLY_WITH_CHINESE {
        let other = if source == restricted {
            target
        } else if target == restricted {
            source
        } else {
            continue;
        };
        if other != "zh" && other != restricted {
            return Err(PairRefused::OnlyWithChinese(restricted));
        }
    }
    Ok(())
}

/// Why a text was not translated; the message it belongs to is stored and
/// delivered all the same, marked with this (`{"code", "message"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code", content = "message")]
pub enum TranslateError {
    /// G3: a pair Kefu or Amazon Translate does not translate.
    UnsupportedPair(String),
    /// A part still over the request limit (Amazon Translate said so), or a
    /// translation too long to deliver beside its original.
    TextTooLong(String),
    /// Amazon Translate throttled the request (after the SDK's retries).
    Throttled(String),
    /// Unavailable, failed, or slower than the timeout.
    Unavailable(String),
}

impl From<PairRefused> for TranslateError {
    fn from(refused: PairRefused) -> Self {
        TranslateError::UnsupportedPair(refused.message())
    }
}

/// A message's translation, made once when it was sent and stored with it:
/// from `source` (as detected, for a visitor's message) into `target`;
/// `text`, or why there is none (`error`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Translation {
    /// `None`: not detected (the request failed before it said).
    pub source: Option<String>,
    pub target: String,
    pub text: Option<String>,
    pub error: Option<TranslateError>,
}

impl Translation {
    /// Nothing to translate: the text is in the target language already.
    pub fn is_same_language(&self) -> bool {
        self.error.is_none() && self.source.as_deref() == Some(self.target.as_str())
    }
}

/// A translation longer than this is not delivered (a message's content is
/// at most 24 KB; with its translation it stays well inside API Gateway's
/// 128 KB push).
pub const MAX_TRANSLATION_BYTES: usize = 64 * 1024;

/// G2: how an agent's messages in one session reach the visitor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", try_from = "OutgoingWire")]
pub enum Outgoing {
    /// Into the visitor's language as last detected (none yet: as written).
    #[default]
    Auto,
    /// Into the language the agent picked.
    Manual { target: String },
    /// As written.
    Off,
}

/// `Outgoing` as a client writes it: `{"mode"}`, and `target` for `manual`
/// only (an internally tagged enum would let a stray field pass).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutgoingWire {
    mode: String,
    #[serde(default)]
    target: Option<String>,
}

impl TryFrom<OutgoingWire> for Outgoing {
    type Error = String;

    fn try_from(w: OutgoingWire) -> std::result::Result<Self, String> {
        match (w.mode.as_str(), w.target) {
            ("auto", None) => Ok(Outgoing::Auto),
            ("off", None) => Ok(Outgoing::Off),
            ("manual", Some(target)) => Ok(Outgoing::Manual { target }),
            ("manual", None) => Err("a manual mode names its target".into()),
            ("auto" | "off", Some(_)) => Err("only the manual mode has a target".into()),
            (other, _) => Err(format!("mode must be auto, manual or off, not {other:?}")),
        }
    }
}

impl Outgoing {
    /// A manual target must be a language Amazon Translate supports (whether
    /// it pairs with the writer's language is checked per message).
    pub fn validate(&self) -> Result<()> {
        match self {
            Outgoing::Manual { target } if !is_supported(target) => Err(Error::invalid(
                "unsupported_language",
                format!("{target:?} is not a supported language (see GET /languages)"),
            )),
            _ => Ok(()),
        }
    }
}

/// An agent's system language (G1): `zh` or `en`.
pub fn check_agent_language(code: &str) -> Result<()> {
    if AGENT_LANGUAGES.contains(&code) {
        Ok(())
    } else {
        Err(Error::invalid("unsupported_language", format!("language must be zh or en, not {code:?}")))
    }
}

/// One text to translate: from `source` (`None`: detect it, `auto`) into
/// `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub source: Option<String>,
    pub target: String,
}

/// G1: a visitor's text, into the receiving agent's language; the source is
/// detected. Nothing for an empty text.
pub fn incoming(text: &str, agent_language: &str) -> Option<Plan> {
    (!text.trim().is_empty()).then(|| Plan { source: None, target: agent_language.to_string() })
}

/// G2: an agent's text, written in its language, as the session's mode
/// says. Nothing for an empty text, with the mode off, in automatic mode
/// before the visitor's language is known, or when the target is the
/// language it is written in.
pub fn outgoing(text: &str, mode: &Outgoing, visitor_language: Option<&str>, agent_language: &str) -> Option<Plan> {
    let target = match mode {
        Outgoing::Off => return None,
        Outgoing::Auto => visitor_language?,
        Outgoing::Manual { target } => target.as_str(),
    };
    (!text.trim().is_empty() && target != agent_language)
        .then(|| Plan { source: Some(agent_language.to_string()), target: target.to_string() })
}

/// A text cut into parts of at most `max_bytes` of UTF-8 each, at sentence
/// ends (`。！？!?.` and line breaks, with what follows them up to the next
/// sentence) where it can be, else at white space, else between
/// characters. Joined, the parts are the text exactly.
pub fn split(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let window = floor_char_boundary(rest, max_bytes);
        let cut =
            last_break(&rest[..window], |c| matches!(c, '。' | '！' | '？' | '!' | '?' | '.' | '\n' | '；' | ';'))
                .or_else(|| last_break(&rest[..window], char::is_whitespace))
                .unwrap_or(window);
        let cut = if cut == 0 { window.max(rest.chars().next().map_or(1, char::len_utf8)) } else { cut };
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest);
    }
    parts
}

/// The byte offset just after the last character of `s` that is a break
/// (so the break stays with the sentence it ends).
fn last_break(s: &str, is_break: impl Fn(char) -> bool) -> Option<usize> {
    s.char_indices().rev().find(|(_, c)| is_break(*c)).map(|(i, c)| i + c.len_utf8())
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_amazon_translate_language_is_listed_once_with_both_names() {
        let mut codes: Vec<&str> = LANGUAGES.iter().map(|(c, _, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), LANGUAGES.len());
        assert!(AGENT_LANGUAGES.iter().all(|c| is_supported(c)));
        assert_eq!(languages("zh").iter().find(|l| l.code == "en").unwrap().name, "英语");
        assert_eq!(languages("en").iter().find(|l| l.code == "zh-TW").unwrap().name, "Chinese (Traditional)");
    }

    #[test]
    fn traditional_chinese_and_mongolian_pair_only_with_chinese() {
        assert!(check_pair("zh-TW", "zh").is_ok() && check_pair("zh", "mn").is_ok());
        assert_eq!(check_pair("zh-TW", "en"), Err(PairRefused::OnlyWithChinese("zh-TW")));
        assert_eq!(check_pair("en", "mn"), Err(PairRefused::OnlyWithChinese("mn")));
        assert_eq!(check_pair("mn", "zh-TW"), Err(PairRefused::OnlyWithChinese("zh-TW")));
        assert!(check_pair("fr", "en").is_ok() && check_pair("ja", "zh").is_ok());
        assert_eq!(check_pair("xx", "en"), Err(PairRefused::Unsupported("xx".into())));
    }

    #[test]
    fn visitors_texts_are_detected_and_agents_follow_the_session_mode() {
        let into = |t: &str| Some(Plan { source: None, target: t.into() });
        assert_eq!(incoming("bonjour", "zh"), into("zh"));
        assert_eq!(incoming(" \n ", "zh"), None, "empty after trimming");
        let from_en = |t: &str| Some(Plan { source: Some("en".into()), target: t.into() });
        assert_eq!(outgoing("hello", &Outgoing::Auto, Some("fr"), "en"), from_en("fr"));
        assert_eq!(outgoing("hello", &Outgoing::Auto, None, "en"), None, "language not known yet");
        assert_eq!(outgoing("hello", &Outgoing::Auto, Some("en"), "en"), None, "same language");
        let manual = Outgoing::Manual { target: "zh-TW".into() };
        assert_eq!(outgoing("hello", &manual, Some("fr"), "en"), from_en("zh-TW"), "the pick wins");
        assert_eq!(outgoing("hello", &Outgoing::Off, Some("fr"), "en"), None);
        assert_eq!(outgoing("  ", &manual, None, "en"), None);
    }

    #[test]
    fn modes_and_languages_parse_from_their_wire_form_and_are_checked() {
        let mode = |v: serde_json::Value| serde_json::from_value::<Outgoing>(v);
        assert_eq!(mode(serde_json::json!({"mode": "auto"})).unwrap(), Outgoing::Auto);
        let manual = mode(serde_json::json!({"mode": "manual", "target": "ja"})).unwrap();
        assert_eq!(manual, Outgoing::Manual { target: "ja".into() });
        assert!(manual.validate().is_ok());
        let bad = mode(serde_json::json!({"mode": "manual", "target": "xx"})).unwrap();
        assert_eq!(bad.validate().unwrap_err().code(), "unsupported_language");
        assert!(mode(serde_json::json!({"mode": "manual"})).is_err(), "a manual mode names its target");
        assert!(mode(serde_json::json!({"mode": "auto", "target": "ja"})).is_err());
        assert!(check_agent_language("en").is_ok() && check_agent_language("zh").is_ok());
        assert_eq!(check_agent_language("fr").unwrap_err().code(), "unsupported_language");
        let error = serde_json::to_value(TranslateError::Throttled("slow down".into())).unwrap();
        assert_eq!(error, serde_json::json!({"code": "throttled", "message": "slow down"}));
    }

    #[test]
    fn a_long_text_is_cut_at_sentence_ends_within_the_request_limit() {
        // 5,000 Chinese characters are 15,000 bytes: more than one request.
        let sentence = "您好，您的订单已经发货，预计三天内送达。";
        let text = sentence.repeat(5_000 / sentence.chars().count() + 1);
        let parts = split(&text, MAX_REQUEST_BYTES);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.len() <= MAX_REQUEST_BYTES && !p.is_empty()));
        assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with('。')), "cut after a sentence");
        assert_eq!(parts.concat(), text);
        // No sentence end: at white space; none either: between characters.
        assert_eq!(split("aaa bbb ccc", 8), ["aaa bbb ", "ccc"]);
        assert_eq!(split("字字字字", 7), ["字字", "字字"]);
        assert_eq!(split("short", 10), ["short"]);
        assert_eq!(split("", 10), [""]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any text, any limit from one 4-byte character up: the parts
            /// join back to the text exactly, none is empty, none is over
            /// the limit.
            #[test]
            fn a_text_splits_into_parts_that_join_back_exactly(text in "(\\PC|[。！？.!? \\n]){0,300}", max in 4usize..64) {
                let parts = split(&text, max);
                prop_assert_eq!(parts.concat(), text.clone());
                prop_assert!(parts.iter().all(|p| p.len() <= max));
                prop_assert!(text.is_empty() || parts.iter().all(|p| !p.is_empty()));
            }
        }
    }
}
