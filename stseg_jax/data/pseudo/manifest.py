"""A pseudo-label set's manifest: DIR/pseudo/<name>.manifest.json, one schema read and written here.

It lists the shards and their record counts, and says what made the labels:
the teacher (workdir, step, a digest of its weights), the config hash, the
class names and the unlabeled source. Written last, atomically, once every
shard is complete: a set with a manifest is whole.
"""
import dataclasses
import json
import os

from etils import epath

from stseg_jax import errors
from stseg_jax.data.pseudo import tfrecord

# 2: `teacher` is always {'workdir', 'step', 'weights_sha256'} (1 also allowed a bare
# workdir string); version 1 files are read too.
MANIFEST_VERSION = 2
_READS = (1, 2)


@dataclasses.dataclass(frozen=True)
class Manifest:
  """What a pseudo-label set holds and what made it."""
  name: str
  class_names: tuple
  teacher: dict  # {'workdir', 'step', 'weights_sha256'}: the run that labelled
  shards: tuple  # ({'file': basename, 'records': count, 'start': first image}, ...)
  config_hash: str = ''
  soft_topk: int = 0  # soft-label classes stored per pixel (0: hard labels only)
  source: dict = dataclasses.field(default_factory=dict)  # {'data', 'split', 'num_images'}

  @property
  def teacher_workdir(self):
    return self.teacher.get('workdir', '')

  def to_json(self):
    fields = dataclasses.asdict(self)
    fields.update(class_names=list(self.class_names), shards=list(self.shards),
                  format_version=MANIFEST_VERSION)
    return json.dumps(fields, indent=1, sort_keys=True)

  @classmethod
  def from_dict(cls, fields, where='manifest'):
    """From a manifest file's fields (either version); DataError naming what is wrong."""
    version = fields.get('format_version')
    if version not in _READS:
      raise errors.DataError(f'{where}: format_version {version!r}, this code reads {_READS}')
    missing = [k for k in ('name', 'class_names', 'teacher', 'shards') if k not in fields]
    if missing:
      raise errors.DataError(f'{where}: lacks keys {missing}')
    teacher = fields['teacher']
    if not isinstance(teacher, dict):  # version 1: the workdir alone
      teacher = {'workdir': teacher}
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in fields.items() if k in known},
                  'class_names': tuple(fields['class_names']), 'teacher': teacher,
                  'shards': tuple(fields['shards'])})


def manifest_path(directory, name):
  return os.path.join(directory, f'{name}.manifest.json')


def write_manifest(directory, manifest):
  """Writes `manifest` (a Manifest) as `<name>.manifest.json` atomically; returns its path."""
  path = manifest_path(directory, manifest.name)
  tmp = epath.Path(tfrecord.temp_path(path))
  tmp.write_text(manifest.to_json())
  tmp.replace(path)
  return path


def read_manifest(directory, name):
  """The Manifest of pseudo-label set `name` in `directory`."""
  path = manifest_path(directory, name)
  if not epath.Path(path).is_file():
    raise FileNotFoundError(f'no pseudo-label manifest {path}')
  try:
    fields = json.loads(epath.Path(path).read_text())
  except json.JSONDecodeError as e:
    raise errors.DataError(f'{path}: not valid JSON: {e}') from e
  return Manifest.from_dict(fields, path)


def validate_manifest(manifest, expected_class_names, expected_teacher=None):
  """DataError naming the key where the manifest disagrees with the student's config."""
  where = f'pseudo-label manifest {manifest.name!r}'
  got = list(manifest.class_names)
  if got != list(expected_class_names):
    diff = next((i for i, (a, b) in enumerate(zip(got, expected_class_names)) if a != b),
                min(len(got), len(expected_class_names)))
    raise errors.DataError(f'{where}: class_names differ from the student config ({len(got)} vs '
                           f'{len(expected_class_names)} classes, first difference at index {diff})')
  teacher = manifest.teacher_workdir
  # The same folder by another path (a link, as stseg_jax.ablation makes) is the same teacher.
  if expected_teacher and (not teacher or
                           _resolved(teacher) != _resolved(expected_teacher)):
    raise errors.DataError(f'{where}: teacher {teacher!r} is not the configured '
                           f'{expected_teacher!r}')


def _resolved(path):
  """A local path without links (the same folder by any name); others as they are."""
  return os.path.realpath(path) if '://' not in path else path
