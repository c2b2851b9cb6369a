"""Reads TensorBoard event files independently of gan: the record framing and its masked CRC32C by hand
(a CRC checker of its own, checked against the standard check value), each Event with Google's protobuf
and classes that protoc generated from TensorBoard's own .proto files (test/proto/).

usage: python3 tfevents.py GENERATED_DIR EVENTS_FILE...   (prints JSON on stdout; exit 1 on a bad CRC)
"""
import base64
import json
import struct
import sys

sys.path.insert(0, sys.argv[1])
from tensorboard.compat.proto import event_pb2  # noqa: E402


def _table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return table


TABLE = _table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def value(v):
    kind = v.WhichOneof("value")
    out = {"tag": v.tag, "kind": kind}
    if kind == "simple_value":
        out["simple_value"] = v.simple_value
    elif kind == "image":
        out["image"] = {
            "height": v.image.height,
            "width": v.image.width,
            "colorspace": v.image.colorspace,
            "png": base64.b64encode(v.image.encoded_image_string).decode(),
        }
    return out


def event(data):
    e = event_pb2.Event.FromString(data)
    known = event_pb2.Event.FromString(data)
    known.DiscardUnknownFields()
    out = {
        "wall_time": e.wall_time,
        "step": e.step,
        "what": e.WhichOneof("what"),
        # fields that TensorBoard's .proto does not define (a wrong field number) would be lost here
        "unknown_fields": known.SerializeToString() != e.SerializeToString(),
    }
    if e.HasField("source_metadata"):
        out["writer"] = e.source_metadata.writer
    if out["what"] == "file_version":
        out["file_version"] = e.file_version
    elif out["what"] == "session_log":
        out["session_status"] = event_pb2.SessionLog.SessionStatus.Name(e.session_log.status)
    elif out["what"] == "summary":
        out["values"] = [value(v) for v in e.summary.value]
    return out


def read(path):
    """Every whole record's event; a torn record at the end is reported as TensorBoard's readers take it:
    not written yet."""
    with open(path, "rb") as f:
        buf = f.read()
    events, pos = [], 0
    while pos < len(buf):
        if len(buf) - pos < 12:
            break
        header = buf[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", buf[pos + 8:pos + 12])
        if masked(crc32c(header)) != length_crc:
            sys.exit(f"{path}: bad length CRC at byte {pos}")
        end = pos + 12 + length + 4
        if end > len(buf):
            break
        data = buf[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", buf[end - 4:end])
        if masked(crc32c(data)) != data_crc:
            sys.exit(f"{path}: bad data CRC at byte {pos}")
        events.append(event(data))
        pos = end
    return {"file": path, "events": events, "torn_bytes": len(buf) - pos}


print(json.dumps({
    "crc32c_check": crc32c(b"123456789"),
    "files": [read(p) for p in sys.argv[2:]],
}))
