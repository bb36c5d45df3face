"""Published numbers the notebooks set beside kd's: the papers' own tables, copied as printed.

Sarfraz et al. 2020, "Knowledge distillation beyond model compression", Table III (CIFAR-10)
and Table IV (CIFAR-100): test accuracy (%), mean and std over 5 seeds, per method (rows)
and student (columns; ResNets from ResNet-26, WRNs from WRN-40-2). `sarfraz(dataset)` reads
them as {method: {student: (mean, std)}} with kd's method and network names.
"""
from __future__ import annotations

SARFRAZ_STUDENTS = ("resnet8", "resnet14", "resnet20", "resnet26",
                    "wrn_10_2", "wrn_16_2", "wrn_28_2", "wrn_40_2")
# the paper's row names -> kd's method names
SARFRAZ_ROWS = {"Baseline": "ce", "Hinton": "hinton", "BSS": "bss", "FitNet": "fitnet", "FSP": "fsp",
                "AT": "at", "SP": "sp", "RKD-D": "rkd_d", "RKD-A": "rkd_a", "RKD-DA": "rkd_da",
                "ONE": "one", "DML": "dml"}

# each row: the paper's name, then (mean std) per student in SARFRAZ_STUDENTS' order
_TABLE_III = """
Baseline 87.64 0.25  91.44 0.15  92.64 0.18  93.32 0.37  90.62 0.15  93.95 0.18  94.82 0.10  95.01 0.11
Hinton   88.80 0.16  92.50 0.19  93.25 0.18  93.58 0.10  91.72 0.12  94.28 0.09  94.97 0.10  95.12 0.10
BSS      89.18 0.43  91.99 0.20  92.92 0.18  93.52 0.08  92.32 0.21  94.27 0.18  94.72 0.15  94.96 0.20
FitNet   88.89 0.21  92.50 0.10  93.27 0.15  93.58 0.10  91.65 0.08  94.34 0.11  94.94 0.14  95.10 0.14
FSP      88.77 0.41  92.18 0.19  93.29 0.30  93.73 0.16  91.70 0.26  94.31 0.08  95.06 0.19  95.15 0.19
AT       86.07 0.32  91.66 0.16  92.96 0.09  93.32 0.14  90.99 0.21  94.50 0.18  95.32 0.20  95.39 0.15
SP       86.62 0.26  92.34 0.19  93.28 0.07  93.70 0.23  91.27 0.26  94.64 0.17  95.25 0.14  95.35 0.11
RKD-D    87.48 0.21  91.87 0.19  92.94 0.30  93.56 0.16  90.99 0.17  94.42 0.15  95.09 0.08  95.31 0.13
RKD-A    87.32 0.24  92.01 0.14  93.30 0.12  93.67 0.13  90.98 0.31  94.62 0.14  95.23 0.13  95.36 0.27
RKD-DA   87.14 0.19  92.05 0.20  93.05 0.20  93.73 0.09  90.92 0.16  94.52 0.11  95.19 0.12  95.41 0.07
ONE      89.54 0.17  92.30 0.23  93.27 0.16  93.80 0.13  87.75 1.92  92.80 0.08  94.70 0.18  95.11 0.09
DML      87.94 0.15  92.20 0.18  93.14 0.06  93.45 0.10  91.60 0.28  94.38 0.15  95.17 0.10  95.33 0.09
"""
_TABLE_IV = """
Baseline 71.78 0.26  76.95 0.43  77.92 0.40  78.82 0.24  67.99 0.55  72.35 0.36  74.93 0.39  75.94 0.12
Hinton   72.78 0.36  78.18 0.14  79.58 0.22  79.73 0.30  67.70 0.54  74.12 0.37  76.08 0.36  77.07 0.13
BSS      73.02 0.07  76.96 0.19  78.37 0.27  78.66 0.23  69.55 0.38  73.04 0.21  75.59 0.24  76.55 0.16
FitNet   72.86 0.28  78.48 0.30  79.55 0.18  79.83 0.34  67.83 0.47  72.82 2.40  76.31 0.09  77.25 0.15
FSP      72.93 0.24  78.34 0.45  79.65 0.18  79.62 0.18  67.64 0.19  73.86 0.27  76.21 0.14  77.09 0.27
AT       71.99 0.08  76.88 0.20  78.35 0.10  78.94 0.34  67.45 0.27  72.78 0.32  75.51 0.13  76.60 0.13
SP       73.18 0.24  78.53 0.29  79.76 0.27  79.93 0.29  66.77 0.27  73.42 0.37  76.52 0.35  77.43 0.14
RKD-D    71.99 0.23  77.02 0.21  78.23 0.26  78.80 0.28  68.14 0.34  72.52 0.30  75.48 0.33  76.34 0.29
RKD-A    71.95 0.33  76.93 0.35  78.51 0.25  79.10 0.18  68.10 0.31  72.87 0.23  75.50 0.41  76.97 0.17
RKD-DA   71.70 0.19  77.14 0.40  78.64 0.21  79.16 0.11  67.94 0.37  72.88 0.23  75.73 0.32  76.91 0.22
ONE      73.30 0.12  78.04 0.07  79.24 0.18  79.74 0.27  57.38 2.11  69.78 0.94  74.49 0.54  76.89 0.27
DML      73.57 0.09  78.07 0.20  79.15 0.22  79.32 0.38  68.99 0.23  74.44 0.25  76.65 0.17  77.65 0.19
"""


