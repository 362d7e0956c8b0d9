"""The notebooks run top to bottom in a fresh kernel (nbclient), shrunk to
seconds by STSEG_NOTEBOOK_SMOKE, and show what they promise."""
import os
import pathlib

import pytest

nbformat = pytest.importorskip('nbformat')
nbclient = pytest.importorskip('nbclient')

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / 'notebooks'


def run_notebook(name, workdir, monkeypatch):
  monkeypatch.setenv('STSEG_NOTEBOOK_SMOKE', '1')
  monkeypatch.setenv('STSEG_NOTEBOOK_WORKDIR', str(workdir))
  # The kernel is its own process: unoptimised XLA compiles several times
  # faster, and these runs check that cells work, not numbers.
  monkeypatch.setenv('XLA_FLAGS', os.environ.get('XLA_FLAGS', '') +
                     ' --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true')
  notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
  # Run from notebooks/, as Jupyter would: the set-up cell finds the repo.
  nbclient.NotebookClient(notebook, timeout=900, kernel_name='python3',
                          resources={'metadata': {'path': str(NOTEBOOKS)}}).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == 'code' for o in cell.outputs]
  assert not [o for o in outputs if o.output_type == 'error']
  images = sum('image/png' in o.get('data', {}) for o in outputs)
  text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
  return images, text


def test_self_training_notebook(tmp_path, monkeypatch):
  images, text = run_notebook('self_training_demo.ipynb', tmp_path / 'work', monkeypatch)
  # Teacher vs student predictions, pseudo labels, mIoU plot.
  assert images == 3
  assert '| teacher |' in text and '| student |' in text  # report.md printed
  assert (tmp_path / 'work' / 'report.json').exists()


def test_crop_schedules_notebook(tmp_path, monkeypatch):
  images, text = run_notebook('crop_schedules.ipynb', tmp_path / 'work', monkeypatch)
  assert images == 2  # bench.png and the speedup bars
  assert '| coarse2fine+ |' in text  # the bench's table
  assert (tmp_path / 'work' / 'bench.json').exists()
