"""``pyctr pull REF``: download an image from a registry (docker-style progress lines, then the digest)."""
from ..images.store import ImageStore

HELP = "Download an image from a registry"


def add_arguments(p) -> None:
    p.add_argument("ref", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("--platform", default=None, help="os/arch[/variant] to pick from a multi-platform image "
                   "(default: this host's)")
    p.add_argument("--insecure", action="store_true",
                   help="allow plain http and unverified https to this registry (loopback registries always are)")
    p.add_argument("--authfile", default=None, help="docker/podman auth file (default: $REGISTRY_AUTH_FILE, "
                   "$XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image reference")


def run(ctx, args) -> int:
    last: list[str] = []

    def progress(line: str) -> None:
        last[:] = [line]
        if not args.quiet:
            print(line, flush=True)
    ImageStore(ctx).pull(args.ref, platform=args.platform, insecure=args.insecure, authfile=args.authfile,
                         progress=progress)
    if args.quiet and last:
        print(last[0], flush=True)          # the final line is the pulled reference
    return 0
