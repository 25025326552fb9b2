#!/usr/bin/env python3
"""Independent oracle for the tar reader tests, built on Python's tarfile.

  tar_oracle.py dump ARCHIVE
      Prints the members Python's tarfile reads as JSON (bytes as hex).
  tar_oracle.py make gnu|pax OUT
      Writes an archive with tarfile covering the entry kinds the tests need
      (devices, fifos, links, long names, xattrs, non-UTF-8 names, big ids,
      fractional and negative mtimes, header-only entries with a size field).
  tar_oracle.py tree DIR basic|ustar|full
      Creates a file tree for GNU tar to archive: files of sizes 0/1/511/
      512/513, a directory, symlinks, hard links, a fifo, nanosecond mtimes;
      "ustar" adds a 150-byte path; "full" adds names over 100 and 255
      bytes, a long symlink target, a non-UTF-8 name, a sparse file with
      many fragments and (when run as root) char/block devices.
  tar_oracle.py modtime SECONDS NANOS...
      Prints Go-style RFC 3339 UTC text for each pair, computed with
      datetime (years 1..9999 only).
"""

import datetime
import os
import decimal
import io
import json
import sys
import tarfile

ENC = "utf-8"
ERR = "surrogateescape"


def raw(s):
    return s.encode(ENC, ERR)


def mtime_parts(member):
    """Seconds and nanoseconds, truncating a PAX fraction after 9 digits."""
    text = member.pax_headers.get("mtime")
    if text is None:
        return int(member.mtime), 0
    d = decimal.Decimal(text).quantize(decimal.Decimal("1e-9"), rounding=decimal.ROUND_DOWN)
    secs = int(d.to_integral_value(rounding=decimal.ROUND_FLOOR))
    nanos = int((d - secs) * 1000000000)
    return secs, nanos


def dump(path):
    out = []
    with tarfile.open(path, "r:", encoding=ENC, errors=ERR) as tf:
        for m in tf:
            secs, nanos = mtime_parts(m)
            out.append({
                "name": raw(m.name).hex(),
                "type": m.type.decode("latin-1"),
                "size": m.size,
                "linkname": raw(m.linkname).hex(),
                "mode": m.mode,
                "uid": m.uid,
                "gid": m.gid,
                "uname": raw(m.uname).hex(),
                "gname": raw(m.gname).hex(),
                "mtime": [secs, nanos],
                "devmajor": m.devmajor,
                "devminor": m.devminor,
                "pax": [[raw(k).hex(), raw(v).hex()] for k, v in m.pax_headers.items()],
                "offset": m.offset,
                "offset_data": m.offset_data,
                "sparse": [list(p) for p in m.sparse] if m.sparse is not None else None,
            })
        next_header = tf.offset
    print(json.dumps({"members": out, "next_header": next_header}))


def add(tf, name, type_=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data)
    ti.mtime = 1700000000
    ti.mode = 0o644
    ti.uid, ti.gid, ti.uname, ti.gname = 1000, 1000, "user", "group"
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if type_ in (tarfile.REGTYPE, tarfile.AREGTYPE) and data else None)


