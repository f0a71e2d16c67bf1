"""Fuzz: thousands of generated hostile job files dropped in batches among good ones.

    python bench/fuzz.py [--files 3000] [--batch 250] [--seed 1] [--nasty]

Each batch mixes good jobs (random numbers below 10^6, checked against a sieve) with
files made three ways: valid job files mutated byte-wise (flips, inserts of YAML
punctuation, deletions, splices), random YAML structures (known, misspelt and random
keys; integers of every size and sign, floats, strings, booleans, paths, nesting,
anchors, tags) and raw token soup. Some get odd names (spaces, quotes, non-ASCII,
newlines), some are written in place rather than renamed in. `--nasty` adds the inputs
known to hurt a naive runner: a billion-laughs file, FIFOs, dangling symlinks and
file names that are not UTF-8.

The spool's limits are lowered (config.yaml) so that a mutation that happens to make
a valid job stays cheap. Every file must get exactly one result, `failed` with an
error that has a message and a fix (or `done`); the daemon must never die or stall.
At the end it prints: files tried, daemon deaths, stalls, results missing and
duplicated, failed results without message/fix, good jobs exact, peak daemon RSS,
the daemon's open files, leftovers in the spool and `runner status` latency. Files
behind a problem are saved for reproduction.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import yaml

from common import YAML_LOADER, descendants, primes_below, rss_mib, running_daemon


LIMITS = """
max_processes: 2
rescan_seconds: 0.2
pool_idle_seconds: 5
defaults:
  timeout: 5
limits:
  job_file_bytes: 262144
  numbers: 20000
  number_bits: 256
  range_length: 20000
  chunksize: 10000
  timeout: 10
