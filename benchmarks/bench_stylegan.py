# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Speed of the StyleGAN networks: generator images/s and training s/kimg.

For the CPU config (``cpu-64``: channel_max 128, 8 mapping layers, 3 bands,
batch 16, lazy R1) and the full config (channel_base 32768, channel_max 512,
batch 4), at 64x64 and 256x256, this measures

* generator throughput (``G(z)`` without gradients, random noise), and
* one training iteration of the non-saturating logistic loss with lazy R1
  (phases ``Gmain`` and ``Dmain`` every step, ``Dreg`` every 16 steps
  amortized, Adam, generator EMA update), from which seconds per thousand
  images (s/kimg) and kimg/h follow,

prints a table, and writes ``benchmarks/results/stylegan.json``. The figures
are compared with NVlabs' stylegan2-ada-pytorch on the same machine (CPU
reference ops): about 14.6 s per batch of 4 for the full config at 64x64,
and about 12 kimg/h for the CPU config with 128 feature maps at every
resolution (``cpu-64-nvlabs`` here; 38 kimg/h at channel_max 64). Those
figures were taken at another time; as the machine's speed changes several
fold with its load, a fair ratio needs both codes timed side by side (the
NVlabs code is not part of galsynth because of its licence).

Wall-clock times on a shared machine are noisy; the script records the load
average and the process CPU time next to each figure and repeats every
measurement (the minimum is reported, the median kept in the JSON). It sets
``OMP_WAIT_POLICY=PASSIVE`` (unless already set): with busy-waiting OpenMP
threads, 2 threads on 2 shared cores were 5 times slower than 1 thread.

