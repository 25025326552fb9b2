/**
 * Independent oracles for the zTOC end-to-end tests, written in Python
 * (`tarfile`, `zlib`, `datetime`) and run with `python3 -c`:
 *
 * * `dump ARCHIVE`: the members Python's tarfile reads (raw bytes as hex,
 *   `offset_data`, `pax_headers`, Go-style RFC 3339 `mod_time` text) and
 *   where it found the end-of-archive marker;
 * * `make gnu|pax OUT`: a tarfile archive with every kind of entry the
 *   zTOC must describe (long names and link names, links, devices, fifos,
 *   directories, empty files, xattrs, non-UTF-8 names, big ids, old and
 *   fractional times, files crossing span boundaries);
 * * `tree DIR`: the same kinds as files on disk, for GNU tar (xattrs set
 *   with `os.setxattr`, devices with `os.mknod` when root);
 * * `gzip OUT IN FLAGS EXTRA_LEN`: a gzip member with a hand-written header
 *   (`FLAGS` among `extra,name,comment,hcrc`) around zlib's raw deflate.
 *
 * @module
 */

const DEC = new TextDecoder();

const SCRIPT = String.raw`
import datetime, decimal, io, json, os, random, sys, tarfile, zlib

ENC, ERR = "utf-8", "surrogateescape"

def raw(s):
    return s.encode(ENC, ERR)

def go_time(secs, nanos):
    if secs < -62135596800 or secs >= 253402300800:
        return ""
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=secs)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)
    if nanos:
        text += "." + ("%09d" % nanos).rstrip("0")
    return text + "Z"

def mtime_parts(m):
    text = m.pax_headers.get("mtime")
    if text is None:
        return int(m.mtime), 0
    d = decimal.Decimal(text).quantize(decimal.Decimal("1e-9"), rounding=decimal.ROUND_DOWN)
    secs = int(d.to_integral_value(rounding=decimal.ROUND_FLOOR))
    return secs, int((d - secs) * 1000000000)

def dump(path):
    out = []
    with tarfile.open(path, "r:", encoding=ENC, errors=ERR) as tf:
        for m in tf:
            secs, nanos = mtime_parts(m)
            out.append({
                "name": raw(m.name).hex(), "type": m.type.decode("latin-1"),
                "size": m.size, "linkname": raw(m.linkname).hex(), "mode": m.mode,
                "uid": m.uid, "gid": m.gid, "uname": raw(m.uname).hex(),
                "gname": raw(m.gname).hex(), "modtime": go_time(secs, nanos),
                "devmajor": m.devmajor, "devminor": m.devminor,
                "pax": [[raw(k).hex(), raw(v).hex()] for k, v in m.pax_headers.items()],
                "offset_data": m.offset_data,
            })
        end = tf.offset
    print(json.dumps({"members": out, "end": end}))

def text(rng, n):
    words = [b"alpha", b"beta", b"gamma", b"delta", b"layer", b"span", b"zinfo", b"\n", b"  "]
    parts, size = [], 0
    while size < n:
        w = words[rng.randrange(len(words))] + (b"%d " % rng.randrange(1000))
        parts.append(w)
        size += len(w)
    return b"".join(parts)[:n]

def add(tf, name, type_=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data)
    ti.mtime, ti.mode = 1700000000, 0o644
    ti.uid, ti.gid, ti.uname, ti.gname = 1000, 1001, "user", "group"
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)

def make(fmt, out):
    rng = random.Random(7)
    form = tarfile.GNU_FORMAT if fmt == "gnu" else tarfile.PAX_FORMAT
    long_dir = "d" * 60 + "/" + "e" * 60
    with tarfile.open(out, "w", format=form, encoding=ENC, errors=ERR) as tf:
        add(tf, "dir", tarfile.DIRTYPE, mode=0o755)
        add(tf, "dir/empty")
        for n in (1, 511, 512, 513):
            add(tf, "dir/size%d" % n, data=rng.randbytes(n))
        add(tf, "big/random.bin", data=rng.randbytes(300000))
        add(tf, "big/text.txt", data=text(rng, 400000), mode=0o100755)
        add(tf, long_dir, tarfile.DIRTYPE, mode=0o700)
        add(tf, long_dir + "/" + "f" * 40, data=b"long name over 100")
        add(tf, "/".join(["g" * 50] * 6) + "/file", data=b"name over 255")
        add(tf, "link-short", tarfile.SYMTYPE, linkname="dir/size1", mode=0o777)
        add(tf, "link-long", tarfile.SYMTYPE, linkname="t" * 150, mode=0o777)
        add(tf, "hard", tarfile.LNKTYPE, linkname="big/random.bin")
        add(tf, "hard-long", tarfile.LNKTYPE, linkname=long_dir + "/" + "f" * 40)
        add(tf, "chardev", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        add(tf, "blockdev", tarfile.BLKTYPE, devmajor=8, devminor=1, mode=0o660)
        add(tf, "fifo", tarfile.FIFOTYPE)
        add(tf, raw("caf\udce9-\udcff.txt").decode(ENC, ERR), data=b"latin1 name")
        add(tf, "bigid", data=b"x", uid=3000000, gid=2**33 + 5, uname="u" * 40)
        add(tf, "oldtime", data=b"y", mtime=-1000)
        if fmt == "pax":
            add(tf, "frac", data=b"z", mtime=1700000000.25)
            add(tf, "xattrs", data=rng.randbytes(70000), pax_headers={
                "SCHILY.xattr.user.comment": "hello",
                "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\udcff",
                "LIBARCHIVE.xattr.user.other": "aGk=",
            })
        add(tf, "big/tail.txt", data=text(rng, 150000))
        add(tf, "last", data=b"end")

def tree(root):
    rng = random.Random(11)
    def put(rel, data=b""):
        path = os.path.join(root.encode(ENC, ERR), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path
    put(b"dir/empty")
    for n in (1, 511, 512, 513):
        put(b"dir/size%d" % n, rng.randbytes(n))
    put(b"big/random.bin", rng.randbytes(400000))
    p = put(b"big/text.txt", text(rng, 500000))
    os.chmod(p, 0o755)
    p = put(b"nanotime", b"nano")
    os.utime(p, ns=(1700000000_000000000, 1700000000_123456789))
    p = put(b"oldtime", b"old")
    os.utime(p, (-1000, -1000))
    long_file = b"/".join([b"w" * 60] * 2) + b"/" + b"x" * 90
    put(long_file, b"over 100")
    very_long = b"/".join([b"y" * 70] * 4) + b"/file"
    put(very_long, b"over 255")
    r = root.encode(ENC, ERR)
    os.symlink(b"dir/size1", os.path.join(r, b"sym"))
    os.symlink(b"z" * 200, os.path.join(r, b"longsym"))
    os.link(os.path.join(r, b"big/random.bin"), os.path.join(r, b"hard"))
    os.link(os.path.join(r, very_long), os.path.join(r, b"longhard"))
    os.mkfifo(os.path.join(r, b"fifo"))
    put(b"caf\xe9-\xff.bin", b"non-utf8 name")
    p = put(b"xattr.txt", rng.randbytes(90000))
    os.setxattr(p, "user.comment", b"hello")
    os.setxattr(p, "user.binary", b"\x01\x00\xff")
    p = put(b"owned", b"ids")
    if os.geteuid() == 0:
        os.chown(p, 3000000, 1234)
        os.mknod(os.path.join(r, b"chardev"), 0o620 | 0o020000, os.makedev(4, 5))
        os.mknod(os.path.join(r, b"blockdev"), 0o660 | 0o060000, os.makedev(7, 9))
    put(b"big/tail.txt", text(rng, 120000))
    os.utime(os.path.join(r, b"dir"), ns=(1600000000_000000000, 1600000000_000000001))

def gz(out, src, flags, extra_len):
    flags = set(f for f in flags.split(",") if f)
    data = open(src, "rb").read()
    flg = 0
    tail = b""
    if "extra" in flags:
        flg |= 4
        body = b"".join(bytes([65 + i % 26, 66, 1, 0, i & 255]) for i in range(extra_len // 5 + 1))
        body = body[:extra_len]
        tail += len(body).to_bytes(2, "little") + body
    if "name" in flags:
        flg |= 8
        tail += b"layer.tar\x00"
    if "comment" in flags:
        flg |= 16
        tail += b"a comment \xe9\x00"
    head = bytes([0x1F, 0x8B, 8, flg | (2 if "hcrc" in flags else 0)]) + (1700000000).to_bytes(4, "little") + bytes([0, 3]) + tail
    if "hcrc" in flags:
        head += (zlib.crc32(head) & 0xFFFF).to_bytes(2, "little")
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = c.compress(data) + c.flush()
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    with open(out, "wb") as f:
        f.write(head + deflated + trailer)
    print(len(head))

cmd = sys.argv[1]
if cmd == "dump":
    dump(sys.argv[2])
elif cmd == "make":
    make(sys.argv[2], sys.argv[3])
elif cmd == "tree":
    tree(sys.argv[2])
elif cmd == "gzip":
    gz(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
else:
    sys.exit("unknown command " + cmd)
`;

