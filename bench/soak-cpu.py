#!/usr/bin/python3
# Who had the two cores during each burst of the soak.
#
#   soak-cpu.py PID EVERY SECONDS OUT
#
# For each burst (they start on multiples of EVERY seconds, as soak.py sends
# them), from 0.5 s before it to 1.5 s after, until SECONDS have passed:
# - outpostd's loop (the thread PID), every 5 ms, from its schedstat: the time
#   it ran and the time it was ready to run and waited for a CPU, to set beside
#   its log's first parse and last answer of the burst;
# - every process of the machine, at the window's two ends: the CPU time it
#   used in the window (its threads' schedstat, in ns), summed by name, and the
#   machine's whole (/proc/stat): what the processes alive at the end do not
#   account for is put to those that ended inside the window.
# Reading /proc for every process costs a few ms, so it is done only twice a
# window, both outside the burst's own span.
#
# OUT gets one line per 5 ms sample ("s T RUN_NS WAIT_NS") and one per window
# and name ("w START NAME CPU_MS"); soak-burst.py reads them with outpostd's log.
import os
import sys
import time

pid, every, seconds, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")


def sweep():
    """pid -> (start time, name, run ns of all its threads)"""
    procs = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            run = 0
            for t in os.listdir("/proc/%s/task" % p):
                with open("/proc/%s/task/%s/schedstat" % (p, t)) as f:
                    run += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        # The name is in parentheses and may hold spaces or parentheses; a
        # kernel worker's changes with its work, so all of them are "kworker".
        name = st[st.index("(") + 1:st.rindex(")")]
        if name.startswith("kworker/"):
            name = "kworker"
        procs[p] = (st[st.rindex(")") + 2:].split()[19], name, run)
    return procs


def busy():
    """The machine's CPU time so far, in ms (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        c = [int(x) for x in f.readline().split()[1:8]]
    return (c[0] + c[1] + c[2] + c[5] + c[6]) * tick_ms


def window(start, o):
    a, a_busy = sweep(), busy()
    path = "/proc/%s/task/%s/schedstat" % (pid, pid)
    end = start + 1.5
    while time.time() < end:
        try:
            with open(path) as f:
                s = f.read().split()
        except OSError:
            return False
        o.write("s %.4f %s %s\n" % (time.time(), s[0], s[1]))
        time.sleep(0.005)
    b, b_busy = sweep(), busy()
    by, seen = {}, 0.0
    for p, (began, name, run) in b.items():
        was = a.get(p)
        ms = (run - (was[2] if was is not None and was[0] == began else 0)) / 1e6
        if ms > 0:
            by[name] = by.get(name, 0) + ms
            seen += ms
    # What no process alive at the end accounts for: those that ended inside the
    # window (a hook, a shim), less what reading /proc cost.
    by["(ended in the window)"] = max(0.0, b_busy - a_busy - seen)
    for name, ms in sorted(by.items(), key=lambda x: -x[1]):
        o.write("w %.3f %s %.1f\n" % (start, name.replace(" ", "_"), ms))
    o.write("w %.3f (all) %.1f\n" % (start, b_busy - a_busy))
    o.flush()
    return True


t_end = time.time() + seconds
with open(out, "w") as o:
    while True:
        nxt = (time.time() // every + 1) * every
        if nxt - 0.5 > t_end:
            break
        time.sleep(max(0.0, nxt - 0.5 - time.time()))
        if not window(nxt, o):
            break
