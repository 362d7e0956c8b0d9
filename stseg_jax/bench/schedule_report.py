"""The crop-schedule benchmark's report (crop_schedules.py): console tables and bench.png."""
from etils import epath
import numpy as np


def _fmt(value, spec):
  return '-' if value is None else format(value, spec)


def tables(result):
  """The console report: buckets, plain jax vs trainer, schedules."""
  d = result['device']
  lines = [f"{result['model']['name']} {result['model'].get('backbone', '')} "
           f"{result['model']['dtype']} on {d['count']} x {d['kind']} ({d['platform']})", '',
           '| crop | batch | compile (s) | step (s) | img/s | GFLOP/step | GFLOP/s | MFU '
           '| temp GiB |', '|---|---|---|---|---|---|---|---|---|']
  for r in result['buckets']:
    gflop = None if r['flops_per_step'] is None else r['flops_per_step'] / 1e9
    lines.append(f"| {r['crop']} | {r['batch_size']} | {r['compile_seconds']:.1f} "
                 f"| {r['step_seconds']:.4f} | {r['images_per_sec']:.1f} | {_fmt(gflop, '.1f')} "
                 f"| {_fmt(r['gflops_per_sec'], '.1f')} | {_fmt(r['mfu'], '.1%')} "
                 f"| {_fmt(r.get('temp_bytes') and r['temp_bytes'] / 2**30, '.2f')} |")
  lines.append(f"compile wall time, all buckets: {result['compile_wall_seconds']:.1f} s")
  p = result['plain_jax']
  if p:
    lines += ['', f"plain jax step at {p['crop']} x {p['batch_size']}: {p['step_seconds']:.4f} s, "
              f"trainer {p['trainer_step_seconds']:.4f} s: trainer overhead "
              f"{p['trainer_overhead_percent']:+.1f}%"]
  lines += ['',
            '| schedule | images | ideal speedup | predicted (s) | predicted speedup '
            '| measured (s) | img/s | compile (s) | measured speedup | measured / ideal '
            '| val mIoU |', '|---|---|---|---|---|---|---|---|---|---|---|']
  full_eval = result['config']['bench'].get('full_eval', False)  # else a token eval
  for name, s in result['schedules'].items():
    m = s['measured'] or {}
    lines.append(
        f"| {name} | {s['images']} | {s['ideal_speedup']:.3f} "
        f"| {s['predicted_seconds_at_equal_images']:.1f} | {s['predicted_speedup']:.3f} "
        f"| {_fmt(m.get('seconds'), '.1f')} | {_fmt(m.get('images_per_sec'), '.1f')} "
        f"| {_fmt(m.get('compile_seconds'), '.1f')} | {_fmt(m.get('speedup'), '.3f')} "
        f"| {_fmt(m.get('speedup_vs_ideal'), '.3f')} "
        f"| {_fmt(m.get('eval_miou') if full_eval else None, '.4f')} |")
  return '\n'.join(lines)


def plot(result, path):
  """Crop size over epochs, one row per schedule; step time per bucket."""
  # A bare Figure, not pyplot: no global backend state; imported here, as
  # only process 0 draws and matplotlib takes a second to import.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  names = list(result['schedules'])
  crops = [r['crop'] for r in result['buckets']]
  margin = max(crops[-1] - crops[0], 10) * 0.15
  fig = Figure(figsize=(12, 1.2 + 1.1 * len(names)))
  grid = fig.add_gridspec(len(names), 2)
  for k, name in enumerate(names):
    s = result['schedules'][name]
    ax = fig.add_subplot(grid[k, 0])
    ax.step(np.arange(len(s['crops']) + 1), s['crops'] + s['crops'][-1:], where='post')
    ax.set_ylim(crops[0] - margin, crops[-1] + margin)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel('crop')
    title = (f"{name}: ideal {s['ideal_speedup']:.2f}x, "
             f"predicted {s['predicted_speedup']:.2f}x")
    if s['measured']:
      title += f", measured {s['measured']['speedup']:.2f}x"
    ax.set_title(title, fontsize=9, loc='left')
    if k == len(names) - 1:
      ax.set_xlabel('epoch')

  right = fig.add_subplot(grid[:, 1])
  x = np.arange(len(crops))
  bars = right.bar(x, [r['step_seconds'] for r in result['buckets']], label='trainer step')
  right.bar_label(bars, [f"{r['images_per_sec']:.1f} img/s" for r in result['buckets']],
                  fontsize=8)
  p = result['plain_jax']
  if p:
    right.plot([crops.index(p['crop'])], [p['step_seconds']], 'o', color='tab:red',
               label='plain jax step')
  right.set_xticks(x, [f"{r['crop']}\nx{r['batch_size']}" for r in result['buckets']])
  right.set(xlabel='crop x batch', ylabel='seconds per step (median)',
            title=f"step time per bucket, {result['device']['kind']}")
  right.margins(y=0.12)
  right.legend(fontsize=8, loc='lower right')
  fig.tight_layout()
  with epath.Path(path).open('wb') as f:
    fig.savefig(f, dpi=100, format='png')
