#!/usr/bin/env python3
"""Writes time series of R's `datasets` package as CSV, without R.

Reads the package's lazy-load database (Rdata.rdx: gzip of an XDR-serialized index; Rdata.rdb:
per-object blocks, each a 4-byte big-endian length, a compression type byte and the compressed
XDR serialization) from an unpacked r-base-core .deb (or another R package's, e.g.
r-cran-forecast's). Only what `ts` objects need is decoded: numeric vectors with their `tsp`
attribute (start, end, frequency), and for a multivariate one (a matrix) its column names.

usage: r_datasets.py DATA_DIR OUT_DIR NAME...   (DATA_DIR: .../library/datasets/data)
Each NAME becomes OUT_DIR/NAME.csv with columns `time,value` (time as start + i / frequency);
NAME:COLUMN takes one column of a multivariate series, written to OUT_DIR/NAME.COLUMN.csv.
"""
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0
        if self.d[:2] != b"X\n":
            raise ValueError("not an XDR serialization")
        self.i = 2
        version = self.int()
        self.int(), self.int()  # writer version, minimal reader version
        if version == 3:
            n = self.int()  # native encoding name
            self.i += n
        self.refs = []

    def int(self):
        v = struct.unpack_from(">i", self.d, self.i)[0]
        self.i += 4
        return v

    def string(self):
        n = self.int()
        s = self.d[self.i:self.i + n]
        self.i += n
        return s.decode("latin-1")

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 242, 253):  # NILVALUE, EMPTYENV, GLOBALENV
            return None
        if kind == 255:  # REFSXP
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # SYMSXP
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.i:self.i + n].decode("utf-8", "replace")
            self.i += n
            return s
        if kind in (2, 6):  # LISTSXP / LANGSXP: attributes, tag, car, cdr
            attrs = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            rest = self.item()
            out = [(tag, car)] + (rest if isinstance(rest, list) else [])
            return out
        if kind in (13, 10):  # INTSXP, LGLSXP
            n = self.int()
            v = list(struct.unpack_from(">%di" % n, self.d, self.i))
            self.i += 4 * n
        elif kind == 14:  # REALSXP
            n = self.int()
            v = list(struct.unpack_from(">%dd" % n, self.d, self.i))
            self.i += 8 * n
        elif kind in (16, 19, 20):  # STRSXP, VECSXP, EXPRSXP
            n = self.int()
            v = [self.item() for _ in range(n)]
        else:
            raise ValueError("unsupported R type %d" % kind)
        attrs = dict(self.item()) if has_attr else {}
        return Value(v, attrs)


class Value(list):
    def __init__(self, v, attrs):
        super().__init__(v)
        self.attrs = attrs


def decompress(block):
    n = struct.unpack_from(">I", block, 0)[0]
    kind, body = block[4:5], block[5:]
    if kind == b"Z":
        out = lzma.decompress(body, format=lzma.FORMAT_RAW,
                              filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 64 << 20}])
    elif kind == b"2":
        out = bz2.decompress(body)
    elif kind == b"1":
        out = zlib.decompress(body)
    elif kind == b"0":
        out = body
    else:  # type 1 databases: no type byte, zlib
        out = zlib.decompress(block[4:])
    if len(out) != n:
        raise ValueError("decompressed %d bytes, expected %d" % (len(out), n))
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    data_dir, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    with gzip.open(os.path.join(data_dir, "Rdata.rdx")) as f:
        index = Reader(f.read()).item()
    fields = dict(zip(index.attrs["names"], index))
    variables = dict(zip(fields["variables"].attrs["names"], fields["variables"]))
    with open(os.path.join(data_dir, "Rdata.rdb"), "rb") as f:
        db = f.read()
    os.makedirs(out_dir, exist_ok=True)
    for request in names:
        name, _, column = request.partition(":")
        if name not in variables:
            sys.exit("r_datasets.py: %s has no object '%s'" % (data_dir, name))
        offset, length = variables[name]
        value = Reader(decompress(db[offset:offset + length])).item()
        tsp = value.attrs.get("tsp")
        if tsp is None or ("dim" in value.attrs) != bool(column):
            sys.exit("r_datasets.py: '%s' is not a %s time series" % (name, "multivariate" if column else "univariate"))
        if column:  # a matrix, column-major, its column names the second of its dimnames
            rows_n, columns_n = value.attrs["dim"]
            columns = list(value.attrs["dimnames"][1])
            if column not in columns:
                sys.exit("r_datasets.py: '%s' has no column '%s' (it has %s)" % (name, column, ", ".join(columns)))
            j = columns.index(column)
            value = value[j * rows_n:(j + 1) * rows_n]
            name = name + "." + column
        start, _, frequency = tsp
        rows = ["time,value"]
        for i, x in enumerate(value):
            rows.append("%s,%s" % (repr(round(start + i / frequency, 6)), repr(x)))
        path = os.path.join(out_dir, name + ".csv")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(rows) + "\n")
        os.replace(path + ".tmp", path)
        print("%s: %d steps, frequency %g" % (path, len(value), frequency))


if __name__ == "__main__":
    main()
