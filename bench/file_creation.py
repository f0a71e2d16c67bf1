"""What creating a file costs after many files were deleted nearby: the disk state that
moves the small-jobs and latency figures.

    python bench/file_creation.py [--folder DIR] [--deleted 0 2000 10000]

For each count, makes a fresh folder in DIR (default: the temporary folder), creates and
deletes that many files in it, waits past the second in which they were deleted, then
times creating 200 more there. On ext4 without a journal (this machine's disk), the
kernel skips each inode freed in the last minute (six while its block is dirty) when it
allocates one, looking each up: the cost grows with the deletions. On ext4 with a journal,
tmpfs or xfs it stays flat. Note that this benchmark itself leaves such deletions behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import file_creation_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=tempfile.gettempdir())
    parser.add_argument("--deleted", type=int, nargs="+", default=[0, 2000, 10000])
    args = parser.parse_args()
    for deleted in args.deleted:
        folder = Path(tempfile.mkdtemp(dir=args.folder))
        try:
            for k in range(deleted):
                os.close(os.open(folder / f"old-{k}", os.O_WRONLY | os.O_CREAT, 0o644))
            for k in range(deleted):
                os.unlink(folder / f"old-{k}")
            time.sleep(1.1)  # the kernel counts a deletion as recent from the next second
            print(f"after deleting {deleted:6d} files: {file_creation_us(folder, 200):7.0f} us to "
                  "create one (median of 200)")
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
