"""``mention-monitor``: run, check, state, preview and secrets subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mention_monitor.errors import ConfigError, MonitorError, SecretsError

if TYPE_CHECKING:
    from mention_monitor.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
log = logging.getLogger("mention_monitor")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (it already does) and no usage dump on stdout."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def _config_arg(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Accepted before or after the subcommand; the subcommand's copy must not reset the other.
    p.add_argument(
        "--config",
        metavar="FILE",
        default=None if top else argparse.SUPPRESS,
        help="TOML configuration (default: $MENTION_MONITOR_CONFIG, else ./monitor.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mention-monitor", description=__doc__)
    _config_arg(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="search, store new mentions and notify (one JSON line out)")
    _config_arg(run)
    run.add_argument("--dry-run", action="store_true", help="search and report; store/send nothing")

    check = sub.add_parser("check", help="validate config and secrets; print each watch's queries")
    _config_arg(check)
    check.add_argument(
        "--schedule",
        metavar="EXPR",
        help="schedule to rate against X's limit, e.g. 'rate(5 minutes)' "
        "(default: template.yaml's ScheduleExpression)",
    )

    state = sub.add_parser("state", help="inspect or change stored cursors")
    _config_arg(state)
    state_sub = state.add_subparsers(dest="state_command", required=True, parser_class=_Parser)
    for name, text in (("init", "create the table/file"), ("show", "list cursors and outbox")):
        _config_arg(state_sub.add_parser(name, help=text))
    reset = state_sub.add_parser("reset", help="forget a watch's cursors (or one notifier's)")
    _config_arg(reset)
    reset.add_argument("--watch", required=True)
    reset.add_argument("--notifier")
    forget = state_sub.add_parser(
        "forget", help="clear what a notifier remembers (numbers that opted out of SMS)"
    )
    _config_arg(forget)
    forget.add_argument("--notifier", required=True)

    preview = sub.add_parser("preview", help="render what a notifier would send, without sending")
    _config_arg(preview)
    preview.add_argument("--notifier", required=True)
    preview.add_argument("--out", metavar="FILE", help="write the rendering here")

    secrets = sub.add_parser("secrets", help="manage the credentials secret")
    _config_arg(secrets)
    sec_sub = secrets.add_subparsers(dest="secrets_command", required=True, parser_class=_Parser)
    put = sec_sub.add_parser("put", help="merge credentials into the secret (hidden prompts)")
    _config_arg(put)
    put.add_argument("--secret-id", required=True)
    put.add_argument("--keys", help="comma-separated keys to ask for (default: all known)")
    put.add_argument("--stdin", action="store_true", help="read one JSON object from stdin")
    return parser


def _emit(obj: Any) -> None:
    """One JSON line on stdout, inert on a terminal (X's and providers' words are in it)."""
    from mention_monitor.logs import inert_json

    sys.stdout.write(inert_json(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))) + "\n")
    sys.stdout.flush()


def _settings(args: argparse.Namespace) -> Settings:
    from mention_monitor.config import load_settings
    from mention_monitor.logs import configure_logging
    from mention_monitor.report import warn_unknown_env

    settings = load_settings(args.config)
    configure_logging(settings.log_level)
    warn_unknown_env(settings)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from mention_monitor.run import RunContext, run_once
    from mention_monitor.wiring import build_notifiers, secret_provider, state_store

    settings = _settings(args)
    secrets = secret_provider(settings)
    store = state_store(settings)
    try:
        ctx = RunContext(
            settings=settings,
            store=store,
            secrets=secrets,
            notifiers=build_notifiers(settings, secrets, store=store, dry_run=args.dry_run),
            dry_run=args.dry_run,
        )
        summary = run_once(ctx)
    finally:
        store.close()
    _emit(summary.to_dict())
    return EXIT_OK if summary.ok else EXIT_FAILED


def _rejected_queries(
    settings: Settings, queries: dict[str, list[str]]
) -> dict[tuple[str, str], str]:
    """X's message for each query the last run saw refused as invalid (read from the state;
    a SQLite file that does not exist yet is not created)."""
    from pathlib import Path

    from mention_monitor.query import query_key
    from mention_monitor.wiring import state_store

    if settings.state.backend == "sqlite" and not Path(settings.state.path).is_file():
        return {}
    store = state_store(settings)
    out: dict[tuple[str, str], str] = {}
    try:
        for watch, qs in queries.items():
            known = store.load(watch).queries
            for q in qs:
                state = known.get(query_key(q))
                if state is not None and state.rejected:
                    out[(watch, q)] = state.rejected
    finally:
        store.close()
    return out


def cmd_check(args: argparse.Namespace) -> int:
    from mention_monitor.query import plan_queries
    from mention_monitor.ratecheck import rate_share, template_schedule
    from mention_monitor.report import check_report
    from mention_monitor.wiring import require_notifier_regions, secret_provider

    settings = _settings(args)
    secrets = secret_provider(settings)
    queries = plan_queries(settings)
    require_notifier_regions(settings)  # what `run` would refuse, `check` refuses too
    secrets.require(settings.required_secret_keys())
    rejected = _rejected_queries(settings, queries)
    report = check_report(settings, secrets, queries, rejected)
    schedule = args.schedule or template_schedule(settings.config_path)
    report["rate_limit"] = rate = rate_share(sum(len(qs) for qs in queries.values()), schedule)
    _emit(report)
    if "warning" in rate:
        sys.stderr.write(f"mention-monitor: warning: {rate['warning']}\n")
    return EXIT_FAILED if rejected else EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    import time

    from mention_monitor.wiring import state_store

    settings = _settings(args)
    store = state_store(settings)
    try:
        if args.state_command == "init":
            _emit({"ok": True, "state": store.init()})
        elif args.state_command == "show":
            from mention_monitor.spend import spend_report

            _emit(
                {
                    "ok": True,
                    "watches": store.show(int(time.time())),
                    "spend": spend_report(store, settings.x, time.time()),
                }
            )
        elif args.state_command == "forget":
            if args.notifier not in settings.notifiers:
                raise ConfigError(f"state forget: --notifier: no notifier named {args.notifier!r}")
            _emit({"ok": True, "notifier": args.notifier, "removed": store.forget(args.notifier)})
        else:
            watch = next((w for w in settings.watches if w.name == args.watch), None)
            if watch is None:
                raise ConfigError(f"state reset: --watch: no watch named {args.watch!r}")
            if args.notifier is not None and args.notifier not in watch.notify:
                uses = ", ".join(watch.notify) or "none"
                raise ConfigError(
                    f"state reset: --notifier: watch {args.watch!r} does not send to "
                    f"{args.notifier!r} (its notifiers: {uses})"
                )
            removed = store.reset(args.watch, args.notifier)
            _emit({"ok": True, "watch": args.watch, "notifier": args.notifier, "removed": removed})
    finally:
        store.close()
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from mention_monitor.preview import run_preview

    settings = _settings(args)
    code: int = run_preview(settings, args.notifier, args.out)
    return code


def cmd_secrets(args: argparse.Namespace) -> int:
    from mention_monitor.secrets_put import put_secrets

    code: int = put_secrets(args)
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "check": cmd_check,
    "state": cmd_state,
    "preview": cmd_preview,
    "secrets": cmd_secrets,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, SecretsError) as exc:
        from mention_monitor.logs import inert_line, redact

        sys.stderr.write(f"mention-monitor: {inert_line(redact(str(exc)))}\n")
        return EXIT_CONFIG
    except MonitorError as exc:  # StateError, SourceError, ...: safe messages, masked anyway
        from mention_monitor.logs import inert_line, redact

        sys.stderr.write(f"mention-monitor: {inert_line(redact(str(exc)))}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unforeseen library error: one masked line
        from mention_monitor.logs import unexpected

        log.debug("unexpected error", exc_info=True)  # masked by the log formatter
        sys.stderr.write(f"mention-monitor: {unexpected(exc)}\n")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
