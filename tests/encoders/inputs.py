"""Test inputs shared by the family tests and the contract suite: pictures, shapes, text pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

#: code of several shapes and lengths, a one-character text among them
CODE = [
    "def add(a, b): return a + b",
    "class Stack: def push(self, x): self.items.append(x)",
    "SELECT name FROM users WHERE id = 1;",
    "print('hello world')\n" * 12,
    "x",
]


def picture(seed: int, size: tuple[int, int] = (40, 56), mode: str = "RGB") -> Any:
    """Random pixels of `size` (width, height): nothing a classifier or OCR could read."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB").convert(mode)


def shape_image(kind: str, colour: str, size: int = 160) -> Any:
    """A filled circle or square on white, which an ImageNet classifier reads as something."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    box = (size // 5, size // 5, size * 4 // 5, size * 4 // 5)
    (draw.ellipse if kind == "circle" else draw.rectangle)(box, fill=colour)
    return img


def draw_page(lines: list[str], size: tuple[int, int] = (900, 320)) -> tuple[Any, dict[str, tuple]]:
    """A white page with black text; returns the image and each word's drawn box."""
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.is_file():
        pytest.skip("apt-get install fonts-dejavu-core")
    font = ImageFont.truetype(str(FONT), 30)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    boxes = {}
    for row, line in enumerate(lines):
        x, y = 40, 40 + row * 80
        for word in line.split():
            boxes[word] = draw.textbbox((x, y), word, font=font)
            draw.text((x, y), word, font=font, fill="black")
            x = boxes[word][2] + 12
    return img, boxes
