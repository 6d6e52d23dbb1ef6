"""The exact payloads of the API documentation (../shared/seeds/001_*.txt).

Kept verbatim, quirks included: the non-streamed result says
``"object": "chat.completion.chunk"`` and carries ``"recipient": "all"``; the
stream's first delta carries only the role; the finish chunk puts
``finish_reason`` (and ``index``) *inside* ``delta``.
"""

from __future__ import annotations

from typing import Any

API_KEY = "sk-fake-threadline"

BASIC_RESULT: dict[str, Any] = {
    "id": "chatcmpl-9k1idCCQuteN6Zu7Kv35TrG6DHKNt",
    "object": "chat.completion.chunk",
    "created": 1720756723,
    "model": "gpt-4",
    "system_fingerprint": "fp_abc28019ad",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I assist you today?"},
            "finish_reason": "stop",
        }
    ],
    "recipient": "all",
    "usage": {"prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17},
}

_STREAM_ID = "chatcmpl-YzczYjVhNjhjMzMwNDQ5MDkyNGYzOGZjZGE1ZGQ5OGU"
STREAM_TOKENS = ["Hi", " there", "!", " How", " can", " I", " assist", " you", " today", "?"]


def _chunk(delta: dict[str, Any], created: int = 1721007348, **choice: Any) -> dict[str, Any]:
    return {
        "choices": [{"delta": delta, **choice}],
        "created": created,
        "id": _STREAM_ID,
        "model": "gpt-4",
        "object": "chat.completion.chunk",
        "recipient": "all",
    }


STREAM_CHUNKS: list[dict[str, Any]] = [
    _chunk({"role": "assistant"}, index=0),
    *[_chunk({"content": token, "role": "assistant"}, index=0) for token in STREAM_TOKENS],
    _chunk({"role": "assistant"}, index=0),
    _chunk({"role": "assistant", "finish_reason": "stop", "index": 0}, created=1721007349),
]

MULTI_TURN_MESSAGES = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi! How can I assist you today?"},
    {"role": "user", "content": "What I say just now?"},
]

MULTI_TURN_RESULT: dict[str, Any] = {
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": 'You said, "Hello."'},
            "finish_reason": "stop",
        }
    ],
    "created": 1721323012,
    "id": "chatcmpl-NWZmOTA5MDlkZjBjNDRjNGEwMzRjYzA5NmM1MzQwMWY",
    "model": "gpt-4",
    "object": "chat.completion.chunk",
    "recipient": "all",
    "usage": {"prompt_tokens": 31, "completion_tokens": 6, "total_tokens": 37},
}

VISION_RESULT: dict[str, Any] = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1677652288,
    "model": "gpt-4-vision-preview",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "\n\n这张图片展示了一条木栈道延伸穿过郁郁葱葱的沼泽地。",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
}

IMAGE_CONTENT = (
    '{\n  "prompt": "一位长发黑发的年轻女性穿着白色连衣裙，站在风景如画的户外环境中。'
    "图像采用吉卜力动画风格，色彩柔和，细节精致。她戴着一顶可爱时尚的帽子，面带温暖而愉快的微笑。"
    '背景展示了郁郁葱葱的绿色植物和宁静的氛围，阳光透过树木洒下。",\n  "size": "1024x1024"\n}\n\n\n'
    "![file-96TSnzJ6MipkZwCmmYEZSA](https://filesystem.site/cdn/20250412/"
    "s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp)\n"
    "[下载⏬](https://filesystem.site/cdn/download/20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp)"
    "\n\n这是以吉卜力风格创作的图像，展示了一位穿着白色连衣裙和时尚帽子的年轻女性，"
    "置身于风景如画的户外环境中。柔和温暖的氛围通过细腻的细节和生动的色彩得以体现。"
)

# Where the seed's image links point; the fake serves them itself (``/cdn/...``).
IMAGE_HOST = "https://filesystem.site"

# A real 1x1 PNG (what the fake serves for every generated image link).
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)

IMAGE_RESULT: dict[str, Any] = {
    "id": "chatcmpl-89CXTr5EHi7WgiO3qSzWxvmqwfryP",
    "object": "chat.completion.chunk",
    "model": "gpt-4o-image",
    "created": 1744395060,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": IMAGE_CONTENT},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 70, "completion_tokens": 17, "total_tokens": 87},
}

# The documented error body (错误响应示例) and the documented codes (错误处理).
ERROR_TRACE_ID = "2cf86e86-22a4-46e1-ac2f-032c0f2a4e89"
DOCUMENTED_ERRORS: dict[str, tuple[int, str]] = {
    "token_mismatched": (400, "错误请求,可能是由于缺少或无效的参数。"),
    "api_not_implemented": (400, "错误请求,可能是由于缺少或无效的参数。"),
    "invalid_token": (401, "未授权,授权令牌无效或缺失。"),
    "too_many_requests": (429, "请求过多,您已超出速率限制。"),
    "api_error": (500, "fetch failed"),
}


def error_body(code: str, message: str, trace_id: str = ERROR_TRACE_ID) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message}, "trace_id": trace_id}
