import numpy as np
import pytest
import torch

from kd.analysis import split_accuracy, teacher_matched_bias


def test_split_accuracy_on_the_other_classes_and_the_omitted_one():
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 2, 2, 1]), 3).float()
    rest, omitted = split_accuracy(logits, labels, omitted=2)
    assert rest == pytest.approx(200 / 3) and omitted == pytest.approx(200 / 3)
    assert np.isnan(split_accuracy(logits, labels, omitted=5)[1])


def test_the_bias_raise_that_matches_the_teacher():
    # class 1 needs a raise of more than 2 to win on the first two images, and at most 3
    # to keep losing on the third
    student = torch.tensor([[3.0, 1.0, 0.0], [2.5, 0.4, 0.0], [5.0, 1.5, 0.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert teacher_matched_bias(student, teacher, 1) == 2.25
    assert teacher_matched_bias(student, teacher, 1, grid=[0.0, 1.0, 5.0]) == 5.0   # 2 of 3 agree
    assert teacher_matched_bias(student, teacher, 1, grid=[0.0, 1.0]) == 0.0        # ties: the first
