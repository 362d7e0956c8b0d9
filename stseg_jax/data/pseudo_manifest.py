"""A pseudo-label set's manifest: DIR/pseudo/<name>.manifest.json.

It lists the shards and their record counts, and says what made the labels:
the teacher (workdir, step, a digest of its weights), the config hash, the
class names and the unlabeled source. Written last, atomically, once every
shard is complete: a set with a manifest is whole.
"""
import json
import os

from etils import epath

from stseg_jax import errors
from stseg_jax.data import tfrecord

MANIFEST_VERSION = 1


def manifest_path(directory, name):
  return os.path.join(directory, f'{name}.manifest.json')


def write_manifest(directory, manifest):
  """Writes `<name>.manifest.json` atomically; returns its path.

  Required keys: name, class_names, teacher, shards (a list of
  {'file': basename, 'records': count}); config_hash and others are kept as given.
  """
  missing = [k for k in ('name', 'class_names', 'teacher', 'shards') if k not in manifest]
  if missing:
    raise errors.DataError(f'manifest lacks keys {missing}')
  manifest = dict(manifest, format_version=MANIFEST_VERSION)
  path = manifest_path(directory, manifest['name'])
  tmp = epath.Path(tfrecord.temp_path(path))
  tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
  tmp.replace(path)
  return path


def read_manifest(directory, name):
  """The manifest dict of pseudo-label set `name` in `directory`."""
  path = manifest_path(directory, name)
  if not epath.Path(path).is_file():
    raise FileNotFoundError(f'no pseudo-label manifest {path}')
  try:
    manifest = json.loads(epath.Path(path).read_text())
  except json.JSONDecodeError as e:
    raise errors.DataError(f'{path}: not valid JSON: {e}') from e
  if manifest.get('format_version') != MANIFEST_VERSION:
    raise errors.DataError(f'{path}: format_version {manifest.get("format_version")!r}, this code '
                           f'reads {MANIFEST_VERSION}')
  return manifest


def validate_manifest(manifest, expected_class_names, expected_teacher=None):
  """ValueError naming the key where the manifest disagrees with the student's config."""
  where = f'pseudo-label manifest {manifest.get("name")!r}'
  got = list(manifest.get('class_names', []))
  if got != list(expected_class_names):
    diff = next((i for i, (a, b) in enumerate(zip(got, expected_class_names)) if a != b),
                min(len(got), len(expected_class_names)))
    raise errors.DataError(f'{where}: class_names differ from the student config ({len(got)} vs '
                           f'{len(expected_class_names)} classes, first difference at index {diff})')
  teacher = manifest.get('teacher')
  if isinstance(teacher, dict):  # written by stseg_jax.pseudo_label: {'workdir', 'step'}
    teacher = teacher.get('workdir')
  # The same folder by another path (a link, as stseg_jax.ablation makes) is the same teacher.
  if expected_teacher and (not teacher or
                           _resolved(teacher) != _resolved(expected_teacher)):
    raise errors.DataError(f'{where}: teacher {teacher!r} is not the configured '
                           f'{expected_teacher!r}')


def _resolved(path):
  """A local path without links (the same folder by any name); others as they are."""
  return os.path.realpath(path) if '://' not in path else path
