import json
import os
import shutil
from pathlib import Path

import pytest

from kd import paths
from kd.reproduce import fingerprint, notebooks


def _notebook(path: Path, code: str, output: str = "", injected: str | None = None) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# claim"]},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": [code],
              "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}],
              "execution_count": None}]
    if injected is not None:
        cells.insert(2, {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                         "source": [injected], "outputs": [], "execution_count": None})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(root / "kd", tmp_path / "kd")
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    return tmp_path


def test_fingerprint_tracks_code_not_outputs_or_injected_parameters(project):
    nb = project / "notebooks" / "99_demo.ipynb"
    _notebook(nb, "PROFILE = 'cpu'")
    base = fingerprint(nb, "cpu")
    _notebook(nb, "PROFILE = 'cpu'", output="98.7", injected="PROFILE = 'cpu'")
    assert fingerprint(nb, "cpu") == base
    assert fingerprint(nb, "smoke") != base
    _notebook(nb, "PROFILE = 'paper'")
    assert fingerprint(nb, "cpu") != base


def test_fingerprint_tracks_kd_sources(project):
    nb = project / "notebooks" / "99_demo.ipynb"
    _notebook(nb, "x = 1")
    base = fingerprint(nb, "cpu")
    with open(project / "kd" / "losses.py", "a") as f:
        f.write("\n# changed\n")
    assert fingerprint(nb, "cpu") != base


def test_notebook_selection_by_number(project):
    for name in ("10_a.ipynb", "21_b.ipynb", "readme.ipynb"):
        _notebook(project / "notebooks" / name, "x = 1")
    assert [p.name for p in notebooks()] == ["10_a.ipynb", "21_b.ipynb"]
    assert [p.name for p in notebooks("21")] == ["21_b.ipynb"]
    assert [p.name for p in notebooks("10, 21")] == ["10_a.ipynb", "21_b.ipynb"]
    assert paths.root() == project


