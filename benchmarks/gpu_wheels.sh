#!/usr/bin/env bash
# Fetches here, into .whl/ (ignored by git, carried to the device), the packages the
# device's image lacks (its list: /work/.library/device/KINDS.md) for its Python 3.12 on
# x86_64; the device already has jax, flax, optax, orbax, absl, etils, numpy, protobuf,
# cloudpickle, pyyaml, matplotlib, pillow (tensorflow-datasets is imported only by the
# cityscapes_tfds source).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 --platform any -d .whl \
  grain==0.2.18 array-record==0.8.6 portpicker ml-collections==1.1.0 \
  google-crc32c==1.7.1 tensorboardX==2.6.4
du -sh .whl