"""

TEMPLATES = [
    "id: fz\nnumbers: [17977, 10619863, 106198, 6620830889]\n",
    "numbers:\n  - 2\n  - 3\n  - 4\n  - 1000003\n",
    "range: {start: 1000, stop: 1100}\npool: {processes: 2, chunksize: 10}\n",
    "numbers: [97, 98, 99]\npool:\n  processes: 1\n  chunksize: 2\n  maxtasksperchild: 5\n"
    "  start_method: forkserver\n  ordered: false\ntimeout: 30\n",
    "numbers_file: nums.txt\npool: {chunksize: 7}\n",
    "id: 'quoted-id'\nrange:\n  start: 0\n  stop: 500\n",
    "# a comment\nid: \"dq\"   # trailing\nnumbers: [0, 1, 2, 017, 4294967311]\n",
]
KEYS = ["id", "numbers", "numbers_file", "range", "pool", "timeout", "start", "stop",
        "processes", "chunksize", "maxtasksperchild", "start_method", "ordered",
        "numbrs", "proceses", "timout", "Numbers", "rnage", "numbers_files", "step", "<<"]
PUNCTUATION = b"[]{}:,-&*!|>'\"#%@`?\n\t \x00\xff\xfe\xef\xbb\xbf0123456789.eE_x+~"
PATHS = ["nums.txt", "../nums.txt", "/etc/passwd", "/dev/zero", "jobs", "outbox/../nums.txt",
         "jobs/.state/tmp", "nums.txt\0", "", ".", "..", "~/x", "link.txt", "fifo.txt"]
NAME_CHARS = " _-&'\"()[]{}é漢😀\t\n#%!,;=+@"


class Generator:
    def __init__(self, rng: random.Random, nasty: bool):
        self.rng, self.nasty = rng, nasty

    # -- contents ------------------------------------------------------------------

    def mutate(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(TEMPLATES).encode())
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.25 and data:
                data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op < 0.5:
                data[pos:pos] = bytes(rng.choice(PUNCTUATION) for _ in range(rng.randint(1, 4)))
            elif op < 0.7 and data:
                del data[pos:pos + rng.randint(1, 6)]
            elif op < 0.85:
                other = rng.choice(TEMPLATES).encode()
                start = rng.randrange(len(other))
                data[pos:pos] = other[start:start + rng.randint(1, 30)]
            elif data:
                end = min(len(data), pos + rng.randint(1, 20))
                data[pos:pos] = data[pos:end] * rng.randint(1, 50)
        return bytes(data)

    def scalar(self):
        rng = self.rng
        kind = rng.randrange(16)
        if kind == 0:
            return rng.randint(0, 10**6)
        if kind == 1:
            return -rng.randint(1, 10**6)
        if kind == 2:
            return rng.randint(0, 10 ** rng.randint(10, 2000))
        if kind == 3:
            return rng.choice([0.5, 1e300, float("inf"), float("-inf"), float("nan"), -0.0, 2.0])
        if kind == 4:
            return rng.choice([True, False, None])
        if kind == 5:
            return rng.choice(["017", "0x1f", "1_000", "10:20", "+5", "0b11", "1e3", ".inf", "yes",
                               "~", "null", "2001-12-14", "-0"])
        if kind == 6:
            return rng.choice(PATHS)
        if kind == 7:
            return rng.choice(["fork", "spawn", "forkserver", "forkk", "thread", ""])
        if kind == 8:
            return "".join(rng.choice(NAME_CHARS + "abcxyz") for _ in range(rng.randint(0, 80)))
        if kind == 9:
            return "x" * rng.choice([64, 65, 1000, 100_000])
        return rng.randint(0, 5000)

    def value(self, depth: int):
        rng = self.rng
        if depth > 4 or rng.random() < 0.55:
            return self.scalar()
        if rng.random() < 0.5:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 6))]
        return {self.key(): self.value(depth + 1) for _ in range(rng.randint(0, 5))}

    def key(self):
        rng = self.rng
        if rng.random() < 0.8:
            return rng.choice(KEYS)
        return rng.choice([self.scalar(), "".join(rng.choice("abcdefgh_") for _ in range(rng.randint(1, 12)))])

    def structure(self) -> bytes:
        rng = self.rng
        doc = {}
        main = rng.choice(["numbers", "range", "numbers_file", None])
        if main == "numbers":
            doc["numbers"] = [self.scalar() for _ in range(rng.randint(0, 10))]
        elif main == "range":
            doc["range"] = {"start": self.scalar(), "stop": self.scalar()}
        elif main == "numbers_file":
            doc["numbers_file"] = rng.choice(PATHS)
        for _ in range(rng.randint(0, 4)):
            doc[self.key()] = self.value(1)
        if rng.random() < 0.3:
            doc["pool"] = {rng.choice(KEYS[8:13] + ["proceses", "x"]): self.scalar()
                           for _ in range(rng.randint(1, 4))}
        try:
            text = yaml.safe_dump(doc, default_flow_style=rng.choice([None, True, False]),
                                  allow_unicode=rng.random() < 0.5, sort_keys=rng.random() < 0.5)
        except (yaml.YAMLError, TypeError, ValueError):
            text = repr(doc)
        return self.decorate(text).encode("utf-8", "surrogatepass")

    def decorate(self, text: str) -> str:
        """Tags, anchors, aliases, a BOM, CRLF, extra documents."""
        rng = self.rng
        tricks = rng.randrange(12)
        if tricks == 0:
            tag = rng.choice(["!!python/object/apply:os.getcwd []", "!!python/tuple", "!!set",
                              "!!binary", "!custom", "!!str", "!!int", "!!float", "!!map", "!!seq"])
            text = text.replace(": ", f": {tag} ", 1)
        elif tricks == 1:
            text = "base: &a [1, 2, 3]\n" + text + "alias: *a\n"
        elif tricks == 2:
            fan, levels = rng.randint(2, 4), rng.randint(1, 3)  # small graphs only
            lines = ["l0: &l0 [1, 2]"] + [f"l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * fan)}]"
                                         for k in range(1, levels + 1)]
            text = "\n".join(lines) + f"\nnumbers: *l{levels}\n"
        elif tricks == 3:
            text = "\ufeff" + text
        elif tricks == 4:
            text = text.replace("\n", "\r\n")
        elif tricks == 5:
            text = text + "---\n" + text
        elif tricks == 6:
            depth = rng.choice([10, 100, 1000, 10_000, 50_000])
            text = text + "deep: " + "[" * depth + "]" * depth + "\n"
        return text

    def soup(self) -> bytes:
        rng = self.rng
        tokens = ["numbers", "range", ":", " ", "\n", "  ", "-", "[", "]", "{", "}", ",", "&a", "*a",
                  "!!int", "'", '"', "#", "1", "17", "-3", "1.5", "true", "null", "id", "pool",
                  "processes", "\t", "---", "...", "? ", "|", ">", "%YAML 1.2\n", "@", "\x85"]
        return "".join(rng.choice(tokens) for _ in range(rng.randint(0, 200))).encode()

    def hostile(self) -> bytes:
        choice = self.rng.random()
        if choice < 0.45:
            return self.mutate()
        if choice < 0.85:
            return self.structure()
        return self.soup()

    # -- names -----------------------------------------------------------------------

    def name(self, index: int) -> str:
        rng = self.rng
        suffix = ".yml" if rng.random() < 0.1 else ".yaml"
        if rng.random() < 0.1:
            stem = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 12)))
            return f"w{stem}-{index}{suffix}"
        return f"fz-{index:06d}{suffix}"


def write_nasty(jobs: Path, root: Path, index: int, rng: random.Random) -> tuple[str, bytes]:
    """One of the inputs known to hurt: returns the name it has in jobs/ and a description."""
    kind = rng.randrange(4)
    if kind == 0:
        name = f"nasty-laughs-{index}.yaml"
        text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
            f"{chr(98 + k)}: &{chr(98 + k)} [{','.join(['*' + chr(97 + k)] * 9)}]\n" for k in range(8)
        ) + "numbers: *i\n"
        (jobs / name).write_text(text)
        return name, text.encode()
    if kind == 1:
        name = f"nasty-fifo-{index}.yaml"
        os.mkfifo(jobs / name)
        return name, b"<a FIFO>"
    if kind == 2:
        name = f"nasty-dangling-{index}.yaml"
        os.symlink(root / f"missing-{index}", jobs / name)
        return name, b"<a dangling symlink>"
    name = os.fsdecode(f"nasty-\xff-{index}.yaml".encode("latin-1"))
    (jobs / name).write_bytes(b"numbers: [2, 3]\n")
    return name, b"<a file name that is not UTF-8>"


class Daemons:
    """The daemon of the spool, restarted (and counted) when it dies or stalls."""

    def __init__(self, root: Path, first: subprocess.Popen, logs: Path):
        self.root, self.current, self.logs = root, first, logs
        self.extra: list[subprocess.Popen] = []
        self.deaths = self.stalls = 0

    def restart(self) -> None:
        log = open(self.logs / f"daemon-{len(self.extra) + 1}.log", "wb")
        self.current = subprocess.Popen(["runner", "start", "--root", str(self.root)],
                                        stdout=log, stderr=subprocess.STDOUT)
        self.extra.append(self.current)

    def kill_current(self) -> None:
        """Stop a stuck daemon: SIGTERM, then SIGKILL it and its descendants, by pid."""
        process = self.current
        below = descendants(process.pid)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for process in self.extra:
            if process.poll() is None:
                self.current = process
                self.kill_current()


def read_results(outbox: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for name in os.listdir(outbox):
        if not name.endswith(".yaml"):
            continue
        try:
            result = yaml.load((outbox / name).read_bytes(), Loader=YAML_LOADER)
        except (OSError, yaml.YAMLError):
            result = {"source": f"<unreadable result {name}>"}
        result = result if isinstance(result, dict) else {"source": f"<odd result {name}>"}
        result["_file"] = name
        source = str(result.get("source", "?"))
        found.setdefault(source[5:] if source.startswith("jobs/") else source, []).append(result)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=3000, help="hostile files in all")
    parser.add_argument("--batch", type=int, default=250, help="hostile files per batch")
    parser.add_argument("--good", type=int, default=25, help="good jobs per batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stall", type=float, default=30.0,
                        help="a batch with no new result for this many seconds is a stall")
    parser.add_argument("--nasty", action="store_true",
                        help="add known killers: billion laughs, FIFOs, dangling links, bad names")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    gen = Generator(rng, args.nasty)
    primes = primes_below(10**6)
    keep = Path(tempfile.gettempdir()) / f"runner-fuzz-seed{args.seed}"

    tried: dict[str, bytes] = {}          # name in jobs/ -> content (for reproduction)
    good: dict[str, list[int]] = {}       # name -> numbers
    status_latencies: list[float] = []
    peak = [0.0]
    start = time.monotonic()
    with running_daemon(LIMITS) as (root, first), tempfile.TemporaryDirectory() as logs:
        jobs, outbox = root / "jobs", root / "outbox"
        (root / "nums.txt").write_text("2\n3\n4\n5\n# comment\n\n1000003\n")
        os.symlink(root / "nums.txt", root / "link.txt")
        os.mkfifo(root / "fifo.txt")
        daemons = Daemons(root, first, Path(logs))
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib(daemons.current.pid))
                time.sleep(0.1)

        time.sleep(1.0)
        fds_start = len(os.listdir(f"/proc/{first.pid}/fd"))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        index = 0
        try:
            while index < args.files:
                batch: list[str] = []
                size = min(args.batch, args.files - index)
                plan = ["bad"] * size + ["good"] * args.good
                rng.shuffle(plan)
                staged: list[tuple[Path, Path]] = []
                for kind in plan:
                    index += kind == "bad"
                    if kind == "good":
                        name = f"good-{len(good):05d}.yaml"
                        numbers = [rng.randrange(10**6) for _ in range(rng.randint(1, 40))]
                        good[name] = numbers
                        data = f"numbers: {numbers}\n".encode()
                    elif args.nasty and rng.random() < 0.02:
                        name, data = write_nasty(jobs, root, index, rng)
                        tried[name] = data
                        batch.append(name)
                        continue
                    else:
                        name, data = gen.name(index), gen.hostile()
                        tried[name] = data
                    batch.append(name)
                    if rng.random() < 0.2:  # written in place, not renamed in
                        (jobs / name).write_bytes(data)
                    else:
                        hidden = jobs / f".stage-{len(staged)}-{index}.tmp"
                        hidden.write_bytes(data)
                        staged.append((hidden, jobs / name))
                for hidden, dest in staged:
                    os.rename(hidden, dest)
                t0 = time.perf_counter()
                try:
                    subprocess.run(["runner", "status", "--json", "--root", str(root)],
                                   capture_output=True, timeout=30)
                    status_latencies.append(time.perf_counter() - t0)
                except subprocess.TimeoutExpired:
                    status_latencies.append(float("inf"))
                # wait for the batch
                last, changed = -1, time.monotonic()
                while True:
                    results = read_results(outbox)
                    have = sum(1 for name in batch if name in results)
                    if have == len(batch):
                        break
                    if daemons.current.poll() is not None:
                        daemons.deaths += 1
                        print(f"  daemon died (exit {daemons.current.returncode}) in batch ending "
                              f"at file {index}; restarting")
                        daemons.restart()
                        changed = time.monotonic()
                    if have != last:
                        last, changed = have, time.monotonic()
                    elif time.monotonic() - changed > args.stall:
                        daemons.stalls += 1
                        held = [(folder.parent.name, (folder / "source").read_text(errors="replace")
                                 if (folder / "source").exists() else folder.name)
                                for place in ("claiming", "running")
                                for folder in (jobs / ".state" / place).iterdir()]
                        print(f"  stall: {len(batch) - have} files of the batch ending at file "
                              f"{index} have no result after {args.stall:.0f} s; in claiming/ and "
                              f"running/: {held[:4]}; restarting the daemon")
                        daemons.kill_current()
                        if daemons.stalls > 3:
                            raise SystemExit("more than 3 stalls; stopping the fuzz")
                        daemons.restart()
                        changed = time.monotonic()
                    time.sleep(0.1)
                print(f"  {index} hostile files tried, {len(good)} good; peak daemon RSS "
                      f"{peak[0]:.1f} MiB", flush=True)
        except SystemExit as stopped:
            print(f"  {stopped}")
        finally:
            time.sleep(1.5)  # a second result for a file would show by now
            stop.set()
            sampler.join(5)
            alive = daemons.current.poll() is None
            fds_end = len(os.listdir(f"/proc/{daemons.current.pid}/fd")) if alive else -1
            results = read_results(outbox)
            leftovers = {
                "queued in jobs/": [n for n in os.listdir(jobs) if not n.startswith(".")],
                "hidden claims in jobs/": [n for n in os.listdir(jobs) if n.startswith(".claimed-")],
                "jobs/.state/tmp": os.listdir(jobs / ".state" / "tmp"),
                "jobs/.state/claiming": os.listdir(jobs / ".state" / "claiming"),
                "jobs/.state/running": os.listdir(jobs / ".state" / "running"),
            }
            daemons.close()
    elapsed = time.monotonic() - start

    missing = [name for name in list(tried) + list(good) if name not in results]
    doubled = [name for name in list(tried) + list(good) if len(results.get(name, [])) > 1]
    states: dict[str, int] = {}
    unhelpful, unnamed, long_messages = [], [], []
    for name in tried:
        for result in results.get(name, [])[:1]:
            state = str(result.get("state"))
            states[state] = states.get(state, 0) + 1
            if state == "failed":
                error = result.get("error") if isinstance(result.get("error"), dict) else {}
                message, fix = str(error.get("message") or ""), str(error.get("fix") or "")
                if not message.strip() or not fix.strip():
                    unhelpful.append(name)
                elif f"jobs/{name}" not in message and error.get("field") != "numbers_file":
                    unnamed.append(name)
                if len(message) > 2000:
                    long_messages.append(name)
    exact = 0
    for name, numbers in good.items():
        got = results.get(name, [])
        if got and got[0].get("state") == "done":
            listed = got[0].get("primes")
            if listed is None and got[0].get("primes_file"):
                listed = [int(x) for x in (outbox / got[0]["primes_file"]).read_text().split()] \
                    if (outbox / got[0]["primes_file"]).exists() else None
            exact += listed == [n for n in numbers if n in primes]
    strays = [source for source in results if source not in tried and source not in good]

    print(f"files tried: {len(tried)} hostile + {len(good)} good, in {elapsed:.0f} s (seed {args.seed}"
          f"{', with --nasty' if args.nasty else ''})")
    print(f"daemon deaths: {daemons.deaths}")
    print(f"daemon stalls: {daemons.stalls}")
    print(f"results missing: {len(missing)}")
    print(f"results duplicated: {len(doubled)}")
    print(f"hostile results by state: {dict(sorted(states.items()))}")
    print(f"failed results without message or fix: {len(unhelpful)}; whose message does not name "
          f"the file: {len(unnamed)}; messages over 2000 characters: {len(long_messages)}")
    print(f"good jobs exact: {exact} of {len(good)}")
    print(f"results from no dropped file: {len(strays)}")
    print(f"peak daemon RSS: {peak[0]:.1f} MiB")
    print(f"daemon open files: {fds_start} at the start, {fds_end} at the end"
          f"{' (another daemon)' if daemons.extra else ''}")
    print("left in the spool: " + ", ".join(f"{place} {len(names)}" for place, names in leftovers.items()))
    finite = [s for s in status_latencies if s != float("inf")]
    print(f"`runner status --json` after each drop: median {statistics.median(finite):.2f} s, max "
          f"{max(status_latencies):.2f} s over {len(status_latencies)} calls" if finite else
          "`runner status --json`: never answered")
    problems = {"missing": missing, "duplicated": doubled, "unhelpful": unhelpful,
                "unnamed": unnamed, "long": long_messages}
    if any(problems.values()):
        keep.mkdir(exist_ok=True)
        for kind, names in problems.items():
            for k, name in enumerate(names[:20]):
                (keep / f"{kind}-{k}.yaml").write_bytes(tried.get(name, b"(good job) " + os.fsencode(name)))
                example = results.get(name, [{}])[0].get("error", {})
                print(f"  {kind}: {name!r}: {tried.get(name, b'')[:120]!r} -> "
                      f"{str(example.get('message', '') if isinstance(example, dict) else example)[:200]}")
        print(f"files behind the problems saved in {keep}")


if __name__ == "__main__":
    main()
