//! Messages (C2, C3): the types, who may send which, and their limits.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// API Gateway's WebSocket limits are 128 KB a message and 32 KB a frame. A
/// message's content is kept well inside one frame, so it can be pushed with
/// its envelope (ids, sequence number, session summary) and still fit.
pub const MAX_CONTENT_BYTES: usize = 24 * 1024;
pub const MAX_TEXT_CHARS: usize = 5_000;
/// C2: voice messages from agents are at most 60 seconds.
pub const MAX_VOICE_SECS: f64 = 60.0;
const MAX_URL: usize = 2_048;

/// C2. Visitors send every type; agents send text, image, file, video, voice
/// (to `app` visitors only) and rich.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
    },
    Voice {
        url: String,
        /// Seconds.
        duration: f64,
    },
    Video {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail: Option<String>,
    },
    File {
        url: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// 图文: title, description, link (optional: a knowledge entry sent is
    /// its title and content only) and thumbnail.
    Rich {
        title: String,
        #[serde(default)]
        description: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail: Option<String>,
    },
    /// Anything the tenant's own clients agree on.
    Custom {
        payload: serde_json::Value,
    },
    /// C5: what those who may not read a recalled message see in its place.
    /// Nobody sends it.
    Recalled {},
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderKind {
    Visitor,
    Agent,
    System,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    pub kind: SenderKind,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub session_id: String,
    /// C3: strictly increasing within the session.
    pub seq: u64,
    /// C3: the sender's id for this message; resending it never duplicates.
    pub client_msg_id: String,
    pub sender: Sender,
    pub content: Content,
    pub created_at: i64,
    /// C5: when its agent recalled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalled_at: Option<i64>,
    /// G1/G2: its translation, made once as it was sent (`null`: none was
    /// needed).
    #[serde(default)]
    pub translation: Option<super::translation::Translation>,
}

/// C5: an agent recalls its own message within this long of sending it.
pub const RECALL_WINDOW_MS: i64 = 120_000;

impl Message {
    /// C5: `by` may recall this message at `now_ms`: it is that agent's own,
    /// sent at most `RECALL_WINDOW_MS` ago.
    pub fn check_recall(&self, by: &str, now_ms: i64) -> Result<()> {
        if self.sender.kind != SenderKind::Agent || self.sender.id != by {
            return Err(Error::conflict("not_your_message", "only the agent who sent a message may recall it"));
        }
        if now_ms - self.created_at > RECALL_WINDOW_MS {
            return Err(Error::conflict(
                "recall_window_passed",
                "a message can be recalled for 2 minutes after sending",
            ));
        }
        Ok(())
    }

    /// As shown to whoever may not read a recalled message (everyone but
    /// admins): its content withheld.
    pub fn withheld(&self) -> Message {
        match self.recalled_at {
            Some(_) => Message { content: Content::Recalled {}, translation: None, ..self.clone() },
            None => self.clone(),
        }
    }
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::Voice { .. } => "voice",
            Content::Video { .. } => "video",
            Content::File { .. } => "file",
            Content::Location { .. } => "location",
            Content::Rich { .. } => "rich",
            Content::Custom { .. } => "custom",
            Content::Recalled {} => "recalled",
        }
    }

    /// A short preview for the in-progress list (C1).
    pub fn preview(&self) -> String {
        match self {
            Content::Text { text } => text.chars().take(80).collect(),
            Content::Rich { title, .. } => {
                format!("[rich] {}", title.chars().take(60).collect::<String>())
            }
            Content::File { name, .. } => {
                format!("[file] {}", name.chars().take(60).collect::<String>())
            }
            other => format!("[{}]", other.kind()),
        }
    }

    /// C2: is this content acceptable from `sender` in a session on `channel`?
    pub fn validate(&self, sender: SenderKind, channel: &str) -> Result<()> {
        if sender == SenderKind::Agent && matches!(self, Content::Location { .. } | Content::Custom { .. }) {
            return Err(Error::invalid(
                "unsupported_message_type",
                format!("agents cannot send {} messages", self.kind()),
            ));
        }
        match self {
            Content::Text { text } => {
                if text.trim().is_empty() {
                    return Err(Error::invalid("invalid_message", "text must not be empty"));
                }
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(Error::invalid(
                        "text_too_long",
                        format!("text is limited to {MAX_TEXT_CHARS} characters"),
                    ));
                }
            }
            Content::Image { url, .. } => check_url("url", url)?,
            Content::Voice { url, duration } => {
                check_url("url", url)?;
                if !(duration.is_finite() && *duration > 0.0) {
                    return Err(Error::invalid(
                        "invalid_message",
                        "voice duration must be a positive number of seconds",
                    ));
                }
                if sender == SenderKind::Agent {
                    if channel != "app" {
                        return Err(Error::invalid(
                            "voice_not_supported",
                            "voice messages can only be sent to visitors on the app channel",
                        ));
                    }
                    if *duration > MAX_VOICE_SECS {
                        return Err(Error::invalid("voice_too_long", "voice messages are limited to 60 seconds"));
                    }
                }
            }
            Content::Video { url, duration, thumbnail } => {
                check_url("url", url)?;
                if let Some(t) = thumbnail {
                    check_url("thumbnail", t)?;
                }
                if duration.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
                    return Err(Error::invalid("invalid_message", "video duration must be a number of seconds"));
                }
            }
            Content::File { url, name, mime_type, .. } => {
                check_url("url", url)?;
                check_len("name", name, 1, 255)?;
                if let Some(m) = mime_type {
                    check_len("mimeType", m, 1, 127)?;
                }
            }
            Content::Location { latitude, longitude, address } => {
                if !((-90.0..=90.0).contains(latitude) && (-180.0..=180.0).contains(longitude)) {
                    return Err(Error::invalid(
                        "invalid_message",
                        "latitude must be within ±90 and longitude within ±180",
                    ));
                }
                if let Some(a) = address {
                    check_len("address", a, 0, 500)?;
                }
            }
            Content::Rich { title, description, url, thumbnail } => {
                check_len("title", title, 1, 200)?;
                check_len("description", description, 0, 2_000)?;
                if !url.is_empty() {
                    check_url("url", url)?;
                }
                if let Some(t) = thumbnail {
                    check_url("thumbnail", t)?;
                }
            }
            Content::Custom { payload } => {
                if payload.is_null() {
                    return Err(Error::invalid("invalid_message", "custom messages need a payload"));
                }
            }
            Content::Recalled {} => {
                return Err(Error::invalid("unsupported_message_type", "nobody sends recalled messages"));
            }
        }
        let size = serde_json::to_vec(self).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_CONTENT_BYTES {
            return Err(Error::too_large(
                "message_too_large",
                format!("message content is {size} bytes; the limit is {MAX_CONTENT_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

fn check_url(field: &str, url: &str) -> Result<()> {
    let ok = url.starts_with("https://") && url.len() <= MAX_URL && !url.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_message",
            format!("{field} must be an https:// URL of at most {MAX_URL} characters"),
        ))
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.trim().chars().count();
    if n < min || value.chars().count() > max {
        return Err(Error::invalid("invalid_message", format!("{field} must be {min}-{max} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_its_agent_recalls_a_message_and_only_for_two_minutes() {
        let m = Message {
            session_id: "s".into(),
            seq: 1,
            client_msg_id: "c".into(),
            sender: Sender { kind: SenderKind::Agent, id: "a1".into() },
            content: Content::Text { text: "oops".into() },
            created_at: 1_000,
            recalled_at: None,
            translation: Some(super::super::translation::Translation {
                source: Some("en".into()),
                target: "fr".into(),
                text: Some("oups".into()),
                error: None,
            }),
        };
        assert!(m.check_recall("a1", 1_000 + RECALL_WINDOW_MS).is_ok());
        assert_eq!(m.check_recall("a1", 1_001 + RECALL_WINDOW_MS).unwrap_err().code(), "recall_window_passed");
        assert_eq!(m.check_recall("a2", 1_000).unwrap_err().code(), "not_your_message");
        let visitors = Message { sender: Sender { kind: SenderKind::Visitor, id: "a1".into() }, ..m.clone() };
        assert_eq!(visitors.check_recall("a1", 1_000).unwrap_err().code(), "not_your_message");
        assert_eq!(m.withheld(), m, "nothing withheld before a recall");
        let recalled = Message { recalled_at: Some(2_000), ..m };
        assert_eq!(recalled.withheld().content, Content::Recalled {});
        assert_eq!(recalled.withheld().translation, None, "nor its translation");
        assert_eq!(recalled.withheld().recalled_at, Some(2_000));
        assert_eq!(
            Content::Recalled {}.validate(SenderKind::Agent, "web").unwrap_err().code(),
            "unsupported_message_type"
        );
    }

    fn content(v: serde_json::Value) -> Content {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_type_parses_from_its_wire_form() {
        for v in [
            json!({"type": "text", "text": "你好"}),
            json!({"type": "image", "url": "https://x/i.png", "width": 10}),
            json!({"type": "voice", "url": "https://x/v.amr", "duration": 12.5}),
            json!({"type": "video", "url": "https://x/v.mp4"}),
            json!({"type": "file", "url": "https://x/f.pdf", "name": "f.pdf", "size": 10}),
            json!({"type": "location", "latitude": 31.2, "longitude": 121.5, "address": "上海"}),
            json!({"type": "rich", "title": "T", "description": "D", "url": "https://x", "thumbnail": "https://x/t.png"}),
            json!({"type": "custom", "payload": {"order": 42}}),
        ] {
            let c = content(v.clone());
            assert!(c.validate(SenderKind::Visitor, "web").is_ok(), "{v}");
            assert_eq!(serde_json::to_value(&c).unwrap(), v, "round trip");
        }
    }

    #[test]
    fn unknown_types_and_fields_do_not_parse() {
        assert!(serde_json::from_value::<Content>(json!({"type": "sticker", "id": 1})).is_err());
        assert!(serde_json::from_value::<Content>(json!({"type": "text"})).is_err());
        assert!(serde_json::from_value::<Content>(json!({"type": "text", "text": 5})).is_err());
    }

    #[test]
    fn agents_send_only_their_types() {
        let loc = content(json!({"type": "location", "latitude": 1.0, "longitude": 2.0}));
        assert_eq!(loc.validate(SenderKind::Agent, "web").unwrap_err().code(), "unsupported_message_type");
        let custom = content(json!({"type": "custom", "payload": 1}));
        assert!(custom.validate(SenderKind::Agent, "web").is_err());
    }

    #[test]
    fn agent_voice_only_to_app_and_at_most_sixty_seconds() {
        let voice = |d: f64| content(json!({"type": "voice", "url": "https://x/v", "duration": d}));
        assert!(voice(60.0).validate(SenderKind::Agent, "app").is_ok());
        assert_eq!(voice(60.5).validate(SenderKind::Agent, "app").unwrap_err().code(), "voice_too_long");
        assert_eq!(voice(5.0).validate(SenderKind::Agent, "web").unwrap_err().code(), "voice_not_supported");
        assert!(voice(90.0).validate(SenderKind::Visitor, "web").is_ok(), "visitors' voice is received as sent");
    }

    #[test]
    fn bad_content_gets_a_clear_code() {
        let cases = [
            (json!({"type": "text", "text": "   "}), "invalid_message"),
            (json!({"type": "text", "text": "x".repeat(MAX_TEXT_CHARS + 1)}), "text_too_long"),
            (json!({"type": "image", "url": "javascript:alert(1)"}), "invalid_message"),
            (json!({"type": "location", "latitude": 91.0, "longitude": 0.0}), "invalid_message"),
            (json!({"type": "rich", "title": "", "url": "https://x"}), "invalid_message"),
            (json!({"type": "custom", "payload": "x".repeat(MAX_CONTENT_BYTES)}), "message_too_large"),
        ];
        for (v, code) in cases {
            assert_eq!(content(v.clone()).validate(SenderKind::Visitor, "web").unwrap_err().code(), code, "{v}");
        }
    }

    #[test]
    fn previews_are_short() {
        let c = content(json!({"type": "text", "text": "y".repeat(500)}));
        assert_eq!(c.preview().chars().count(), 80);
        assert_eq!(content(json!({"type": "image", "url": "https://x"})).preview(), "[image]");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn field() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                "\\PC{0,40}".prop_map(serde_json::Value::from),
                prop_oneof![Just("https://x.test/a.png"), Just("http://x"), Just("https://"), Just("")]
                    .prop_map(serde_json::Value::from),
                Just(serde_json::json!({"nested": [1, 2]})),
            ]
        }

        /// Content as a client might send it: a known or unknown type with
        /// known and stray fields of any JSON type.
        fn content() -> impl Strategy<Value = serde_json::Value> {
            let types = prop_oneof![
                Just("text"),
                Just("image"),
                Just("voice"),
                Just("video"),
                Just("file"),
                Just("location"),
                Just("rich"),
                Just("custom"),
                Just("recalled"),
                Just("canned"),
                Just("nope"),
            ];
            let names = prop_oneof![
                Just("text"),
                Just("url"),
                Just("duration"),
                Just("name"),
                Just("size"),
                Just("latitude"),
                Just("longitude"),
                Just("title"),
                Just("description"),
                Just("payload"),
                Just("width"),
                Just("extra"),
            ];
            (types, prop::collection::btree_map(names, field(), 0..5)).prop_map(|(t, fields)| {
                let mut m: serde_json::Map<String, serde_json::Value> =
                    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                m.insert("type".into(), t.into());
                serde_json::Value::Object(m)
            })
        }

        const CODES: [&str; 6] = [
            "invalid_message",
            "text_too_long",
            "unsupported_message_type",
            "voice_not_supported",
            "voice_too_long",
            "message_too_large",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            /// Parsing and validating any content never panics; what is
            /// refused gets one of the documented codes, for either sender
            /// and any channel.
            #[test]
            fn any_content_is_accepted_or_refused_clearly(v in content(), channel in prop_oneof![Just("web"), Just("app"), Just("")]) {
                if let Ok(c) = serde_json::from_value::<Content>(v) {
                    for kind in [SenderKind::Visitor, SenderKind::Agent] {
                        if let Err(e) = c.validate(kind, channel) {
                            prop_assert!(CODES.contains(&e.code()), "{}", e.code());
                        }
                    }
                    let _ = c.preview();
                }
            }
        }
    }
}
