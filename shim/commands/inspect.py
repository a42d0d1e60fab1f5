"""``pyctr inspect [-f TEMPLATE] NAME...``: docker-style JSON of containers (or images), ``-f`` with a small
subset of Go templates: ``{{.State.Status}}``, ``{{json .Config.Env}}``, ``{{.Name}}`` ..."""
import json
import re
import sys

from ..containers.lifecycle import is_paused
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Return low-level information on containers or images"


def add_arguments(p) -> None:
    p.add_argument("-f", "--format", help="Go-template-like format, e.g. '{{.State.Pid}}'")
    p.add_argument("--type", choices=["container", "image"], help="only look for this kind of object")
    p.add_argument("names", nargs="+", metavar="NAME")


def container_json(ctx, c) -> dict:
    cfg, hc, st = c.config, c.config["HostConfig"], c.state
    status = st.get("Status", "created")
    running = status == "running" and c.monitor_alive()
    paused = is_paused(c)
    if paused:
        status = "paused"
    graph = {}
    try:
        graph = ctx.driver().metadata(c.id)
    except Exception:  # noqa: BLE001 - a missing layer must not break inspect
        pass
    mounts = []
    from ..containers.spec import parse_bind
    from ..containers.volumes import VolumeStore, is_named
    for b in hc.get("Binds") or []:
        name = b.split(":", 1)[0]
        m = parse_bind(b, VolumeStore(ctx).dir)
        if is_named(name):
            mounts.append({"Type": "volume", "Name": name, "Source": m["source"], "Destination": m["destination"],
                           "Driver": "local", "Mode": "", "RW": "ro" not in m["options"], "Propagation": ""})
        else:
            mounts.append({"Type": "bind", "Source": m["source"], "Destination": m["destination"], "Mode": "",
                           "RW": "ro" not in m["options"], "Propagation": m["options"][1]})
    for dest, name in (cfg.get("AnonymousVolumes") or {}).items():
        mounts.append({"Type": "volume", "Name": name, "Source": VolumeStore(ctx).mountpoint(name),
                       "Destination": dest, "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
    for dest, opts in (hc.get("Tmpfs") or {}).items():
        mounts.append({"Type": "tmpfs", "Source": "", "Destination": dest, "Mode": opts, "RW": True,
                       "Propagation": ""})
    return {
        "Id": c.id,
        "Created": cfg.get("Created"),
        "Path": cfg.get("Path"),
        "Args": cfg.get("Args") or [],
        "State": {
            "Status": status, "Running": running, "Paused": paused, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": st.get("Pid", 0) if running else 0, "ExitCode": st.get("ExitCode", 0),
            "Error": st.get("Error", ""), "StartedAt": st.get("StartedAt"), "FinishedAt": st.get("FinishedAt"),
        },
        "Image": cfg.get("Image"),
        "ResolvConfPath": cfg.get("ResolvConfPath", ""),
        "HostnamePath": cfg.get("HostnamePath", ""),
        "HostsPath": cfg.get("HostsPath", ""),
        "LogPath": c.log_path,
        "Name": "/" + c.name,
        "RestartCount": 0,
        "Driver": cfg.get("Driver"),
        "Platform": "linux",
        "HostConfig": {**hc, "LogConfig": {"Type": "json-file", "Config": {}}},
        "GraphDriver": {"Name": cfg.get("Driver"), "Data": graph},
        "Mounts": mounts,
        "Config": cfg.get("Config"),
        "NetworkSettings": _network_settings(hc.get("NetworkMode", "none"), st.get("Network") if running else None,
                                             hc.get("PortBindings") if running else None),
        "Runtime": cfg.get("Runtime"),
        "BundlePath": c.bundle,
    }


def _network_settings(mode: str, net: dict | None, bindings: dict | None) -> dict:
    """docker's NetworkSettings: the bridge address of a running container at the top and per network, and
    its published ports."""
    keys = ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress")
    vals = {k: (net or {}).get(k, 0 if k == "IPPrefixLen" else "") for k in keys}
    ports = {p: [{"HostIp": b["HostIp"] or "0.0.0.0", "HostPort": b["HostPort"]} for b in bs]
             for p, bs in (bindings or {}).items()}
    return {**vals, "Ports": ports, "Networks": {mode: dict(vals) if mode == "bridge" else {}}}


def image_json(img) -> dict:
    return {"Id": img.id, "RepoTags": list(img.names), "RepoDigests": list(getattr(img, "digests", []) or []),
            "Created": img.created, "Size": img.size, "Config": img.config.get("config") or {},
            "Architecture": img.config.get("architecture", ""), "Os": img.config.get("os", ""),
            "RootFS": img.config.get("rootfs", {}), "GraphDriver": {"Layers": list(img.layers)}}


_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def render(template: str, obj: dict) -> str:
    """The subset of Go templates people use with docker inspect: field paths, optionally through ``json``."""
    def value(m: re.Match) -> str:
        v = obj
        for part in [p for p in m.group(2).split(".") if p]:
            if isinstance(v, dict) and part in v:
                v = v[part]
            else:
                raise EngineError(f"template: can't evaluate field {part}")
        if m.group(1):
            return json.dumps(v)
        if v is None:
            return "<no value>"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + " ".join(str(x) for x in v) + "]"
        if isinstance(v, dict):
            return "map[" + " ".join(f"{k}:{x}" for k, x in v.items()) + "]"
        return str(v)
    return _FIELD.sub(value, template).replace("\\n", "\n").replace("\\t", "\t")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    out, missing = [], []
    for name in args.names:
        obj = None
        if args.type != "image":
            try:
                obj = container_json(ctx, store.get(name))
            except EngineError:
                obj = None
        if obj is None and args.type != "container":
            try:
                from ..images.store import ImageStore
                obj = image_json(ImageStore(ctx).get(name))
            except (EngineError, ImportError):
                obj = None
        if obj is None:
            missing.append(name)
        else:
            out.append(obj)
    if args.format:
        for obj in out:
            print(render(args.format, obj))
    else:
        print(json.dumps(out, indent=4))
    for name in missing:
        print(f"Error: No such object: {name}", file=sys.stderr)
    return 1 if missing else 0
