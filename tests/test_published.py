"""The papers' tables as kd.studies.published reads them."""
import pytest

from kd.studies import sarfraz as study
from kd.studies.published import SARFRAZ_STUDENTS, sarfraz


def test_sarfraz_tables_have_every_method_and_student():
    for dataset in ("cifar10", "cifar100"):
        table = sarfraz(dataset)
        assert set(table) == set(study.SARFRAZ_METHODS)
        assert all(tuple(row) == SARFRAZ_STUDENTS for row in table.values())
        assert set(SARFRAZ_STUDENTS) == set(study.SARFRAZ_TEACHER)


def test_sarfraz_resnet8_column_is_the_issues():
    """Table III's ResNet-8 column, as the issue and the paper print it."""
    column = {m: row["resnet8"][0] for m, row in sarfraz("cifar10").items()}
    assert column == {"ce": 87.64, "hinton": 88.80, "bss": 89.18, "fitnet": 88.89, "fsp": 88.77,
                      "at": 86.07, "sp": 86.62, "rkd_d": 87.48, "rkd_a": 87.32, "rkd_da": 87.14,
                      "one": 89.54, "dml": 87.94}
    assert sarfraz("cifar10")["one"]["wrn_10_2"] == (87.75, 1.92)
    assert sarfraz("cifar100")["dml"]["wrn_40_2"] == (77.65, 0.19)
    with pytest.raises(ValueError, match="cifar100"):
        sarfraz("mnist")
