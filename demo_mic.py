"""Live demo: speak into the microphone, words appear.

    python demo_mic.py [--model PATH] [--device ID|NAME] [--commands "yes,no,stop"]

While you speak, stderr shows an input level meter and the words recognized so far; when you pause,
the utterance is printed on stdout. Ctrl-C stops. ``speechrnn listen`` does the same with more
options; this file shows the few calls it takes.
"""

from __future__ import annotations

import argparse
import sys

import speechrnn
from speechrnn import StreamingRecognizer
from speechrnn.microphone import MicrophoneError, MicrophoneSource, TerminalView, iter_updates


def main() -> int:
    parser = argparse.ArgumentParser(description="Speak; words appear.")
    parser.add_argument("--model", help="checkpoint file or bundled model name")
    parser.add_argument("--device", help="input device index or name (default: the system's)")
    parser.add_argument("--commands", help='comma-separated phrases, e.g. "yes,no,stop"')
    args = parser.parse_args()
    commands = args.commands.split(",") if args.commands else None

    model = speechrnn.load_model(args.model)
    try:
        microphone = MicrophoneSource(args.device)
        streamer = StreamingRecognizer(model, commands=commands, sample_rate=microphone.sample_rate)
        view = TerminalView(microphone.name, sys.stdout, sys.stderr)
        with microphone:
            print(
                f"Listening on {microphone.name}; speak, then pause. Ctrl-C stops.", file=sys.stderr
            )
            try:
                for update in iter_updates(microphone, streamer):
                    view.update(update)
            except KeyboardInterrupt:
                pass
            for event in streamer.flush():  # the utterance still in progress, if any
                view.event(event)
            view.close()
    except MicrophoneError as problem:
        print(f"demo_mic: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
