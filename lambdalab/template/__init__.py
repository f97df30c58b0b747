"""Reading ``template.yaml``: load, SAM transform, intrinsic resolution, typed configs."""

from lambdalab.template.load import load_template
from lambdalab.template.model import CloudModel, build_model

__all__ = ["CloudModel", "build_model", "load_template"]
