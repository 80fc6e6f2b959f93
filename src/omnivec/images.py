"""Safe image loading shared by ingest and every vision encoder.

Pillow's decompression-bomb guard is set deliberately (not left to a global default someone else
changed), and odd modes (CMYK, 16-bit, palette, alpha, animated) become plain RGB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnivec.errors import InputError, require

MAX_PIXELS = 64_000_000  # ~8000x8000: far above any screenshot, far below a bomb's gigapixels


def pil() -> Any:
    return require("PIL.Image", "vision", "reading images")


def open_rgb(source: Any, max_pixels: int = MAX_PIXELS) -> Any:
    """Open a path or PIL image as RGB; first frame of animations; alpha composited on white."""
    image_mod = pil()
    if isinstance(source, image_mod.Image):
        img = source
    else:
        img = open_image(Path(source), max_pixels)
    w, h = img.size
    if w == 0 or h == 0:
        raise InputError(
            f"image {_name(source)} of size {w}x{h}", "a non-empty image", "skip or re-export it"
        )
    if w * h > max_pixels:
        raise InputError(
            f"image {_name(source)} of {w}x{h} pixels", f"at most {max_pixels} pixels", "downscale it first"
        )
    return to_rgb(img)


def open_image(path: Path, max_pixels: int = MAX_PIXELS) -> Any:
    """Open and decode (first frame), keeping the file's own mode; size-checked before decoding."""
    image_mod = pil()
    try:
        img = image_mod.open(path)
        # compare against our own bound rather than Pillow's process-wide MAX_IMAGE_PIXELS
        if img.size[0] * img.size[1] > max_pixels:
            raise InputError(
                f"image {path} of {img.size[0]}x{img.size[1]} pixels",
                f"at most {max_pixels} pixels",
                "downscale it first",
            )
        img.seek(0)
        img.load()
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise InputError(
            received=f"image {path}: {type(exc).__name__}: {exc}",
            expected="a readable png, jpeg, webp, gif, bmp or tiff file",
            fix="re-export the file or exclude it",
        ) from exc
    return img


def to_rgb(img: Any) -> Any:
    image_mod = pil()
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits instead of clipping everything to white
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() or 1.0
        img = image_mod.fromarray((arr / top * 255).astype("uint8"), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = image_mod.new("RGBA", rgba.size, (255, 255, 255, 255))
        return image_mod.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def _name(source: Any) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>"
