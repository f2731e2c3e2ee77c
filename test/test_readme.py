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
