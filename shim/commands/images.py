"""``pyctr images``: the docker table REPOSITORY TAG IMAGE ID CREATED SIZE (one row per tag)."""
import json
from datetime import datetime, timezone

from ..errors import EngineError
from ..format import human_duration, human_size, table
from ..images import reference
from ..images.store import ImageStore

HELP = "List images"


def add_arguments(p) -> None:
    p.add_argument("repository", nargs="?", default=None, metavar="REPOSITORY[:TAG]", help="only this repository")
    p.add_argument("-a", "--all", action="store_true", help="accepted for docker compatibility (no intermediate "
                   "images here)")
    p.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    p.add_argument("--no-trunc", action="store_true", help="full image IDs")
    p.add_argument("--digests", action="store_true", help="show repo digests")
    p.add_argument("--format", default=None, choices=["table", "json"], help="table (default) or json (one per line)")


def parse_time(created: str) -> datetime | None:
    """RFC 3339 with any number of fraction digits (Go writes nanoseconds)."""
    if not created:
        return None
    s = created.strip().replace("Z", "+00:00")
    if "." in s:
        head, _, rest = s.partition(".")
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        s = f"{head}.{(frac + '000000')[:6]}{tz}"
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def created_since(created: str) -> str:
    t = parse_time(created)
    if t is None:
        return "N/A"
    return human_duration((datetime.now(timezone.utc) - t).total_seconds()) + " ago"


def rows(images, repo_filter: str | None, show_digests: bool) -> list[dict]:
    want = None
    if repo_filter:
        try:
            want = reference.parse(repo_filter)
        except reference.ReferenceError as e:
            raise EngineError(str(e)) from None
    out = []
    for img in images:
        entries = []   # (repo familiar, tag, digest)
        digests = {reference.parse(d).name: d.split("@", 1)[1] for d in img.digests}
        for name in img.names:
            r = reference.parse(name)
            entries.append((r, r.tag or "<none>", digests.get(r.name, "<none>")))
        tagged_repos = {e[0].name for e in entries}
        for d in img.digests:
            r = reference.parse(d)
            if r.name not in tagged_repos:
                entries.append((r, "<none>", r.digest or "<none>"))
                tagged_repos.add(r.name)
        if not entries:
            entries.append((None, "<none>", "<none>"))
        for r, tag, dig in entries:
            if want is not None and (r is None or r.name != want.name or (want.tag and want.tag != tag)):
                continue
            out.append({"Repository": r.familiar_name if r else "<none>", "Tag": tag, "Digest": dig,
                        "ID": img.id, "CreatedSince": created_since(img.created), "CreatedAt": img.created,
                        "Size": human_size(img.size, 3), "VirtualSize": img.size})
    return out


def run(ctx, args) -> int:
    images = ImageStore(ctx).list()
    data = rows(images, args.repository, args.digests)
    ident = (lambda i: i) if args.no_trunc else (lambda i: i.split(":", 1)[1][:12])
    if args.quiet:
        seen = []
        for d in data:
            if ident(d["ID"]) not in seen:
                seen.append(ident(d["ID"]))
        if seen:
            print("\n".join(seen))
        return 0
    if args.format == "json":
        for d in data:
            print(json.dumps({**d, "ID": ident(d["ID"])}))
        return 0
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if args.digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    body = [[d["Repository"], d["Tag"]] + ([d["Digest"]] if args.digests else []) +
            [ident(d["ID"]), d["CreatedSince"], d["Size"]] for d in data]
    print(table(header, body))
    return 0
