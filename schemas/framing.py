"""Message framing: how the writer schema travels with each Avro body.

The default is Avro single-object encoding (``C3 01`` + 8-byte little-endian CRC-64-AVRO
fingerprint + body), so any Avro implementation can decode a message given only the ``.avsc``.
Other framings (the Confluent wire format, in ``streams``) implement the same :class:`Framing`.
"""

from __future__ import annotations

from typing import Protocol

from schemas.contracts import Contract, contract_for
from schemas.errors import DeserializationError, UnknownSchemaError

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_HEADER_LEN = 10


class Framing(Protocol):
    """Adds and strips the writer-schema reference around an Avro body."""

    def frame(self, contract: Contract, body: bytes) -> bytes:
        """Return the bytes to put on the wire for ``body`` written with ``contract``."""
        ...

    def unframe(self, data: bytes) -> tuple[Contract, memoryview]:
        """Return the writer contract and the body; raise a ContractError if impossible."""
        ...

    def writer_id(self, data: bytes) -> str | None:
        """The writer-schema reference ``data`` carries, as dead letters store it (or None)."""
        ...


class SingleObjectFraming:
    """Avro single-object encoding with a local table of known writer schemas.

    The table starts with every packaged contract; :meth:`register` adds older or newer
    writer versions so that schema evolution resolves instead of dead-lettering.
    """

    def __init__(self, contracts: list[Contract] | None = None) -> None:
        from schemas.contracts import CONTRACT_FILES, history_contracts

        known = (
            contracts
            if contracts is not None
            else [*history_contracts(), *(contract_for(c) for c in CONTRACT_FILES)]
        )
        self._by_fingerprint: dict[bytes, Contract] = {c.fingerprint: c for c in known}

    def register(self, contract: Contract) -> None:
        """Accept messages written with ``contract`` from now on."""
        self._by_fingerprint[contract.fingerprint] = contract

    def frame(self, contract: Contract, body: bytes) -> bytes:
        """Prefix ``body`` with the magic and the writer fingerprint."""
        return SINGLE_OBJECT_MAGIC + contract.fingerprint + body

    def writer_id(self, data: bytes) -> str | None:
        """The fingerprint's 8 bytes in wire order, as hex, if ``data`` has the header."""
        if len(data) < _HEADER_LEN or data[:2] != SINGLE_OBJECT_MAGIC:
            return None
        return bytes(data[2:_HEADER_LEN]).hex()

    def unframe(self, data: bytes) -> tuple[Contract, memoryview]:
        """Split a single-object message into its writer contract and body."""
        if len(data) < _HEADER_LEN or data[:2] != SINGLE_OBJECT_MAGIC:
            raise DeserializationError("not an Avro single-object message (missing C3 01 header)")
        fp = bytes(data[2:_HEADER_LEN])
        contract = self._by_fingerprint.get(fp)
        if contract is None:
            known = ", ".join(
                f"{c.name.rsplit('.', 1)[-1]} {c.fingerprint_hex}"
                for c in self._by_fingerprint.values()
            )
            raise UnknownSchemaError(
                f"unknown writer schema fingerprint {fp.hex()} (bytes 3-10, wire order; "
                f"CRC-64-AVRO 0x{int.from_bytes(fp, 'little'):016x}); accepted: {known}; "
                "`qloop schemas` prints each canonical form",
                fingerprint=fp.hex(),
            )
        return contract, memoryview(data)[_HEADER_LEN:]


__all__ = ["SINGLE_OBJECT_MAGIC", "Framing", "SingleObjectFraming"]
