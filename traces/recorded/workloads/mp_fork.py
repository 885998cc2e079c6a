# python3 multiprocessing with fork: the parent builds a few MB of objects,
# four forked workers read them (refcount updates write to the shared
# pages: copy-on-write) and return partial sums.  argv[1]: scale (1).
import multiprocessing as mp
import sys

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1
DATA = [list(range(i, i + 64)) for i in range(0, 40000 * SCALE, 4)]


def work(k):
    return sum(sum(row) for row in DATA[k::4])


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        print(sum(pool.map(work, range(4))))
