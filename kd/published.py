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
