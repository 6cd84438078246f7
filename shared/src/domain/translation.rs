//! G1–G3: the languages Kefu translates between (every language Amazon
//! Translate supports), which pairs are allowed, and how a long text is cut
//! into requests Amazon Translate accepts.

use serde::Serialize;

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
}
