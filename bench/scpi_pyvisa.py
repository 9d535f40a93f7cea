"""pyvisa with the pyvisa-py backend: the loop of harness/sim/examples/scpi_bench.rs.

usage: scpi_pyvisa.py PORT COUNT; prints `set <µs>` / `query <µs>`, one line per command.
A set is `:SOUR1:VOLT <v>` then `SYST:ERR?`, which must answer code 0; a query is
`:MEAS:VOLT? CH1`, whose answer must be the volts just set. The first WARMUP rounds are not
printed.
"""

import sys
import time

import pyvisa

WARMUP = 10


def main():
    port, count = sys.argv[1], int(sys.argv[2])
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(
        f"ASRL{port}::INSTR",
        baud_rate=9600,
        read_termination="\n",
        write_termination="\n",
        timeout=2000,
    )

    def write_verified(cmd):
        inst.write(cmd)
        answer = inst.query("SYST:ERR?")
        if int(answer.split(",")[0]) != 0:
            raise SystemExit(f"the instrument refused `{cmd}`: {answer}")

    identity = inst.query("*IDN?")
    if "DP8" not in identity:
        raise SystemExit(f"not a Rigol DP800: {identity!r}")
    write_verified(":SOUR1:CURR 0.5")
    write_verified(":OUTP CH1,ON")

    lines = []
    for round_ in range(WARMUP + count):
        volts = 1.0 + (round_ % 400) / 100.0
        start = time.perf_counter()
        write_verified(f":SOUR1:VOLT {volts:.3f}")
        set_ = time.perf_counter() - start
        start = time.perf_counter()
        answer = inst.query(":MEAS:VOLT? CH1")
        query = time.perf_counter() - start
        if abs(float(answer) - volts) > 0.0005:
            raise SystemExit(f"set {volts:.3f} V, measured {answer} V")
        if round_ >= WARMUP:
            lines.append(f"set {set_ * 1e6:.1f}\nquery {query * 1e6:.1f}\n")
    write_verified(":OUTP CH1,OFF")
    inst.close()
    sys.stdout.write("".join(lines))


main()