def _parse(text: str) -> dict[str, dict[str, tuple[float, float]]]:
    table = {}
    for line in text.strip().splitlines():
        name, *numbers = line.split()
        if len(numbers) != 2 * len(SARFRAZ_STUDENTS):
            raise ValueError(f"row {name}: {len(numbers)} numbers, expected {2 * len(SARFRAZ_STUDENTS)}")
        values = [float(v) for v in numbers]
        table[SARFRAZ_ROWS[name]] = {s: (values[2 * i], values[2 * i + 1])
                                     for i, s in enumerate(SARFRAZ_STUDENTS)}
    return table


def sarfraz(dataset: str = "cifar10") -> dict[str, dict[str, tuple[float, float]]]:
    """Sarfraz Table III (`cifar10`) or IV (`cifar100`) as {method: {student: (mean, std)}}."""
    texts = {"cifar10": _TABLE_III, "cifar100": _TABLE_IV}
    if dataset not in texts:
        raise ValueError(f"dataset={dataset!r}: Sarfraz report cifar10 (Table III) and cifar100 (Table IV)")
    return _parse(texts[dataset])


# ------------------------------------------------------------------------------------------
# Sarfraz et al. 2020, Tables II (teachers), V (label noise), VI (class imbalance) and Figure 1
# (transferability), copied as printed (notebooks 21, 22, 23). Table V's sigma = 0 column is
# Table III's WRN-16-2 column: the student of §IV-B and IV-C is WRN-16-2, its teacher WRN-40-2.
# ------------------------------------------------------------------------------------------
SARFRAZ_NOISE_RATES = (0.0, 0.2, 0.4, 0.6)
SARFRAZ_IMBALANCE_GAMMAS = (0.2, 0.6, 1.0, 2.0)
# Table II: teacher accuracy (%) per configuration; "default" rows are the clean teachers
SARFRAZ_TEACHERS = {("cifar10", "resnet26", "default"): 93.83, ("cifar10", "wrn_40_2", "default"): 95.11,
                    ("cifar100", "resnet26", "default"): 79.22, ("cifar100", "wrn_40_2", "default"): 76.06,
                    ("cifar10", "wrn_40_2", "sigma=0.2"): 82.66, ("cifar10", "wrn_40_2", "sigma=0.4"): 66.34,
                    ("cifar10", "wrn_40_2", "sigma=0.6"): 45.97, ("cifar10", "wrn_40_2", "gamma=0.2"): 78.87,
                    ("cifar10", "wrn_40_2", "gamma=0.6"): 80.23, ("cifar10", "wrn_40_2", "gamma=1.0"): 81.13,
                    ("cifar10", "wrn_40_2", "gamma=2.0"): 84.40}