Run ``python benchmarks/bench_stylegan.py --help`` for the options.
"""

import argparse
import copy
import os
import statistics
import sys
import time

# On a shared machine, OpenMP threads that spin while waiting for a preempted
# sibling make 2 threads several times slower than 1 (measured here: 16.5 s
# instead of 3.5 s per cpu-64 step); passive waiting avoids it. It must be set
# before torch starts its thread pool.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402
from _common import write_results  # noqa: E402

from galsynth.stylegan.configs import get_config
from galsynth.stylegan.losses import NonSaturatingR1Loss, lazy_ratio
from galsynth.stylegan.networks import build_networks

#: NVlabs stylegan2-ada-pytorch on this machine (from the issue), by (config, resolution).
#: Its CPU figure is for 128 feature maps at every resolution ('cpu-64-nvlabs' here).
NVLABS = {
    'full-64': {'s_per_step': 14.6, 'batch': 4},
    'cpu-64-64': {'kimg_per_h': 12.0, 'batch': 16},
    'cpu-64-nvlabs-64': {'kimg_per_h': 12.0, 'batch': 16},
}


def make_config(name, resolution):
    """Network config and training defaults of a benchmark config name."""
    if name == 'full':
        net, train = get_config('cpu-64', resolution=resolution, channel_base=32768,
                                channel_max=512, batch_size=4)
        train.r1_gamma = 0.0002 * resolution ** 2 / 4
    elif name == 'cpu-64-nvlabs':  # the CPU config with NVlabs' channel layout (all 128)
        net, train = get_config('cpu-64', resolution=resolution, channel_base=32768)
    else:
        net, train = get_config(name, resolution=resolution)
    return net, train


class TrainStep:
    """
    A minimal StyleGAN2 training iteration (for timing only).

    Parameters
    ----------
    net : `~galsynth.stylegan.configs.NetworkConfig`
        Networks.
    train : `~galsynth.stylegan.configs.TrainingDefaults`
        Batch size, learning rates, R1.
    seed : int
        Seed.
    """

    def __init__(self, net, train, *, seed=0):
        torch.manual_seed(seed)
        self.G, self.D = build_networks(net)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.batch = train.batch_size
        self.loss = NonSaturatingR1Loss(self.G, self.D, r1_gamma=train.r1_gamma,
                                        r1_interval=train.lazy_r1_interval, pl_weight=0.0,
                                        style_mixing_prob=train.style_mixing_prob)
        ratio = lazy_ratio(train.lazy_r1_interval)
        self.opt = {
            'G': torch.optim.Adam(self.G.parameters(), lr=train.g_lr, betas=train.betas,
                                  eps=train.eps),
            'D': torch.optim.Adam(self.D.parameters(), lr=train.d_lr * ratio,
                                  betas=tuple(b ** ratio for b in train.betas), eps=train.eps),
        }
        self.ema_beta = 0.5 ** (self.batch / (train.ema_kimg * 1000))
        self.generator = torch.Generator().manual_seed(seed)
        self.real = torch.randn([self.batch, net.img_channels, net.resolution, net.resolution],
                                generator=self.generator).clamp(-1, 1)

    def phase(self, name, net):
        """Run one phase: loss, backward, optimizer step."""
        opt = self.opt[net]
        opt.zero_grad(set_to_none=True)
        loss, _ = self.loss.compute(name, self.real, generator=self.generator)
        loss.backward()
        opt.step()

    def update_ema(self):
        """Moving average of the generator weights."""
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - self.ema_beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b)

    def main_step(self):
        """Gmain + Dmain + EMA (every minibatch)."""
        self.phase('Gmain', 'G')
        self.phase('Dmain', 'D')
        self.update_ema()

    def reg_step(self):
        """Dreg (every ``lazy_r1_interval`` minibatches)."""
        self.phase('Dreg', 'D')


#: Keep repeating a measurement until this many seconds have passed (at most
#: MAX_REPEATS runs): on a shared machine the speed changes from minute to minute.
BUDGET_S = 60.0
MAX_REPEATS = 20


def timed(func, repeats, *, budget_s=None):
    """
    Run ``func`` at least ``repeats`` times, and more until ``budget_s`` seconds passed.

    Returns the wall and CPU seconds of each run.
    """
    budget_s = BUDGET_S if budget_s is None else budget_s
    wall, cpu = [], []
    start = time.perf_counter()
    while len(wall) < repeats or (time.perf_counter() - start < budget_s
                                  and len(wall) < MAX_REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        func()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def bench_generator(step, repeats, budget_s):
    """Images per second of the EMA generator without gradients."""
    G = step.G_ema
    n = step.batch
    z = torch.randn([n, G.z_dim], generator=step.generator)

    def run():
        with torch.no_grad():
            G(z, generator=step.generator)

    run()  # warm-up
    wall, cpu = timed(run, repeats, budget_s=budget_s / 3)
    return {'images_per_s': n / min(wall), 'images_per_s_median': n / statistics.median(wall),
            'cpu_s_per_image': min(cpu) / n}


def bench_training(step, repeats, reg_repeats, budget_s):
    """Seconds per training iteration (Dreg amortized) and derived s/kimg."""
    step.main_step()  # warm-up
    step.reg_step()
    main_wall, main_cpu = timed(step.main_step, repeats, budget_s=budget_s)
    reg_wall, reg_cpu = timed(step.reg_step, reg_repeats, budget_s=budget_s / 4)
    interval = step.loss.r1_interval
    s_step = min(main_wall) + min(reg_wall) / interval
    s_step_med = statistics.median(main_wall) + statistics.median(reg_wall) / interval
    cpu_step = min(main_cpu) + min(reg_cpu) / interval
    s_kimg = s_step * 1000 / step.batch
    return {'batch': step.batch, 's_per_step': s_step, 's_per_step_median': s_step_med,
            'cpu_s_per_step': cpu_step, 's_main': min(main_wall), 's_reg': min(reg_wall),
            's_per_kimg': s_kimg, 'kimg_per_h': 3600 / s_kimg,
            'main_wall_all': main_wall, 'reg_wall_all': reg_wall}


def run(configs, resolutions, *, repeats, threads, budget_s=BUDGET_S, skip=()):
    """Run the benchmark grid; list of result dicts."""
    torch.set_num_threads(threads)
    rows = []
    for name in configs:
        for res in resolutions:
            key = f'{name}-{res}'
            if key in skip:
                continue
            net, train = make_config(name, res)
            step = TrainStep(net, train)
            n_params = sum(p.numel() for p in step.G.parameters()) + \
                sum(p.numel() for p in step.D.parameters())
            big = n_params > 20e6 and res >= 256
            reps = 1 if big else repeats
            load0 = os.getloadavg()[0]
            budget = 0.0 if big else budget_s
            gen = bench_generator(step, reps if not big else 2, budget)
            trn = bench_training(step, reps, 1 if big or res >= 256 else 2, budget)
            row = {'config': name, 'resolution': res, 'threads': threads,
                   'channels': {r: net.channels(r) for r in net.resolutions},
                   'parameters': n_params, 'load_average': [load0, os.getloadavg()[0]],
                   'generator': gen, 'training': trn}
            ref = NVLABS.get(key)
            if ref is not None and 's_per_step' in ref:
                row['nvlabs_speedup'] = ref['s_per_step'] / trn['s_per_step']
            if ref is not None and 'kimg_per_h' in ref:
                row['nvlabs_speedup'] = trn['kimg_per_h'] / ref['kimg_per_h']
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


HEADER = (f'{"config":<14} {"res":>4} {"batch":>5} {"G img/s":>8} {"s/step":>8} '
          f'{"cpu s/step":>10} {"s/kimg":>8} {"kimg/h":>7} {"vs NVlabs":>9} {"load":>5}')


def format_row(row):
    """One line of the table."""
    t = row['training']
    ratio = f'{row["nvlabs_speedup"]:.2f}x' if 'nvlabs_speedup' in row else '-'
    return (f'{row["config"]:<14} {row["resolution"]:>4} {t["batch"]:>5} '
            f'{row["generator"]["images_per_s"]:>8.2f} {t["s_per_step"]:>8.2f} '
            f'{t["cpu_s_per_step"]:>10.2f} {t["s_per_kimg"]:>8.0f} {t["kimg_per_h"]:>7.2f} '
            f'{ratio:>9} {row["load_average"][1]:>5.1f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', default='cpu-64,cpu-64-nvlabs,full',
                        help='comma-separated configs: a preset name, "cpu-64-nvlabs" (the '
                             'CPU config with 128 channels at every resolution) or "full" '
                             '(channel_base 32768, channel_max 512, batch 4)')
    parser.add_argument('--resolutions', default='64,256', help='comma-separated resolutions')
    parser.add_argument('--repeats', type=int, default=3, help='timed repetitions')
    parser.add_argument('--threads', type=int, default=2, help='torch threads')
    parser.add_argument('--all', action='store_true',
                        help='also run cpu-64-nvlabs at 256x256 (slow)')
    parser.add_argument('--budget', type=float, default=BUDGET_S,
                        help='seconds to keep repeating each training measurement '
                             f'(default {BUDGET_S:g}; at most {MAX_REPEATS} runs)')
    parser.add_argument('--quick', action='store_true',
                        help='64x64 only, 2 repeats, 10 s budget (a couple of minutes)')
    parser.add_argument('--name', default='stylegan',
                        help='results/<name>.json to write (default stylegan)')
    args = parser.parse_args(argv)
    configs = args.configs.split(',')
    resolutions = [int(r) for r in args.resolutions.split(',')]
    repeats = args.repeats
    budget = args.budget
    if args.quick:
        resolutions, repeats, budget = [64], 2, 10.0
    print(HEADER)
    # 128 feature maps at 256x256 with batch 16 takes minutes per step on CPU
    rows = run(configs, resolutions, repeats=repeats, threads=args.threads, budget_s=budget,
               skip=() if args.all else ('cpu-64-nvlabs-256',))
    payload = {'threads': args.threads, 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
               'nvlabs_reference': NVLABS,
               'budget_s': budget,
               'notes': ('Wall-clock minimum over repeats on a shared machine; s_per_step = '
                         'Gmain + Dmain + EMA + Dreg/16; nvlabs_speedup > 1 means faster '
                         'than NVlabs stylegan2-ada-pytorch.'),
               'results': rows}
    path = write_results(args.name, payload)
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
