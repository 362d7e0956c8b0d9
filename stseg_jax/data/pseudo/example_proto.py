"""tf.train.Example as protobuf message classes, without TensorFlow or tfds.

The schema of tensorflow/core/example/{feature,example}.proto (same package,
names and field numbers, so the wire format is TensorFlow's), declared here
in a private descriptor pool. tfds ships these classes too, but importing
tfds patches the interpreter's import function while it runs: a reader
thread's first decode imported it while PIL, decoding a PNG in another
thread, lazily imported a plugin, and that PNG was reported corrupt. This
module imports only google.protobuf, at import time.
"""
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(message, name, number, kind, label=_F.LABEL_OPTIONAL, type_name=None,
           oneof=None, packed=False):
  field = message.field.add(name=name, number=number, type=kind, label=label)
  if type_name:
    field.type_name = type_name
  if oneof is not None:
    field.oneof_index = oneof
  if packed:
    field.options.packed = True


def _file():
  f = descriptor_pb2.FileDescriptorProto(name='stseg_jax/tf_example.proto',
                                         package='tensorflow', syntax='proto3')
  for name, kind in (('BytesList', _F.TYPE_BYTES), ('FloatList', _F.TYPE_FLOAT),
                     ('Int64List', _F.TYPE_INT64)):
    _field(f.message_type.add(name=name), 'value', 1, kind, _F.LABEL_REPEATED,
           packed=kind != _F.TYPE_BYTES)
  feature = f.message_type.add(name='Feature')
  feature.oneof_decl.add(name='kind')
  for number, name in ((1, 'BytesList'), (2, 'FloatList'), (3, 'Int64List')):
    field = name[:-4].lower() + '_list'
    _field(feature, field, number, _F.TYPE_MESSAGE, type_name=f'.tensorflow.{name}', oneof=0)
  features = f.message_type.add(name='Features')
  entry = features.nested_type.add(name='FeatureEntry')
  entry.options.map_entry = True
  _field(entry, 'key', 1, _F.TYPE_STRING)
  _field(entry, 'value', 2, _F.TYPE_MESSAGE, type_name='.tensorflow.Feature')
  _field(features, 'feature', 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED,
         type_name='.tensorflow.Features.FeatureEntry')
  _field(f.message_type.add(name='Example'), 'features', 1, _F.TYPE_MESSAGE,
         type_name='.tensorflow.Features')
  return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
_CLASSES = {name: message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f'tensorflow.{name}'))
            for name in ('BytesList', 'FloatList', 'Int64List', 'Feature', 'Features', 'Example')}
BytesList, FloatList, Int64List = _CLASSES['BytesList'], _CLASSES['FloatList'], _CLASSES['Int64List']
Feature, Features, Example = _CLASSES['Feature'], _CLASSES['Features'], _CLASSES['Example']
