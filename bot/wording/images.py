"""Images in and out: limits, vision routing, uploads and downloads of links."""

from __future__ import annotations


def _mib(limit: int) -> str:
    if limit < 1024 * 1024:
        return f"{limit:,} bytes"
    return f"{limit / (1024 * 1024):g} MiB"


def image_too_large(name: str, limit: int) -> str:
    return f"{name} is larger than {_mib(limit)}; send a smaller or more compressed image."


def image_format_unsupported(name: str) -> str:
    return f"{name} is not a PNG, JPEG, WebP or GIF image; convert it to one of those and send it again."


def too_many_images(count: int, limit: int) -> str:
    return f"That message has {count} images and threadline reads at most {limit}; send them in smaller groups."


def image_model_needs_image(model: str) -> str:
    return f"{model} changes an existing image and this thread has none yet; attach an image and ask again."


def image_for_vision(model: str) -> str:
    return f"{model} cannot read images"


def image_upload_failed(count: int) -> str:
    if count == 1:
        return "⚠️ The image could not be posted here, so its link is left in the answer."
    return f"⚠️ {count} images could not be posted here, so their links are left in the answer."


def fetch_refused_scheme(url: str) -> str:
    return f"threadline only downloads http and https links, not {url[:60]}; share the image another way."


def fetch_refused_address(host: str) -> str:
    return f"threadline does not download from the private address {host}; share a public link instead."


def fetch_failed(reason: str) -> str:
    return f"The image could not be downloaded ({reason}); try again or share it another way."
