"""Run the emulator standalone: ``python -m local.portone_emulator --port 8090``; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from local.portone_emulator.clock import FakeClock
from local.portone_emulator.emulator import (
    DEFAULT_CHANNEL_KEY,
    DEFAULT_IMP_KEY,
    DEFAULT_IMP_SECRET,
    PortOneEmulator,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.portone_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--imp-key", default=DEFAULT_IMP_KEY)
    parser.add_argument("--imp-secret", default=DEFAULT_IMP_SECRET)
    parser.add_argument(
        "--unknown-customer-status",
        type=int,
        choices=(404, 200),
        default=404,
        help="status for an unknown customer_uid on GET and DELETE (docs/portone-v1.md §3.4)",
    )
    parser.add_argument(
        "--notice-url",
        help="where webhooks of scheduled runs go when a schedule has no notice_url "
        "(docs/portone-v1.md §4.6); schedules run on POST /__emulator__/run-due",
    )
    parser.add_argument(
        "--live-channel",
        action="store_true",
        help="issue keys and payments on a live channel (sandbox: false); the default is a test channel",
    )
    parser.add_argument(
        "--show-sandbox-payments",
        action="store_true",
        help="leniency: GET /payments/{imp_uid} shows test-channel payments without include_sandbox=true, "
        "as before 2026-01-26 (docs/portone-v1.md §5.4)",
    )
    parser.add_argument(
        "--legacy-pg",
        action="store_true",
        help="leniency: issue billing keys without channel_key (pg, or the default PG), as before the 2026 "
        f"schema required it (docs/portone-v1.md §3.1); the channel key otherwise is {DEFAULT_CHANNEL_KEY}",
    )
    parser.add_argument(
        "--list-sandbox-payments",
        action="store_true",
        help="leniency: /payments/find... and a key's payments list show test-channel payments "
        "(docs/portone-v1.md §8 item 8)",
    )
    parser.add_argument(
        "--schedule-lists-as-array",
        action="store_true",
        help="leniency: the schedule lists answer the spec's bare array, not the paged object "
        "(docs/portone-v1.md §4.4)",
    )
    parser.add_argument(
        "--again-without-name",
        action="store_true",
        help="leniency: POST /subscribe/payments/again pays without the name the schema requires "
        "(docs/portone-v1.md §5.1)",
    )
    parser.add_argument(
        "--truncate-long-fields",
        action="store_true",
        help="leniency: text longer than the schema's maxLength is cut to it, not refused; customer_uid and "
        "merchant_uid are refused all the same (docs/portone-v1.md §6.3, §8 item 9)",
    )
    parser.add_argument(
        "--fake-clock",
        action="store_true",
        help="start a FakeClock at the current time, movable with POST /__emulator__/clock",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    clock: Callable[[], float] = FakeClock(time.time()) if args.fake_clock else time.time
    emulator = PortOneEmulator(
        {args.imp_key: args.imp_secret},
        clock=clock,
        unknown_customer_status=args.unknown_customer_status,
        notice_url=args.notice_url,
        test_channel=not args.live_channel,
        show_sandbox_payments=args.show_sandbox_payments,
        legacy_pg=args.legacy_pg,
        again_without_name=args.again_without_name,
        list_sandbox_payments=args.list_sandbox_payments,
        schedule_lists_as_array=args.schedule_lists_as_array,
        truncate_long_fields=args.truncate_long_fields,
    )
    url = emulator.start(args.host, args.port)
    print(f"PortOne V1 emulator listening on {url}", flush=True)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background may have set it to "ignore".
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    print("PortOne V1 emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
