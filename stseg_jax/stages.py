"""The self-training workflow as data: `stages(config, workdir)` -> the stages, in order.

Pure: no file is read or written. `self_train.run` runs the list (each stage
skipped when complete), `ablation` varies it, the configs' CPU twins
(configs/runlocal.py) shrink it and tests/test_configs.py builds every stage's
config from it. A stage's config is a whole training (or labelling) config:

  teacher            the config itself, on its labeled split
  oracle             the teacher's recipe on every label of self_training.oracle_split,
                     for the teacher's steps (with self_training.gates)
  gates              the teacher against the oracle (stseg_jax/gates.py)
  pseudo_label[_k]   the teacher's pseudo labels in labels[_k]/ (its config is the
                     teacher's, which says how to label)
  student_pretrain   with self_training.mode='pretrain_finetune' (paper Table 8):
                     pseudo labels alone, then the student finetunes on the real ones
  student[_k]        real + pseudo labels, with config.student's fields (loop k of
                     self_training.loops becomes the next loop's teacher, Table 9);
                     with self_training.mode='online', real labels + the unlabeled
                     images its own EMA teacher labels (no pseudo_label stage)
  control            the duplicate-real control of the student (Table 2b), with
                     self_training.duplicate_real_control
  target_from_teacher, target_from_student
                     finetuning on config.target's labels (section 3.4)
"""
import dataclasses
import os
from typing import Optional

import ml_collections

TRAIN, PSEUDO_LABEL, GATES = 'train', 'pseudo_label', 'gates'
# self_training.mode: real + pseudo labels together, pseudo labels first (paper
# Table 8), or labels made in the student's own step by its EMA (online.py).
JOINT, PRETRAIN_FINETUNE, ONLINE = MODES = ('joint', 'pretrain_finetune', 'online')


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str
  kind: str  # TRAIN, PSEUDO_LABEL or GATES
  path: str  # its folder in the workflow's workdir
  config: Optional[ml_collections.ConfigDict] = None
  inputs: tuple = ()  # (name, folder) of the stages it reads


def merged(base, overrides):
  """A copy of `base` with every field set in `overrides` replaced, recursively."""
  out = ml_collections.ConfigDict(base.to_dict())
  def apply(target, source):
    for key, value in source.items():
      if isinstance(value, ml_collections.ConfigDict) and key in target:
        apply(target[key], value)
      else:
        target[key] = value
  apply(out, overrides)
  return out


def student_config(config, labels_dir, teacher_workdir=''):
  """The student's config; the duplicate-real baseline (Table 2b) and the truth
  ceiling (pseudo.unlabeled_truth) get no pseudo labels, an online student
  (self_training.mode) makes its own."""
  student = merged(config, config.student)
  model = config.student.get('model')
  if model and model.get('name', config.model.name) != config.model.name:
    # Another network (Table 3): its own model section, not the teacher's fields
    # under another name (a Fast-SCNN has no backbone).
    student.model = ml_collections.ConfigDict(model.to_dict())
  if config.self_training.mode == ONLINE:
    student.pseudo.online = True
  elif not (student.pseudo.duplicate_real or student.pseudo.unlabeled_truth):
    student.pseudo.dir = labels_dir
    student.pseudo.teacher = teacher_workdir
  if student.self_training.student_from_teacher:
    student.train.init_from = teacher_workdir
  return student


def finetune_config(student, pretrain_dir, overrides):
  """The finetuning stage: real labels only, weights from `pretrain_dir`."""
  config = merged(student, overrides)
  config.pseudo.dir = ''
  config.train.init_from = pretrain_dir
  return config


def control_config(student):
  """The duplicate-real control of a student: its recipe and steps with the real
  labels repeated in place of the pseudo ones (strong augmentation included:
  an online student's strong views become the repeated stream's)."""
  control = ml_collections.ConfigDict(student.to_dict())
  control.pseudo.duplicate_real = True
  control.pseudo.dir = control.pseudo.teacher = ''
  control.pseudo.unlabeled_truth = False
  if control.pseudo.online:
    control.pseudo.online, control.pseudo.strong_augment = False, True
  return control


def oracle_config(config, teacher_items):
  """The teacher's recipe on all of `self_training.oracle_split`, for the teacher's steps."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.data.train_split = config.self_training.oracle_split
  c.train.epoch_items = teacher_items  # same items per epoch, so the same steps
  # Which part is labeled means nothing for a run on every label: fixed, so that
  # one oracle serves every labeled fraction and split of a sweep.
  c.data.labeled_fraction, c.data.labeled_sequences, c.data.split_seed = 1.0, (), 0
  return c


def needs_teacher_items(config):
  """Whether `stages` needs the teacher's items per epoch (an oracle trains)."""
  return bool(config.self_training.gates and config.self_training.oracle_split)


def stages(config, workdir, teacher_items=None):
  """Every stage of the workflow `config` describes, in the order they run.

  `teacher_items`: the teacher's items per epoch (data/mixture.py counts them),
  needed when an oracle trains (`needs_teacher_items`).
  """
  path = lambda name: os.path.join(workdir, name)
  out = [Stage('teacher', TRAIN, path('teacher'), config)]
  st = config.self_training
  if st.gates:
    inputs = (('teacher', path('teacher')),)
    if st.oracle_split:
      out.append(Stage('oracle', TRAIN, path('oracle'), oracle_config(config, teacher_items)))
      inputs += (('oracle', path('oracle')),)
    out.append(Stage('gates', GATES, workdir, config, inputs))
  teacher_name, teacher_config = 'teacher', config
  for loop in range(st.loops):
    suffix = '' if st.loops == 1 else f'_{loop + 1}'
    teacher_dir = path(teacher_name)
    student = student_config(config, path('labels' + suffix), teacher_dir)
    if student.pseudo.dir:  # the duplicate-real baseline needs no labels
      out.append(Stage('pseudo_label' + suffix, PSEUDO_LABEL, path('labels' + suffix),
                       teacher_config, (('teacher', teacher_dir),)))
    if st.mode == PRETRAIN_FINETUNE:
      pretrain = merged(student, ml_collections.ConfigDict({'pseudo': {'only': True}}))
      out.append(Stage('student_pretrain' + suffix, TRAIN, path('student' + suffix + '_pretrain'),
                       pretrain))
      student = finetune_config(student, path('student' + suffix + '_pretrain'), config.finetune)
    out.append(Stage('student' + suffix, TRAIN, path('student' + suffix), student))
    if st.duplicate_real_control and loop == 0:
      out.append(Stage('control', TRAIN, path('control'), control_config(student)))
    teacher_name, teacher_config = 'student' + suffix, student
  if config.target:
    for name, base, start in (('target_from_teacher', config, 'teacher'),
                              ('target_from_student', teacher_config, teacher_name)):
      out.append(Stage(name, TRAIN, path(name), finetune_config(base, path(start), config.target)))
  return out


def final_student(stage_list):
  """The last student stage: the one the report compares with the teacher."""
  return [s for s in stage_list if s.name.startswith('student') and
          not s.name.startswith('student_pretrain')][-1]