async function py(args: string[]): Promise<string> {
  const out = await new Deno.Command("python3", {
    args: ["-c", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`python oracle ${args[0]} failed (${out.code}): ${DEC.decode(out.stderr)}`);
  }
  return DEC.decode(out.stdout);
}

/** One tar member as Python's tarfile reads it (bytes as hex). */
export interface PyMember {
  name: string;
  type: string;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Go RFC 3339 (nano) text of the modification time, UTC. */
  modtime: string;
  devmajor: number;
  devminor: number;
  /** PAX records in the order Python keeps them. */
  pax: Array<[string, string]>;
  offset_data: number;
}

/** What `dump` prints: the members and the offset of the end-of-archive marker. */
export interface PyDump {
  members: PyMember[];
  end: number;
}

/** Members of the tar at `path`, read by Python's tarfile. */
export async function pyDump(path: string): Promise<PyDump> {
  return JSON.parse(await py(["dump", path]));
}

/** Writes the tarfile sample archive in `gnu` or `pax` format to `out`. */
export async function pyMakeTar(format: "gnu" | "pax", out: string): Promise<void> {
  await py(["make", format, out]);
}

/** Creates the file tree GNU tar archives in the tests under `dir`. */
export async function pyTree(dir: string): Promise<void> {
  await py(["tree", dir]);
}

/** Header flags for {@link pyGzip}. */
export type GzipHeaderFlag = "extra" | "name" | "comment" | "hcrc";

/**
 * Compresses `src` to `out` as one gzip member with the given optional
 * header fields (FEXTRA of `extraLen` bytes, FNAME, FCOMMENT, FHCRC).
 * Returns the header length.
 */
export async function pyGzip(
  out: string,
  src: string,
  flags: GzipHeaderFlag[],
  extraLen = 100,
): Promise<number> {
  return Number((await py(["gzip", out, src, flags.join(","), String(extraLen)])).trim());
}
