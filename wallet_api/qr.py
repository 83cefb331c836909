"""QR images (checkout, cards, invites): SVG through qrcode's SVG factory, PNG encoded here
from qrcode's module matrix (zlib + the PNG chunk format), so no imaging library is needed."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import qrcode
import qrcode.image.svg


def _qr(payload: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(payload)
    code.make(fit=True)
    return code


def svg(payload: str) -> str:
    """A standalone SVG document of the QR (scales to any size; prints sharp)."""
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, border=4)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def svg_element(payload: str) -> str:
    """An ``<svg>`` element of the QR, without an XML declaration, to place in a page."""
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    svg: bytes | str = image.to_string(encoding="unicode")
    return svg.decode() if isinstance(svg, bytes) else svg


def png(payload: str, scale: int = 8) -> bytes:
    """A black-on-white PNG of the QR, ``scale`` pixels per module."""
    matrix = _qr(payload).get_matrix()
    size = len(matrix) * scale
    rows = bytearray()
    for row in matrix:
        line = bytearray([0])  # filter type 0
        for dark in row:
            line.extend((0 if dark else 255,) * scale)
        rows.extend(bytes(line) * scale)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def png_data_url(payload: str) -> str:
    return "data:image/png;base64," + base64.b64encode(png(payload)).decode()
