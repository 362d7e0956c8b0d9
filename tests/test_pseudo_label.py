"""The pseudo-label job: 1 vs 2 processes, restart after SIGKILL, student source."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from stseg_jax import ablation
from stseg_jax import pseudo_label
from stseg_jax import self_train
from stseg_jax import stages
from stseg_jax import train
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import manifest as pseudo_manifest
from stseg_jax.data.pseudo import records as pseudo_records
from test_camvid import make_root
from test_train import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs the job in a fresh interpreter with its own device count.
WORKER = r'''
import os, sys
os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=%(devices)d'
sys.path.insert(0, %(repo)r); sys.path.insert(0, os.path.join(%(repo)r, 'tests'))
import jax
from absl import flags
flags.FLAGS.mark_as_parsed()
if %(processes)d > 1:
  jax.distributed.initialize(coordinator_address=%(coordinator)r,
                             num_processes=%(processes)d, process_id=%(pid)d)
from test_pseudo_label import labelling_config
from stseg_jax import pseudo_label
pseudo_label.run(labelling_config(%(images)d), %(workdir)r, %(teacher)r)
'''


def labelling_config(num_images=10):
  config = tiny_config()
  config.data.num_unlabeled = num_images
  config.pseudo_label.images_per_shard = 3  # 4 shards of 10, the last one short
  return config


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('teacher'))
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _start(workdir, teacher_dir, processes, devices=2, images=10):
  coordinator = f'127.0.0.1:{_free_port()}'
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  return [subprocess.Popen(
      [sys.executable, '-c', WORKER % dict(devices=devices, repo=REPO, processes=processes,
                                           pid=pid, coordinator=coordinator, images=images,
                                           workdir=workdir, teacher=teacher_dir)],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for pid in range(processes)]


def _wait(procs):
  for proc in procs:
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]


def _labels(workdir):
  source = pseudo_records.PseudoLabelSource(os.path.join(workdir, 'pseudo'), 'pseudo')
  return {source[i]['id']: hashlib.sha256(source.record(i)).hexdigest()
          for i in range(len(source))}, source.manifest


def test_one_and_two_processes_write_identical_labels(teacher, tmp_path):
  one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
  _wait(_start(one, teacher, processes=1))
  _wait(_start(two, teacher, processes=2))
  labels1, manifest1 = _labels(one)
  labels2, manifest2 = _labels(two)
  assert len(labels1) == 10 and labels1 == labels2  # byte-equal records
  assert manifest1.shards == manifest2.shards
  assert [s['records'] for s in manifest1.shards] == [3, 3, 3, 1]
  assert manifest1.class_names[0] == 'road'
  assert manifest1.teacher['step'] == 4


def test_command_line_labels_with_a_teacher_workdir(teacher, tmp_path):
  """`python -m stseg_jax.pseudo_label` as the README runs it, with config overrides."""
  proc = subprocess.run(
      [sys.executable, '-m', 'stseg_jax.pseudo_label', '--config=configs/synthetic_fastscnn.py',
       f'--workdir={tmp_path}', f'--teacher_workdir={teacher}', '--config.data.height=64',
       '--config.data.width=128', '--config.data.num_unlabeled=3',
       '--config.data.num_workers=0'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  labels, manifest = _labels(str(tmp_path))
  assert len(labels) == 3 and manifest.teacher['step'] == 4


def test_killed_job_resumes_without_duplicates(teacher, tmp_path):
  workdir = str(tmp_path / 'killed')
  [proc] = _start(workdir, teacher, processes=1, images=60)  # 20 shards
  pseudo_dir = os.path.join(workdir, 'pseudo')
  deadline = time.time() + 300
  while time.time() < deadline:  # kill once the first shard has landed
    if os.path.isdir(pseudo_dir) and any(f.endswith('.tfrecord') for f in os.listdir(pseudo_dir)):
      break
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(pseudo_manifest.manifest_path(pseudo_dir, 'pseudo'))
  _wait(_start(workdir, teacher, processes=1, images=60))
  labels, manifest = _labels(workdir)
  assert len(labels) == 60 == sum(s['records'] for s in manifest.shards)
  assert not [f for f in os.listdir(pseudo_dir) if '.tmp' in f]
  reference = str(tmp_path / 'reference')
  _wait(_start(reference, teacher, processes=1, images=60))
  assert labels == _labels(reference)[0]


def test_student_trains_on_real_plus_pseudo(teacher, tmp_path):
  pseudo_dir = str(tmp_path / 'labels')
  _wait(_start(pseudo_dir, teacher, processes=1))
  config = tiny_config()
  config.pseudo.dir = pseudo_dir
  config.pseudo.ratio = 1.0  # 16 real + 16 pseudo items an epoch
  config.pseudo.teacher = teacher  # the manifest's teacher: accepted
  config.data.num_unlabeled = 10
  state = train.train_and_evaluate(config, str(tmp_path / 'student'))
  assert int(state.step) == 8  # 2 epochs x 32 items / batch 8
  records = [json.loads(l) for l in open(tmp_path / 'student' / 'metrics.jsonl')]
  assert all(np.isfinite(r['loss']) for r in records if 'loss' in r)


def test_manifest_with_other_classes_or_teacher_is_refused(teacher, tmp_path):
  pseudo_dir = str(tmp_path / 'labels')
  _wait(_start(pseudo_dir, teacher, processes=1))
  config = tiny_config()
  config.pseudo.dir = pseudo_dir
  config.pseudo.teacher = str(tmp_path / 'another_teacher')
  with pytest.raises(ValueError, match="teacher .* is not the configured .*another_teacher"):
    train.train_and_evaluate(config, str(tmp_path / 'student'))
  path = pseudo_manifest.manifest_path(os.path.join(pseudo_dir, 'pseudo'), 'pseudo')
  manifest = json.load(open(path))
  manifest['class_names'][0] = 'street'
  json.dump(manifest, open(path, 'w'))
  config = tiny_config()
  config.pseudo.dir = pseudo_dir
  with pytest.raises(ValueError, match='class_names'):
    train.train_and_evaluate(config, str(tmp_path / 'student_2'))


def _self_train_config():
  """tiny_config as a self-training config: 8 unlabeled scenes, a 1-epoch student at 1:1."""
  config = tiny_config()
  config.data.num_unlabeled = 8
  config.student = ml_collections.ConfigDict(
      {'pseudo': {'ratio': 1.0}, 'train': {'num_epochs': 1}})
  return config


def test_self_train_runs_all_stages_then_skips_them(tmp_path):
  config = _self_train_config()
  report = self_train.run(config, str(tmp_path))
  assert set(report['seconds']) == {'teacher', 'pseudo_label', 'student'}
  assert report['teacher']['checkpoint_step'] == 4 and report['student']['checkpoint_step'] == 4
  assert report['delta_miou'] == pytest.approx(
      report['student']['miou'] - report['teacher']['miou'])
  markdown = open(tmp_path / 'report.md').read()
  assert '| teacher |' in markdown and '| road |' in markdown
  # A rerun finds every stage complete and only re-evaluates.
  again = self_train.run(config, str(tmp_path))
  assert again['seconds'] == report['seconds']


def test_label_image_threshold_and_topk_by_hand():
  probs = np.array([[[0.6, 0.3, 0.1], [0.2, 0.45, 0.35]]], np.float32)  # 1x2 image
  label, confidence, found, (indices, top) = pseudo_label.label_image(
      probs, num_classes=3, confidence_threshold=0.5, topk=2)
  np.testing.assert_array_equal(label, [[0, 255]])  # 0.45 < 0.5: ignored
  np.testing.assert_allclose(confidence, [[0.6, 0.45]])
  np.testing.assert_array_equal(indices, [[[0, 1], [1, 2]]])
  np.testing.assert_allclose(top, [[[0.6, 0.3], [0.45, 0.35]]])
  assert set(found) == {0}
  record = pseudo_example.decode_example(pseudo_example.encode_example(
      'x', '', label, confidence=confidence, topk=(indices, top), centroids=found))
  np.testing.assert_array_equal(record['topk_indices'], indices)
  np.testing.assert_allclose(record['topk_probs'], top, atol=1e-3)  # float16


def test_job_stores_soft_topk_and_confidence(teacher, tmp_path):
  config = labelling_config(num_images=4)
  config.pseudo_label.soft_topk = 2
  config.pseudo_label.store_confidence = True
  pseudo_label.run(config, str(tmp_path), teacher)
  source = pseudo_records.PseudoLabelSource(str(tmp_path / 'pseudo'), 'pseudo')
  record = source[3]
  assert record['topk_indices'].shape == record['label'].shape + (2,)
  np.testing.assert_array_equal(record['topk_indices'][..., 0], record['label'])
  assert np.all(record['topk_probs'][..., 0] >= record['topk_probs'][..., 1])
  np.testing.assert_allclose(record['confidence'], record['topk_probs'][..., 0], atol=1 / 255)


def test_self_train_pretrain_then_finetune(tmp_path):
  """Paper Table 8: the student pre-trains on pseudo labels alone, then finetunes on real."""
  config = _self_train_config()
  config.self_training.mode = 'pretrain_finetune'
  report = self_train.run(config, str(tmp_path))
  assert set(report['seconds']) == {'teacher', 'pseudo_label', 'student_pretrain', 'student'}
  pretrain = json.load(open(tmp_path / 'student_pretrain' / 'config.json'))
  assert pretrain['pseudo']['only'] and pretrain['pseudo']['dir']
  finetune = json.load(open(tmp_path / 'student' / 'config.json'))
  assert finetune['pseudo']['dir'] == '' and finetune['train']['base_lr'] == 0.002
  assert finetune['train']['init_from'] == str(tmp_path / 'student_pretrain')
  # 16 real items an epoch x ratio 1 = 16 pseudo items = 2 steps of 8, and no real ones.
  steps = [json.loads(l)['step'] for l in open(tmp_path / 'student_pretrain' / 'metrics.jsonl')
           if 'loss' in l]
  assert steps == [1, 2]
  assert os.path.exists(tmp_path / 'miou.png')


def test_duplicate_real_baseline_doubles_the_real_items(tmp_path):
  config = tiny_config()
  config.pseudo.duplicate_real, config.pseudo.ratio = True, 1.0
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 8  # 2 epochs x (16 real + 16 duplicated) / batch 8
  # Both at once is refused; the self-training student of the baseline gets no pseudo labels.
  config.pseudo.dir = str(tmp_path / 'labels')
  with pytest.raises(ValueError, match='duplicate_real.*pseudo.dir'):
    train.train_and_evaluate(config, str(tmp_path / 'both'))
  st = _self_train_config()
  st.student.pseudo.duplicate_real = True
  student = stages.student_config(st, str(tmp_path / 'labels'), str(tmp_path / 'teacher'))
  assert student.pseudo.duplicate_real and student.pseudo.dir == ''


def test_cross_domain_finetunes_teacher_and_student_on_the_target(tmp_path):
  """Source A -> target B with 2 new classes, k-shot: both finetunes run and are reported."""
  config = _self_train_config()
  config.unlabeled.domain = 'B'
  config.target = self_train.ml_collections.ConfigDict({
      'data': {'domain': 'B', 'extra_classes': True, 'train_split': 'train_kshot', 'kshot': 1,
               'kshot_min_pixels': 1},
      'train': {'num_epochs': 1, 'epoch_items': 8}})
  report = self_train.run(config, str(tmp_path))
  target = report['target']
  assert set(target) == {'target_from_teacher', 'target_from_student', 'delta_miou'}
  for name in ('target_from_teacher', 'target_from_student'):
    assert {'lane marking', 'crosswalk'} <= set(target[name]['per_class_iou'])  # 21 classes
  manifest = pseudo_manifest.read_manifest(os.path.join(tmp_path, 'labels', 'pseudo'), 'pseudo')
  assert manifest.source['data']['domain'] == 'B'  # the teacher labelled the target city
  assert 'Target domain' in open(tmp_path / 'report.md').read()


def test_student_trains_on_soft_labels(teacher, tmp_path):
  """pseudo.soft: crops carry the teacher's top-K (one-hot for real crops) into the loss."""
  from stseg_jax.data import pipeline
  from stseg_jax.data.pseudo import source as pseudo_source
  from stseg_jax.data import sources
  labelling = labelling_config(num_images=4)
  labelling.pseudo_label.soft_topk = 2
  pseudo_label.run(labelling, str(tmp_path / 'labels'), teacher)
  config = tiny_config()
  config.pseudo.dir, config.pseudo.ratio, config.pseudo.soft = str(tmp_path / 'labels'), 1.0, True
  config.data.num_unlabeled = 4
  source = pseudo_source.open_student_source(config.pseudo, config.data,
                                            sources.open_source(config.data, "train"))
  assert source.soft_k == 2
  transform = pipeline._TrainTransform((source,), 32, 0, 0, pipeline.AugmentOptions(), 2)
  crop = transform((0, 0, 1, None))
  assert crop['soft_index'].shape == crop['soft_prob'].shape == (32, 32, 2)
  labelled = crop['label'] != 255
  np.testing.assert_array_equal(crop['soft_index'][..., 0][labelled], crop['label'][labelled])
  assert np.all(crop['soft_prob'][..., 0][labelled] >= crop['soft_prob'][..., 1][labelled])
  assert np.all(crop['soft_prob'][~labelled] == 0)
  state = train.train_and_evaluate(config, str(tmp_path / 'student'))
  assert int(state.step) == 8
  records = [json.loads(l) for l in open(tmp_path / 'student' / 'metrics.jsonl')]
  assert all(np.isfinite(r['loss']) for r in records if 'loss' in r)
  # Labels made without soft_topk are refused, naming the fields.
  hard_config = tiny_config()
  hard_config.pseudo.dir, hard_config.pseudo.soft = str(tmp_path / 'hard'), True
  pseudo_label.run(labelling_config(num_images=4), str(tmp_path / 'hard'), teacher)
  with pytest.raises(ValueError, match='pseudo.soft.*soft_topk'):
    train.train_and_evaluate(hard_config, str(tmp_path / 'hard_student'))
  st = _self_train_config()
  st.student.pseudo.soft = True
  with pytest.raises(ValueError, match='student.pseudo.soft.*soft_topk'):
    self_train.run(st, str(tmp_path / 'st'))


