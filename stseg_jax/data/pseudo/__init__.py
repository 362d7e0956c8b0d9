"""Pseudo labels: what a teacher's labelling writes and a student reads.

  tfrecord.py       the TFRecord container (frames, CRCs, atomic shards, offset index);
                    example_proto.py its tf.train.Example schema, without TensorFlow
  example.py        one record's codec: label PNG, confidences, soft top-k, centroids
  manifest.py       the set's Manifest: shards, classes, teacher, source (one schema)
  records.py        a set's shards and their random-access PseudoLabelSource
  filters.py        which pixels of a pseudo label count (every filter, one place)
  source.py         the student's source: labels paired with their images, filtered

The writer is the job stseg_jax/pseudo_label.py; stseg_jax/pseudo_quality.py
scores a set against the truth.
"""
