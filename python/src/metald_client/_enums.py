"""Base classes of the generated enums: lenient parsing and the open protobuf enums.

The enums themselves (``Template``, ``VmState``, ...) are generated from ``wit/`` into
:mod:`metald_client._bindings`; this module holds what they share.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["OpenWitEnum", "WitEnum", "number_of"]


class WitEnum(str, Enum):
    """Base of the WIT enums: a ``str`` enum that also parses other spellings.

    ``Template("high_cpu")``, ``Template("HIGH-CPU")`` and ``Template("high-cpu")`` all give
    ``Template.HIGH_CPU``. ``str()`` of a member is its value.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def wit_name(self) -> str:
        """The case name in the WIT contract (``high-cpu``)."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            wanted = value.strip().lower().replace("_", "-")
            for member in cls:
                if member.wit_name == wanted:
                    return member
        return None


class OpenWitEnum(WitEnum):
    """Base of the protobuf enums, which are open (WIT variants with an ``unknown(s32)`` case).

    The members are the numbers this SDK knows, declared in wire-number order from 0. A
    number it does not know (a newer server's) is kept as a plain ``int``: fields typed
    ``VmState | int`` hold either a member or that number, and an ``int`` given on input is
    sent as that number (a known one reads as its member).
    """

    @property
    def number(self) -> int:
        """The protobuf number of this case."""
        return list(type(self)).index(self)

    @classmethod
    def from_number(cls, number: int) -> Any:
        """The member with this protobuf number, or ``number`` itself when it is unknown."""
        members = list(cls)
        return members[number] if 0 <= number < len(members) else number

    @classmethod
    def of(cls, value: Any) -> Any:
        """A member from a member, a name or a number; an unknown number stays an ``int``."""
        if isinstance(value, int) and not isinstance(value, (bool, Enum)):
            return cls.from_number(value)
        return cls(value)


def number_of(value: OpenWitEnum | int) -> int:
    """The protobuf number of a ``VmState``/``NetworkMode`` member or of an unknown ``int``."""
    return value.number if isinstance(value, OpenWitEnum) else int(value)
