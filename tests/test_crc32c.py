"""CRC-32C: published check values, and the numpy fallback against the C library."""

from __future__ import annotations

import numpy as np
import pytest

from curvelog.convert import _crc32c


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"", 0x00000000),
        (b"123456789", 0xE3069283),  # the catalogue check value
        (bytes(32), 0x8A9136AA),  # RFC 3720, B.4
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
)
def test_check_values(data: bytes, crc: int) -> None:
    assert _crc32c._crc32c_py(data) == crc
    assert _crc32c.crc32c(data) == crc
    got = _crc32c.masked_crcs(data, np.asarray([0]), np.asarray([len(data)]), force_numpy=True)
    assert int(got[0]) == _crc32c.mask(crc)


def test_numpy_agrees_with_c_on_many_records() -> None:
    # google-crc32c comes with the [test] extra: this compares the two implementations
    assert _crc32c.backend() == "google-crc32c"
    rng = np.random.default_rng(7)
    buf = rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes()
    lengths = np.concatenate([rng.integers(0, 300, 500), [0, 1, 8, 4096, 4097, 9000]])
    starts = rng.integers(0, len(buf) - 9000, len(lengths))
    c = _crc32c.masked_crcs(buf, starts, lengths)
    py = _crc32c.masked_crcs(buf, starts, lengths, force_numpy=True)
    assert c.tolist() == py.tolist()
    one = [
        _crc32c.mask(_crc32c._crc32c_py(buf[a : a + n]))
        for a, n in zip(starts, lengths, strict=True)
    ]
    assert py.tolist() == one


def test_mask_matches_tensorboardx() -> None:
    """tensorboardX's own framing code (an independent implementation) agrees."""
    from tensorboardX import record_writer

    rng = np.random.default_rng(3)
    for n in (0, 3, 8, 57, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        ours = _crc32c.masked_crcs(data, np.asarray([0]), np.asarray([n]), force_numpy=True)
        assert (
            int(ours[0]) == record_writer.masked_crc32c(data) == _crc32c.mask(_crc32c.crc32c(data))
        )
    assert _crc32c.mask(_crc32c.crc32c((3).to_bytes(8, "little"))) == 0x0E4999B0
