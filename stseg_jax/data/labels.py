"""The ignore label: pixels no loss, metric or sampler counts.

Every source writes it for its void classes (Cityscapes' unlabeled ids,
CamVid's void, the synthetic ego vehicle), crops are padded with it, eval
batches are padded with it, and pseudo labels use it for the pixels a
threshold drops. One value for all of them; config.augment.ignore_label must
equal it (config_check.py), since label files are written with it.
"""
IGNORE_LABEL = 255