def test_ablation_shares_each_seeds_teacher_across_variants(tmp_path):
  config = _self_train_config()
  config.pseudo_label.store_confidence = True  # for pseudo_quality, last
  config.ablation = ml_collections.ConfigDict({
      'seeds': (0,), 'variants': {'duplicate_real': {'student': {'pseudo': {'duplicate_real': True}}}}})
  result = ablation.run(config, str(tmp_path))
  seed = tmp_path / 'seed_0'
  # One teacher: the variant's teacher is a link to the full run's, not a second training.
  assert os.path.realpath(seed / 'duplicate_real' / 'teacher') == str(seed / 'self_train' / 'teacher')
  variant = json.load(open(seed / 'duplicate_real' / 'student' / 'config.json'))
  assert variant['pseudo']['duplicate_real'] and variant['pseudo']['dir'] == ''
  report = json.load(open(seed / 'duplicate_real' / 'report.json'))
  miou = result['fractions']['as_configured']['miou']
  assert miou['duplicate_real']['values'] == [report['student']['miou']]
  assert miou['teacher']['values'] == [report['teacher']['miou']]
  assert set(miou) == {'teacher', 'student', 'duplicate_real'}
  paired = result['fractions']['as_configured']['paired']['miou']['student - teacher']
  base = json.load(open(seed / 'self_train' / 'report.json'))
  assert paired['values'] == [base['student']['miou'] - base['teacher']['miou']]
  assert '| duplicate_real |' in open(tmp_path / 'ablation.md').read()
  config.ablation.variants = {'bigger_teacher': {'train': {'num_epochs': 9}}}
  with pytest.raises(ValueError, match='variants.bigger_teacher.*train'):
    ablation.run(config, str(tmp_path / 'bad'))
  # Another labelling recipe: the same teacher labels again, in the variant's own folder.
  config.ablation.variants = {'flip_labels': {'pseudo_label': {'inference': {'flip': True}}}}
  config.ablation.pseudo_quality = True
  result = ablation.run(config, str(tmp_path))
  labels = seed / 'flip_labels' / 'labels'
  assert not os.path.islink(labels) and (labels / 'DONE').exists()
  assert os.path.realpath(seed / 'flip_labels' / 'teacher') == str(seed / 'self_train' / 'teacher')
  assert json.load(open(labels / 'DONE'))['config']['pseudo_label']['inference']['flip']
  at = result['fractions']['as_configured']
  assert set(at['miou']) == {'teacher', 'student', 'duplicate_real', 'flip_labels'}
  assert 'flip_labels' in at['seeds']['0']['variant_pseudo_quality']
  assert 'pseudo_quality' in at['seeds']['0']  # the shared labels' own


def test_a_teacher_labels_another_dataset_in_its_own_classes(teacher, tmp_path):
  """Cityscapes -> Mapillary in small: the 19-class synthetic teacher labels
  CamVid-layout images (11 classes of their own, never read) in its 19."""
  root = make_root(tmp_path / 'camvid', n=3, size=(64, 96))
  config = labelling_config()
  config.unlabeled.name, config.unlabeled.root, config.unlabeled.split = 'camvid', root, 'train'
  out = os.path.join(tmp_path, 'labels')
  pseudo_label.run(config, out, teacher)
  labels, manifest = _labels(out)
  assert len(labels) == 3 and len(manifest.class_names) == 19
  source = pseudo_records.PseudoLabelSource(os.path.join(out, 'pseudo'), 'pseudo')
  assert source[0]['label'].shape == (64, 96) and source[0]['label'].max() < 19
