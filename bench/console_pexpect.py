"""pexpect reading the same console feed as `console_bench read`, for bench/run.

    console_pexpect.py CONSOLE_BENCH MB RATE

Starts `CONSOLE_BENCH feed MB RATE`, opens its pty with pyserial (raw, 115200) and `expect`s the
`match` patterns of the ring profile's rules (fixtures/profiles/zephyr-ble.rules.toml, with
re.MULTILINE so `^` means a line start) until it has as many matches as the feed has events, or
2 s pass with no match (the rest are lost). Prints
`matches EVENTS SECONDS CPU_SECONDS expected LINES EVENTS`: SECONDS from the start of the feed to
the last match, CPU_SECONDS this process's user + system time from the start of the feed to the
last match or the end of the silence (as `console_bench read` counts its own).
"""

import os
import re
import subprocess
import sys
import time
import tomllib

import pexpect
import pexpect.fdpexpect
import serial

RULES = "fixtures/profiles/zephyr-ble.rules.toml"
SILENCE = 2.0


def main() -> None:
    feeder_exe, mb, rate = sys.argv[1:4]
    with open(RULES, "rb") as f:
        patterns = [re.compile(rule["match"], re.MULTILINE) for rule in tomllib.load(f)["rule"]]
    feeder = subprocess.Popen(
        [feeder_exe, "feed", mb, rate], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    path, lines, events, _bytes = feeder.stdout.readline().split()
    port = serial.Serial(path, 115200)
    child = pexpect.fdpexpect.fdspawn(port.fileno(), encoding="utf-8", codec_errors="replace")
    feeder.stdin.write("go\n")
    feeder.stdin.flush()
    cpu = sum(os.times()[:2])
    start = last = time.perf_counter()
    matches = 0
    while matches < int(events) and child.expect(
        patterns + [pexpect.TIMEOUT], timeout=SILENCE
    ) < len(patterns):
        matches += 1
        last = time.perf_counter()
    cpu = sum(os.times()[:2]) - cpu
    feeder.stdin.close()
    feeder.wait()
    port.close()
    print(f"matches {matches} {last - start:.6f} {cpu:.2f} expected {lines} {events}")


if __name__ == "__main__":
    main()