def make(fmt, out):
    form = tarfile.GNU_FORMAT if fmt == "gnu" else tarfile.PAX_FORMAT
    long_dir = "d" * 60 + "/" + "e" * 60
    with tarfile.open(out, "w", format=form, encoding=ENC, errors=ERR) as tf:
        add(tf, "dir", tarfile.DIRTYPE, mode=0o755)
        add(tf, "dir/empty")
        for n in (1, 511, 512, 513):
            add(tf, f"dir/size{n}", data=bytes((i * 7 + n) & 0xFF for i in range(n)))
        add(tf, long_dir + "/" + "f" * 40, data=b"long name over 100")
        add(tf, "/".join(["g" * 50] * 6) + "/file", data=b"name over 255")
        add(tf, "link-short", tarfile.SYMTYPE, linkname="dir/size1")
        add(tf, "link-long", tarfile.SYMTYPE, linkname="t" * 150)
        add(tf, "hard", tarfile.LNKTYPE, linkname="dir/size1")
        add(tf, "hard-long", tarfile.LNKTYPE, linkname=long_dir + "/" + "f" * 40)
        # A hard link whose size field is non-zero: no data follows it.
        ti = tarfile.TarInfo("hard-sized")
        ti.type, ti.linkname, ti.size, ti.mtime = tarfile.LNKTYPE, "dir/size1", 700, 1700000000
        tf.addfile(ti)
        add(tf, "chardev", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        add(tf, "blockdev", tarfile.BLKTYPE, devmajor=8, devminor=1, mode=0o660)
        add(tf, "fifo", tarfile.FIFOTYPE)
        add(tf, raw("caf\udce9-\udcff.txt").decode(ENC, ERR), data=b"latin1 name")
        add(tf, "bigid", data=b"x", uid=3000000, gid=2**33 + 5, uname="u" * 40)
        add(tf, "oldtime", data=b"y", mtime=-1000)
        if fmt == "pax":
            add(tf, "frac", data=b"z", mtime=1700000000.25)
            add(tf, "xattrs", data=b"w", pax_headers={
                "SCHILY.xattr.user.comment": "hello",
                "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\udcff",
            })
        add(tf, "last", data=b"end")


def tree(root, kind):
    def put(rel, data=b""):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    os.makedirs(os.path.join(root, "dir"), exist_ok=True)
    put("dir/empty")
    for n in (1, 511, 512, 513):
        put(f"dir/size{n}", bytes((i * 13 + n) & 0xFF for i in range(n)))
    p = put("nanotime", b"nano")
    os.utime(p, ns=(1700000000_000000000, 1700000000_123456789))
    os.symlink("dir/size1", os.path.join(root, "sym"))
    os.link(os.path.join(root, "dir/size1"), os.path.join(root, "hard"))
    os.mkfifo(os.path.join(root, "fifo"))
    if kind in ("ustar", "full"):
        put("u" * 70 + "/" + "v" * 79, b"prefix split")
    if kind == "full":
        put("/".join(["w" * 60] * 2) + "/" + "x" * 90, b"over 100")
        put("/".join(["y" * 70] * 4) + "/file", b"over 255")
        os.symlink("z" * 200, os.path.join(root, "longsym"))
        os.link(os.path.join(root, "/".join(["y" * 70] * 4) + "/file"),
                os.path.join(root, "longhard"))
        put(b"caf\xe9-\xff.bin".decode(ENC, ERR), b"non-utf8 name")
        with open(os.path.join(root, "sparse"), "wb") as f:
            for i in range(60):
                f.seek(i * 65536)
                f.write(b"%d" % i * 100)
            f.truncate(60 * 65536 + 4096)
        if os.geteuid() == 0:
            os.mknod(os.path.join(root, "chardev"), 0o620 | 0o020000, os.makedev(4, 5))
            os.mknod(os.path.join(root, "blockdev"), 0o660 | 0o060000, os.makedev(7, 9))
    os.utime(os.path.join(root, "dir"), ns=(1600000000_000000000, 1600000000_000000001))


def modtime(args):
    for s, n in zip(args[0::2], args[1::2]):
        t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        t += datetime.timedelta(seconds=int(s))
        text = t.strftime("%Y-%m-%dT%H:%M:%S")
        text = ("%04d" % t.year) + text[text.index("-"):]
        if int(n):
            text += "." + ("%09d" % int(n)).rstrip("0")
        print(text + "Z")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dump":
        dump(sys.argv[2])
    elif cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "tree":
        tree(sys.argv[2], sys.argv[3])
    elif cmd == "modtime":
        modtime(sys.argv[2:])
    else:
        sys.exit("unknown command " + cmd)
