"""The terminal: `threadline chat`, its image flags, and the stored-thread
commands (`threadline threads`, `history`)."""

from __future__ import annotations


def chat_banner(thread: str, model: str | None) -> str:
    using = f" with {model}" if model else ""
    return f"threadline chat: thread {thread!r}{using}. /help lists the commands; /exit (or Ctrl-D) leaves."


def chat_speaker(role: str) -> str:
    return "you" if role == "user" else "threadline" if role == "assistant" else role


def chat_help() -> str:
    return (
        "Commands:\n"
        "  /help   this list\n"
        "  /exit   leave (Ctrl-D too)\n"
        "Ctrl-C while an answer streams stops it; Ctrl-C at the prompt leaves.\n"
        "The thread is kept: `threadline chat --thread NAME` resumes it, "
        "`threadline history --thread NAME` prints it."
    )


def chat_unknown(command: str) -> str:
    return f"{command} is not a chat command; /help lists them."


def chat_answer_stopped() -> str:
    return "(Answer stopped. Ctrl-C again leaves.)"


def image_saved(path: str) -> str:
    return f"🖼️ Saved the image to {path}"


def unsupported_image(name: str) -> str:
    return f"{name} is not an image threadline can send; use PNG, JPEG, WebP or GIF."


def unreadable_file(name: str, reason: str) -> str:
    return f"Could not read {name} ({reason}); check the path and try again."


def unknown_thread(name: str) -> str:
    return f"No thread {name!r} is stored; `threadline threads` lists the stored ones."


def no_threads_stored() -> str:
    return "No conversations are stored yet."
