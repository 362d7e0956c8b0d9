"""Self-training where labels are scarce: a labeled-fraction sweep on CamVid (`stseg_jax.ablation`).

  python -m stseg_jax.ablation --config=configs/camvid_fraction_sweep.py[:core] --workdir=DIR \
      [--config.ablation.labeled_fractions='(0.0625,)'] [--config.ablation.seeds='(0, 1, 2)']

At each labeled fraction of CamVid's 367 train frames (a random split drawn
by the seed; the rest are the unlabeled images) and each seed, all at 240x320, Fast-SCNN
from scratch, crop 224, batch 8, every run scored on val and on test
(`data.test_split`; val chooses, test reports: ../shared/data/camvid/README.md):

  teacher  the labeled frames for 3,300 steps whatever the fraction (92 crops an
           epoch, `train.epoch_items`, 300 epochs), so fewer labels never mean
           fewer updates
  oracle   the same recipe on all 367 frames, one per seed, shared by every fraction
  gates    plateau, fit, and oracle against teacher on test (no student exists yet)
  labels   the teacher's hard labels on the other frames, confidences stored
  student  real + pseudo at 1:1 for the paper's 300 epochs (6,900 steps), centroid
           crops on the pseudo labels, with the noise controls on: strong
           augmentation + CutMix of the pseudo crops (ST++), class-balanced
           thresholds (each class's most confident half; CBST)
  control  the student's recipe and steps, the real labels repeated in place of the
           pseudo ones, as strongly augmented (paper Table 2b)
  plain    the paper's student: the same without thresholds or strong augmentation
  online   (`:online`) online self-training instead of the labels (stseg_jax/online.py):
           the student's EMA labels the unlabeled frames' weak views as it trains,
           >= 0.95 confident, and it learns their strong views + CutMix; same steps,
           compared with the control above; `:online_balanced` the same with
           class-balanced selection too (each class's most confident half of
           a batch's unlabeled pixels kept below 0.95, as the offline student's
           class_keep_fraction)
  ceiling  (`:ceiling`) the student's recipe with the unlabeled frames' true labels in
           place of the pseudo ones (all pixels kept): what perfect labels would give,
           so student - control is read against ceiling - control
  controls (`:controls`) the noise controls one at a time beside the plain student:
           `thresholds` (class-balanced thresholds alone), `strong` (strong
           augmentation + CutMix alone), `random_drop` (the controlled student with
           each class's pixels dropped at random in the numbers the thresholds drop:
           cleaner labels told apart from fewer pseudo pixels), `multiscale_labels`
           (the plain student on labels made with the paper's recipe, scales
           0.5, 1, 2 and flips, by the same teacher)
  ratio    (`:ratio`) the paper's best ratio where the pool allows it: the student
           at 7:1 for the same 300 epochs (4x the 1:1 steps) and its duplicate-real
           control at 7:1
  `ablation.pseudo_quality` scores the labels against the unlabeled frames' truth.

`--config.ablation.only='("thresholds", "multiscale_labels")'` runs those variants of
the group alone (with the teacher, labels and students they share).

About 1.6 hours per fraction and seed on a 2-core CPU (teacher 13 min, the three
students 27 min each), plus 13 min per seed for the oracle. Stages skip when
complete: run one fraction at a time, then add seeds.
"""
import ml_collections

from configs import camvid_selftrain

FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4)


def get_config(arg=''):
  """`core` leaves out the plain student (the extra seeds of a fraction need only the
  student, its control, the teacher and the oracle); `online` runs the online
  student as the one variant, `ceiling` the truth ceiling, `controls` the noise
  controls one at a time, `ratio` the student and its control at 7:1."""
  if arg not in ('', 'core', 'online', 'online_balanced', 'ceiling', 'controls', 'ratio'):
    raise ValueError(f"configs/camvid_fraction_sweep.py:{arg}: use nothing, 'core', 'online', "
                     "'online_balanced', 'ceiling', 'controls' or 'ratio'")
  c = camvid_selftrain.get_config('quarter')
  c.data.test_split = 'test'
  c.self_training.gate_split = 'test'
  c.train.epoch_items = 92  # a quarter of 367: the quarter's 3,300 steps at every fraction
  c.self_training.duplicate_real_control = True
  c.student.train = {'num_epochs': 300}  # the paper's epochs: 1:1 doubles the steps
  c.student.pseudo = {'ratio': 1.0, 'class_uniform_fraction': 1.0, 'strong_augment': True,
                      'class_keep_fraction': 0.5}
  c.ablation = ml_collections.ConfigDict({
      'labeled_fractions': FRACTIONS,
      'seeds': (0,),
      'seed_splits': True,  # a seed is a split and an initialisation
      'pseudo_quality': True,
      'only': (),  # names of some variants to run (e.g. '("thresholds",)'); () = all
      'variants': {
          'plain': {'student': {'pseudo': {'strong_augment': False, 'class_keep_fraction': 0.0}},
                    'self_training': {'duplicate_real_control': False}},
      },
  })
  if arg == 'core':
    c.ablation.variants = {}
  if arg in ('online', 'online_balanced'):
    c.ablation.variants = {arg: {
        'self_training': {'mode': 'online', 'duplicate_real_control': False},
        # Its own views and labels: the offline labels' settings off.
        'student': {'pseudo': {'strong_augment': False, 'class_keep_fraction': 0.0,
                               'online_class_keep_fraction':
                                   0.5 if arg == 'online_balanced' else 0.0}}}}
  if arg == 'controls':
    alone = lambda **pseudo: {'student': {'pseudo': pseudo},
                              'self_training': {'duplicate_real_control': False}}
    c.ablation.variants = {
        'plain': c.ablation.variants.plain.to_dict(),
        'thresholds': alone(strong_augment=False, class_keep_fraction=0.5),
        'strong': alone(strong_augment=True, class_keep_fraction=0.0),
        'random_drop': alone(strong_augment=True, class_keep_fraction=0.0,
                             class_keep_random_fraction=0.5),
        'multiscale_labels': {**alone(strong_augment=False, class_keep_fraction=0.0),
                              'pseudo_label': {'inference': {'scales': (0.5, 1.0, 2.0),
                                                             'flip': True}}}}
  if arg == 'ratio':  # 7 pseudo items per real one: 1/16 leaves 15 unlabeled frames per labeled
    c.ablation.variants = {
        'ratio_7': {'student': {'pseudo': {'ratio': 7.0}},
                    'self_training': {'duplicate_real_control': False}},
        'ratio_7_control': {'student': {'pseudo': {'ratio': 7.0, 'duplicate_real': True}},
                            'self_training': {'duplicate_real_control': False}}}
  if arg == 'ceiling':
    c.ablation.variants = {'ceiling': {
        'self_training': {'duplicate_real_control': False},
        'student': {'pseudo': {'unlabeled_truth': True, 'class_keep_fraction': 0.0}}}}
  return c
