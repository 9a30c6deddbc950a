"""Teachers (DESIGN §6): the contract the distiller consumes, the zoo, training and checkpoints.

``Teacher`` / ``TeacherOutput`` (contract), ``train_teacher`` / ``evaluate_teacher`` / ``init_teacher``
(zoo training), ``save_teacher`` / ``load_teacher`` / ``checkpoint_info`` (safetensors checkpoints),
``load_user_teacher`` / ``load_user_teacher_config`` (bring your own model).
"""

from dpdsl.teachers.adapter import UserTeacher, load_user_teacher, load_user_teacher_config
from dpdsl.teachers.checkpoint import checkpoint_info, load_teacher, save_teacher
from dpdsl.teachers.contract import Teacher, TeacherOutput
from dpdsl.teachers.train import evaluate_teacher, init_teacher, train_teacher

__all__ = [
    "Teacher",
    "TeacherOutput",
    "UserTeacher",
    "checkpoint_info",
    "evaluate_teacher",
    "init_teacher",
    "load_teacher",
    "load_user_teacher",
    "load_user_teacher_config",
    "save_teacher",
    "train_teacher",
]
