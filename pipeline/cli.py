"""The `ttc` command. Each subcommand loads its config, builds components by name and calls one
plain function that tests and the SDK call too. Heavy modules are imported inside handlers."""
from __future__ import annotations

import argparse
import sys


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.runner import run

    config = load_config(args.config, args.overrides)
    result = run(config, resume_dir=args.resume, ray_address=args.address)
    print(f"run directory: {result.run_dir}")
    return 0


def cmd_doctor(_args: argparse.Namespace) -> int:
    from pipeline.doctor import doctor

    return doctor()


def cmd_sandbox_build_image(args: argparse.Namespace) -> int:
    from sandbox.image.build import build_image

    image_id = build_image(tag=args.tag, force=args.force)
    print(f"{args.tag} {image_id}")
    return 0


def cmd_sandbox_gc(args: argparse.Namespace) -> int:
    from sandbox.reaper import gc

    removed = gc(all_pools=args.all)
    print(f"removed {len(removed)} container(s)")
    return 0


def cmd_serve_model(args: argparse.Namespace) -> int:
    from pipeline.serve_model import serve_model

    serve_model(args.model_path, host=args.host, port=args.port)
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a config: sample, execute, verify, select")
    p.add_argument("config", help="YAML run config, e.g. configs/demo.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. sampling.n=64")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run without redoing finished samples")
    p.add_argument("--address", help="Ray address (default: start or attach to a local Ray)")
    p.set_defaults(func=cmd_run)


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="the Docker sandbox")
    ssub = p.add_subparsers(dest="sandbox_cmd", required=True)
    b = ssub.add_parser("build-image", help="build the sandbox image offline (debootstrap + docker import)")
    b.add_argument("--tag", default="ttc-sandbox:base")
    b.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    b.set_defaults(func=cmd_sandbox_build_image)
    g = ssub.add_parser("gc", help="remove containers of dead sandbox pools")
    g.add_argument("--all", action="store_true", help="remove every ttc container, live pools included")
    g.set_defaults(func=cmd_sandbox_gc)


def _add_serve_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve-model", help="OpenAI-compatible endpoint for a local HF model (Ray Serve)")
    p.add_argument("model_path")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve_model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttc", description="test-time compute on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    sub.add_parser("doctor", help="check this machine is ready").set_defaults(func=cmd_doctor)
    _add_sandbox(sub)
    _add_serve_model(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipeline.config import ConfigError
    from pipeline.registry import UnknownNameError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UnknownNameError) as exc:
        print(f"ttc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
