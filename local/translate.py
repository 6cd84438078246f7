"""A local stand-in for Amazon Translate's `TranslateText` — an emulator,
not a translator. It speaks the service's real protocol (JSON 1.1, target
`AWSShineFrontendService_20170701.TranslateText`) so the SDK reaches it
unchanged through `AWS_ENDPOINT_URL_TRANSLATE`, and answers with a visibly
marked pseudo-translation: `[<target>] <text>`. With source `auto` it
detects a few languages by script (Han: zh, or zh-TW with a common
traditional-only character; kana: ja, Hangul: ko, Cyrillic: ru, Arabic: ar,
Thai: th; Latin with a French or Spanish marker word: fr, es; otherwise en).
A text already in the target language comes back as it is.

It enforces what the real service does that Kefu must handle: the 10,000
byte request limit (`TextSizeLimitExceededException`), known language
codes (`UnsupportedLanguagePairException`), and on demand it fails
(`ServiceUnavailableException`) or throttles (`TooManyRequestsException`)
the next requests. It records the requests it served, so tests can check
that what reaches it is exactly what Amazon Translate expects.
"""

import json
import threading

from aiohttp import web

TARGET = "AWSShineFrontendService_20170701.TranslateText"
MAX_BYTES = 10_000

# Amazon Translate's language codes (as shared/src/domain/translation.rs).
LANGUAGES = {
    "af", "sq", "am", "ar", "hy", "az", "bn", "bs", "bg", "ca", "zh", "zh-TW", "hr", "cs", "da", "fa-AF", "nl",
    "en", "et", "fa", "tl", "fi", "fr", "fr-CA", "ka", "de", "el", "gu", "ht", "ha", "he", "hi", "hu", "is", "id",
    "ga", "it", "ja", "kn", "kk", "ko", "lv", "lt", "mk", "ms", "ml", "mt", "mr", "mn", "no", "ps", "pl", "pt",
    "pt-PT", "pa", "ro", "ru", "sr", "si", "sk", "sl", "so", "es", "es-MX", "sw", "sv", "ta", "te", "th", "tr",
    "uk", "ur", "uz", "vi", "cy",
}

SCRIPTS = [
    ("ja", (0x3040, 0x30FF)),   # kana before Han: Japanese uses both
    ("ko", (0xAC00, 0xD7AF)),
    ("zh", (0x4E00, 0x9FFF)),
    ("ru", (0x0400, 0x04FF)),
    ("ar", (0x0600, 0x06FF)),
    ("th", (0x0E00, 0x0E7F)),
]


# Common characters written only in Traditional Chinese.
TRADITIONAL = set("們這個為說嗎謝請問麼國會來時對點還過從裡後當體發經頭見現開關東車門書長無")
MARKERS = {"fr": {"bonjour", "merci", "où", "est", "mon", "je", "vous"},
           "es": {"hola", "gracias", "dónde", "está", "mi", "usted"}}


def detect(text):
    for code, (lo, hi) in SCRIPTS:
        if any(lo <= ord(c) <= hi for c in text):
            if code == "zh" and any(c in TRADITIONAL for c in text):
                return "zh-TW"
            return code
    words = {w.strip(".,!?¿¡;:").lower() for w in text.split()}
    for code, marker in MARKERS.items():
        if words & marker:
            return code
    return "en"


class Emulator:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []      # what it was asked, newest last (at most 200)
        self.fail = 0           # the next this many requests: ServiceUnavailable
        self.throttle = 0       # … then this many: TooManyRequests
        self.served = 0

    def report(self):
        with self.lock:
            return {"served": self.served, "fail": self.fail, "throttle": self.throttle,
                    "requests": list(self.requests)}

    def control(self, change):
        """`{"fail": n, "throttle": n, "reset": true}`."""
        with self.lock:
            if change.get("reset"):
                self.requests.clear()
            self.fail = int(change.get("fail", self.fail))
            self.throttle = int(change.get("throttle", self.throttle))

    def answer(self, headers, raw):
        """(status, body dict, error type or None) for one TranslateText call."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"message": "the body is not JSON"}, "SerializationException"
        with self.lock:
            self.served += 1
            self.requests.append({
                "target": headers.get("X-Amz-Target"),
                "contentType": headers.get("Content-Type"),
                "body": body,
            })
            del self.requests[:-200]
            if self.fail > 0:
                self.fail -= 1
                return 503, {"Message": "the emulator was told to fail"}, "ServiceUnavailableException"
            if self.throttle > 0:
                self.throttle -= 1
                return 400, {"Message": "the emulator was told to throttle"}, "TooManyRequestsException"
        text = body.get("Text")
        source, target = body.get("SourceLanguageCode"), body.get("TargetLanguageCode")
        if not isinstance(text, str) or not isinstance(source, str) or not isinstance(target, str):
            return 400, {"Message": "Text, SourceLanguageCode and TargetLanguageCode are required"}, "InvalidRequestException"
        if len(text.encode()) > MAX_BYTES:
            return 400, {"Message": f"Input text size exceeds limit. Max length of request text allowed is {MAX_BYTES} bytes"}, \
                "TextSizeLimitExceededException"
        detected = detect(text) if source == "auto" else source
        if detected not in LANGUAGES or target not in LANGUAGES:
            return 400, {"Message": f"Unsupported language pair: {detected} to {target}",
                         "SourceLanguageCode": detected, "TargetLanguageCode": target}, "UnsupportedLanguagePairException"
        translated = text if detected == target else f"[{target}] {text}"
        return 200, {"TranslatedText": translated, "SourceLanguageCode": detected, "TargetLanguageCode": target}, None


def routes(app, grants, iam):
    """TranslateText on `POST /` of `app` (the SDK's endpoint is the server's
    root), held to each function's role (translate:TranslateText, and
    comprehend:DetectDominantLanguage for `auto`); `GET`/`POST
    /_kefu/translate` reports and controls the emulator."""
    emulator = Emulator()

    async def translate_text(request):
        if request.headers.get("X-Amz-Target") != TARGET:
            return error(400, "UnknownOperationException", f"unknown target {request.headers.get('X-Amz-Target')!r}")
        raw = await request.read()
        try:
            auto = json.loads(raw or b"{}").get("SourceLanguageCode") == "auto"
        except (ValueError, AttributeError):
            auto = False
        who = iam.identity(request.headers.get("User-Agent"))
        needs = [("translate", "TranslateText")] + ([("comprehend", "DetectDominantLanguage")] if auto else [])
        for service, action in needs:
            if grants.check(who, service, [action], request.headers.get("User-Agent")) is not None:
                return error(400, "AccessDeniedException",
                             f"User: {iam.role_arn(who)} is not authorized to perform: {service}:{action}")
        status, body, kind = emulator.answer(request.headers, raw)
        if kind:
            return error(status, kind, body.pop("Message", body.get("message", "")), body)
        return web.json_response(body, content_type="application/x-amz-json-1.1")

    async def control(request):
        if request.method == "POST":
            emulator.control(await request.json())
        return web.json_response(emulator.report())

    app.router.add_post("/", translate_text)
    app.router.add_get("/_kefu/translate", control)
    app.router.add_post("/_kefu/translate", control)
    return emulator


def error(status, kind, message, extra=None):
    body = {"__type": f"com.amazonaws.translate#{kind}", "Message": message, **(extra or {})}
    return web.Response(status=status, text=json.dumps(body), content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-ErrorType": kind})