def _executable(path: Path, *sources: str) -> None:
    """A notebook for the kd kernel: a claim, the parameters cell, then one cell per source."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# claim"]},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None,
              "outputs": [], "source": ["import os\n", "PROFILE = os.environ.get('KD_PROFILE', 'cpu')"]}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": [src]}
              for src in sources]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                                "metadata": {"kernelspec": {"name": "kd", "display_name": "kd",
                                                            "language": "python"}}}))


WRITE_RESULT_AND_FIGURE = """import json, os
import matplotlib.pyplot as plt
import kd
out = kd.paths.results_dir() / '99_demo' / f'{PROFILE}.json'
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({'profile': PROFILE}))
fig, ax = plt.subplots(); ax.plot([0, 1], [1, 0])
print('saved', kd.save_figure(fig, '99_demo', PROFILE))
print('ran under', PROFILE, os.environ.get('KD_PROFILE'), os.environ.get('KD_PROGRESS'))"""


def test_reproduce_executes_in_place_leaving_the_profile_to_the_environment(project, capsys, monkeypatch):
    """A real papermill run on the kd kernel: the executed notebook keeps its outputs, its
    figure inline and the profile in its metadata, but no injected cell that would pin the
    profile for nbval; its result file and figure land in results/ and figures/."""
    from kd.reproduce import main
    nb = project / "notebooks" / "99_demo.ipynb"
    _executable(nb, WRITE_RESULT_AND_FIGURE)
    monkeypatch.setenv("KD_PROFILE", "smoke")
    assert main(["--profile", "paper"]) == 0
    assert os.environ["KD_PROFILE"] == "smoke"           # the caller's environment is restored
    assert "KD_RESULTS" not in os.environ and "KD_PROGRESS" not in os.environ
    executed = json.loads(nb.read_text())
    assert not [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert executed["metadata"]["papermill"]["parameters"] == {"PROFILE": "paper"}
    # no machine path: papermill's record names the notebook relative to the project
    assert executed["metadata"]["papermill"]["input_path"] == "notebooks/99_demo.ipynb"
    assert executed["metadata"]["papermill"]["output_path"] == "notebooks/99_demo.ipynb"
    assert str(project) not in nb.read_text()
    outputs = executed["cells"][2]["outputs"]
    text = "".join("".join(o.get("text", [])) for o in outputs)
    assert "ran under paper paper line" in text and "saved figures/99_demo-paper.png" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)        # the figure is inline
    assert json.loads((project / "results" / "99_demo" / "paper.json").read_text()) == {"profile": "paper"}
    assert (project / "figures" / "99_demo-paper.png").stat().st_size > 1000
    assert main(["--profile", "paper"]) == 0
    assert "up to date, skipped" in capsys.readouterr().out


def _committed(project: Path) -> dict[Path, bytes]:
    """A committed notebook, result file and figure, as a previous successful run left them."""
    files = {project / "notebooks" / "99_demo.ipynb": None,
             project / "results" / "99_demo" / "cpu.json": b'{"claims": "from the last good run"}\n',
             project / "figures" / "99_demo.png": b"\x89PNG last good figure"}
    _executable(project / "notebooks" / "99_demo.ipynb", WRITE_RESULT_AND_FIGURE,
                "raise RuntimeError('the experiment broke halfway')")
    for path, content in files.items():
        if content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    (project / "results" / "99_demo" / "cpu.stamp").write_text("an old fingerprint")
    return {path: path.read_bytes() for path in files}


def test_a_notebook_failing_midway_leaves_the_committed_files_byte_identical(project, capsys):
    from kd.reproduce import main
    before = _committed(project)
    assert main(["--profile", "cpu"]) == 1
    for path, content in before.items():
        assert path.read_bytes() == content, path
    out = capsys.readouterr().out
    assert "FAILED" in out and "RuntimeError" in out and "unchanged" in out
    partial = project / "build" / "reproduce" / "cpu" / "99_demo" / "99_demo.ipynb"
    assert "build/reproduce/cpu/99_demo/99_demo.ipynb" in out and partial.exists()
    assert "the experiment broke halfway" in partial.read_text()
    # the old result is marked stale and no longer counts as up to date
    marker = json.loads((project / "results" / "99_demo" / "cpu.failed").read_text())
    assert "RuntimeError" in marker["error"] and marker["partial_output"].endswith("99_demo.ipynb")
    assert not (project / "results" / "99_demo" / "cpu.stamp").exists()


def test_ctrl_c_leaves_the_committed_files_and_says_how_to_resume_in_one_line(project):
    """Ctrl-C reaches the whole foreground process group; kd ends with one line, no traceback."""
    import signal
    import subprocess
    import sys
    import time
    before = _committed(project)
    _executable(project / "notebooks" / "99_demo.ipynb", "import time; print('working'); time.sleep(120)")
    before[project / "notebooks" / "99_demo.ipynb"] = (project / "notebooks" / "99_demo.ipynb").read_bytes()
    # as in a terminal: SIGINT at its default even when this test runs in the background
    # (a shell's background jobs, and so their children, start with SIGINT ignored)
    proc = subprocess.Popen([sys.executable, "-m", "kd", "reproduce", "--profile", "cpu"], cwd=project,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "KD_ROOT": str(project)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = project / "build" / "reproduce" / "cpu" / "99_demo" / "99_demo.ipynb"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "working" not in (partial.read_text() if partial.exists() else ""):
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in out, out
    assert "interrupted" in lines[1] and "unchanged" in lines[1] and "again to resume" in lines[1]
    for path, content in before.items():
        assert path.read_bytes() == content, path


def test_the_scoreboard_runs_last_and_follows_the_results_it_reads(project):
    for name in ("00_overview.ipynb", "10_a.ipynb", "21_b.ipynb"):
        _notebook(project / "notebooks" / name, "x = 1")
    assert [p.name for p in notebooks()] == ["10_a.ipynb", "21_b.ipynb", "00_overview.ipynb"]
    board, other = project / "notebooks" / "00_overview.ipynb", project / "notebooks" / "10_a.ipynb"
    before, other_before = fingerprint(board, "cpu"), fingerprint(other, "cpu")
    (project / "results" / "10_a").mkdir(parents=True)
    (project / "results" / "10_a" / "cpu.json").write_text('{"claims": []}')
    assert fingerprint(board, "cpu") != before and fingerprint(other, "cpu") == other_before
    assert fingerprint(board, "smoke") == fingerprint(board, "smoke")


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from kd.reproduce import notebook_lock
print("asking", flush=True)
with notebook_lock(Path("notebooks/99_demo.ipynb"), sys.argv[1]):
    print("holding", time.time(), flush=True)
    sys.stdin.readline()
    print("releasing", time.time(), flush=True)
"""


_READERS: dict = {}


def _line(stream, timeout: float = 60) -> str:
    """The next line of a child's pipe, read by a thread (a test never hangs on a lock bug)."""
    import queue
    import threading
    if stream not in _READERS:
        lines = _READERS[stream] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in iter(stream.readline, "")],
                         daemon=True).start()
    return _READERS[stream].get(timeout=timeout)


def test_two_executions_of_one_notebook_take_turns_saying_who_holds_it(project):
    """Two `kd reproduce --nb 10 --force` at once: the second waits on the first's lock (this
    process), naming it, and starts when the first has finished; another profile's execution
    of the same notebook does not wait."""
    import subprocess
    import sys
    import time
    from kd.reproduce import notebook_lock
    nb = project / "notebooks" / "99_demo.ipynb"
    second = None
    try:
        with notebook_lock(nb, "cpu"):
            second = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, "cpu"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert _line(second.stdout) == "asking\n"
            waiting = _line(second.stderr)
            lock = project / "build" / "reproduce" / ".locks" / "cpu-99_demo.lock"
            assert waiting.startswith(f"waiting: process {os.getpid()} on ") and "is executing 99_demo (cpu)" in waiting
            assert f"(lock {lock}); this execution will start when it has finished" in waiting
            with notebook_lock(nb, "smoke"):           # another profile: no wait
                pass
            time.sleep(0.5)
            released = time.time()
        took_over = float(_line(second.stdout).split()[1])
        assert took_over >= released
        second.stdin.write("go\n")
        second.stdin.flush()
        assert second.wait(timeout=60) == 0
    finally:
        if second is not None and second.poll() is None:
            second.kill()
