"""The workflow as data (stseg_jax/stages.py): which stages, in which order, reading what."""
from configs import camvid_fraction_sweep
from configs import demo
from configs import tiny
from stseg_jax import stages


def _names(config, **kw):
  return [s.name for s in stages.stages(config, '/w', **kw)]


def test_the_demo_runs_teacher_gates_labels_student_control():
  workflow = stages.stages(demo.get_config(), '/w')
  assert [s.name for s in workflow] == ['teacher', 'gates', 'pseudo_label', 'student', 'control']
  labels, student, control = workflow[2], workflow[3], workflow[4]
  assert labels.path == '/w/labels' and dict(labels.inputs) == {'teacher': '/w/teacher'}
  assert student.config.pseudo.dir == '/w/labels' and student.config.pseudo.teacher == '/w/teacher'
  assert student.config.pseudo.strong_augment and control.config.pseudo.strong_augment
  assert control.config.pseudo.duplicate_real and control.config.pseudo.dir == ''
  assert stages.final_student(workflow) is student


def test_an_oracle_trains_the_teachers_steps_on_every_label():
  config = camvid_fraction_sweep.get_config()
  workflow = stages.stages(config, '/w', teacher_items=92)
  assert [s.name for s in workflow][:3] == ['teacher', 'oracle', 'gates']
  oracle = workflow[1].config
  assert oracle.data.train_split == 'train' and oracle.train.epoch_items == 92
  assert dict(workflow[2].inputs) == {'teacher': '/w/teacher', 'oracle': '/w/oracle'}
  assert stages.needs_teacher_items(config) and not stages.needs_teacher_items(demo.get_config())


def test_loops_pretraining_and_targets():
  config = tiny.get_config()
  config.self_training.loops = 2
  workflow = stages.stages(config, '/w')
  assert [s.name for s in workflow] == ['teacher', 'pseudo_label_1', 'student_1',
                                        'pseudo_label_2', 'student_2']
  assert dict(workflow[3].inputs) == {'teacher': '/w/student_1'}  # the student teaches next
  assert workflow[4].config.pseudo.teacher == '/w/student_1'
  config.self_training.loops, config.self_training.mode = 1, 'pretrain_finetune'
  config.target = {'data': {'domain': 'B'}}
  workflow = stages.stages(config, '/w')
  assert [s.name for s in workflow] == ['teacher', 'pseudo_label', 'student_pretrain', 'student',
                                        'target_from_teacher', 'target_from_student']
  assert workflow[2].config.pseudo.only and workflow[3].config.train.init_from == '/w/student_pretrain'
  assert workflow[3].config.pseudo.dir == '' and workflow[3].config.train.base_lr == 0.002
  assert workflow[4].config.train.init_from == '/w/teacher'
  assert workflow[5].config.train.init_from == '/w/student' and workflow[5].config.data.domain == 'B'


def test_the_sweeps_noise_controls_differ_from_the_student_one_setting_at_a_time():
  config = camvid_fraction_sweep.get_config('controls')
  student = stages.student_config(config, '/labels').pseudo
  settings = lambda p: (p.strong_augment, p.class_keep_fraction, p.class_keep_random_fraction)
  assert settings(student) == (True, 0.5, 0.0)
  expected = {'plain': (False, 0.0, 0.0), 'thresholds': (False, 0.5, 0.0),
              'strong': (True, 0.0, 0.0), 'random_drop': (True, 0.0, 0.5),
              'multiscale_labels': (False, 0.0, 0.0)}
  assert set(config.ablation.variants) == set(expected)
  for name, overrides in config.ablation.variants.items():
    variant = stages.merged(config, overrides)
    student = stages.student_config(variant, '/labels')
    assert settings(student.pseudo) == expected[name], name
    assert student.pseudo.dir == '/labels' and student.train.num_epochs == 300
    labelling = variant.pseudo_label.inference
    assert (tuple(labelling.scales), labelling.flip) == (
        ((0.5, 1.0, 2.0), True) if name == 'multiscale_labels' else ((1.0,), False)), name


def test_the_sweeps_ratio_variants_are_a_7_to_1_student_and_its_control(tmp_path):
  config = camvid_fraction_sweep.get_config('ratio')
  for name, duplicate in (('ratio_7', False), ('ratio_7_control', True)):
    variant = stages.merged(config, config.ablation.variants[name])
    workflow = {s.name: s for s in stages.stages(variant, str(tmp_path), teacher_items=92)}
    student = workflow['student'].config
    assert student.pseudo.ratio == 7.0 and student.pseudo.duplicate_real == duplicate
    assert ('pseudo_label' in workflow) != duplicate and 'control' not in workflow
    assert student.pseudo.strong_augment and student.train.num_epochs == 300
