"""The package's shape, checked on its source: imports point one way (no circle, no arrow
from a library up to a job, nothing in data/ or models/ above them but errors.py), no
module over 400 lines, no function over 80."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'stseg_jax')
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80
# What data/ and models/ may import from above them: leaves that import nothing of ours.
LEAVES = {'stseg_jax.errors'}


def _modules():
  found = {}
  for folder, _, files in os.walk(ROOT):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        module = os.path.relpath(path[:-3], os.path.dirname(ROOT)).replace(os.sep, '.')
        found[module[:-len('.__init__')] if module.endswith('.__init__') else module] = path
  return found


MODULES = _modules()
TREES = {m: ast.parse(open(p).read(), p) for m, p in MODULES.items()}


def _imports(module):
  """The stseg_jax modules `module` imports (a package when no module of that name)."""
  out = set()
  for node in ast.walk(TREES[module]):
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names if a.name.startswith('stseg_jax'))
    elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('stseg_jax'):
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        out.add(full if full in MODULES else node.module)
  return out - {module}


GRAPH = {m: _imports(m) for m in MODULES}


def _is_job(module):
  """An entry point: `python -m` runs it through cli.run (or it is a benchmark)."""
  source = open(MODULES[module]).read()
  return 'cli.run(' in source or module.startswith('stseg_jax.bench')


def test_no_import_circle():
  state, path = {}, []

  def visit(m):
    state[m] = 'open'
    path.append(m)
    for n in sorted(GRAPH[m]):
      if state.get(n) == 'open':
        pytest.fail('import circle: ' + ' -> '.join(path[path.index(n):] + [n]))
      if n not in state:
        visit(n)
    path.pop()
    state[m] = 'done'

  for m in sorted(GRAPH):
    if m not in state:
      visit(m)


def test_no_arrow_up_to_a_job():
  jobs = {m for m in MODULES if _is_job(m)}
  assert {'stseg_jax.train', 'stseg_jax.self_train', 'stseg_jax.pseudo_label'} <= jobs
  up = [f'{m} -> {n}' for m in sorted(set(MODULES) - jobs) for n in sorted(GRAPH[m] & jobs)]
  assert not up, up


def test_data_and_models_import_nothing_above_them_but_leaves():
  low = ('stseg_jax.data', 'stseg_jax.models')
  up = [f'{m} -> {n}' for m in sorted(MODULES) if m.startswith(low)
        for n in sorted(GRAPH[m]) if not n.startswith(low) and n not in LEAVES]
  assert not up, up
  assert all(not GRAPH[leaf] for leaf in LEAVES)


def test_no_module_over_400_lines_no_function_over_80():
  long_modules = [f'{m}: {len(open(p).readlines())}' for m, p in MODULES.items()
                  if len(open(p).readlines()) > MAX_MODULE_LINES]
  long_functions = [f'{m}.{n.name}: {n.end_lineno - n.lineno + 1}'
                    for m, tree in TREES.items() for n in ast.walk(tree)
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
  assert not long_modules and not long_functions, long_modules + long_functions
