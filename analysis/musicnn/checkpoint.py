"""Reading a TensorFlow checkpoint without TensorFlow: the tensor-bundle format.

A checkpoint `prefix` is two files. `prefix.index` is a LevelDB-format sorted table
(uncompressed blocks of prefix-compressed key/value entries, an index block pointing at
them, a 48-byte footer) mapping each variable's name to a `BundleEntryProto`: dtype,
shape, which data shard, offset and size. `prefix.data-00000-of-00001` holds the raw
little-endian tensors. The entry under the empty key is the bundle header. Protobuf is
decoded by hand (varints and length-delimited fields): no generated code, no protobuf
version to match.
"""

import struct
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5  # compression type + crc32c
# tensorflow/core/framework/types.proto: the dtypes a checkpoint of ours can hold.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_, 19: np.float16}


class CheckpointError(Exception):
    """The files are not a readable TensorFlow checkpoint; the message says why."""


def read_checkpoint(prefix):
    """{variable name: numpy array} of every tensor in the checkpoint at `prefix`."""
    prefix = str(prefix)
    index = Path(f"{prefix}.index")
    try:
        table = index.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"No checkpoint index at {index}: {exc}") from exc
    entries = {key.decode(): _entry(value) for key, value in _table_items(table, index) if key}
    shards = {}
    tensors = {}
    for name, entry in entries.items():
        if entry["slices"]:
            raise CheckpointError(f"{index}: {name} is stored in slices, which this reader does not support.")
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise CheckpointError(f"{index}: {name} has TensorFlow dtype {entry['dtype']}, not supported here.")
        shard = entry["shard_id"]
        if shard not in shards:
            shards[shard] = _shard_bytes(prefix, shard, entries)
        data = shards[shard][entry["offset"] : entry["offset"] + entry["size"]]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if len(data) != count * np.dtype(dtype).itemsize:
            raise CheckpointError(f"{index}: {name} should hold {count} values, its data has {len(data)} bytes.")
        tensors[name] = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry["shape"]).copy()
    return tensors


def _shard_bytes(prefix, shard, entries):
    shards = {entry["shard_id"] for entry in entries.values()}
    path = Path(f"{prefix}.data-{shard:05d}-of-{max(shards) + 1:05d}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"Checkpoint data {path} cannot be read: {exc}") from exc


def _table_items(table, name):
    """(key, value) of every entry of a LevelDB table held in `table` (bytes)."""
    if len(table) < _FOOTER_BYTES:
        raise CheckpointError(f"{name} is too short to be a checkpoint index.")
    footer = table[-_FOOTER_BYTES:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != _TABLE_MAGIC:
        raise CheckpointError(f"{name} is not a LevelDB table (bad magic number).")
    position = 0
    _metaindex, position = _block_handle(footer, position)
    index_handle, _ = _block_handle(footer, position)
    for _, handle in _block_entries(_block(table, index_handle, name)):
        block_handle, _ = _block_handle(handle, 0)
        yield from _block_entries(_block(table, block_handle, name))


def _block_handle(data, position):
    offset, position = _varint(data, position)
    size, position = _varint(data, position)
    return (offset, size), position


def _block(table, handle, name):
    offset, size = handle
    if offset + size + _BLOCK_TRAILER_BYTES > len(table):
        raise CheckpointError(f"{name} is truncated (a block runs past its end).")
    if table[offset + size] != 0:
        raise CheckpointError(f"{name} has compressed blocks; TensorFlow writes them uncompressed.")
    return table[offset : offset + size]


def _block_entries(block):
    """(key, value) pairs of one block: keys share a prefix with the previous key."""
    (restarts,) = struct.unpack("<I", block[-4:])
    end = len(block) - 4 * (restarts + 1)
    position, key = 0, b""
    while position < end:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        value_size, position = _varint(block, position)
        key = key[:shared] + block[position : position + unshared]
        position += unshared
        yield key, block[position : position + value_size]
        position += value_size


def _varint(data, position):
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def _fields(message):
    """(field number, wire type, value) of a protobuf message: ints for varint and fixed
    fields, bytes for length-delimited ones."""
    position = 0
    while position < len(message):
        tag, position = _varint(message, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(message, position)
        elif wire == 1:
            (value,), position = struct.unpack_from("<Q", message, position), position + 8
        elif wire == 2:
            size, position = _varint(message, position)
            value, position = message[position : position + size], position + size
        elif wire == 5:
            (value,), position = struct.unpack_from("<I", message, position), position + 4
        else:
            raise CheckpointError(f"Unexpected protobuf wire type {wire} in a checkpoint entry.")
        yield number, wire, value


def _entry(message):
    """A BundleEntryProto: dtype (1), shape (2), shard_id (3), offset (4), size (5), slices (7)."""
    entry = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "slices": False}
    for number, _, value in _fields(message):
        if number == 1:
            entry["dtype"] = value
        elif number == 2:
            entry["shape"] = _shape(value)
        elif number == 3:
            entry["shard_id"] = value
        elif number == 4:
            entry["offset"] = value
        elif number == 5:
            entry["size"] = value
        elif number == 7:
            entry["slices"] = True
    return entry


def _shape(message):
    """TensorShapeProto: repeated dim (2) {size (1)}."""
    dims = []
    for number, _, value in _fields(message):
        if number == 2:
            size = next((size for field, _, size in _fields(value) if field == 1), 0)
            dims.append(size)
    return dims