# Table V: CIFAR-10, WRN-40-2 -> WRN-16-2, (mean std) per noise rate in SARFRAZ_NOISE_RATES' order
_TABLE_V = """
Baseline 93.95 0.18  79.44 0.29  64.47 1.06  47.84 1.81
Hinton   94.28 0.09  87.23 0.26  76.32 0.87  58.18 0.35
BSS      94.27 0.18  80.28 0.33  71.46 0.20  47.69 0.37
FitNet   94.34 0.11  87.01 0.27  76.73 0.52  58.12 1.00
FSP      94.31 0.08  87.14 0.38  76.47 0.24  58.07 0.55
AT       94.50 0.18  79.59 0.47  64.46 0.88  46.44 0.78
SP       94.64 0.17  83.77 0.61  70.32 0.76  49.46 0.57
RKD-D    94.42 0.15  79.94 0.59  64.05 0.47  48.37 1.62
RKD-A    94.62 0.14  80.26 0.33  64.61 1.04  47.94 1.14
RKD-DA   94.52 0.11  80.45 0.58  65.10 1.08  48.90 0.52
ONE      92.80 0.08  83.76 0.40  68.64 0.53  40.49 1.12
DML      94.38 0.15  85.63 0.33  76.33 0.32  59.89 1.66
"""
# Table VI: CIFAR-10, WRN-40-2 -> WRN-16-2, (mean std) per gamma in SARFRAZ_IMBALANCE_GAMMAS' order
_TABLE_VI = """
Baseline 78.05 0.58  78.83 0.41  80.09 0.38  83.33 0.24
Hinton   79.15 0.28  80.08 0.25  81.18 0.51  83.69 0.69
BSS      78.07 0.20  79.22 0.53  80.44 0.24  82.15 0.22
FitNet   79.14 0.28  80.07 0.37  81.15 0.32  83.55 0.32
FSP      79.26 0.43  80.03 0.50  81.12 0.43  83.60 0.25
AT       79.13 0.40  80.51 0.23  80.96 0.18  84.13 0.32
SP       78.21 0.73  79.44 0.29  80.33 0.50  83.08 0.29
RKD-D    79.12 0.26  80.57 0.45  81.48 0.57  84.13 0.42
RKD-A    79.52 0.51  80.54 0.17  81.52 0.36  84.33 0.42
RKD-DA   79.43 0.41  80.63 0.20  81.50 0.37  84.02 0.21
ONE      77.48 1.05  78.04 0.86  79.48 0.39  80.88 1.05
DML      78.99 0.33  80.34 0.66  81.33 0.31  84.06 0.42
"""
# Figure 1: success rate (%) of PGD images crafted on the source (columns) against the target
# (rows), on the test images both classify correctly; "mean" is the row's mean over the ten
# student sources (the teacher column left out), the last row the columns' means
SARFRAZ_TRANSFER_ARMS = ("ce", "hinton", "bss", "fitnet", "fsp", "at", "sp", "rkd_d", "rkd_a", "rkd_da")
_FIGURE_1 = """
Baseline 96.65 67.17 75.90 65.73 66.84 95.84 75.78 94.12 93.04 90.41 82.15 76.51
Hinton   92.51 63.85 68.33 62.50 63.16 93.89 73.90 90.47 89.38 86.83 78.48 71.59
BSS      95.36 70.67 81.99 69.34 70.79 96.89 79.72 93.63 92.85 91.20 84.25 84.60
FitNet   91.88 62.86 67.17 60.68 62.56 93.24 72.73 89.94 88.82 86.41 77.63 69.93
FSP      92.54 63.68 68.18 62.32 63.21 93.78 73.58 90.21 89.53 86.94 78.40 71.09
AT       95.58 68.69 78.67 66.72 67.94 99.16 82.36 94.22 93.51 92.23 83.91 91.78
SP       92.54 63.40 70.57 61.63 62.60 96.04 79.24 90.88 90.52 88.73 79.61 78.21
RKD-D    95.76 66.01 74.23 64.57 65.89 95.87 76.59 94.08 93.44 91.04 81.75 75.69
RKD-A    94.95 65.39 73.45 63.60 65.02 96.04 76.94 93.63 93.07 91.05 81.31 75.87
RKD-DA   94.57 65.52 72.58 63.84 64.75 96.03 77.69 93.55 92.72 90.78 81.20 75.91
mean     94.23 65.72 73.11 64.09 65.28 95.68 76.85 92.47 91.69 89.56 80.87 77.12
"""


def _parse_columns(text: str, columns: tuple) -> dict[str, dict]:
    table = {}
    for line in text.strip().splitlines():
        name, *numbers = line.split()
        if len(numbers) != 2 * len(columns):
            raise ValueError(f"row {name}: {len(numbers)} numbers, expected {2 * len(columns)}")
        values = [float(v) for v in numbers]
        table[SARFRAZ_ROWS[name]] = {c: (values[2 * i], values[2 * i + 1]) for i, c in enumerate(columns)}
    return table


def sarfraz_noise() -> dict[str, dict[float, tuple[float, float]]]:
    """Sarfraz Table V as {method: {noise rate: (mean, std)}} (rates 0, 0.2, 0.4, 0.6)."""
    return _parse_columns(_TABLE_V, SARFRAZ_NOISE_RATES)


def sarfraz_imbalance() -> dict[str, dict[float, tuple[float, float]]]:
    """Sarfraz Table VI as {method: {gamma: (mean, std)}} (gamma 0.2, 0.6, 1.0, 2.0)."""
    return _parse_columns(_TABLE_VI, SARFRAZ_IMBALANCE_GAMMAS)


def sarfraz_transfer() -> dict[str, dict[str, float]]:
    """Sarfraz Figure 1 as {target: {source: success rate %}}: targets and sources are kd's
    method names of `SARFRAZ_TRANSFER_ARMS`, plus source "teacher" and the "mean" row and
    column as printed."""
    sources = SARFRAZ_TRANSFER_ARMS + ("mean", "teacher")
    table = {}
    for line in _FIGURE_1.strip().splitlines():
        name, *numbers = line.split()
        if len(numbers) != len(sources):
            raise ValueError(f"row {name}: {len(numbers)} numbers, expected {len(sources)}")
        table["mean" if name == "mean" else SARFRAZ_ROWS[name]] = dict(zip(sources, map(float, numbers)))
    return table
