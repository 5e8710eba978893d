"""PTZ commands of GB/T 28181 (appendix A.3): the 8-byte ``PTZCmd`` of a DeviceControl message."""

from __future__ import annotations

from dataclasses import dataclass

RIGHT, LEFT, DOWN, UP, ZOOM_IN, ZOOM_OUT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
PRESET_SET, PRESET_GOTO = 0x81, 0x82


@dataclass(frozen=True)
class PtzMove:
    """Speeds, each -1..1 (pan: + right, tilt: + up, zoom: + in); all zero stops."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    @property
    def is_stop(self) -> bool:
        """Whether this stops every motion."""
        return self.pan == 0 and self.tilt == 0 and self.zoom == 0


def _command(code: int, b5: int, b6: int, b7: int, address: int = 1) -> str:
    data = [0xA5, 0x0F, address & 0xFF, code, b5 & 0xFF, b6 & 0xFF, ((b7 & 0x0F) << 4) | ((address >> 8) & 0x0F)]
    data.append(sum(data) % 256)
    return bytes(data).hex().upper()


def move_command(move: PtzMove) -> str:
    """The PTZCmd for a move (or the stop, when every speed is zero)."""
    code = 0
    if move.pan > 0:
        code |= RIGHT
    elif move.pan < 0:
        code |= LEFT
    if move.tilt > 0:
        code |= UP
    elif move.tilt < 0:
        code |= DOWN
    if move.zoom > 0:
        code |= ZOOM_IN
    elif move.zoom < 0:
        code |= ZOOM_OUT
    return _command(code, round(abs(move.pan) * 255), round(abs(move.tilt) * 255), round(abs(move.zoom) * 15))


def preset_command(preset: int, action: str) -> str:
    """The PTZCmd that goes to (``goto``) or stores (``set``) preset 1..255."""
    if not 1 <= preset <= 255:
        raise ValueError(f"preset {preset} is not within 1..255")
    return _command(PRESET_GOTO if action == "goto" else PRESET_SET, 0, preset, 0)


def decode(cmd: str) -> dict[str, int]:
    """The parts of a PTZCmd (for logs and tests); ValueError when the checksum is wrong."""
    data = bytes.fromhex(cmd)
    if len(data) != 8 or data[0] != 0xA5 or sum(data[:7]) % 256 != data[7]:
        raise ValueError(f"not a valid PTZCmd: {cmd}")
    return {"code": data[3], "pan_speed": data[4], "tilt_speed": data[5], "zoom_speed": data[6] >> 4}
