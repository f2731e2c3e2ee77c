"""The README stays true: its two commands exist, every parameter and console script is documented."""

from pathlib import Path

from depth_ros.ros.params import params_for

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_two_commands_exist_and_ci_runs_the_test_command():
    assert "./demo.sh" in README and "./test.sh" in README
    for script in ("demo.sh", "test.sh"):
        assert (REPO / script).stat().st_mode & 0o111, f"{script} is not executable"
    ci = (REPO / ".ci" / "run").read_text()
    assert "./test.sh" in ci


def test_every_parameter_is_documented():
    names = {p.name for node in ("depth_node", "radar_depth_node") for p in params_for(node)}
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert not missing, f"parameters missing from the README: {missing}"


def test_every_console_script_is_mentioned():
    import runpy
    from unittest import mock

    captured = {}
    with mock.patch("setuptools.setup", lambda **kw: captured.update(kw)):
        import os

        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            runpy.run_path(str(REPO / "setup.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
    scripts = [line.split("=")[0].strip() for line in captured["entry_points"]["console_scripts"]]
    missing = [s for s in scripts if s not in README]
    assert not missing, f"console scripts missing from the README: {missing}"


def test_sourcing_setup_env_leaves_the_callers_shell_options_alone():
    """The README tells users to `source scripts/setup_env.sh`: a failing command must not close their shell."""
    import os
    import subprocess
    import sys

    import pytest

    venv = Path(sys.prefix)
    if not (venv / ".depth_ros-test.stamp").is_file():
        pytest.skip("not running inside the project's set-up virtual environment")
    script = ("set +eu; set +o pipefail; source scripts/setup_env.sh test >/dev/null 2>&1; echo \"rc=$? opts=$-\"; "
              "shopt -qo pipefail && echo pipefail-on; false; echo survived")
    out = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DEPTH_ROS_VENV": str(venv)})
    lines = out.stdout.split()
    assert "rc=0" in lines and "survived" in lines and "pipefail-on" not in lines, out.stdout + out.stderr
    opts = next(x for x in lines if x.startswith("opts="))[5:]
    assert "e" not in opts and "u" not in opts
