"""archnet from Python: read encrypted datasets and work as a compute node of a marketplace.

Only numpy and safetensors are needed; torch is optional (``EncryptedDataset`` becomes a
``torch.utils.data.Dataset`` when it is installed).
"""

from .dataset import EncryptedDataset, load_split, read_manifest
from .node import ApiError, Lease, Node

__all__ = ["ApiError", "EncryptedDataset", "Lease", "Node", "load_split", "read_manifest"]
__version__ = "0.1.0"
